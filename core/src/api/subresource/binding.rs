//! `pods/binding`: a scheduler's POST of a Binding assigns the pod to a node once. As
//! upstream's BindingREST, it sets `spec.nodeName` (and the Binding's annotations) and marks
//! the pod scheduled; a pod that already has a node or is being deleted answers 409.

use miniserde::json::{Object, Value};
use wisp_store::Compare;

use super::{SubresourceRequest, created_success};
use crate::api::body;
use crate::api::read::{fetch, object_key, parse_stored};
use crate::api::response::ApiResponse;
use crate::api::write::commit;
use crate::object::{meta, time};
use crate::status::{ApiError, json_str};

const RETRIES: usize = 5;

pub async fn create(req: &SubresourceRequest<'_>) -> Result<ApiResponse, ApiError> {
    let binding = body::decode_object(req.content_type, req.body)?;
    if let Some(n) = meta::name(&binding).filter(|n| !n.is_empty() && *n != req.name) {
        return Err(ApiError::bad_request(format!(
            "name in URL does not match name in Binding object: {n}"
        )));
    }
    let node = meta::get_str(&binding, &["target", "name"]).unwrap_or("");
    let kind = meta::get_str(&binding, &["target", "kind"]).unwrap_or("");
    if node.is_empty() || !(kind.is_empty() || kind == "Node") {
        return Err(ApiError::invalid(
            "",
            "Binding",
            req.name,
            vec![crate::status::field::invalid(
                "target",
                &json_str(node),
                "must be a Node with a name",
            )],
        ));
    }
    let annotations = meta::get_path(&binding, &["metadata", "annotations"]).cloned();
    let w = req.parent;
    for _ in 0..RETRIES {
        let current = fetch(w.store, w.resource, w.namespace, req.name)?;
        let mut pod = parse_stored(&current)?;
        assign(&mut pod, req.name, node, annotations.as_ref())?;
        if w.params.dry_run {
            return Ok(created_success());
        }
        let key = object_key(w.resource, w.namespace, req.name);
        if commit(
            w.store,
            &key,
            Compare::ModRevision(current.mod_revision),
            pod,
        )
        .await?
        .is_some()
        {
            return Ok(created_success());
        }
    }
    Err(ApiError::conflict("", "pods", req.name, ApiError::MODIFIED))
}

/// Sets the node, the annotations and the PodScheduled condition on a pod not yet bound.
fn assign(
    pod: &mut Value,
    name: &str,
    node: &str,
    annotations: Option<&Value>,
) -> Result<(), ApiError> {
    let conflict = |why: String| ApiError::conflict("", "pods/binding", name, &why);
    if meta::deletion_timestamp(pod).is_some() {
        return Err(conflict(format!(
            "pod {name} is being deleted, cannot be assigned to a host"
        )));
    }
    let bound = meta::get_str(pod, &["spec", "nodeName"]).unwrap_or("");
    if !bound.is_empty() {
        return Err(conflict(format!(
            "pod {name} is already assigned to node {}",
            json_str(bound)
        )));
    }
    meta::set_str(meta::ensure_object(pod, &["spec"]), "nodeName", node);
    if let Some(Value::Object(extra)) = annotations {
        let target = meta::ensure_object(pod, &["metadata", "annotations"]);
        for (k, v) in extra {
            target.insert(k.clone(), v.clone());
        }
    }
    set_scheduled(pod);
    Ok(())
}

fn set_scheduled(pod: &mut Value) {
    let status = meta::ensure_object(pod, &["status"]);
    let list = status
        .entry("conditions".to_owned())
        .or_insert_with(|| Value::Array(Vec::new().into_iter().collect()));
    let Value::Array(list) = list else {
        return;
    };
    list.retain(|c| meta::get_str(c, &["type"]) != Some("PodScheduled"));
    let mut c = Object::new();
    meta::set_str(&mut c, "type", "PodScheduled");
    meta::set_str(&mut c, "status", "True");
    c.insert("lastProbeTime".to_owned(), Value::Null);
    meta::set_str(
        &mut c,
        "lastTransitionTime",
        time::format_rfc3339(time::now_unix()),
    );
    list.push(Value::Object(c));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn binds_once() {
        let mut pod = parse(r#"{"metadata":{"name":"p"},"spec":{},"status":{"phase":"Pending"}}"#);
        assign(&mut pod, "p", "node-1", None).unwrap();
        assert_eq!(meta::get_str(&pod, &["spec", "nodeName"]), Some("node-1"));
        let conditions = match meta::get_path(&pod, &["status", "conditions"]) {
            Some(Value::Array(a)) => a.len(),
            _ => 0,
        };
        assert_eq!(conditions, 1);
        let e = assign(&mut pod, "p", "node-2", None).unwrap_err();
        assert_eq!(e.code, 409);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on pods/binding \"p\": pod p is already assigned to node \"node-1\""
        );
    }
}
