//! The controller against a real API server over the store's in-memory backend, with a
//! fake clock: syncs are called directly at chosen instants instead of waiting for timers.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, UNIX_EPOCH};

use miniserde::json::Value;

use super::{NodeLifecycle, lease};
use crate::object::{meta, time};
use crate::workloads::client::{Client, keys};
use crate::workloads::objects::condition;
use crate::workloads::tests::Cluster;

const T0: i64 = 1_790_000_000;

struct Fixture {
    cluster: Cluster,
    clock: Rc<Cell<i64>>,
    ctl: Rc<NodeLifecycle>,
}

fn fixture(expect_heartbeats: bool) -> Fixture {
    let cluster = Cluster::new();
    let clock = Rc::new(Cell::new(T0));
    let c = Rc::clone(&clock);
    let ctl = NodeLifecycle::new(
        cluster.executor(),
        cluster.server(),
        Rc::new(move || c.get()),
        expect_heartbeats,
    );
    cluster.create(
        "/api/v1/nodes",
        r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"n1"}}"#,
    );
    let f = Fixture {
        cluster,
        clock,
        ctl,
    };
    f.post_status("True", "False");
    f
}

impl Fixture {
    fn post_status(&self, ready: &str, memory_pressure: &str) {
        let body = format!(
            r#"{{"status":{{"conditions":[{{"type":"Ready","status":"{ready}","reason":"KubeletReady"}},
            {{"type":"MemoryPressure","status":"{memory_pressure}"}}]}}}}"#
        );
        self.cluster.merge("/api/v1/nodes/n1/status", &body);
    }

    fn renew_lease(&self) {
        let client = Client::new(self.cluster.server(), "kubelet", "kubelet");
        let at = UNIX_EPOCH + Duration::from_secs(self.clock.get().unsigned_abs());
        self.cluster
            .run(lease::renew(&client, "n1", at))
            .expect("lease renewed");
    }

    fn sync_at(&self, t: i64) -> Value {
        self.clock.set(t);
        let ctl = Rc::clone(&self.ctl);
        self.cluster
            .run(async move { ctl.sync("n1").await })
            .expect("sync");
        self.cluster.get(&format!("{}n1", keys::NODES))
    }
}

fn ready(node: &Value) -> (String, String) {
    let c = condition(node, "Ready").expect("Ready condition");
    (
        meta::get_str(c, &["status"]).unwrap_or("").to_owned(),
        meta::get_str(c, &["reason"]).unwrap_or("").to_owned(),
    )
}

fn taints(node: &Value) -> Vec<String> {
    match meta::get_path(node, &["spec", "taints"]) {
        Some(Value::Array(a)) => a
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    meta::get_str(t, &["key"]).unwrap_or(""),
                    meta::get_str(t, &["effect"]).unwrap_or("")
                )
            })
            .collect(),
        _ => Vec::new(),
    }
}

#[test]
fn the_lease_is_created_then_renewed_with_the_kubelets_fields() {
    let f = fixture(true);
    f.renew_lease();
    let key = format!("{}n1", lease::PREFIX);
    let first = f.cluster.get(&key);
    assert_eq!(
        meta::get_str(&first, &["spec", "holderIdentity"]),
        Some("n1")
    );
    assert_eq!(
        meta::get_i64(&first, &["spec", "leaseDurationSeconds"]),
        Some(40)
    );
    let owner = match meta::get_path(&first, &["metadata", "ownerReferences"]) {
        Some(Value::Array(a)) => a.first().cloned(),
        _ => None,
    };
    assert_eq!(
        owner.as_ref().and_then(|o| meta::get_str(o, &["kind"])),
        Some("Node")
    );
    f.clock.set(T0 + 10);
    f.renew_lease();
    let second = f.cluster.get(&key);
    assert_eq!(lease::renewed_at(&second), Some(T0 + 10));
    assert_eq!(
        meta::get_str(&second, &["spec", "renewTime"]),
        Some(time::format_rfc3339_with_micros(T0 + 10, 0).as_str())
    );
}

#[test]
fn a_lease_not_renewed_within_the_grace_period_makes_the_node_unknown_and_unreachable() {
    let f = fixture(true);
    f.renew_lease();
    let node = f.sync_at(T0 + 39);
    assert_eq!(ready(&node).0, "True");
    assert!(taints(&node).is_empty());

    let node = f.sync_at(T0 + 41);
    assert_eq!(ready(&node), ("Unknown".into(), "NodeStatusUnknown".into()));
    let c = condition(&node, "Ready").unwrap();
    assert_eq!(
        meta::get_str(c, &["message"]),
        Some("Kubelet stopped posting node status.")
    );
    assert_eq!(
        taints(&node),
        [
            "node.kubernetes.io/unreachable:NoSchedule",
            "node.kubernetes.io/unreachable:NoExecute"
        ]
    );
    let revision = f.cluster.server().store().current_revision();
    f.sync_at(T0 + 60);
    assert_eq!(
        f.cluster.server().store().current_revision(),
        revision,
        "a settled lost node is not written again"
    );

    // The node comes back: a renewal and a fresh status.
    f.clock.set(T0 + 70);
    f.renew_lease();
    f.post_status("True", "False");
    let node = f.sync_at(T0 + 71);
    assert_eq!(ready(&node).0, "True");
    assert!(taints(&node).is_empty(), "{:?}", taints(&node));
}

#[test]
fn a_dropped_link_makes_the_node_unknown_at_once() {
    let f = fixture(true);
    f.renew_lease();
    f.ctl.links().connected("n1");
    assert_eq!(ready(&f.sync_at(T0 + 1)).0, "True");
    f.ctl.links().disconnected("n1");
    let node = f.sync_at(T0 + 2);
    assert_eq!(ready(&node).0, "Unknown");
    assert_eq!(taints(&node).len(), 2);
}

#[test]
fn not_ready_and_pressure_conditions_become_taints_and_go_away_with_them() {
    let f = fixture(true);
    f.renew_lease();
    f.post_status("False", "True");
    let node = f.sync_at(T0 + 5);
    assert_eq!(
        taints(&node),
        [
            "node.kubernetes.io/not-ready:NoSchedule",
            "node.kubernetes.io/not-ready:NoExecute",
            "node.kubernetes.io/memory-pressure:NoSchedule"
        ]
    );
    f.post_status("True", "False");
    assert!(taints(&f.sync_at(T0 + 6)).is_empty());
}

#[test]
fn a_node_without_a_kubelet_is_not_expected_to_heartbeat() {
    let f = fixture(false);
    let node = f.sync_at(T0 + 3600);
    assert_eq!(ready(&node).0, "True");
    assert!(taints(&node).is_empty());
    // Once a Lease exists the node is monitored.
    f.clock.set(T0 + 3600);
    f.renew_lease();
    assert_eq!(ready(&f.sync_at(T0 + 3641)).0, "Unknown");
}

#[test]
fn without_any_lease_a_served_node_goes_unknown_after_the_grace_period_from_start() {
    let f = fixture(true);
    assert_eq!(ready(&f.sync_at(T0 + 39)).0, "True");
    assert_eq!(ready(&f.sync_at(T0 + 40)).0, "Unknown");
}

#[test]
fn deleting_the_lease_does_not_make_the_node_look_silent() {
    let f = fixture(true);
    f.clock.set(T0 + 100);
    f.renew_lease();
    assert_eq!(ready(&f.sync_at(T0 + 101)).0, "True");
    f.cluster.request(
        "DELETE",
        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/n1",
        "application/json",
        "",
    );
    assert_eq!(ready(&f.sync_at(T0 + 120)).0, "True");
    assert_eq!(ready(&f.sync_at(T0 + 140)).0, "Unknown");
}
