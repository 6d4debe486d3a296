//! Small builders and accessors over `miniserde::json::Value` for the CNI documents
//! (network configs, results, error documents, cache files) that have no fixed schema.

use miniserde::json::{Array, Number, Object, Value};

pub(crate) fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

pub(crate) fn object<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

pub(crate) fn array(items: impl IntoIterator<Item = Value>) -> Value {
    Value::Array(items.into_iter().collect::<Array>())
}

pub(crate) fn number(n: u64) -> Value {
    Value::Number(Number::U64(n))
}

pub(crate) fn as_object(v: &Value) -> Option<&Object> {
    match v {
        Value::Object(o) => Some(o),
        _ => None,
    }
}

pub(crate) fn as_array(v: &Value) -> Option<&Array> {
    match v {
        Value::Array(a) => Some(a),
        _ => None,
    }
}

pub(crate) fn as_str(v: &Value) -> Option<&str> {
    match v {
        Value::String(s) => Some(s),
        _ => None,
    }
}

pub(crate) fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(Number::U64(n)) => Some(*n),
        Value::Number(Number::I64(n)) => u64::try_from(*n).ok(),
        _ => None,
    }
}

/// A string member of an object, or `None` when absent or not a string.
pub(crate) fn str_field<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    o.get(key).and_then(as_str)
}
