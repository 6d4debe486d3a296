//! The disruption controller: the status of each PodDisruptionBudget, as upstream's
//! (pkg/controller/disruption): expectedPods, currentHealthy (Ready pods not being deleted
//! and not recently evicted), desiredHealthy (minAvailable, or the controllers' scale minus
//! maxUnavailable; percentages rounded up), disruptionsAllowed, the DisruptionAllowed
//! condition (SufficientPods / InsufficientPods / SyncFailed), observedGeneration, and
//! `disruptedPods` entries dropped once their pod is being deleted or after 2 minutes.
//! The eviction subresource (api/subresource/eviction.rs) spends what this writes.

use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, int, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::patch::value::values_equal;
use crate::selector::LabelSelector;

const PDBS: &str = "/registry/policy/poddisruptionbudgets/";
/// Upstream's DeletionTimeout: an eviction not followed by a deletion within it is forgotten.
const DELETION_TIMEOUT_SECONDS: i64 = 120;

pub struct DisruptionController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: budgets are synced on their own changes and on any change to a
/// pod or a scalable controller in their namespace.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(DisruptionController {
        client: Client::new(server, "disruption-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_pdb = move |c: Change| queue.add_key(c.latest().and_then(queue_key));
    executor
        .spawn(feed::follow(store.clone(), PDBS.into(), Rc::new(on_pdb)))
        .detach();
    for prefix in [
        keys::PODS,
        keys::REPLICA_SETS,
        keys::DEPLOYMENTS,
        "/registry/apps/statefulsets/",
    ] {
        let watcher = Rc::clone(&ctl);
        let on_change = move |c: Change| {
            if let Some(ns) = c.latest().and_then(meta::namespace) {
                watcher.budgets_changed_in(ns);
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
            move |key| {
                let ctl = Rc::clone(&worker);
                async move { ctl.sync(&key).await }
            },
        ))
        .detach();
}

/// What a budget's status is computed from.
struct Counts {
    expected: i64,
    desired: i64,
    healthy: i64,
}

impl DisruptionController {
    /// Queues every budget of the namespace (there are few; reading keys is cheap).
    fn budgets_changed_in(&self, ns: &str) {
        let prefix = keys::in_namespace(PDBS, ns);
        let listing = self
            .client
            .server()
            .store()
            .range(prefix.as_bytes(), 0, None);
        for kv in &listing.kvs {
            let key = String::from_utf8_lossy(&kv.key[PDBS.len()..]).into_owned();
            self.queue.add(key);
        }
    }

    async fn sync(&self, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(pdb) = self.client.get(&keys::object(PDBS, ns, name)) else {
            return Ok(());
        };
        let now = time::now_unix();
        let pods = self.selected_pods(&pdb, ns);
        let (disrupted, next_expiry) = live_disruptions(&pdb, &pods, now);
        if let Some(at) = next_expiry {
            let wait = u64::try_from(at - now).unwrap_or(0).max(1);
            self.queue
                .add_after(&self.executor, key.to_owned(), Duration::from_secs(wait));
        }
        let status = match self.counts(&pdb, ns, &pods, &disrupted) {
            Ok(c) => status(&pdb, &c, disrupted, now),
            Err(message) => failed_status(&pdb, disrupted, &message, now),
        };
        if meta::get_path(&pdb, &["status"]).is_some_and(|s| values_equal(s, &status)) {
            return Ok(());
        }
        let mut updated = pdb;
        if let Some(o) = meta::as_object_mut(&mut updated) {
            o.insert("status".to_owned(), status);
        }
        let path = format!("/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets/{name}/status");
        self.client.update(&path, &updated).await.map(|_| ())
    }

    fn selected_pods(&self, pdb: &Value, ns: &str) -> Vec<Value> {
        let Ok(selector) =
            LabelSelector::from_structured(meta::get_path(pdb, &["spec", "selector"]))
        else {
            return Vec::new();
        };
        self.client
            .list(&keys::in_namespace(keys::PODS, ns))
            .into_iter()
            .filter(|p| selector.matches_object(p))
            .collect()
    }

    fn counts(
        &self,
        pdb: &Value,
        ns: &str,
        pods: &[Value],
        disrupted: &Object,
    ) -> Result<Counts, String> {
        let healthy = pods
            .iter()
            .filter(|p| meta::deletion_timestamp(p).is_none())
            .filter(|p| !disrupted.contains_key(meta::name(p).unwrap_or("")))
            .filter(|p| objects::is_ready(p))
            .count();
        let healthy = i64::try_from(healthy).unwrap_or(i64::MAX);
        let max_unavailable = meta::get_path(pdb, &["spec", "maxUnavailable"]);
        let min_available = meta::get_path(pdb, &["spec", "minAvailable"]);
        let (expected, desired) = match (max_unavailable, min_available) {
            (Some(max), _) => {
                let expected = self.expected_scale(ns, pods)?;
                (expected, (expected - scaled(max, expected)).max(0))
            }
            (None, Some(Value::String(min))) => {
                let expected = self.expected_scale(ns, pods)?;
                (expected, scaled(&string(min.as_str()), expected))
            }
            (None, Some(min)) => (
                i64::try_from(pods.len()).unwrap_or(i64::MAX),
                meta::get_i64(min, &[]).unwrap_or(0),
            ),
            (None, None) => (i64::try_from(pods.len()).unwrap_or(i64::MAX), 0),
        };
        Ok(Counts {
            expected,
            desired,
            healthy,
        })
    }

    /// The summed scale of the controllers of `pods` (upstream's getExpectedScale): a
    /// Deployment through its ReplicaSet, a bare ReplicaSet, a StatefulSet.
    fn expected_scale(&self, ns: &str, pods: &[Value]) -> Result<i64, String> {
        let mut seen: Vec<(String, String)> = Vec::new();
        let mut total = 0;
        for pod in pods {
            let Some((kind, name, _)) = objects::controller_of(pod) else {
                return Err(format!(
                    "found no controller ref for pod \"{}\"",
                    meta::name(pod).unwrap_or("")
                ));
            };
            let (kind, name, scale) = self.scale_of(ns, kind, name).ok_or_else(|| {
                format!(
                    "found no controllers for pod \"{}\"",
                    meta::name(pod).unwrap_or("")
                )
            })?;
            if !seen.contains(&(kind.clone(), name.clone())) {
                seen.push((kind, name));
                total += scale;
            }
        }
        Ok(total)
    }

    fn scale_of(&self, ns: &str, kind: &str, name: &str) -> Option<(String, String, i64)> {
        let prefix = match kind {
            "ReplicaSet" => keys::REPLICA_SETS,
            "StatefulSet" => "/registry/apps/statefulsets/",
            "Deployment" => keys::DEPLOYMENTS,
            _ => return None,
        };
        let owner = self.client.get(&keys::object(prefix, ns, name))?;
        if kind == "ReplicaSet"
            && let Some(("Deployment", deployment, _)) = objects::controller_of(&owner)
        {
            return self.scale_of(ns, "Deployment", deployment);
        }
        let replicas = objects::spec_i64(&owner, "replicas", 1);
        Some((kind.to_owned(), name.to_owned(), replicas))
    }
}

/// An int-or-percent against `total`, percentages rounded up as upstream does for budgets.
fn scaled(v: &Value, total: i64) -> i64 {
    match v {
        Value::String(s) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => (p * total + 99).div_euclid(100),
            None => s.parse().unwrap_or(0),
        },
        other => meta::get_i64(other, &[]).unwrap_or(0),
    }
}

/// The `disruptedPods` entries still in force, and when the earliest of them expires.
/// An entry goes when its pod is being deleted or gone, or 2 minutes after the eviction.
fn live_disruptions(pdb: &Value, pods: &[Value], now: i64) -> (Object, Option<i64>) {
    let mut live = Object::new();
    let mut next = None::<i64>;
    let Some(Value::Object(entries)) = meta::get_path(pdb, &["status", "disruptedPods"]) else {
        return (live, None);
    };
    for (pod_name, at) in entries.iter() {
        let pod = pods
            .iter()
            .find(|p| meta::name(p) == Some(pod_name.as_str()));
        let Some(pod) = pod.filter(|p| meta::deletion_timestamp(p).is_none()) else {
            continue;
        };
        let Some(expires) = meta::get_str(at, &[])
            .and_then(time::parse_rfc3339)
            .map(|t| t + DELETION_TIMEOUT_SECONDS)
        else {
            continue;
        };
        if expires > now && meta::name(pod).is_some() {
            live.insert(pod_name.clone(), at.clone());
            next = Some(next.map_or(expires, |n| n.min(expires)));
        }
    }
    (live, next)
}

fn status(pdb: &Value, c: &Counts, disrupted: Object, now: i64) -> Value {
    let mut allowed = c.healthy - c.desired;
    if c.expected <= 0 || allowed <= 0 {
        allowed = 0;
    }
    let (cond_status, reason) = if allowed > 0 {
        ("True", "SufficientPods")
    } else {
        ("False", "InsufficientPods")
    };
    build(
        pdb,
        [c.healthy, c.desired, allowed, c.expected],
        disrupted,
        (cond_status, reason, ""),
        now,
    )
}

/// upstream's failSafe: nothing may be disrupted while the budget cannot be computed.
fn failed_status(pdb: &Value, disrupted: Object, message: &str, now: i64) -> Value {
    let previous = |f: &str| meta::get_i64(pdb, &["status", f]).unwrap_or(0);
    build(
        pdb,
        [
            previous("currentHealthy"),
            previous("desiredHealthy"),
            0,
            previous("expectedPods"),
        ],
        disrupted,
        ("False", "SyncFailed", message),
        now,
    )
}

fn build(
    pdb: &Value,
    [healthy, desired, allowed, expected]: [i64; 4],
    disrupted: Object,
    (cond_status, reason, message): (&str, &str, &str),
    now: i64,
) -> Value {
    let mut status = object([
        ("currentHealthy", int(healthy)),
        ("desiredHealthy", int(desired)),
        ("disruptionsAllowed", int(allowed)),
        ("expectedPods", int(expected)),
        (
            "observedGeneration",
            int(meta::generation(pdb).unwrap_or(1)),
        ),
    ]);
    let obj = meta::as_object_mut(&mut status).expect("an object");
    if !disrupted.is_empty() {
        obj.insert("disruptedPods".to_owned(), Value::Object(disrupted));
    }
    if let Some(conditions) = meta::get_path(pdb, &["status", "conditions"]) {
        obj.insert("conditions".to_owned(), conditions.clone());
    }
    objects::set_condition(
        obj,
        object([
            ("type", string("DisruptionAllowed")),
            ("status", string(cond_status)),
            ("reason", string(reason)),
            ("message", string(message)),
            (
                "observedGeneration",
                int(meta::generation(pdb).unwrap_or(1)),
            ),
            ("lastTransitionTime", string(time::format_rfc3339(now))),
        ]),
        true,
    );
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::tests::{Cluster, deployment};

    const PDBS_PATH: &str = "/apis/policy/v1/namespaces/default/poddisruptionbudgets";

    fn budget(c: &Cluster, name: &str) -> Value {
        c.get(&keys::object(PDBS, "default", name))
    }

    #[test]
    fn budgets_follow_a_deployments_pods_and_evictions_spend_them() {
        let c = Cluster::new();
        c.add_node();
        c.create(
            "/apis/apps/v1/namespaces/default/deployments",
            &deployment("web", 3, ""),
        );
        c.create(
            PDBS_PATH,
            r#"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"max"},
            "spec":{"maxUnavailable":1,"selector":{"matchLabels":{"app":"web"}}}}"#,
        );
        c.create(
            PDBS_PATH,
            r#"{"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"none","namespace":"default"},
            "spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"nothing"}}}}"#,
        );
        c.node_agent_step();
        c.node_agent_step();
        let pdb = budget(&c, "max");
        let field = |f: &str| meta::get_i64(&pdb, &["status", f]);
        assert_eq!(field("expectedPods"), Some(3));
        assert_eq!(field("currentHealthy"), Some(3));
        assert_eq!(field("desiredHealthy"), Some(2));
        assert_eq!(field("disruptionsAllowed"), Some(1));
        assert_eq!(field("observedGeneration"), Some(1));
        let cond = objects::condition(&pdb, "DisruptionAllowed").unwrap();
        assert_eq!(meta::get_str(cond, &["status"]), Some("True"));
        assert_eq!(meta::get_str(cond, &["reason"]), Some("SufficientPods"));
        let none = budget(&c, "none");
        assert_eq!(meta::get_i64(&none, &["status", "expectedPods"]), Some(0));
        let cond = objects::condition(&none, "DisruptionAllowed").unwrap();
        assert_eq!(meta::get_str(cond, &["reason"]), Some("InsufficientPods"));

        // One eviction is allowed, the next is refused while the first pod is replaced.
        let pods = c.active_pods();
        let evict = |name: &str| {
            c.try_request(
                "POST",
                &format!("/api/v1/namespaces/default/pods/{name}/eviction"),
                "application/json",
                &format!(r#"{{"apiVersion":"policy/v1","kind":"Eviction","metadata":{{"name":"{name}"}}}}"#),
            )
        };
        let first = meta::name(&pods[0]).unwrap().to_owned();
        let second = meta::name(&pods[1]).unwrap().to_owned();
        assert_eq!(evict(&first).0, 201);
        c.settle();
        let (code, body) = evict(&second);
        assert_eq!(code, 429, "{body}");
        assert!(
            body.contains("Cannot evict pod as it would violate the pod's disruption budget."),
            "{body}"
        );
        let pdb = budget(&c, "max");
        assert_eq!(
            meta::get_i64(&pdb, &["status", "disruptionsAllowed"]),
            Some(0)
        );
        // The replacement becomes ready: the budget allows one again.
        c.node_agent_step();
        c.node_agent_step();
        let pdb = budget(&c, "max");
        assert_eq!(meta::get_i64(&pdb, &["status", "currentHealthy"]), Some(3));
        assert_eq!(
            meta::get_i64(&pdb, &["status", "disruptionsAllowed"]),
            Some(1)
        );
        assert_eq!(evict(&second).0, 201);
    }

    #[test]
    fn percentages_round_up_and_ints_pass_through() {
        assert_eq!(scaled(&string("50%"), 3), 2);
        assert_eq!(scaled(&string("10%"), 1), 1);
        assert_eq!(scaled(&int(2), 10), 2);
        assert_eq!(scaled(&string("3"), 10), 3);
    }

    #[test]
    fn allowed_disruptions_never_go_below_zero_and_need_expected_pods() {
        let pdb = meta::from_json_bytes(br#"{"metadata":{"generation":3}}"#).unwrap();
        let s = status(
            &pdb,
            &Counts {
                expected: 3,
                desired: 2,
                healthy: 3,
            },
            Object::new(),
            0,
        );
        assert_eq!(meta::get_i64(&s, &["disruptionsAllowed"]), Some(1));
        assert_eq!(meta::get_i64(&s, &["observedGeneration"]), Some(3));
        let cond = objects::condition(&object([("status", s)]), "DisruptionAllowed")
            .cloned()
            .unwrap();
        assert_eq!(meta::get_str(&cond, &["reason"]), Some("SufficientPods"));
        let s = status(
            &pdb,
            &Counts {
                expected: 0,
                desired: 0,
                healthy: 1,
            },
            Object::new(),
            0,
        );
        assert_eq!(meta::get_i64(&s, &["disruptionsAllowed"]), Some(0));
    }

    #[test]
    fn evictions_expire_after_two_minutes_or_when_the_pod_is_deleted() {
        let pdb = meta::from_json_bytes(
            br#"{"status":{"disruptedPods":{"a":"1970-01-01T00:01:40Z","b":"1970-01-01T00:01:40Z","c":"1970-01-01T00:00:00Z"}}}"#,
        )
        .unwrap();
        let pods: Vec<Value> = [
            r#"{"metadata":{"name":"a"}}"#,
            r#"{"metadata":{"name":"b","deletionTimestamp":"1970-01-01T00:01:41Z"}}"#,
            r#"{"metadata":{"name":"c"}}"#,
        ]
        .iter()
        .map(|j| meta::from_json_bytes(j.as_bytes()).unwrap())
        .collect();
        let (live, next) = live_disruptions(&pdb, &pods, 150);
        assert_eq!(live.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(next, Some(220));
    }
}
