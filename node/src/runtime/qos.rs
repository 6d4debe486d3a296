//! The pod's QoS class and the OOM score each container gets from it, as the kubelet sets them,
//! so the kernel kills BestEffort containers before Burstable ones and Guaranteed ones last.

use std::fs;

use crate::runtime::podspec::{Container, PodSpec};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QosClass {
    Guaranteed,
    Burstable,
    BestEffort,
}

impl QosClass {
    /// The `status.qosClass` string.
    pub fn as_str(self) -> &'static str {
        match self {
            QosClass::Guaranteed => "Guaranteed",
            QosClass::Burstable => "Burstable",
            QosClass::BestEffort => "BestEffort",
        }
    }
}

const GUARANTEED_OOM_SCORE_ADJ: i32 = -997;
const BEST_EFFORT_OOM_SCORE_ADJ: i32 = 1000;

/// BestEffort without any CPU or memory request or limit; Guaranteed when every container
/// limits both and requests equal limits; Burstable otherwise.
pub fn qos_class(spec: &PodSpec) -> QosClass {
    let all = || spec.init_containers.iter().chain(&spec.containers);
    let unset = |c: &Container| {
        let r = &c.resources;
        r.requests.cpu_millis.is_none()
            && r.requests.memory_bytes.is_none()
            && r.limits.cpu_millis.is_none()
            && r.limits.memory_bytes.is_none()
    };
    if all().all(unset) {
        return QosClass::BestEffort;
    }
    let guaranteed = |c: &Container| {
        let r = &c.resources;
        r.limits.cpu_millis.is_some()
            && r.limits.memory_bytes.is_some()
            && r.requests.cpu_millis == r.limits.cpu_millis
            && r.requests.memory_bytes == r.limits.memory_bytes
    };
    if all().all(guaranteed) {
        QosClass::Guaranteed
    } else {
        QosClass::Burstable
    }
}

/// The container's oom_score_adj given the node's memory size.
pub fn oom_score_adj(spec: &PodSpec, container: &Container, node_memory_bytes: i64) -> i32 {
    match qos_class(spec) {
        QosClass::Guaranteed => GUARANTEED_OOM_SCORE_ADJ,
        QosClass::BestEffort => BEST_EFFORT_OOM_SCORE_ADJ,
        QosClass::Burstable => {
            let request = i128::from(container.resources.requests.memory_bytes.unwrap_or(0));
            let capacity = i128::from(node_memory_bytes.max(1));
            let score = 1000 - (1000 * request) / capacity;
            let score = i32::try_from(score.clamp(0, 1000)).unwrap_or(1000);
            score.clamp(
                1000 + GUARANTEED_OOM_SCORE_ADJ,
                BEST_EFFORT_OOM_SCORE_ADJ - 1,
            )
        }
    }
}

/// MemTotal from /proc/meminfo in bytes (1 GiB if unreadable).
pub fn node_memory_bytes() -> i64 {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    meminfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse::<i64>()
                .ok()
        })
        .map_or(1 << 30, |kib| kib.saturating_mul(1024))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::podspec::PodSpec;

    fn spec(containers: &str) -> PodSpec {
        let doc = format!(r#"{{"metadata":{{}},"spec":{{"containers":{containers}}}}}"#);
        PodSpec::from_pod_json(doc.as_bytes()).unwrap().spec
    }

    #[test]
    fn classes_follow_requests_and_limits() {
        assert_eq!(qos_class(&spec(r#"[{"name":"a"}]"#)), QosClass::BestEffort);
        let limited = r#"[{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]"#;
        assert_eq!(qos_class(&spec(limited)), QosClass::Guaranteed);
        let lower_request = r#"[{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"500m"}}}]"#;
        assert_eq!(qos_class(&spec(lower_request)), QosClass::Burstable);
        let mixed =
            r#"[{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}},{"name":"b"}]"#;
        assert_eq!(qos_class(&spec(mixed)), QosClass::Burstable);
    }

    #[test]
    fn oom_scores_follow_the_kubelet() {
        let gib = 1 << 30;
        let s = spec(r#"[{"name":"a","resources":{"requests":{"memory":"256Mi"}}}]"#);
        assert_eq!(oom_score_adj(&s, &s.containers[0], gib), 750);
        let s = spec(r#"[{"name":"a","resources":{"requests":{"memory":"2Gi"}}}]"#);
        assert_eq!(oom_score_adj(&s, &s.containers[0], gib), 3);
        let s = spec(r#"[{"name":"a","resources":{"requests":{"cpu":"1"}}}]"#);
        assert_eq!(oom_score_adj(&s, &s.containers[0], gib), 999);
        let s = spec(r#"[{"name":"a"}]"#);
        assert_eq!(oom_score_adj(&s, &s.containers[0], gib), 1000);
        let s = spec(r#"[{"name":"a","resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]"#);
        assert_eq!(oom_score_adj(&s, &s.containers[0], gib), -997);
        assert!(node_memory_bytes() > 0);
    }
}
