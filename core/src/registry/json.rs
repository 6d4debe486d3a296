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

// Path reads are the object module's; these names stay for the table and OpenAPI code.
pub use crate::object::meta::{get_path as path, get_str as str_at};

/// The integer at `keys`, if it is one (a whole-number float counts, as in meta::get_i64).
pub fn int_at(value: &Value, keys: &[&str]) -> Option<i64> {
    crate::object::meta::get_i64(value, keys)
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
