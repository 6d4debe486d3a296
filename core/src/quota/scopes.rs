//! Quota scopes (`spec.scopes`): a scoped quota tracks only the pods its scopes select
//! (BestEffort / NotBestEffort by QoS class, Terminating / NotTerminating by
//! activeDeadlineSeconds) and no other kind. scopeSelector and the PriorityClass and
//! CrossNamespacePodAffinity scopes are not read; a quota naming them tracks nothing.

use miniserde::json::Value;

use crate::object::meta;

pub fn of(quota: &Value) -> Vec<&str> {
    match meta::get_path(quota, &["spec", "scopes"]) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| match s {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether `quota` charges `object` (a `plural`) at all.
pub fn matches(quota: &Value, plural: &str, object: &Value) -> bool {
    let scopes = of(quota);
    if scopes.is_empty() {
        return true;
    }
    plural == "pods" && scopes.iter().all(|s| pod_in_scope(s, object))
}

fn pod_in_scope(scope: &str, pod: &Value) -> bool {
    let best_effort = || crate::admission::qos_class(pod) == "BestEffort";
    let terminating = || meta::get_i64(pod, &["spec", "activeDeadlineSeconds"]).is_some();
    match scope {
        "BestEffort" => best_effort(),
        "NotBestEffort" => !best_effort(),
        "Terminating" => terminating(),
        "NotTerminating" => !terminating(),
        _ => false,
    }
}
