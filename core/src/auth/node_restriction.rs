//! The NodeRestriction admission plugin (upstream's plugin/pkg/admission/noderestriction),
//! for the writes it matters most for: a node may modify only its own Node object, delete
//! and update the status of only the pods bound to it, create only mirror pods bound to
//! itself, request tokens only bound to its own pods, and create only its own lease. Runs
//! in [`super::Auth::gate`] once the request is authorized; messages are upstream's. Node
//! label and taint restrictions are not checked.

use miniserde::json::Value;

use super::Auth;
use super::attributes::{Attributes, ResourceAttributes, Target, forbidden_on};
use super::identities;
use crate::api::body::decode_object;
use crate::api::server::{ApiRequest, User};
use crate::object::meta;
use crate::status::ApiError;

const MIRROR: &str = "kubernetes.io/config.mirror";

pub fn admit(
    auth: &Auth,
    user: &User,
    req: &ApiRequest,
    attrs: &Attributes,
) -> Result<(), ApiError> {
    let Some(node) = identities::node_name(user) else {
        return Ok(());
    };
    let Target::Resource(r) = &attrs.target else {
        return Ok(());
    };
    let verb = attrs.verb.as_str();
    let refusal = match (r.group.as_str(), r.resource.as_str(), r.subresource.as_str()) {
        ("", "nodes", _) if matches!(verb, "create" | "update" | "patch" | "delete") => {
            let name = if verb == "create" {
                body_str(req, &["metadata", "name"])
            } else {
                r.name.clone()
            };
            (name != node).then(|| format!("node {node:?} is not allowed to modify node {name:?}"))
        }
        ("", "pods", "") if verb == "create" => pod_create(req, node),
        ("", "pods", "") if verb == "delete" => (!bound(auth, r, node))
            .then(|| format!("node {node:?} can only delete pods with spec.nodeName set to itself")),
        ("", "pods", "status") if matches!(verb, "update" | "patch") => (!bound(auth, r, node))
            .then(|| {
                format!("node {node:?} can only update pod status for pods with spec.nodeName set to itself")
            }),
        ("", "serviceaccounts", "token") if verb == "create" => token(auth, req, r, node),
        ("coordination.k8s.io", "leases", "") if verb == "create" => {
            (body_str(req, &["metadata", "name"]) != node).then(|| {
                "can only access node lease with the same name as the requesting node".to_owned()
            })
        }
        _ => None,
    };
    match refusal {
        Some(why) => Err(forbidden_on(&r.group, &r.resource, &r.name, &why)),
        None => Ok(()),
    }
}

fn body(req: &ApiRequest) -> Option<Value> {
    decode_object(req.content_type.as_deref(), &req.body).ok()
}

fn body_str(req: &ApiRequest, path: &[&str]) -> String {
    body(req)
        .and_then(|b| meta::get_str(&b, path).map(str::to_owned))
        .unwrap_or_default()
}

fn stored_pod(auth: &Auth, namespace: &str, name: &str) -> Option<Value> {
    let key = format!("/registry/core/pods/{namespace}/{name}");
    meta::from_json_bytes(&auth.store().get(key.as_bytes())?.value)
}

/// Whether the pod the request names is bound to `node`; a pod that is gone is let
/// through so the request answers 404 as usual.
fn bound(auth: &Auth, r: &ResourceAttributes, node: &str) -> bool {
    stored_pod(auth, &r.namespace, &r.name)
        .is_none_or(|pod| meta::get_str(&pod, &["spec", "nodeName"]) == Some(node))
}

fn pod_create(req: &ApiRequest, node: &str) -> Option<String> {
    let pod = body(req).unwrap_or(Value::Null);
    if meta::get_path(&pod, &["metadata", "annotations", MIRROR]).is_none() {
        return Some(format!(
            "pod does not have {MIRROR:?} annotation, node {node:?} can only create mirror pods"
        ));
    }
    (meta::get_str(&pod, &["spec", "nodeName"]) != Some(node))
        .then(|| format!("node {node:?} can only create pods with spec.nodeName set to itself"))
}

fn token(auth: &Auth, req: &ApiRequest, r: &ResourceAttributes, node: &str) -> Option<String> {
    let request = body(req).unwrap_or(Value::Null);
    let field = |k: &str| meta::get_str(&request, &["spec", "boundObjectRef", k]).unwrap_or("");
    if field("kind") != "Pod" || field("name").is_empty() {
        return Some("node requested token not bound to a pod".to_owned());
    }
    if field("uid").is_empty() {
        return Some("node requested token with a pod binding without a uid".to_owned());
    }
    let pod = stored_pod(auth, &r.namespace, field("name"))?;
    if meta::uid(&pod) != Some(field("uid")) {
        return Some(format!(
            "the UID in the bound object reference ({}) does not match the UID in record. The object might have been deleted and then recreated",
            field("uid")
        ));
    }
    (meta::get_str(&pod, &["spec", "nodeName"]) != Some(node))
        .then(|| "node requested token bound to a pod scheduled on a different node".to_owned())
}
