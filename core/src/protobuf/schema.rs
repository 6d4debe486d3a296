//! The shape of the schema table: for each Kubernetes message, its fields by protobuf
//! number with their JSON names and kinds, and the top-level kinds the server accepts.
//!
//! The table itself lives in `schema_table.rs`, generated from upstream's generated.proto
//! (field numbers, proto types) and types.go (JSON names, omitempty, pointers, inlining) by
//! `core/tools/protobuf_schema_gen.py`; regenerate it rather than editing it by hand.

/// What a field holds and therefore how it turns into JSON.
#[derive(Debug)]
pub(super) enum Kind {
    Str,
    I32,
    I64,
    Bool,
    #[allow(dead_code, reason = "no double field is reachable from today's kinds")]
    F64,
    /// `[]byte`: a base64 string in JSON.
    Bytes,
    /// A nested message, a JSON object under the field's name.
    Message(&'static Message),
    /// An embedded Go struct (`json:",inline"`): its fields merge into the parent object.
    Inline(&'static Message),
    /// `repeated` of the inner kind: a JSON array.
    Repeated(&'static Kind),
    /// `map<string, V>`: a JSON object.
    Map(&'static Kind),
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
    pub(super) number: u32,
    /// The JSON member name; empty for [`Kind::Inline`].
    pub(super) json: &'static str,
    pub(super) kind: Kind,
    pub(super) presence: Presence,
}

/// One message type; `fields` is sorted by number.
#[derive(Debug)]
pub(super) struct Message {
    pub(super) name: &'static str,
    pub(super) fields: &'static [Field],
}

impl Message {
    pub(super) fn field(&self, number: u32) -> Option<&'static Field> {
        let index = self
            .fields
            .binary_search_by_key(&number, |f| f.number)
            .ok()?;
        self.fields.get(index)
    }
}

/// A kind the envelope may name; `api_version` `*` matches any group version.
#[derive(Debug)]
pub(super) struct TopKind {
    pub(super) api_version: &'static str,
    pub(super) kind: &'static str,
    pub(super) message: &'static Message,
}

/// The message for an envelope's apiVersion and kind, if the server knows it.
pub(super) fn lookup(api_version: &str, kind: &str) -> Option<&'static Message> {
    super::schema_table::TOP_KINDS
        .iter()
        .find(|top| top.kind == kind && (top.api_version == "*" || top.api_version == api_version))
        .map(|top| top.message)
}

#[cfg(test)]
mod tests {
    use super::super::schema_table::TOP_KINDS;
    use super::*;

    fn check_message(message: &'static Message, seen: &mut Vec<*const Message>) {
        if seen.contains(&std::ptr::from_ref(message)) {
            return;
        }
        seen.push(std::ptr::from_ref(message));
        for pair in message.fields.windows(2) {
            assert!(
                pair[0].number < pair[1].number,
                "{} is not sorted",
                message.name
            );
        }
        for field in message.fields {
            assert!(
                matches!(field.kind, Kind::Inline(_)) == field.json.is_empty(),
                "{}.{} json name",
                message.name,
                field.number
            );
            check_kind(&field.kind, seen);
        }
    }

    fn check_kind(kind: &'static Kind, seen: &mut Vec<*const Message>) {
        match kind {
            Kind::Message(m) | Kind::Inline(m) => check_message(m, seen),
            Kind::Repeated(inner) | Kind::Map(inner) => {
                assert!(!matches!(
                    inner,
                    Kind::Repeated(_) | Kind::Map(_) | Kind::Inline(_)
                ));
                check_kind(inner, seen);
            }
            _ => {}
        }
    }

    #[test]
    fn table_is_sorted_and_well_formed() {
        let mut seen = Vec::new();
        for top in TOP_KINDS {
            check_message(top.message, &mut seen);
        }
        assert!(seen.len() > 200, "only {} messages reachable", seen.len());
    }

    #[test]
    fn field_numbers_match_upstream_for_spot_checks() {
        let meta = lookup("v1", "ConfigMap").unwrap().field(1).unwrap();
        let Kind::Message(meta) = meta.kind else {
            panic!("metadata is a message")
        };
        assert_eq!(meta.field(11).unwrap().json, "labels");
        assert_eq!(meta.field(8).unwrap().json, "creationTimestamp");
        assert_eq!(meta.field(1).unwrap().presence, Presence::OmitZero);
        let sa = lookup("v1", "ServiceAccount").unwrap().field(4).unwrap();
        assert_eq!(sa.json, "automountServiceAccountToken");
        assert_eq!(
            sa.presence,
            Presence::Keep,
            "a pointer keeps an explicit false"
        );
        assert!(lookup("apps/v1", "DeleteOptions").is_some());
        assert!(lookup("v1", "Deployment").is_none());
    }
}
