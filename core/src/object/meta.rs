//! Reading and stamping `metadata` on a JSON object: the fields the API server owns (uid,
//! resourceVersion, creationTimestamp, generation, deletionTimestamp) and the ones callers
//! read (name, namespace, labels, finalizers, ownerReferences).

use miniserde::json::{Number, Object, Value};

/// The object map of a Value, if it is one.
pub fn as_object(v: &Value) -> Option<&Object> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

pub fn as_object_mut(v: &mut Value) -> Option<&mut Object> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

/// Follows a path of object keys.
pub fn get_path<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter()
        .try_fold(v, |cur, key| as_object(cur)?.get(*key))
}

/// A string at a path; None when absent or not a string.
pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    match get_path(v, path)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// An integer at a path (JSON numbers without a fraction).
pub fn get_i64(v: &Value, path: &[&str]) -> Option<i64> {
    match get_path(v, path)? {
        Value::Number(Number::U64(n)) => i64::try_from(*n).ok(),
        Value::Number(Number::I64(n)) => Some(*n),
        Value::Number(Number::F64(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            #[allow(clippy::cast_possible_truncation)] // checked integral and in range above
            Some(*f as i64)
        }
        _ => None,
    }
}

/// The object map at a path, created (replacing non-objects) along the way.
pub fn ensure_object<'a>(v: &'a mut Value, path: &[&str]) -> &'a mut Object {
    let mut cur = v;
    for key in path {
        if !matches!(cur, Value::Object(_)) {
            *cur = Value::Object(Object::new());
        }
        let Value::Object(o) = cur else {
            unreachable!("made an object above")
        };
        cur = o.entry((*key).to_owned()).or_insert(Value::Null);
    }
    if !matches!(cur, Value::Object(_)) {
        *cur = Value::Object(Object::new());
    }
    let Value::Object(o) = cur else {
        unreachable!("made an object above")
    };
    o
}

/// The `metadata` map, created if absent.
pub fn metadata_mut(v: &mut Value) -> &mut Object {
    ensure_object(v, &["metadata"])
}

pub fn set_str(obj: &mut Object, key: &str, value: impl Into<String>) {
    obj.insert(key.to_owned(), Value::String(value.into()));
}

pub fn set_i64(obj: &mut Object, key: &str, value: i64) {
    let n = u64::try_from(value).map_or(Number::I64(value), Number::U64);
    obj.insert(key.to_owned(), Value::Number(n));
}

pub fn name(v: &Value) -> Option<&str> {
    get_str(v, &["metadata", "name"])
}

pub fn namespace(v: &Value) -> Option<&str> {
    get_str(v, &["metadata", "namespace"])
}

pub fn uid(v: &Value) -> Option<&str> {
    get_str(v, &["metadata", "uid"])
}

pub fn resource_version(v: &Value) -> Option<&str> {
    get_str(v, &["metadata", "resourceVersion"])
}

pub fn generation(v: &Value) -> Option<i64> {
    get_i64(v, &["metadata", "generation"])
}

pub fn deletion_timestamp(v: &Value) -> Option<&str> {
    get_str(v, &["metadata", "deletionTimestamp"])
}

/// A string map (labels, annotations) as borrowed pairs; non-string values are skipped.
pub fn string_map<'a>(v: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a str)> {
    get_path(v, path)
        .and_then(as_object)
        .map(|o| {
            o.iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k.as_str(), s.as_str())),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn labels(v: &Value) -> Vec<(&str, &str)> {
    string_map(v, &["metadata", "labels"])
}

/// metadata.finalizers as strings.
pub fn finalizers(v: &Value) -> Vec<&str> {
    match get_path(v, &["metadata", "finalizers"]) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|f| match f {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Writes the revision the store committed the object at into metadata.resourceVersion.
pub fn set_resource_version(v: &mut Value, revision: u64) {
    set_str(metadata_mut(v), "resourceVersion", revision.to_string());
}

/// Serializes an object for the store or the wire.
pub fn to_json_bytes(v: &Value) -> Vec<u8> {
    miniserde::json::to_string(v).into_bytes()
}

/// Parses JSON bytes into a Value (miniserde's parser is not recursive, so deep input
/// cannot overflow the stack).
pub fn from_json_bytes(bytes: &[u8]) -> Option<Value> {
    let text = std::str::from_utf8(bytes).ok()?;
    miniserde::json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn reads_metadata_fields() {
        let v = parse(
            r#"{"metadata":{"name":"a","namespace":"ns","generation":3,"labels":{"x":"1","bad":2},"finalizers":["f1","f2"]}}"#,
        );
        assert_eq!(name(&v), Some("a"));
        assert_eq!(namespace(&v), Some("ns"));
        assert_eq!(generation(&v), Some(3));
        assert_eq!(labels(&v), vec![("x", "1")]);
        assert_eq!(finalizers(&v), vec!["f1", "f2"]);
        assert_eq!(uid(&v), None);
    }

    #[test]
    fn stamps_resource_version_creating_metadata() {
        let mut v = parse(r#"{"kind":"ConfigMap"}"#);
        set_resource_version(&mut v, 42);
        assert_eq!(resource_version(&v), Some("42"));
        let mut weird = parse(r#"{"metadata":"not an object"}"#);
        set_resource_version(&mut weird, 7);
        assert_eq!(resource_version(&weird), Some("7"));
    }

    #[test]
    fn numbers_of_every_encoding_read_as_integers() {
        let v = parse(r#"{"a":{"u":5,"i":-5,"f":2.0,"g":2.5}}"#);
        assert_eq!(get_i64(&v, &["a", "u"]), Some(5));
        assert_eq!(get_i64(&v, &["a", "i"]), Some(-5));
        assert_eq!(get_i64(&v, &["a", "f"]), Some(2));
        assert_eq!(get_i64(&v, &["a", "g"]), None);
    }

    #[test]
    fn json_round_trip() {
        let v = parse(r#"{"metadata":{"name":"a"},"data":{"k":"v"}}"#);
        let back = from_json_bytes(&to_json_bytes(&v)).unwrap();
        assert_eq!(name(&back), Some("a"));
        assert!(from_json_bytes(b"{").is_none());
        assert!(from_json_bytes(&[0xff]).is_none());
    }
}
