//! The Pod printer: READY, STATUS, RESTARTS as upstream's `printPod` computes them (init
//! containers, sidecars, waiting/terminated reasons, Terminating, Completed/NotReady) and
//! the wide columns IP, NODE, NOMINATED NODE, READINESS GATES.

use miniserde::json::Value;

use super::age::{human_duration, parse_rfc3339};
use super::cells::{age, deleting, name, str_or};
use super::{AGE, Column, NAME, Printer, col, wide};
use crate::registry::Resource;
use crate::registry::json::{arr, arr_at, int_at, obj, path, s, str_at};

const COLUMNS: &[Column] = &[
    NAME,
    col("Ready", "string"),
    col("Status", "string"),
    col("Restarts", "string"),
    AGE,
    wide("IP", "string"),
    wide("Node", "string"),
    wide("Nominated Node", "string"),
    wide("Readiness Gates", "string"),
];

pub(super) const PRINTERS: &[Printer] = &[Printer {
    group: "",
    kind: "Pod",
    columns: COLUMNS,
    cells: pod_cells,
}];

/// Restart tally: count and the latest restart time (unix seconds).
#[derive(Default, Clone, Copy)]
struct Restarts {
    count: i64,
    last: Option<i64>,
}

impl Restarts {
    fn add(&mut self, status: &Value) {
        self.count += int_or0(status, &["restartCount"]);
        let finished = str_at(status, &["lastState", "terminated", "finishedAt"]);
        if let Some(at) = finished.and_then(parse_rfc3339) {
            self.last = Some(self.last.map_or(at, |l| l.max(at)));
        }
    }

    fn text(self, now: i64) -> String {
        match self.last {
            Some(at) if self.count != 0 => {
                format!("{} ({} ago)", self.count, human_duration(now - at))
            }
            _ => self.count.to_string(),
        }
    }
}

fn int_or0(value: &Value, keys: &[&str]) -> i64 {
    int_at(value, keys).unwrap_or(0)
}

fn is_true(value: &Value, keys: &[&str]) -> bool {
    matches!(path(value, keys), Some(Value::Bool(true)))
}

fn condition_true(pod: &Value, kind: &str) -> bool {
    arr_at(pod, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == Some(kind) && str_at(c, &["status"]) == Some("True"))
}

/// Whether the named init container is a sidecar (restartPolicy: Always).
fn restartable_init(pod: &Value, container: &str) -> bool {
    arr_at(pod, &["spec", "initContainers"]).iter().any(|c| {
        str_at(c, &["name"]) == Some(container) && str_at(c, &["restartPolicy"]) == Some("Always")
    })
}

/// The state of one pod being summarised.
struct Summary {
    reason: String,
    ready: i64,
    total: i64,
    restarts: Restarts,
}

fn terminated_reason(state: &Value, prefix: &str) -> String {
    let reason = str_or(state, &["reason"], "");
    if !reason.is_empty() {
        return format!("{prefix}{reason}");
    }
    let signal = int_or0(state, &["signal"]);
    if signal != 0 {
        format!("{prefix}Signal:{signal}")
    } else {
        format!("{prefix}ExitCode:{}", int_or0(state, &["exitCode"]))
    }
}

/// Walks init container statuses; returns whether the pod is still initializing.
fn init_containers(pod: &Value, summary: &mut Summary, sidecar_restarts: &mut Restarts) -> bool {
    let specs = arr_at(pod, &["spec", "initContainers"]).len();
    for (i, status) in arr_at(pod, &["status", "initContainerStatuses"])
        .iter()
        .enumerate()
    {
        let cname = str_at(status, &["name"]).unwrap_or("");
        let sidecar = restartable_init(pod, cname);
        summary.restarts.add(status);
        if sidecar {
            sidecar_restarts.add(status);
        }
        let terminated = path(status, &["state", "terminated"]);
        let waiting_reason = str_at(status, &["state", "waiting", "reason"]).unwrap_or("");
        if terminated.is_some_and(|t| int_or0(t, &["exitCode"]) == 0) {
            continue;
        }
        if sidecar && is_true(status, &["started"]) {
            if is_true(status, &["ready"]) {
                summary.ready += 1;
            }
            continue;
        }
        summary.reason = if let Some(t) = terminated {
            terminated_reason(t, "Init:")
        } else if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" {
            format!("Init:{waiting_reason}")
        } else {
            format!("Init:{i}/{specs}")
        };
        return true;
    }
    false
}

/// Walks app container statuses (last first, as upstream) for reason and readiness.
fn app_containers(pod: &Value, summary: &mut Summary) {
    let mut has_running = false;
    for status in arr_at(pod, &["status", "containerStatuses"]).iter().rev() {
        summary.restarts.add(status);
        let waiting = str_at(status, &["state", "waiting", "reason"]).unwrap_or("");
        let terminated = path(status, &["state", "terminated"]);
        if !waiting.is_empty() {
            summary.reason = waiting.to_string();
        } else if let Some(t) = terminated {
            summary.reason = terminated_reason(t, "");
        } else if is_true(status, &["ready"]) && path(status, &["state", "running"]).is_some() {
            has_running = true;
            summary.ready += 1;
        }
    }
    if summary.reason == "Completed" && has_running {
        summary.reason = if condition_true(pod, "Ready") {
            "Running".into()
        } else {
            "NotReady".into()
        };
    }
}

fn summarise(pod: &Value) -> Summary {
    let phase = str_or(pod, &["status", "phase"], "");
    let mut summary = Summary {
        reason: str_or(pod, &["status", "reason"], phase).to_string(),
        ready: 0,
        total: arr_at(pod, &["spec", "containers"]).len() as i64,
        restarts: Restarts::default(),
    };
    let gated = arr_at(pod, &["status", "conditions"]).iter().any(|c| {
        str_at(c, &["type"]) == Some("PodScheduled")
            && str_at(c, &["reason"]) == Some("SchedulingGated")
    });
    if gated {
        summary.reason = "SchedulingGated".into();
    }
    summary.total += arr_at(pod, &["spec", "initContainers"])
        .iter()
        .filter(|c| str_at(c, &["restartPolicy"]) == Some("Always"))
        .count() as i64;
    let mut sidecar_restarts = Restarts::default();
    let initializing = init_containers(pod, &mut summary, &mut sidecar_restarts);
    if !initializing || condition_true(pod, "Initialized") {
        summary.restarts = sidecar_restarts;
        app_containers(pod, &mut summary);
    }
    if deleting(pod) {
        if str_at(pod, &["status", "reason"]) == Some("NodeLost") {
            summary.reason = "Unknown".into();
        } else if !matches!(phase, "Succeeded" | "Failed") {
            summary.reason = "Terminating".into();
        }
    }
    summary
}

/// The pod's STATUS column (exposed for `kubectl describe`-like users and tests).
pub fn pod_status(pod: &Value) -> String {
    summarise(pod).reason
}

fn readiness_gates(pod: &Value) -> String {
    let gates = arr_at(pod, &["spec", "readinessGates"]);
    if gates.is_empty() {
        return "<none>".into();
    }
    let passed = gates
        .iter()
        .filter_map(|g| str_at(g, &["conditionType"]))
        .filter(|t| {
            let found = arr_at(pod, &["status", "conditions"])
                .iter()
                .find(|c| str_at(c, &["type"]) == Some(t));
            found.is_some_and(|c| str_at(c, &["status"]) == Some("True"))
        })
        .count();
    format!("{passed}/{}", gates.len())
}

fn pod_cells(pod: &Value, now: i64) -> Vec<Value> {
    let summary = summarise(pod);
    let ip = arr_at(pod, &["status", "podIPs"])
        .first()
        .and_then(|p| str_at(p, &["ip"]))
        .filter(|ip| !ip.is_empty())
        .unwrap_or("<none>");
    vec![
        s(name(pod)),
        s(&format!("{}/{}", summary.ready, summary.total)),
        s(&summary.reason),
        s(&summary.restarts.text(now)),
        age(pod, now),
        s(ip),
        s(str_or(pod, &["spec", "nodeName"], "<none>")),
        s(str_or(pod, &["status", "nominatedNodeName"], "<none>")),
        s(&readiness_gates(pod)),
    ]
}

/// Row conditions upstream attaches to finished pods (kubectl uses them to dim rows).
pub(super) fn row_conditions(resource: &Resource, pod: &Value) -> Option<Value> {
    if !(resource.group.is_empty() && resource.kind == "Pod") {
        return None;
    }
    let (reason, message) = match str_at(pod, &["status", "phase"])? {
        "Succeeded" => ("Succeeded", "The pod has completed successfully."),
        "Failed" => ("Failed", "The pod failed."),
        _ => return None,
    };
    Some(arr([obj([
        ("type", s("Completed")),
        ("status", s("True")),
        ("reason", s(reason)),
        ("message", s(message)),
    ])]))
}
