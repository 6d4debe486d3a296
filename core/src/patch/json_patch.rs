//! JSON patch (RFC 6902): add, remove, replace, move, copy and test on a `Value`, with
//! JSON pointers (RFC 6901). Error texts follow the library the Kubernetes API server uses
//! (evanphx/json-patch v4), so kubectl prints what it would print against a real cluster.
//! Work is bounded: at most [`MAX_OPERATIONS`] operations, and a result no larger than
//! [`MAX_DOCUMENT_BYTES`] (estimated) nor deeper than [`MAX_DEPTH`], which stops a patch
//! that copies a document into itself over and over from growing it exponentially.

use super::value::{
    MAX_DEPTH, MAX_DOCUMENT_BYTES, depth_exceeding, serialized_size, values_equal, within_depth,
};
use miniserde::json::{Object, Value};
use std::borrow::Cow;
use std::fmt;

/// Most operations one patch may hold (the API server's `maxJSONPatchOperations`).
pub const MAX_OPERATIONS: usize = 10_000;

/// Why a JSON patch was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JsonPatchError {
    /// The patch is not a JSON array of operation objects.
    NotAList,
    /// The patch holds more than [`MAX_OPERATIONS`] operations.
    TooManyOperations { got: usize },
    /// An operation names no known `op`.
    UnknownOperation(String),
    /// An operation lacks a member it needs (`path`, `from` or `value`).
    MissingMember {
        op: &'static str,
        member: &'static str,
    },
    /// A pointer neither empty nor starting with `/`, or with a bad `~` escape.
    InvalidPointer(String),
    /// The parent of the target location does not exist.
    MissingPath { op: &'static str, path: String },
    /// `replace` on a member that does not exist.
    MissingKey { path: String },
    /// `move`/`copy` whose `from` location does not exist.
    MissingFrom { op: &'static str, from: String },
    /// An array index that is not a number or lies outside the array.
    InvalidIndex(String),
    /// `remove` of a member that does not exist.
    NonexistentKey(String),
    /// A `test` operation whose value differs.
    TestFailed { path: String },
    /// `move` whose `from` is a proper prefix of `path`.
    MoveIntoChild { from: String, path: String },
    /// The result would exceed [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// The document, a value or the result nests deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl JsonPatchError {
    /// HTTP status the API server answers with: 400 for a malformed patch, 413 for too many
    /// operations, 422 when a well-formed patch does not apply to the object.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::NotAList | Self::InvalidPointer(_) | Self::MissingMember { .. } => 400,
            Self::TooManyOperations { .. } | Self::TooLarge => 413,
            _ => 422,
        }
    }
}

impl fmt::Display for JsonPatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotAList => {
                f.write_str("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
            }
            Self::TooManyOperations { got } => write!(
                f,
                "The allowed maximum operations in a JSON patch is {MAX_OPERATIONS}, got {got}"
            ),
            Self::UnknownOperation(op) => write!(f, "Unexpected kind: {op}"),
            Self::MissingMember { op, member } => {
                write!(f, "{op} operation failed to decode {member}: missing value")
            }
            Self::InvalidPointer(p) => write!(f, "invalid JSON pointer: {p:?}"),
            Self::MissingPath { op, path } => write!(
                f,
                "{op} operation does not apply: doc is missing path: \"{path}\": missing value"
            ),
            Self::MissingKey { path } => write!(
                f,
                "replace operation does not apply: doc is missing key: {path}: missing value"
            ),
            Self::MissingFrom { op, from } => write!(
                f,
                "{op} operation does not apply: doc is missing from path: {from}: missing value"
            ),
            Self::InvalidIndex(index) => write!(
                f,
                "Unable to access invalid index: {index}: invalid index referenced"
            ),
            Self::NonexistentKey(key) => {
                write!(f, "Unable to remove nonexistent key: {key}: missing value")
            }
            Self::TestFailed { path } => write!(f, "testing value {path} failed: test failed"),
            Self::MoveIntoChild { from, path } => {
                write!(
                    f,
                    "move operation cannot move {from} into its own child {path}"
                )
            }
            Self::TooLarge => write!(
                f,
                "json patch result exceeds the maximum of {MAX_DOCUMENT_BYTES} bytes"
            ),
            Self::TooDeep => write!(
                f,
                "json patch document nests deeper than {MAX_DEPTH} levels"
            ),
        }
    }
}

impl std::error::Error for JsonPatchError {}

type Result<T> = std::result::Result<T, JsonPatchError>;

/// Applies the RFC 6902 `patch` (a JSON array of operations) to `doc`.
pub fn apply_json_patch(mut doc: Value, patch: &Value) -> Result<Value> {
    let Value::Array(operations) = patch else {
        return Err(JsonPatchError::NotAList);
    };
    if operations.len() > MAX_OPERATIONS {
        return Err(JsonPatchError::TooManyOperations {
            got: operations.len(),
        });
    }
    if !within_depth(&doc) || !within_depth(patch) {
        return Err(JsonPatchError::TooDeep);
    }
    let mut size = serialized_size(&doc);
    for operation in operations.iter() {
        let Value::Object(operation) = operation else {
            return Err(JsonPatchError::NotAList);
        };
        apply_operation(&mut doc, operation, &mut size)?;
        if size > MAX_DOCUMENT_BYTES {
            return Err(JsonPatchError::TooLarge);
        }
    }
    Ok(doc)
}

fn apply_operation(doc: &mut Value, operation: &Object, size: &mut usize) -> Result<()> {
    let op = match operation.get("op") {
        Some(Value::String(op)) => op.as_str(),
        _ => "unknown",
    };
    match op {
        "add" => {
            let path = member_str(operation, "add", "path")?;
            let value = member_value(operation, "add", "value")?.clone();
            insert(doc, "add", path, value, size)
        }
        "remove" => {
            let path = member_str(operation, "remove", "path")?;
            let removed = take(doc, "remove", path)?;
            *size = size.saturating_sub(serialized_size(&removed));
            Ok(())
        }
        "replace" => {
            let path = member_str(operation, "replace", "path")?;
            let value = member_value(operation, "replace", "value")?;
            replace(doc, path, value.clone(), size)
        }
        "move" => {
            let from = member_str(operation, "move", "from")?;
            let path = member_str(operation, "move", "path")?;
            move_value(doc, from, path, size)
        }
        "copy" => {
            let from = member_str(operation, "copy", "from")?;
            let path = member_str(operation, "copy", "path")?;
            let value = lookup(doc, "copy", from)?.clone();
            insert(doc, "copy", path, value, size)
        }
        "test" => {
            let path = member_str(operation, "test", "path")?;
            let expected = member_value(operation, "test", "value")?;
            test(doc, path, expected)
        }
        other => Err(JsonPatchError::UnknownOperation(other.to_owned())),
    }
}

fn member_str<'a>(op: &'a Object, name: &'static str, member: &'static str) -> Result<&'a str> {
    match op.get(member) {
        Some(Value::String(s)) => Ok(s),
        _ => Err(JsonPatchError::MissingMember { op: name, member }),
    }
}

fn member_value<'a>(op: &'a Object, name: &'static str, member: &'static str) -> Result<&'a Value> {
    op.get(member)
        .ok_or(JsonPatchError::MissingMember { op: name, member })
}

/// Splits a JSON pointer into unescaped reference tokens (`~1` is `/`, `~0` is `~`).
pub fn parse_pointer(pointer: &str) -> Result<Vec<Cow<'_, str>>> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let invalid = || JsonPatchError::InvalidPointer(pointer.to_owned());
    let rest = pointer.strip_prefix('/').ok_or_else(invalid)?;
    rest.split('/')
        .map(|token| unescape_token(token).ok_or_else(invalid))
        .collect()
}

fn unescape_token(token: &str) -> Option<Cow<'_, str>> {
    if !token.contains('~') {
        return Some(Cow::Borrowed(token));
    }
    let mut out = String::with_capacity(token.len());
    let mut chars = token.chars();
    while let Some(c) = chars.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('~'),
            Some('1') => out.push('/'),
            _ => return None,
        }
    }
    Some(Cow::Owned(out))
}

/// Index of an existing element: decimal digits, no leading zero, below `len`.
fn array_index(token: &str, len: usize) -> Result<usize> {
    let well_formed = !token.is_empty()
        && token.bytes().all(|b| b.is_ascii_digit())
        && (token == "0" || !token.starts_with('0'));
    match token.parse::<usize>() {
        Ok(index) if well_formed && index < len => Ok(index),
        _ => Err(JsonPatchError::InvalidIndex(token.to_owned())),
    }
}

fn child_mut<'v>(node: &'v mut Value, token: &str) -> Option<&'v mut Value> {
    match node {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => {
            let index = array_index(token, items.len()).ok()?;
            items.get_mut(index)
        }
        _ => None,
    }
}

fn child<'v>(node: &'v Value, token: &str) -> Option<&'v Value> {
    match node {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token, items.len()).ok()?),
        _ => None,
    }
}

/// The container holding the last token of `tokens`, and that token.
fn parent_mut<'v, 't>(
    doc: &'v mut Value,
    tokens: &'t [Cow<'t, str>],
) -> Option<(&'v mut Value, &'t str)> {
    let (last, parents) = tokens.split_last()?;
    let mut node = doc;
    for token in parents {
        node = child_mut(node, token)?;
    }
    Some((node, last))
}

fn lookup<'v>(doc: &'v Value, op: &'static str, from: &str) -> Result<&'v Value> {
    let tokens = parse_pointer(from)?;
    let mut node = doc;
    for token in &tokens {
        node = child(node, token).ok_or_else(|| JsonPatchError::MissingFrom {
            op,
            from: from.to_owned(),
        })?;
    }
    Ok(node)
}

fn insert(
    doc: &mut Value,
    op: &'static str,
    path: &str,
    value: Value,
    size: &mut usize,
) -> Result<()> {
    let tokens = parse_pointer(path)?;
    if tokens.len() + depth_exceeding(&value, MAX_DEPTH) > MAX_DEPTH {
        return Err(JsonPatchError::TooDeep);
    }
    let added = serialized_size(&value);
    let missing = || JsonPatchError::MissingPath {
        op,
        path: path.to_owned(),
    };
    let Some((parent, key)) = parent_mut(doc, &tokens) else {
        if tokens.is_empty() {
            *size = added;
            *doc = value;
            return Ok(());
        }
        return Err(missing());
    };
    match parent {
        Value::Object(map) => {
            if let Some(old) = map.insert(key.to_owned(), value) {
                *size = size.saturating_sub(serialized_size(&old));
            }
        }
        Value::Array(items) if key == "-" => items.push(value),
        Value::Array(items) => {
            let index = array_index(key, items.len() + 1)?;
            items.insert(index, value);
        }
        _ => return Err(missing()),
    }
    *size = size.saturating_add(added);
    Ok(())
}

fn take(doc: &mut Value, op: &'static str, path: &str) -> Result<Value> {
    let tokens = parse_pointer(path)?;
    let missing = || JsonPatchError::MissingPath {
        op,
        path: path.to_owned(),
    };
    let (parent, key) = parent_mut(doc, &tokens).ok_or_else(missing)?;
    match parent {
        Value::Object(map) => map
            .remove(key)
            .ok_or_else(|| JsonPatchError::NonexistentKey(key.to_owned())),
        Value::Array(items) => {
            let index = array_index(key, items.len())?;
            Ok(items.remove(index))
        }
        _ => Err(missing()),
    }
}

fn replace(doc: &mut Value, path: &str, value: Value, size: &mut usize) -> Result<()> {
    let tokens = parse_pointer(path)?;
    if tokens.len() + depth_exceeding(&value, MAX_DEPTH) > MAX_DEPTH {
        return Err(JsonPatchError::TooDeep);
    }
    let added = serialized_size(&value);
    let target = if tokens.is_empty() {
        Some(doc)
    } else {
        let (parent, key) =
            parent_mut(doc, &tokens).ok_or_else(|| JsonPatchError::MissingPath {
                op: "replace",
                path: path.to_owned(),
            })?;
        child_mut(parent, key)
    };
    let target = target.ok_or_else(|| JsonPatchError::MissingKey {
        path: path.to_owned(),
    })?;
    let old = std::mem::replace(target, value);
    *size = size
        .saturating_sub(serialized_size(&old))
        .saturating_add(added);
    Ok(())
}

fn move_value(doc: &mut Value, from: &str, path: &str, size: &mut usize) -> Result<()> {
    lookup(doc, "move", from)?;
    if from == path {
        return Ok(());
    }
    if path.starts_with(from) && path.as_bytes().get(from.len()) == Some(&b'/') {
        return Err(JsonPatchError::MoveIntoChild {
            from: from.to_owned(),
            path: path.to_owned(),
        });
    }
    let value = take(doc, "move", from)?;
    *size = size.saturating_sub(serialized_size(&value));
    insert(doc, "move", path, value, size)
}

fn test(doc: &Value, path: &str, expected: &Value) -> Result<()> {
    let tokens = parse_pointer(path)?;
    let mut node = Some(doc);
    for token in &tokens {
        node = node.and_then(|n| child(n, token));
    }
    match node {
        Some(actual) if values_equal(actual, expected) => Ok(()),
        _ => Err(JsonPatchError::TestFailed {
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests;
