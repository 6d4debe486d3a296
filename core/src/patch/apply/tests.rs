//! Server-side apply: creation, ownership, conflicts with appliers and updaters, force,
//! removal of omitted fields, keyed lists, and managedFields round trips.

use super::*;
use crate::patch::merge_keys::BuiltinPatchMeta;
use crate::patch::value::{parse, values_equal};

const T0: &str = "2024-05-01T10:00:00Z";
const T1: &str = "2024-05-01T11:00:00Z";

fn v(text: &str) -> Value {
    parse(text).unwrap_or_else(|| panic!("invalid json in test: {text}"))
}

fn meta() -> BuiltinPatchMeta<'static> {
    BuiltinPatchMeta::new("Deployment")
}

fn deployment(spec: &str) -> Value {
    v(&format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"web","namespace":"default"}},"spec":{spec}}}"#
    ))
}

fn ssa(
    live: Option<&Value>,
    applied: &Value,
    manager: &str,
    force: bool,
) -> Result<ApplyResult, ApplyError> {
    apply(live, applied, manager, force, &meta(), T1)
}

fn at<'v>(object: &'v Value, dotted: &str) -> Option<&'v Value> {
    let path: Vec<PathElement> = dotted
        .split('.')
        .map(|s| PathElement::Field(s.to_owned()))
        .collect();
    get_at(object, &path, &meta())
}

fn managers(result: &ApplyResult) -> Vec<(String, String)> {
    result
        .managed_fields
        .iter()
        .map(|e| (e.manager.clone(), e.operation.clone()))
        .collect()
}

#[test]
fn create_records_upstream_shaped_managed_fields() {
    let applied = deployment(
        r#"{"replicas":2,"template":{"spec":{"containers":[{"name":"app","image":"nginx"}]}}}"#,
    );
    let result = ssa(None, &applied, "kubectl", false).unwrap();
    let entries = at(&result.object, "metadata.managedFields").expect("managedFields written");
    assert_eq!(
        miniserde::json::to_string(entries),
        r#"[{"apiVersion":"apps/v1","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:name":{}}}}}}},"manager":"kubectl","operation":"Apply","time":"2024-05-01T11:00:00Z"}]"#
    );
    assert!(values_equal(
        at(&result.object, "spec").unwrap(),
        at(&applied, "spec").unwrap()
    ));
    assert!(matches!(at(&result.object, "metadata.name"), Some(Value::String(n)) if n == "web"));
    assert_eq!(entries_of(&result.object, &meta()), result.managed_fields);
}

#[test]
fn reapplying_is_stable_and_omitted_fields_are_removed() {
    let first = ssa(
        None,
        &deployment(r#"{"replicas":2,"paused":false,"minReadySeconds":5}"#),
        "kubectl",
        false,
    )
    .unwrap();
    let again = ssa(
        Some(&first.object),
        &deployment(r#"{"replicas":2,"paused":false,"minReadySeconds":5}"#),
        "kubectl",
        false,
    )
    .unwrap();
    assert_eq!(
        again.managed_fields[0].fields,
        first.managed_fields[0].fields
    );
    let trimmed = ssa(
        Some(&again.object),
        &deployment(r#"{"replicas":2}"#),
        "kubectl",
        false,
    )
    .unwrap();
    assert!(at(&trimmed.object, "spec.paused").is_none());
    assert!(at(&trimmed.object, "spec.minReadySeconds").is_none());
    assert!(at(&trimmed.object, "spec.replicas").is_some());
}

#[test]
fn omitted_fields_another_manager_owns_stay() {
    let first = ssa(
        None,
        &deployment(r#"{"replicas":2,"paused":true}"#),
        "a",
        false,
    )
    .unwrap();
    let shared = ssa(
        Some(&first.object),
        &deployment(r#"{"paused":true}"#),
        "b",
        false,
    )
    .unwrap();
    let dropped = ssa(
        Some(&shared.object),
        &deployment(r#"{"replicas":2}"#),
        "a",
        false,
    )
    .unwrap();
    assert!(matches!(
        at(&dropped.object, "spec.paused"),
        Some(Value::Bool(true))
    ));
}

#[test]
fn removal_prunes_maps_left_empty() {
    let first = ssa(None, &v(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c","labels":{"a":"1"}},"data":{"k":"v"}}"#), "m", false).unwrap();
    let second = ssa(
        Some(&first.object),
        &v(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"}}"#),
        "m",
        false,
    )
    .unwrap();
    assert!(at(&second.object, "metadata.labels").is_none());
    assert!(at(&second.object, "metadata.name").is_some());
}

#[test]
fn conflicting_appliers_and_force() {
    let first = ssa(None, &deployment(r#"{"replicas":1}"#), "alice", false).unwrap();
    let err = ssa(
        Some(&first.object),
        &deployment(r#"{"replicas":3}"#),
        "bob",
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "alice": .spec.replicas"#
    );
    assert_eq!(err.http_status(), 409);
    let ApplyError::Conflict(conflicts) = &err else {
        panic!("conflict expected")
    };
    assert_eq!(conflicts[0].cause_message(), r#"conflict with "alice""#);
    assert_eq!(conflicts[0].field, ".spec.replicas");

    let forced = ssa(
        Some(&first.object),
        &deployment(r#"{"replicas":3}"#),
        "bob",
        true,
    )
    .unwrap();
    assert!(matches!(
        at(&forced.object, "spec.replicas"),
        Some(Value::Number(_))
    ));
    assert_eq!(
        managers(&forced),
        vec![("bob".to_owned(), "Apply".to_owned())]
    );
    // alice lost the field: omitting it later does not remove bob's value.
    let alice = ssa(Some(&forced.object), &deployment("{}"), "alice", false).unwrap();
    assert!(at(&alice.object, "spec.replicas").is_some());
}

#[test]
fn same_value_is_shared_not_a_conflict() {
    let first = ssa(None, &deployment(r#"{"replicas":1}"#), "alice", false).unwrap();
    let both = ssa(
        Some(&first.object),
        &deployment(r#"{"replicas":1}"#),
        "bob",
        false,
    )
    .unwrap();
    assert_eq!(both.managed_fields.len(), 2);
}

#[test]
fn conflicts_with_client_side_apply_and_scale_updaters() {
    let created = record_update(
        None,
        &deployment(r#"{"replicas":1,"paused":false}"#),
        "kubectl-client-side-apply",
        &meta(),
        T0,
    )
    .unwrap();
    let err = ssa(
        Some(&created.object),
        &deployment(r#"{"replicas":3,"paused":false}"#),
        "kubectl",
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
    );
    let applied = ssa(
        Some(&created.object),
        &deployment(r#"{"replicas":1}"#),
        "kubectl",
        false,
    )
    .unwrap();
    let mut scaled_object = applied.object.clone();
    if let Value::Object(root) = &mut scaled_object
        && let Some(Value::Object(spec)) = root.get_mut("spec")
    {
        spec.insert(
            "replicas".into(),
            Value::Number(miniserde::json::Number::U64(5)),
        );
    }
    let scaled = record_update(
        Some(&applied.object),
        &scaled_object,
        "kubectl-scale",
        &meta(),
        T1,
    )
    .unwrap();
    let owners: Vec<&str> = scaled
        .managed_fields
        .iter()
        .filter(|e| {
            e.fields
                .iter()
                .any(|p| DisplayPath(p).to_string() == ".spec.replicas")
        })
        .map(|e| e.manager.as_str())
        .collect();
    assert_eq!(owners, ["kubectl-scale"]);
    let err = ssa(
        Some(&scaled.object),
        &deployment(r#"{"replicas":1}"#),
        "kubectl",
        false,
    )
    .unwrap_err();
    assert!(
        err.to_string()
            .contains(r#"conflict with "kubectl-scale" using apps/v1"#),
        "{err}"
    );
}

#[test]
fn several_conflicts_are_grouped_by_manager() {
    let a = ssa(
        None,
        &deployment(r#"{"replicas":1,"paused":false}"#),
        "a",
        false,
    )
    .unwrap();
    let b = ssa(
        Some(&a.object),
        &deployment(r#"{"minReadySeconds":1}"#),
        "b",
        false,
    )
    .unwrap();
    let err = ssa(
        Some(&b.object),
        &deployment(r#"{"replicas":2,"paused":true,"minReadySeconds":2}"#),
        "c",
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "Apply failed with 3 conflicts: conflicts with \"a\":\n- .spec.paused\n- .spec.replicas\nconflicts with \"b\":\n- .spec.minReadySeconds"
    );
}

#[test]
fn keyed_lists_merge_items_and_drop_omitted_ones() {
    let spec = |containers: &str| {
        deployment(&format!(
            r#"{{"template":{{"spec":{{"containers":{containers}}}}}}}"#
        ))
    };
    let first = ssa(
        None,
        &spec(r#"[{"name":"a","image":"a:1"},{"name":"b","image":"b:1"}]"#),
        "kubectl",
        false,
    )
    .unwrap();
    // Another writer adds a sidecar; the applier's next configuration drops b.
    let mut with_sidecar = first.object.clone();
    let sidecar = v(r#"{"name":"sidecar","image":"s:1"}"#);
    if let Some(Value::Array(list)) = containers_mut(&mut with_sidecar) {
        list.push(sidecar);
    }
    let injected =
        record_update(Some(&first.object), &with_sidecar, "injector", &meta(), T0).unwrap();
    let second = ssa(
        Some(&injected.object),
        &spec(r#"[{"name":"a","image":"a:2"}]"#),
        "kubectl",
        false,
    )
    .unwrap();
    let names: Vec<String> = match at(&second.object, "spec.template.spec.containers") {
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| match i {
                Value::Object(o) => format!(
                    "{}={}",
                    string_at(i, "name"),
                    miniserde::json::to_string(o.get("image").unwrap())
                ),
                _ => String::new(),
            })
            .collect(),
        _ => panic!("containers expected"),
    };
    assert_eq!(names, [r#"a="a:2""#, r#"sidecar="s:1""#]);
}

fn containers_mut(object: &mut Value) -> Option<&mut Value> {
    let Value::Object(root) = object else {
        return None;
    };
    let Some(Value::Object(spec)) = root.get_mut("spec") else {
        return None;
    };
    let Some(Value::Object(template)) = spec.get_mut("template") else {
        return None;
    };
    let Some(Value::Object(pod)) = template.get_mut("spec") else {
        return None;
    };
    pod.get_mut("containers")
}

#[test]
fn finalizers_are_owned_per_value() {
    let cm = |finalizers: &str| {
        v(&format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"c","finalizers":{finalizers}}}}}"#
        ))
    };
    let a = apply(
        None,
        &cm(r#"["x","y"]"#),
        "a",
        false,
        &BuiltinPatchMeta::new("ConfigMap"),
        T0,
    )
    .unwrap();
    let b = apply(
        Some(&a.object),
        &cm(r#"["z"]"#),
        "b",
        false,
        &BuiltinPatchMeta::new("ConfigMap"),
        T0,
    )
    .unwrap();
    let a2 = apply(
        Some(&b.object),
        &cm(r#"["x"]"#),
        "a",
        false,
        &BuiltinPatchMeta::new("ConfigMap"),
        T0,
    )
    .unwrap();
    assert!(values_equal(
        at(&a2.object, "metadata.finalizers").unwrap(),
        &v(r#"["x","z"]"#)
    ));
}

#[test]
fn objects_without_managed_fields_belong_to_before_first_apply() {
    let legacy = deployment(r#"{"replicas":1}"#);
    let err = ssa(
        Some(&legacy),
        &deployment(r#"{"replicas":2}"#),
        "kubectl",
        false,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#
    );
}

#[test]
fn updates_track_changes_removals_and_resets() {
    let created = record_update(
        None,
        &deployment(r#"{"replicas":1,"paused":true}"#),
        "kubectl-create",
        &meta(),
        T0,
    )
    .unwrap();
    assert_eq!(
        managers(&created),
        vec![("kubectl-create".to_owned(), "Update".to_owned())]
    );
    let edited = record_update(
        Some(&created.object),
        &deployment(r#"{"replicas":1,"minReadySeconds":3}"#),
        "kubectl-edit",
        &meta(),
        T1,
    )
    .unwrap();
    let by = |m: &str| {
        edited
            .managed_fields
            .iter()
            .find(|e| e.manager == m)
            .map(|e| e.fields.len())
    };
    assert_eq!(by("kubectl-create"), Some(1)); // replicas; paused was removed
    assert_eq!(by("kubectl-edit"), Some(1)); // minReadySeconds
    let mut reset = deployment(r#"{"replicas":1}"#);
    if let Value::Object(root) = &mut reset
        && let Some(Value::Object(m)) = root.get_mut("metadata")
    {
        m.insert("managedFields".into(), Value::Array(Array::new()));
    }
    let cleared = record_update(Some(&edited.object), &reset, "kubectl-edit", &meta(), T1).unwrap();
    assert_eq!(managers(&cleared), Vec::<(String, String)>::new());
    assert!(at(&cleared.object, "metadata.managedFields").is_none());
}

#[test]
fn status_and_identity_are_never_owned_or_applied() {
    let live = ssa(None, &deployment(r#"{"replicas":1}"#), "kubectl", false).unwrap();
    let mut with_status = live.object.clone();
    if let Value::Object(root) = &mut with_status {
        root.insert("status".into(), v(r#"{"replicas":1}"#));
    }
    let applied = v(
        r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","uid":"forged"},"spec":{"replicas":1},"status":{"replicas":9}}"#,
    );
    let result = ssa(Some(&with_status), &applied, "kubectl", false).unwrap();
    assert!(values_equal(
        at(&result.object, "status").unwrap(),
        &v(r#"{"replicas":1}"#)
    ));
    assert!(at(&result.object, "metadata.uid").is_none());
    let encoded = miniserde::json::to_string(at(&result.object, "metadata.managedFields").unwrap());
    assert!(
        !encoded.contains("f:status") && !encoded.contains("f:name") && !encoded.contains("f:kind"),
        "{encoded}"
    );
}

#[test]
fn bad_inputs() {
    assert_eq!(
        ssa(None, &v("[]"), "m", false).unwrap_err(),
        ApplyError::NotAnObject
    );
    let deep = v(&format!(
        "{}1{}",
        r#"{"a":"#.repeat(10_000),
        "}".repeat(10_000)
    ));
    assert_eq!(
        ssa(None, &deep, "m", false).unwrap_err(),
        ApplyError::TooDeep
    );
    assert_eq!(
        ssa(Some(&deep), &v("{}"), "m", false).unwrap_err(),
        ApplyError::TooDeep
    );
}

#[test]
fn oversized_keyed_lists_are_refused_and_large_ones_work() {
    let containers = |n: usize| {
        (0..n)
            .map(|i| format!(r#"{{"name":"c{i}","image":"x"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let spec = |n: usize| {
        deployment(&format!(
            r#"{{"template":{{"spec":{{"containers":[{}]}}}}}}"#,
            containers(n)
        ))
    };
    let err = ssa(None, &spec(MAX_ASSOCIATIVE_ITEMS + 1), "m", false).unwrap_err();
    assert_eq!(err, ApplyError::ListTooLong);
    // Large lists are indexed: dropping 1,000 of 2,000 items is one pass, not 2,000^2 work.
    let first = ssa(None, &spec(2000), "m", false).unwrap();
    let second = ssa(Some(&first.object), &spec(1000), "m", false).unwrap();
    match at(&second.object, "spec.template.spec.containers") {
        Some(Value::Array(items)) => assert_eq!(items.len(), 1000),
        other => panic!("containers expected, got {other:?}"),
    }
}

#[test]
fn dropped_item_with_fields_owned_by_others_keeps_its_key() {
    let spec = |containers: &str| {
        deployment(&format!(
            r#"{{"template":{{"spec":{{"containers":{containers}}}}}}}"#
        ))
    };
    let first = ssa(
        None,
        &spec(r#"[{"name":"a","image":"a:1"}]"#),
        "kubectl",
        false,
    )
    .unwrap();
    let mut edited = first.object.clone();
    if let Some(Value::Array(list)) = containers_mut(&mut edited)
        && let Some(Value::Object(a)) = list.get_mut(0)
    {
        a.insert("args".into(), v(r#"["--debug"]"#));
    }
    let updated = record_update(Some(&first.object), &edited, "kubectl-edit", &meta(), T0).unwrap();
    let dropped = ssa(Some(&updated.object), &spec("[]"), "kubectl", false).unwrap();
    let remaining = at(&dropped.object, "spec.template.spec.containers").expect("list kept");
    assert!(
        values_equal(remaining, &v(r#"[{"name":"a","args":["--debug"]}]"#)),
        "{remaining:?}"
    );
}

#[test]
fn no_op_applies_and_updates_change_nothing() {
    let first = ssa(None, &deployment(r#"{"replicas":2}"#), "kubectl", false).unwrap();
    assert!(first.changed);
    let again = apply(
        Some(&first.object),
        &deployment(r#"{"replicas":2}"#),
        "kubectl",
        false,
        &meta(),
        "2030-01-01T00:00:00Z",
    )
    .unwrap();
    assert!(!again.changed);
    assert_eq!(
        miniserde::json::to_string(&again.object),
        miniserde::json::to_string(&first.object)
    );
    let same = record_update(
        Some(&first.object),
        &first.object,
        "kubectl-edit",
        &meta(),
        T0,
    )
    .unwrap();
    assert!(!same.changed);
    assert_eq!(
        managers(&same),
        vec![("kubectl".to_owned(), "Apply".to_owned())]
    );
}

#[test]
fn apply_configurations_must_not_set_managed_fields() {
    let mut applied = deployment(r#"{"replicas":2}"#);
    if let Value::Object(root) = &mut applied
        && let Some(Value::Object(m)) = root.get_mut("metadata")
    {
        m.insert("managedFields".into(), v(r#"[{"manager":"x"}]"#));
    }
    let err = ssa(None, &applied, "kubectl", false).unwrap_err();
    assert_eq!(err.to_string(), "metadata.managedFields must be nil");
    assert_eq!(err.http_status(), 400);
}

// Debug builds use the most stack per level; release needs far less.
#[test]
fn merges_at_the_depth_limit_fit_in_a_1_mib_stack() {
    let deep = |n: usize| format!("{}1{}", r#"{"a":"#.repeat(n), "}".repeat(n));
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            // managedFields nest four levels below the content they describe.
            let d = parse(&deep(MAX_DEPTH - 5)).unwrap();
            let meta = BuiltinPatchMeta::new("Pod");
            crate::patch::strategic::apply_strategic_merge_patch(d.clone(), &d, &meta).unwrap();
            crate::patch::merge_patch::apply_merge_patch(d.clone(), &d).unwrap();
            let r = apply(None, &d, "m", false, &meta, "t").unwrap();
            let r2 = apply(Some(&r.object), &d, "n", false, &meta, "t").unwrap();
            record_update(Some(&r2.object), &d, "u", &meta, "t").unwrap();
        })
        .unwrap();
    handle.join().unwrap();
}

#[test]
fn ports_are_keyed_by_number_and_protocol_with_tcp_default() {
    let spec = |ports: &str| {
        deployment(&format!(
            r#"{{"template":{{"spec":{{"containers":[{{"name":"dns","ports":{ports}}}]}}}}}}"#
        ))
    };
    let first = ssa(
        None,
        &spec(r#"[{"containerPort":53,"protocol":"UDP"},{"containerPort":53}]"#),
        "kubectl",
        false,
    )
    .unwrap();
    let encoded = miniserde::json::to_string(at(&first.object, "metadata.managedFields").unwrap());
    assert!(
        encoded.contains(r#"k:{\"containerPort\":53,\"protocol\":\"UDP\"}"#),
        "{encoded}"
    );
    assert!(
        encoded.contains(r#"k:{\"containerPort\":53,\"protocol\":\"TCP\"}"#),
        "{encoded}"
    );
    let ports = |object: &Value| match at(object, "spec.template.spec.containers") {
        Some(Value::Array(c)) => match &c[0] {
            Value::Object(o) => match o.get("ports") {
                Some(Value::Array(p)) => p.len(),
                _ => 0,
            },
            _ => 0,
        },
        _ => 0,
    };
    assert_eq!(ports(&first.object), 2);
    // The stored object gets protocol defaulted; a re-apply without it names the same item.
    let mut defaulted = first.object.clone();
    if let Some(Value::Array(list)) = containers_mut(&mut defaulted)
        && let Some(Value::Object(c)) = list.get_mut(0)
    {
        c.insert(
            "ports".into(),
            v(r#"[{"containerPort":53,"protocol":"UDP"},{"containerPort":53,"protocol":"TCP"}]"#),
        );
    }
    let again = ssa(
        Some(&defaulted),
        &spec(r#"[{"containerPort":53}]"#),
        "kubectl",
        false,
    )
    .unwrap();
    let kept = match at(&again.object, "spec.template.spec.containers") {
        Some(Value::Array(c)) => miniserde::json::to_string(&c[0]),
        _ => String::new(),
    };
    assert!(
        kept.contains(r#""protocol":"TCP""#) && !kept.contains("UDP"),
        "{kept}"
    );
}

#[test]
fn an_update_that_sets_managed_fields_keeps_them() {
    // kubectl's client-side to server-side migration: a JSON patch replaces managedFields
    // so that `kubectl` (Apply) owns what `kubectl-client-side-apply` (Update) owned.
    let created = record_update(
        None,
        &deployment(r#"{"replicas":1}"#),
        "kubectl-client-side-apply",
        &meta(),
        T0,
    )
    .unwrap();
    let mut migrated = created.object.clone();
    let entries = v(
        r#"[{"manager":"kubectl","operation":"Apply","apiVersion":"apps/v1","time":"2024-05-01T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":{"f:spec":{"f:replicas":{}}}}]"#,
    );
    if let Value::Object(root) = &mut migrated
        && let Some(Value::Object(md)) = root.get_mut("metadata")
    {
        md.insert("managedFields".into(), entries);
    }
    let result = record_update(Some(&created.object), &migrated, "kubectl", &meta(), T1).unwrap();
    assert_eq!(
        managers(&result),
        [("kubectl".to_owned(), APPLY.to_owned())]
    );
    // The next apply by `kubectl` may change the field without a conflict.
    let applied = ssa(
        Some(&result.object),
        &deployment(r#"{"replicas":2}"#),
        "kubectl",
        false,
    );
    assert!(
        applied.is_ok(),
        "{:?}",
        applied.err().map(|e| e.to_string())
    );
    // An update that leaves managedFields as they were still records its own manager.
    let mut scaled = result.object.clone();
    if let Value::Object(root) = &mut scaled
        && let Some(Value::Object(spec)) = root.get_mut("spec")
    {
        spec.insert("paused".into(), Value::Bool(true));
    }
    let result = record_update(Some(&result.object), &scaled, "kubectl-edit", &meta(), T1).unwrap();
    assert_eq!(
        managers(&result),
        [
            ("kubectl".to_owned(), APPLY.to_owned()),
            ("kubectl-edit".to_owned(), UPDATE.to_owned())
        ]
    );
}
