//! The subresources end to end through `ApiServer::handle` over a real store.

use futures_lite::future::block_on;
use miniserde::json::Value;

use crate::admission::tests::temp_store;
use crate::api::response::{ApiResponse, Body};
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::object::meta;

fn server() -> ApiServer {
    let server = ApiServer::new(temp_store(), "127.0.0.1:6443");
    let ns = r#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"default"}}"#;
    assert_eq!(
        call(
            &server,
            "POST",
            "/api/v1/namespaces",
            "application/json",
            ns
        )
        .0,
        201
    );
    // Pods need their ServiceAccount (ServiceAccount admission, as upstream); the
    // controller that creates `default` in every namespace does not run in these tests.
    let sa = r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}"#;
    let path = "/api/v1/namespaces/default/serviceaccounts";
    assert_eq!(call(&server, "POST", path, "application/json", sa).0, 201);
    server
}

fn call(
    server: &ApiServer,
    method: &str,
    path: &str,
    content_type: &str,
    body: &str,
) -> (u16, Value) {
    let req = ApiRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        content_type: Some(content_type.to_owned()),
        body: body.as_bytes().to_vec(),
        user: Some(User {
            name: "admin".to_owned(),
            groups: vec!["system:masters".to_owned()],
        }),
        ..ApiRequest::default()
    };
    let resp: ApiResponse = block_on(server.handle(req));
    let bytes = match resp.body {
        Body::Bytes(b) => b,
        Body::Shared(b) => b.to_vec(),
        Body::Stream(_) => Vec::new(),
    };
    (
        resp.status,
        meta::from_json_bytes(&bytes).unwrap_or(Value::Null),
    )
}

const JSON: &str = "application/json";
const MERGE: &str = "application/merge-patch+json";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";
const WEB: &str = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"c","image":"busybox"}]}}}}"#;

fn message(v: &Value) -> &str {
    meta::get_str(v, &["message"]).unwrap_or("")
}

#[test]
fn scale_reads_and_writes_the_deployment() {
    let s = server();
    assert_eq!(call(&s, "POST", DEPLOYMENTS, JSON, WEB).0, 201);
    let scale_path = format!("{DEPLOYMENTS}/web/scale");
    let (code, scale) = call(&s, "GET", &scale_path, JSON, "");
    assert_eq!(code, 200);
    assert_eq!(meta::get_str(&scale, &["kind"]), Some("Scale"));
    assert_eq!(meta::get_i64(&scale, &["spec", "replicas"]), Some(1));
    assert_eq!(
        meta::get_str(&scale, &["status", "selector"]),
        Some("app=web")
    );
    let (code, scaled) = call(
        &s,
        "PATCH",
        &scale_path,
        MERGE,
        r#"{"spec":{"replicas":3}}"#,
    );
    assert_eq!(code, 200);
    assert_eq!(meta::get_i64(&scaled, &["spec", "replicas"]), Some(3));
    let (_, deploy) = call(&s, "GET", &format!("{DEPLOYMENTS}/web"), JSON, "");
    assert_eq!(meta::get_i64(&deploy, &["spec", "replicas"]), Some(3));
    assert_eq!(meta::generation(&deploy), Some(2));
    assert_eq!(
        meta::resource_version(&deploy),
        meta::resource_version(&scaled)
    );

    let stale = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web","resourceVersion":"1"},"spec":{"replicas":5}}"#;
    let (code, err) = call(&s, "PUT", &scale_path, JSON, stale);
    assert_eq!(code, 409);
    assert_eq!(
        message(&err),
        "Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified; please apply your changes to the latest version and try again"
    );
    let (code, err) = call(
        &s,
        "PATCH",
        &scale_path,
        MERGE,
        r#"{"spec":{"replicas":-1}}"#,
    );
    assert_eq!(code, 422);
    assert_eq!(
        message(&err),
        "Scale.autoscaling \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
    );
    let fresh = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":0}}"#;
    let (code, scale) = call(&s, "PUT", &scale_path, JSON, fresh);
    assert_eq!(code, 200);
    assert_eq!(meta::get_i64(&scale, &["spec", "replicas"]), Some(0));
    assert_eq!(
        call(&s, "GET", &format!("{DEPLOYMENTS}/nope/scale"), JSON, "").0,
        404
    );
}

#[test]
fn custom_resources_scale_through_their_paths() {
    let s = server();
    let crd = miniserde::json::from_str(
        r#"{"metadata":{"name":"widgets.example.com"},"spec":{"group":"example.com","scope":"Namespaced",
        "names":{"plural":"widgets","kind":"Widget"},
        "versions":[{"name":"v1","served":true,"storage":true,
        "subresources":{"scale":{"specReplicasPath":".spec.size","statusReplicasPath":".status.size","labelSelectorPath":".status.sel"}}}]}}"#,
    )
    .unwrap();
    let resource = crate::registry::crd_versions(&crd)
        .unwrap()
        .remove(0)
        .resource;
    s.registry().borrow_mut().add_custom(resource).unwrap();
    let widgets = "/apis/example.com/v1/namespaces/default/widgets";
    let w = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w"},"spec":{"size":1}}"#;
    assert_eq!(call(&s, "POST", widgets, JSON, w).0, 201);
    let (code, scale) = call(
        &s,
        "PATCH",
        &format!("{widgets}/w/scale"),
        MERGE,
        r#"{"spec":{"replicas":4}}"#,
    );
    assert_eq!(code, 200, "{}", message(&scale));
    assert_eq!(meta::get_i64(&scale, &["spec", "replicas"]), Some(4));
    let (_, stored) = call(&s, "GET", &format!("{widgets}/w"), JSON, "");
    assert_eq!(meta::get_i64(&stored, &["spec", "size"]), Some(4));
}

const PODS: &str = "/api/v1/namespaces/default/pods";

fn pod(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"db"}}}},"spec":{{"containers":[{{"name":"c","image":"busybox"}}]}}}}"#
    )
}

#[test]
fn binding_assigns_a_node_once() {
    let s = server();
    assert_eq!(call(&s, "POST", PODS, JSON, &pod("p")).0, 201);
    let binding = r#"{"apiVersion":"v1","kind":"Binding","metadata":{"name":"p"},"target":{"kind":"Node","name":"n1"}}"#;
    let (code, status) = call(&s, "POST", &format!("{PODS}/p/binding"), JSON, binding);
    assert_eq!(code, 201);
    assert_eq!(meta::get_str(&status, &["status"]), Some("Success"));
    let (_, p) = call(&s, "GET", &format!("{PODS}/p"), JSON, "");
    assert_eq!(meta::get_str(&p, &["spec", "nodeName"]), Some("n1"));
    let (code, err) = call(&s, "POST", &format!("{PODS}/p/binding"), JSON, binding);
    assert_eq!(code, 409);
    assert_eq!(
        message(&err),
        "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""
    );
}

fn running(s: &ApiServer, name: &str) {
    let (code, _) = call(
        s,
        "PATCH",
        &format!("{PODS}/{name}/status"),
        MERGE,
        r#"{"status":{"phase":"Running"}}"#,
    );
    assert_eq!(code, 200);
}

#[test]
fn eviction_honours_the_budget() {
    let s = server();
    for name in ["a", "b"] {
        assert_eq!(call(&s, "POST", PODS, JSON, &pod(name)).0, 201);
        running(&s, name);
    }
    let pdbs = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";
    let pdb = r#"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"db"},"spec":{"minAvailable":1,"selector":{"matchLabels":{"app":"db"}}}}"#;
    assert_eq!(call(&s, "POST", pdbs, JSON, pdb).0, 201);
    let unobserved = r#"{"status":{"disruptionsAllowed":1,"currentHealthy":2,"desiredHealthy":1,"expectedPods":2}}"#;
    assert_eq!(
        call(&s, "PATCH", &format!("{pdbs}/db/status"), MERGE, unobserved).0,
        200
    );
    let eviction = |name: &str| {
        format!(r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{name}"}}}}"#)
    };
    let (code, err) = call(
        &s,
        "POST",
        &format!("{PODS}/a/eviction"),
        JSON,
        &eviction("a"),
    );
    assert_eq!(code, 429, "a budget its controller has not seen yet");
    assert!(format!("{err:?}").contains("is still being processed by the server"));
    let budget = r#"{"status":{"observedGeneration":1}}"#;
    assert_eq!(
        call(&s, "PATCH", &format!("{pdbs}/db/status"), MERGE, budget).0,
        200
    );
    let (code, _) = call(
        &s,
        "POST",
        &format!("{PODS}/a/eviction"),
        JSON,
        &eviction("a"),
    );
    assert_eq!(code, 201);
    let (_, spent) = call(&s, "GET", &format!("{pdbs}/db"), JSON, "");
    assert_eq!(
        meta::get_i64(&spent, &["status", "disruptionsAllowed"]),
        Some(0)
    );
    assert!(meta::get_str(&spent, &["status", "disruptedPods", "a"]).is_some());
    let (code, err) = call(
        &s,
        "POST",
        &format!("{PODS}/b/eviction"),
        JSON,
        &eviction("b"),
    );
    assert_eq!(code, 429);
    assert_eq!(
        message(&err),
        "Cannot evict pod as it would violate the pod's disruption budget."
    );
    // Without a budget selecting it, a pod is simply deleted.
    assert_eq!(call(&s, "DELETE", &format!("{pdbs}/db"), JSON, "").0, 200);
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("{PODS}/b/eviction"),
            JSON,
            &eviction("b")
        )
        .0,
        201
    );
    assert_eq!(
        call(
            &s,
            "POST",
            &format!("{PODS}/zz/eviction"),
            JSON,
            &eviction("zz")
        )
        .0,
        404
    );
}

#[test]
fn an_evicted_pod_gets_the_disruption_target_condition() {
    let s = server();
    let kept = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kept","finalizers":["test/keep"]},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;
    assert_eq!(call(&s, "POST", PODS, JSON, kept).0, 201);
    running(&s, "kept");
    let eviction = r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"kept"}}"#;
    assert_eq!(
        call(&s, "POST", &format!("{PODS}/kept/eviction"), JSON, eviction).0,
        201
    );
    let (_, evicted) = call(&s, "GET", &format!("{PODS}/kept"), JSON, "");
    assert!(meta::deletion_timestamp(&evicted).is_some());
    let target = crate::workloads::objects::condition(&evicted, "DisruptionTarget").unwrap();
    assert_eq!(meta::get_str(target, &["status"]), Some("True"));
    assert_eq!(
        meta::get_str(target, &["reason"]),
        Some("EvictionByEvictionAPI")
    );
    assert_eq!(
        meta::get_str(target, &["message"]),
        Some("Eviction API: evicting")
    );
}
