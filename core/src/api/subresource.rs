//! Subresources that are not the object itself: `scale` (an autoscaling/v1 Scale view of a
//! workload's replica count), and the pod actions `binding` (assign a node) and `eviction`
//! (delete unless a PodDisruptionBudget forbids it). `status` stays with the ordinary write
//! path, the streaming ones (exec, attach, log, portforward) are [`super::streams`], and
//! serviceaccounts/token lives in auth.

mod binding;
mod eviction;
mod scale;

use super::response::{ApiResponse, Body};
use super::route::Verb;
use super::write::WriteRequest;
use crate::status::ApiError;

/// Whether this module answers `sub` of `resource`.
pub fn handles(resource: &crate::registry::Resource, sub: &str) -> bool {
    match sub {
        "scale" => resource.has_scale(),
        "binding" | "eviction" => resource.group.is_empty() && resource.plural == "pods",
        _ => false,
    }
}

/// A request for one object's subresource; `parent` addresses the object itself.
pub struct SubresourceRequest<'a> {
    pub parent: &'a WriteRequest<'a>,
    pub name: &'a str,
    pub verb: Verb,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

pub async fn handle(sub: &str, req: &SubresourceRequest<'_>) -> Result<ApiResponse, ApiError> {
    match (sub, req.verb) {
        ("scale", Verb::Get | Verb::Update | Verb::Patch) => scale::handle(req).await,
        ("binding", Verb::Create) => binding::create(req).await,
        ("eviction", Verb::Create) => eviction::create(req).await,
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    }
}

/// The bytes of a whole-body response (what the write path answers with).
fn body_bytes(resp: ApiResponse) -> Result<Vec<u8>, ApiError> {
    match resp.body {
        Body::Bytes(b) => Ok(b),
        Body::Shared(b) => Ok(b.to_vec()),
        Body::Stream(_) => Err(ApiError::internal("unexpected streamed write response")),
    }
}

/// The `Success` Status upstream's action subresources answer with on create.
fn created_success() -> ApiResponse {
    ApiResponse::json(
        201,
        br#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","code":201}"#
            .to_vec(),
    )
}

#[cfg(test)]
mod tests;
