//! The shape of the schema table: for each Kubernetes message, its fields by protobuf
//! number with their JSON names and kinds, and the top-level kinds the server accepts.
//!
//! The table itself lives in `schema_table.rs`, generated from upstream's generated.proto
//! (field numbers, proto types) and types.go (JSON names, omitempty, pointers, inlining) by
//! `core/tools/protobuf_schema_gen.py`; regenerate it rather than editing it by hand. It is
//! packed (ids and spans instead of references: 14 bytes a field, no pointers) because it
//! ships in the binary: about 1,000 fields across 234 messages.

use super::schema_table::{FIELDS, MESSAGES, NAME_TEXT, TOP_KINDS};

/// Index of a message in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MessageId(pub(super) u16);

/// A name as (offset, length) in the table's name text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Name(pub(super) u16, pub(super) u8);

impl Name {
    pub(super) fn as_str(self) -> &'static str {
        let start = usize::from(self.0);
        NAME_TEXT
            .get(start..start + usize::from(self.1))
            .unwrap_or("")
    }
}

/// What one value of a field holds and therefore how it turns into JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Elem {
    Str,
    I32,
    I64,
    Bool,
    #[allow(dead_code, reason = "no double field is reachable from today's kinds")]
    F64,
    /// `[]byte`: a base64 string in JSON.
    Bytes,
    /// A nested message: a JSON object.
    Message(MessageId),
    /// metav1.Time: RFC 3339 to the second, `null` when zero.
    Time,
    /// metav1.MicroTime: RFC 3339 to the microsecond, `null` when zero.
    #[allow(
        dead_code,
        reason = "reachable only from kinds not in the table yet (Event, Lease)"
    )]
    MicroTime,
    /// resource.Quantity: its canonical string.
    Quantity,
    /// intstr.IntOrString: a JSON number or string.
    IntOrString,
    /// metav1.FieldsV1 and runtime.RawExtension: raw JSON bytes, embedded as they are.
    RawJson,
    /// A Go `[]string` alias wrapped as `message { repeated string items = 1; }`.
    StringList,
}

/// A field's cardinality around its [`Elem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Single(Elem),
    /// An embedded Go struct (`json:",inline"`): its fields merge into the parent object.
    Inline(MessageId),
    /// `repeated`: a JSON array.
    Repeated(Elem),
    /// `map<string, V>`: a JSON object.
    Map(Elem),
}

/// How a field's zero or absent value appears in the JSON, following encoding/json on the
/// Go value upstream's Unmarshal would build (a field absent from the wire is Go's zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presence {
    /// A non-pointer `omitempty` scalar: Go's protobuf marshaller writes it even when zero,
    /// but the JSON marshaller omits the zero value, so the transcoder drops it too.
    OmitZero,
    /// Pointers (a set `*bool` false is meaningful) and `omitempty` lists and maps: emitted
    /// exactly when present on the wire.
    Keep,
    /// A non-pointer field encoding/json always writes: a scalar without `omitempty`, or any
    /// struct (encoding/json never omits structs). Absent, it is written as Go's zero value:
    /// `""`, `0`, `false`, a struct of zero fields, `null` for a zero Time.
    ZeroIfAbsent,
    /// A list, map or `[]byte` without `omitempty`: absent (nil), it is written `null`.
    NullIfAbsent,
}

/// One field of a message.
#[derive(Debug)]
pub(super) struct Field {
    pub(super) number: u16,
    /// The JSON member name; empty for [`Kind::Inline`].
    pub(super) json: Name,
    pub(super) kind: Kind,
    pub(super) presence: Presence,
}

impl Field {
    pub(super) fn json(&self) -> &'static str {
        self.json.as_str()
    }
}

/// One message type: `FIELDS[first..first + len]`, sorted by number.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) name: Name,
    pub(super) first: u16,
    pub(super) len: u16,
}

impl Message {
    pub(super) fn name(&self) -> &'static str {
        self.name.as_str()
    }

    pub(super) fn fields(&self) -> &'static [Field] {
        let first = usize::from(self.first);
        FIELDS
            .get(first..first + usize::from(self.len))
            .unwrap_or(&[])
    }

    pub(super) fn field(&self, number: u32) -> Option<&'static Field> {
        let fields = self.fields();
        let index = fields
            .binary_search_by_key(&number, |f| u32::from(f.number))
            .ok()?;
        fields.get(index)
    }
}

/// The message an id names. Ids come only from the generated table, whose every id is
/// checked by a test; an unknown one yields a message without fields rather than a panic.
pub(super) fn message(id: MessageId) -> &'static Message {
    static NONE: Message = Message {
        name: Name(0, 0),
        first: 0,
        len: 0,
    };
    MESSAGES.get(usize::from(id.0)).unwrap_or(&NONE)
}

/// A kind the envelope may name; `api_version` `*` matches any group version.
#[derive(Debug)]
pub(super) struct TopKind {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) message: MessageId,
}

/// The message for an envelope's apiVersion and kind, if the server knows it.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    TOP_KINDS
        .iter()
        .find(|top| top.kind == kind && (top.api_version == "*" || top.api_version == api_version))
        .map(|top| message(top.message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message_of(kind: Kind) -> Option<MessageId> {
        match kind {
            Kind::Inline(id)
            | Kind::Single(Elem::Message(id))
            | Kind::Repeated(Elem::Message(id))
            | Kind::Map(Elem::Message(id)) => Some(id),
            _ => None,
        }
    }

    #[test]
    fn table_is_sorted_and_well_formed() {
        let mut covered = 0;
        for (index, message) in MESSAGES.iter().enumerate() {
            assert_eq!(
                usize::from(message.first),
                covered,
                "message {index} is not contiguous"
            );
            covered += usize::from(message.len);
            assert_eq!(message.fields().len(), usize::from(message.len));
            assert!(!message.name().is_empty());
            for pair in message.fields().windows(2) {
                assert!(
                    pair[0].number < pair[1].number,
                    "{} is not sorted",
                    message.name()
                );
            }
            for field in message.fields() {
                let inline = matches!(field.kind, Kind::Inline(_));
                assert_eq!(
                    inline,
                    field.json().is_empty(),
                    "{}.{}",
                    message.name(),
                    field.number
                );
                if let Some(id) = message_of(field.kind) {
                    assert!(usize::from(id.0) < MESSAGES.len());
                }
            }
        }
        assert_eq!(covered, FIELDS.len());
        for top in TOP_KINDS {
            assert!(usize::from(top.message.0) < MESSAGES.len());
        }
    }

    #[test]
    fn field_numbers_match_upstream_for_spot_checks() {
        let config_map = lookup("v1", "ConfigMap").unwrap();
        let Kind::Single(Elem::Message(meta)) = config_map.field(1).unwrap().kind else {
            panic!("metadata is a message")
        };
        let meta = message(meta);
        assert_eq!(meta.name(), "ObjectMeta");
        assert_eq!(meta.field(11).unwrap().json(), "labels");
        assert_eq!(meta.field(8).unwrap().json(), "creationTimestamp");
        assert_eq!(meta.field(1).unwrap().presence, Presence::OmitZero);
        let sa = lookup("v1", "ServiceAccount").unwrap().field(4).unwrap();
        assert_eq!(sa.json(), "automountServiceAccountToken");
        assert_eq!(
            sa.presence,
            Presence::Keep,
            "a pointer keeps an explicit false"
        );
        let secret = lookup("v1", "Secret").unwrap();
        assert_eq!(secret.field(2).unwrap().kind, Kind::Map(Elem::Bytes));
        assert!(lookup("apps/v1", "DeleteOptions").is_some());
        assert!(lookup("v1", "Deployment").is_none());
    }

    #[test]
    fn packed_layout_stays_small() {
        assert!(
            std::mem::size_of::<Field>() <= 14,
            "{}",
            std::mem::size_of::<Field>()
        );
        assert!(std::mem::size_of::<Message>() <= 8);
    }
}
