//! The scheduler for wisp's node(s): binds each pending pod of `default-scheduler` to a
//! Node it fits (see [`fit`]), or leaves it Pending with PodScheduled=False/Unschedulable
//! and a FailedScheduling Event. Event-driven: new pods are tried as they appear, and
//! unschedulable ones again when a node changes or a bound pod goes away.

mod claims;
mod fit;
pub mod placement;
pub mod quantity;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use async_executor::{LocalExecutor, Task};
use miniserde::json::Value;

use crate::api::server::ApiServer;
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::workloads::client::{Client, WriteError, keys, paths};
use crate::workloads::events::{self, Event};
use crate::workloads::feed::{self, Change, queue_key, split_queue_key};
use crate::workloads::objects::{self, object, string};
use crate::workloads::queue::WorkQueue;

pub use fit::{Usage, failure_message, fits, pod_requests};

pub const SCHEDULER_NAME: &str = "default-scheduler";

pub struct Scheduler {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
    /// Set when capacity may have appeared: every unschedulable pod gets another try.
    retry_all: Cell<bool>,
}

/// Starts the scheduler: feeds from pods and nodes, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let s = Rc::new(Scheduler {
        client: Client::for_user(
            server,
            crate::auth::identities::scheduler(),
            "kube-scheduler",
        ),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
        retry_all: Cell::new(false),
    });
    let store = server.store().clone();
    let on_pod = Rc::clone(&s);
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::PODS.into(),
            Rc::new(move |c| on_pod.on_pod_change(&c)),
        ))
        .detach();
    let on_claim = Rc::clone(&s);
    executor
        .spawn(feed::follow(
            store.clone(),
            crate::storage::CLAIMS.into(),
            Rc::new(move |c| {
                if claims::may_unblock(&c) {
                    on_claim.request_retry_all();
                }
            }),
        ))
        .detach();
    let on_node = Rc::clone(&s);
    executor
        .spawn(feed::follow(
            store,
            keys::NODES.into(),
            Rc::new(move |c| on_node.on_node_change(&c)),
        ))
        .detach();
    executor.spawn(async move { s.run().await }).detach();
}

fn node_name(pod: &Value) -> &str {
    meta::get_str(pod, &["spec", "nodeName"]).unwrap_or("")
}

/// Ours to place: unbound, alive, and asking for the default scheduler.
fn wants_scheduling(pod: &Value) -> bool {
    let scheduler = meta::get_str(pod, &["spec", "schedulerName"]).unwrap_or(SCHEDULER_NAME);
    node_name(pod).is_empty() && scheduler == SCHEDULER_NAME && objects::is_active(pod)
}

impl Scheduler {
    fn on_pod_change(&self, change: &Change) {
        if let Some(pod) = change.new.as_ref().filter(|p| wants_scheduling(p)) {
            self.queue.add_key(queue_key(pod));
        }
        let was_bound = change
            .old
            .as_ref()
            .is_some_and(|p| !node_name(p).is_empty() && !objects::is_terminal(p));
        let frees = match &change.new {
            None => was_bound,
            Some(new) => was_bound && objects::is_terminal(new),
        };
        if frees {
            self.request_retry_all();
        }
    }

    /// Node changes that can make room: labels, spec (taints, unschedulable), allocatable.
    fn on_node_change(&self, change: &Change) {
        let Some(new) = &change.new else { return };
        let same = |path: &[&str]| match (&change.old, meta::get_path(new, path)) {
            (Some(old), Some(b)) => meta::get_path(old, path).is_some_and(|a| values_equal(a, b)),
            (Some(old), None) => meta::get_path(old, path).is_none(),
            (None, _) => false,
        };
        let unchanged =
            same(&["metadata", "labels"]) && same(&["spec"]) && same(&["status", "allocatable"]);
        if !unchanged {
            self.request_retry_all();
        }
    }

    fn request_retry_all(&self) {
        self.retry_all.set(true);
        self.queue.add(String::new());
    }

    async fn run(self: Rc<Self>) {
        loop {
            let mut batch = self.queue.next_batch().await;
            if batch.is_empty() {
                return;
            }
            if self.retry_all.replace(false) {
                batch.extend(
                    self.client
                        .list(keys::PODS)
                        .iter()
                        .filter(|p| wants_scheduling(p))
                        .filter_map(queue_key),
                );
            }
            batch.retain(|k| !k.is_empty());
            batch.dedup();
            self.schedule_batch(batch).await;
        }
    }

    /// Places a batch against one snapshot of node usage, then writes all outcomes
    /// concurrently.
    async fn schedule_batch(&self, keys_batch: Vec<String>) {
        let nodes = self.client.list(keys::NODES);
        let mut usage = self.node_usage();
        let mut writes: Vec<Task<Result<(), WriteError>>> = Vec::new();
        for key in keys_batch {
            let (ns, name) = split_queue_key(&key);
            let Some(pod) = self.client.get(&keys::object(keys::PODS, ns, name)) else {
                continue;
            };
            if !wants_scheduling(&pod) {
                continue;
            }
            let client = self.client.clone();
            let ex = Rc::clone(&self.executor);
            let waiting = match claims::check(&self.client, &pod) {
                claims::ClaimVerdict::Ready => Vec::new(),
                claims::ClaimVerdict::SelectNode(names) => names,
                claims::ClaimVerdict::Unschedulable(reason) => {
                    let message = claims::unschedulable_message(nodes.len(), &reason);
                    writes.push(self.executor.spawn(async move {
                        mark_unschedulable(&ex, &client, &pod, &message).await
                    }));
                    continue;
                }
            };
            let volumes = claims::VolumeAffinity::of(&self.client, &pod);
            match place(&pod, &nodes, &usage, &volumes) {
                Ok(node) if !waiting.is_empty() => {
                    writes.push(self.executor.spawn(async move {
                        claims::select_node(&client, &pod, &waiting, &node).await
                    }));
                }
                Ok(node) => {
                    usage.entry(node.clone()).or_default().add(&pod);
                    writes.push(
                        self.executor
                            .spawn(async move { bind(&ex, &client, &pod, &node).await }),
                    );
                }
                Err(message) => {
                    writes.push(self.executor.spawn(async move {
                        mark_unschedulable(&ex, &client, &pod, &message).await
                    }));
                }
            }
        }
        for task in writes {
            if task.await.is_err() {
                // The pod changed or a write failed: its next event brings it back; a
                // full retry covers writes that failed without one.
                self.retry_all.set(true);
            }
        }
    }

    /// Requests of the live pods bound to each node.
    fn node_usage(&self) -> BTreeMap<String, Usage> {
        let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
        for pod in self.client.list(keys::PODS) {
            let node = node_name(&pod);
            if !node.is_empty() && !objects::is_terminal(&pod) {
                usage.entry(node.to_owned()).or_default().add(&pod);
            }
        }
        usage
    }
}

/// The first node (by name) the pod fits, or the failure message. The node must also suit
/// the volumes of the pod's bound claims (VolumeBinding comes after the resource fit).
fn place(
    pod: &Value,
    nodes: &[Value],
    usage: &BTreeMap<String, Usage>,
    volumes: &claims::VolumeAffinity,
) -> Result<String, String> {
    let empty = Usage::default();
    let mut reasons = Vec::new();
    for node in nodes {
        let name = meta::name(node).unwrap_or("");
        let fit = fits(pod, node, usage.get(name).unwrap_or(&empty))
            .and_then(|()| volumes.admits(node).map_err(|r| vec![r]));
        match fit {
            Ok(()) => return Ok(name.to_owned()),
            Err(r) => reasons.extend(r),
        }
    }
    Err(failure_message(nodes.len(), &reasons))
}

fn scheduled_condition(status: &str, reason: Option<&str>, message: Option<&str>) -> Value {
    let mut c = object([
        ("type", string("PodScheduled")),
        ("status", string(status)),
        ("lastProbeTime", Value::Null),
        (
            "lastTransitionTime",
            string(crate::workloads::deployment::now_rfc3339()),
        ),
    ]);
    if let (Some(r), Some(m), Value::Object(o)) = (reason, message, &mut c) {
        o.insert("reason".to_owned(), string(r));
        o.insert("message".to_owned(), string(m));
    }
    c
}

/// POST pods/NAME/binding: spec.nodeName and PodScheduled=True in one write.
async fn bind(
    ex: &LocalExecutor<'static>,
    client: &Client,
    pod: &Value,
    node: &str,
) -> Result<(), WriteError> {
    let ns = meta::namespace(pod).unwrap_or("");
    let name = meta::name(pod).unwrap_or("");
    let binding = object([
        ("apiVersion", string("v1")),
        ("kind", string("Binding")),
        (
            "metadata",
            object([("name", string(name)), ("namespace", string(ns))]),
        ),
        (
            "target",
            object([
                ("apiVersion", string("v1")),
                ("kind", string("Node")),
                ("name", string(node)),
            ]),
        ),
    ]);
    let path = format!("{}/binding", paths::pod(ns, name));
    client.create(&path, &binding).await?;
    let message = format!("Successfully assigned {ns}/{name} to {node}");
    events::emit(
        ex,
        client,
        pod,
        scheduler_event("Normal", "Scheduled", message),
    );
    Ok(())
}

fn scheduler_event(kind: &'static str, reason: &'static str, message: String) -> Event<'static> {
    Event {
        kind,
        reason,
        message,
        component: SCHEDULER_NAME,
    }
}

/// PodScheduled=False with the reason, and a FailedScheduling event, when the message is
/// new for this pod (a repeat of the same verdict writes nothing).
async fn mark_unschedulable(
    ex: &LocalExecutor<'static>,
    client: &Client,
    pod: &Value,
    message: &str,
) -> Result<(), WriteError> {
    let current = objects::condition(pod, "PodScheduled");
    let same = current.is_some_and(|c| {
        meta::get_str(c, &["status"]) == Some("False")
            && meta::get_str(c, &["message"]) == Some(message)
    });
    if same {
        return Ok(());
    }
    write_scheduled(
        client,
        pod,
        scheduled_condition("False", Some("Unschedulable"), Some(message)),
    )
    .await?;
    let event = scheduler_event("Warning", "FailedScheduling", message.to_owned());
    events::emit(ex, client, pod, event);
    Ok(())
}

async fn write_scheduled(client: &Client, pod: &Value, cond: Value) -> Result<(), WriteError> {
    let mut updated = pod.clone();
    let status = meta::ensure_object(&mut updated, &["status"]);
    if !status.contains_key("phase") {
        status.insert("phase".to_owned(), string("Pending"));
    }
    objects::set_condition(status, cond, false);
    let ns = meta::namespace(pod).unwrap_or("");
    let path = format!("{}/status", paths::pod(ns, meta::name(pod).unwrap_or("")));
    client.update(&path, &updated).await.map(|_| ())
}
