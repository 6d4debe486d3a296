//! Server-side apply (`application/apply-patch+yaml`) and the ownership bookkeeping of
//! every other write. Each manager's owned fields live in `metadata.managedFields`
//! (FieldsV1); applying a field another manager owns with a different value is a conflict
//! unless forced; fields a manager applied before and now omits are removed unless someone
//! else owns them. Simplified against structured-merge-diff: explicit nulls in a
//! configuration are ignored (not "owned as null"), a merged keyed list keeps the live order
//! with new items appended, and list types come from [`PatchMeta`] (merge keys, plus
//! `listMapKey`s where they differ) rather than from the OpenAPI schema.

use super::field_set::{
    DisplayPath, FieldPath, FieldSet, ListKind, MAX_ASSOCIATIVE_ITEMS, PathElement, changed_fields,
    fields_of, get_at, has_oversized_list, item_key, list_kind, owns_at_or_below, remove_at,
    remove_items,
};
use super::managed_fields::{
    APPLY, UPDATE, managed_fields_value, requested_entries, string_at, upsert_entry,
    write_managed_fields,
};
pub use super::managed_fields::{ManagedFieldsEntry, entries_of};
use super::strategic::PatchMeta;
use super::value::{MAX_DEPTH, canonical_key, values_equal, within_depth};
use miniserde::json::{Array, Object, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A field another manager owns with a different value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: Option<String>,
    pub subresource: Option<String>,
    /// Upstream's path text, e.g. `.spec.replicas`.
    pub field: String,
    pub path: FieldPath,
}

/// Why an apply (or an update's bookkeeping) failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// 409 Conflict; each entry is one `details.causes` item with reason
    /// `FieldManagerConflict`, message `conflict with ...` and field [`Conflict::field`].
    Conflict(Vec<Conflict>),
    /// The applied configuration (or the live object) is not a JSON object.
    NotAnObject,
    /// An input nests deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A keyed or set list longer than [`MAX_ASSOCIATIVE_ITEMS`].
    ListTooLong,
    /// An apply configuration that sets `metadata.managedFields`.
    ManagedFieldsSet,
}

/// The object after an apply or update, with `metadata.managedFields` rewritten.
#[derive(Debug, Clone)]
pub struct ApplyResult {
    pub object: Value,
    pub managed_fields: Vec<ManagedFieldsEntry>,
    /// False for a no-op: `object` is the live object, byte for byte the same JSON, so the
    /// caller can skip the write (a repeated `kubectl apply --server-side` bumps nothing).
    pub changed: bool,
}

impl Conflict {
    /// Upstream's `printManager`: `"kubectl"`, or for updaters
    /// `"kubectl-edit" using apps/v1`. Upstream prints it from the manager identifier,
    /// which never carries the time (`BuildManagerIdentifier` clears it), so no ` at <time>`.
    pub fn manager_text(&self) -> String {
        let mut text = format!("{:?}", self.manager);
        if let Some(sub) = &self.subresource {
            text.push_str(&format!(" with subresource {sub:?}"));
        }
        if self.operation == UPDATE {
            text.push_str(&format!(" using {}", self.api_version));
        }
        text
    }

    /// The `message` of this conflict's status cause.
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_text())
    }
}

impl ApplyError {
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Conflict(_) => 409,
            Self::NotAnObject | Self::TooDeep | Self::ManagedFieldsSet => 400,
            Self::ListTooLong => 413,
        }
    }
}

impl fmt::Display for ApplyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflict(conflicts) => write_conflicts(f, conflicts),
            Self::NotAnObject => f.write_str("apply configuration must be a JSON object"),
            Self::TooDeep => write!(f, "object nests deeper than {MAX_DEPTH} levels"),
            Self::ManagedFieldsSet => f.write_str("metadata.managedFields must be nil"),
            Self::ListTooLong => write!(
                f,
                "a merged list holds more than {MAX_ASSOCIATIVE_ITEMS} items"
            ),
        }
    }
}

fn write_conflicts(f: &mut fmt::Formatter<'_>, conflicts: &[Conflict]) -> fmt::Result {
    if let [only] = conflicts {
        return write!(
            f,
            "Apply failed with 1 conflict: conflict with {}: {}",
            only.manager_text(),
            only.field
        );
    }
    let mut managers: Vec<String> = conflicts.iter().map(Conflict::manager_text).collect();
    managers.sort();
    managers.dedup();
    write!(f, "Apply failed with {} conflicts: ", conflicts.len())?;
    let mut lines = Vec::new();
    for manager in &managers {
        lines.push(format!("conflicts with {manager}:"));
        for c in conflicts.iter().filter(|c| &c.manager_text() == manager) {
            lines.push(format!("- {}", c.field));
        }
    }
    f.write_str(&lines.join("\n"))
}

impl std::error::Error for ApplyError {}

/// Server-side apply of `applied` by `manager` onto `live` (`None`: create). `now` is the
/// RFC 3339 time recorded in the manager's entry.
pub fn apply(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
    meta: &dyn PatchMeta,
    now: &str,
) -> Result<ApplyResult, ApplyError> {
    check_inputs(live, applied, meta)?;
    if managed_fields_value(applied).is_some_and(|v| !matches!(v, Value::Null)) {
        return Err(ApplyError::ManagedFieldsSet);
    }
    let mut object = live
        .cloned()
        .unwrap_or_else(|| Value::Object(Object::new()));
    let mut entries = live.map_or_else(Vec::new, |l| entries_of(l, meta));
    let applied_set = fields_of(applied, meta);
    let changed = changed_fields(Some(&object), applied, meta);
    let conflicts = find_conflicts(&changed, &entries, manager);
    if !conflicts.is_empty() && !force {
        return Err(ApplyError::Conflict(conflicts));
    }
    for entry in entries.iter_mut().filter(|e| !is_own_apply(e, manager)) {
        for conflict in &conflicts {
            entry.fields.remove(&conflict.path);
        }
    }
    let previous = entries
        .iter()
        .find(|e| is_own_apply(e, manager))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: Vec<&FieldSet> = entries
        .iter()
        .filter(|e| !is_own_apply(e, manager))
        .map(|e| &e.fields)
        .collect();
    let dropped: Vec<&FieldPath> = previous.difference(&applied_set).collect();
    remove_unowned(&mut object, &dropped, &others, &applied_set, meta);
    object = merge_applied(Some(object), applied, &mut Vec::new(), meta);
    if let Some(live) = live
        && conflicts.is_empty()
        && previous == applied_set
        && values_equal(&object, live)
    {
        // Nothing moved: keep the entry's time too, so the object stays identical.
        return Ok(ApplyResult {
            object: live.clone(),
            managed_fields: entries_of(live, meta),
            changed: false,
        });
    }
    let api_version = string_at(applied, "apiVersion");
    upsert_entry(&mut entries, manager, APPLY, api_version, now, applied_set);
    entries.retain(|e| !e.fields.is_empty());
    write_managed_fields(&mut object, &entries);
    Ok(ApplyResult {
        object,
        managed_fields: entries,
        changed: true,
    })
}

/// Records a non-apply write (create, update, patch) by `manager`: it takes the fields
/// whose values it changed, silently, from whoever owned them; fields it removed leave
/// every entry. Returns `new` with `metadata.managedFields` rewritten. A `new` carrying an
/// explicitly empty `managedFields` list resets ownership, as upstream.
pub fn record_update(
    old: Option<&Value>,
    new: &Value,
    manager: &str,
    meta: &dyn PatchMeta,
    now: &str,
) -> Result<ApplyResult, ApplyError> {
    check_inputs(old, new, meta)?;
    let reset = matches!(
        managed_fields_value(new),
        Some(Value::Array(items)) if items.is_empty()
    );
    let mut entries = match (requested_entries(new), old) {
        _ if reset => Vec::new(),
        (Some(requested), _) => requested,
        (None, Some(old)) => entries_of(old, meta),
        (None, None) => Vec::new(),
    };
    let new_set = fields_of(new, meta);
    let changed = changed_fields(old, new, meta);
    for entry in &mut entries {
        entry
            .fields
            .retain(|p| new_set.contains(p) && !changed.contains(p));
    }
    let api_version = string_at(new, "apiVersion");
    let mut own = entries
        .iter()
        .find(|e| e.manager == manager && e.operation == UPDATE)
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    // A manager that changed nothing keeps its entry (and its time) as it was.
    if !changed.is_empty() {
        own.extend(changed);
        upsert_entry(&mut entries, manager, UPDATE, api_version, now, own);
    }
    entries.retain(|e| !e.fields.is_empty());
    let mut object = new.clone();
    write_managed_fields(&mut object, &entries);
    let changed = old.is_none_or(|old| !values_equal(old, &object));
    Ok(ApplyResult {
        object,
        managed_fields: entries,
        changed,
    })
}

fn check_inputs(
    live: Option<&Value>,
    applied: &Value,
    meta: &dyn PatchMeta,
) -> Result<(), ApplyError> {
    if !matches!(applied, Value::Object(_)) || live.is_some_and(|l| !matches!(l, Value::Object(_)))
    {
        return Err(ApplyError::NotAnObject);
    }
    if !within_depth(applied) || live.is_some_and(|l| !within_depth(l)) {
        return Err(ApplyError::TooDeep);
    }
    if has_oversized_list(applied, meta) || live.is_some_and(|l| has_oversized_list(l, meta)) {
        return Err(ApplyError::ListTooLong);
    }
    Ok(())
}

fn is_own_apply(entry: &ManagedFieldsEntry, manager: &str) -> bool {
    entry.manager == manager && entry.operation == APPLY && entry.subresource.is_none()
}

fn find_conflicts(
    changed: &FieldSet,
    entries: &[ManagedFieldsEntry],
    manager: &str,
) -> Vec<Conflict> {
    let mut conflicts = Vec::new();
    for path in changed {
        for entry in entries.iter().filter(|e| !is_own_apply(e, manager)) {
            if entry.fields.contains(path) {
                conflicts.push(Conflict {
                    manager: entry.manager.clone(),
                    operation: entry.operation.clone(),
                    api_version: entry.api_version.clone(),
                    time: entry.time.clone(),
                    subresource: entry.subresource.clone(),
                    field: DisplayPath(path).to_string(),
                    path: path.clone(),
                });
            }
        }
    }
    conflicts
}

/// Removes fields this manager dropped from its configuration, unless another manager (or
/// this apply) still owns them or something beneath them; then prunes objects the removal
/// left empty and that nobody owns.
fn remove_unowned(
    object: &mut Value,
    dropped: &[&FieldPath],
    others: &[&FieldSet],
    kept: &FieldSet,
    meta: &dyn PatchMeta,
) {
    let owned_below = |path: &[PathElement]| {
        owns_at_or_below(kept, path) || others.iter().any(|set| owns_at_or_below(set, path))
    };
    let mut removed: Option<&FieldPath> = None;
    let mut items: BTreeMap<&[PathElement], Vec<&PathElement>> = BTreeMap::new();
    // Parents come first in set order, so a dropped list item goes whole before its fields,
    // whose own removal is then skipped. Items are batched per list: one pass each.
    for &path in dropped {
        if removed.is_some_and(|r| path.starts_with(r)) {
            continue;
        }
        if owned_below(path) || is_item_key_field(path) {
            continue;
        }
        let Some((last, parent)) = path.split_last() else {
            continue;
        };
        if matches!(last, PathElement::Key(_) | PathElement::Value(_)) {
            items.entry(parent).or_default().push(last);
            removed = Some(path);
            continue;
        }
        if !remove_at(object, path, meta) {
            continue;
        }
        removed = Some(path);
        prune_empty_parents(object, parent, &owned_below, meta);
    }
    for (list, elements) in items {
        remove_items(object, list, &elements, meta);
    }
}

fn prune_empty_parents(
    object: &mut Value,
    mut parent: &[PathElement],
    owned_below: &dyn Fn(&[PathElement]) -> bool,
    meta: &dyn PatchMeta,
) {
    while !parent.is_empty() && !owned_below(parent) {
        let empty = matches!(get_at(object, parent, meta), Some(Value::Object(o)) if o.is_empty());
        if !empty || !remove_at(object, parent, meta) {
            break;
        }
        parent = &parent[..parent.len() - 1];
    }
}

/// A key field of a keyed list item (`name` under `k:{"name":"x"}`): removing it alone
/// would leave an item nobody can address, so it goes only with its item.
fn is_item_key_field(path: &[PathElement]) -> bool {
    match path {
        [.., PathElement::Key(keys), PathElement::Field(field)] => {
            matches!(miniserde::json::from_str::<Value>(keys), Ok(Value::Object(k)) if k.contains_key(field))
        }
        _ => false,
    }
}

/// Merges the applied configuration into the live object: objects member by member,
/// keyed lists item by item, set lists as unions, everything else replaced. Nulls and
/// server-managed metadata in the configuration are ignored.
// Recursion is bounded by the depth check on the inputs.
fn merge_applied<'a>(
    live: Option<Value>,
    applied: &'a Value,
    names: &mut Vec<&'a str>,
    meta: &dyn PatchMeta,
) -> Value {
    match (live, applied) {
        (live, Value::Object(fields)) => {
            let mut object = match live {
                Some(Value::Object(o)) => o,
                _ => Object::new(),
            };
            for (key, value) in fields.iter() {
                if matches!(value, Value::Null) || is_server_managed(names, key) {
                    continue;
                }
                names.push(key);
                let merged = merge_applied(object.remove(key), value, names, meta);
                names.pop();
                object.insert(key.clone(), merged);
            }
            Value::Object(object)
        }
        (Some(Value::Array(items)), Value::Array(applied_items)) => {
            Value::Array(merge_list(items, applied_items, names, meta))
        }
        (_, Value::Array(applied_items)) => Value::Array(
            applied_items
                .iter()
                .map(|item| merge_applied(None, item, names, meta))
                .collect(),
        ),
        (_, scalar) => scalar.clone(),
    }
}

fn merge_list<'a>(
    mut items: Array,
    applied: &'a Array,
    names: &mut Vec<&'a str>,
    meta: &dyn PatchMeta,
) -> Array {
    match list_kind(meta, names) {
        ListKind::Keyed(keys) if applied.iter().all(|i| item_key(i, keys).is_some()) => {
            let mut index: BTreeMap<PathElement, usize> = BTreeMap::new();
            for (i, item) in items.iter().enumerate() {
                if let Some(element) = item_key(item, keys) {
                    index.entry(element).or_insert(i);
                }
            }
            for item in applied.iter() {
                let Some(element) = item_key(item, keys) else {
                    continue;
                };
                match index.get(&element) {
                    Some(&i) => {
                        let current = std::mem::take(&mut items[i]);
                        items[i] = merge_applied(Some(current), item, names, meta);
                    }
                    None => {
                        index.insert(element, items.len());
                        items.push(merge_applied(None, item, names, meta));
                    }
                }
            }
            items
        }
        ListKind::Set => {
            let mut seen: BTreeSet<String> = items.iter().map(canonical_key).collect();
            for item in applied.iter() {
                if seen.insert(canonical_key(item)) {
                    items.push(item.clone());
                }
            }
            items
        }
        _ => applied
            .iter()
            .map(|item| merge_applied(None, item, names, meta))
            .collect(),
    }
}

fn is_server_managed(names: &[&str], key: &str) -> bool {
    const SERVER_METADATA: [&str; 8] = [
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
        "managedFields",
    ];
    match names {
        [] => key == "status",
        ["metadata"] => SERVER_METADATA.contains(&key),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
