//! Small builders for the `miniserde::json::Value` tree that becomes config.json.

use miniserde::json::{Array, Number, Object, Value};

pub(crate) fn obj<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut object = Object::new();
    for (key, value) in fields {
        if !matches!(value, Value::Null) {
            object.insert(key.to_string(), value);
        }
    }
    Value::Object(object)
}

pub(crate) fn s(text: impl Into<String>) -> Value {
    Value::String(text.into())
}

pub(crate) fn n(number: i64) -> Value {
    Value::Number(Number::I64(number))
}

pub(crate) fn b(flag: bool) -> Value {
    Value::Bool(flag)
}

pub(crate) fn arr(items: impl IntoIterator<Item = Value>) -> Value {
    let mut array = Array::new();
    array.extend(items);
    Value::Array(array)
}

pub(crate) fn strs<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Value {
    arr(items.into_iter().map(|item| s(item.as_ref())))
}

/// A `map[string]string` object.
pub(crate) fn string_map<'a>(pairs: impl IntoIterator<Item = (&'a String, &'a String)>) -> Value {
    let mut object = Object::new();
    for (key, value) in pairs {
        object.insert(key.clone(), s(value.as_str()));
    }
    Value::Object(object)
}

/// Drops the field when absent, so `obj` leaves it out.
pub(crate) fn opt<T>(value: Option<T>, build: impl FnOnce(T) -> Value) -> Value {
    value.map_or(Value::Null, build)
}
