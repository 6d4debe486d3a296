//! Helpers the printers share: reading fields with upstream's placeholders (`<none>`), pod
//! template containers and images, and label/selector formatting as
//! `labels.FormatLabels` and `metav1.FormatLabelSelector` print them.

use miniserde::json::{Object, Value};

use super::age::age_since;
use crate::registry::json::{arr_at, int_at, path, s, str_at};

pub fn name(object: &Value) -> &str {
    str_at(object, &["metadata", "name"]).unwrap_or("")
}

/// The Age cell.
pub fn age(object: &Value, now: i64) -> Value {
    s(&age_since(
        str_at(object, &["metadata", "creationTimestamp"]),
        now,
    ))
}

/// The string at `keys`, or `default` when absent or empty.
pub fn str_or<'a>(object: &'a Value, keys: &[&str], default: &'a str) -> &'a str {
    match str_at(object, keys) {
        Some(text) if !text.is_empty() => text,
        _ => default,
    }
}

/// The integer at `keys`, or 0.
pub fn int0(object: &Value, keys: &[&str]) -> i64 {
    int_at(object, keys).unwrap_or(0)
}

/// The object at `keys`, if it is one.
pub fn object_at<'a>(object: &'a Value, keys: &[&str]) -> Option<&'a Object> {
    match path(object, keys)? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Whether the object is being deleted.
pub fn deleting(object: &Value) -> bool {
    path(object, &["metadata", "deletionTimestamp"]).is_some_and(|v| !matches!(v, Value::Null))
}

/// Comma-joined `field` of each container of a pod spec at `spec` (names or images).
pub fn containers_field(object: &Value, spec: &[&str], field: &str) -> String {
    let mut keys = spec.to_vec();
    keys.push("containers");
    arr_at(object, &keys)
        .iter()
        .filter_map(|c| str_at(c, &[field]))
        .collect::<Vec<_>>()
        .join(",")
}

/// `k=v,k2=v2` sorted by key, `<none>` when empty (labels.FormatLabels).
pub fn format_labels(map: Option<&Object>) -> String {
    let pairs: Vec<String> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| format!("{k}={}", plain(v)))
        .collect();
    if pairs.is_empty() {
        "<none>".into()
    } else {
        pairs.join(",")
    }
}

/// A label selector as `metav1.FormatLabelSelector` prints it: requirements sorted by key,
/// `k=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`; `<none>` when empty.
pub fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return "<none>".into();
    };
    let mut requirements: Vec<(String, String)> = Vec::new();
    if let Some(labels) = object_at(selector, &["matchLabels"]) {
        for (k, v) in labels {
            requirements.push((k.clone(), format!("{k}={}", plain(v))));
        }
    }
    for expr in arr_at(selector, &["matchExpressions"]) {
        let key = str_at(expr, &["key"]).unwrap_or("");
        let mut values: Vec<&str> = arr_at(expr, &["values"])
            .iter()
            .filter_map(|v| match v {
                Value::String(text) => Some(text.as_str()),
                _ => None,
            })
            .collect();
        values.sort_unstable();
        let text = match str_at(expr, &["operator"]).unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        };
        requirements.push((key.to_string(), text));
    }
    if requirements.is_empty() {
        return "<none>".into();
    }
    requirements.sort_by(|a, b| a.0.cmp(&b.0));
    requirements
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join(",")
}

/// A scalar as text (strings without quotes).
pub fn plain(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => crate::registry::json::to_string(other),
    }
}

/// Upstream's `printBoolPtr` for a defaulted bool: `True`/`False`.
pub fn bool_text(value: Option<&Value>) -> &'static str {
    match value {
        Some(Value::Bool(true)) => "True",
        _ => "False",
    }
}

/// Joins up to `max` items and appends ` + N more...` as upstream's list printers do.
pub fn join_limited(items: &[String], max: usize, separator: &str) -> String {
    if items.len() <= max {
        return items.join(separator);
    }
    format!(
        "{} + {} more...",
        items[..max].join(separator),
        items.len() - max
    )
}
