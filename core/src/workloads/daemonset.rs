//! The DaemonSet controller: one pod per eligible node (its nodeSelector, required node
//! affinity and the taints the pod tolerates, with upstream's default DaemonSet
//! tolerations), created with a node-name affinity for the scheduler to bind as upstream
//! does; RollingUpdate (maxUnavailable) or OnDelete replacement of pods whose
//! controller-revision-hash is stale; and the status `kubectl rollout status ds` reads.

use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys, paths};
use super::deployment::template_hash;
use super::events::{self, Event};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, array, int, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::patch::value::values_equal;
use crate::scheduler::placement;

const DAEMON_SETS: &str = "/registry/apps/daemonsets/";
const HASH_LABEL: &str = "controller-revision-hash";

/// Tolerations upstream adds to every DaemonSet pod (daemon pods keep running through
/// node conditions that evict ordinary pods).
const DEFAULT_TOLERATIONS: [(&str, &str); 6] = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
];

pub struct DaemonSetController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: feeds from DaemonSets, their pods and nodes, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(DaemonSetController {
        client: Client::new(server, "daemon-set-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_ds = move |c: Change| {
        if let Some(key) = c.latest().and_then(queue_key) {
            queue.add(key);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            DAEMON_SETS.into(),
            Rc::new(on_ds),
        ))
        .detach();
    let queue = Rc::clone(&ctl.queue);
    let on_pod = move |c: Change| {
        for pod in [&c.old, &c.new].into_iter().flatten() {
            if let Some(("DaemonSet", name, _)) = objects::controller_of(pod) {
                queue.add(format!("{}/{name}", meta::namespace(pod).unwrap_or("")));
            }
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::PODS.into(),
            Rc::new(on_pod),
        ))
        .detach();
    let for_nodes = Rc::clone(&ctl);
    let on_node = move |c: Change| for_nodes.on_node_change(&c);
    executor
        .spawn(feed::follow(store, keys::NODES.into(), Rc::new(on_node)))
        .detach();
    let worker = Rc::clone(&ctl);
    executor
        .spawn(queue::run_worker(
            Rc::clone(&ctl.queue),
            Rc::clone(executor),
            move |key| {
                let ctl = Rc::clone(&worker);
                async move { ctl.sync(&key).await }
            },
        ))
        .detach();
}

/// The node a daemon pod is for: its nodeName, or the node-name affinity it was made with.
fn target_node(pod: &Value) -> Option<String> {
    if let Some(n) = meta::get_str(pod, &["spec", "nodeName"]).filter(|n| !n.is_empty()) {
        return Some(n.to_owned());
    }
    let path = [
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
        "nodeSelectorTerms",
    ];
    let Some(Value::Array(terms)) = meta::get_path(pod, &path) else {
        return None;
    };
    terms.iter().find_map(|t| {
        let Some(Value::Array(fields)) = meta::get_path(t, &["matchFields"]) else {
            return None;
        };
        fields
            .iter()
            .filter(|f| meta::get_str(f, &["key"]) == Some("metadata.name"))
            .find_map(|f| match meta::get_path(f, &["values"]) {
                Some(Value::Array(v)) => v
                    .first()
                    .and_then(|v| meta::get_str(v, &[]))
                    .map(str::to_owned),
                _ => None,
            })
    })
}

impl DaemonSetController {
    /// Node labels, taints or existence decide where daemons run: every DaemonSet looks again.
    fn on_node_change(&self, change: &Change) {
        let same = match (&change.old, &change.new) {
            (Some(a), Some(b)) => {
                let eq = |p: &[&str]| match (meta::get_path(a, p), meta::get_path(b, p)) {
                    (Some(x), Some(y)) => values_equal(x, y),
                    (None, None) => true,
                    _ => false,
                };
                eq(&["metadata", "labels"]) && eq(&["spec"])
            }
            _ => false,
        };
        if !same {
            for ds in self.client.list(DAEMON_SETS) {
                if let Some(key) = queue_key(&ds) {
                    self.queue.add(key);
                }
            }
        }
    }

    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(ds) = self.client.get(&format!("{DAEMON_SETS}{ns}/{name}")) else {
            return Ok(());
        };
        if objects::is_deleting(&ds) {
            return Ok(());
        }
        let hash = template_hash(&template(&ds), None);
        let pods = self.owned_pods(&ds, ns);
        let nodes = self.client.list(keys::NODES);
        let probe = pod_for(&ds, "", &hash);
        let mut eligible = Vec::new();
        for node in &nodes {
            let node_name = meta::name(node).unwrap_or("").to_owned();
            let runs = placement::matches_node(&probe, node)
                && placement::untolerated_taint(&probe, node).is_none();
            let here: Vec<&Value> = pods
                .iter()
                .filter(|p| target_node(p).as_deref() == Some(&node_name))
                .collect();
            if runs {
                eligible.push(node_name.clone());
                self.keep_one(&ds, ns, &node_name, &here, &hash).await?;
            } else if !here.is_empty() && keeps_running(&probe, node) {
                // A NoSchedule taint added later does not evict a running daemon.
                eligible.push(node_name.clone());
            } else {
                for pod in here {
                    self.delete_pod(&ds, ns, pod).await?;
                }
            }
        }
        self.roll(&ds, ns, &pods, &eligible, &hash).await?;
        self.write_status(&ds, ns, &nodes, &eligible, &hash).await
    }

    fn owned_pods(&self, ds: &Value, ns: &str) -> Vec<Value> {
        let uid = meta::uid(ds).unwrap_or("");
        self.client
            .list(&keys::in_namespace(keys::PODS, ns))
            .into_iter()
            .filter(|p| {
                objects::controller_of(p).map(|r| r.2) == Some(uid) && objects::is_active(p)
            })
            .collect()
    }

    /// Exactly one daemon pod on an eligible node: create it, or delete the extras.
    async fn keep_one(
        &self,
        ds: &Value,
        ns: &str,
        node: &str,
        here: &[&Value],
        hash: &str,
    ) -> Result<(), WriteError> {
        if here.is_empty() {
            let created = self
                .client
                .create(&paths::pods(ns), &pod_for(ds, node, hash))
                .await?;
            self.event(
                ds,
                "SuccessfulCreate",
                format!("Created pod: {}", meta::name(&created).unwrap_or("")),
            );
            return Ok(());
        }
        let mut sorted: Vec<&&Value> = here.iter().collect();
        sorted.sort_by_key(|p| objects::creation_time(p).to_owned());
        for extra in sorted.into_iter().skip(1) {
            self.delete_pod(ds, ns, extra).await?;
        }
        Ok(())
    }

    /// RollingUpdate: replace stale pods while at most maxUnavailable daemons are down.
    async fn roll(
        &self,
        ds: &Value,
        ns: &str,
        pods: &[Value],
        eligible: &[String],
        hash: &str,
    ) -> Result<(), WriteError> {
        if meta::get_str(ds, &["spec", "updateStrategy", "type"]) == Some("OnDelete") {
            return Ok(());
        }
        let desired = i64::try_from(eligible.len()).unwrap_or(0);
        let max_unavailable = super::deployment::scaled_int_or_percent(
            meta::get_path(
                ds,
                &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"],
            ),
            desired,
        )
        .max(1);
        let min_ready = objects::spec_i64(ds, "minReadySeconds", 0);
        let now = time::now_unix();
        let available = |p: &Value| objects::availability(p, min_ready, now).is_ok();
        let on_eligible: Vec<&Value> = pods
            .iter()
            .filter(|p| target_node(p).is_some_and(|n| eligible.contains(&n)))
            .collect();
        let served = on_eligible.iter().filter(|p| available(p)).count();
        let mut budget = max_unavailable - (desired - i64::try_from(served).unwrap_or(0));
        let mut stale: Vec<&&Value> = on_eligible
            .iter()
            .filter(|p| meta::get_str(p, &["metadata", "labels", HASH_LABEL]) != Some(hash))
            .collect();
        // Unavailable stale pods go first: replacing them costs no availability.
        stale.sort_by_key(|p| available(p));
        for pod in stale {
            if available(pod) {
                if budget <= 0 {
                    break;
                }
                budget -= 1;
            }
            self.delete_pod(ds, ns, pod).await?;
        }
        Ok(())
    }

    async fn delete_pod(&self, ds: &Value, ns: &str, pod: &Value) -> Result<(), WriteError> {
        let name = meta::name(pod).unwrap_or("");
        match self.client.delete(&paths::pod(ns, name)).await {
            Ok(()) => {
                self.event(ds, "SuccessfulDelete", format!("Deleted pod: {name}"));
                Ok(())
            }
            Err(WriteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn event(&self, ds: &Value, reason: &'static str, message: String) {
        let event = Event {
            kind: "Normal",
            reason,
            message,
            component: "daemonset-controller",
        };
        events::emit(&self.executor, &self.client, ds, event);
    }

    async fn write_status(
        &self,
        ds: &Value,
        ns: &str,
        nodes: &[Value],
        eligible: &[String],
        hash: &str,
    ) -> Result<(), WriteError> {
        let pods = self.owned_pods(ds, ns);
        let min_ready = objects::spec_i64(ds, "minReadySeconds", 0);
        let now = time::now_unix();
        let count = |f: &dyn Fn(&str, &Value) -> bool| -> i64 {
            let n = nodes
                .iter()
                .filter_map(|node| meta::name(node))
                .filter(|n| {
                    pods.iter()
                        .any(|p| target_node(p).as_deref() == Some(*n) && f(n, p))
                })
                .count();
            i64::try_from(n).unwrap_or(0)
        };
        let desired = i64::try_from(eligible.len()).unwrap_or(0);
        let is_eligible = |n: &str| eligible.iter().any(|e| e == n);
        let available =
            count(&|n, p| is_eligible(n) && objects::availability(p, min_ready, now).is_ok());
        let mut wait = None;
        for p in &pods {
            if let Err(Some(secs)) = objects::availability(p, min_ready, now) {
                wait = Some(wait.map_or(secs, |w: i64| w.min(secs)));
            }
        }
        if let (Some(secs), Some(key)) = (wait, queue_key(ds)) {
            self.queue.add_after(
                &self.executor,
                key,
                Duration::from_secs(u64::try_from(secs).unwrap_or(1)),
            );
        }
        let mut status = Object::new();
        for (field, n) in [
            ("currentNumberScheduled", count(&|n, _| is_eligible(n))),
            ("desiredNumberScheduled", desired),
            ("numberMisscheduled", count(&|n, _| !is_eligible(n))),
            (
                "numberReady",
                count(&|n, p| is_eligible(n) && objects::is_ready(p)),
            ),
            ("numberAvailable", available),
            ("numberUnavailable", (desired - available).max(0)),
            (
                "updatedNumberScheduled",
                count(&|n, p| {
                    is_eligible(n)
                        && meta::get_str(p, &["metadata", "labels", HASH_LABEL]) == Some(hash)
                }),
            ),
            ("observedGeneration", meta::generation(ds).unwrap_or(0)),
        ] {
            let required = matches!(
                field,
                "currentNumberScheduled"
                    | "desiredNumberScheduled"
                    | "numberMisscheduled"
                    | "numberReady"
            );
            if n != 0 || required {
                status.insert(field.to_owned(), int(n));
            }
        }
        let status = Value::Object(status);
        if meta::get_path(ds, &["status"]).is_some_and(|cur| values_equal(cur, &status)) {
            return Ok(());
        }
        let mut updated = ds.clone();
        if let Some(o) = meta::as_object_mut(&mut updated) {
            o.insert("status".to_owned(), status);
        }
        let path = format!(
            "/apis/apps/v1/namespaces/{ns}/daemonsets/{}/status",
            meta::name(ds).unwrap_or("")
        );
        self.client.update(&path, &updated).await.map(|_| ())
    }
}

/// Whether a daemon already on `node` may stay: only NoExecute taints evict.
fn keeps_running(probe: &Value, node: &Value) -> bool {
    let mut tolerant = probe.clone();
    let spec = meta::ensure_object(&mut tolerant, &["spec"]);
    let any_no_schedule = object([
        ("operator", string("Exists")),
        ("effect", string("NoSchedule")),
    ]);
    match spec.get_mut("tolerations") {
        Some(Value::Array(a)) => a.push(any_no_schedule),
        _ => {
            spec.insert("tolerations".to_owned(), array(vec![any_no_schedule]));
        }
    }
    placement::matches_node(&tolerant, node)
        && placement::untolerated_taint(&tolerant, node).is_none()
}

fn template(ds: &Value) -> Value {
    meta::get_path(ds, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null)
}

/// The daemon pod for `node`: the template, the revision hash label, a required affinity
/// to the node by name (the scheduler binds it) and the default daemon tolerations.
fn pod_for(ds: &Value, node: &str, hash: &str) -> Value {
    let t = template(ds);
    let mut md = Object::new();
    if let Some(v) = meta::get_path(&t, &["metadata", "annotations"]) {
        md.insert("annotations".to_owned(), v.clone());
    }
    let mut labels = match meta::get_path(&t, &["metadata", "labels"]) {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    };
    labels.insert(HASH_LABEL.to_owned(), string(hash));
    labels.insert(
        "pod-template-generation".to_owned(),
        string(meta::generation(ds).unwrap_or(1).to_string()),
    );
    md.insert("labels".to_owned(), Value::Object(labels));
    md.insert(
        "generateName".to_owned(),
        string(format!("{}-", meta::name(ds).unwrap_or(""))),
    );
    md.insert(
        "ownerReferences".to_owned(),
        array(vec![objects::controller_reference(
            "apps/v1",
            "DaemonSet",
            ds,
        )]),
    );
    let mut spec = meta::get_path(&t, &["spec"])
        .cloned()
        .unwrap_or_else(|| Value::Object(Object::new()));
    let s = meta::ensure_object(&mut spec, &[]);
    if !node.is_empty() {
        let term = object([(
            "matchFields",
            array(vec![object([
                ("key", string("metadata.name")),
                ("operator", string("In")),
                ("values", array(vec![string(node)])),
            ])]),
        )]);
        let affinity = object([(
            "nodeAffinity",
            object([(
                "requiredDuringSchedulingIgnoredDuringExecution",
                object([("nodeSelectorTerms", array(vec![term]))]),
            )]),
        )]);
        s.insert("affinity".to_owned(), affinity);
    }
    let mut tolerations = match s.remove("tolerations") {
        Some(Value::Array(a)) => a,
        _ => Default::default(),
    };
    for (key, effect) in DEFAULT_TOLERATIONS {
        tolerations.push(object([
            ("key", string(key)),
            ("operator", string("Exists")),
            ("effect", string(effect)),
        ]));
    }
    s.insert("tolerations".to_owned(), Value::Array(tolerations));
    object([
        ("apiVersion", string("v1")),
        ("kind", string("Pod")),
        ("metadata", Value::Object(md)),
        ("spec", spec),
    ])
}
