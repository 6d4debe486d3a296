//! `linux.resources` from a container's requests and limits, and the device cgroup rules.

use miniserde::json::Value;

use crate::json::{array, b, int, s, sparse_obj};
use crate::runtime::podspec::Resources;

/// CFS period used for every quota, as the kubelet does.
pub const CPU_PERIOD_US: i64 = 100_000;
const MIN_SHARES: i64 = 2;
const MAX_SHARES: i64 = 262_144;
const MIN_QUOTA_US: i64 = 1_000;

/// cpu.shares for a CPU request (the kubelet's MilliCPUToShares).
pub fn cpu_shares(request_millis: Option<i64>) -> i64 {
    match request_millis {
        None | Some(0) => MIN_SHARES,
        Some(millis) => (millis.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES),
    }
}

/// cfs_quota_us for a CPU limit over `CPU_PERIOD_US` (the kubelet's MilliCPUToQuota).
pub fn cpu_quota(limit_millis: i64) -> i64 {
    (limit_millis.saturating_mul(CPU_PERIOD_US) / 1000).max(MIN_QUOTA_US)
}

/// The `linux.resources` object; swap equals the memory limit, so no swap is used.
pub fn linux_resources(resources: &Resources, privileged: bool) -> Value {
    let cpu_limit = resources.limits.cpu_millis.filter(|m| *m > 0);
    let cpu = sparse_obj([
        ("shares", int(cpu_shares(resources.requests.cpu_millis))),
        (
            "quota",
            cpu_limit.map_or(Value::Null, |m| int(cpu_quota(m))),
        ),
        (
            "period",
            cpu_limit.map_or(Value::Null, |_| int(CPU_PERIOD_US)),
        ),
    ]);
    let memory = match resources.limits.memory_bytes.filter(|m| *m > 0) {
        Some(limit) => sparse_obj([("limit", int(limit)), ("swap", int(limit))]),
        None => Value::Null,
    };
    // runc adds its default device nodes (null, zero, tty, ptmx...) to the allow list itself.
    let devices = array([sparse_obj([("allow", b(privileged)), ("access", s("rwm"))])]);
    sparse_obj([("cpu", cpu), ("memory", memory), ("devices", devices)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_and_quota_follow_the_kubelet() {
        assert_eq!(cpu_shares(None), 2);
        assert_eq!(cpu_shares(Some(1)), 2);
        assert_eq!(cpu_shares(Some(100)), 102);
        assert_eq!(cpu_shares(Some(1000)), 1024);
        assert_eq!(cpu_quota(500), 50_000);
        assert_eq!(cpu_quota(1), 1_000);
        assert_eq!(cpu_quota(2500), 250_000);
    }
}
