//! Taints derived from a Node's conditions and spec, as upstream's TaintNodesByCondition
//! (NoSchedule) and the node lifecycle controller's NoExecute pass: not-ready and
//! unreachable (both effects) from the Ready condition, memory/disk/PID pressure and
//! network-unavailable from their conditions, unschedulable from `spec.unschedulable`.
//! Taints with other keys are left as they are; an unchanged taint keeps its `timeAdded`.

use miniserde::json::Value;

use crate::object::{meta, time};
use crate::workloads::objects::{condition, object, string};

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// Every key this module owns.
const MANAGED: [&str; 7] = [
    NOT_READY,
    UNREACHABLE,
    MEMORY_PRESSURE,
    DISK_PRESSURE,
    PID_PRESSURE,
    NETWORK_UNAVAILABLE,
    UNSCHEDULABLE,
];

/// The (key, effect) pairs the node's state calls for.
pub fn desired(node: &Value) -> Vec<(&'static str, &'static str)> {
    let status = |kind: &str| {
        condition(node, kind)
            .and_then(|c| meta::get_str(c, &["status"]))
            .unwrap_or("")
            .to_owned()
    };
    let mut out = Vec::new();
    match status("Ready").as_str() {
        "False" => out.extend([(NOT_READY, "NoSchedule"), (NOT_READY, "NoExecute")]),
        "Unknown" => out.extend([(UNREACHABLE, "NoSchedule"), (UNREACHABLE, "NoExecute")]),
        _ => {}
    }
    for (kind, key) in [
        ("MemoryPressure", MEMORY_PRESSURE),
        ("DiskPressure", DISK_PRESSURE),
        ("PIDPressure", PID_PRESSURE),
        ("NetworkUnavailable", NETWORK_UNAVAILABLE),
    ] {
        if status(kind) == "True" {
            out.push((key, "NoSchedule"));
        }
    }
    if matches!(
        meta::get_path(node, &["spec", "unschedulable"]),
        Some(Value::Bool(true))
    ) {
        out.push((UNSCHEDULABLE, "NoSchedule"));
    }
    out
}

/// The node's new `spec.taints`, or `None` when the managed taints already match.
/// `now` (seconds since the epoch) stamps `timeAdded` of new NoExecute taints.
pub fn reconcile(node: &Value, now: i64) -> Option<Vec<Value>> {
    let existing: Vec<Value> = match meta::get_path(node, &["spec", "taints"]) {
        Some(Value::Array(a)) => a.iter().cloned().collect(),
        _ => Vec::new(),
    };
    let key_effect = |t: &Value| {
        (
            meta::get_str(t, &["key"]).unwrap_or("").to_owned(),
            meta::get_str(t, &["effect"]).unwrap_or("").to_owned(),
        )
    };
    let want = desired(node);
    let managed_now: Vec<(String, String)> = existing
        .iter()
        .map(key_effect)
        .filter(|(k, _)| MANAGED.contains(&k.as_str()))
        .collect();
    let same = managed_now.len() == want.len()
        && want
            .iter()
            .all(|(k, e)| managed_now.iter().any(|(k2, e2)| k2 == k && e2 == e));
    if same {
        return None;
    }
    let mut out: Vec<Value> = existing
        .iter()
        .filter(|t| {
            let (k, e) = key_effect(t);
            !MANAGED.contains(&k.as_str()) || want.iter().any(|(k2, e2)| *k2 == k && *e2 == e)
        })
        .cloned()
        .collect();
    for (key, effect) in want {
        if out
            .iter()
            .any(|t| key_effect(t) == (key.to_owned(), effect.to_owned()))
        {
            continue;
        }
        out.push(match effect {
            "NoExecute" => object([
                ("key", string(key)),
                ("effect", string(effect)),
                ("timeAdded", string(time::format_rfc3339(now))),
            ]),
            _ => object([("key", string(key)), ("effect", string(effect))]),
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(json: &str) -> Value {
        meta::from_json_bytes(json.as_bytes()).unwrap()
    }

    fn keys(taints: &[Value]) -> Vec<String> {
        taints
            .iter()
            .map(|t| {
                format!(
                    "{}:{}",
                    meta::get_str(t, &["key"]).unwrap(),
                    meta::get_str(t, &["effect"]).unwrap()
                )
            })
            .collect()
    }

    #[test]
    fn unknown_ready_taints_unreachable_with_both_effects() {
        let n = node(r#"{"status":{"conditions":[{"type":"Ready","status":"Unknown"}]}}"#);
        let t = reconcile(&n, 100).unwrap();
        assert_eq!(
            keys(&t),
            [
                "node.kubernetes.io/unreachable:NoSchedule",
                "node.kubernetes.io/unreachable:NoExecute"
            ]
        );
        assert_eq!(
            meta::get_str(&t[1], &["timeAdded"]),
            Some("1970-01-01T00:01:40Z")
        );
        assert!(meta::get_path(&t[0], &["timeAdded"]).is_none());
    }

    #[test]
    fn pressure_and_cordon_add_no_schedule_taints_and_keep_foreign_ones() {
        let n = node(
            r#"{"spec":{"unschedulable":true,"taints":[{"key":"gpu","effect":"NoSchedule"}]},
            "status":{"conditions":[{"type":"Ready","status":"False"},
            {"type":"MemoryPressure","status":"True"},{"type":"DiskPressure","status":"True"},
            {"type":"PIDPressure","status":"True"}]}}"#,
        );
        let t = reconcile(&n, 0).unwrap();
        assert_eq!(
            keys(&t),
            [
                "gpu:NoSchedule",
                "node.kubernetes.io/not-ready:NoSchedule",
                "node.kubernetes.io/not-ready:NoExecute",
                "node.kubernetes.io/memory-pressure:NoSchedule",
                "node.kubernetes.io/disk-pressure:NoSchedule",
                "node.kubernetes.io/pid-pressure:NoSchedule",
                "node.kubernetes.io/unschedulable:NoSchedule"
            ]
        );
    }

    #[test]
    fn a_ready_node_loses_managed_taints_and_an_unchanged_one_needs_no_write() {
        let n = node(
            r#"{"spec":{"taints":[{"key":"node.kubernetes.io/unreachable","effect":"NoExecute"},
            {"key":"gpu","effect":"NoSchedule"}]},
            "status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        );
        assert_eq!(keys(&reconcile(&n, 0).unwrap()), ["gpu:NoSchedule"]);
        let settled = node(
            r#"{"spec":{"taints":[{"key":"node.kubernetes.io/disk-pressure","effect":"NoSchedule"}]},
            "status":{"conditions":[{"type":"Ready","status":"True"},{"type":"DiskPressure","status":"True"}]}}"#,
        );
        assert!(reconcile(&settled, 0).is_none());
    }
}
