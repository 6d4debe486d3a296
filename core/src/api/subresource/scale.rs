//! The `scale` subresource: reads a workload (Deployment, ReplicaSet, StatefulSet, or a
//! custom resource whose CRD declares `subresources.scale`) as an autoscaling/v1 Scale, and
//! writes a Scale's `spec.replicas` back into it through the ordinary update path, so the
//! parent's resourceVersion check, admission and generation apply as for any write.

use miniserde::json::{Object, Value};

use super::{SubresourceRequest, body_bytes};
use crate::api::body;
use crate::api::read::{fetch, parse_stored};
use crate::api::response::ApiResponse;
use crate::api::route::Verb;
use crate::api::write;
use crate::object::meta;
use crate::patch;
use crate::registry::Resource;
use crate::status::{ApiError, field};

pub async fn handle(req: &SubresourceRequest<'_>) -> Result<ApiResponse, ApiError> {
    let w = req.parent;
    let current = fetch(w.store, w.resource, w.namespace, req.name)?;
    let parent = parse_stored(&current)?;
    let scale = to_scale(w.resource, &parent);
    let wanted = match req.verb {
        Verb::Get => return Ok(ApiResponse::json(200, meta::to_json_bytes(&scale))),
        Verb::Update => body::decode_object(req.content_type, req.body)?,
        _ => patched(&scale, req)?,
    };
    write_replicas(req, parent, &current.mod_revision.to_string(), &wanted).await
}

fn patched(scale: &Value, req: &SubresourceRequest<'_>) -> Result<Value, ApiError> {
    let doc = body::parse_json(req.body)?;
    let ct = body::essence(req.content_type);
    match ct.as_str() {
        "application/json-patch+json" => patch::apply_json_patch(scale.clone(), &doc)
            .map_err(|e| ApiError::bad_request(e.to_string())),
        // A Scale has no lists, so a strategic merge patch merges like a merge patch.
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            patch::apply_merge_patch(scale.clone(), &doc)
                .map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}

/// Validates the Scale, then sets the parent's replicas and updates it.
async fn write_replicas(
    req: &SubresourceRequest<'_>,
    mut parent: Value,
    parent_rv: &str,
    wanted: &Value,
) -> Result<ApiResponse, ApiError> {
    let w = req.parent;
    let replicas = meta::get_i64(wanted, &["spec", "replicas"]).unwrap_or(0);
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            req.name,
            vec![field::invalid(
                "spec.replicas",
                &replicas.to_string(),
                "must be greater than or equal to 0",
            )],
        ));
    }
    // A Scale carrying a resourceVersion is a precondition on the parent's.
    let rv = meta::resource_version(wanted)
        .filter(|rv| !rv.is_empty())
        .unwrap_or(parent_rv)
        .to_owned();
    let path = spec_replicas_path(w.resource);
    let (last, parents) = path.split_last().expect("a replicas path has a field");
    let holder = meta::ensure_object(&mut parent, parents);
    meta::set_i64(holder, last, replicas);
    meta::set_str(meta::metadata_mut(&mut parent), "resourceVersion", rv);
    let resp = write::update(w, req.name, parent).await?;
    let status = resp.status;
    let stored = meta::from_json_bytes(&body_bytes(resp)?)
        .ok_or_else(|| ApiError::internal("the updated object is not JSON"))?;
    Ok(ApiResponse::json(
        status,
        meta::to_json_bytes(&to_scale(w.resource, &stored)),
    ))
}

/// `.spec.replicas` as path segments.
fn json_path(path: &str) -> Vec<&str> {
    path.split('.').filter(|s| !s.is_empty()).collect()
}

fn spec_replicas_path(resource: &Resource) -> Vec<&str> {
    match &resource.scale_paths {
        Some(paths) => json_path(&paths.spec_replicas),
        None => vec!["spec", "replicas"],
    }
}

/// The autoscaling/v1 Scale of a workload.
pub fn to_scale(resource: &Resource, parent: &Value) -> Value {
    let (spec_replicas, status_replicas, selector) = match &resource.scale_paths {
        Some(p) => (
            meta::get_i64(parent, &json_path(&p.spec_replicas)),
            meta::get_i64(parent, &json_path(&p.status_replicas)),
            p.label_selector
                .as_ref()
                .and_then(|s| meta::get_str(parent, &json_path(s)))
                .unwrap_or("")
                .to_owned(),
        ),
        None => (
            meta::get_i64(parent, &["spec", "replicas"]),
            meta::get_i64(parent, &["status", "replicas"]),
            format_selector(meta::get_path(parent, &["spec", "selector"])),
        ),
    };
    let mut md = Object::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta::get_path(parent, &["metadata", key]) {
            md.insert(key.to_owned(), v.clone());
        }
    }
    let mut spec = Object::new();
    meta::set_i64(&mut spec, "replicas", spec_replicas.unwrap_or(0));
    let mut status = Object::new();
    meta::set_i64(&mut status, "replicas", status_replicas.unwrap_or(0));
    if !selector.is_empty() {
        meta::set_str(&mut status, "selector", selector);
    }
    let mut scale = Object::new();
    scale.insert("kind".to_owned(), Value::String("Scale".to_owned()));
    scale.insert(
        "apiVersion".to_owned(),
        Value::String("autoscaling/v1".to_owned()),
    );
    scale.insert("metadata".to_owned(), Value::Object(md));
    scale.insert("spec".to_owned(), Value::Object(spec));
    scale.insert("status".to_owned(), Value::Object(status));
    Value::Object(scale)
}

/// A structured label selector in the query syntax (`app=web,tier in (a,b)`), requirements
/// sorted by key as apimachinery's selector String() prints them.
pub fn format_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector else {
        return String::new();
    };
    let mut parts: Vec<(String, String)> = meta::string_map(selector, &["matchLabels"])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), format!("{k}={v}")))
        .collect();
    if let Some(Value::Array(exprs)) = meta::get_path(selector, &["matchExpressions"]) {
        for e in exprs {
            let key = meta::get_str(e, &["key"]).unwrap_or("");
            let mut values: Vec<&str> = match meta::get_path(e, &["values"]) {
                Some(Value::Array(v)) => v
                    .iter()
                    .filter_map(|x| match x {
                        Value::String(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            values.sort_unstable();
            let text = match meta::get_str(e, &["operator"]).unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                "DoesNotExist" => format!("!{key}"),
                _ => continue,
            };
            parts.push((key.to_owned(), text));
        }
    }
    parts.sort();
    parts
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::Registry;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn deployment_as_scale() {
        let registry = Registry::new();
        let deploy = registry.get("apps", "v1", "deployments").unwrap();
        let d = parse(
            r#"{"metadata":{"name":"web","namespace":"default","uid":"u","resourceVersion":"7","creationTimestamp":"2026-01-01T00:00:00Z","labels":{"x":"y"}},"spec":{"replicas":3,"selector":{"matchLabels":{"app":"web"}}},"status":{"replicas":1}}"#,
        );
        assert_eq!(
            miniserde::json::to_string(&to_scale(deploy, &d)),
            r#"{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"creationTimestamp":"2026-01-01T00:00:00Z","name":"web","namespace":"default","resourceVersion":"7","uid":"u"},"spec":{"replicas":3},"status":{"replicas":1,"selector":"app=web"}}"#
        );
    }

    #[test]
    fn selectors_print_like_apimachinery() {
        let s = parse(
            r#"{"matchLabels":{"b":"2","a":"1"},"matchExpressions":[{"key":"c","operator":"In","values":["y","x"]},{"key":"d","operator":"DoesNotExist"}]}"#,
        );
        assert_eq!(format_selector(Some(&s)), "a=1,b=2,c in (x,y),!d");
        assert_eq!(format_selector(None), "");
    }
}
