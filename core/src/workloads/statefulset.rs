//! The StatefulSet controller: pods with stable names `<set>-<ordinal>`, hostname and
//! subdomain, one PersistentVolumeClaim per volumeClaimTemplate and pod
//! (`<template>-<pod>`, kept when the pod goes, as the default Retain policy says);
//! OrderedReady (one pod at a time, each Running and Ready before the next; scale down
//! from the highest ordinal) or Parallel management; RollingUpdate from the highest ordinal
//! down to the partition, one pod at a time, or OnDelete; and the status `kubectl rollout
//! status sts` reads (currentRevision becomes updateRevision when the roll completes).

use std::rc::Rc;

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

const STATEFUL_SETS: &str = "/registry/apps/statefulsets/";
const REVISION_LABEL: &str = "controller-revision-hash";

pub struct StatefulSetController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: feeds from StatefulSets and their pods, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(StatefulSetController {
        client: Client::new(server, "statefulset-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_set = move |c: Change| {
        if let Some(key) = c.latest().and_then(queue_key) {
            queue.add(key);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            STATEFUL_SETS.into(),
            Rc::new(on_set),
        ))
        .detach();
    let queue = Rc::clone(&ctl.queue);
    let on_pod = move |c: Change| {
        for pod in [&c.old, &c.new].into_iter().flatten() {
            if let Some(("StatefulSet", name, _)) = objects::controller_of(pod) {
                queue.add(format!("{}/{name}", meta::namespace(pod).unwrap_or("")));
            }
        }
    };
    executor
        .spawn(feed::follow(store, keys::PODS.into(), Rc::new(on_pod)))
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

/// One sync's view of a StatefulSet.
struct Set {
    value: Value,
    ns: String,
    name: String,
    replicas: i64,
    parallel: bool,
    on_delete: bool,
    partition: i64,
    revision: String,
}

impl Set {
    fn read(value: Value) -> Set {
        let hash = template_hash(
            meta::get_path(&value, &["spec", "template"]).unwrap_or(&Value::Null),
            None,
        );
        let name = meta::name(&value).unwrap_or("").to_owned();
        Set {
            ns: meta::namespace(&value).unwrap_or("").to_owned(),
            replicas: objects::spec_i64(&value, "replicas", 1),
            parallel: meta::get_str(&value, &["spec", "podManagementPolicy"]) == Some("Parallel"),
            on_delete: meta::get_str(&value, &["spec", "updateStrategy", "type"])
                == Some("OnDelete"),
            partition: meta::get_i64(
                &value,
                &["spec", "updateStrategy", "rollingUpdate", "partition"],
            )
            .unwrap_or(0),
            revision: format!("{name}-{hash}"),
            name,
            value,
        }
    }

    fn pod_name(&self, ordinal: i64) -> String {
        format!("{}-{ordinal}", self.name)
    }
}

fn ordinal_of(set: &Set, pod: &Value) -> Option<i64> {
    meta::name(pod)?
        .strip_prefix(&format!("{}-", set.name))?
        .parse()
        .ok()
}

fn healthy(pod: &Value) -> bool {
    objects::phase(pod) == "Running" && objects::is_ready(pod) && !objects::is_deleting(pod)
}

fn revision_of(pod: &Value) -> &str {
    meta::get_str(pod, &["metadata", "labels", REVISION_LABEL]).unwrap_or("")
}

impl StatefulSetController {
    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(value) = self.client.get(&format!("{STATEFUL_SETS}{ns}/{name}")) else {
            return Ok(());
        };
        if objects::is_deleting(&value) {
            return Ok(());
        }
        let set = Set::read(value);
        let pods = self.owned_pods(&set);
        if self.scale(&set, &pods).await? && !set.on_delete {
            self.roll(&set, &pods).await?;
        }
        let pods = self.owned_pods(&set);
        self.write_status(&set, &pods).await
    }

    /// Pods the set controls, by ordinal.
    fn owned_pods(&self, set: &Set) -> Vec<(i64, Value)> {
        let uid = meta::uid(&set.value).unwrap_or("");
        let mut pods: Vec<(i64, Value)> = self
            .client
            .list(&keys::in_namespace(keys::PODS, &set.ns))
            .into_iter()
            .filter(|p| objects::controller_of(p).map(|r| r.2) == Some(uid))
            .filter_map(|p| ordinal_of(set, &p).map(|o| (o, p)))
            .collect();
        pods.sort_by_key(|(o, _)| *o);
        pods
    }

    /// Creates missing ordinals and removes condemned ones; `true` when everything is in
    /// place and healthy enough to go on to updates.
    async fn scale(&self, set: &Set, pods: &[(i64, Value)]) -> Result<bool, WriteError> {
        let mut settled = true;
        for ordinal in 0..set.replicas {
            let pod = pods.iter().find(|(o, _)| *o == ordinal).map(|(_, p)| p);
            match pod {
                None => {
                    self.create_pod(set, ordinal).await?;
                    settled = false;
                    if !set.parallel {
                        return Ok(false);
                    }
                }
                Some(p) if objects::is_terminal(p) && !objects::is_deleting(p) => {
                    self.delete_pod(set, p).await?;
                    settled = false;
                }
                Some(p) if !healthy(p) => {
                    settled = false;
                    if !set.parallel {
                        return Ok(false);
                    }
                }
                Some(_) => {}
            }
        }
        for (_, pod) in pods.iter().rev().filter(|(o, _)| *o >= set.replicas) {
            settled = false;
            if objects::is_deleting(pod) {
                if set.parallel {
                    continue;
                }
                return Ok(false);
            }
            self.delete_pod(set, pod).await?;
            if !set.parallel {
                return Ok(false);
            }
        }
        Ok(settled)
    }

    /// RollingUpdate: the highest stale ordinal at or above the partition goes first.
    async fn roll(&self, set: &Set, pods: &[(i64, Value)]) -> Result<(), WriteError> {
        let stale = pods
            .iter()
            .rev()
            .filter(|(o, _)| *o >= set.partition && *o < set.replicas)
            .find(|(_, p)| revision_of(p) != set.revision);
        if let Some((_, pod)) = stale {
            self.delete_pod(set, pod).await?;
        }
        Ok(())
    }

    async fn create_pod(&self, set: &Set, ordinal: i64) -> Result<(), WriteError> {
        let pod_name = set.pod_name(ordinal);
        for claim in claim_templates(&set.value) {
            self.ensure_claim(set, claim, &pod_name).await?;
        }
        let pod = pod_for(set, ordinal);
        match self.client.create(&paths::pods(&set.ns), &pod).await {
            Ok(_) => {
                let message = format!(
                    "create Pod {pod_name} in StatefulSet {} successful",
                    set.name
                );
                self.event(set, "SuccessfulCreate", message);
                Ok(())
            }
            Err(WriteError::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn ensure_claim(
        &self,
        set: &Set,
        template: &Value,
        pod_name: &str,
    ) -> Result<(), WriteError> {
        let claim_name = format!("{}-{pod_name}", meta::name(template).unwrap_or(""));
        let mut labels = match meta::get_path(template, &["metadata", "labels"]) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        for (k, v) in meta::string_map(&set.value, &["spec", "selector", "matchLabels"]) {
            labels.insert(k.to_owned(), string(v));
        }
        let claim = object([
            ("apiVersion", string("v1")),
            ("kind", string("PersistentVolumeClaim")),
            (
                "metadata",
                object([
                    ("name", string(claim_name.clone())),
                    ("namespace", string(set.ns.clone())),
                    ("labels", Value::Object(labels)),
                ]),
            ),
            (
                "spec",
                meta::get_path(template, &["spec"])
                    .cloned()
                    .unwrap_or(Value::Null),
            ),
        ]);
        let path = format!("/api/v1/namespaces/{}/persistentvolumeclaims", set.ns);
        match self.client.create(&path, &claim).await {
            Ok(_) => {
                let message = format!(
                    "create Claim {claim_name} Pod {pod_name} in StatefulSet {} success",
                    set.name
                );
                self.event(set, "SuccessfulCreate", message);
                Ok(())
            }
            Err(WriteError::AlreadyExists) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn delete_pod(&self, set: &Set, pod: &Value) -> Result<(), WriteError> {
        let name = meta::name(pod).unwrap_or("");
        match self.client.delete(&paths::pod(&set.ns, name)).await {
            Ok(()) => {
                let message = format!("delete Pod {name} in StatefulSet {} successful", set.name);
                self.event(set, "SuccessfulDelete", message);
                Ok(())
            }
            Err(WriteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn event(&self, set: &Set, reason: &'static str, message: String) {
        let event = Event {
            kind: "Normal",
            reason,
            message,
            component: "statefulset-controller",
        };
        events::emit(&self.executor, &self.client, &set.value, event);
    }

    async fn write_status(&self, set: &Set, pods: &[(i64, Value)]) -> Result<(), WriteError> {
        let live: Vec<&Value> = pods
            .iter()
            .map(|(_, p)| p)
            .filter(|p| !objects::is_deleting(p))
            .collect();
        let min_ready = objects::spec_i64(&set.value, "minReadySeconds", 0);
        let now = time::now_unix();
        let count = |f: &dyn Fn(&Value) -> bool| {
            i64::try_from(live.iter().filter(|p| f(p)).count()).unwrap_or(0)
        };
        let ready = count(&|p| objects::is_ready(p));
        let updated = count(&|p| revision_of(p) == set.revision);
        let previous = meta::get_str(&set.value, &["status", "currentRevision"]).map(str::to_owned);
        let complete = updated == set.replicas
            && ready == set.replicas
            && i64::try_from(live.len()).unwrap_or(0) == set.replicas;
        let current = match previous {
            Some(p) if !complete => p,
            _ => set.revision.clone(),
        };
        let mut status = Object::new();
        for (field, n) in [
            (
                "observedGeneration",
                meta::generation(&set.value).unwrap_or(0),
            ),
            ("replicas", i64::try_from(live.len()).unwrap_or(0)),
            ("readyReplicas", ready),
            ("currentReplicas", count(&|p| revision_of(p) == current)),
            ("updatedReplicas", updated),
            (
                "availableReplicas",
                count(&|p| objects::availability(p, min_ready, now).is_ok()),
            ),
        ] {
            if n != 0 || field == "replicas" {
                status.insert(field.to_owned(), int(n));
            }
        }
        status.insert("currentRevision".to_owned(), string(current));
        status.insert("updateRevision".to_owned(), string(set.revision.clone()));
        status.insert("collisionCount".to_owned(), int(0));
        let status = Value::Object(status);
        if meta::get_path(&set.value, &["status"]).is_some_and(|cur| values_equal(cur, &status)) {
            return Ok(());
        }
        let mut updated_set = set.value.clone();
        if let Some(o) = meta::as_object_mut(&mut updated_set) {
            o.insert("status".to_owned(), status);
        }
        let path = format!(
            "/apis/apps/v1/namespaces/{}/statefulsets/{}/status",
            set.ns, set.name
        );
        self.client.update(&path, &updated_set).await.map(|_| ())
    }
}

fn claim_templates(set: &Value) -> Vec<&Value> {
    match meta::get_path(set, &["spec", "volumeClaimTemplates"]) {
        Some(Value::Array(a)) => a.iter().collect(),
        _ => Vec::new(),
    }
}

/// The pod for `ordinal`: the template with the identity labels, hostname, subdomain and a
/// claim volume per volumeClaimTemplate (replacing a template volume of the same name).
fn pod_for(set: &Set, ordinal: i64) -> Value {
    let t = meta::get_path(&set.value, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null);
    let pod_name = set.pod_name(ordinal);
    let mut labels = match meta::get_path(&t, &["metadata", "labels"]) {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    };
    labels.insert(REVISION_LABEL.to_owned(), string(set.revision.clone()));
    labels.insert(
        "statefulset.kubernetes.io/pod-name".to_owned(),
        string(pod_name.clone()),
    );
    labels.insert(
        "apps.kubernetes.io/pod-index".to_owned(),
        string(ordinal.to_string()),
    );
    let mut md = Object::new();
    if let Some(v) = meta::get_path(&t, &["metadata", "annotations"]) {
        md.insert("annotations".to_owned(), v.clone());
    }
    md.insert("name".to_owned(), string(pod_name.clone()));
    md.insert("labels".to_owned(), Value::Object(labels));
    md.insert(
        "ownerReferences".to_owned(),
        array(vec![objects::controller_reference(
            "apps/v1",
            "StatefulSet",
            &set.value,
        )]),
    );
    let mut spec = meta::get_path(&t, &["spec"])
        .cloned()
        .unwrap_or_else(|| Value::Object(Object::new()));
    let s = meta::ensure_object(&mut spec, &[]);
    s.insert("hostname".to_owned(), string(pod_name.clone()));
    if let Some(service) =
        meta::get_str(&set.value, &["spec", "serviceName"]).filter(|s| !s.is_empty())
    {
        s.insert("subdomain".to_owned(), string(service));
    }
    let claims: Vec<&str> = claim_templates(&set.value)
        .iter()
        .filter_map(|c| meta::name(c))
        .collect();
    let mut volumes = match s.remove("volumes") {
        Some(Value::Array(a)) => a
            .into_iter()
            .filter(|v| !meta::get_str(v, &["name"]).is_some_and(|n| claims.contains(&n)))
            .collect(),
        _ => Vec::new(),
    };
    for claim in &claims {
        volumes.push(object([
            ("name", string(*claim)),
            (
                "persistentVolumeClaim",
                object([("claimName", string(format!("{claim}-{pod_name}")))]),
            ),
        ]));
    }
    if !volumes.is_empty() {
        s.insert("volumes".to_owned(), array(volumes));
    }
    object([
        ("apiVersion", string("v1")),
        ("kind", string("Pod")),
        ("metadata", Value::Object(md)),
        ("spec", spec),
    ])
}
