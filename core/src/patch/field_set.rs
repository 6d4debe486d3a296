//! Sets of field paths, the unit of server-side-apply ownership, in upstream's FieldsV1
//! shape: `f:<name>` object members, `k:{"name":"x"}` items of keyed lists, `v:"x"` items
//! of set lists, `.` for "this node itself" when a member also has children. Also: the
//! paths a value sets (given list strategies from [`PatchMeta`]) and reading or removing
//! the value at a path.

use super::strategic::{ListStrategy, MapKey, PatchMeta};
use super::value::{canonical_key, values_equal};
use miniserde::json::{Object, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::{self, Write as _};

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum PathElement {
    /// An object member.
    Field(String),
    /// An item of a keyed list, by its key fields as a JSON object (`{"name":"x"}`).
    Key(String),
    /// An item of a set list, by its JSON value.
    Value(String),
}

/// A path from the object root.
pub type FieldPath = Vec<PathElement>;

/// A set of owned paths (each a leaf value, or a list item that is itself owned).
pub type FieldSet = BTreeSet<FieldPath>;

impl PathElement {
    fn encode(&self) -> String {
        match self {
            Self::Field(name) => format!("f:{name}"),
            Self::Key(json) => format!("k:{json}"),
            Self::Value(json) => format!("v:{json}"),
        }
    }

    fn decode(text: &str) -> Option<Self> {
        let (prefix, rest) = text.split_at_checked(2)?;
        match prefix {
            "f:" => Some(Self::Field(rest.to_owned())),
            "k:" => Some(Self::Key(rest.to_owned())),
            "v:" => Some(Self::Value(rest.to_owned())),
            _ => None,
        }
    }
}

/// Renders a path as upstream prints it in conflicts: `.spec.containers[name="app"].image`.
pub struct DisplayPath<'p>(pub &'p [PathElement]);

impl fmt::Display for DisplayPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in self.0 {
            match element {
                PathElement::Field(name) => write!(f, ".{name}")?,
                PathElement::Value(json) => write!(f, "[={json}]")?,
                PathElement::Key(json) => {
                    let mut text = String::new();
                    if let Ok(Value::Object(keys)) = miniserde::json::from_str::<Value>(json) {
                        for (i, (k, v)) in keys.iter().enumerate() {
                            let sep = if i > 0 { "," } else { "" };
                            let _ = write!(text, "{sep}{k}={}", miniserde::json::to_string(v));
                        }
                    }
                    write!(f, "[{text}]")?;
                }
            }
        }
        Ok(())
    }
}

#[derive(Default)]
struct Node {
    member: bool,
    children: BTreeMap<String, Node>,
}

/// Encodes a set as a FieldsV1 object.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    let mut root = Node::default();
    for path in set {
        let mut node = &mut root;
        for element in path {
            node = node.children.entry(element.encode()).or_default();
        }
        node.member = true;
    }
    node_value(root)
}

// Depth is the length of a path, bounded by the depth of the objects paths come from.
fn node_value(node: Node) -> Value {
    let mut object = Object::new();
    if node.member && !node.children.is_empty() {
        object.insert(".".to_owned(), Value::Object(Object::new()));
    }
    for (key, child) in node.children {
        object.insert(key, node_value(child));
    }
    Value::Object(object)
}

/// Decodes a FieldsV1 object; `None` if it is malformed.
pub fn from_fields_v1(value: &Value) -> Option<FieldSet> {
    let mut set = FieldSet::new();
    let Value::Object(object) = value else {
        return None;
    };
    decode_node(object, &mut Vec::new(), &mut set)?;
    Some(set)
}

fn decode_node(object: &Object, path: &mut FieldPath, set: &mut FieldSet) -> Option<()> {
    for (key, child) in object.iter() {
        if key == "." {
            set.insert(path.clone());
            continue;
        }
        let Value::Object(child) = child else {
            return None;
        };
        path.push(PathElement::decode(key)?);
        if child.is_empty() {
            set.insert(path.clone());
        } else {
            decode_node(child, path, set)?;
        }
        path.pop();
    }
    Some(())
}

/// Paths that never carry ownership: identity and server-managed metadata, and `status`
/// (written through its own subresource). Upstream strips the same metadata fields.
pub fn is_unowned(path: &[PathElement]) -> bool {
    const METADATA: [&str; 10] = [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
    ];
    match path {
        [PathElement::Field(top)] => matches!(top.as_str(), "apiVersion" | "kind" | "status"),
        [PathElement::Field(meta), PathElement::Field(field)] => {
            meta == "metadata" && METADATA.contains(&field.as_str())
        }
        _ => false,
    }
}

/// The paths `value` (an object) sets: leaves, atomic lists, empty objects, and keyed or
/// set list items (themselves and, for keyed items, their fields).
pub fn fields_of(value: &Value, meta: &dyn PatchMeta) -> FieldSet {
    let mut set = FieldSet::new();
    if let Value::Object(object) = value {
        collect_object(object, &mut Vec::new(), &mut Vec::new(), meta, &mut set);
    }
    set
}

fn collect_object<'v>(
    object: &'v Object,
    path: &mut FieldPath,
    names: &mut Vec<&'v str>,
    meta: &dyn PatchMeta,
    set: &mut FieldSet,
) {
    for (key, child) in object.iter() {
        if let Value::Null = child {
            continue;
        }
        path.push(PathElement::Field(key.clone()));
        names.push(key);
        if !is_unowned(path) {
            collect_value(child, path, names, meta, set);
        }
        names.pop();
        path.pop();
    }
}

fn collect_value<'v>(
    value: &'v Value,
    path: &mut FieldPath,
    names: &mut Vec<&'v str>,
    meta: &dyn PatchMeta,
    set: &mut FieldSet,
) {
    match value {
        Value::Object(object) if !object.is_empty() => {
            collect_object(object, path, names, meta, set)
        }
        Value::Array(items) => match list_kind(meta, names) {
            ListKind::Keyed(keys) if items.iter().all(|i| item_key(i, keys).is_some()) => {
                for item in items.iter() {
                    let (Some(element), Value::Object(fields)) = (item_key(item, keys), item)
                    else {
                        continue;
                    };
                    path.push(element);
                    set.insert(path.clone());
                    collect_object(fields, path, names, meta, set);
                    path.pop();
                }
            }
            ListKind::Set => {
                for item in items.iter() {
                    path.push(PathElement::Value(miniserde::json::to_string(item)));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            _ => {
                set.insert(path.clone());
            }
        },
        _ => {
            set.insert(path.clone());
        }
    }
}

/// Longest keyed or set list an object may hold for ownership tracking. The apply paths
/// index such lists, but a few lookups (fields under an item another manager keeps) still
/// scan them; the bound caps that cost on hostile input. Real objects (containers, env,
/// ports, finalizers) stay far below it.
pub const MAX_ASSOCIATIVE_ITEMS: usize = 10_000;

/// True when `value` holds a keyed or set list longer than [`MAX_ASSOCIATIVE_ITEMS`].
pub fn has_oversized_list(value: &Value, meta: &dyn PatchMeta) -> bool {
    oversized(value, &mut Vec::new(), meta)
}

// Recursion is bounded by the callers' depth check.
fn oversized<'v>(value: &'v Value, names: &mut Vec<&'v str>, meta: &dyn PatchMeta) -> bool {
    match value {
        Value::Object(object) => object.iter().any(|(key, child)| {
            names.push(key);
            let found = oversized(child, names, meta);
            names.pop();
            found
        }),
        Value::Array(items) => {
            let associative = !matches!(list_kind(meta, names), ListKind::Atomic);
            (associative && items.len() > MAX_ASSOCIATIVE_ITEMS)
                || items.iter().any(|item| oversized(item, names, meta))
        }
        _ => false,
    }
}

/// The paths of `new` (as [`fields_of`] lists them) whose values differ from `old`: leaves
/// with another value, list items `old` lacks. One simultaneous walk, with keyed lists
/// indexed, so the cost stays O(n log n).
pub fn changed_fields(old: Option<&Value>, new: &Value, meta: &dyn PatchMeta) -> FieldSet {
    let mut set = FieldSet::new();
    if let Value::Object(object) = new {
        let old = old.and_then(as_object);
        changed_object(
            object,
            old,
            &mut Vec::new(),
            &mut Vec::new(),
            meta,
            &mut set,
        );
    }
    set
}

fn as_object(value: &Value) -> Option<&Object> {
    match value {
        Value::Object(object) => Some(object),
        _ => None,
    }
}

fn changed_object<'v>(
    new: &'v Object,
    old: Option<&Object>,
    path: &mut FieldPath,
    names: &mut Vec<&'v str>,
    meta: &dyn PatchMeta,
    set: &mut FieldSet,
) {
    for (key, child) in new.iter() {
        if let Value::Null = child {
            continue;
        }
        path.push(PathElement::Field(key.clone()));
        names.push(key);
        if !is_unowned(path) {
            changed_value(child, old.and_then(|o| o.get(key)), path, names, meta, set);
        }
        names.pop();
        path.pop();
    }
}

fn changed_value<'v>(
    new: &'v Value,
    old: Option<&Value>,
    path: &mut FieldPath,
    names: &mut Vec<&'v str>,
    meta: &dyn PatchMeta,
    set: &mut FieldSet,
) {
    let old_items = match old {
        Some(Value::Array(items)) => Some(items),
        _ => None,
    };
    match new {
        Value::Object(object) if !object.is_empty() => {
            changed_object(object, old.and_then(as_object), path, names, meta, set);
        }
        Value::Array(items) => match list_kind(meta, names) {
            ListKind::Keyed(keys) if items.iter().all(|i| item_key(i, keys).is_some()) => {
                let old_items = old_items.map_or(&[][..], |o| &o[..]);
                changed_items(items, old_items, keys, path, names, meta, set);
            }
            ListKind::Set => {
                let present: BTreeSet<String> = old_items
                    .into_iter()
                    .flat_map(|o| o.iter())
                    .map(canonical_key)
                    .collect();
                for item in items
                    .iter()
                    .filter(|i| !present.contains(&canonical_key(i)))
                {
                    path.push(PathElement::Value(miniserde::json::to_string(item)));
                    set.insert(path.clone());
                    path.pop();
                }
            }
            _ => insert_if_changed(new, old, path, set),
        },
        _ => insert_if_changed(new, old, path, set),
    }
}

/// Keyed items of `new` that `old` lacks, and the changed fields of every item.
fn changed_items<'v>(
    new: &'v [Value],
    old: &[Value],
    keys: ItemKeys<'_>,
    path: &mut FieldPath,
    names: &mut Vec<&'v str>,
    meta: &dyn PatchMeta,
    set: &mut FieldSet,
) {
    let mut index = BTreeMap::new();
    for item in old {
        if let Some(element) = item_key(item, keys) {
            index.entry(element).or_insert(item);
        }
    }
    for item in new {
        let (Some(element), Value::Object(fields)) = (item_key(item, keys), item) else {
            continue;
        };
        let old_item = index.get(&element).copied();
        path.push(element);
        if old_item.is_none() {
            set.insert(path.clone());
        }
        changed_object(fields, old_item.and_then(as_object), path, names, meta, set);
        path.pop();
    }
}

fn insert_if_changed(new: &Value, old: Option<&Value>, path: &FieldPath, set: &mut FieldSet) {
    if old.is_none_or(|old| !values_equal(old, new)) {
        set.insert(path.clone());
    }
}

/// True when `set` holds `path` or a path beneath it (a sorted-range probe, not a scan).
pub fn owns_at_or_below(set: &FieldSet, path: &[PathElement]) -> bool {
    set.range(path.to_vec()..)
        .next()
        .is_some_and(|p| p.starts_with(path))
}

/// How server-side apply addresses the items of a list.
#[derive(Debug, Clone, Copy)]
pub enum ListKind<'m> {
    /// Items are objects named by key fields (`k:{...}`).
    Keyed(ItemKeys<'m>),
    /// Items are scalars named by value (`v:...`).
    Set,
    /// The list is one value.
    Atomic,
}

/// The key fields of a keyed list.
#[derive(Debug, Clone, Copy)]
pub enum ItemKeys<'m> {
    /// The strategic merge key alone.
    Single(&'m str),
    /// Several `listMapKey`s, some with defaults.
    Multi(&'m [MapKey<'m>]),
}

/// The kind of the list at schema path `names`.
pub fn list_kind<'m>(meta: &'m dyn PatchMeta, names: &[&str]) -> ListKind<'m> {
    match meta.lookup(names) {
        Some(ListStrategy::Merge { key, .. }) => match meta.list_map_keys(names) {
            Some(keys) if !keys.is_empty() => ListKind::Keyed(ItemKeys::Multi(keys)),
            _ => ListKind::Keyed(ItemKeys::Single(key)),
        },
        Some(ListStrategy::MergePrimitives) => ListKind::Set,
        _ => ListKind::Atomic,
    }
}

/// The `k:` element naming `item`; absent key fields take their defaults, so an applied
/// port without `protocol` names the same item as the stored one with `protocol: TCP`.
pub fn item_key(item: &Value, keys: ItemKeys<'_>) -> Option<PathElement> {
    let Value::Object(fields) = item else {
        return None;
    };
    let mut key = Object::new();
    match keys {
        ItemKeys::Single(name) => {
            key.insert(name.to_owned(), fields.get(name)?.clone());
        }
        ItemKeys::Multi(map_keys) => {
            for MapKey { field, default } in map_keys {
                let value = match (fields.get(*field), default) {
                    (Some(value), _) => value.clone(),
                    (None, Some(default)) => Value::String((*default).to_owned()),
                    (None, None) => return None,
                };
                key.insert((*field).to_owned(), value);
            }
        }
    }
    Some(PathElement::Key(miniserde::json::to_string(
        &Value::Object(key),
    )))
}

/// Position of the item `element` names in `items`, a list at schema path `names`.
fn find_item(
    items: &[Value],
    element: &PathElement,
    names: &[&str],
    meta: &dyn PatchMeta,
) -> Option<usize> {
    match (list_kind(meta, names), element) {
        (ListKind::Keyed(keys), PathElement::Key(_)) => items
            .iter()
            .position(|item| item_key(item, keys).as_ref() == Some(element)),
        (_, PathElement::Value(json)) => {
            let wanted = canonical_key(&miniserde::json::from_str::<Value>(json).ok()?);
            items.iter().position(|item| canonical_key(item) == wanted)
        }
        // A key the schema does not describe: compare the fields it names.
        (_, PathElement::Key(json)) => {
            let Ok(Value::Object(keys)) = miniserde::json::from_str::<Value>(json) else {
                return None;
            };
            items.iter().position(|item| {
                matches!(item, Value::Object(fields) if keys
                    .iter()
                    .all(|(k, v)| fields.get(k).is_some_and(|f| values_equal(f, v))))
            })
        }
        (_, PathElement::Field(_)) => None,
    }
}

/// The value at `path`, if present.
pub fn get_at<'v>(
    root: &'v Value,
    path: &[PathElement],
    meta: &dyn PatchMeta,
) -> Option<&'v Value> {
    let mut names: Vec<&str> = Vec::new();
    let mut node = root;
    for element in path {
        node = match (node, element) {
            (Value::Object(object), PathElement::Field(name)) => {
                names.push(name);
                object.get(name)?
            }
            (Value::Array(items), element) => &items[find_item(items, element, &names, meta)?],
            _ => return None,
        };
    }
    Some(node)
}

fn get_at_mut<'v>(
    root: &'v mut Value,
    path: &[PathElement],
    meta: &dyn PatchMeta,
) -> Option<&'v mut Value> {
    let mut names: Vec<&str> = Vec::new();
    let mut node = root;
    for element in path {
        node = match (node, element) {
            (Value::Object(object), PathElement::Field(name)) => {
                names.push(name);
                object.get_mut(name)?
            }
            (Value::Array(items), element) => {
                let index = find_item(items, element, &names, meta)?;
                &mut items[index]
            }
            _ => return None,
        };
    }
    Some(node)
}

fn field_names(path: &[PathElement]) -> Vec<&str> {
    path.iter()
        .filter_map(|e| match e {
            PathElement::Field(name) => Some(name.as_str()),
            _ => None,
        })
        .collect()
}

/// Removes the value at `path`; returns whether something was removed.
pub fn remove_at(root: &mut Value, path: &[PathElement], meta: &dyn PatchMeta) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let names = field_names(parents);
    match (get_at_mut(root, parents, meta), last) {
        (Some(Value::Object(object)), PathElement::Field(name)) => object.remove(name).is_some(),
        (Some(Value::Array(items)), element) => match find_item(items, element, &names, meta) {
            Some(index) => {
                items.remove(index);
                true
            }
            None => false,
        },
        _ => false,
    }
}

/// Removes from the list at `list_path` every item named by `elements` (`k:`/`v:`), in one
/// pass over the list.
pub fn remove_items(
    root: &mut Value,
    list_path: &[PathElement],
    elements: &[&PathElement],
    meta: &dyn PatchMeta,
) {
    let names = field_names(list_path);
    let kind = list_kind(meta, &names);
    let Some(Value::Array(items)) = get_at_mut(root, list_path, meta) else {
        return;
    };
    let keyed: BTreeSet<&PathElement> = elements
        .iter()
        .copied()
        .filter(|e| matches!(e, PathElement::Key(_)))
        .collect();
    let values: BTreeSet<String> = elements
        .iter()
        .filter_map(|e| match e {
            PathElement::Value(json) => miniserde::json::from_str::<Value>(json).ok(),
            _ => None,
        })
        .map(|v| canonical_key(&v))
        .collect();
    items.retain(|item| {
        let keyed_match = match kind {
            ListKind::Keyed(keys) if !keyed.is_empty() => {
                item_key(item, keys).is_some_and(|k| keyed.contains(&k))
            }
            _ => false,
        };
        let value_match = !values.is_empty() && values.contains(&canonical_key(item));
        !(keyed_match || value_match)
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::merge_keys::BuiltinPatchMeta;
    use crate::patch::value::parse;

    fn v(text: &str) -> Value {
        parse(text).expect("valid json")
    }

    #[test]
    fn fields_of_a_deployment_in_upstream_fieldsv1_shape() {
        let deployment = v(r#"{"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","labels":{"app":"web"},"finalizers":["a"]},
            "spec":{"replicas":2,"template":{"spec":{"containers":[{"name":"app","image":"nginx","args":["x"]}]}}},
            "status":{"replicas":2}}"#);
        let set = fields_of(&deployment, &BuiltinPatchMeta::new("Deployment"));
        let encoded = miniserde::json::to_string(&to_fields_v1(&set));
        assert_eq!(
            encoded,
            r#"{"f:metadata":{"f:finalizers":{"v:\"a\"":{}},"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:args":{},"f:image":{},"f:name":{}}}}}}}"#
        );
        assert_eq!(from_fields_v1(&v(&encoded)), Some(set));
    }

    #[test]
    fn paths_display_and_navigate() {
        let object = v(
            r#"{"spec":{"containers":[{"name":"a","image":"x"},{"name":"b","image":"y"}]},"metadata":{"finalizers":["f1","f2"]}}"#,
        );
        let path = vec![
            PathElement::Field("spec".into()),
            PathElement::Field("containers".into()),
            PathElement::Key(r#"{"name":"b"}"#.into()),
            PathElement::Field("image".into()),
        ];
        assert_eq!(
            DisplayPath(&path).to_string(),
            r#".spec.containers[name="b"].image"#
        );
        let meta = BuiltinPatchMeta::new("Pod");
        assert!(matches!(get_at(&object, &path, &meta), Some(Value::String(s)) if s == "y"));
        let mut object = object;
        assert!(remove_at(&mut object, &path[..3], &meta));
        assert!(get_at(&object, &path, &meta).is_none());
        let finalizer = vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value("\"f1\"".into()),
        ];
        assert_eq!(
            DisplayPath(&finalizer).to_string(),
            r#".metadata.finalizers[="f1"]"#
        );
        assert!(remove_at(&mut object, &finalizer, &meta));
        assert!(!remove_at(&mut object, &finalizer, &meta));
    }

    #[test]
    fn malformed_fields_v1_is_rejected() {
        assert!(from_fields_v1(&v(r#"{"x:bad":{}}"#)).is_none());
        assert!(from_fields_v1(&v(r#"{"f:a":1}"#)).is_none());
        assert!(from_fields_v1(&v("[]")).is_none());
    }
}
