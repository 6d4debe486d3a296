//! POST `pods/NAME/binding`: assigns a pod to a node, as the scheduler does upstream. The
//! pod gets spec.nodeName, the Binding's annotations and PodScheduled=True in one
//! compare-and-swap write; a pod already assigned or being deleted is refused with
//! upstream's messages.

use miniserde::json::{Array, Object, Value};
use wisp_store::{Compare, Store};

use super::read::{fetch, object_key, parse_stored};
use super::response::ApiResponse;
use super::write::commit;
use crate::object::{meta, time};
use crate::registry::Resource;
use crate::status::ApiError;

const RETRIES: usize = 5;

/// Binds pod `name` to the node the Binding body targets.
pub async fn bind(
    store: &Store,
    pods: &Resource,
    namespace: Option<&str>,
    name: &str,
    body: &Value,
) -> Result<ApiResponse, ApiError> {
    let node = target_node(body)?;
    for _ in 0..RETRIES {
        let current = fetch(store, pods, namespace, name)?;
        let mut pod = parse_stored(&current)?;
        assign(&mut pod, name, &node, body)?;
        let key = object_key(pods, namespace, name);
        if commit(store, &key, Compare::ModRevision(current.mod_revision), pod)
            .await?
            .is_some()
        {
            let status = r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}"#;
            return Ok(ApiResponse::json(201, status.as_bytes().to_vec()));
        }
    }
    Err(ApiError::conflict(
        "",
        "pods/binding",
        name,
        ApiError::MODIFIED,
    ))
}

fn target_node(body: &Value) -> Result<String, ApiError> {
    match meta::get_str(body, &["target", "kind"]) {
        None | Some("" | "Node") => {}
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "binding target must be a Node, not {other}"
            )));
        }
    }
    meta::get_str(body, &["target", "name"])
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::bad_request("binding target must name a node"))
}

fn assign(pod: &mut Value, name: &str, node: &str, body: &Value) -> Result<(), ApiError> {
    if meta::deletion_timestamp(pod).is_some() {
        return Err(ApiError::conflict(
            "",
            "pods/binding",
            name,
            &format!("pod {name} is being deleted, cannot be assigned to a host"),
        ));
    }
    if let Some(bound) = meta::get_str(pod, &["spec", "nodeName"]).filter(|n| !n.is_empty()) {
        return Err(ApiError::conflict(
            "",
            "pods/binding",
            name,
            &format!("pod {name} is already assigned to node \"{bound}\""),
        ));
    }
    meta::set_str(meta::ensure_object(pod, &["spec"]), "nodeName", node);
    for (k, v) in meta::string_map(body, &["metadata", "annotations"]) {
        meta::set_str(meta::ensure_object(pod, &["metadata", "annotations"]), k, v);
    }
    set_scheduled(meta::ensure_object(pod, &["status"]));
    Ok(())
}

/// PodScheduled=True, replacing an earlier Unschedulable verdict.
fn set_scheduled(status: &mut Object) {
    let mut cond = Object::new();
    meta::set_str(&mut cond, "type", "PodScheduled");
    meta::set_str(&mut cond, "status", "True");
    cond.insert("lastProbeTime".to_owned(), Value::Null);
    meta::set_str(
        &mut cond,
        "lastTransitionTime",
        time::format_rfc3339(time::now_unix()),
    );
    let mut conds: Array = match status.remove("conditions") {
        Some(Value::Array(a)) => a
            .into_iter()
            .filter(|c| meta::get_str(c, &["type"]) != Some("PodScheduled"))
            .collect(),
        _ => Array::new(),
    };
    conds.push(Value::Object(cond));
    status.insert("conditions".to_owned(), Value::Array(conds));
    if !status.contains_key("phase") {
        meta::set_str(status, "phase", "Pending");
    }
}
