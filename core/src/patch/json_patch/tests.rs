//! RFC 6902 appendix A, evanphx-compatible messages, and the work bounds.

use super::*;
use crate::patch::value::{parse, values_equal};
use miniserde::json::Array;

fn v(text: &str) -> Value {
    parse(text).unwrap_or_else(|| panic!("invalid json in test: {text}"))
}

fn patched(doc: &str, patch: &str) -> Result<Value> {
    apply_json_patch(v(doc), &v(patch))
}

fn assert_patch(doc: &str, patch: &str, expected: &str) {
    let got = patched(doc, patch).expect("patch applies");
    assert!(
        values_equal(&got, &v(expected)),
        "got {}, want {expected}",
        miniserde::json::to_string(&got)
    );
}

#[test]
fn rfc_a1_a2_add_member_and_array_element() {
    assert_patch(
        r#"{"foo":"bar"}"#,
        r#"[{"op":"add","path":"/baz","value":"qux"}]"#,
        r#"{"baz":"qux","foo":"bar"}"#,
    );
    assert_patch(
        r#"{"foo":["bar","baz"]}"#,
        r#"[{"op":"add","path":"/foo/1","value":"qux"}]"#,
        r#"{"foo":["bar","qux","baz"]}"#,
    );
}

#[test]
fn rfc_a3_a4_remove_member_and_element() {
    assert_patch(
        r#"{"baz":"qux","foo":"bar"}"#,
        r#"[{"op":"remove","path":"/baz"}]"#,
        r#"{"foo":"bar"}"#,
    );
    assert_patch(
        r#"{"foo":["bar","qux","baz"]}"#,
        r#"[{"op":"remove","path":"/foo/1"}]"#,
        r#"{"foo":["bar","baz"]}"#,
    );
}

#[test]
fn rfc_a5_to_a7_replace_and_move() {
    assert_patch(
        r#"{"baz":"qux","foo":"bar"}"#,
        r#"[{"op":"replace","path":"/baz","value":"boo"}]"#,
        r#"{"baz":"boo","foo":"bar"}"#,
    );
    assert_patch(
        r#"{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}"#,
        r#"[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]"#,
        r#"{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}"#,
    );
    assert_patch(
        r#"{"foo":["all","grass","cows","eat"]}"#,
        r#"[{"op":"move","from":"/foo/1","path":"/foo/3"}]"#,
        r#"{"foo":["all","cows","eat","grass"]}"#,
    );
}

#[test]
fn rfc_a8_a9_test_success_and_failure() {
    assert_patch(
        r#"{"baz":"qux","foo":["a",2,"c"]}"#,
        r#"[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]"#,
        r#"{"baz":"qux","foo":["a",2,"c"]}"#,
    );
    let err = patched(
        r#"{"baz":"qux"}"#,
        r#"[{"op":"test","path":"/baz","value":"bar"}]"#,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "testing value /baz failed: test failed");
    assert_eq!(err.http_status(), 422);
}

#[test]
fn rfc_a10_a11_nested_member_and_unrecognised_members() {
    assert_patch(
        r#"{"foo":"bar"}"#,
        r#"[{"op":"add","path":"/child","value":{"grandchild":{}}}]"#,
        r#"{"foo":"bar","child":{"grandchild":{}}}"#,
    );
    assert_patch(
        r#"{"foo":"bar"}"#,
        r#"[{"op":"add","path":"/baz","value":"qux","xyz":123}]"#,
        r#"{"foo":"bar","baz":"qux"}"#,
    );
}

#[test]
fn rfc_a12_add_to_nonexistent_target() {
    let err = patched(
        r#"{"foo":"bar"}"#,
        r#"[{"op":"add","path":"/baz/bat","value":"qux"}]"#,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"add operation does not apply: doc is missing path: "/baz/bat": missing value"#
    );
}

#[test]
fn rfc_a14_a15_a16_escapes_types_and_array_values() {
    assert_patch(
        r#"{"/":9,"~1":10}"#,
        r#"[{"op":"test","path":"/~01","value":10}]"#,
        r#"{"/":9,"~1":10}"#,
    );
    assert_patch(r#"{"a/b":1}"#, r#"[{"op":"remove","path":"/a~1b"}]"#, "{}");
    let err = patched(
        r#"{"/":9,"~1":10}"#,
        r#"[{"op":"test","path":"/~01","value":"10"}]"#,
    )
    .unwrap_err();
    assert!(matches!(err, JsonPatchError::TestFailed { .. }));
    assert_patch(
        r#"{"foo":["bar"]}"#,
        r#"[{"op":"add","path":"/foo/-","value":["abc","def"]}]"#,
        r#"{"foo":["bar",["abc","def"]]}"#,
    );
}

#[test]
fn copy_root_replace_and_root_add() {
    assert_patch(
        r#"{"a":{"b":1}}"#,
        r#"[{"op":"copy","from":"/a","path":"/c"}]"#,
        r#"{"a":{"b":1},"c":{"b":1}}"#,
    );
    assert_patch(
        r#"{"a":1}"#,
        r#"[{"op":"replace","path":"","value":{"b":2}}]"#,
        r#"{"b":2}"#,
    );
    assert_patch(
        r#"{"a":1}"#,
        r#"[{"op":"add","path":"","value":[1]}]"#,
        "[1]",
    );
    assert_patch(
        r#"{"a":[1]}"#,
        r#"[{"op":"move","from":"/a","path":"/a"}]"#,
        r#"{"a":[1]}"#,
    );
}

#[test]
fn errors_carry_upstream_messages() {
    let cases = [
        (
            r#"[{"op":"replace","path":"/x","value":1}]"#,
            "replace operation does not apply: doc is missing key: /x: missing value",
        ),
        (
            r#"[{"op":"remove","path":"/x"}]"#,
            "Unable to remove nonexistent key: x: missing value",
        ),
        (
            r#"[{"op":"move","from":"/x","path":"/y"}]"#,
            "move operation does not apply: doc is missing from path: /x: missing value",
        ),
        (
            r#"[{"op":"copy","from":"/x/0","path":"/y"}]"#,
            "copy operation does not apply: doc is missing from path: /x/0: missing value",
        ),
        (
            r#"[{"op":"add","path":"/l/5","value":1}]"#,
            "Unable to access invalid index: 5: invalid index referenced",
        ),
        (
            r#"[{"op":"remove","path":"/l/-"}]"#,
            "Unable to access invalid index: -: invalid index referenced",
        ),
        (
            r#"[{"op":"add","path":"/l/01","value":1}]"#,
            "Unable to access invalid index: 01: invalid index referenced",
        ),
        (
            r#"[{"op":"frobnicate","path":"/x"}]"#,
            "Unexpected kind: frobnicate",
        ),
        (r#"[{"path":"/x"}]"#, "Unexpected kind: unknown"),
        (
            r#"[{"op":"add","value":1}]"#,
            "add operation failed to decode path: missing value",
        ),
    ];
    for (patch, message) in cases {
        let err = patched(r#"{"l":[1,2]}"#, patch).unwrap_err();
        assert_eq!(err.to_string(), message, "patch {patch}");
    }
    assert_eq!(
        patched("{}", r#"{"op":"add"}"#).unwrap_err(),
        JsonPatchError::NotAList
    );
    assert_eq!(
        patched("{}", r#"[{"op":"add","path":"x","value":1}]"#)
            .unwrap_err()
            .http_status(),
        400
    );
    assert!(patched("{}", r#"[{"op":"add","path":"/~2","value":1}]"#).is_err());
}

#[test]
fn move_into_own_child_is_rejected() {
    let err = patched(
        r#"{"a":{"b":{}}}"#,
        r#"[{"op":"move","from":"/a","path":"/a/b/c"}]"#,
    )
    .unwrap_err();
    assert!(matches!(err, JsonPatchError::MoveIntoChild { .. }));
}

#[test]
fn a_failed_operation_reports_and_later_ones_do_not_run() {
    let err = patched(
        r#"{"a":1}"#,
        r#"[{"op":"remove","path":"/a"},{"op":"test","path":"/a","value":1}]"#,
    )
    .unwrap_err();
    assert!(matches!(err, JsonPatchError::TestFailed { .. }));
}

#[test]
fn too_many_operations_is_413() {
    let op = v(r#"{"op":"test","path":"","value":{}}"#);
    let ops: Array = std::iter::repeat_n(op, MAX_OPERATIONS + 1).collect();
    let err = apply_json_patch(v("{}"), &Value::Array(ops)).unwrap_err();
    assert_eq!(err.http_status(), 413);
    assert_eq!(
        err.to_string(),
        "The allowed maximum operations in a JSON patch is 10000, got 10001"
    );
    let ops: Array =
        std::iter::repeat_n(v(r#"{"op":"test","path":"","value":{}}"#), MAX_OPERATIONS).collect();
    assert!(apply_json_patch(v("{}"), &Value::Array(ops)).is_ok());
}

#[test]
fn doubling_copies_stop_at_the_size_limit() {
    // Each copy doubles the document: 60 of them would need 2^60 times the first string.
    let mut ops =
        vec![r#"{"op":"add","path":"/a","value":["xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"]}"#.to_owned()];
    for i in 0..60 {
        ops.push(format!(r#"{{"op":"copy","from":"/a","path":"/b{i}"}}"#));
        ops.push(r#"{"op":"copy","from":"/a","path":"/a/-"}"#.to_owned());
        ops.push(format!(r#"{{"op":"move","from":"/b{i}","path":"/a/-"}}"#));
    }
    let patch = format!("[{}]", ops.join(","));
    assert_eq!(patched("{}", &patch).unwrap_err(), JsonPatchError::TooLarge);
}

#[test]
fn nesting_copies_stop_at_the_depth_limit() {
    let mut ops = vec![r#"{"op":"add","path":"/a","value":{}}"#.to_owned()];
    for _ in 0..20 {
        ops.push(r#"{"op":"copy","from":"/a","path":"/a/a"}"#.to_owned());
    }
    let patch = format!("[{}]", ops.join(","));
    assert!(patched("{}", &patch).is_ok());
    let mut ops = vec![r#"{"op":"add","path":"/a","value":{}}"#.to_owned()];
    for _ in 0..200 {
        ops.push(r#"{"op":"copy","from":"","path":"/a"}"#.to_owned());
    }
    let patch = format!("[{}]", ops.join(","));
    assert_eq!(patched("{}", &patch).unwrap_err(), JsonPatchError::TooDeep);
}

#[test]
fn deep_hostile_documents_are_rejected_not_overflowed() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let doc = v(&deep);
    assert_eq!(
        apply_json_patch(doc, &v("[]")).unwrap_err(),
        JsonPatchError::TooDeep
    );
    let patch = format!(r#"[{{"op":"add","path":"/a","value":{deep}}}]"#);
    assert_eq!(patched("{}", &patch).unwrap_err(), JsonPatchError::TooDeep);
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // Adding a new member and removing it again restores the document.
        #[test]
        fn add_then_remove_restores(keys in prop::collection::btree_map("[a-d~/]{1,3}", 0u64..9, 0..5), new_key in "[a-d~/]{1,3}", value in 0u64..9) {
            prop_assume!(!keys.contains_key(&new_key));
            let doc = Value::Object(keys.into_iter().map(|(k, n)| (k, Value::Number(miniserde::json::Number::U64(n)))).collect());
            let pointer = format!("/{}", new_key.replace('~', "~0").replace('/', "~1"));
            let patch = v(&format!(r#"[{{"op":"add","path":{p:?},"value":{value}}},{{"op":"test","path":{p:?},"value":{value}}},{{"op":"remove","path":{p:?}}}]"#, p = pointer));
            let result = apply_json_patch(doc.clone(), &patch).unwrap();
            prop_assert!(values_equal(&result, &doc));
        }
    }
}
