//! The ResourceQuota controller: keeps each quota's `status.hard` (a copy of `spec.hard`)
//! and `status.used` (what the namespace's objects charge, for the resources the quota
//! names). Fed by watches on quotas and the charged kinds; its queue holds namespaces, so a
//! burst of changes in one namespace costs one recount. Pod status updates that cannot
//! change usage (anything but creation, deletion and finishing) are ignored. Other kinds
//! counted by `count/<plural>.<group>` get a watch when a quota first names them.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::{
    CHARGED, QUOTAS, Usage, format, hard_of, kind_of, namespace_usage, object_count,
    object_count_prefix,
};
use crate::api::server::ApiServer;
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::workloads::client::{Client, WriteError};
use crate::workloads::feed::{self, Change};
use crate::workloads::objects;
use crate::workloads::queue::{self, WorkQueue};

pub struct QuotaController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
    /// Prefixes of the kinds counted by `count/<plural>.<group>` that have a watch, started
    /// when a quota first names them.
    watched: RefCell<HashSet<String>>,
}

/// Starts the controller: feeds from quotas and every charged kind, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(QuotaController {
        client: Client::new(
            server,
            "resourcequota-controller",
            "kube-controller-manager",
        ),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
        watched: RefCell::new(HashSet::new()),
    });
    let store = server.store().clone();
    let q = Rc::clone(&ctl.queue);
    executor
        .spawn(feed::follow(
            store.clone(),
            QUOTAS.into(),
            Rc::new(move |c: Change| queue_namespace(&q, &c)),
        ))
        .detach();
    for (plural, prefix) in CHARGED {
        let q = Rc::clone(&ctl.queue);
        let on_change = move |c: Change| {
            if plural != "pods" || pod_usage_may_change(&c) {
                queue_namespace(&q, &c);
            }
        };
        executor
            .spawn(feed::follow(
                store.clone(),
                prefix.into(),
                Rc::new(on_change),
            ))
            .detach();
    }
    let worker = Rc::clone(&ctl);
    executor
        .spawn(queue::run_worker(
            Rc::clone(&ctl.queue),
            Rc::clone(executor),
            move |ns| {
                let ctl = Rc::clone(&worker);
                async move { ctl.sync(&ns).await }
            },
        ))
        .detach();
}

fn queue_namespace(q: &WorkQueue, c: &Change) {
    if let Some(ns) = c.latest().and_then(meta::namespace) {
        q.add(ns.to_owned());
    }
}

fn pod_usage_may_change(c: &Change) -> bool {
    match (&c.old, &c.new) {
        (Some(old), Some(new)) => objects::is_terminal(old) != objects::is_terminal(new),
        _ => true,
    }
}

impl QuotaController {
    /// Recounts every quota of the namespace.
    pub async fn sync(&self, namespace: &str) -> Result<(), WriteError> {
        let quotas = self.client.list(&format!("{QUOTAS}{namespace}/"));
        if quotas.is_empty() {
            return Ok(());
        }
        for quota in quotas {
            let mut counted: Vec<(&str, Usage)> = Vec::new();
            let mut used = Object::new();
            for (resource, _, _) in hard_of(&quota) {
                if let Some(prefix) = object_count_prefix(&resource) {
                    self.watch(&prefix);
                    let scoped = !super::scopes::of(&quota).is_empty();
                    let n = if scoped {
                        0
                    } else {
                        object_count(self.client.server().store(), &prefix, namespace)
                    };
                    used.insert(resource.clone(), Value::String(format(&resource, n)));
                    continue;
                }
                let Some(kind) = kind_of(&resource) else {
                    continue;
                };
                if !counted.iter().any(|(k, _)| *k == kind) {
                    let usage =
                        namespace_usage(self.client.server().store(), kind, namespace, &quota);
                    counted.push((kind, usage));
                }
                let usage = &counted.iter().find(|(k, _)| *k == kind).expect("counted").1;
                let amount = usage.get(&resource).copied().unwrap_or(0);
                used.insert(resource.clone(), Value::String(format(&resource, amount)));
            }
            self.write_status(&quota, used).await?;
        }
        Ok(())
    }

    /// Follows the objects under `prefix` (once), so their counts stay current.
    fn watch(&self, prefix: &str) {
        if !self.watched.borrow_mut().insert(prefix.to_owned()) {
            return;
        }
        let q = Rc::clone(&self.queue);
        let store = self.client.server().store().clone();
        self.executor
            .spawn(feed::follow(
                store,
                prefix.to_owned(),
                Rc::new(move |c: Change| queue_namespace(&q, &c)),
            ))
            .detach();
    }

    async fn write_status(&self, quota: &Value, used: Object) -> Result<(), WriteError> {
        let hard = meta::get_path(quota, &["spec", "hard"])
            .cloned()
            .unwrap_or(Value::Object(Object::new()));
        let used = Value::Object(used);
        let same = |field: &str, want: &Value| {
            meta::get_path(quota, &["status", field]).is_some_and(|have| values_equal(have, want))
        };
        if same("hard", &hard) && same("used", &used) {
            return Ok(());
        }
        let mut updated = quota.clone();
        let status = meta::ensure_object(&mut updated, &["status"]);
        status.insert("hard".to_owned(), hard);
        status.insert("used".to_owned(), used);
        let path = format!(
            "/api/v1/namespaces/{}/resourcequotas/{}/status",
            meta::namespace(quota).unwrap_or(""),
            meta::name(quota).unwrap_or("")
        );
        self.client.update(&path, &updated).await.map(|_| ())
    }
}
