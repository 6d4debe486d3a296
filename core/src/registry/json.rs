//! Small builders for `miniserde::json::Value` trees, used by everything derived from the
//! registry (discovery, OpenAPI, tables) so documents read as data rather than as nested
//! `Object::insert` calls.

use miniserde::json::{Array, Number, Object, Value};

/// A string value.
pub fn s(text: &str) -> Value {
    Value::String(text.to_string())
}

/// A boolean value.
pub fn b(flag: bool) -> Value {
    Value::Bool(flag)
}

/// An integer value.
pub fn int(n: i64) -> Value {
    Value::Number(if n >= 0 {
        Number::U64(n.unsigned_abs())
    } else {
        Number::I64(n)
    })
}

/// An object from key/value pairs.
pub fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut object = Object::new();
    for (key, value) in pairs {
        object.insert(key.to_string(), value);
    }
    Value::Object(object)
}

/// An array from values.
pub fn arr(values: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(values.into_iter().collect::<Array>())
}

/// An array of strings.
pub fn strs<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    arr(values.into_iter().map(s))
}

/// Inserts `key` into an object value; no-op on other values.
pub fn set(target: &mut Value, key: &str, value: Value) {
    if let Value::Object(object) = target {
        object.insert(key.to_string(), value);
    }
}

/// Follows object keys; `None` when a step is missing or not an object.
pub fn path<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(value, |v, key| match v {
        Value::Object(object) => object.get(*key),
        _ => None,
    })
}

/// The string at `keys`, if it is one.
pub fn str_at<'a>(value: &'a Value, keys: &[&str]) -> Option<&'a str> {
    match path(value, keys)? {
        Value::String(text) => Some(text),
        _ => None,
    }
}

/// The integer at `keys`, if it is one.
pub fn int_at(value: &Value, keys: &[&str]) -> Option<i64> {
    match path(value, keys)? {
        Value::Number(Number::U64(n)) => i64::try_from(*n).ok(),
        Value::Number(Number::I64(n)) => Some(*n),
        _ => None,
    }
}

/// The array at `keys`, or an empty slice.
pub fn arr_at<'a>(value: &'a Value, keys: &[&str]) -> &'a [Value] {
    match path(value, keys) {
        Some(Value::Array(items)) => items,
        _ => &[],
    }
}

/// Serializes a value to compact JSON text.
pub fn to_string(value: &Value) -> String {
    miniserde::json::to_string(value)
}
