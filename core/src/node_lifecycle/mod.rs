//! The node lifecycle controller: watches Nodes and their Leases in kube-node-lease and
//! the state of node links; when a node is lost (its link dropped, or no Lease renewal
//! within the 40 s grace period) it turns the node's conditions Unknown
//! (NodeStatusUnknown, "Kubelet stopped posting node status."); and it keeps the taints
//! upstream derives from conditions (see [`taints`]). It writes only on a change, so an
//! idle healthy node costs one store read per Lease renewal and no write. One timer per
//! node, at its grace deadline; no polling.
//!
//! Nodes are monitored when this control plane serves a node link (from the controller's
//! start, so a node whose agent never returns after a restart still goes Unknown), when a
//! Lease exists for them, or once a link for them connected. A Node created by hand with no
//! kubelet behind it (the workload tests' fake node) is not expected to heartbeat.
//!
//! Pods on a lost node are not evicted: see docs/controllers.md ("Node lifecycle") for why a
//! single-node system keeps them.

pub mod health;
pub mod lease;
pub mod taints;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::Value;

use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::workloads::client::{Client, WriteError, keys};
use crate::workloads::events::{self, Event};
use crate::workloads::feed::{self, Change};
use crate::workloads::queue::{self, WorkQueue};
use health::{Health, Signals};

/// Seconds since the epoch; tests pass a fake one.
pub type Clock = Rc<dyn Fn() -> i64>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LinkState {
    Up { since: i64 },
    Down,
}

/// What the node links report: which nodes are connected. Shared by the node link
/// (crate::nodelink) and the controller, which it wakes on every change.
pub struct NodeLinks {
    states: RefCell<HashMap<String, LinkState>>,
    queue: Rc<WorkQueue>,
    clock: Clock,
}

impl NodeLinks {
    pub fn connected(&self, node: &str) {
        let since = (self.clock)();
        self.set(node, LinkState::Up { since });
    }

    pub fn disconnected(&self, node: &str) {
        self.set(node, LinkState::Down);
    }

    fn set(&self, node: &str, state: LinkState) {
        self.states.borrow_mut().insert(node.to_owned(), state);
        self.queue.add(node.to_owned());
    }

    fn state(&self, node: &str) -> Option<LinkState> {
        self.states.borrow().get(node).copied()
    }
}

pub struct NodeLifecycle {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
    clock: Clock,
    links: Rc<NodeLinks>,
    started: i64,
    expect_heartbeats: bool,
    /// The latest renewTime seen per node, so deleting a Lease does not make a node look
    /// silent (upstream keeps its probe timestamps in memory too).
    heard: RefCell<HashMap<String, i64>>,
}

/// Starts the controller with the wall clock; `expect_heartbeats` when this control plane
/// serves a node link. The returned links are what the node link reports to.
pub fn spawn(
    executor: &Rc<LocalExecutor<'static>>,
    server: &Rc<ApiServer>,
    expect_heartbeats: bool,
) -> Rc<NodeLinks> {
    let ctl = NodeLifecycle::new(executor, server, Rc::new(time::now_unix), expect_heartbeats);
    ctl.start_feeds(server);
    let links = Rc::clone(&ctl.links);
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
    links
}

impl NodeLifecycle {
    pub fn new(
        executor: &Rc<LocalExecutor<'static>>,
        server: &Rc<ApiServer>,
        clock: Clock,
        expect_heartbeats: bool,
    ) -> Rc<NodeLifecycle> {
        let queue = WorkQueue::new();
        let links = Rc::new(NodeLinks {
            states: RefCell::new(HashMap::new()),
            queue: Rc::clone(&queue),
            clock: Rc::clone(&clock),
        });
        Rc::new(NodeLifecycle {
            client: Client::new(server, "node-controller", "kube-controller-manager"),
            queue,
            executor: Rc::clone(executor),
            started: clock(),
            clock,
            links,
            expect_heartbeats,
            heard: RefCell::new(HashMap::new()),
        })
    }

    pub fn links(&self) -> &Rc<NodeLinks> {
        &self.links
    }

    fn start_feeds(&self, server: &Rc<ApiServer>) {
        let store = server.store().clone();
        let queue = Rc::clone(&self.queue);
        let on_change = move |c: Change| {
            if let Some(name) = c.latest().and_then(meta::name) {
                queue.add(name.to_owned());
            }
        };
        let on_change: Rc<dyn Fn(Change)> = Rc::new(on_change);
        for prefix in [keys::NODES, lease::PREFIX] {
            self.executor
                .spawn(feed::follow(
                    store.clone(),
                    prefix.to_owned(),
                    Rc::clone(&on_change),
                ))
                .detach();
        }
    }

    /// Reconciles one node: its conditions if it is lost, then its taints.
    pub async fn sync(&self, name: &str) -> Result<(), WriteError> {
        let Some(mut node) = self.client.get(&format!("{}{name}", keys::NODES)) else {
            self.heard.borrow_mut().remove(name);
            return Ok(());
        };
        let now = (self.clock)();
        match self.health(name, now) {
            Some(Health::Fresh { deadline }) => {
                let wait = u64::try_from(deadline - now).unwrap_or(0);
                self.queue
                    .add_after(&self.executor, name.to_owned(), Duration::from_secs(wait));
            }
            Some(Health::Lost) => {
                let mut lost = node.clone();
                if health::mark_unknown(&mut lost, now) {
                    let path = format!("/api/v1/nodes/{name}/status");
                    node = self.client.update(&path, &lost).await?;
                    self.record_not_ready(&node, name);
                }
            }
            None => {}
        }
        let Some(taints) = taints::reconcile(&node, now) else {
            return Ok(());
        };
        let spec = meta::ensure_object(&mut node, &["spec"]);
        spec.insert(
            "taints".to_owned(),
            Value::Array(taints.into_iter().collect()),
        );
        self.client
            .update(&format!("/api/v1/nodes/{name}"), &node)
            .await
            .map(|_| ())
    }

    /// `None` for a node nothing says should heartbeat.
    fn health(&self, name: &str, now: i64) -> Option<Health> {
        let lease = self.client.get(&format!("{}{name}", lease::PREFIX));
        let link = self.links.state(name);
        let known = lease.is_some() || self.heard.borrow().contains_key(name);
        if !self.expect_heartbeats && !known && link.is_none() {
            return None;
        }
        let watched_since = match link {
            Some(LinkState::Up { since }) => since.max(self.started),
            _ => self.started,
        };
        let renewed = {
            let mut heard = self.heard.borrow_mut();
            let latest = lease
                .as_ref()
                .and_then(lease::renewed_at)
                .max(heard.get(name).copied());
            if let Some(t) = latest {
                heard.insert(name.to_owned(), t);
            }
            latest
        };
        Some(health::judge(
            Signals {
                renewed,
                watched_since,
                link_lost: link == Some(LinkState::Down),
            },
            now,
        ))
    }

    fn record_not_ready(&self, node: &Value, name: &str) {
        events::emit(
            &self.executor,
            &self.client,
            node,
            Event {
                kind: "Normal",
                reason: "NodeNotReady",
                message: format!("Node {name} status is now: NodeNotReady"),
                component: "node-controller",
            },
        );
    }
}

#[cfg(test)]
mod tests;
