//! The Node object's status as the kubelet reports it: capacity and allocatable (CPU,
//! memory, ephemeral storage, pods), conditions, addresses and node info, read from the
//! host once at start; and the well-known labels.

use std::path::Path;

use miniserde::json::Value;

use super::json::{arr, obj, s};
use super::time;

/// Pods per node, upstream's default.
pub const MAX_PODS: i64 = 110;

/// What the node offers.
#[derive(Debug, Clone)]
pub struct Capacity {
    pub cpu_millis: i64,
    pub memory_bytes: i64,
    pub ephemeral_bytes: i64,
}

pub fn capacity(data_dir: &Path) -> Capacity {
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let memory_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse::<i64>().ok())
        })
        .unwrap_or(0);
    let ephemeral = rustix::fs::statvfs(data_dir)
        .map(|v| i64::try_from(v.f_blocks.saturating_mul(v.f_frsize)).unwrap_or(i64::MAX))
        .unwrap_or(0);
    Capacity {
        cpu_millis: i64::try_from(cpus).unwrap_or(1) * 1000,
        memory_bytes: memory_kib * 1024,
        ephemeral_bytes: ephemeral,
    }
}

fn resources(c: &Capacity) -> Value {
    obj([
        ("cpu", s(format!("{}", c.cpu_millis / 1000))),
        ("memory", s(format!("{}Ki", c.memory_bytes / 1024))),
        (
            "ephemeral-storage",
            s(format!("{}Ki", c.ephemeral_bytes / 1024)),
        ),
        ("pods", s(MAX_PODS.to_string())),
    ])
}

/// `kubernetes.io/arch` of this build.
pub fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        "arm" => "arm",
        "x86_64" => "amd64",
        other => other,
    }
}

pub fn labels(node: &str) -> Vec<(String, String)> {
    [
        ("kubernetes.io/hostname", node),
        ("kubernetes.io/os", "linux"),
        ("kubernetes.io/arch", arch()),
        ("beta.kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", arch()),
        ("node-role.kubernetes.io/control-plane", ""),
        ("node-role.kubernetes.io/worker", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn condition(kind: &str, status: bool, reason: &str, message: &str, now: &str) -> Value {
    obj([
        ("type", s(kind)),
        ("status", s(if status { "True" } else { "False" })),
        ("lastHeartbeatTime", s(now)),
        ("lastTransitionTime", s(now)),
        ("reason", s(reason)),
        ("message", s(message)),
    ])
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|t| t.trim().to_owned())
        .unwrap_or_default()
}

fn os_image() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".to_owned())
}

/// The whole `status` of the Node.
pub fn status(
    node: &str,
    host_ip: &str,
    cap: &Capacity,
    runtime_version: &str,
    pressure: super::pressure::Pressure,
) -> Value {
    let now = time::now();
    let uname = rustix::system::uname();
    obj([
        ("capacity", resources(cap)),
        ("allocatable", resources(cap)),
        (
            "conditions",
            arr(vec![
                if pressure.memory {
                    condition(
                        "MemoryPressure",
                        true,
                        "KubeletHasInsufficientMemory",
                        "kubelet has insufficient memory available",
                        &now,
                    )
                } else {
                    condition(
                        "MemoryPressure",
                        false,
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                        &now,
                    )
                },
                if pressure.disk {
                    condition(
                        "DiskPressure",
                        true,
                        "KubeletHasDiskPressure",
                        "kubelet has disk pressure",
                        &now,
                    )
                } else {
                    condition(
                        "DiskPressure",
                        false,
                        "KubeletHasNoDiskPressure",
                        "kubelet has no disk pressure",
                        &now,
                    )
                },
                condition(
                    "PIDPressure",
                    pressure.pid,
                    if pressure.pid {
                        "KubeletHasInsufficientPID"
                    } else {
                        "KubeletHasSufficientPID"
                    },
                    if pressure.pid {
                        "kubelet has insufficient PID available"
                    } else {
                        "kubelet has sufficient PID available"
                    },
                    &now,
                ),
                condition(
                    "Ready",
                    true,
                    "KubeletReady",
                    "kubelet is posting ready status",
                    &now,
                ),
            ]),
        ),
        (
            "addresses",
            arr(vec![
                obj([("type", s("InternalIP")), ("address", s(host_ip))]),
                obj([("type", s("Hostname")), ("address", s(node))]),
            ]),
        ),
        (
            "daemonEndpoints",
            obj([("kubeletEndpoint", obj([("Port", super::json::int(10250))]))]),
        ),
        (
            "nodeInfo",
            obj([
                ("machineID", s(read_trimmed("/etc/machine-id"))),
                (
                    "systemUUID",
                    s(read_trimmed("/sys/class/dmi/id/product_uuid")),
                ),
                ("bootID", s(read_trimmed("/proc/sys/kernel/random/boot_id"))),
                (
                    "kernelVersion",
                    s(uname.release().to_string_lossy().into_owned()),
                ),
                ("osImage", s(os_image())),
                ("containerRuntimeVersion", s(runtime_version)),
                (
                    "kubeletVersion",
                    s(concat!("v1.32.0-wisp.", env!("CARGO_PKG_VERSION"))),
                ),
                ("kubeProxyVersion", s("")),
                ("operatingSystem", s("linux")),
                ("architecture", s(arch())),
            ]),
        ),
    ])
}
