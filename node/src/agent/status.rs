//! The pod status the agent reports, shaped as upstream's kubelet writes it: phase,
//! conditions with transition times, IPs, start time, QoS class and one status per
//! container (state, last state, ready, started, restarts, image and ids).

use std::collections::BTreeMap;

use miniserde::json::Value;

use super::json::{arr, b, int, obj, s};
use super::state::{ContainerRun, RunState, Terminated};
use super::time;
use crate::runtime::podspec::{Pod, RestartPolicy};

/// Conditions remember when they last changed.
#[derive(Debug, Default)]
pub struct Conditions {
    transitions: BTreeMap<&'static str, (bool, u64)>,
}

impl Conditions {
    fn set(&mut self, kind: &'static str, status: bool) -> Value {
        let entry = self
            .transitions
            .entry(kind)
            .or_insert((status, time::now_secs()));
        if entry.0 != status {
            *entry = (status, time::now_secs());
        }
        obj([
            ("type", s(kind)),
            ("status", s(if status { "True" } else { "False" })),
            ("lastProbeTime", Value::Null),
            ("lastTransitionTime", s(time::format_secs(entry.1))),
        ])
    }
}

/// Everything the status is computed from.
pub struct PodView<'a> {
    pub pod: &'a Pod,
    pub init: &'a [ContainerRun],
    pub app: &'a [ContainerRun],
    pub pod_ip: Option<&'a str>,
    pub host_ip: std::rc::Rc<str>,
    pub start_time: u64,
    /// Set when the pod failed as a whole (activeDeadlineSeconds, a config error).
    pub failure: Option<(&'a str, &'a str)>,
}

pub fn phase(view: &PodView<'_>) -> &'static str {
    if view.failure.is_some() {
        return "Failed";
    }
    let policy = view.pod.spec.restart_policy;
    let init_failed = view.init.iter().any(|c| {
        c.terminated().is_some_and(|t| t.exit_code != 0) && policy == RestartPolicy::Never
    });
    if init_failed {
        return "Failed";
    }
    let inits_done = view
        .init
        .iter()
        .all(|c| c.terminated().is_some_and(|t| t.exit_code == 0) || is_sidecar_running(c));
    if !inits_done {
        return "Pending";
    }
    let running = view.app.iter().filter(|c| c.running()).count();
    let ended: Vec<&Terminated> = view
        .app
        .iter()
        .filter_map(ContainerRun::terminated)
        .collect();
    let never_ran = view.app.iter().any(|c| !c.has_run());
    if running > 0 {
        return "Running";
    }
    if never_ran || ended.len() < view.app.len() {
        return "Pending";
    }
    let all_ok = ended.iter().all(|t| t.exit_code == 0);
    match policy {
        RestartPolicy::Always => "Running",
        RestartPolicy::OnFailure if all_ok => "Succeeded",
        RestartPolicy::OnFailure => "Running",
        RestartPolicy::Never if all_ok => "Succeeded",
        RestartPolicy::Never => "Failed",
    }
}

fn is_sidecar_running(c: &ContainerRun) -> bool {
    c.running() && c.started
}

pub fn build(view: &PodView<'_>, conditions: &mut Conditions) -> Value {
    let phase = phase(view);
    let inits_done = view
        .init
        .iter()
        .all(|c| c.terminated().is_some_and(|t| t.exit_code == 0) || is_sidecar_running(c));
    let containers_ready = !view.app.is_empty() && view.app.iter().all(|c| c.ready);
    let terminal = phase == "Succeeded" || phase == "Failed";
    let sandbox = view.pod_ip.is_some() || view.pod.spec.host_network;
    let conds = vec![
        conditions.set("PodReadyToStartContainers", sandbox && !terminal),
        conditions.set("Initialized", inits_done),
        conditions.set("Ready", containers_ready && !terminal),
        conditions.set("ContainersReady", containers_ready && !terminal),
        conditions.set("PodScheduled", true),
    ];
    let mut status = obj([
        ("phase", s(phase)),
        ("conditions", arr(conds)),
        ("hostIP", s(&*view.host_ip)),
        ("hostIPs", arr(vec![obj([("ip", s(&*view.host_ip))])])),
        ("startTime", s(time::format_secs(view.start_time))),
        ("qosClass", s(qos_class(view.pod))),
        (
            "containerStatuses",
            arr(view
                .app
                .iter()
                .map(|c| container_status(view.pod, c))
                .collect()),
        ),
    ]);
    if let Some(ip) = view.pod_ip {
        super::json::insert(&mut status, "podIP", s(ip));
        super::json::insert(&mut status, "podIPs", arr(vec![obj([("ip", s(ip))])]));
    }
    if !view.init.is_empty() {
        let init = view
            .init
            .iter()
            .map(|c| container_status(view.pod, c))
            .collect();
        super::json::insert(&mut status, "initContainerStatuses", arr(init));
    }
    if let Some((reason, message)) = view.failure {
        super::json::insert(&mut status, "reason", s(reason));
        super::json::insert(&mut status, "message", s(message));
    }
    status
}

fn container_status(pod: &Pod, c: &ContainerRun) -> Value {
    let spec = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .find(|x| x.name == c.name);
    let image = spec.map_or("", |x| x.image.as_str());
    let mut v = obj([
        ("name", s(c.name.as_str())),
        ("state", state_json(&c.state)),
        (
            "lastState",
            c.last
                .as_ref()
                .map_or_else(|| obj([]), |t| obj([("terminated", terminated_json(t))])),
        ),
        ("ready", b(c.ready)),
        ("restartCount", int(i64::from(c.restart_count))),
        ("image", s(image)),
        ("imageID", s(c.image_id.as_str())),
        ("started", b(c.running() && c.started)),
    ]);
    if let Some(id) = &c.id {
        super::json::insert(&mut v, "containerID", s(format!("runc://{id}")));
    }
    v
}

fn state_json(state: &RunState) -> Value {
    match state {
        RunState::Waiting { reason, message } => {
            let mut w = obj([("reason", s(reason.as_str()))]);
            if !message.is_empty() {
                super::json::insert(&mut w, "message", s(message.as_str()));
            }
            obj([("waiting", w)])
        }
        RunState::Running { started_at } => obj([(
            "running",
            obj([("startedAt", s(time::format_secs(*started_at)))]),
        )]),
        RunState::Terminated(t) => obj([("terminated", terminated_json(t))]),
    }
}

fn terminated_json(t: &Terminated) -> Value {
    let mut v = obj([
        ("exitCode", int(i64::from(t.exit_code))),
        ("reason", s(t.reason.as_str())),
        ("startedAt", s(time::format_secs(t.started_at))),
        ("finishedAt", s(time::format_secs(t.finished_at))),
        ("containerID", s(format!("runc://{}", t.container_id))),
    ]);
    if !t.message.is_empty() {
        super::json::insert(&mut v, "message", s(t.message.as_str()));
    }
    v
}

/// Upstream's QoS classes from requests and limits.
pub fn qos_class(pod: &Pod) -> &'static str {
    let all: Vec<_> = pod
        .spec
        .init_containers
        .iter()
        .chain(&pod.spec.containers)
        .collect();
    let any_set = all.iter().any(|c| {
        let (r, l) = (&c.resources.requests, &c.resources.limits);
        r.cpu_millis.is_some()
            || r.memory_bytes.is_some()
            || l.cpu_millis.is_some()
            || l.memory_bytes.is_some()
    });
    if !any_set {
        return "BestEffort";
    }
    let guaranteed = all.iter().all(|c| {
        let (r, l) = (&c.resources.requests, &c.resources.limits);
        l.cpu_millis.is_some()
            && l.memory_bytes.is_some()
            && r.cpu_millis.is_none_or(|v| Some(v) == l.cpu_millis)
            && r.memory_bytes.is_none_or(|v| Some(v) == l.memory_bytes)
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}
