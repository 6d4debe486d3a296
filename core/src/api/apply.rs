//! Field ownership on writes: server-side apply (PATCH application/apply-patch+yaml) and
//! the `Update` entries every other write records in metadata.managedFields, so that
//! conflicts between managers (kubectl apply --server-side vs kubectl edit or scale) are
//! reported as upstream reports them.

use miniserde::json::Value;

use super::write::WriteRequest;
use crate::object::time;
use crate::patch::{self, ApplyError, BuiltinPatchMeta};
use crate::status::{ApiError, Cause};

fn now() -> String {
    time::format_rfc3339(time::now_unix())
}

fn to_api_error(req: &WriteRequest<'_>, name: &str, e: &ApplyError) -> ApiError {
    match e {
        ApplyError::Conflict(conflicts) => {
            let mut err = ApiError::conflict(&req.resource.group, &req.resource.plural, name, "");
            err.message = e.to_string();
            err.details.causes = conflicts
                .iter()
                .map(|c| Cause {
                    reason: "FieldManagerConflict".into(),
                    message: c.cause_message(),
                    field: c.field.clone(),
                })
                .collect();
            err
        }
        other if other.http_status() == 413 => ApiError::too_large(other.to_string()),
        other => ApiError::bad_request(other.to_string()),
    }
}

/// Applies `applied` for the request's field manager onto `live` (None: create).
pub fn server_side_apply(
    req: &WriteRequest<'_>,
    live: Option<&Value>,
    applied: &Value,
) -> Result<Value, ApiError> {
    let manager = req.params.field_manager.as_deref().ok_or_else(|| {
        ApiError::bad_request("PATCH, application/apply-patch+yaml requests require a fieldManager")
    })?;
    let name = crate::object::meta::name(applied).unwrap_or("");
    let meta = BuiltinPatchMeta::new(&req.resource.kind);
    patch::apply(live, applied, manager, req.params.force, &meta, &now())
        .map(|r| r.object)
        .map_err(|e| to_api_error(req, name, &e))
}

/// Records a non-apply write's manager in metadata.managedFields.
pub fn record_update(
    req: &WriteRequest<'_>,
    old: Option<&Value>,
    new: Value,
) -> Result<Value, ApiError> {
    let manager = req.params.field_manager.as_deref().unwrap_or("unknown");
    let name = crate::object::meta::name(&new).unwrap_or("").to_owned();
    let meta = BuiltinPatchMeta::new(&req.resource.kind);
    patch::record_update(old, &new, manager, &meta, &now())
        .map(|r| r.object)
        .map_err(|e| to_api_error(req, &name, &e))
}
