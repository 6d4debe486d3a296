//! Node pressure and eviction, as the kubelet's eviction manager does with its hard
//! thresholds: every housekeeping period (10 s, upstream's) the agent reads the memory
//! available (/proc/meminfo MemAvailable), the free space of the node's filesystem and the
//! PIDs in use, turns them into the MemoryPressure, DiskPressure and PIDPressure
//! conditions, and while a threshold is crossed evicts one pod per period: BestEffort
//! first, then Burstable, then Guaranteed.

use std::path::Path;
use std::time::Duration;

/// The housekeeping period.
pub const PERIOD: Duration = Duration::from_secs(10);

/// Hard eviction thresholds (`node.evictionHard`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// memory.available below this many bytes.
    pub memory_available_bytes: u64,
    /// nodefs.available below this percentage of the filesystem.
    pub nodefs_available_percent: u64,
    /// pid.available below this percentage of pid_max (0: no threshold, upstream's default).
    pub pid_available_percent: u64,
}

impl Default for Thresholds {
    /// The kubelet's defaults: memory.available<100Mi, nodefs.available<10%.
    fn default() -> Thresholds {
        Thresholds {
            memory_available_bytes: 100 << 20,
            nodefs_available_percent: 10,
            pid_available_percent: 0,
        }
    }
}

/// Which conditions are true.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pressure {
    pub memory: bool,
    pub disk: bool,
    pub pid: bool,
}

impl Pressure {
    pub fn any(self) -> bool {
        self.memory || self.disk || self.pid
    }

    /// The resource named in an eviction message, as upstream words it.
    pub fn resource(self) -> &'static str {
        if self.memory {
            "memory"
        } else if self.disk {
            "ephemeral-storage"
        } else {
            "pids"
        }
    }
}

/// Reads the host's figures and compares them with the thresholds.
pub fn observe(data_dir: &Path, t: &Thresholds) -> Pressure {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let available = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(u64::MAX, |kib| kib * 1024);
    let disk = rustix::fs::statvfs(data_dir).ok().is_some_and(|v| {
        let total = v.f_blocks.max(1);
        v.f_bavail.saturating_mul(100) / total < t.nodefs_available_percent
    });
    Pressure {
        memory: available < t.memory_available_bytes,
        disk,
        pid: t.pid_available_percent > 0 && pid_available_percent() < t.pid_available_percent,
    }
}

fn pid_available_percent() -> u64 {
    let max = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(32768)
        .max(1);
    let used = std::fs::read_dir("/proc")
        .map(|d| {
            d.flatten()
                .filter(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .bytes()
                        .all(|b| b.is_ascii_digit())
                })
                .count()
        })
        .unwrap_or(0) as u64;
    max.saturating_sub(used) * 100 / max
}

/// The eviction message upstream's kubelet writes into the pod's status.
pub fn eviction_message(p: Pressure) -> String {
    format!(
        "The node was low on resource: {}. Threshold quantity exceeded.",
        p.resource()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_turn_into_conditions() {
        let dir = std::env::temp_dir();
        assert_eq!(
            observe(
                &dir,
                &Thresholds {
                    memory_available_bytes: 0,
                    nodefs_available_percent: 0,
                    pid_available_percent: 0
                }
            ),
            Pressure::default()
        );
        let always = Thresholds {
            memory_available_bytes: u64::MAX,
            nodefs_available_percent: 101,
            pid_available_percent: 101,
        };
        let p = observe(&dir, &always);
        assert!(p.memory && p.disk && p.pid);
        assert_eq!(p.resource(), "memory");
        assert!(eviction_message(p).contains("low on resource: memory"));
    }
}
