//! Building and reading schemaless JSON documents with miniserde's dynamic `Value`: the
//! API objects the agent exchanges, OCI runtime configs, CNI configs and results. The one
//! place for these helpers in the crate.

use miniserde::json::{Array, Number, Object, Value};

pub fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

pub fn int(n: i64) -> Value {
    Value::Number(Number::I64(n))
}

pub fn uint(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

pub fn b(v: bool) -> Value {
    Value::Bool(v)
}

/// An array from any items (`arr` takes a `Vec`, so `collect()` into it needs no type).
pub fn array(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(items.into_iter().collect::<Array>())
}

pub fn arr(items: Vec<Value>) -> Value {
    array(items)
}

/// An array of strings.
pub fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    array(items.into_iter().map(|item| s(item.as_ref())))
}

/// An object with every pair, `null` values included (a status patch may need them).
pub fn obj<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

/// An object without the pairs whose value is `null` (optional fields left out).
pub fn sparse_obj<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    obj(pairs.into_iter().filter(|(_, v)| !matches!(v, Value::Null)))
}

/// `null` when absent, so `sparse_obj` leaves the field out.
pub fn opt<T>(value: Option<T>, build: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, build)
}

/// A `map[string]string` object.
pub fn string_object<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    Value::Object(
        pairs
            .into_iter()
            .map(|(k, v)| (k.clone(), s(v.as_str())))
            .collect(),
    )
}

/// Adds `key: value` to an object value (no-op on other values).
pub fn insert(target: &mut Value, key: &str, value: Value) {
    if let Value::Object(o) = target {
        o.insert(key.to_owned(), value);
    }
}

pub fn to_bytes(v: &Value) -> Vec<u8> {
    miniserde::json::to_string(v).into_bytes()
}

pub fn parse(text: &str) -> Option<Value> {
    miniserde::json::from_str(text).ok()
}

pub fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    let mut cur = v;
    for key in path {
        match cur {
            Value::Object(o) => cur = o.get(*key)?,
            _ => return None,
        }
    }
    Some(cur)
}

pub fn get_str<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    match get(v, path)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub fn get_bool(v: &Value, path: &[&str]) -> Option<bool> {
    match get(v, path)? {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

pub fn get_i64(v: &Value, path: &[&str]) -> Option<i64> {
    match get(v, path)? {
        Value::Number(Number::I64(n)) => Some(*n),
        Value::Number(Number::U64(n)) => i64::try_from(*n).ok(),
        _ => None,
    }
}

pub fn get_array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match get(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// The string entries of an object such as `data`.
pub fn string_map<'a>(v: &'a Value, path: &[&str]) -> Vec<(&'a str, &'a str)> {
    match get(v, path) {
        Some(Value::Object(o)) => o
            .iter()
            .filter_map(|(k, v)| match v {
                Value::String(s) => Some((k.as_str(), s.as_str())),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

pub fn as_object(v: &Value) -> Option<&Object> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

pub fn as_array(v: &Value) -> Option<&Array> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

pub fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(Number::U64(n)) => Some(*n),
        Value::Number(Number::I64(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A string member of an object, or `None` when absent or not a string.
pub fn str_field<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    o.get(key).and_then(as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_keep_or_drop_nulls_as_asked() {
        let full = obj([("a", int(-1)), ("b", Value::Null), ("c", uint(2))]);
        assert_eq!(to_bytes(&full), br#"{"a":-1,"b":null,"c":2}"#);
        let sparse = sparse_obj([("a", strs(["x", "y"])), ("b", opt(None::<bool>, b))]);
        assert_eq!(to_bytes(&sparse), br#"{"a":["x","y"]}"#);
        let map = [("k".to_owned(), "v".to_owned())];
        let doc = obj([("m", string_object(map.iter().map(|(k, v)| (k, v))))]);
        assert_eq!(string_map(&doc, &["m"]), vec![("k", "v")]);
    }

    #[test]
    fn accessors_read_paths_and_values() {
        let doc = parse(r#"{"a":{"b":"x","n":7,"t":true,"l":[1]},"neg":-3}"#).unwrap();
        assert_eq!(get_str(&doc, &["a", "b"]), Some("x"));
        assert_eq!(get_i64(&doc, &["a", "n"]), Some(7));
        assert_eq!(get_bool(&doc, &["a", "t"]), Some(true));
        assert_eq!(get_array(&doc, &["a", "l"]).len(), 1);
        assert!(get(&doc, &["a", "b", "c"]).is_none());
        let a = as_object(get(&doc, &["a"]).unwrap()).unwrap();
        assert_eq!(str_field(a, "b"), Some("x"));
        assert_eq!(a.get("n").and_then(as_u64), Some(7));
        assert_eq!(get(&doc, &["neg"]).and_then(as_u64), None);
        assert!(as_array(get(&doc, &["a", "l"]).unwrap()).is_some());
    }
}
