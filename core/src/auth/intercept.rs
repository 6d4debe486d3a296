//! Where auth meets a routed resource request: the review kinds and TokenRequest are
//! answered here instead of being stored, and writes of roles and bindings pass the
//! escalation check first (and keep their roleRef on update). Everything else goes on
//! to the ordinary verbs untouched.

use super::{Identity, binding_update, escalation, review, service_account};
use crate::api::body::{decode_object, essence};
use crate::api::params::Params;
use crate::api::response::{ApiResponse, Body};
use crate::api::route::{ResourcePath, Verb};
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::api::write::{self, WriteRequest};
use crate::object::meta;
use crate::openapi::Catalog;
use crate::registry::Resource;
use crate::status::ApiError;

/// What [`intercept`] needs of a routed request.
pub struct Routed<'a> {
    pub resource: &'a Resource,
    pub path: &'a ResourcePath<'a>,
    pub namespace: Option<&'a str>,
    pub verb: Verb,
    pub params: &'a Params,
    pub catalog: &'a Catalog,
}

/// `Some(response)` when auth answers the request itself, `None` to carry on.
pub async fn intercept(
    server: &ApiServer,
    req: &ApiRequest,
    r: &Routed<'_>,
) -> Result<Option<ApiResponse>, ApiError> {
    let auth = server.auth();
    let user = req.user.clone().unwrap_or(User {
        name: String::new(),
        groups: Vec::new(),
    });
    let who = Identity::from_user(user.clone());
    let body = || decode_object(req.content_type.as_deref(), &req.body);
    let response = match (&*r.resource.group, &*r.resource.plural, r.verb) {
        (_, _, v) if v != Verb::Create && v != Verb::Update && v != Verb::Patch => None,
        ("authorization.k8s.io", plural, Verb::Create) => Some(match plural {
            "selfsubjectaccessreviews" => review::self_access(auth, &who, body()?)?,
            "selfsubjectrulesreviews" => review::self_rules(auth, &who, body()?)?,
            "subjectaccessreviews" => review::subject_access(auth, body()?, None)?,
            "localsubjectaccessreviews" => {
                review::subject_access(auth, body()?, Some(r.namespace.unwrap_or("")))?
            }
            _ => return Ok(None),
        }),
        ("authentication.k8s.io", "tokenreviews", Verb::Create) => {
            Some(review::token_review(auth, body()?)?)
        }
        ("authentication.k8s.io", "selfsubjectreviews", Verb::Create) => {
            Some(review::whoami(auth, req, &user, body()?))
        }
        ("", "serviceaccounts", Verb::Create) if r.path.subresource == Some("token") => {
            let name = r.path.name.unwrap_or("");
            let ns = r.namespace.unwrap_or("");
            Some(service_account::token_request(auth, req, ns, name)?)
        }
        (escalation::RBAC_GROUP, plural, verb) => {
            let object = match verb {
                Verb::Patch => patched(server, req, r).await?,
                _ => body()?,
            };
            escalation::check_write(auth, &who, plural, r.namespace, &object)?;
            if let (Verb::Update | Verb::Patch, Some(name)) = (verb, r.path.name) {
                binding_update::check_unchanged(auth, plural, r.namespace, name, &object)?;
            }
            None
        }
        _ => None,
    };
    Ok(response)
}

/// The object a PATCH would produce, computed by a dry run of the same patch. A write
/// landing between this and the real patch is not re-checked; upstream checks inside the
/// storage update instead, which wisp's write path has no hook for yet.
async fn patched(
    server: &ApiServer,
    req: &ApiRequest,
    r: &Routed<'_>,
) -> Result<miniserde::json::Value, ApiError> {
    let mut params = r.params.clone();
    params.dry_run = true;
    let wr = WriteRequest {
        store: server.store(),
        catalog: r.catalog,
        resource: r.resource,
        namespace: r.namespace,
        subresource: r.path.subresource,
        params: &params,
        user: req.user.as_ref().map_or("", |u| u.name.as_str()),
        allocators: server.allocators(),
    };
    let ct = essence(req.content_type.as_deref());
    let name = r.path.name.unwrap_or("");
    let response = write::patch(&wr, name, &ct, &req.body).await?;
    let bytes: &[u8] = match &response.body {
        Body::Bytes(b) => b,
        Body::Shared(b) => b,
        Body::Stream(_) => &[],
    };
    meta::from_json_bytes(bytes).ok_or_else(|| ApiError::internal("dry-run patch gave no object"))
}
