//! Admission: what every write passes after decoding and before the store. Generic checks
//! (object names, the namespace existing and not terminating, unknown fields under
//! fieldValidation) and per-kind hooks for defaulting and validation live here; the API
//! handlers call [`admit`] and [`check_fields`] and know nothing of individual kinds.

pub mod names;
mod namespace;

use miniserde::json::Value;
use wisp_store::Store;

use crate::api::params::FieldValidation;
use crate::object::meta;
use crate::openapi::Catalog;
use crate::registry::Resource;
use crate::status::ApiError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

/// What a hook may look at.
pub struct Context<'a> {
    pub store: &'a Store,
    pub resource: &'a Resource,
    pub operation: Operation,
    pub subresource: Option<&'a str>,
    pub old: Option<&'a Value>,
    pub user: &'a str,
}

/// Defaults, then validates, an object about to be written.
pub async fn admit(ctx: &Context<'_>, object: &mut Value) -> Result<(), ApiError> {
    let name = meta::name(object).unwrap_or("").to_owned();
    // ServiceAccount admission (crate::auth): the account must exist; token volume mounted.
    if ctx.operation == Operation::Create
        && ctx.resource.group.is_empty()
        && ctx.resource.plural == "pods"
        && meta::get_str(object, &["kind"]).is_none_or(|k| k == "Pod")
    {
        let ns = meta::namespace(object).unwrap_or("").to_owned();
        crate::auth::token_volume::admit_pod(ctx.store, &ns, object)?;
    }
    if ctx.operation == Operation::Create {
        names::validate_object_name(ctx.resource, &name)?;
        if ctx.resource.namespaced() {
            namespace::require_active(ctx.store, meta::namespace(object).unwrap_or(""))?;
        }
    }
    if ctx.resource.group.is_empty() && ctx.resource.plural == "namespaces" {
        namespace::default_namespace(ctx.operation, object);
    }
    Ok(())
}

/// Finds fields the schema does not know. Strict refuses them with upstream's message; Warn
/// returns them as warnings for `Warning:` headers; Ignore skips the walk. Custom resources
/// then have unknown fields pruned (structural schemas), as upstream does.
pub fn check_fields(
    catalog: &Catalog,
    resource: &Resource,
    object: &mut Value,
    validation: FieldValidation,
) -> Result<Vec<String>, ApiError> {
    let gvk = resource.gvk();
    let unknown = if validation == FieldValidation::Ignore {
        Vec::new()
    } else {
        catalog.unknown_fields(object, &gvk)
    };
    if !resource.builtin {
        catalog.prune_unknown(object, &gvk);
    }
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    if unknown.is_empty() {
        return Ok(Vec::new());
    }
    let messages: Vec<String> = unknown
        .iter()
        .map(|f| format!("unknown field \"{f}\""))
        .collect();
    match validation {
        FieldValidation::Strict => Err(ApiError::bad_request(format!(
            "strict decoding error: {}",
            messages.join(", ")
        ))),
        _ => Ok(messages),
    }
}
