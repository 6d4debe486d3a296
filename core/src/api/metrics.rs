//! metrics.k8s.io/v1beta1, what `kubectl top node` and `kubectl top pod` read: NodeMetrics
//! and PodMetrics built from the node agent's cgroup and /proc samples (through the same
//! node boundary as the pod streams). Read-only and never stored.

use std::rc::Rc;

use miniserde::json::Value;

use super::response::ApiResponse;
use super::streams::node::{Metrics, PodStreams, PodUsage, Usage};
use crate::object::meta;
use crate::status::ApiError;
use crate::workloads::objects::{array, object, string};

/// The group's name.
pub const GROUP: &str = "metrics.k8s.io";

/// A routed metrics request.
pub struct MetricsRequest<'a> {
    pub plural: &'a str,
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

pub async fn handle(
    req: &MetricsRequest<'_>,
    node: Option<Rc<dyn PodStreams>>,
) -> Result<ApiResponse, ApiError> {
    let node =
        node.ok_or_else(|| ApiError::service_unavailable("no node agent is serving metrics"))?;
    let m = node
        .metrics()
        .await
        .map_err(|e| ApiError::service_unavailable(e.to_string()))?;
    let body = match (req.plural, req.name) {
        ("nodes", Some(name)) if name == m.node_name => node_metrics(&m),
        ("nodes", Some(name)) => return Err(not_found("nodes", name)),
        ("nodes", None) => list("NodeMetricsList", vec![node_metrics(&m)]),
        ("pods", Some(name)) => {
            let ns = req.namespace.unwrap_or("");
            let pod = m
                .pods
                .iter()
                .find(|p| p.namespace == ns && p.name == name)
                .ok_or_else(|| not_found("pods", name))?;
            pod_metrics(&m, pod)
        }
        ("pods", None) => list(
            "PodMetricsList",
            m.pods
                .iter()
                .filter(|p| req.namespace.is_none_or(|ns| p.namespace == ns))
                .map(|p| pod_metrics(&m, p))
                .collect(),
        ),
        _ => return Err(ApiError::path_not_found()),
    };
    Ok(ApiResponse::json(200, meta::to_json_bytes(&body)))
}

fn not_found(plural: &str, name: &str) -> ApiError {
    ApiError::not_found_message(format!("{plural}.{GROUP} \"{name}\" not found"))
}

fn list(kind: &str, items: Vec<Value>) -> Value {
    object([
        ("kind", string(kind)),
        ("apiVersion", string("metrics.k8s.io/v1beta1")),
        ("metadata", object([])),
        ("items", array(items)),
    ])
}

fn usage(u: &Usage) -> Value {
    object([
        ("cpu", string(format!("{}n", u.cpu_nanocores))),
        ("memory", string(format!("{}Ki", u.memory_bytes / 1024))),
    ])
}

fn node_metrics(m: &Metrics) -> Value {
    object([
        ("kind", string("NodeMetrics")),
        ("apiVersion", string("metrics.k8s.io/v1beta1")),
        (
            "metadata",
            object([
                ("name", string(m.node_name.as_str())),
                ("creationTimestamp", string(m.timestamp.as_str())),
            ]),
        ),
        ("timestamp", string(m.timestamp.as_str())),
        ("window", string(format!("{}s", m.window_seconds))),
        ("usage", usage(&m.node)),
    ])
}

fn pod_metrics(m: &Metrics, p: &PodUsage) -> Value {
    let containers = p
        .containers
        .iter()
        .map(|(name, u)| object([("name", string(name.as_str())), ("usage", usage(u))]))
        .collect();
    object([
        ("kind", string("PodMetrics")),
        ("apiVersion", string("metrics.k8s.io/v1beta1")),
        (
            "metadata",
            object([
                ("name", string(p.name.as_str())),
                ("namespace", string(p.namespace.as_str())),
                ("creationTimestamp", string(m.timestamp.as_str())),
            ]),
        ),
        ("timestamp", string(m.timestamp.as_str())),
        ("window", string(format!("{}s", m.window_seconds))),
        ("containers", array(containers)),
    ])
}
