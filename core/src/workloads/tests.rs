//! The workload controllers and the scheduler together against a real API server over a
//! real store (its in-memory backend). The node agent is simulated: a Node object created
//! by the test, pods marked Running and Ready by the test's status writes, and graceful
//! deletions finished by the test with a zero grace period.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::Value;
use wisp_store::Store;
use wisp_store::sim_backend::SimBackend;

use super::client::keys;
use super::objects;
use crate::api::response::Body;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::bootstrap::{self, ApiEndpoint};
use crate::object::meta;
use crate::patch::value::parse;

pub struct Cluster {
    executor: Rc<LocalExecutor<'static>>,
    server: Rc<ApiServer>,
    /// Where the volume binder (crate::storage) provisions local-path volumes.
    pub storage_root: std::path::PathBuf,
}

pub const NODE: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"node1","labels":{"kubernetes.io/hostname":"node1"}},
  "status":{"allocatable":{"cpu":"2","memory":"4Gi","pods":"110"},"capacity":{"cpu":"2","memory":"4Gi","pods":"110"}}}"#;

pub fn deployment(name: &str, replicas: i64, extra_spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"Deployment","metadata":{{"name":"{name}","namespace":"default"}},
        "spec":{{"replicas":{replicas},{extra_spec}"selector":{{"matchLabels":{{"app":"{name}"}}}},
        "template":{{"metadata":{{"labels":{{"app":"{name}"}}}},"spec":{{"containers":[{{"name":"c","image":"busybox"}}]}}}}}}}}"#
    )
}

impl Cluster {
    pub fn new() -> Cluster {
        let options = wisp_store::Options {
            volatile_prefixes: vec![b"/registry/core/events/".to_vec()],
            ..wisp_store::Options::default()
        };
        let store = Store::open_with(Arc::new(SimBackend::new()), options).expect("store opens");
        let server = Rc::new(ApiServer::new(store, "127.0.0.1:6443"));
        let executor = Rc::new(LocalExecutor::new());
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let storage_root = std::env::temp_dir().join(format!(
            "wisp-storage-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let c = Cluster {
            executor,
            server,
            storage_root,
        };
        let endpoint = ApiEndpoint {
            service_ip: "10.43.0.1".into(),
            host_ip: "127.0.0.1".into(),
            port: 6443,
        };
        c.run(bootstrap::ensure_builtin_objects(&c.server, &endpoint))
            .expect("bootstrap");
        // Pods need their ServiceAccount (ServiceAccount admission, as upstream); the auth
        // controller that creates `default` in every namespace does not run here.
        c.create(
            "/api/v1/namespaces/default/serviceaccounts",
            r#"{"apiVersion":"v1","kind":"ServiceAccount","metadata":{"name":"default"}}"#,
        );
        super::spawn(&c.executor, &c.server);
        crate::scheduler::spawn(&c.executor, &c.server);
        crate::storage::spawn(&c.executor, &c.server, c.storage_root.clone());
        c
    }

    pub fn server(&self) -> &Rc<ApiServer> {
        &self.server
    }

    pub fn executor(&self) -> &Rc<LocalExecutor<'static>> {
        &self.executor
    }

    pub fn run<T>(&self, fut: impl std::future::Future<Output = T>) -> T {
        futures_lite::future::block_on(self.executor.run(fut))
    }

    /// A request as the cluster admin; panics on an error status.
    pub fn request(&self, method: &str, path: &str, content_type: &str, body: &str) -> Value {
        let (status, text) = self.try_request(method, path, content_type, body);
        assert!(status < 300, "{method} {path} answered {status}: {text}");
        parse(&text).unwrap_or(Value::Null)
    }

    /// A request as the cluster admin: the status code and the body text.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, String) {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let query = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let req = ApiRequest {
            method: method.into(),
            path: path.into(),
            query,
            content_type: Some(content_type.into()),
            body: body.as_bytes().to_vec(),
            user: Some(User {
                name: "admin".into(),
                groups: vec!["system:masters".into()],
            }),
            ..ApiRequest::default()
        };
        let resp = self.run(self.server.handle(req));
        let bytes: Vec<u8> = match resp.body {
            Body::Bytes(b) => b,
            Body::Shared(b) => b.to_vec(),
            Body::Stream(_) => Vec::new(),
        };
        (resp.status, String::from_utf8_lossy(&bytes).into_owned())
    }

    pub fn create(&self, path: &str, body: &str) -> Value {
        self.request("POST", path, "application/json", body)
    }

    pub fn merge(&self, path: &str, body: &str) -> Value {
        self.request("PATCH", path, "application/merge-patch+json", body)
    }

    /// Runs the controllers until the store has been quiet for a while.
    pub fn settle(&self) {
        let store = self.server.store().clone();
        self.run(async move {
            let mut last = store.current_revision();
            let mut quiet = 0;
            while quiet < 4 {
                async_io::Timer::after(Duration::from_millis(40)).await;
                let now = store.current_revision();
                if now == last {
                    quiet += 1;
                } else {
                    (last, quiet) = (now, 0);
                }
            }
        });
    }

    pub fn get(&self, key: &str) -> Value {
        let kv = self
            .server
            .store()
            .get(key.as_bytes())
            .unwrap_or_else(|| panic!("{key} exists"));
        meta::from_json_bytes(&kv.value).expect("stored JSON")
    }

    pub fn list(&self, prefix: &str) -> Vec<Value> {
        let r = self.server.store().range(prefix.as_bytes(), 0, None);
        r.kvs
            .iter()
            .filter_map(|kv| meta::from_json_bytes(&kv.value))
            .collect()
    }

    pub fn deployment(&self, name: &str) -> Value {
        self.get(&keys::object(keys::DEPLOYMENTS, "default", name))
    }

    pub fn replica_sets(&self) -> Vec<Value> {
        self.list(&keys::in_namespace(keys::REPLICA_SETS, "default"))
    }

    /// Pods neither finished nor being deleted.
    pub fn active_pods(&self) -> Vec<Value> {
        self.list(&keys::in_namespace(keys::PODS, "default"))
            .into_iter()
            .filter(objects::is_active)
            .collect()
    }

    /// The simulated node agent: bound pods become Running and Ready; pods being deleted
    /// are removed.
    pub fn node_agent_step(&self) {
        self.settle();
        for pod in self.list(&keys::in_namespace(keys::PODS, "default")) {
            let name = meta::name(&pod).unwrap_or("").to_owned();
            let path = format!("/api/v1/namespaces/default/pods/{name}");
            if objects::is_deleting(&pod) {
                self.request(
                    "DELETE",
                    &format!("{path}?gracePeriodSeconds=0"),
                    "application/json",
                    "",
                );
                continue;
            }
            let bound = meta::get_str(&pod, &["spec", "nodeName"]).is_some();
            if bound && !objects::is_ready(&pod) {
                let now = crate::workloads::deployment::now_rfc3339();
                let status = format!(
                    r#"{{"status":{{"phase":"Running","conditions":[{{"type":"PodScheduled","status":"True"}},{{"type":"Ready","status":"True","lastTransitionTime":"{now}"}}]}}}}"#
                );
                self.merge(&format!("{path}/status"), &status);
            }
        }
        self.settle();
    }

    /// The Node object, its status written as the node agent would (create drops status).
    pub fn add_node(&self) {
        let node = self.create("/api/v1/nodes", NODE);
        if meta::get_path(&node, &["status", "allocatable"]).is_none() {
            self.merge(
                "/api/v1/nodes/node1/status",
                &miniserde::json::to_string(&parse(NODE).unwrap()),
            );
        }
    }

    pub fn replica_set_named(&self, name: &str) -> Value {
        self.get(&keys::object(keys::REPLICA_SETS, "default", name))
    }
}

pub fn int_at(v: &Value, path: &[&str]) -> i64 {
    meta::get_i64(v, path).unwrap_or(0)
}

fn condition_reason(d: &Value, kind: &str) -> String {
    objects::condition(d, kind)
        .and_then(|c| meta::get_str(c, &["reason"]))
        .unwrap_or("")
        .to_owned()
}

const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/default/deployments";

fn started(replicas: i64, extra_spec: &str) -> Cluster {
    let c = Cluster::new();
    c.add_node();
    c.create(DEPLOYMENTS, &deployment("web", replicas, extra_spec));
    c.settle();
    c.node_agent_step();
    c
}

fn spec_replicas_by_revision(c: &Cluster) -> Vec<(String, i64, i64)> {
    let mut v: Vec<(String, i64, i64)> = c
        .replica_sets()
        .iter()
        .map(|rs| {
            (
                objects::annotation(rs, super::deployment::REVISION)
                    .unwrap_or("")
                    .to_owned(),
                int_at(rs, &["spec", "replicas"]),
                int_at(rs, &["status", "availableReplicas"]),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn deployment_gets_a_hashed_replica_set_and_bound_ready_pods() {
    let c = started(3, "");
    let rss = c.replica_sets();
    assert_eq!(rss.len(), 1);
    let rs = &rss[0];
    let hash = meta::get_str(rs, &["metadata", "labels", "pod-template-hash"]).expect("hash label");
    assert_eq!(meta::name(rs), Some(format!("web-{hash}").as_str()));
    assert_eq!(
        objects::annotation(rs, "deployment.kubernetes.io/revision"),
        Some("1")
    );
    assert_eq!(
        objects::annotation(rs, "deployment.kubernetes.io/desired-replicas"),
        Some("3")
    );
    assert_eq!(
        objects::annotation(rs, "deployment.kubernetes.io/max-replicas"),
        Some("4")
    );
    assert_eq!(objects::controller_of(rs).map(|r| r.0), Some("Deployment"));
    let pods = c.active_pods();
    assert_eq!(pods.len(), 3);
    for pod in &pods {
        assert_eq!(meta::get_str(pod, &["spec", "nodeName"]), Some("node1"));
        assert!(
            meta::name(pod)
                .unwrap()
                .starts_with(&format!("web-{hash}-"))
        );
        assert_eq!(
            meta::get_str(pod, &["metadata", "labels", "pod-template-hash"]),
            Some(hash)
        );
        let owner = &meta::get_path(pod, &["metadata", "ownerReferences"]).unwrap();
        let Value::Array(refs) = owner else {
            panic!("ownerReferences")
        };
        assert!(matches!(
            meta::get_path(&refs[0], &["blockOwnerDeletion"]),
            Some(Value::Bool(true))
        ));
    }
    let d = c.deployment("web");
    assert_eq!(
        objects::annotation(&d, "deployment.kubernetes.io/revision"),
        Some("1")
    );
    for field in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        assert_eq!(int_at(&d, &["status", field]), 3, "{field}");
    }
    assert_eq!(int_at(&d, &["status", "observedGeneration"]), 1);
    assert_eq!(
        condition_reason(&d, "Available"),
        "MinimumReplicasAvailable"
    );
    assert_eq!(
        condition_reason(&d, "Progressing"),
        "NewReplicaSetAvailable"
    );
    let events = c.list("/registry/core/events/default/");
    let with_reason = |reason: &str| -> Vec<String> {
        events
            .iter()
            .filter(|e| meta::get_str(e, &["reason"]) == Some(reason))
            .map(|e| meta::get_str(e, &["message"]).unwrap_or("").to_owned())
            .collect()
    };
    let rs_name = meta::name(rs).unwrap();
    assert_eq!(
        with_reason("ScalingReplicaSet"),
        vec![format!("Scaled up replica set {rs_name} from 0 to 3")]
    );
    assert_eq!(with_reason("SuccessfulCreate").len(), 3);
    assert_eq!(with_reason("Scheduled").len(), 3);
    let rs = c.replica_set_named(rs_name);
    assert_eq!(int_at(&rs, &["status", "availableReplicas"]), 3);
    assert_eq!(int_at(&rs, &["status", "fullyLabeledReplicas"]), 3);
}

#[test]
fn scaling_up_and_down_follows_spec_replicas() {
    let c = started(3, "");
    for want in [5, 1] {
        c.merge(
            &format!("{DEPLOYMENTS}/web"),
            &format!(r#"{{"spec":{{"replicas":{want}}}}}"#),
        );
        c.settle();
        c.node_agent_step();
        c.node_agent_step();
        assert_eq!(c.active_pods().len(), usize::try_from(want).unwrap());
        let d = c.deployment("web");
        assert_eq!(int_at(&d, &["status", "availableReplicas"]), want);
        assert_eq!(
            spec_replicas_by_revision(&c),
            vec![("1".to_owned(), want, want)]
        );
    }
}

#[test]
fn rolling_update_respects_max_surge_and_max_unavailable() {
    let c = started(
        4,
        r#""strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":1}},"#,
    );
    c.merge(
        &format!("{DEPLOYMENTS}/web"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#,
    );
    for step in 0..20 {
        c.settle();
        let rss = spec_replicas_by_revision(&c);
        let total: i64 = rss.iter().map(|r| r.1).sum();
        let available: i64 = rss.iter().map(|r| r.2).sum();
        assert!(
            total <= 5,
            "step {step}: {total} pods wanted exceed replicas + maxSurge: {rss:?}"
        );
        assert!(
            available >= 3,
            "step {step}: {available} available is below replicas - maxUnavailable: {rss:?}"
        );
        if rss == vec![("1".to_owned(), 0, 0), ("2".to_owned(), 4, 4)] {
            let d = c.deployment("web");
            assert_eq!(
                objects::annotation(&d, "deployment.kubernetes.io/revision"),
                Some("2")
            );
            assert_eq!(int_at(&d, &["status", "updatedReplicas"]), 4);
            assert_eq!(
                condition_reason(&d, "Progressing"),
                "NewReplicaSetAvailable"
            );
            assert_eq!(c.active_pods().len(), 4);
            return;
        }
        c.node_agent_step();
    }
    panic!(
        "the rollout did not finish: {:?}",
        spec_replicas_by_revision(&c)
    );
}

#[test]
fn rollback_to_the_old_template_reuses_its_replica_set() {
    let c = started(2, "");
    let first = c.replica_sets()[0].clone();
    c.merge(
        &format!("{DEPLOYMENTS}/web"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#,
    );
    for _ in 0..6 {
        c.node_agent_step();
    }
    // What `kubectl rollout undo` sends: the old template without its hash label.
    let mut template = meta::get_path(&first, &["spec", "template"])
        .unwrap()
        .clone();
    meta::ensure_object(&mut template, &["metadata", "labels"]).remove("pod-template-hash");
    let patch = format!(
        r#"[{{"op":"replace","path":"/spec/template","value":{}}}]"#,
        miniserde::json::to_string(&template)
    );
    c.request(
        "PATCH",
        &format!("{DEPLOYMENTS}/web"),
        "application/json-patch+json",
        &patch,
    );
    for _ in 0..6 {
        c.node_agent_step();
    }
    let rs = c.replica_set_named(meta::name(&first).unwrap());
    assert_eq!(
        objects::annotation(&rs, "deployment.kubernetes.io/revision"),
        Some("3")
    );
    assert_eq!(
        objects::annotation(&rs, "deployment.kubernetes.io/revision-history"),
        Some("1")
    );
    assert_eq!(int_at(&rs, &["spec", "replicas"]), 2);
    assert_eq!(c.replica_sets().len(), 2);
    let d = c.deployment("web");
    assert_eq!(
        objects::annotation(&d, "deployment.kubernetes.io/revision"),
        Some("3")
    );
    assert_eq!(int_at(&d, &["status", "updatedReplicas"]), 2);
}

#[test]
fn a_paused_deployment_scales_but_does_not_roll_out() {
    let c = started(2, "");
    c.merge(&format!("{DEPLOYMENTS}/web"), r#"{"spec":{"paused":true}}"#);
    c.settle();
    let d = c.deployment("web");
    assert_eq!(condition_reason(&d, "Progressing"), "DeploymentPaused");
    c.merge(&format!("{DEPLOYMENTS}/web"), r#"{"spec":{"replicas":3,"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#);
    c.node_agent_step();
    assert_eq!(spec_replicas_by_revision(&c), vec![("1".to_owned(), 3, 3)]);
    c.merge(
        &format!("{DEPLOYMENTS}/web"),
        r#"{"spec":{"paused":false}}"#,
    );
    for _ in 0..6 {
        c.node_agent_step();
    }
    assert_eq!(
        spec_replicas_by_revision(&c),
        vec![("1".to_owned(), 0, 0), ("2".to_owned(), 3, 3)]
    );
}

#[test]
fn recreate_waits_for_old_pods_to_be_gone() {
    let c = started(2, r#""strategy":{"type":"Recreate"},"#);
    c.merge(
        &format!("{DEPLOYMENTS}/web"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"nginx"}]}}}}"#,
    );
    c.settle();
    // Old pods are terminating (graceful): no new ReplicaSet yet.
    assert_eq!(spec_replicas_by_revision(&c).len(), 1);
    assert_eq!(int_at(&c.replica_sets()[0], &["spec", "replicas"]), 0);
    for _ in 0..4 {
        c.node_agent_step();
    }
    assert_eq!(
        spec_replicas_by_revision(&c),
        vec![("1".to_owned(), 0, 0), ("2".to_owned(), 2, 2)]
    );
}

#[test]
fn revision_history_limit_deletes_the_oldest_replica_sets() {
    let c = started(1, r#""revisionHistoryLimit":1,"#);
    for image in ["a", "b", "c"] {
        let patch = format!(
            r#"{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}}}}}"#
        );
        c.merge(&format!("{DEPLOYMENTS}/web"), &patch);
        for _ in 0..5 {
            c.node_agent_step();
        }
    }
    let revisions: Vec<String> = spec_replicas_by_revision(&c)
        .into_iter()
        .map(|r| r.0)
        .collect();
    assert_eq!(revisions, vec!["3".to_owned(), "4".to_owned()]);
}

#[test]
fn a_stuck_rollout_exceeds_its_progress_deadline() {
    let c = Cluster::new();
    // No node: pods stay Pending, so the rollout cannot progress.
    c.create(
        DEPLOYMENTS,
        &deployment("web", 1, r#""progressDeadlineSeconds":1,"#),
    );
    c.settle();
    c.run(async_io::Timer::after(Duration::from_millis(3200)));
    c.settle();
    let d = c.deployment("web");
    assert_eq!(
        condition_reason(&d, "Progressing"),
        "ProgressDeadlineExceeded"
    );
    assert_eq!(
        condition_reason(&d, "Available"),
        "MinimumReplicasUnavailable"
    );
}

#[test]
fn replica_set_adopts_orphans_and_deletes_unscheduled_pods_first() {
    let c = Cluster::new();
    c.create("/api/v1/namespaces/default/pods", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"orphan","labels":{"app":"x"}},"spec":{"nodeName":"elsewhere","containers":[{"name":"c","image":"i"}]}}"#);
    c.create("/api/v1/namespaces/default/pods", r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"pending","labels":{"app":"x"}},"spec":{"schedulerName":"other","containers":[{"name":"c","image":"i"}]}}"#);
    c.create(
        "/apis/apps/v1/namespaces/default/replicasets",
        r#"{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"x"},"spec":{"replicas":1,"selector":{"matchLabels":{"app":"x"}},"template":{"metadata":{"labels":{"app":"x"}},"spec":{"containers":[{"name":"c","image":"i"}]}}}}"#,
    );
    c.settle();
    let pods = c.active_pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(meta::name(&pods[0]), Some("orphan"));
    assert_eq!(objects::controller_of(&pods[0]).map(|r| r.1), Some("x"));
}

#[test]
fn a_pod_too_big_for_the_node_stays_pending_until_the_node_grows() {
    let c = Cluster::new();
    c.add_node();
    c.create(
        "/api/v1/namespaces/default/pods",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"big"},"spec":{"containers":[{"name":"c","image":"i","resources":{"requests":{"cpu":"3"}}}]}}"#,
    );
    c.settle();
    let pod = c.get("/registry/core/pods/default/big");
    assert!(meta::get_str(&pod, &["spec", "nodeName"]).is_none());
    let cond = objects::condition(&pod, "PodScheduled").expect("PodScheduled condition");
    assert_eq!(meta::get_str(cond, &["status"]), Some("False"));
    assert_eq!(meta::get_str(cond, &["reason"]), Some("Unschedulable"));
    assert_eq!(
        meta::get_str(cond, &["message"]),
        Some("0/1 nodes are available: 1 Insufficient cpu.")
    );
    let events = c.list("/registry/core/events/default/");
    let failed: Vec<&Value> = events
        .iter()
        .filter(|e| meta::get_str(e, &["reason"]) == Some("FailedScheduling"))
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(
        meta::get_str(failed[0], &["involvedObject", "name"]),
        Some("big")
    );
    assert_eq!(meta::get_str(failed[0], &["type"]), Some("Warning"));
    c.merge(
        "/api/v1/nodes/node1/status",
        r#"{"status":{"allocatable":{"cpu":"4"}}}"#,
    );
    c.settle();
    let pod = c.get("/registry/core/pods/default/big");
    assert_eq!(meta::get_str(&pod, &["spec", "nodeName"]), Some("node1"));
    let cond = objects::condition(&pod, "PodScheduled").expect("PodScheduled condition");
    assert_eq!(meta::get_str(cond, &["status"]), Some("True"));
}

#[test]
fn the_scale_subresource_reads_and_writes_replicas() {
    let c = started(2, "");
    let scale = c.request(
        "GET",
        &format!("{DEPLOYMENTS}/web/scale"),
        "application/json",
        "",
    );
    assert_eq!(meta::get_str(&scale, &["kind"]), Some("Scale"));
    assert_eq!(
        meta::get_str(&scale, &["apiVersion"]),
        Some("autoscaling/v1")
    );
    assert_eq!(int_at(&scale, &["spec", "replicas"]), 2);
    assert_eq!(int_at(&scale, &["status", "replicas"]), 2);
    assert_eq!(
        meta::get_str(&scale, &["status", "selector"]),
        Some("app=web")
    );
    let scale = c.merge(
        &format!("{DEPLOYMENTS}/web/scale"),
        r#"{"spec":{"replicas":4}}"#,
    );
    assert_eq!(meta::get_str(&scale, &["kind"]), Some("Scale"));
    assert_eq!(int_at(&scale, &["spec", "replicas"]), 4);
    c.node_agent_step();
    c.node_agent_step();
    assert_eq!(c.active_pods().len(), 4);
    let d = c.deployment("web");
    assert_eq!(meta::generation(&d), Some(2));
    assert_eq!(int_at(&d, &["status", "availableReplicas"]), 4);
}

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

fn job(name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{name}","namespace":"default"}},
        "spec":{{{spec}"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"c","image":"busybox"}}]}}}}}}}}"#
    )
}

impl Cluster {
    /// The simulated node agent finishing every running pod with `phase`.
    fn finish_pods(&self, phase: &str) -> usize {
        let mut n = 0;
        for pod in self.active_pods() {
            let name = meta::name(&pod).unwrap_or("").to_owned();
            let path = format!("/api/v1/namespaces/default/pods/{name}/status");
            self.merge(&path, &format!(r#"{{"status":{{"phase":"{phase}"}}}}"#));
            n += 1;
        }
        self.settle();
        n
    }

    fn job(&self, name: &str) -> Value {
        self.get(&keys::object(keys::JOBS, "default", name))
    }
}

#[test]
fn a_job_runs_pods_until_its_completions_succeed() {
    let c = Cluster::new();
    c.add_node();
    c.create(JOBS, &job("pi", r#""completions":3,"parallelism":2,"#));
    c.settle();
    let pods = c.active_pods();
    assert_eq!(pods.len(), 2, "parallelism bounds the active pods");
    assert_eq!(
        meta::get_str(&pods[0], &["metadata", "labels", "job-name"]),
        Some("pi")
    );
    assert_eq!(int_at(&c.job("pi"), &["status", "active"]), 2);
    assert_eq!(c.finish_pods("Succeeded"), 2);
    assert_eq!(c.active_pods().len(), 1, "one completion left");
    assert_eq!(c.finish_pods("Succeeded"), 1);
    let j = c.job("pi");
    assert_eq!(int_at(&j, &["status", "succeeded"]), 3);
    assert_eq!(int_at(&j, &["status", "active"]), 0);
    assert_eq!(condition_reason(&j, "Complete"), "CompletionsReached");
    assert!(meta::get_str(&j, &["status", "completionTime"]).is_some());
    assert!(c.active_pods().is_empty());
}

#[test]
fn a_job_fails_past_its_backoff_limit() {
    let c = Cluster::new();
    c.add_node();
    c.create(JOBS, &job("bad", r#""backoffLimit":0,"#));
    c.settle();
    assert_eq!(c.finish_pods("Failed"), 1);
    let j = c.job("bad");
    assert_eq!(int_at(&j, &["status", "failed"]), 1);
    assert_eq!(condition_reason(&j, "Failed"), "BackoffLimitExceeded");
    assert!(c.active_pods().is_empty());
}

#[test]
fn a_failed_job_pod_is_replaced_only_after_the_backoff() {
    let c = Cluster::new();
    c.add_node();
    c.create(JOBS, &job("retry", r#""backoffLimit":2,"#));
    c.settle();
    assert_eq!(c.finish_pods("Failed"), 1);
    // Upstream waits 10 s after the first failure before the next pod.
    assert!(c.active_pods().is_empty());
    let j = c.job("retry");
    assert_eq!(int_at(&j, &["status", "failed"]), 1);
    assert!(objects::condition(&j, "Failed").is_none());
}

#[test]
fn a_finished_job_is_deleted_after_its_ttl() {
    let c = Cluster::new();
    c.add_node();
    c.create(JOBS, &job("once", r#""ttlSecondsAfterFinished":0,"#));
    c.settle();
    assert_eq!(c.finish_pods("Succeeded"), 1);
    // Foreground deletion: gone, or held by the foregroundDeletion finalizer until the
    // garbage collector removes its pods.
    let key = keys::object(keys::JOBS, "default", "once");
    let gone = self::kv_absent(&c, &key) || objects::is_deleting(&c.get(&key));
    assert!(gone, "the Job is being deleted");
}

fn kv_absent(c: &Cluster, key: &str) -> bool {
    c.server.store().get(key.as_bytes()).is_none()
}

/// Benchmark (run with `--ignored --nocapture`): a 100-replica Deployment until all its
/// pods exist and are bound, in process over the in-memory store backend.
#[test]
#[ignore = "benchmark"]
fn bench_hundred_replicas_bound() {
    let c = Cluster::new();
    c.add_node();
    c.settle();
    let store = c.server.store().clone();
    let started = std::time::Instant::now();
    c.create(DEPLOYMENTS, &deployment("bench", 100, ""));
    let bound = move || {
        let pods = store.range(b"/registry/core/pods/default/", 0, None);
        pods.kvs
            .iter()
            .filter_map(|kv| meta::from_json_bytes(&kv.value))
            .filter(|p| meta::get_str(p, &["spec", "nodeName"]).is_some())
            .count()
    };
    c.run(async {
        while bound() < 100 {
            async_io::Timer::after(Duration::from_millis(5)).await;
        }
    });
    println!("100 pods created and bound in {:?}", started.elapsed());
}

#[test]
fn binding_assigns_once_and_refuses_a_second_node() {
    let c = Cluster::new();
    c.create(
        "/api/v1/namespaces/default/pods",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"schedulerName":"manual","containers":[{"name":"c","image":"i"}]}}"#,
    );
    let binding = |node: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Binding","metadata":{{"name":"p"}},"target":{{"kind":"Node","name":"{node}"}}}}"#
        )
    };
    let path = "/api/v1/namespaces/default/pods/p/binding";
    let (status, _) = c.try_request("POST", path, "application/json", &binding("n1"));
    assert_eq!(status, 201);
    let pod = c.get("/registry/core/pods/default/p");
    assert_eq!(meta::get_str(&pod, &["spec", "nodeName"]), Some("n1"));
    let cond = objects::condition(&pod, "PodScheduled").expect("PodScheduled");
    assert_eq!(meta::get_str(cond, &["status"]), Some("True"));
    let (status, text) = c.try_request("POST", path, "application/json", &binding("n2"));
    assert_eq!(status, 409);
    assert!(text.contains(r#"Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"n1\""#), "{text}");
}

const DAEMON_SETS: &str = "/apis/apps/v1/namespaces/default/daemonsets";

fn daemon_set(image: &str) -> String {
    format!(
        r#"{{"apiVersion":"apps/v1","kind":"DaemonSet","metadata":{{"name":"agent","namespace":"default"}},
        "spec":{{"selector":{{"matchLabels":{{"app":"agent"}}}},
        "template":{{"metadata":{{"labels":{{"app":"agent"}}}},"spec":{{"containers":[{{"name":"c","image":"{image}"}}]}}}}}}}}"#
    )
}

#[test]
fn a_daemon_set_runs_one_pod_on_the_node_and_rolls_it() {
    let c = Cluster::new();
    c.add_node();
    c.create(DAEMON_SETS, &daemon_set("a"));
    c.node_agent_step();
    let pods = c.active_pods();
    assert_eq!(pods.len(), 1);
    assert_eq!(
        meta::get_str(&pods[0], &["spec", "nodeName"]),
        Some("node1")
    );
    let first_hash = meta::get_str(
        &pods[0],
        &["metadata", "labels", "controller-revision-hash"],
    )
    .unwrap()
    .to_owned();
    let ds = c.get("/registry/apps/daemonsets/default/agent");
    for field in [
        "desiredNumberScheduled",
        "currentNumberScheduled",
        "numberReady",
        "numberAvailable",
        "updatedNumberScheduled",
    ] {
        assert_eq!(int_at(&ds, &["status", field]), 1, "{field}");
    }
    c.merge(
        &format!("{DAEMON_SETS}/agent"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"b"}]}}}}"#,
    );
    for _ in 0..4 {
        c.node_agent_step();
    }
    let pods = c.active_pods();
    assert_eq!(pods.len(), 1);
    let hash = meta::get_str(
        &pods[0],
        &["metadata", "labels", "controller-revision-hash"],
    )
    .unwrap();
    assert_ne!(hash, first_hash);
    let ds = c.get("/registry/apps/daemonsets/default/agent");
    assert_eq!(int_at(&ds, &["status", "updatedNumberScheduled"]), 1);
    assert_eq!(int_at(&ds, &["status", "numberAvailable"]), 1);
    assert_eq!(int_at(&ds, &["status", "observedGeneration"]), 2);
    // A NoSchedule taint keeps the running daemon; a NoExecute one evicts it.
    c.merge(
        "/api/v1/nodes/node1",
        r#"{"spec":{"taints":[{"key":"k","effect":"NoSchedule"}]}}"#,
    );
    c.node_agent_step();
    assert_eq!(c.active_pods().len(), 1);
    c.merge(
        "/api/v1/nodes/node1",
        r#"{"spec":{"taints":[{"key":"k","effect":"NoExecute"}]}}"#,
    );
    c.node_agent_step();
    assert!(c.active_pods().is_empty());
    let ds = c.get("/registry/apps/daemonsets/default/agent");
    assert_eq!(int_at(&ds, &["status", "desiredNumberScheduled"]), 0);
}

const STATEFUL_SETS: &str = "/apis/apps/v1/namespaces/default/statefulsets";

fn pod_names(c: &Cluster) -> Vec<String> {
    let mut names: Vec<String> = c
        .active_pods()
        .iter()
        .filter_map(|p| meta::name(p).map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[test]
fn a_stateful_set_starts_in_order_keeps_claims_and_rolls_from_the_top() {
    let c = Cluster::new();
    c.add_node();
    c.create(
        STATEFUL_SETS,
        r#"{"apiVersion":"apps/v1","kind":"StatefulSet","metadata":{"name":"db"},"spec":{"replicas":3,"serviceName":"db",
        "selector":{"matchLabels":{"app":"db"}},
        "template":{"metadata":{"labels":{"app":"db"}},"spec":{"containers":[{"name":"c","image":"a"}]}},
        "volumeClaimTemplates":[{"metadata":{"name":"data"},"spec":{"accessModes":["ReadWriteOnce"],"resources":{"requests":{"storage":"1Gi"}}}}]}}"#,
    );
    c.settle();
    assert_eq!(pod_names(&c), vec!["db-0"], "OrderedReady waits for db-0");
    c.node_agent_step();
    assert_eq!(pod_names(&c), vec!["db-0", "db-1"]);
    c.node_agent_step();
    c.node_agent_step();
    assert_eq!(pod_names(&c), vec!["db-0", "db-1", "db-2"]);
    let db1 = c.get("/registry/core/pods/default/db-1");
    assert_eq!(meta::get_str(&db1, &["spec", "hostname"]), Some("db-1"));
    assert_eq!(meta::get_str(&db1, &["spec", "subdomain"]), Some("db"));
    assert_eq!(
        meta::get_str(
            &db1,
            &["metadata", "labels", "apps.kubernetes.io/pod-index"]
        ),
        Some("1")
    );
    let Some(Value::Array(volumes)) = meta::get_path(&db1, &["spec", "volumes"]) else {
        panic!("volumes")
    };
    assert_eq!(
        meta::get_str(&volumes[0], &["persistentVolumeClaim", "claimName"]),
        Some("data-db-1")
    );
    assert_eq!(
        c.list("/registry/core/persistentvolumeclaims/default/")
            .len(),
        3
    );
    let set = c.get("/registry/apps/statefulsets/default/db");
    assert_eq!(int_at(&set, &["status", "readyReplicas"]), 3);
    let first_revision = meta::get_str(&set, &["status", "updateRevision"])
        .unwrap()
        .to_owned();
    assert_eq!(
        meta::get_str(&set, &["status", "currentRevision"]),
        Some(first_revision.as_str())
    );

    c.merge(
        &format!("{STATEFUL_SETS}/db"),
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"b"}]}}}}"#,
    );
    c.settle();
    let deleting: Vec<String> = c
        .list("/registry/core/pods/default/")
        .iter()
        .filter(|p| objects::is_deleting(p))
        .filter_map(|p| meta::name(p).map(str::to_owned))
        .collect();
    assert_eq!(
        deleting,
        vec!["db-2"],
        "the highest ordinal is replaced first"
    );
    for _ in 0..12 {
        c.node_agent_step();
    }
    let set = c.get("/registry/apps/statefulsets/default/db");
    let revision = meta::get_str(&set, &["status", "updateRevision"]).unwrap();
    assert_ne!(revision, first_revision);
    assert_eq!(
        meta::get_str(&set, &["status", "currentRevision"]),
        Some(revision)
    );
    assert_eq!(int_at(&set, &["status", "updatedReplicas"]), 3);

    c.merge(&format!("{STATEFUL_SETS}/db"), r#"{"spec":{"replicas":1}}"#);
    for _ in 0..6 {
        c.node_agent_step();
    }
    assert_eq!(pod_names(&c), vec!["db-0"]);
    assert_eq!(
        c.list("/registry/core/persistentvolumeclaims/default/")
            .len(),
        3,
        "claims are retained"
    );
}

#[test]
fn a_cron_job_starts_the_missed_run_and_tracks_it() {
    let c = Cluster::new();
    c.add_node();
    c.create(
        "/apis/batch/v1/namespaces/default/cronjobs",
        r#"{"apiVersion":"batch/v1","kind":"CronJob","metadata":{"name":"tick"},"spec":{"schedule":"* * * * *",
        "jobTemplate":{"metadata":{"labels":{"run":"tick"}},"spec":{"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"c","image":"busybox"}]}}}}}}"#,
    );
    c.settle();
    assert!(
        c.list("/registry/batch/jobs/default/").is_empty(),
        "nothing is due yet"
    );
    // Pretend the last run was two and a half minutes ago: one run is due now.
    let earlier = crate::object::time::format_rfc3339(crate::object::time::now_unix() - 150);
    c.merge(
        "/apis/batch/v1/namespaces/default/cronjobs/tick/status",
        &format!(r#"{{"status":{{"lastScheduleTime":"{earlier}"}}}}"#),
    );
    c.settle();
    let jobs = c.list("/registry/batch/jobs/default/");
    assert_eq!(jobs.len(), 1);
    let job_name = meta::name(&jobs[0]).unwrap().to_owned();
    let minute = crate::object::time::now_unix().div_euclid(60);
    assert!(
        job_name == format!("tick-{minute}") || job_name == format!("tick-{}", minute - 1),
        "{job_name}"
    );
    assert_eq!(
        meta::get_str(&jobs[0], &["metadata", "labels", "run"]),
        Some("tick")
    );
    assert_eq!(
        objects::controller_of(&jobs[0]).map(|r| r.0),
        Some("CronJob")
    );
    let cj = c.get("/registry/batch/cronjobs/default/tick");
    let Some(Value::Array(active)) = meta::get_path(&cj, &["status", "active"]) else {
        panic!("status.active")
    };
    assert_eq!(
        meta::get_str(&active[0], &["name"]),
        Some(job_name.as_str())
    );
    assert_ne!(
        meta::get_str(&cj, &["status", "lastScheduleTime"]),
        Some(earlier.as_str())
    );
    assert_eq!(c.finish_pods("Succeeded"), 1);
    let cj = c.get("/registry/batch/cronjobs/default/tick");
    assert!(
        meta::get_path(&cj, &["status", "active"]).is_none(),
        "the finished Job is no longer active"
    );
    assert!(meta::get_str(&cj, &["status", "lastSuccessfulTime"]).is_some());
}

#[test]
fn services_get_endpoints_and_slices_from_their_pods() {
    let c = Cluster::new();
    let pod = |name: &str, ports: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","labels":{{"app":"web"}}}},"spec":{{"nodeName":"node1","containers":[{{"name":"c","image":"i","ports":[{ports}]}}]}}}}"#
        )
    };
    let named = r#"{"name":"http","containerPort":8080}"#;
    c.create("/api/v1/namespaces/default/pods", &pod("ready", named));
    c.create("/api/v1/namespaces/default/pods", &pod("starting", named));
    c.create(
        "/api/v1/namespaces/default/pods",
        &pod("other", r#"{"name":"metrics","containerPort":9090}"#),
    );
    for (name, ip, ready) in [
        ("ready", "10.0.0.1", "True"),
        ("starting", "10.0.0.2", "False"),
        ("other", "10.0.0.3", "True"),
    ] {
        c.merge(
            &format!("/api/v1/namespaces/default/pods/{name}/status"),
            &format!(r#"{{"status":{{"phase":"Running","podIP":"{ip}","conditions":[{{"type":"Ready","status":"{ready}"}}]}}}}"#),
        );
    }
    c.create(
        "/api/v1/namespaces/default/services",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","labels":{"team":"a"}},"spec":{"selector":{"app":"web"},"ports":[{"name":"http","port":80,"targetPort":"http"}]}}"#,
    );
    c.settle();
    let ep = c.get("/registry/core/endpoints/default/web");
    let Some(Value::Array(subsets)) = meta::get_path(&ep, &["subsets"]) else {
        panic!("subsets: {}", miniserde::json::to_string(&ep))
    };
    assert_eq!(
        subsets.len(),
        1,
        "the pod without the named port is left out"
    );
    let ips = |field: &str| -> Vec<String> {
        match meta::get_path(&subsets[0], &[field]) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|x| meta::get_str(x, &["ip"]).map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        }
    };
    assert_eq!(ips("addresses"), vec!["10.0.0.1"]);
    assert_eq!(ips("notReadyAddresses"), vec!["10.0.0.2"]);
    let Some(Value::Array(ports)) = meta::get_path(&subsets[0], &["ports"]) else {
        panic!("ports")
    };
    assert_eq!(int_at(&ports[0], &["port"]), 8080);
    assert_eq!(
        meta::get_str(&ep, &["metadata", "labels", "team"]),
        Some("a")
    );
    let slices = c.list("/registry/discovery.k8s.io/endpointslices/default/");
    assert_eq!(slices.len(), 1);
    assert_eq!(
        meta::get_str(
            &slices[0],
            &["metadata", "labels", "kubernetes.io/service-name"]
        ),
        Some("web")
    );
    assert_eq!(meta::get_str(&slices[0], &["addressType"]), Some("IPv4"));
    let Some(Value::Array(endpoints)) = meta::get_path(&slices[0], &["endpoints"]) else {
        panic!("endpoints")
    };
    assert_eq!(endpoints.len(), 2);
    assert_eq!(
        objects::controller_of(&slices[0]).map(|r| r.0),
        Some("Service")
    );
    // The starting pod becomes ready: it moves to addresses.
    c.merge(
        "/api/v1/namespaces/default/pods/starting/status",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
    );
    c.settle();
    let ep = c.get("/registry/core/endpoints/default/web");
    let Some(Value::Array(subsets)) = meta::get_path(&ep, &["subsets"]) else {
        panic!("subsets")
    };
    let Some(Value::Array(addresses)) = meta::get_path(&subsets[0], &["addresses"]) else {
        panic!("addresses")
    };
    assert_eq!(addresses.len(), 2);
    assert!(meta::get_path(&subsets[0], &["notReadyAddresses"]).is_none());
    // The bootstrap `kubernetes` Endpoints (no selector) is left alone.
    let api = c.get("/registry/core/endpoints/default/kubernetes");
    assert!(meta::get_path(&api, &["subsets"]).is_some());
    c.request(
        "DELETE",
        "/api/v1/namespaces/default/services/web",
        "application/json",
        "",
    );
    c.settle();
    assert!(kv_absent(&c, "/registry/core/endpoints/default/web"));
}
