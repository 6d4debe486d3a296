//! Checks every kind's metadata gets, as upstream's `ValidateObjectMeta` and
//! `ValidateObjectMetaUpdate`: label keys and values, annotation keys and their total size,
//! and name and namespace staying what they were.

use miniserde::json::Value;

use super::fields::go_quote;
use crate::object::meta;
use crate::selector::validation::{label_value_errors, qualified_name_errors};
use crate::status::{Cause, field};

/// Upstream's TotalAnnotationSizeLimitB: 256 KiB over all keys and values.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Label and annotation problems of the metadata at `prefix` (`metadata` for objects,
/// `spec.template.metadata` for pod templates).
pub fn validate(object: &Value, path: &[&str], prefix: &str, causes: &mut Vec<Cause>) {
    let mut labels_path: Vec<&str> = path.to_vec();
    labels_path.push("labels");
    validate_labels(
        meta::get_path(object, &labels_path),
        &format!("{prefix}.labels"),
        causes,
    );
    let mut annotations_path: Vec<&str> = path.to_vec();
    annotations_path.push("annotations");
    validate_annotations(
        meta::get_path(object, &annotations_path),
        &format!("{prefix}.annotations"),
        causes,
    );
}

/// `ValidateLabels`: each key a qualified name, each value a valid label value.
pub fn validate_labels(labels: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(Value::Object(labels)) = labels else {
        return;
    };
    for (key, value) in labels {
        for msg in qualified_name_errors(key) {
            causes.push(field::invalid(path, &go_quote(key), &msg));
        }
        let value = match value {
            Value::String(s) => s.as_str(),
            _ => continue,
        };
        for msg in label_value_errors(value) {
            causes.push(field::invalid(path, &go_quote(value), &msg));
        }
    }
}

/// `ValidateAnnotations`: keys are qualified names (compared lowercased, as upstream does)
/// and keys plus values stay within 256 KiB.
pub fn validate_annotations(annotations: Option<&Value>, path: &str, causes: &mut Vec<Cause>) {
    let Some(Value::Object(annotations)) = annotations else {
        return;
    };
    let mut total = 0usize;
    for (key, value) in annotations {
        for msg in qualified_name_errors(&key.to_lowercase()) {
            causes.push(field::invalid(path, &go_quote(key), &msg));
        }
        total += key.len();
        if let Value::String(s) = value {
            total += s.len();
        }
    }
    if total > ANNOTATIONS_MAX_BYTES {
        causes.push(too_long(path, ANNOTATIONS_MAX_BYTES));
    }
}

/// `field.TooLong` as apimachinery words it.
pub fn too_long(path: &str, max: usize) -> Cause {
    Cause {
        reason: "FieldValueTooLong".into(),
        message: format!("Too long: must have at most {max} bytes"),
        field: path.into(),
    }
}

/// `ValidateObjectMetaUpdate`: name and namespace never change.
pub fn validate_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    for key in ["name", "namespace"] {
        let now = meta::get_str(new, &["metadata", key]).unwrap_or("");
        let before = meta::get_str(old, &["metadata", key]).unwrap_or("");
        if now != before {
            causes.push(field::immutable(&format!("metadata.{key}"), &go_quote(now)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn bad_label_value_and_key_use_upstream_messages() {
        let v = parse(r#"{"metadata":{"labels":{"ok":"fine","a/b/c":"x","k":"-bad"}}}"#);
        let mut causes = Vec::new();
        validate(&v, &["metadata"], "metadata", &mut causes);
        assert_eq!(causes.len(), 2);
        assert!(causes.iter().all(|c| c.field == "metadata.labels"));
        assert!(causes.iter().any(|c| c.message.starts_with(
            "Invalid value: \"a/b/c\": a qualified name must consist of alphanumeric characters"
        )));
        assert!(causes.iter().any(|c| c.message.starts_with(
            "Invalid value: \"-bad\": a valid label must be an empty string or consist of"
        )));
    }

    #[test]
    fn long_label_value_is_refused() {
        let v = parse(&format!(
            r#"{{"metadata":{{"labels":{{"k":"{}"}}}}}}"#,
            "a".repeat(64)
        ));
        let mut causes = Vec::new();
        validate(&v, &["metadata"], "metadata", &mut causes);
        assert_eq!(causes.len(), 1);
        assert!(
            causes[0]
                .message
                .ends_with(": must be no more than 63 characters")
        );
    }

    #[test]
    fn annotations_over_256k_are_too_long() {
        let big = "x".repeat(ANNOTATIONS_MAX_BYTES);
        let v = parse(&format!(
            r#"{{"metadata":{{"annotations":{{"k":"{big}"}}}}}}"#
        ));
        let mut causes = Vec::new();
        validate(&v, &["metadata"], "metadata", &mut causes);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.annotations");
        assert_eq!(causes[0].reason, "FieldValueTooLong");
        assert_eq!(
            causes[0].message,
            "Too long: must have at most 262144 bytes"
        );
    }

    #[test]
    fn name_is_immutable() {
        let mut causes = Vec::new();
        validate_update(
            &parse(r#"{"metadata":{"name":"b"}}"#),
            &parse(r#"{"metadata":{"name":"a"}}"#),
            &mut causes,
        );
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "metadata.name");
        assert_eq!(
            causes[0].message,
            "Invalid value: \"b\": field is immutable"
        );
    }
}
