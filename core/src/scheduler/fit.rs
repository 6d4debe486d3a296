//! Whether a pod fits the node, as upstream's default filter plugins decide and in their
//! order (NodeUnschedulable, TaintToleration, NodeAffinity, NodePorts, NodeResourcesFit):
//! the first plugin that fails gives the reasons, worded as upstream words them.

use std::collections::BTreeMap;

use miniserde::json::Value;

use super::placement;
use super::quantity::parse_milli;
use crate::object::meta;

/// What the pods already bound to a node take from it.
#[derive(Debug, Default, Clone)]
pub struct Usage {
    /// Requested thousandths per resource name.
    pub requested: BTreeMap<String, i128>,
    pub pods: i128,
    /// `(protocol, hostIP, hostPort)` in use.
    pub ports: Vec<(String, String, i64)>,
}

impl Usage {
    pub fn add(&mut self, pod: &Value) {
        for (name, milli) in pod_requests(pod) {
            *self.requested.entry(name).or_default() += milli;
        }
        self.pods += 1;
        self.ports.extend(host_ports(pod));
    }
}

/// The pod's effective requests: containers summed, the largest init container if that is
/// more, plus overhead; a limit stands in for a missing request (upstream defaulting).
pub fn pod_requests(pod: &Value) -> BTreeMap<String, i128> {
    let mut total = sum_containers(pod, "containers", true);
    for (name, init) in sum_containers(pod, "initContainers", false) {
        let e = total.entry(name).or_default();
        *e = (*e).max(init);
    }
    for (name, v) in meta::string_map(pod, &["spec", "overhead"]) {
        *total.entry(name.to_owned()).or_default() += parse_milli(v).unwrap_or(0);
    }
    total
}

fn sum_containers(pod: &Value, list: &str, sum: bool) -> BTreeMap<String, i128> {
    let mut out: BTreeMap<String, i128> = BTreeMap::new();
    let Some(Value::Array(containers)) = meta::get_path(pod, &["spec", list]) else {
        return out;
    };
    for c in containers {
        let mut names: Vec<&str> = meta::string_map(c, &["resources", "requests"])
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        names.extend(
            meta::string_map(c, &["resources", "limits"])
                .into_iter()
                .map(|(k, _)| k),
        );
        names.sort_unstable();
        names.dedup();
        for name in names {
            let v = meta::get_str(c, &["resources", "requests", name])
                .or_else(|| meta::get_str(c, &["resources", "limits", name]))
                .and_then(parse_milli)
                .unwrap_or(0);
            let e = out.entry(name.to_owned()).or_default();
            *e = if sum { *e + v } else { (*e).max(v) };
        }
    }
    out
}

fn host_ports(pod: &Value) -> Vec<(String, String, i64)> {
    let Some(Value::Array(containers)) = meta::get_path(pod, &["spec", "containers"]) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for c in containers {
        let Some(Value::Array(ports)) = meta::get_path(c, &["ports"]) else {
            continue;
        };
        for p in ports {
            let port = meta::get_i64(p, &["hostPort"]).unwrap_or(0);
            if port > 0 {
                let protocol = meta::get_str(p, &["protocol"]).unwrap_or("TCP").to_owned();
                let ip = meta::get_str(p, &["hostIP"])
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or("0.0.0.0")
                    .to_owned();
                out.push((protocol, ip, port));
            }
        }
    }
    out
}

/// `Ok` when the pod fits, else the reasons of the first failing filter.
pub fn fits(pod: &Value, node: &Value, usage: &Usage) -> Result<(), Vec<String>> {
    let unschedulable = matches!(
        meta::get_path(node, &["spec", "unschedulable"]),
        Some(Value::Bool(true))
    );
    if unschedulable && !placement::tolerates_unschedulable(pod) {
        return Err(vec!["node(s) were unschedulable".to_owned()]);
    }
    if let Some(taint) = placement::untolerated_taint(pod, node) {
        return Err(vec![taint]);
    }
    if !placement::matches_node(pod, node) {
        return Err(vec![
            "node(s) didn't match Pod's node affinity/selector".to_owned(),
        ]);
    }
    if ports_conflict(pod, usage) {
        return Err(vec![
            "node(s) didn't have free ports for the requested pod ports".to_owned(),
        ]);
    }
    let insufficient = insufficient_resources(pod, node, usage);
    if insufficient.is_empty() {
        Ok(())
    } else {
        Err(insufficient)
    }
}

fn ports_conflict(pod: &Value, usage: &Usage) -> bool {
    host_ports(pod).iter().any(|(proto, ip, port)| {
        usage.ports.iter().any(|(p, i, n)| {
            p == proto && n == port && (i == ip || i == "0.0.0.0" || ip == "0.0.0.0")
        })
    })
}

/// A node that reports neither allocatable nor capacity is taken as unlimited (a Node
/// object created by hand before the node agent fills its status).
fn insufficient_resources(pod: &Value, node: &Value, usage: &Usage) -> Vec<String> {
    let allocatable = match meta::get_path(node, &["status", "allocatable"]) {
        Some(Value::Object(o)) if !o.is_empty() => ["status", "allocatable"],
        _ => ["status", "capacity"],
    };
    if meta::string_map(node, &allocatable).is_empty() {
        return Vec::new();
    }
    let limit = |name: &str| {
        meta::get_str(node, &[allocatable[0], allocatable[1], name])
            .and_then(parse_milli)
            .unwrap_or(0)
    };
    let mut reasons = Vec::new();
    if (usage.pods + 1) * 1000 > limit("pods") {
        reasons.push("Too many pods".to_owned());
    }
    for (name, want) in pod_requests(pod) {
        if want == 0 {
            continue;
        }
        let used = usage.requested.get(&name).copied().unwrap_or(0);
        if used + want > limit(&name) {
            reasons.push(format!("Insufficient {name}"));
        }
    }
    reasons
}

/// `0/N nodes are available: 1 Insufficient cpu, 1 Insufficient memory.`
pub fn failure_message(nodes: usize, reasons: &[String]) -> String {
    if nodes == 0 {
        return "no nodes available to schedule pods".to_owned();
    }
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for r in reasons {
        *counts.entry(r.as_str()).or_default() += 1;
    }
    let mut parts: Vec<String> = counts.iter().map(|(r, n)| format!("{n} {r}")).collect();
    parts.sort();
    format!("0/{nodes} nodes are available: {}.", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::parse;

    fn node(extra: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"n1","labels":{{"disk":"ssd","cores":"4"}}}},{extra}
            "status":{{"allocatable":{{"cpu":"2","memory":"1Gi","pods":"2"}}}}}}"#
        ))
        .unwrap()
    }

    fn pod(spec: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"p"}},"spec":{{{spec}"containers":[{{"name":"c","image":"i"}}]}}}}"#
        ))
        .unwrap()
    }

    fn pod_requesting(cpu: &str, memory: &str) -> Value {
        parse(&format!(
            r#"{{"spec":{{"containers":[{{"name":"c","resources":{{"requests":{{"cpu":"{cpu}","memory":"{memory}"}}}}}}]}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn resources_add_up_across_bound_pods() {
        let n = node("");
        let mut usage = Usage::default();
        usage.add(&pod_requesting("1500m", "512Mi"));
        assert_eq!(fits(&pod_requesting("500m", "512Mi"), &n, &usage), Ok(()));
        let too_big = fits(&pod_requesting("600m", "600Mi"), &n, &usage).unwrap_err();
        assert_eq!(too_big, vec!["Insufficient cpu", "Insufficient memory"]);
        usage.add(&pod_requesting("0", "0"));
        assert_eq!(
            fits(&pod(""), &n, &usage),
            Err(vec!["Too many pods".to_owned()])
        );
    }

    #[test]
    fn a_limit_stands_in_for_a_missing_request() {
        let p = parse(r#"{"spec":{"containers":[{"resources":{"limits":{"cpu":"3"}}}]}}"#).unwrap();
        assert_eq!(
            fits(&p, &node(""), &Usage::default()),
            Err(vec!["Insufficient cpu".to_owned()])
        );
    }

    #[test]
    fn taints_need_tolerations() {
        let n = node(
            r#""spec":{"taints":[{"key":"gpu","value":"yes","effect":"NoSchedule"},{"key":"soft","effect":"PreferNoSchedule"}]},"#,
        );
        assert_eq!(
            fits(&pod(""), &n, &Usage::default()),
            Err(vec!["node(s) had untolerated taint {gpu: yes}".to_owned()])
        );
        let tolerant = pod(
            r#""tolerations":[{"key":"gpu","operator":"Equal","value":"yes","effect":"NoSchedule"}],"#,
        );
        assert_eq!(fits(&tolerant, &n, &Usage::default()), Ok(()));
        let wrong_value = pod(r#""tolerations":[{"key":"gpu","value":"no"}],"#);
        assert!(fits(&wrong_value, &n, &Usage::default()).is_err());
        let everything = pod(r#""tolerations":[{"operator":"Exists"}],"#);
        assert_eq!(fits(&everything, &n, &Usage::default()), Ok(()));
    }

    #[test]
    fn node_selector_and_required_affinity() {
        let n = node("");
        let mismatch = vec!["node(s) didn't match Pod's node affinity/selector".to_owned()];
        assert_eq!(
            fits(
                &pod(r#""nodeSelector":{"disk":"ssd"},"#),
                &n,
                &Usage::default()
            ),
            Ok(())
        );
        assert_eq!(
            fits(
                &pod(r#""nodeSelector":{"disk":"hdd"},"#),
                &n,
                &Usage::default()
            ),
            Err(mismatch.clone())
        );
        let affinity = |expr: &str| {
            pod(&format!(
                r#""affinity":{{"nodeAffinity":{{"requiredDuringSchedulingIgnoredDuringExecution":{{"nodeSelectorTerms":[{expr}]}}}}}},"#
            ))
        };
        let ok = affinity(
            r#"{"matchExpressions":[{"key":"cores","operator":"Gt","values":["2"]},{"key":"gpu","operator":"DoesNotExist"}]}"#,
        );
        assert_eq!(fits(&ok, &n, &Usage::default()), Ok(()));
        let no = affinity(
            r#"{"matchExpressions":[{"key":"disk","operator":"NotIn","values":["ssd"]}]}"#,
        );
        assert_eq!(fits(&no, &n, &Usage::default()), Err(mismatch.clone()));
        let by_name = affinity(
            r#"{"matchFields":[{"key":"metadata.name","operator":"In","values":["n1"]}]}"#,
        );
        assert_eq!(fits(&by_name, &n, &Usage::default()), Ok(()));
        let either = affinity(
            r#"{"matchExpressions":[{"key":"x","operator":"Exists"}]},{"matchExpressions":[{"key":"disk","operator":"In","values":["ssd"]}]}"#,
        );
        assert_eq!(fits(&either, &n, &Usage::default()), Ok(()));
    }

    #[test]
    fn host_ports_conflict_on_the_same_protocol_and_port() {
        let with_port = |port: &str| {
            parse(&format!(
                r#"{{"spec":{{"containers":[{{"ports":[{{"containerPort":80,{port}}}]}}]}}}}"#
            ))
            .unwrap()
        };
        let mut usage = Usage::default();
        usage.add(&with_port(r#""hostPort":8080"#));
        let busy = vec!["node(s) didn't have free ports for the requested pod ports".to_owned()];
        assert_eq!(
            fits(&with_port(r#""hostPort":8080"#), &node(""), &usage),
            Err(busy)
        );
        assert_eq!(
            fits(
                &with_port(r#""hostPort":8080,"protocol":"UDP""#),
                &node(""),
                &usage
            ),
            Ok(())
        );
        assert_eq!(
            fits(&with_port(r#""hostPort":8081"#), &node(""), &usage),
            Ok(())
        );
    }

    #[test]
    fn failure_messages_count_and_sort_reasons() {
        let reasons = vec![
            "Insufficient memory".to_owned(),
            "Insufficient cpu".to_owned(),
        ];
        assert_eq!(
            failure_message(1, &reasons),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory."
        );
        assert_eq!(
            failure_message(0, &[]),
            "no nodes available to schedule pods"
        );
    }
}
