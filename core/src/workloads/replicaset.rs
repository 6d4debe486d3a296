//! The ReplicaSet controller: keeps `spec.replicas` active pods made from the template,
//! adopting matching orphans and releasing pods whose labels no longer match, and writes
//! the replica counts to `/status`. Pods it deletes first are the least useful ones, in
//! upstream's order (unscheduled, pending, not ready, ready the shortest, newest).

use std::cmp::Reverse;
use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys, paths};
use super::events::{self, Event};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, int, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::patch::value::values_equal;

/// Upstream's burstReplicas: at most this many creations or deletions per sync.
const BURST: usize = 500;

pub struct ReplicaSetController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: feeds from ReplicaSets and pods, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(ReplicaSetController {
        client: Client::new(server, "replicaset-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_rs = move |c: Change| {
        if let Some(key) = c.latest().and_then(queue_key) {
            queue.add(key);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::REPLICA_SETS.into(),
            Rc::new(on_rs),
        ))
        .detach();
    let weak = Rc::clone(&ctl);
    let on_pod = move |c: Change| weak.on_pod_change(&c);
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

impl ReplicaSetController {
    /// A pod change concerns its controlling ReplicaSet (before and after), or every
    /// ReplicaSet of its namespace that could adopt it.
    fn on_pod_change(&self, change: &Change) {
        for pod in [&change.old, &change.new].into_iter().flatten() {
            let ns = meta::namespace(pod).unwrap_or("");
            match objects::controller_of(pod) {
                Some(("ReplicaSet", name, _)) => self.queue.add(format!("{ns}/{name}")),
                Some(_) => {}
                None if objects::is_active(pod) => self.enqueue_adopters(ns, pod),
                None => {}
            }
        }
    }

    fn enqueue_adopters(&self, ns: &str, pod: &Value) {
        let prefix = keys::in_namespace(keys::REPLICA_SETS, ns);
        for rs in self.client.list(&prefix) {
            if let Some(key) = queue_key(&rs)
                && objects::spec_selector(&rs).matches_object(pod)
            {
                self.queue.add(key);
            }
        }
    }

    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(rs) = self.client.get(&keys::object(keys::REPLICA_SETS, ns, name)) else {
            return Ok(());
        };
        let pods = self.claim_pods(&rs, ns).await?;
        let managed = if objects::is_deleting(&rs) {
            Ok(())
        } else {
            self.manage(&rs, ns, &pods).await
        };
        let failure = managed.as_ref().err().map(api_message);
        self.write_status(&rs, ns, &pods, failure.as_deref())
            .await?;
        managed
    }

    /// The active pods this ReplicaSet controls after adopting and releasing.
    async fn claim_pods(&self, rs: &Value, ns: &str) -> Result<Vec<Value>, WriteError> {
        let selector = objects::spec_selector(rs);
        let uid = meta::uid(rs).unwrap_or("");
        let mut owned = Vec::new();
        for pod in self.client.list(&keys::in_namespace(keys::PODS, ns)) {
            if !objects::is_active(&pod) {
                continue;
            }
            let matches = selector.matches_object(&pod);
            match objects::controller_of(&pod) {
                Some((_, _, owner)) if owner == uid && matches => owned.push(pod),
                Some((_, _, owner)) if owner == uid => {
                    self.set_owner(ns, &pod, None).await?;
                }
                None if matches && !objects::is_deleting(rs) => {
                    let reference = objects::controller_reference("apps/v1", "ReplicaSet", rs);
                    owned.push(self.set_owner(ns, &pod, Some(reference)).await?);
                }
                _ => {}
            }
        }
        Ok(owned)
    }

    /// Adopts (`Some`) or releases (`None`) a pod, guarded by its resourceVersion.
    async fn set_owner(
        &self,
        ns: &str,
        pod: &Value,
        reference: Option<Value>,
    ) -> Result<Value, WriteError> {
        let patch = object([(
            "metadata",
            object([
                ("ownerReferences", objects::with_controller(pod, reference)),
                (
                    "resourceVersion",
                    string(meta::resource_version(pod).unwrap_or("")),
                ),
            ]),
        )]);
        let name = meta::name(pod).unwrap_or("");
        self.client.merge_patch(&paths::pod(ns, name), &patch).await
    }

    async fn manage(
        self: &Rc<Self>,
        rs: &Value,
        ns: &str,
        pods: &[Value],
    ) -> Result<(), WriteError> {
        let want = usize::try_from(objects::spec_i64(rs, "replicas", 1)).unwrap_or(0);
        if pods.len() < want {
            let pod = pod_from_template(rs);
            self.create_pods(rs, &pod, (want - pods.len()).min(BURST))
                .await
        } else if pods.len() > want {
            let mut victims: Vec<&Value> = pods.iter().collect();
            victims.sort_by_key(|p| deletion_rank(p));
            for pod in victims.into_iter().take((pods.len() - want).min(BURST)) {
                let path = paths::pod(ns, meta::name(pod).unwrap_or(""));
                match self.client.delete(&path).await {
                    Ok(()) => self.event(rs, "SuccessfulDelete", "Deleted", pod),
                    Err(WriteError::NotFound) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        } else {
            Ok(())
        }
    }

    /// Creates `count` pods in upstream's slow-start batches (1, 2, 4, ...), each batch
    /// concurrently; stops at the first batch with a failure.
    async fn create_pods(&self, rs: &Value, pod: &Value, count: usize) -> Result<(), WriteError> {
        let ns = meta::namespace(rs).unwrap_or("");
        let mut done = 0;
        let mut batch = 1;
        while done < count {
            let size = batch.min(count - done);
            let tasks: Vec<_> = (0..size)
                .map(|_| {
                    let client = self.client.clone();
                    let (path, pod) = (paths::pods(ns), pod.clone());
                    self.executor
                        .spawn(async move { client.create(&path, &pod).await })
                })
                .collect();
            let mut failure = None;
            for task in tasks {
                match task.await {
                    Ok(created) => self.event(rs, "SuccessfulCreate", "Created", &created),
                    Err(e) => failure = Some(e),
                }
            }
            if let Some(e) = failure {
                let event = Event {
                    kind: "Warning",
                    reason: "FailedCreate",
                    message: format!("Error creating: {}", api_message(&e)),
                    component: "replicaset-controller",
                };
                events::emit(&self.executor, &self.client, rs, event);
                return Err(e);
            }
            done += size;
            batch *= 2;
        }
        Ok(())
    }

    async fn write_status(
        &self,
        rs: &Value,
        ns: &str,
        pods: &[Value],
        failure: Option<&str>,
    ) -> Result<(), WriteError> {
        let min_ready = objects::spec_i64(rs, "minReadySeconds", 0);
        let (mut status, wait) = replica_status(rs, pods, min_ready, time::now_unix());
        set_failure(&mut status, failure);
        if let Some(secs) = wait {
            let key = queue_key(rs).unwrap_or_default();
            let delay = Duration::from_secs(u64::try_from(secs).unwrap_or(1).max(1));
            self.queue.add_after(&self.executor, key, delay);
        }
        let current = meta::get_path(rs, &["status"])
            .cloned()
            .unwrap_or(Value::Null);
        if values_equal(&current, &status) {
            return Ok(());
        }
        let mut updated = rs.clone();
        if let Some(o) = meta::as_object_mut(&mut updated) {
            o.insert("status".to_owned(), status);
        }
        let path = format!(
            "{}/status",
            paths::replica_set(ns, meta::name(rs).unwrap_or(""))
        );
        self.client.update(&path, &updated).await.map(|_| ())
    }
}

impl ReplicaSetController {
    /// upstream's `Created pod: NAME` / `Deleted pod: NAME` events on the ReplicaSet.
    fn event(&self, rs: &Value, reason: &'static str, verb: &str, pod: &Value) {
        let event = Event {
            kind: "Normal",
            reason,
            message: format!("{verb} pod: {}", meta::name(pod).unwrap_or("")),
            component: "replicaset-controller",
        };
        events::emit(&self.executor, &self.client, rs, event);
    }
}

/// What the API said, without the status code.
fn api_message(e: &WriteError) -> String {
    match e {
        WriteError::Other { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// ReplicaFailure=True/FailedCreate while creating or deleting pods fails; removed once a
/// sync succeeds (upstream's calculateStatus).
fn set_failure(status: &mut Value, failure: Option<&str>) {
    let Value::Object(status) = status else {
        return;
    };
    match failure {
        Some(message)
            if objects::condition(
                &object([("status", Value::Object(status.clone()))]),
                "ReplicaFailure",
            )
            .is_none() =>
        {
            let now = time::format_rfc3339(time::now_unix());
            let cond = object([
                ("type", string("ReplicaFailure")),
                ("status", string("True")),
                ("lastTransitionTime", string(now)),
                ("reason", string("FailedCreate")),
                ("message", string(message)),
            ]);
            objects::set_condition(status, cond, true);
        }
        Some(_) => {}
        None => {
            if let Some(Value::Array(conds)) = status.get_mut("conditions") {
                conds.retain(|c| meta::get_str(c, &["type"]) != Some("ReplicaFailure"));
                if conds.is_empty() {
                    status.remove("conditions");
                }
            }
        }
    }
}

/// A pod as the ReplicaSet's template describes it, owned by the ReplicaSet.
pub fn pod_from_template(rs: &Value) -> Value {
    let template = meta::get_path(rs, &["spec", "template"]);
    let mut md = Object::new();
    for field in ["labels", "annotations", "finalizers"] {
        if let Some(v) = template.and_then(|t| meta::get_path(t, &["metadata", field])) {
            md.insert(field.to_owned(), v.clone());
        }
    }
    let name = meta::name(rs).unwrap_or("");
    md.insert("generateName".to_owned(), string(format!("{name}-")));
    md.insert(
        "ownerReferences".to_owned(),
        objects::array(vec![objects::controller_reference(
            "apps/v1",
            "ReplicaSet",
            rs,
        )]),
    );
    let spec = template
        .and_then(|t| meta::get_path(t, &["spec"]))
        .cloned()
        .unwrap_or_else(|| Value::Object(Object::new()));
    object([
        ("apiVersion", string("v1")),
        ("kind", string("Pod")),
        ("metadata", Value::Object(md)),
        ("spec", spec),
    ])
}

/// Sort key: pods that sort first are deleted first (upstream's ActivePods ordering).
fn deletion_rank(pod: &Value) -> (bool, u8, bool, Reverse<i64>, Reverse<i64>, Reverse<String>) {
    let assigned = meta::get_str(pod, &["spec", "nodeName"]).is_some_and(|n| !n.is_empty());
    let phase = match objects::phase(pod) {
        "Pending" | "" => 0,
        "Unknown" => 1,
        _ => 2,
    };
    let ready = objects::ready_since(pod);
    (
        assigned,
        phase,
        ready.is_some(),
        Reverse(ready.unwrap_or(0)),
        Reverse(restarts(pod)),
        Reverse(objects::creation_time(pod).to_owned()),
    )
}

fn restarts(pod: &Value) -> i64 {
    match meta::get_path(pod, &["status", "containerStatuses"]) {
        Some(Value::Array(statuses)) => statuses
            .iter()
            .filter_map(|s| meta::get_i64(s, &["restartCount"]))
            .sum(),
        _ => 0,
    }
}

/// The status upstream computes from the claimed active pods, and the seconds until the
/// next Ready pod becomes available (when minReadySeconds holds one back).
pub fn replica_status(
    rs: &Value,
    pods: &[Value],
    min_ready: i64,
    now: i64,
) -> (Value, Option<i64>) {
    let template_labels = meta::string_map(rs, &["spec", "template", "metadata", "labels"]);
    let fully_labeled = pods
        .iter()
        .filter(|p| {
            let labels = meta::labels(p);
            template_labels.iter().all(|l| labels.contains(l))
        })
        .count();
    let ready = pods.iter().filter(|p| objects::is_ready(p)).count();
    let mut available = 0;
    let mut wait: Option<i64> = None;
    for pod in pods {
        match objects::availability(pod, min_ready, now) {
            Ok(()) => available += 1,
            Err(Some(secs)) => wait = Some(wait.map_or(secs, |w| w.min(secs))),
            Err(None) => {}
        }
    }
    let mut status = Object::new();
    let count = |n: usize| int(i64::try_from(n).unwrap_or(i64::MAX));
    status.insert("replicas".to_owned(), count(pods.len()));
    for (field, n) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if n > 0 {
            status.insert(field.to_owned(), count(n));
        }
    }
    if let Some(generation) = meta::generation(rs) {
        status.insert("observedGeneration".to_owned(), int(generation));
    }
    if let Some(conds) = meta::get_path(rs, &["status", "conditions"]) {
        status.insert("conditions".to_owned(), conds.clone());
    }
    (Value::Object(status), wait)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::parse;

    fn failure_reason(status: &Value) -> Option<String> {
        let wrapped = object([("status", status.clone())]);
        objects::condition(&wrapped, "ReplicaFailure")
            .and_then(|c| meta::get_str(c, &["reason"]))
            .map(str::to_owned)
    }

    #[test]
    fn replica_failure_is_set_once_and_cleared_by_success() {
        let mut status = parse(r#"{"replicas":0}"#).unwrap();
        set_failure(&mut status, Some("pods \"x\" is forbidden: quota"));
        assert_eq!(failure_reason(&status).as_deref(), Some("FailedCreate"));
        let first = status.clone();
        set_failure(&mut status, Some("another error"));
        assert!(
            crate::patch::value::values_equal(&first, &status),
            "kept as first set"
        );
        set_failure(&mut status, None);
        assert_eq!(failure_reason(&status), None);
        assert!(meta::get_path(&status, &["conditions"]).is_none());
    }

    #[test]
    fn the_event_carries_the_api_message_without_the_code() {
        let e = WriteError::Other {
            code: 403,
            message: "pods is forbidden".into(),
        };
        assert_eq!(api_message(&e), "pods is forbidden");
    }
}
