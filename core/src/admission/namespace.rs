//! Namespaces: new content only in a namespace that exists and is not terminating, and
//! the defaults a new Namespace gets (the `kubernetes` finalizer, phase Active).

use miniserde::json::Value;
use wisp_store::Store;

use super::Operation;
use crate::object::meta;
use crate::status::ApiError;

pub fn namespace_key(name: &str) -> String {
    format!("/registry/core/namespaces/{name}")
}

pub fn require_active(store: &Store, namespace: &str) -> Result<(), ApiError> {
    let Some(kv) = store.get(namespace_key(namespace).as_bytes()) else {
        return Err(ApiError::not_found("", "namespaces", namespace));
    };
    let ns = meta::from_json_bytes(&kv.value).unwrap_or(Value::Null);
    if meta::get_str(&ns, &["status", "phase"]) == Some("Terminating")
        || meta::deletion_timestamp(&ns).is_some()
    {
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            namespace,
            format!(
                "unable to create new content in namespace {namespace} because it is being terminated"
            ),
        ));
    }
    Ok(())
}

pub fn default_namespace(operation: Operation, object: &mut Value) {
    // Upstream labels every namespace with its own name, on every write.
    if let Some(name) = meta::name(object).map(str::to_owned) {
        meta::set_str(
            meta::ensure_object(object, &["metadata", "labels"]),
            "kubernetes.io/metadata.name",
            name,
        );
    }
    if operation == Operation::Create {
        let spec = meta::ensure_object(object, &["spec"]);
        spec.insert(
            "finalizers".to_owned(),
            Value::Array(
                vec![Value::String("kubernetes".to_owned())]
                    .into_iter()
                    .collect(),
            ),
        );
        let status = meta::ensure_object(object, &["status"]);
        meta::set_str(status, "phase", "Active");
    }
}
