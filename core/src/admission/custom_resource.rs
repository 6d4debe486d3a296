//! Custom resources: none may be created while their CRD is being deleted, as upstream's
//! CRD handler refuses (the CRD controller is deleting them at that point).

use wisp_store::Store;

use crate::object::meta;
use crate::registry::Resource;
use crate::status::ApiError;

pub fn refuse_while_crd_terminating(store: &Store, resource: &Resource) -> Result<(), ApiError> {
    let key = format!(
        "/registry/apiextensions.k8s.io/customresourcedefinitions/{}.{}",
        resource.plural, resource.group
    );
    let terminating = store
        .get(key.as_bytes())
        .and_then(|kv| meta::from_json_bytes(&kv.value))
        .is_some_and(|crd| meta::deletion_timestamp(&crd).is_some());
    if terminating {
        return Err(ApiError::method_not_allowed(
            "create not allowed while custom resource definition is terminating",
        ));
    }
    Ok(())
}
