//! Strategic merge patch behaviour, including the patch shapes kubectl's client-side apply
//! computes (three-way patches with `$setElementOrder`, `$patch: delete`,
//! `$deleteFromPrimitiveList`). Cases are written for wisp, after upstream's semantics.

use super::*;
use crate::patch::merge_keys::BuiltinPatchMeta;
use crate::patch::value::{parse, values_equal};

fn v(text: &str) -> Value {
    parse(text).unwrap_or_else(|| panic!("invalid json in test: {text}"))
}

fn smp(kind: &str, original: &str, patch: &str) -> Result<Value> {
    apply_strategic_merge_patch(v(original), &v(patch), &BuiltinPatchMeta::new(kind))
}

fn assert_smp(kind: &str, original: &str, patch: &str, expected: &str) {
    let got = smp(kind, original, patch).expect("patch applies");
    let text = miniserde::json::to_string(&got);
    assert!(
        values_equal(&got, &v(expected)),
        "got {text}\nwant {expected}"
    );
    assert!(!text.contains("\"$"), "directive left in result: {text}");
}

#[test]
fn maps_merge_nulls_delete_and_plain_lists_replace() {
    assert_smp(
        "ConfigMap",
        r#"{"metadata":{"labels":{"a":"1","b":"2"}},"data":{"x":"1"}}"#,
        r#"{"metadata":{"labels":{"a":null,"c":"3"}},"data":{"y":"2"}}"#,
        r#"{"metadata":{"labels":{"b":"2","c":"3"}},"data":{"x":"1","y":"2"}}"#,
    );
    assert_smp(
        "Pod",
        r#"{"spec":{"tolerations":[{"key":"a"}],"containers":[{"name":"c","args":["x","y"]}]}}"#,
        r#"{"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"c","args":["z"]}]}}"#,
        r#"{"spec":{"tolerations":[{"key":"b"}],"containers":[{"name":"c","args":["z"]}]}}"#,
    );
}

#[test]
fn kubectl_apply_containers_merge_by_name_in_set_element_order() {
    assert_smp(
        "Deployment",
        r#"{"spec":{"replicas":1,"template":{"spec":{"containers":[
            {"name":"a","image":"a:1","ports":[{"containerPort":80}]},
            {"name":"b","image":"b:1"}]}}}}"#,
        r#"{"spec":{"replicas":3,"template":{"spec":{
            "$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"c"}],
            "containers":[{"name":"a","image":"a:2","ports":[{"containerPort":81}]},{"name":"c","image":"c:1"}]}}}}"#,
        r#"{"spec":{"replicas":3,"template":{"spec":{"containers":[
            {"name":"b","image":"b:1"},
            {"name":"a","image":"a:2","ports":[{"containerPort":80},{"containerPort":81}]},
            {"name":"c","image":"c:1"}]}}}}"#,
    );
}

#[test]
fn set_element_order_interleaves_server_only_items_as_upstream() {
    // Server-only items go before the first named item that followed them on the server.
    assert_smp(
        "Pod",
        r#"{"spec":{"containers":[{"name":"a"},{"name":"server"},{"name":"b"}]}}"#,
        r#"{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"}]}}"#,
        r#"{"spec":{"containers":[{"name":"server"},{"name":"b"},{"name":"a"}]}}"#,
    );
    assert_smp(
        "Pod",
        r#"{"spec":{"containers":[{"name":"s1"},{"name":"a"},{"name":"b"},{"name":"s2"}]}}"#,
        r#"{"spec":{"$setElementOrder/containers":[{"name":"b"},{"name":"a"},{"name":"new"}],
            "containers":[{"name":"new"}]}}"#,
        r#"{"spec":{"containers":[{"name":"s1"},{"name":"b"},{"name":"a"},{"name":"new"},{"name":"s2"}]}}"#,
    );
}

#[test]
fn kubectl_apply_env_item_deletion() {
    assert_smp(
        "StatefulSet",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[
            {"name":"KEEP","value":"1"},{"name":"DROP","value":"2"}]}]}}}}"#,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app",
            "$setElementOrder/env":[{"name":"KEEP"}],
            "env":[{"$patch":"delete","name":"DROP"}]}]}}}}"#,
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"app","env":[{"name":"KEEP","value":"1"}]}]}}}}"#,
    );
}

#[test]
fn kubectl_apply_finalizers_delete_from_primitive_list() {
    assert_smp(
        "ConfigMap",
        r#"{"metadata":{"finalizers":["a","b","c"]}}"#,
        r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":["b"],"finalizers":["d","a"]}}"#,
        r#"{"metadata":{"finalizers":["a","c","d"]}}"#,
    );
    assert_smp(
        "ConfigMap",
        r#"{"metadata":{"finalizers":["a","b"]}}"#,
        r#"{"metadata":{"$setElementOrder/finalizers":["b","a"]}}"#,
        r#"{"metadata":{"finalizers":["b","a"]}}"#,
    );
}

#[test]
fn map_directives_replace_and_delete() {
    assert_smp(
        "Deployment",
        r#"{"spec":{"selector":{"matchLabels":{"a":"1"},"matchExpressions":[]}}}"#,
        r#"{"spec":{"selector":{"$patch":"replace","matchLabels":{"b":"2","n":null}}}}"#,
        r#"{"spec":{"selector":{"matchLabels":{"b":"2"}}}}"#,
    );
    assert_smp(
        "Deployment",
        r#"{"spec":{"selector":{"matchLabels":{"a":"1"}},"replicas":1}}"#,
        r#"{"spec":{"selector":{"$patch":"delete"}}}"#,
        r#"{"spec":{"selector":{},"replicas":1}}"#,
    );
}

#[test]
fn list_replace_directive() {
    assert_smp(
        "Pod",
        r#"{"spec":{"containers":[{"name":"a"},{"name":"b"}]}}"#,
        r#"{"spec":{"containers":[{"$patch":"replace"},{"name":"z","image":"z"}]}}"#,
        r#"{"spec":{"containers":[{"name":"z","image":"z"}]}}"#,
    );
}

#[test]
fn retain_keys_on_deployment_strategy_and_volumes() {
    assert_smp(
        "Deployment",
        r#"{"spec":{"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1}}}}"#,
        r#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#,
        r#"{"spec":{"strategy":{"type":"Recreate"}}}"#,
    );
    assert_smp(
        "Pod",
        r#"{"spec":{"volumes":[{"name":"v","emptyDir":{}},{"name":"w","emptyDir":{}}]}}"#,
        r#"{"spec":{"volumes":[{"name":"v","$retainKeys":["name","hostPath"],"hostPath":{"path":"/x"}}]}}"#,
        r#"{"spec":{"volumes":[{"name":"v","hostPath":{"path":"/x"}},{"name":"w","emptyDir":{}}]}}"#,
    );
    let err = smp(
        "Deployment",
        r#"{"spec":{"strategy":{}}}"#,
        r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":{}}}}"#,
    )
    .unwrap_err();
    assert_eq!(err, StrategicMergeError::RetainKeysMismatch);
    assert_eq!(
        err.to_string(),
        "patch content doesn't match retainKeys list"
    );
}

#[test]
fn service_ports_merge_by_port_and_owner_references_by_uid() {
    assert_smp(
        "Service",
        r#"{"metadata":{"ownerReferences":[{"uid":"1","name":"a"}]},"spec":{"ports":[{"port":80,"name":"http"},{"port":443}]}}"#,
        r#"{"metadata":{"ownerReferences":[{"uid":"2","name":"b"}]},"spec":{"ports":[{"port":80,"targetPort":8080},{"port":443,"$patch":"delete"}]}}"#,
        r#"{"metadata":{"ownerReferences":[{"uid":"1","name":"a"},{"uid":"2","name":"b"}]},"spec":{"ports":[{"port":80,"name":"http","targetPort":8080}]}}"#,
    );
}

#[test]
fn new_fields_are_taken_without_directives_or_nulls() {
    assert_smp(
        "Pod",
        r#"{"spec":{}}"#,
        r#"{"spec":{"containers":[{"name":"gone","$patch":"delete"},{"name":"a","env":[{"name":"E","value":null}]}],"nodeSelector":{"x":null,"y":"1"}}}"#,
        r#"{"spec":{"containers":[{"name":"a","env":[{"name":"E"}]}],"nodeSelector":{"y":"1"}}}"#,
    );
    assert_smp(
        "Pod",
        r#"{"spec":{"containers":"not-a-list"}}"#,
        r#"{"spec":{"containers":[{"name":"a"}]}}"#,
        r#"{"spec":{"containers":[{"name":"a"}]}}"#,
    );
}

#[test]
fn errors_use_upstream_texts() {
    let cases = [
        (r#"{"spec":{"$frob":1}}"#, "unknown patch directive: $frob"),
        (
            r#"{"spec":{"$patch":"frob"}}"#,
            "unknown patch type: frob in map: map[$patch:frob]",
        ),
        (
            r#"{"spec":{"containers":[{"image":"x"}]}}"#,
            "map: map[image:x] does not contain declared merge key: name",
        ),
        (
            r#"{"spec":{"containers":[{"$patch":"delete","image":"x"}]}}"#,
            "map: map[$patch:delete image:x] does not contain declared merge key: name",
        ),
        (
            r#"{"spec":{"containers":[{"$patch":"merge"}]}}"#,
            "merging lists cannot yet be specified in the patch",
        ),
        (
            r#"{"spec":{"containers":["x"]}}"#,
            "expected a map, but received a string",
        ),
        (
            r#"{"metadata":{"$deleteFromPrimitiveList/finalizers":"x"}}"#,
            "invalid patch format of primitive list",
        ),
        (
            r#"{"spec":{"strategy":{"$retainKeys":"type"}}}"#,
            "invalid patch format of retainKeys",
        ),
        (
            r#"{"spec":{"$setElementOrder/containers":[{"image":"x"}]}}"#,
            "invalid patch format of setElementOrder list",
        ),
    ];
    for (patch, message) in cases {
        let err = smp(
            "Pod",
            r#"{"spec":{"containers":[{"name":"a"}],"strategy":{}}}"#,
            patch,
        )
        .unwrap_err();
        assert_eq!(err.to_string(), message, "patch {patch}");
    }
    assert_eq!(
        smp("Pod", "{}", "[]").unwrap_err(),
        StrategicMergeError::BadJsonDoc
    );
}

#[test]
fn no_meta_replaces_every_list() {
    let got = apply_strategic_merge_patch(
        v(r#"{"metadata":{"finalizers":["a"]}}"#),
        &v(r#"{"metadata":{"finalizers":["b"]}}"#),
        &NoPatchMeta,
    )
    .unwrap();
    assert!(values_equal(
        &got,
        &v(r#"{"metadata":{"finalizers":["b"]}}"#)
    ));
}

#[test]
fn hostile_depth_is_rejected() {
    let deep = format!("{}1{}", r#"{"a":"#.repeat(20_000), "}".repeat(20_000));
    assert_eq!(
        smp("Pod", "{}", &deep).unwrap_err(),
        StrategicMergeError::TooDeep
    );
    assert_eq!(
        smp("Pod", &deep, "{}").unwrap_err(),
        StrategicMergeError::TooDeep
    );
    let fine = format!("{}1{}", r#"{"a":"#.repeat(90), "}".repeat(90));
    assert!(smp("Pod", &fine, &fine).is_ok());
}

#[test]
fn large_lists_merge_in_n_log_n() {
    let n = 20_000;
    let items = |image: &str| {
        (0..n)
            .map(|i| format!(r#"{{"name":"c{i}","image":"{image}"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let original = format!(
        r#"{{"spec":{{"containers":[{}]}},"metadata":{{"finalizers":[{}]}}}}"#,
        items("a"),
        (0..n)
            .map(|i| format!("\"f{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    let order = (0..n)
        .rev()
        .map(|i| format!(r#"{{"name":"c{i}"}}"#))
        .collect::<Vec<_>>()
        .join(",");
    let patch = format!(
        r#"{{"spec":{{"$setElementOrder/containers":[{order}],"containers":[{}]}},"metadata":{{"finalizers":[{}]}}}}"#,
        items("b"),
        (0..n)
            .map(|i| format!("\"f{}\"", i * 2))
            .collect::<Vec<_>>()
            .join(",")
    );
    let got = smp("Pod", &original, &patch).unwrap();
    let Value::Object(root) = &got else {
        panic!("object")
    };
    let Some(Value::Object(spec)) = root.get("spec") else {
        panic!("spec")
    };
    let Some(Value::Array(containers)) = spec.get("containers") else {
        panic!("containers")
    };
    assert_eq!(containers.len(), n);
    assert!(values_equal(
        &containers[0],
        &v(&format!(r#"{{"name":"c{}","image":"b"}}"#, n - 1))
    ));
    let Some(Value::Object(metadata)) = root.get("metadata") else {
        panic!("metadata")
    };
    let Some(Value::Array(finalizers)) = metadata.get("finalizers") else {
        panic!("finalizers")
    };
    assert_eq!(finalizers.len(), n + n / 2);
}

mod properties {
    use super::*;
    use crate::patch::merge_patch::apply_merge_patch;
    use proptest::prelude::*;

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (0u64..4).prop_map(|n| Value::Number(miniserde::json::Number::U64(n))),
            "[xy]{0,2}".prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        leaf().prop_recursive(4, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|i| Value::Array(i.into_iter().collect())),
                prop::collection::btree_map("[abc]", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn object() -> impl Strategy<Value = Value> {
        prop::collection::btree_map("[abc]", value(), 0..4)
            .prop_map(|m| Value::Object(m.into_iter().collect()))
    }

    /// Upstream drops nulls inside list items too; RFC 7386 keeps lists verbatim.
    fn null_inside_list(value: &Value, in_list: bool) -> bool {
        match value {
            Value::Null => in_list,
            Value::Array(items) => items.iter().any(|i| null_inside_list(i, true)),
            Value::Object(map) => map.values().any(|i| null_inside_list(i, in_list)),
            _ => false,
        }
    }

    proptest! {
        // Without schema metadata and directives, a strategic merge patch is a merge patch.
        #[test]
        fn without_metadata_it_is_rfc_7386(original in object(), patch in object()) {
            prop_assume!(!null_inside_list(&patch, false));
            let strategic = apply_strategic_merge_patch(original.clone(), &patch, &NoPatchMeta).unwrap();
            let merge = apply_merge_patch(original, &patch).unwrap();
            prop_assert!(values_equal(&strategic, &merge));
        }

        // Directive-free patches with merge keys are idempotent too.
        #[test]
        fn keyed_merges_are_idempotent(names in prop::collection::vec("[abc]", 0..4), images in prop::collection::vec("[xyz]", 0..4), patch_names in prop::collection::vec("[abcd]", 0..4)) {
            let list = |names: &[String], image: &str| names.iter().map(|n| format!(r#"{{"name":"{n}","image":"{image}"}}"#)).collect::<Vec<_>>().join(",");
            let original = v(&format!(r#"{{"spec":{{"containers":[{}]}}}}"#, list(&names, images.first().map_or("i", String::as_str))));
            let patch = v(&format!(r#"{{"spec":{{"containers":[{}]}},"metadata":{{"finalizers":["{}"]}}}}"#, list(&patch_names, "p"), images.join("")));
            let meta = BuiltinPatchMeta::new("Pod");
            let once = apply_strategic_merge_patch(original, &patch, &meta).unwrap();
            let twice = apply_strategic_merge_patch(once.clone(), &patch, &meta).unwrap();
            prop_assert!(values_equal(&once, &twice));
        }
    }
}
