//! Where a pod may go by its own rules: nodeSelector, required node affinity
//! (matchExpressions and matchFields), and tolerations of the node's NoSchedule and
//! NoExecute taints.

use miniserde::json::Value;

use crate::object::meta;

fn items<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

fn tolerates(toleration: &Value, key: &str, value: &str, effect: &str) -> bool {
    let t = |f: &str| meta::get_str(toleration, &[f]).unwrap_or("");
    if !t("effect").is_empty() && t("effect") != effect {
        return false;
    }
    if !t("key").is_empty() && t("key") != key {
        return false;
    }
    match t("operator") {
        "Exists" => true,
        "" | "Equal" => t("value") == value,
        _ => false,
    }
}

/// The first NoSchedule/NoExecute taint the pod does not tolerate, as upstream reports it.
pub fn untolerated_taint(pod: &Value, node: &Value) -> Option<String> {
    let tolerations = items(pod, &["spec", "tolerations"]);
    items(node, &["spec", "taints"]).iter().find_map(|taint| {
        let f = |n: &str| meta::get_str(taint, &[n]).unwrap_or("");
        let (key, value, effect) = (f("key"), f("value"), f("effect"));
        if !matches!(effect, "NoSchedule" | "NoExecute") {
            return None;
        }
        let tolerated = tolerations.iter().any(|t| tolerates(t, key, value, effect));
        (!tolerated).then(|| format!("node(s) had untolerated taint {{{key}: {value}}}"))
    })
}

pub fn tolerates_unschedulable(pod: &Value) -> bool {
    items(pod, &["spec", "tolerations"])
        .iter()
        .any(|t| tolerates(t, "node.kubernetes.io/unschedulable", "", "NoSchedule"))
}

/// nodeSelector and required node affinity both hold.
pub fn matches_node(pod: &Value, node: &Value) -> bool {
    let labels = meta::labels(node);
    let label = |k: &str| labels.iter().find(|(lk, _)| *lk == k).map(|(_, v)| *v);
    let selector_ok = meta::string_map(pod, &["spec", "nodeSelector"])
        .iter()
        .all(|(k, v)| label(k) == Some(*v));
    if !selector_ok {
        return false;
    }
    let required = [
        "spec",
        "affinity",
        "nodeAffinity",
        "requiredDuringSchedulingIgnoredDuringExecution",
    ];
    let Some(required) = meta::get_path(pod, &required) else {
        return true;
    };
    let name = meta::name(node);
    items(required, &["nodeSelectorTerms"]).iter().any(|term| {
        let exprs = items(term, &["matchExpressions"]);
        let fields = items(term, &["matchFields"]);
        (!exprs.is_empty() || !fields.is_empty())
            && exprs.iter().all(|e| requirement_holds(e, label))
            && fields.iter().all(|e| {
                meta::get_str(e, &["key"]) == Some("metadata.name")
                    && requirement_holds(e, |_| name)
            })
    })
}

fn requirement_holds<'a>(expr: &Value, label: impl Fn(&str) -> Option<&'a str>) -> bool {
    let key = meta::get_str(expr, &["key"]).unwrap_or("");
    let values: Vec<&str> = items(expr, &["values"])
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let current = label(key);
    let number = |s: &str| s.parse::<i64>().ok();
    match meta::get_str(expr, &["operator"]).unwrap_or("") {
        "In" => current.is_some_and(|v| values.contains(&v)),
        "NotIn" => current.is_none_or(|v| !values.contains(&v)),
        "Exists" => current.is_some(),
        "DoesNotExist" => current.is_none(),
        "Gt" => {
            matches!((current.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a > b)
        }
        "Lt" => {
            matches!((current.and_then(number), values.first().and_then(|v| number(v))), (Some(a), Some(b)) if a < b)
        }
        _ => false,
    }
}
