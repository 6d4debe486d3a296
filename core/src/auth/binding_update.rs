//! A binding's roleRef cannot change (upstream's ValidateRoleBindingUpdate): pointing an
//! existing binding at another role would silently change what its subjects hold, so the
//! update is refused with upstream's 422 and the binding must be deleted and re-created.

use miniserde::json::Value;

use super::Auth;
use crate::object::keys::object_key;
use crate::object::meta;
use crate::status::{ApiError, field};

const GROUP: &str = "rbac.authorization.k8s.io";

fn role_ref(object: &Value) -> (&str, &str, &str) {
    let field = |k: &str| meta::get_str(object, &["roleRef", k]).unwrap_or("");
    (field("apiGroup"), field("kind"), field("name"))
}

/// Refuses an update of binding `name` (plural rolebindings or clusterrolebindings) whose
/// new version `object` names another role than the stored one.
pub fn check_unchanged(
    auth: &Auth,
    plural: &str,
    namespace: Option<&str>,
    name: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let kind = match plural {
        "rolebindings" => "RoleBinding",
        "clusterrolebindings" => "ClusterRoleBinding",
        _ => return Ok(()),
    };
    let key = object_key(
        GROUP,
        plural,
        namespace.filter(|_| kind == "RoleBinding"),
        name,
    );
    let Some(stored) = auth
        .store()
        .get(key.as_bytes())
        .and_then(|kv| meta::from_json_bytes(&kv.value))
    else {
        return Ok(());
    };
    let new = role_ref(object);
    if role_ref(&stored) == new {
        return Ok(());
    }
    let (group, role_kind, role_name) = new;
    let value =
        format!("rbac.RoleRef{{APIGroup:{group:?}, Kind:{role_kind:?}, Name:{role_name:?}}}");
    Err(ApiError::invalid(
        GROUP,
        kind,
        name,
        vec![field::invalid("roleRef", &value, "cannot change roleRef")],
    ))
}
