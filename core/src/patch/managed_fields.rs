//! `metadata.managedFields` on the wire: decoding entries (FieldsV1 into [`FieldSet`]s),
//! encoding them back, and the bookkeeping helpers apply and update share.

use super::field_set::{FieldSet, fields_of, from_fields_v1, to_fields_v1};
use super::strategic::PatchMeta;
use miniserde::json::{Array, Object, Value};

pub(super) const APPLY: &str = "Apply";
pub(super) const UPDATE: &str = "Update";

/// One `metadata.managedFields` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    /// "Apply" or "Update".
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

pub(super) fn string_at(object: &Value, key: &str) -> String {
    match object {
        Value::Object(o) => match o.get(key) {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

pub(super) fn upsert_entry(
    entries: &mut Vec<ManagedFieldsEntry>,
    manager: &str,
    operation: &str,
    api_version: String,
    now: &str,
    fields: FieldSet,
) {
    let existing = entries
        .iter_mut()
        .find(|e| e.manager == manager && e.operation == operation && e.subresource.is_none());
    let entry = ManagedFieldsEntry {
        manager: manager.to_owned(),
        operation: operation.to_owned(),
        api_version,
        time: Some(now.to_owned()),
        subresource: None,
        fields,
    };
    match existing {
        Some(slot) => *slot = entry,
        None => entries.push(entry),
    }
}

pub(super) fn managed_fields_value(object: &Value) -> Option<&Value> {
    match object {
        Value::Object(o) => match o.get("metadata") {
            Some(Value::Object(m)) => m.get("managedFields"),
            _ => None,
        },
        _ => None,
    }
}

/// The entries of `object`'s `metadata.managedFields`. An existing object without any gets
/// upstream's `before-first-apply` entry owning all its fields, so that the first apply
/// conflicts with what was there rather than silently taking it. Undecodable entries are
/// dropped.
pub fn entries_of(object: &Value, meta: &dyn PatchMeta) -> Vec<ManagedFieldsEntry> {
    let Some(Value::Array(items)) = managed_fields_value(object) else {
        let fields = fields_of(object, meta);
        if fields.is_empty() {
            return Vec::new();
        }
        return vec![ManagedFieldsEntry {
            manager: "before-first-apply".to_owned(),
            operation: UPDATE.to_owned(),
            api_version: string_at(object, "apiVersion"),
            time: None,
            subresource: None,
            fields,
        }];
    };
    items.iter().filter_map(decode_entry).collect()
}

/// The entries a request object sets itself, when it sets any that decode. Upstream takes
/// these over the live object's (`decodeLiveOrNew`): that is how kubectl hands client-side
/// apply ownership to server-side apply, with a JSON patch of `metadata.managedFields`.
pub(super) fn requested_entries(object: &Value) -> Option<Vec<ManagedFieldsEntry>> {
    let Some(Value::Array(items)) = managed_fields_value(object) else {
        return None;
    };
    let entries: Vec<ManagedFieldsEntry> = items.iter().filter_map(decode_entry).collect();
    (!entries.is_empty()).then_some(entries)
}

fn decode_entry(item: &Value) -> Option<ManagedFieldsEntry> {
    let Value::Object(o) = item else {
        return None;
    };
    let text = |key: &str| match o.get(key) {
        Some(Value::String(s)) => Some(s.clone()),
        _ => None,
    };
    let fields = match o.get("fieldsV1") {
        Some(v) => from_fields_v1(v)?,
        None => FieldSet::new(),
    };
    Some(ManagedFieldsEntry {
        manager: text("manager").unwrap_or_default(),
        operation: text("operation")?,
        api_version: text("apiVersion").unwrap_or_default(),
        time: text("time"),
        subresource: text("subresource"),
        fields,
    })
}

fn encode_entry(entry: &ManagedFieldsEntry) -> Value {
    let mut o = Object::new();
    let s = |text: &str| Value::String(text.to_owned());
    o.insert("manager".into(), s(&entry.manager));
    o.insert("operation".into(), s(&entry.operation));
    o.insert("apiVersion".into(), s(&entry.api_version));
    if let Some(time) = &entry.time {
        o.insert("time".into(), s(time));
    }
    o.insert("fieldsType".into(), s("FieldsV1"));
    o.insert("fieldsV1".into(), to_fields_v1(&entry.fields));
    if let Some(sub) = &entry.subresource {
        o.insert("subresource".into(), s(sub));
    }
    Value::Object(o)
}

pub(super) fn write_managed_fields(object: &mut Value, entries: &[ManagedFieldsEntry]) {
    let Value::Object(root) = object else {
        return;
    };
    let metadata = root
        .entry("metadata".to_owned())
        .or_insert_with(|| Value::Object(Object::new()));
    if !matches!(metadata, Value::Object(_)) {
        *metadata = Value::Object(Object::new());
    }
    if let Value::Object(metadata) = metadata {
        if entries.is_empty() {
            metadata.remove("managedFields");
        } else {
            let list: Array = entries.iter().map(encode_entry).collect();
            metadata.insert("managedFields".to_owned(), Value::Array(list));
        }
    }
}
