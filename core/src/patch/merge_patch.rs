//! JSON merge patch (RFC 7386): an object patch merges member by member, `null` removes a
//! member, anything else replaces the target. Used for `application/merge-patch+json` and
//! for custom resources, which have no strategic merge metadata.

use super::value::{MAX_DEPTH, within_depth};
use miniserde::json::{Object, Value};
use std::fmt;

/// Why a merge patch was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergePatchError {
    /// The target or the patch nests deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl fmt::Display for MergePatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooDeep => write!(f, "merge patch nests deeper than {MAX_DEPTH} levels"),
        }
    }
}

impl std::error::Error for MergePatchError {}

/// Applies the RFC 7386 merge `patch` to `target`.
pub fn apply_merge_patch(target: Value, patch: &Value) -> Result<Value, MergePatchError> {
    if !within_depth(&target) || !within_depth(patch) {
        return Err(MergePatchError::TooDeep);
    }
    Ok(merge(target, patch))
}

// Recursion is bounded by the depth check in `apply_merge_patch`.
fn merge(target: Value, patch: &Value) -> Value {
    let Value::Object(patch) = patch else {
        return patch.clone();
    };
    let mut target = match target {
        Value::Object(map) => map,
        _ => Object::new(),
    };
    for (key, value) in patch.iter() {
        if let Value::Null = value {
            target.remove(key);
            continue;
        }
        let current = target.remove(key).unwrap_or(Value::Null);
        target.insert(key.clone(), merge(current, value));
    }
    Value::Object(target)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::{parse, values_equal};
    use proptest::prelude::*;

    fn v(text: &str) -> Value {
        parse(text).expect("valid json")
    }

    fn merged(target: &str, patch: &str) -> Value {
        apply_merge_patch(v(target), &v(patch)).expect("merge applies")
    }

    #[test]
    fn rfc_7386_appendix_a() {
        let cases = [
            (r#"{"a":"b"}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"b":"c"}"#, r#"{"a":"b","b":"c"}"#),
            (r#"{"a":"b"}"#, r#"{"a":null}"#, "{}"),
            (r#"{"a":"b","b":"c"}"#, r#"{"a":null}"#, r#"{"b":"c"}"#),
            (r#"{"a":["b"]}"#, r#"{"a":"c"}"#, r#"{"a":"c"}"#),
            (r#"{"a":"c"}"#, r#"{"a":["b"]}"#, r#"{"a":["b"]}"#),
            (
                r#"{"a":{"b":"c"}}"#,
                r#"{"a":{"b":"d","c":null}}"#,
                r#"{"a":{"b":"d"}}"#,
            ),
            (r#"{"a":[{"b":"c"}]}"#, r#"{"a":[1]}"#, r#"{"a":[1]}"#),
            (r#"["a","b"]"#, r#"["c","d"]"#, r#"["c","d"]"#),
            (r#"{"a":"b"}"#, r#"["c"]"#, r#"["c"]"#),
            (r#"{"a":"foo"}"#, "null", "null"),
            (r#"{"a":"foo"}"#, r#""bar""#, r#""bar""#),
            (r#"{"e":null}"#, r#"{"a":1}"#, r#"{"e":null,"a":1}"#),
            (r#"[1,2]"#, r#"{"a":"b","c":null}"#, r#"{"a":"b"}"#),
            ("{}", r#"{"a":{"bb":{"ccc":null}}}"#, r#"{"a":{"bb":{}}}"#),
        ];
        for (target, patch, expected) in cases {
            let got = merged(target, patch);
            assert!(
                values_equal(&got, &v(expected)),
                "{target} + {patch}: got {}",
                miniserde::json::to_string(&got)
            );
        }
    }

    #[test]
    fn hostile_depth_is_rejected() {
        let deep = format!("{}1{}", r#"{"a":"#.repeat(50_000), "}".repeat(50_000));
        assert_eq!(
            apply_merge_patch(v("{}"), &v(&deep)).unwrap_err(),
            MergePatchError::TooDeep
        );
        assert_eq!(
            apply_merge_patch(v(&deep), &v("{}")).unwrap_err(),
            MergePatchError::TooDeep
        );
    }

    fn json_leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..5).prop_map(|n| Value::Number(miniserde::json::Number::U64(n))),
            "[ab]{0,2}".prop_map(Value::String),
        ]
    }

    fn json_value() -> impl Strategy<Value = Value> {
        json_leaf().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|items| Value::Array(items.into_iter().collect())),
                prop::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|map| Value::Object(map.into_iter().collect())),
            ]
        })
    }

    proptest! {
        // RFC 7386 patches are idempotent: applying one twice equals applying it once.
        #[test]
        fn merge_patch_is_idempotent(target in json_value(), patch in json_value()) {
            let once = apply_merge_patch(target, &patch).unwrap();
            let twice = apply_merge_patch(once.clone(), &patch).unwrap();
            prop_assert!(values_equal(&once, &twice));
        }

        // Every non-null leaf of an object patch is present in the result.
        #[test]
        fn patch_values_win(target in json_value(), patch in json_value()) {
            let result = apply_merge_patch(target, &patch).unwrap();
            if let (Value::Object(p), Value::Object(r)) = (&patch, &result) {
                for (key, value) in p.iter() {
                    match value {
                        Value::Null => prop_assert!(!r.contains_key(key)),
                        Value::Object(_) => prop_assert!(matches!(r.get(key), Some(Value::Object(_)))),
                        other => prop_assert!(values_equal(r.get(key).unwrap(), other)),
                    }
                }
            }
        }

        // A patch made only of the result's own members changes nothing.
        #[test]
        fn result_is_a_fixed_point_of_itself(target in json_value(), patch in json_value()) {
            let result = apply_merge_patch(target, &patch).unwrap();
            if matches!(result, Value::Object(_)) && !contains_null(&result) {
                let again = apply_merge_patch(result.clone(), &result).unwrap();
                prop_assert!(values_equal(&again, &result));
            }
        }
    }

    fn contains_null(value: &Value) -> bool {
        match value {
            Value::Null => true,
            Value::Array(items) => items.iter().any(contains_null),
            Value::Object(map) => map.values().any(contains_null),
            _ => false,
        }
    }
}
