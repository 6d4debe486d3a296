//! The `scale` subresource: an autoscaling/v1 Scale view of an object's replica count, read
//! from and written to the object itself. Built-in workloads keep it at spec.replicas and
//! status.replicas with their label selector; custom resources at the paths their CRD's
//! `subresources.scale` names.

use miniserde::json::{Number, Object, Value};

use super::read::{fetch, parse_stored};
use super::response::ApiResponse;
use super::write::{self, WriteRequest};
use crate::object::meta;
use crate::registry::Resource;
use crate::status::{ApiError, field};

/// Where the replica counts and selector live in an object.
struct Paths {
    spec_replicas: Vec<String>,
    status_replicas: Vec<String>,
    /// A CRD's labelSelectorPath (a string); built-ins use spec.selector.
    label_selector: Option<Vec<String>>,
}

fn split_path(path: &str) -> Vec<String> {
    path.trim_start_matches('.')
        .split('.')
        .map(str::to_owned)
        .collect()
}

fn paths(resource: &Resource) -> Paths {
    match &resource.scale_paths {
        Some(p) => Paths {
            spec_replicas: split_path(&p.spec_replicas),
            status_replicas: split_path(&p.status_replicas),
            label_selector: p.label_selector.as_deref().map(split_path),
        },
        None => Paths {
            spec_replicas: split_path(".spec.replicas"),
            status_replicas: split_path(".status.replicas"),
            label_selector: None,
        },
    }
}

fn at<'a>(object: &'a Value, path: &[String]) -> Option<&'a Value> {
    let keys: Vec<&str> = path.iter().map(String::as_str).collect();
    meta::get_path(object, &keys)
}

/// A LabelSelector as the string form Scale's status.selector carries.
fn selector_string(selector: &Value) -> String {
    let mut parts: Vec<String> = meta::string_map(selector, &["matchLabels"])
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    if let Some(Value::Array(exprs)) = meta::get_path(selector, &["matchExpressions"]) {
        for e in exprs {
            let key = meta::get_str(e, &["key"]).unwrap_or("");
            let values: Vec<&str> = match meta::get_path(e, &["values"]) {
                Some(Value::Array(v)) => v
                    .iter()
                    .filter_map(|x| match x {
                        Value::String(s) => Some(s.as_str()),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            parts.push(match meta::get_str(e, &["operator"]).unwrap_or("") {
                "In" => format!("{key} in ({})", values.join(",")),
                "NotIn" => format!("{key} notin ({})", values.join(",")),
                "Exists" => key.to_owned(),
                _ => format!("!{key}"),
            });
        }
    }
    parts.join(",")
}

fn scale_of(resource: &Resource, object: &Value) -> Value {
    let paths = paths(resource);
    let mut md = Object::new();
    for key in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(text) = meta::get_str(object, &["metadata", key]) {
            meta::set_str(&mut md, key, text);
        }
    }
    let count = |path: &[String]| {
        at(object, path)
            .cloned()
            .unwrap_or(Value::Number(Number::U64(0)))
    };
    let mut spec = Object::new();
    spec.insert("replicas".to_owned(), count(&paths.spec_replicas));
    let mut status = Object::new();
    status.insert("replicas".to_owned(), count(&paths.status_replicas));
    let selector = match &paths.label_selector {
        Some(path) => at(object, path).and_then(|v| match v {
            Value::String(s) => Some(s.clone()),
            _ => None,
        }),
        None => meta::get_path(object, &["spec", "selector"]).map(selector_string),
    };
    if let Some(selector) = selector.filter(|s| !s.is_empty()) {
        meta::set_str(&mut status, "selector", selector);
    }
    let mut scale = Object::new();
    meta::set_str(&mut scale, "kind", "Scale");
    meta::set_str(&mut scale, "apiVersion", "autoscaling/v1");
    scale.insert("metadata".to_owned(), Value::Object(md));
    scale.insert("spec".to_owned(), Value::Object(spec));
    scale.insert("status".to_owned(), Value::Object(status));
    Value::Object(scale)
}

fn respond(status: u16, scale: &Value) -> ApiResponse {
    ApiResponse::json(status, meta::to_json_bytes(scale))
}

pub fn get(
    store: &wisp_store::Store,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
) -> Result<ApiResponse, ApiError> {
    let object = parse_stored(&fetch(store, resource, namespace, name)?)?;
    Ok(respond(200, &scale_of(resource, &object)))
}

/// PUT of a Scale: its spec.replicas goes into the object (its resourceVersion, if any, is
/// a precondition).
pub async fn update(
    req: &WriteRequest<'_>,
    name: &str,
    scale: &Value,
) -> Result<ApiResponse, ApiError> {
    let replicas = match meta::get_i64(scale, &["spec", "replicas"]) {
        Some(n) if n >= 0 => n,
        Some(n) => {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![field::invalid(
                    "spec.replicas",
                    &n.to_string(),
                    "must be greater than or equal to 0",
                )],
            ));
        }
        None => {
            return Err(ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![field::required("spec.replicas")],
            ));
        }
    };
    let mut object = parse_stored(&fetch(req.store, req.resource, req.namespace, name)?)?;
    let path = paths(req.resource).spec_replicas;
    let (last, parents) = path.split_last().expect("a replicas path has a field");
    let parents: Vec<&str> = parents.iter().map(String::as_str).collect();
    meta::set_i64(meta::ensure_object(&mut object, &parents), last, replicas);
    let rv = meta::get_str(scale, &["metadata", "resourceVersion"]).unwrap_or("");
    meta::set_str(meta::metadata_mut(&mut object), "resourceVersion", rv);
    // Written as a change of the object itself, so generation moves as for any spec edit.
    let main = WriteRequest {
        subresource: None,
        ..*req
    };
    let written = write::update(&main, name, object).await?;
    let bytes = match &written.body {
        super::response::Body::Bytes(b) => b.as_slice(),
        super::response::Body::Shared(b) => b,
        super::response::Body::Stream(_) => &[],
    };
    let object = meta::from_json_bytes(bytes).unwrap_or(Value::Null);
    Ok(respond(200, &scale_of(req.resource, &object)))
}

/// PATCH of a Scale (merge, strategic or JSON patch against the current Scale).
pub async fn patch(
    req: &WriteRequest<'_>,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<ApiResponse, ApiError> {
    let current = parse_stored(&fetch(req.store, req.resource, req.namespace, name)?)?;
    let patch_doc = super::body::parse_json(body)?;
    let scale = scale_of(req.resource, &current);
    let patched = match content_type {
        "application/json-patch+json" => crate::patch::apply_json_patch(scale, &patch_doc)
            .map_err(|e| ApiError::bad_request(e.to_string()))?,
        // Scale has no lists, so a strategic merge patch is a merge patch.
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            crate::patch::apply_merge_patch(scale, &patch_doc)
                .map_err(|e| ApiError::bad_request(e.to_string()))?
        }
        other => return Err(ApiError::unsupported_media_type(other)),
    };
    update(req, name, &patched).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_strings_follow_upstream_form() {
        let selector: Value = miniserde::json::from_str(
            r#"{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"tier","operator":"In","values":["a","b"]},{"key":"x","operator":"DoesNotExist"}]}"#,
        )
        .unwrap();
        assert_eq!(selector_string(&selector), "app=web,tier in (a,b),!x");
    }
}
