//! Resource usage for metrics.k8s.io (`kubectl top`): two samples a second apart of each
//! running container's cgroup (CPU time, memory working set) and of the node (/proc/stat,
//! /proc/meminfo), taken when asked; nothing is collected in the background.

use std::time::{Duration, Instant};

use super::Ctx;
use crate::runtime::cgroups;

/// CPU as a rate (nanocores), memory as bytes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub cpu_nanocores: u64,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Default)]
pub struct PodSample {
    pub namespace: String,
    pub name: String,
    pub containers: Vec<(String, Usage)>,
}

#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub timestamp: String,
    pub window_seconds: u64,
    pub node: Usage,
    pub pods: Vec<PodSample>,
}

/// How long the two samples are apart.
const WINDOW: Duration = Duration::from_secs(1);

/// Cumulative counters at one instant.
struct Raw {
    at: Instant,
    node_cpu_ns: u64,
    node_memory: u64,
    /// (pod namespace, pod name, container, cpu ns, working set bytes)
    containers: Vec<(String, String, String, u64, u64)>,
}

pub async fn sample(ctx: &Ctx) -> Sample {
    let targets: Vec<(String, String, String, String)> = ctx.running_containers();
    let host = std::sync::Arc::clone(&ctx.host);
    let t1 = targets.clone();
    let h1 = std::sync::Arc::clone(&host);
    let first = blocking::unblock(move || read_raw(&h1, &t1)).await;
    async_io::Timer::after(WINDOW).await;
    let second = blocking::unblock(move || read_raw(&host, &targets)).await;
    let elapsed = second.at.duration_since(first.at).as_nanos().max(1);
    let rate = |a: u64, b: u64| {
        u64::try_from(u128::from(b.saturating_sub(a)) * 1_000_000_000 / elapsed).unwrap_or(u64::MAX)
    };
    let mut pods: Vec<PodSample> = Vec::new();
    for (ns, pod, container, cpu, mem) in &second.containers {
        let before = first
            .containers
            .iter()
            .find(|c| &c.0 == ns && &c.1 == pod && &c.2 == container)
            .map_or(*cpu, |c| c.3);
        let usage = Usage {
            cpu_nanocores: rate(before, *cpu),
            memory_bytes: *mem,
        };
        match pods
            .iter_mut()
            .find(|p| &p.namespace == ns && &p.name == pod)
        {
            Some(p) => p.containers.push((container.clone(), usage)),
            None => pods.push(PodSample {
                namespace: ns.clone(),
                name: pod.clone(),
                containers: vec![(container.clone(), usage)],
            }),
        }
    }
    Sample {
        timestamp: super::time::now(),
        window_seconds: WINDOW.as_secs(),
        node: Usage {
            cpu_nanocores: rate(first.node_cpu_ns, second.node_cpu_ns),
            memory_bytes: second.node_memory,
        },
        pods,
    }
}

fn read_raw(host: &super::host::Host, targets: &[(String, String, String, String)]) -> Raw {
    let (node_cpu_ns, node_memory) = node_counters();
    let containers = targets
        .iter()
        .filter_map(|(uid, ns, pod, name_id)| {
            let (name, id) = name_id.split_once('\0')?;
            let stats = host
                .cgroups
                .as_ref()?
                .stats(&cgroups::container_path(uid, id))
                .ok()?;
            Some((
                ns.clone(),
                pod.clone(),
                name.to_owned(),
                stats.cpu_usage_ns,
                stats.memory_working_set_bytes,
            ))
        })
        .collect();
    Raw {
        at: Instant::now(),
        node_cpu_ns,
        node_memory,
        containers,
    }
}

/// Busy CPU time of the whole node (ns) and memory in use (MemTotal - MemAvailable).
fn node_counters() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let jiffies: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = jiffies.iter().take(8).sum();
    let idle = jiffies.get(3).copied().unwrap_or(0) + jiffies.get(4).copied().unwrap_or(0);
    // USER_HZ is 100 on Linux: a jiffy in /proc/stat is 10 ms.
    let busy_ns = total.saturating_sub(idle).saturating_mul(10_000_000);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kib = |key: &str| {
        meminfo
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let used = kib("MemTotal:").saturating_sub(kib("MemAvailable:")) * 1024;
    (busy_ns, used)
}
