//! Sets of field paths, the unit of server-side-apply ownership, in upstream's FieldsV1
//! shape: `f:<name>` object members, `k:{"name":"x"}` items of keyed lists, `v:"x"` items
//! of set lists, `.` for "this node itself" when a member also has children. Also: the
//! paths a value sets (given list strategies from [`PatchMeta`]) and reading or removing
//! the value at a path.

use super::strategic::{ListStrategy, PatchMeta};
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
        Value::Array(items) => match meta.lookup(names) {
            Some(ListStrategy::Merge { key, .. })
                if items.iter().all(|i| item_key(i, key).is_some()) =>
            {
                for item in items.iter() {
                    let (Some(element), Value::Object(fields)) = (item_key(item, key), item) else {
                        continue;
                    };
                    path.push(element);
                    set.insert(path.clone());
                    collect_object(fields, path, names, meta, set);
                    path.pop();
                }
            }
            Some(ListStrategy::MergePrimitives) => {
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
            let associative = matches!(
                meta.lookup(names),
                Some(ListStrategy::Merge { .. } | ListStrategy::MergePrimitives)
            );
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
        Value::Array(items) => match meta.lookup(names) {
            Some(ListStrategy::Merge { key, .. })
                if items.iter().all(|i| item_key(i, key).is_some()) =>
            {
                let mut index = BTreeMap::new();
                for item in old_items.into_iter().flat_map(|o| o.iter()) {
                    if let Some(element) = item_key(item, key) {
                        index.entry(element).or_insert(item);
                    }
                }
                for item in items.iter() {
                    let (Some(element), Value::Object(fields)) = (item_key(item, key), item) else {
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
            Some(ListStrategy::MergePrimitives) => {
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

/// The `k:` element naming `item` in a list keyed by `key`.
pub fn item_key(item: &Value, key: &str) -> Option<PathElement> {
    let Value::Object(fields) = item else {
        return None;
    };
    let value = fields.get(key)?;
    let mut keys = Object::new();
    keys.insert(key.to_owned(), value.clone());
    Some(PathElement::Key(miniserde::json::to_string(
        &Value::Object(keys),
    )))
}

/// A parsed `k:`/`v:` element, compared against list items.
enum ItemMatcher {
    Keys(Object),
    Value(Value),
}

impl ItemMatcher {
    fn new(element: &PathElement) -> Option<Self> {
        match element {
            PathElement::Field(_) => None,
            PathElement::Value(json) => miniserde::json::from_str(json).ok().map(Self::Value),
            PathElement::Key(json) => match miniserde::json::from_str(json).ok()? {
                Value::Object(keys) => Some(Self::Keys(keys)),
                _ => None,
            },
        }
    }

    fn matches(&self, item: &Value) -> bool {
        match (self, item) {
            (Self::Value(wanted), item) => values_equal(wanted, item),
            (Self::Keys(keys), Value::Object(fields)) => keys
                .iter()
                .all(|(k, v)| fields.get(k).is_some_and(|f| values_equal(f, v))),
            _ => false,
        }
    }
}

fn step<'v>(node: &'v Value, element: &PathElement) -> Option<&'v Value> {
    match (node, element) {
        (Value::Object(object), PathElement::Field(name)) => object.get(name),
        (Value::Array(items), _) => {
            let matcher = ItemMatcher::new(element)?;
            items.iter().find(|item| matcher.matches(item))
        }
        _ => None,
    }
}

/// The value at `path`, if present.
pub fn get_at<'v>(root: &'v Value, path: &[PathElement]) -> Option<&'v Value> {
    path.iter().try_fold(root, step)
}

fn step_mut<'v>(node: &'v mut Value, element: &PathElement) -> Option<&'v mut Value> {
    match (node, element) {
        (Value::Object(object), PathElement::Field(name)) => object.get_mut(name),
        (Value::Array(items), _) => {
            let matcher = ItemMatcher::new(element)?;
            items.iter_mut().find(|item| matcher.matches(item))
        }
        _ => None,
    }
}

/// Removes from the list at `list_path` every item named by `elements` (`k:`/`v:`), in one
/// pass over the list.
pub fn remove_items(root: &mut Value, list_path: &[PathElement], elements: &[&PathElement]) {
    let Some(Value::Array(items)) = list_path.iter().try_fold(root, step_mut) else {
        return;
    };
    let mut keyed: BTreeSet<String> = BTreeSet::new();
    let mut key_names: Vec<String> = Vec::new();
    let mut values: BTreeSet<String> = BTreeSet::new();
    for element in elements {
        match ItemMatcher::new(element) {
            Some(ItemMatcher::Keys(keys)) => {
                if key_names.is_empty() {
                    key_names = keys.keys().cloned().collect();
                }
                keyed.insert(miniserde::json::to_string(&Value::Object(keys)));
            }
            Some(ItemMatcher::Value(value)) => {
                values.insert(canonical_key(&value));
            }
            None => {}
        }
    }
    let key_of = |item: &Value| {
        let Value::Object(fields) = item else {
            return None;
        };
        let mut keys = Object::new();
        for name in &key_names {
            keys.insert(name.clone(), fields.get(name)?.clone());
        }
        Some(miniserde::json::to_string(&Value::Object(keys)))
    };
    items.retain(|item| {
        let keyed_match = !keyed.is_empty() && key_of(item).is_some_and(|k| keyed.contains(&k));
        let value_match = !values.is_empty() && values.contains(&canonical_key(item));
        !(keyed_match || value_match)
    });
}

/// Removes the value at `path`; returns whether something was removed.
pub fn remove_at(root: &mut Value, path: &[PathElement]) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let Some(parent) = parents.iter().try_fold(root, step_mut) else {
        return false;
    };
    match (parent, last) {
        (Value::Object(object), PathElement::Field(name)) => object.remove(name).is_some(),
        (Value::Array(items), element) => {
            let Some(matcher) = ItemMatcher::new(element) else {
                return false;
            };
            let before = items.len();
            items.retain(|item| !matcher.matches(item));
            items.len() != before
        }
        _ => false,
    }
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
        assert!(matches!(get_at(&object, &path), Some(Value::String(s)) if s == "y"));
        let mut object = object;
        assert!(remove_at(&mut object, &path[..3]));
        assert!(get_at(&object, &path).is_none());
        let finalizer = vec![
            PathElement::Field("metadata".into()),
            PathElement::Field("finalizers".into()),
            PathElement::Value("\"f1\"".into()),
        ];
        assert_eq!(
            DisplayPath(&finalizer).to_string(),
            r#".metadata.finalizers[="f1"]"#
        );
        assert!(remove_at(&mut object, &finalizer));
        assert!(!remove_at(&mut object, &finalizer));
    }

    #[test]
    fn malformed_fields_v1_is_rejected() {
        assert!(from_fields_v1(&v(r#"{"x:bad":{}}"#)).is_none());
        assert!(from_fields_v1(&v(r#"{"f:a":1}"#)).is_none());
        assert!(from_fields_v1(&v("[]")).is_none());
    }
}
