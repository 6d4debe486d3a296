//! Admission: what every write passes after decoding and before the store. Generic checks
//! (object names, the namespace existing and not terminating, unknown fields under
//! fieldValidation) and per-kind hooks for defaulting and validation live here; the API
//! handlers call [`admit`] and [`check_fields`] and know nothing of individual kinds.

pub mod allocator;
mod batch;
mod config;
mod cron;
mod custom_resource;
mod fields;
mod limit_range;
pub mod names;
mod namespace;
mod object_meta;
mod pod;
mod pod_names;
mod pod_spec;
mod rolling_update;
mod service;
mod storage;
mod workloads;

pub use allocator::{Allocators, ServiceNetwork};
pub use pod::qos_class;

use miniserde::json::Value;
use wisp_store::Store;

use crate::api::params::FieldValidation;
use crate::object::meta;
use crate::openapi::Catalog;
use crate::registry::Resource;
use crate::status::{ApiError, Cause};

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
    /// ClusterIP and NodePort pools (Services only).
    pub allocators: &'a Allocators,
    /// dryRun=All: allocations are checked but not held.
    pub dry_run: bool,
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
        if !ctx.resource.builtin {
            custom_resource::refuse_while_crd_terminating(ctx.store, ctx.resource)?;
        }
    }
    let hook = Hook::of(ctx.resource);
    hook.default(ctx, object)?;
    let mut causes = Vec::new();
    object_meta::validate(object, &["metadata"], "metadata", &mut causes);
    if let Some(old) = ctx.old {
        object_meta::validate_update(object, old, &mut causes);
    }
    hook.validate(ctx, object, &mut causes);
    if hook == Hook::CronJob && ctx.subresource.is_none() {
        batch::validate_cronjob_zone(object, &mut causes).await;
    }
    if !causes.is_empty() {
        return Err(ApiError::invalid(
            &ctx.resource.group,
            &ctx.resource.kind,
            &name,
            causes,
        ));
    }
    // LimitRanger and ResourceQuota, in upstream's plugin order, on creates only (pod
    // resources cannot change afterwards).
    let namespaced_create = ctx.operation == Operation::Create
        && ctx.subresource.is_none()
        && ctx.resource.namespaced();
    if namespaced_create {
        let (group, plural) = (&ctx.resource.group, &ctx.resource.plural);
        if group.is_empty() && ctx.resource.builtin {
            limit_range::check(ctx.store, plural, object)?;
        }
        crate::quota::admission::check(ctx.store, group, plural, object)?;
    }
    if hook == Hook::Claim {
        storage::check_resize(ctx, object)?;
    }
    if hook == Hook::Service {
        service::allocate(ctx, object)?;
    }
    Ok(())
}

/// The per-kind hooks, chosen by (group, kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hook {
    Namespace,
    Pod,
    Workload(workloads::Workload),
    Job,
    CronJob,
    Service,
    ConfigMap,
    Secret,
    Claim,
    Volume,
    StorageClass,
    LimitRange,
    None,
}

impl Hook {
    fn of(resource: &Resource) -> Hook {
        if !resource.builtin {
            return Hook::None;
        }
        match (&*resource.group, &*resource.kind) {
            ("", "Namespace") => Hook::Namespace,
            ("", "Pod") => Hook::Pod,
            ("", "Service") => Hook::Service,
            ("", "ConfigMap") => Hook::ConfigMap,
            ("", "Secret") => Hook::Secret,
            ("", "PersistentVolumeClaim") => Hook::Claim,
            ("", "PersistentVolume") => Hook::Volume,
            ("storage.k8s.io", "StorageClass") => Hook::StorageClass,
            ("", "LimitRange") => Hook::LimitRange,
            ("apps", kind) => {
                workloads::Workload::from_kind(kind).map_or(Hook::None, Hook::Workload)
            }
            ("batch", "Job") => Hook::Job,
            ("batch", "CronJob") => Hook::CronJob,
            _ => Hook::None,
        }
    }

    fn default(self, ctx: &Context<'_>, object: &mut Value) -> Result<(), ApiError> {
        match self {
            Hook::Namespace => namespace::default_namespace(ctx.operation, object),
            Hook::Pod => pod::default(ctx, object),
            Hook::Workload(kind) => workloads::default(kind, object),
            Hook::Job => batch::default_job(ctx, object),
            Hook::CronJob => batch::default_cronjob(object),
            Hook::Service => {
                service::default(object);
                if let Some(old) = ctx.old {
                    service::carry_over(old, object);
                }
            }
            Hook::Secret => config::default_secret(object)?,
            Hook::Claim => storage::default_claim(ctx, object),
            Hook::Volume => storage::default_volume(ctx, object),
            Hook::StorageClass => storage::default_class(object),
            Hook::LimitRange => limit_range::default_limit_range(object),
            Hook::ConfigMap | Hook::None => {}
        }
        Ok(())
    }

    fn validate(self, ctx: &Context<'_>, object: &Value, causes: &mut Vec<Cause>) {
        match self {
            Hook::Pod => pod::validate(ctx, object, causes),
            Hook::Workload(kind) => workloads::validate(ctx, kind, object, causes),
            Hook::Job => batch::validate_job(ctx, object, causes),
            Hook::CronJob => batch::validate_cronjob(ctx, object, causes),
            Hook::Service => service::validate(ctx, object, causes),
            Hook::ConfigMap => config::validate_config_map(ctx, object, causes),
            Hook::Secret => config::validate_secret(ctx, object, causes),
            Hook::Claim => storage::validate_claim(ctx, object, causes),
            Hook::Volume => storage::validate_volume(object, causes),
            Hook::StorageClass => storage::validate_class(ctx, object, causes),
            Hook::LimitRange => limit_range::validate(object, causes),
            Hook::Namespace | Hook::None => {}
        }
    }
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
    // Upstream decodes built-in kinds into typed structs, which drops unknown fields; prune
    // them too when the walk found some (Warn), rather than store and serve them.
    if !resource.builtin || !unknown.is_empty() {
        catalog.prune_unknown(object, &gvk);
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

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::registry::Registry;

    pub fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).expect("test JSON parses")
    }

    /// A store in a fresh directory under the system temp dir.
    pub fn temp_store() -> Store {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "wisp-admission-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        Store::open(&dir, wisp_store::Options::default()).expect("temp store opens")
    }

    /// Runs `f` with a Context for pods (hooks that do not look at the resource).
    pub fn context(operation: Operation, old: Option<&Value>, f: impl FnOnce(&Context<'_>)) {
        let store = temp_store();
        let registry = Registry::new();
        let resource = registry
            .get("", "v1", "pods")
            .expect("pods are registered")
            .clone();
        let allocators = Allocators::new(ServiceNetwork::default());
        let ctx = Context {
            store: &store,
            resource: &resource,
            operation,
            subresource: None,
            old,
            user: "test",
            allocators: &allocators,
            dry_run: false,
        };
        f(&ctx);
    }
}
