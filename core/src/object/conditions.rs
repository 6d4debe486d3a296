//! `status.conditions` as upstream keeps them: one entry per type, whose
//! lastTransitionTime moves only when its status changes.

use miniserde::json::{Array, Object, Value};

use super::{meta, time};

/// One condition to record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Condition<'a> {
    pub type_: &'a str,
    pub status: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
}

/// Sets (or adds, at the end) the condition of `type_` in `status.conditions`.
pub fn set(object: &mut Value, condition: Condition<'_>) {
    let status = meta::ensure_object(object, &["status"]);
    let list = match status.get_mut("conditions") {
        Some(Value::Array(list)) => list,
        _ => {
            status.insert("conditions".to_owned(), Value::Array(Array::new()));
            match status.get_mut("conditions") {
                Some(Value::Array(list)) => list,
                _ => unreachable!("inserted an array above"),
            }
        }
    };
    let existing = list
        .iter_mut()
        .find(|c| meta::get_str(c, &["type"]) == Some(condition.type_));
    let since = match &existing {
        Some(c) if meta::get_str(c, &["status"]) == Some(condition.status) => {
            meta::get_str(c, &["lastTransitionTime"]).map(str::to_owned)
        }
        _ => None,
    };
    let since = since.unwrap_or_else(|| time::format_rfc3339(time::now_unix()));
    let mut entry = Object::new();
    for (key, value) in [
        ("type", condition.type_),
        ("status", condition.status),
        ("lastTransitionTime", since.as_str()),
        ("reason", condition.reason),
        ("message", condition.message),
    ] {
        meta::set_str(&mut entry, key, value);
    }
    match existing {
        Some(slot) => *slot = Value::Object(entry),
        None => list.push(Value::Object(entry)),
    }
}

/// The status of the condition of `type_`, if present.
pub fn status<'a>(object: &'a Value, type_: &str) -> Option<&'a str> {
    match meta::get_path(object, &["status", "conditions"]) {
        Some(Value::Array(list)) => list
            .iter()
            .find(|c| meta::get_str(c, &["type"]) == Some(type_))
            .and_then(|c| meta::get_str(c, &["status"])),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_with_the_status() {
        let mut object: Value = miniserde::json::from_str(
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"2020-01-01T00:00:00Z"}]}}"#,
        )
        .unwrap();
        let ready = |status| Condition {
            type_: "Ready",
            status,
            reason: "R",
            message: "m",
        };
        set(&mut object, ready("True"));
        let first = |o: &Value| match meta::get_path(o, &["status", "conditions"]) {
            Some(Value::Array(a)) => a[0].clone(),
            _ => panic!("no conditions"),
        };
        assert_eq!(
            meta::get_str(&first(&object), &["lastTransitionTime"]),
            Some("2020-01-01T00:00:00Z")
        );
        set(&mut object, ready("False"));
        assert_ne!(
            meta::get_str(&first(&object), &["lastTransitionTime"]),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(status(&object, "Ready"), Some("False"));
        set(
            &mut object,
            Condition {
                type_: "Other",
                ..ready("True")
            },
        );
        assert_eq!(status(&object, "Other"), Some("True"));
    }
}
