//! Kubernetes strategic merge patch: maps merge recursively, `null` deletes, lists are
//! replaced unless schema metadata ([`PatchMeta`]) gives them a merge strategy (merge by a
//! key field, or set-merge for primitive lists). Handles the directives kubectl sends:
//! `$patch` (replace/delete in maps, replace/delete items in keyed lists),
//! `$deleteFromPrimitiveList/<field>`, `$setElementOrder/<field>` and `$retainKeys`; no
//! directive key survives into the result. Creating patches is kubectl's job, not ours.

use super::value::{MAX_DEPTH, canonical_key, within_depth};
use miniserde::json::{Array, Object, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// How a field is merged, as declared by `patchStrategy`/`patchMergeKey` upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListStrategy<'a> {
    /// A list of objects merged item by item on `key`; `retain_keys` marks items that also
    /// accept `$retainKeys` (pod volumes).
    Merge { key: &'a str, retain_keys: bool },
    /// A list of scalars merged as a set (`metadata.finalizers`).
    MergePrimitives,
    /// An object (not a list) whose patch may say which keys to keep (`$retainKeys`).
    RetainKeys,
}

/// A key field of an associative list as server-side apply identifies its items
/// (upstream's `listMapKey`), with the value the API server defaults it to when absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapKey<'a> {
    pub field: &'a str,
    pub default: Option<&'a str>,
}

/// Schema lookup: the strategy of the field at `path`, a list of object keys from the root
/// (list items add no segment: `["spec","containers","ports"]`). `None` means replace.
pub trait PatchMeta {
    fn lookup(&self, path: &[&str]) -> Option<ListStrategy<'_>>;

    /// The keys server-side apply identifies items of the keyed list at `path` by, when
    /// they differ from the strategic merge key (container ports: `containerPort` and
    /// `protocol`, where strategic merge uses `containerPort` alone). `None`: the merge key.
    fn list_map_keys(&self, _path: &[&str]) -> Option<&[MapKey<'_>]> {
        None
    }
}

/// Metadata for objects without a schema: every list is replaced.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoPatchMeta;

impl PatchMeta for NoPatchMeta {
    fn lookup(&self, _path: &[&str]) -> Option<ListStrategy<'_>> {
        None
    }
}

/// Why a strategic merge patch was rejected. Texts follow apimachinery's `mergepatch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StrategicMergeError {
    /// The patch (or the original) is not a JSON object.
    BadJsonDoc,
    /// The original or the patch nests deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A `$`-prefixed key that is no known directive.
    UnknownDirective(String),
    /// A `$patch` value this position does not accept.
    BadPatchType { directive: String, item: String },
    /// `$patch: merge` inside a list.
    MergeDirectiveInList,
    /// An item of a keyed list without its merge key.
    NoMergeKey { item: String, key: String },
    /// A keyed list item that is not an object.
    ListItemNotMap { item: String },
    /// `$deleteFromPrimitiveList/...` whose value is not a list.
    BadPrimitiveListFormat,
    /// `$retainKeys` that is not a list of strings.
    BadRetainKeysFormat,
    /// A patch key that its own `$retainKeys` does not list.
    RetainKeysMismatch,
    /// `$setElementOrder/...` that is not a list of items carrying the merge key.
    BadSetElementOrderFormat,
}

impl StrategicMergeError {
    /// The API server's answer: 422 where upstream returns Invalid-like errors, else 400.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::RetainKeysMismatch => 422,
            _ => 400,
        }
    }
}

impl fmt::Display for StrategicMergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadJsonDoc => f.write_str("invalid JSON document"),
            Self::TooDeep => write!(
                f,
                "strategic merge patch nests deeper than {MAX_DEPTH} levels"
            ),
            Self::UnknownDirective(key) => write!(f, "unknown patch directive: {key}"),
            Self::BadPatchType { directive, item } => {
                write!(f, "unknown patch type: {directive} in map: {item}")
            }
            Self::MergeDirectiveInList => {
                f.write_str("merging lists cannot yet be specified in the patch")
            }
            Self::NoMergeKey { item, key } => {
                write!(f, "map: {item} does not contain declared merge key: {key}")
            }
            Self::ListItemNotMap { item } => {
                write!(f, "expected a map, but received a {item}")
            }
            Self::BadPrimitiveListFormat => f.write_str("invalid patch format of primitive list"),
            Self::BadRetainKeysFormat => f.write_str("invalid patch format of retainKeys"),
            Self::RetainKeysMismatch => f.write_str("patch content doesn't match retainKeys list"),
            Self::BadSetElementOrderFormat => {
                f.write_str("invalid patch format of setElementOrder list")
            }
        }
    }
}

impl std::error::Error for StrategicMergeError {}

type Result<T> = std::result::Result<T, StrategicMergeError>;

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList/";
const SET_ELEMENT_ORDER: &str = "$setElementOrder/";

/// Applies the strategic merge `patch` to `original`; both must be objects.
pub fn apply_strategic_merge_patch(
    original: Value,
    patch: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value> {
    if !within_depth(&original) || !within_depth(patch) {
        return Err(StrategicMergeError::TooDeep);
    }
    let (Value::Object(original), Value::Object(patch)) = (original, patch) else {
        return Err(StrategicMergeError::BadJsonDoc);
    };
    let mut path = Vec::new();
    merge_map(original, patch, &mut path, meta).map(Value::Object)
}

// Recursion through merge_map/merge_list is bounded by the depth check at the entry point.
fn merge_map<'p>(
    original: Object,
    patch: &'p Object,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Object> {
    match patch.get(DIRECTIVE) {
        None => merge_fields(original, patch, path, meta),
        Some(Value::String(d)) if d == "replace" => merge_fields(Object::new(), patch, path, meta),
        Some(Value::String(d)) if d == "delete" => Ok(Object::new()),
        // Upstream rejects `merge` in maps; it is the default, so wisp accepts it as a no-op.
        Some(Value::String(d)) if d == "merge" => merge_fields(original, patch, path, meta),
        Some(other) => Err(StrategicMergeError::BadPatchType {
            directive: scalar_text(other),
            item: go_map_text(patch),
        }),
    }
}

fn merge_fields<'p>(
    mut original: Object,
    patch: &'p Object,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Object> {
    apply_retain_keys(&mut original, patch)?;
    let server_orders = server_orders(&original, patch, path, meta);
    for (key, value) in patch.iter() {
        if let Some(field) = key.strip_prefix(DELETE_FROM_PRIMITIVE_LIST) {
            delete_from_primitive_list(&mut original, field, value)?;
            continue;
        }
        if key == DIRECTIVE || key == RETAIN_KEYS || key.starts_with(SET_ELEMENT_ORDER) {
            continue;
        }
        if key.starts_with('$') {
            return Err(StrategicMergeError::UnknownDirective(key.clone()));
        }
        if let Value::Null = value {
            original.remove(key);
            continue;
        }
        path.push(key);
        let merged = merge_value(original.remove(key), value, path, meta);
        path.pop();
        original.insert(key.clone(), merged?);
    }
    for (field, order, key, server_order) in server_orders {
        if let Some(Value::Array(list)) = original.get_mut(field) {
            reorder(list, order, key, &server_order)?;
        }
    }
    Ok(original)
}

/// For each `$setElementOrder/<field>`: the field, the wanted order, the list's merge key
/// and the identities of the items on the server before the merge.
type ServerOrder<'p, 'm> = (&'p str, &'p Value, Option<&'m str>, Vec<String>);

fn server_orders<'p, 'm>(
    original: &Object,
    patch: &'p Object,
    path: &mut Vec<&'p str>,
    meta: &'m dyn PatchMeta,
) -> Vec<ServerOrder<'p, 'm>> {
    let mut orders = Vec::new();
    for (key, order) in patch.iter() {
        let Some(field) = key.strip_prefix(SET_ELEMENT_ORDER) else {
            continue;
        };
        path.push(field);
        let merge_key = match meta.lookup(path) {
            Some(ListStrategy::Merge { key, .. }) => Some(key),
            _ => None,
        };
        path.pop();
        let server_order = match original.get(field) {
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| identity(i, merge_key))
                .collect(),
            _ => Vec::new(),
        };
        orders.push((field, order, merge_key, server_order));
    }
    orders
}

/// An item's identity for ordering: its merge key's value, or itself for primitives.
fn identity(item: &Value, merge_key: Option<&str>) -> Option<String> {
    match (merge_key, item) {
        (Some(key), Value::Object(o)) => o.get(key).map(canonical_key),
        (Some(_), _) => None,
        (None, item) => Some(canonical_key(item)),
    }
}

fn merge_value<'p>(
    original: Option<Value>,
    patch: &'p Value,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Value> {
    match (original, patch) {
        (Some(Value::Object(o)), Value::Object(p)) => {
            merge_map(o, p, path, meta).map(Value::Object)
        }
        (Some(Value::Array(o)), Value::Array(p)) => merge_list(o, p, path, meta).map(Value::Array),
        // Absent or of another type: take the patch value, minus its nulls and directives.
        (_, Value::Object(p)) => merge_map(Object::new(), p, path, meta).map(Value::Object),
        (_, Value::Array(p)) => merge_list(Array::new(), p, path, meta).map(Value::Array),
        (_, scalar) => Ok(scalar.clone()),
    }
}

fn merge_list<'p>(
    original: Array,
    patch: &'p Array,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Array> {
    match meta.lookup(path) {
        Some(ListStrategy::Merge { key, .. }) => {
            let key = key.to_owned();
            merge_keyed_list(original, patch, &key, path, meta)
        }
        Some(ListStrategy::MergePrimitives) => Ok(merge_primitive_list(original, patch)),
        _ => patch
            .iter()
            .map(|item| merge_value(None, item, path, meta))
            .collect(),
    }
}

fn merge_keyed_list<'p>(
    mut original: Array,
    patch: &'p Array,
    key: &str,
    path: &mut Vec<&'p str>,
    meta: &dyn PatchMeta,
) -> Result<Array> {
    let mut items: Vec<(&Object, String)> = Vec::with_capacity(patch.len());
    let mut deleted = BTreeSet::new();
    let mut replace = false;
    for item in patch.iter() {
        let Value::Object(map) = item else {
            return Err(StrategicMergeError::ListItemNotMap {
                item: type_name(item).to_owned(),
            });
        };
        let wanted = || merge_key_value(map, key).map(canonical_key);
        match map.get(DIRECTIVE) {
            None => items.push((map, wanted()?)),
            Some(Value::String(d)) if d == "delete" => {
                deleted.insert(wanted()?);
            }
            Some(Value::String(d)) if d == "replace" => replace = true,
            Some(Value::String(d)) if d == "merge" => {
                return Err(StrategicMergeError::MergeDirectiveInList);
            }
            Some(other) => {
                return Err(StrategicMergeError::BadPatchType {
                    directive: scalar_text(other),
                    item: go_map_text(map),
                });
            }
        }
    }
    if replace {
        original.clear();
    }
    if !deleted.is_empty() {
        original.retain(|o| item_key_text(o, key).is_none_or(|k| !deleted.contains(&k)));
    }
    // Index by merge key so large lists merge in O(n log n); the first duplicate wins.
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    for (i, item) in original.iter().enumerate() {
        if let Some(k) = item_key_text(item, key) {
            index.entry(k).or_insert(i);
        }
    }
    for (map, wanted) in items {
        match index.get(&wanted) {
            Some(&i) => {
                let current = match std::mem::take(&mut original[i]) {
                    Value::Object(o) => o,
                    _ => Object::new(),
                };
                original[i] = Value::Object(merge_map(current, map, path, meta)?);
            }
            None => {
                index.insert(wanted, original.len());
                original.push(Value::Object(merge_map(Object::new(), map, path, meta)?));
            }
        }
    }
    Ok(original)
}

fn item_key_text(item: &Value, key: &str) -> Option<String> {
    match item {
        Value::Object(o) => o.get(key).map(canonical_key),
        _ => None,
    }
}

fn merge_key_value<'m>(map: &'m Object, key: &str) -> Result<&'m Value> {
    map.get(key).ok_or_else(|| StrategicMergeError::NoMergeKey {
        item: go_map_text(map),
        key: key.to_owned(),
    })
}

/// Set union keeping first occurrences in order, as upstream's `deduplicateScalars`.
fn merge_primitive_list(original: Array, patch: &Array) -> Array {
    let mut seen = BTreeSet::new();
    original
        .into_iter()
        .chain(patch.iter().cloned())
        .filter(|item| seen.insert(canonical_key(item)))
        .collect()
}

fn delete_from_primitive_list(original: &mut Object, field: &str, doomed: &Value) -> Result<()> {
    let Value::Array(doomed) = doomed else {
        return Err(StrategicMergeError::BadPrimitiveListFormat);
    };
    let doomed: BTreeSet<String> = doomed.iter().map(canonical_key).collect();
    if let Some(Value::Array(list)) = original.get_mut(field) {
        list.retain(|item| !doomed.contains(&canonical_key(item)));
    }
    Ok(())
}

/// `$retainKeys`: every key the patch sets must be listed; original keys not listed go.
fn apply_retain_keys(original: &mut Object, patch: &Object) -> Result<()> {
    let Some(retain) = patch.get(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(StrategicMergeError::BadRetainKeysFormat);
    };
    let mut keys = Vec::with_capacity(retain.len());
    for key in retain.iter() {
        let Value::String(key) = key else {
            return Err(StrategicMergeError::BadRetainKeysFormat);
        };
        keys.push(key.as_str());
    }
    let unlisted = patch
        .iter()
        .filter(|(k, v)| !k.starts_with('$') && !matches!(v, Value::Null))
        .any(|(k, _)| !keys.contains(&k.as_str()));
    if unlisted {
        return Err(StrategicMergeError::RetainKeysMismatch);
    }
    original.retain(|k, _| keys.contains(&k.as_str()));
    Ok(())
}

/// `$setElementOrder`, as upstream's `normalizeElementOrder`: items the order names are
/// sorted by it; the others (server-only) keep their relative order and are interleaved
/// in front of the first named item that came after them on the server.
fn reorder(
    list: &mut Array,
    order: &Value,
    merge_key: Option<&str>,
    server_order: &[String],
) -> Result<()> {
    let Value::Array(order) = order else {
        return Err(StrategicMergeError::BadSetElementOrderFormat);
    };
    let mut wanted: BTreeMap<String, usize> = BTreeMap::new();
    for (rank, entry) in order.iter().enumerate() {
        let id = identity(entry, merge_key).ok_or(StrategicMergeError::BadSetElementOrderFormat)?;
        wanted.entry(id).or_insert(rank);
    }
    let mut server_index: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, id) in server_order.iter().enumerate() {
        server_index.entry(id.as_str()).or_insert(i);
    }
    let mut named: Vec<(usize, Option<usize>, Value)> = Vec::new();
    let mut server_only: Vec<(Option<usize>, Value)> = Vec::new();
    for item in std::mem::take(&mut **list) {
        let id = identity(&item, merge_key);
        let at_server = id.as_deref().and_then(|id| server_index.get(id).copied());
        match id.and_then(|id| wanted.get(&id).copied()) {
            Some(rank) => named.push((rank, at_server, item)),
            None => server_only.push((at_server, item)),
        }
    }
    named.sort_by_key(|(rank, _, _)| *rank);
    let mut result = Vec::with_capacity(named.len() + server_only.len());
    let mut named = named.into_iter().peekable();
    let mut server_only = server_only.into_iter().peekable();
    loop {
        let take_server = match (server_only.peek(), named.peek()) {
            (Some((Some(left), _)), Some((_, Some(right), _))) => left < right,
            (Some(_), None) => true,
            (_, Some(_)) => false,
            (None, None) => break,
        };
        let next = if take_server {
            server_only.next().map(|(_, item)| item)
        } else {
            named.next().map(|(_, _, item)| item)
        };
        result.extend(next);
    }
    **list = result;
    Ok(())
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "slice",
        Value::Object(_) => "map",
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => miniserde::json::to_string(other),
    }
}

/// Renders an object the way Go's `%v` prints a `map[string]interface{}`, for messages.
fn go_map_text(map: &Object) -> String {
    let entries: Vec<String> = map
        .iter()
        .map(|(k, v)| format!("{k}:{}", scalar_text(v)))
        .collect();
    format!("map[{}]", entries.join(" "))
}

#[cfg(test)]
mod tests;
