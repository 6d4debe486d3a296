//! Building JSON documents with miniserde's dynamic value.

use miniserde::json::{Array, Number, Object, Value};

pub fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

pub fn int(n: i64) -> Value {
    Value::Number(Number::I64(n))
}

pub fn b(v: bool) -> Value {
    Value::Bool(v)
}

pub fn arr(items: Vec<Value>) -> Value {
    let mut a = Array::new();
    a.extend(items);
    Value::Array(a)
}

pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut o = Object::new();
    for (k, v) in pairs {
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
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
