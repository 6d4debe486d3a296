//! The scale subresource: an autoscaling/v1 Scale read from and written to the object's
//! replica count (`spec.replicas` for the built-in workloads, the CRD's scale paths for
//! custom resources). Writing a Scale updates the main object, so generation and
//! managedFields move as for any spec change; `kubectl scale` and autoscalers use it.

use miniserde::json::{Number, Object, Value};

use super::read::{fetch, parse_stored};
use super::response::ApiResponse;
use super::write::{self, WriteRequest};
use crate::object::meta;
use crate::patch;
use crate::registry::Resource;
use crate::selector::LabelSelector;
use crate::status::ApiError;

/// The verb on `.../NAME/scale` and its body.
pub enum ScaleVerb<'a> {
    Get,
    Update(&'a [u8]),
    Patch {
        content_type: &'a str,
        body: &'a [u8],
    },
}

/// `.spec.replicas` -> `["spec", "replicas"]`.
fn path_of(json_path: &str) -> Vec<&str> {
    json_path
        .trim_start_matches('.')
        .split('.')
        .filter(|s| !s.is_empty())
        .collect()
}

fn paths(resource: &Resource) -> (Vec<&str>, Vec<&str>, Option<Vec<&str>>) {
    match &resource.scale_paths {
        Some(p) => (
            path_of(&p.spec_replicas),
            path_of(&p.status_replicas),
            p.label_selector.as_deref().map(path_of),
        ),
        None => (vec!["spec", "replicas"], vec!["status", "replicas"], None),
    }
}

fn int(n: i64) -> Value {
    Value::Number(u64::try_from(n).map_or(Number::I64(n), Number::U64))
}

/// The Scale view of `object`.
pub fn to_scale(resource: &Resource, object: &Value) -> Value {
    let (spec_path, status_path, selector_path) = paths(resource);
    let mut md = Object::new();
    for field in [
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "creationTimestamp",
    ] {
        if let Some(v) = meta::get_path(object, &["metadata", field]) {
            md.insert(field.to_owned(), v.clone());
        }
    }
    let selector = match selector_path {
        Some(p) => meta::get_str(object, &p).unwrap_or("").to_owned(),
        None => LabelSelector::from_structured(meta::get_path(object, &["spec", "selector"]))
            .map(|s| s.to_string())
            .unwrap_or_default(),
    };
    let mut spec = Object::new();
    spec.insert(
        "replicas".to_owned(),
        int(meta::get_i64(object, &spec_path).unwrap_or(0)),
    );
    let mut status = Object::new();
    status.insert(
        "replicas".to_owned(),
        int(meta::get_i64(object, &status_path).unwrap_or(0)),
    );
    if !selector.is_empty() {
        status.insert("selector".to_owned(), Value::String(selector));
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

fn scale_response(resource: &Resource, object: &Value) -> ApiResponse {
    ApiResponse::json(200, meta::to_json_bytes(&to_scale(resource, object)))
}

/// Serves GET, PUT and PATCH on the scale subresource of `name`.
pub async fn serve(
    req: &WriteRequest<'_>,
    name: &str,
    verb: ScaleVerb<'_>,
) -> Result<ApiResponse, ApiError> {
    let current = fetch(req.store, req.resource, req.namespace, name)?;
    let object = parse_stored(&current)?;
    let scale = to_scale(req.resource, &object);
    let wanted = match verb {
        ScaleVerb::Get => return Ok(scale_response(req.resource, &object)),
        ScaleVerb::Update(body) => super::body::parse_json(body)?,
        ScaleVerb::Patch { content_type, body } => patch_scale(scale, content_type, body)?,
    };
    if let Some(rv) = meta::resource_version(&wanted).filter(|rv| !rv.is_empty())
        && rv != current.mod_revision.to_string()
    {
        return Err(ApiError::conflict(
            &req.resource.group,
            &req.resource.plural,
            name,
            ApiError::MODIFIED,
        ));
    }
    let replicas = meta::get_i64(&wanted, &["spec", "replicas"])
        .filter(|r| *r >= 0)
        .ok_or_else(|| {
            ApiError::bad_request("the Scale must carry a non-negative spec.replicas")
        })?;
    let (spec_path, _, _) = paths(req.resource);
    let Some((field, parents)) = spec_path.split_last() else {
        return Err(ApiError::internal(
            "the scale subresource has no replicas path",
        ));
    };
    let mut updated = object;
    meta::set_i64(meta::ensure_object(&mut updated, parents), field, replicas);
    let main = WriteRequest {
        subresource: None,
        ..*req
    };
    let written = write::update(&main, name, updated).await?;
    let body = match &written.body {
        super::response::Body::Bytes(b) => meta::from_json_bytes(b),
        super::response::Body::Shared(b) => meta::from_json_bytes(b),
        super::response::Body::Stream(_) => None,
    }
    .ok_or_else(|| ApiError::internal("the update answered without an object"))?;
    Ok(scale_response(req.resource, &body))
}

fn patch_scale(scale: Value, content_type: &str, body: &[u8]) -> Result<Value, ApiError> {
    let doc = super::body::parse_json(body)?;
    match content_type {
        "application/json-patch+json" => {
            patch::apply_json_patch(scale, &doc).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        "application/merge-patch+json" | "application/strategic-merge-patch+json" => {
            patch::apply_merge_patch(scale, &doc).map_err(|e| ApiError::bad_request(e.to_string()))
        }
        other => Err(ApiError::unsupported_media_type(other)),
    }
}
