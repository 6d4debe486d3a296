//! Whether a node is still heard from, and what its status says once it is not: upstream's
//! tryUpdateNodeHealth reduced to one node link. A node is lost when its link to the
//! control plane dropped, or when neither a Lease renewal nor the start of monitoring is
//! more recent than the grace period (node-monitor-grace-period, 40 s). A lost node's
//! conditions turn Unknown with upstream's reasons and messages.

use miniserde::json::Value;

use crate::object::{meta, time};
use crate::workloads::objects::{object, set_condition, string};

/// Upstream's node-monitor-grace-period.
pub const GRACE_SECONDS: i64 = 40;

/// The conditions upstream turns Unknown when the kubelet goes silent.
const WATCHED: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// What the controller knows of a node's liveness.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signals {
    /// renewTime of its Lease, if there is one.
    pub renewed: Option<i64>,
    /// When monitoring of this node began: controller start, or the link's connection.
    pub watched_since: i64,
    /// The node's link connected in this process and has since dropped.
    pub link_lost: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// Heard from recently; lost at `deadline` unless heard from again.
    Fresh {
        deadline: i64,
    },
    Lost,
}

pub fn judge(s: Signals, now: i64) -> Health {
    if s.link_lost {
        return Health::Lost;
    }
    let heard = s.renewed.unwrap_or(i64::MIN).max(s.watched_since);
    let deadline = heard.saturating_add(GRACE_SECONDS);
    if now >= deadline {
        Health::Lost
    } else {
        Health::Fresh { deadline }
    }
}

/// Turns the watched conditions Unknown (adding those never posted); `true` if any changed.
pub fn mark_unknown(node: &mut Value, now: i64) -> bool {
    let created = meta::get_str(node, &["metadata", "creationTimestamp"])
        .unwrap_or("")
        .to_owned();
    let now = time::format_rfc3339(now);
    let status = meta::ensure_object(node, &["status"]);
    let mut changed = false;
    for kind in WATCHED {
        let current = status.get("conditions").and_then(|c| match c {
            Value::Array(a) => a
                .iter()
                .find(|c| meta::get_str(c, &["type"]) == Some(kind))
                .cloned(),
            _ => None,
        });
        let cond = match current {
            Some(c) if meta::get_str(&c, &["status"]) == Some("Unknown") => continue,
            Some(c) => object([
                ("type", string(kind)),
                ("status", string("Unknown")),
                ("reason", string("NodeStatusUnknown")),
                ("message", string("Kubelet stopped posting node status.")),
                (
                    "lastHeartbeatTime",
                    string(meta::get_str(&c, &["lastHeartbeatTime"]).unwrap_or(&created)),
                ),
                ("lastTransitionTime", string(now.as_str())),
            ]),
            None => object([
                ("type", string(kind)),
                ("status", string("Unknown")),
                ("reason", string("NodeStatusNeverUpdated")),
                ("message", string("Kubelet never posted node status.")),
                ("lastHeartbeatTime", string(created.as_str())),
                ("lastTransitionTime", string(now.as_str())),
            ]),
        };
        changed |= set_condition(status, cond, false);
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::objects::condition;

    #[test]
    fn a_lease_renewed_within_the_grace_period_keeps_the_node_fresh() {
        let s = Signals {
            renewed: Some(1000),
            watched_since: 900,
            link_lost: false,
        };
        assert_eq!(judge(s, 1039), Health::Fresh { deadline: 1040 });
        assert_eq!(judge(s, 1040), Health::Lost);
    }

    #[test]
    fn without_a_lease_the_grace_period_counts_from_the_start_of_monitoring() {
        let s = Signals {
            renewed: None,
            watched_since: 500,
            link_lost: false,
        };
        assert_eq!(judge(s, 539), Health::Fresh { deadline: 540 });
        assert_eq!(judge(s, 541), Health::Lost);
    }

    #[test]
    fn a_dropped_link_loses_the_node_at_once() {
        let s = Signals {
            renewed: Some(1000),
            watched_since: 1000,
            link_lost: true,
        };
        assert_eq!(judge(s, 1001), Health::Lost);
    }

    #[test]
    fn lost_nodes_get_upstreams_unknown_conditions_once() {
        let mut node = meta::from_json_bytes(
            br#"{"metadata":{"creationTimestamp":"2026-01-01T00:00:00Z"},"status":{"conditions":[
            {"type":"Ready","status":"True","reason":"KubeletReady","lastHeartbeatTime":"2026-01-01T00:00:05Z","lastTransitionTime":"2026-01-01T00:00:05Z"}]}}"#,
        )
        .unwrap();
        assert!(mark_unknown(&mut node, 1_767_225_700));
        let ready = condition(&node, "Ready").unwrap();
        assert_eq!(meta::get_str(ready, &["status"]), Some("Unknown"));
        assert_eq!(meta::get_str(ready, &["reason"]), Some("NodeStatusUnknown"));
        assert_eq!(
            meta::get_str(ready, &["message"]),
            Some("Kubelet stopped posting node status.")
        );
        assert_eq!(
            meta::get_str(ready, &["lastHeartbeatTime"]),
            Some("2026-01-01T00:00:05Z")
        );
        let memory = condition(&node, "MemoryPressure").unwrap();
        assert_eq!(
            meta::get_str(memory, &["reason"]),
            Some("NodeStatusNeverUpdated")
        );
        assert!(!mark_unknown(&mut node, 1_767_225_800));
    }
}
