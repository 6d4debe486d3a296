//! The controllers against a real store in a temporary directory and the real ApiServer
//! (requests go through `ApiServer::handle`, no HTTP).

use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use miniserde::json::Value;
use wisp_store::{Options, Store};

use super::Controllers;
use crate::api::response::Body;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::bootstrap::{self, ApiEndpoint};
use crate::object::{conditions, meta};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn temp_dir() -> TempDir {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wisp-controllers-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    TempDir(dir)
}

struct Cluster {
    server: Rc<ApiServer>,
    _dir: TempDir,
}

fn cluster() -> Cluster {
    let dir = temp_dir();
    let store = Store::open(&dir.0, Options::default()).expect("store opens");
    let server = Rc::new(ApiServer::new(store, "127.0.0.1:6443"));
    let endpoint = ApiEndpoint {
        service_ip: "10.43.0.1".to_owned(),
        host_ip: "127.0.0.1".to_owned(),
        port: 6443,
    };
    block_on(bootstrap::ensure_builtin_objects(&server, &endpoint)).expect("bootstrap");
    Cluster { server, _dir: dir }
}

async fn call(server: &ApiServer, method: &str, path: &str, body: &str) -> (u16, Value) {
    let response = server
        .handle(ApiRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            content_type: Some(if method == "PATCH" {
                "application/merge-patch+json".to_owned()
            } else {
                "application/json".to_owned()
            }),
            body: body.as_bytes().to_vec(),
            user: Some(User {
                name: "admin".to_owned(),
                groups: vec!["system:masters".to_owned()],
            }),
            ..ApiRequest::default()
        })
        .await;
    let bytes: &[u8] = match &response.body {
        Body::Bytes(b) => b,
        Body::Shared(b) => b,
        Body::Stream(_) => &[],
    };
    let value = meta::from_json_bytes(bytes).unwrap_or(Value::Null);
    (response.status, value)
}

async fn expect(server: &ApiServer, method: &str, path: &str, body: &str, status: u16) -> Value {
    let (got, value) = call(server, method, path, body).await;
    assert_eq!(
        got,
        status,
        "{method} {path}: {}",
        miniserde::json::to_string(&value)
    );
    value
}

fn stored(server: &ApiServer, key: &str) -> Option<Value> {
    let kv = server.store().get(key.as_bytes())?;
    meta::from_json_bytes(&kv.value)
}

/// Waits (the controllers run meanwhile) until `done` holds, failing after 10 s.
async fn eventually(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        async_io::Timer::after(Duration::from_millis(2)).await;
    }
}

const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"widgets.example.com"},
  "spec":{"group":"example.com","scope":"Namespaced",
    "names":{"plural":"widgets","singular":"widget","kind":"Widget","shortNames":["wd"]},
    "versions":[{"name":"v1","served":true,"storage":true,
      "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}}}]}}"#;
const CRD_KEY: &str =
    "/registry/apiextensions.k8s.io/customresourcedefinitions/widgets.example.com";
const WIDGETS: &str = "/apis/example.com/v1/namespaces/default/widgets";

fn widget(name: &str) -> String {
    format!(
        r#"{{"apiVersion":"example.com/v1","kind":"Widget","metadata":{{"name":"{name}"}},"spec":{{"size":3,"extra":1}}}}"#
    )
}

async fn establish_widgets(server: &ApiServer) {
    expect(
        server,
        "POST",
        "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
        CRD,
        201,
    )
    .await;
    eventually("the CRD to be established", || {
        stored(server, CRD_KEY)
            .is_some_and(|crd| conditions::status(&crd, "Established") == Some("True"))
    })
    .await;
}

#[test]
fn crd_serves_custom_resources_by_plural() {
    let cluster = cluster();
    let server = &cluster.server;
    let controllers = Controllers::start(server);
    block_on(controllers.run_until(async {
        establish_widgets(server).await;
        let crd = stored(server, CRD_KEY).unwrap();
        assert_eq!(conditions::status(&crd, "NamesAccepted"), Some("True"));
        assert_eq!(
            meta::get_str(&crd, &["status", "acceptedNames", "listKind"]),
            Some("WidgetList")
        );
        let created = expect(server, "POST", WIDGETS, &widget("w1"), 201).await;
        // The schema is in the catalog: unknown fields are pruned.
        assert!(meta::get_path(&created, &["spec", "extra"]).is_none());
        let list = expect(server, "GET", WIDGETS, "", 200).await;
        assert!(matches!(meta::get_path(&list, &["items"]), Some(Value::Array(a)) if a.len() == 1));
        expect(server, "DELETE", &format!("{WIDGETS}/w1"), "", 200).await;
        expect(server, "GET", &format!("{WIDGETS}/w1"), "", 404).await;
    }))
    .unwrap();
}

#[test]
fn crd_delete_removes_its_custom_resources_then_the_types() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        establish_widgets(server).await;
        for name in ["a", "b"] {
            expect(server, "POST", WIDGETS, &widget(name), 201).await;
        }
        // A finalizer holds one instance, and with it the CRD, in Terminating.
        let held = r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"held","finalizers":["example.com/hold"]}}"#;
        expect(server, "POST", WIDGETS, held, 201).await;
        let deleting = expect(
            server,
            "DELETE",
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com",
            "",
            200,
        )
        .await;
        assert_eq!(conditions::status(&deleting, "Terminating"), Some("True"));
        eventually("the free instances to go", || {
            server.store().range(b"/registry/example.com/widgets/", 0, None).kvs.len() == 1
        })
        .await;
        let refused = expect(server, "POST", WIDGETS, &widget("late"), 405).await;
        assert_eq!(
            meta::get_str(&refused, &["message"]),
            Some("create not allowed while custom resource definition is terminating")
        );
        assert!(stored(server, CRD_KEY).is_some());
        expect(server, "PATCH", &format!("{WIDGETS}/held"), r#"{"metadata":{"finalizers":null}}"#, 200).await;
        eventually("the CRD to go", || stored(server, CRD_KEY).is_none()).await;
        // It went only after its custom resources.
        assert!(
            server
                .store()
                .range(b"/registry/example.com/widgets/", 0, None)
                .kvs
                .is_empty()
        );
        eventually("the type to go", || {
            server
                .registry()
                .borrow()
                .by_plural("example.com", "widgets")
                .is_none()
        })
        .await;
        expect(server, "GET", WIDGETS, "", 404).await;
    }))
    .unwrap();
}

#[test]
fn stored_crds_are_served_when_start_returns() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(establish_widgets(server))).unwrap();
    let restarted = Rc::new(ApiServer::new(server.store().clone(), "127.0.0.1:6443"));
    let _controllers = Controllers::start(&restarted);
    assert!(
        restarted
            .registry()
            .borrow()
            .by_plural("example.com", "widgets")
            .is_some()
    );
}

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

fn cm_key(name: &str) -> String {
    format!("/registry/core/configmaps/default/{name}")
}

/// An owner ConfigMap and two dependents that name it (blocking its foreground deletion).
async fn owner_with_dependents(server: &ApiServer) -> String {
    let owner = expect(
        server,
        "POST",
        CONFIGMAPS,
        r#"{"metadata":{"name":"owner"}}"#,
        201,
    )
    .await;
    let uid = meta::uid(&owner).unwrap().to_owned();
    for name in ["dep-1", "dep-2"] {
        let body = format!(
            r#"{{"metadata":{{"name":"{name}","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}","blockOwnerDeletion":true}}]}}}}"#
        );
        expect(server, "POST", CONFIGMAPS, &body, 201).await;
    }
    uid
}

fn delete_body(policy: &str) -> String {
    format!(r#"{{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"{policy}"}}"#)
}

#[test]
fn foreground_deletion_removes_dependents_before_the_owner() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        owner_with_dependents(server).await;
        let deleting = expect(
            server,
            "DELETE",
            &format!("{CONFIGMAPS}/owner"),
            &delete_body("Foreground"),
            200,
        )
        .await;
        assert!(meta::finalizers(&deleting).contains(&"foregroundDeletion"));
        eventually("the owner to go", || {
            stored(server, &cm_key("owner")).is_none()
        })
        .await;
        // The owner went last: its dependents were gone by then.
        assert!(stored(server, &cm_key("dep-1")).is_none());
        assert!(stored(server, &cm_key("dep-2")).is_none());
    }))
    .unwrap();
}

#[test]
fn orphan_deletion_keeps_dependents_without_the_reference() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        owner_with_dependents(server).await;
        expect(
            server,
            "DELETE",
            &format!("{CONFIGMAPS}/owner"),
            &delete_body("Orphan"),
            200,
        )
        .await;
        eventually("the owner to go", || {
            stored(server, &cm_key("owner")).is_none()
        })
        .await;
        for name in ["dep-1", "dep-2"] {
            let dependent = stored(server, &cm_key(name)).expect("an orphan stays");
            assert!(meta::get_path(&dependent, &["metadata", "ownerReferences"]).is_none());
        }
    }))
    .unwrap();
}

#[test]
fn background_deletion_collects_dependents() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        owner_with_dependents(server).await;
        expect(server, "DELETE", &format!("{CONFIGMAPS}/owner"), "", 200).await;
        assert!(stored(server, &cm_key("owner")).is_none());
        eventually("the dependents to go", || {
            stored(server, &cm_key("dep-1")).is_none() && stored(server, &cm_key("dep-2")).is_none()
        })
        .await;
    }))
    .unwrap();
}

#[test]
fn dependent_with_another_live_owner_loses_only_the_dead_reference() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        let a = expect(server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"a"}}"#, 201).await;
        let b = expect(server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"b"}}"#, 201).await;
        let refs = [("a", meta::uid(&a).unwrap()), ("b", meta::uid(&b).unwrap())]
            .iter()
            .map(|(n, u)| format!(r#"{{"apiVersion":"v1","kind":"ConfigMap","name":"{n}","uid":"{u}"}}"#))
            .collect::<Vec<_>>()
            .join(",");
        let body = format!(r#"{{"metadata":{{"name":"shared","ownerReferences":[{refs}]}}}}"#);
        expect(server, "POST", CONFIGMAPS, &body, 201).await;
        expect(server, "DELETE", &format!("{CONFIGMAPS}/a"), "", 200).await;
        eventually("the dead reference to go", || {
            stored(server, &cm_key("shared")).is_some_and(|o| {
                matches!(meta::get_path(&o, &["metadata", "ownerReferences"]), Some(Value::Array(r)) if r.len() == 1)
            })
        })
        .await;
    }))
    .unwrap();
}

#[test]
fn namespace_deletion_removes_content_then_the_namespace() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        establish_widgets(server).await;
        expect(
            server,
            "POST",
            "/api/v1/namespaces",
            r#"{"metadata":{"name":"doomed"}}"#,
            201,
        )
        .await;
        for i in 0..5 {
            let body = format!(r#"{{"metadata":{{"name":"cm-{i}"}}}}"#);
            expect(
                server,
                "POST",
                "/api/v1/namespaces/doomed/configmaps",
                &body,
                201,
            )
            .await;
        }
        expect(
            server,
            "POST",
            "/apis/example.com/v1/namespaces/doomed/widgets",
            &widget("w"),
            201,
        )
        .await;
        expect(server, "DELETE", "/api/v1/namespaces/kube-system", "", 403).await;
        let deleting = expect(server, "DELETE", "/api/v1/namespaces/doomed", "", 200).await;
        assert_eq!(
            meta::get_str(&deleting, &["status", "phase"]),
            Some("Terminating")
        );
        // Creation in a terminating namespace is refused.
        expect(
            server,
            "POST",
            "/api/v1/namespaces/doomed/configmaps",
            r#"{"metadata":{"name":"late"}}"#,
            403,
        )
        .await;
        eventually("the namespace to go", || {
            stored(server, "/registry/core/namespaces/doomed").is_none()
        })
        .await;
        assert!(
            server
                .store()
                .range(b"/registry/core/configmaps/doomed/", 0, None)
                .kvs
                .is_empty()
        );
        assert!(
            server
                .store()
                .range(b"/registry/example.com/widgets/doomed/", 0, None)
                .kvs
                .is_empty()
        );
    }))
    .unwrap();
}

#[test]
fn namespace_waits_for_finalizers_with_upstream_conditions() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        expect(server, "POST", "/api/v1/namespaces", r#"{"metadata":{"name":"held"}}"#, 201).await;
        let body = r#"{"metadata":{"name":"kept","finalizers":["example.com/hold"]}}"#;
        expect(server, "POST", "/api/v1/namespaces/held/configmaps", body, 201).await;
        expect(server, "DELETE", "/api/v1/namespaces/held", "", 200).await;
        let key = "/registry/core/namespaces/held";
        eventually("the remaining-content condition", || {
            stored(server, key).is_some_and(|ns| conditions::status(&ns, "NamespaceFinalizersRemaining") == Some("True"))
        })
        .await;
        let ns = stored(server, key).unwrap();
        let Some(Value::Array(list)) = meta::get_path(&ns, &["status", "conditions"]) else {
            panic!("no conditions");
        };
        let message = |t: &str| {
            list.iter()
                .find(|c| meta::get_str(c, &["type"]) == Some(t))
                .and_then(|c| meta::get_str(c, &["message"]))
                .unwrap_or("")
                .to_owned()
        };
        assert_eq!(message("NamespaceContentRemaining"), "Some resources are remaining: configmaps. has 1 resource instances");
        assert_eq!(
            message("NamespaceFinalizersRemaining"),
            "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
        );
        assert_eq!(conditions::status(&ns, "NamespaceDeletionDiscoveryFailure"), Some("False"));
        // Releasing the finalizer lets the namespace go.
        expect(
            server,
            "PATCH",
            "/api/v1/namespaces/held/configmaps/kept",
            r#"{"metadata":{"finalizers":null}}"#,
            200,
        )
        .await;
        eventually("the namespace to go", || stored(server, key).is_none()).await;
    }))
    .unwrap();
}

#[test]
fn scale_subresource_reads_and_writes_the_replica_paths() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        let crd = CRD.replace(
            r#""served":true,"storage":true,"#,
            r#""served":true,"storage":true,"subresources":{"status":{},"scale":{"specReplicasPath":".spec.size","statusReplicasPath":".status.size","labelSelectorPath":".status.selector"}},"#,
        );
        expect(server, "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", &crd, 201).await;
        eventually("the CRD to be established", || {
            stored(server, CRD_KEY).is_some_and(|c| conditions::status(&c, "Established") == Some("True"))
        })
        .await;
        expect(server, "POST", WIDGETS, &widget("w"), 201).await;
        let scale = expect(server, "GET", &format!("{WIDGETS}/w/scale"), "", 200).await;
        assert_eq!(meta::get_str(&scale, &["kind"]), Some("Scale"));
        assert_eq!(meta::get_i64(&scale, &["spec", "replicas"]), Some(3));
        let patched = expect(server, "PATCH", &format!("{WIDGETS}/w/scale"), r#"{"spec":{"replicas":5}}"#, 200).await;
        assert_eq!(meta::get_i64(&patched, &["spec", "replicas"]), Some(5));
        let object = expect(server, "GET", &format!("{WIDGETS}/w"), "", 200).await;
        assert_eq!(meta::get_i64(&object, &["spec", "size"]), Some(5));
        assert_eq!(meta::generation(&object), Some(2));
        let stale = r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"w","resourceVersion":"1"},"spec":{"replicas":1}}"#;
        expect(server, "PUT", &format!("{WIDGETS}/w/scale"), stale, 409).await;
        let deployment = r#"{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"d"}},"template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#;
        let path = "/apis/apps/v1/namespaces/default/deployments";
        expect(server, "POST", path, deployment, 201).await;
        let scale = expect(server, "PATCH", &format!("{path}/d/scale"), r#"{"spec":{"replicas":4}}"#, 200).await;
        assert_eq!(meta::get_str(&scale, &["status", "selector"]), Some("app=d"));
        let object = expect(server, "GET", &format!("{path}/d"), "", 200).await;
        assert_eq!(meta::get_i64(&object, &["spec", "replicas"]), Some(4));
    }))
    .unwrap();
}

/// Timings for the report (debug builds are ~5x slower than release):
/// `cargo test -p wisp-core --lib controllers::tests::timing -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn timing_namespace_and_cascade_deletion() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(Controllers::start(server).run_until(async {
        for count in [100, 1000] {
            expect(server, "POST", "/api/v1/namespaces", r#"{"metadata":{"name":"big"}}"#, 201).await;
            for i in 0..count {
                let body = format!(r#"{{"metadata":{{"name":"cm-{i}"}}}}"#);
                expect(server, "POST", "/api/v1/namespaces/big/configmaps", &body, 201).await;
            }
            let started = Instant::now();
            expect(server, "DELETE", "/api/v1/namespaces/big", "", 200).await;
            eventually("the namespace to go", || stored(server, "/registry/core/namespaces/big").is_none()).await;
            eprintln!("namespace with {count} configmaps deleted in {} ms", started.elapsed().as_millis());
        }
        let owner = expect(server, "POST", CONFIGMAPS, r#"{"metadata":{"name":"owner"}}"#, 201).await;
        let uid = meta::uid(&owner).unwrap().to_owned();
        for i in 0..100 {
            let body = format!(
                r#"{{"metadata":{{"name":"d-{i}","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}","blockOwnerDeletion":true}}]}}}}"#
            );
            expect(server, "POST", CONFIGMAPS, &body, 201).await;
        }
        let started = Instant::now();
        expect(server, "DELETE", &format!("{CONFIGMAPS}/owner"), &delete_body("Foreground"), 200).await;
        eventually("the owner to go", || stored(server, &cm_key("owner")).is_none()).await;
        eprintln!("foreground deletion of an owner with 100 dependents in {} ms", started.elapsed().as_millis());
    }))
    .unwrap();
}

/// Start-up cost of the one list all controllers share:
/// `cargo test -p wisp-core --lib controllers::tests::timing_start -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn timing_start_over_2000_objects() {
    let cluster = cluster();
    let server = &cluster.server;
    block_on(async {
        let owner = expect(
            server,
            "POST",
            CONFIGMAPS,
            r#"{"metadata":{"name":"owner"}}"#,
            201,
        )
        .await;
        let uid = meta::uid(&owner).unwrap().to_owned();
        for i in 0..2000 {
            let refs = if i % 2 == 0 {
                format!(
                    r#","ownerReferences":[{{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"{uid}"}}]"#
                )
            } else {
                String::new()
            };
            let body = format!(r#"{{"metadata":{{"name":"cm-{i}"{refs}}},"data":{{"k":"v"}}}}"#);
            expect(server, "POST", CONFIGMAPS, &body, 201).await;
        }
    });
    let restarted = Rc::new(ApiServer::new(server.store().clone(), "127.0.0.1:6443"));
    let started = Instant::now();
    let controllers = Controllers::start(&restarted);
    eprintln!(
        "controllers started over {} keys in {} ms, tracking {} dependents",
        server.store().len(),
        started.elapsed().as_millis(),
        controllers.gc.tracked()
    );
}
