//! The Deployment controller: one ReplicaSet per pod template (named by its
//! pod-template-hash), rolled forward with RollingUpdate or Recreate, scaled
//! proportionally, cleaned to revisionHistoryLimit, and the status and conditions that
//! `kubectl rollout status` reads. Fed by Deployments, their ReplicaSets, and deleted pods
//! (Recreate waits for old pods to be gone).

mod hash;
mod math;
mod replica_sets;
mod rollout;
mod status;

use std::rc::Rc;

use async_executor::LocalExecutor;
use miniserde::json::Value;

use super::client::{Client, WriteError, keys};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects;
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::meta;

pub use hash::template_hash;

/// An int-or-percent (`1`, `"25%"`) against `total`, rounded down; absent is 1.
pub fn scaled_int_or_percent(v: Option<&Value>, total: i64) -> i64 {
    match v {
        None => 1,
        some => math::scaled_value(some, 0, total, false),
    }
}

/// The current time as conditions carry it.
pub fn now_rfc3339() -> String {
    crate::object::time::format_rfc3339(crate::object::time::now_unix())
}

pub const REVISION: &str = "deployment.kubernetes.io/revision";
pub const REVISION_HISTORY: &str = "deployment.kubernetes.io/revision-history";
pub const DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";
pub const HASH_LABEL: &str = "pod-template-hash";

pub struct DeploymentController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: feeds from Deployments, ReplicaSets and pod deletions.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(DeploymentController {
        client: Client::new(server, "deployment-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_deploy = move |c: Change| {
        if let Some(key) = c.latest().and_then(queue_key) {
            queue.add(key);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::DEPLOYMENTS.into(),
            Rc::new(on_deploy),
        ))
        .detach();
    let for_rs = Rc::clone(&ctl);
    let on_rs = move |c: Change| for_rs.on_replica_set_change(&c);
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::REPLICA_SETS.into(),
            Rc::new(on_rs),
        ))
        .detach();
    let for_pods = Rc::clone(&ctl);
    let on_pod = move |c: Change| for_pods.on_pod_change(&c);
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

impl DeploymentController {
    fn on_replica_set_change(&self, change: &Change) {
        for rs in [&change.old, &change.new].into_iter().flatten() {
            let ns = meta::namespace(rs).unwrap_or("");
            match objects::controller_of(rs) {
                Some(("Deployment", name, _)) => self.queue.add(format!("{ns}/{name}")),
                Some(_) => {}
                None => self.enqueue_adopters(ns, rs),
            }
        }
    }

    fn enqueue_adopters(&self, ns: &str, rs: &Value) {
        for d in self.client.list(&keys::in_namespace(keys::DEPLOYMENTS, ns)) {
            if objects::spec_selector(&d).matches_object(rs) {
                self.queue.add_key(queue_key(&d));
            }
        }
    }

    /// Only a pod's disappearance matters here: Recreate waits for the old pods to go.
    fn on_pod_change(&self, change: &Change) {
        let (Some(pod), None) = (&change.old, &change.new) else {
            return;
        };
        let Some(("ReplicaSet", rs_name, _)) = objects::controller_of(pod) else {
            return;
        };
        let ns = meta::namespace(pod).unwrap_or("");
        let Some(rs) = self
            .client
            .get(&keys::object(keys::REPLICA_SETS, ns, rs_name))
        else {
            return;
        };
        if let Some(("Deployment", name, _)) = objects::controller_of(&rs) {
            self.queue.add(format!("{ns}/{name}"));
        }
    }

    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(d) = self.client.get(&keys::object(keys::DEPLOYMENTS, ns, name)) else {
            return Ok(());
        };
        let mut run = rollout::Rollout::new(Rc::clone(self), d);
        run.claim_replica_sets().await?;
        if objects::is_deleting(&run.d) {
            return run.sync_status_only().await;
        }
        run.check_paused_conditions().await?;
        if run.p.paused || run.is_scaling_event() {
            return run.sync_scale().await;
        }
        if run.p.recreate {
            run.rollout_recreate().await
        } else {
            run.rollout_rolling().await
        }
    }
}
