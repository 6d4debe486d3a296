//! DELETE and DELETECOLLECTION with upstream's semantics: preconditions, dry run,
//! finalizers (an object with finalizers only gets a deletionTimestamp), and propagation
//! policies, which add the `foregroundDeletion` or `orphan` finalizer for the garbage
//! collector to act on.

use std::sync::Arc;

use miniserde::json::Value;
use wisp_store::{Compare, KeyValue, Store, Txn, TxnOp, TxnOutcome};

use super::params::Params;
use super::read::{fetch, object_key, parse_stored};
use super::response::ApiResponse;
use super::select::Selection;
use super::write::commit;
use crate::object::{meta, time};
use crate::registry::Resource;
use crate::status::ApiError;

pub const FOREGROUND_FINALIZER: &str = "foregroundDeletion";
pub const ORPHAN_FINALIZER: &str = "orphan";
/// Namespaces that may not be deleted.
const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];
pub const CRD_CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

/// DeleteOptions from the body and the query (the query wins where both say something).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DeleteOptions {
    pub propagation: Option<String>,
    pub grace_period_seconds: Option<i64>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
    pub dry_run: bool,
}

impl DeleteOptions {
    pub fn parse(body: &[u8], params: &Params) -> Result<DeleteOptions, ApiError> {
        let mut opts = DeleteOptions::default();
        if !body.iter().all(u8::is_ascii_whitespace) {
            let v = super::body::parse_json(body)?;
            opts.propagation = meta::get_str(&v, &["propagationPolicy"]).map(str::to_owned);
            opts.grace_period_seconds = meta::get_i64(&v, &["gracePeriodSeconds"]);
            opts.precondition_uid = meta::get_str(&v, &["preconditions", "uid"]).map(str::to_owned);
            opts.precondition_rv =
                meta::get_str(&v, &["preconditions", "resourceVersion"]).map(str::to_owned);
            opts.dry_run = matches!(meta::get_path(&v, &["dryRun"]), Some(Value::Array(a)) if a.iter().any(|d| matches!(d, Value::String(s) if s == "All")));
        }
        if params.propagation_policy.is_some() {
            opts.propagation.clone_from(&params.propagation_policy);
        }
        if params.grace_period_seconds.is_some() {
            opts.grace_period_seconds = params.grace_period_seconds;
        }
        opts.dry_run |= params.dry_run;
        match opts.propagation.as_deref() {
            None | Some("Background" | "Foreground" | "Orphan") => Ok(opts),
            Some(other) => Err(ApiError::bad_request(format!(
                "DeleteOptions.propagationPolicy: Unsupported value: {other:?}: supported values: \"Foreground\", \"Background\", \"Orphan\""
            ))),
        }
    }
}

/// Removes the object now and answers with its last state.
pub async fn remove(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    current: &KeyValue,
    dry_run: bool,
) -> Result<ApiResponse, ApiError> {
    if dry_run {
        return Ok(ApiResponse::shared(200, Arc::clone(&current.value)));
    }
    let txn = Txn {
        key: object_key(resource, namespace, name).into_bytes(),
        compare: Compare::ModRevision(current.mod_revision),
        op: TxnOp::Delete,
    };
    match store
        .txn(txn)
        .await
        .map_err(|e| ApiError::internal(format!("store write failed: {e}")))?
    {
        TxnOutcome::Succeeded { .. } => Ok(ApiResponse::shared(200, Arc::clone(&current.value))),
        TxnOutcome::Failed { .. } => Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            name,
            ApiError::MODIFIED,
        )),
    }
}

pub async fn delete(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    opts: &DeleteOptions,
) -> Result<ApiResponse, ApiError> {
    if is_namespaces(resource) && IMMORTAL_NAMESPACES.contains(&name) {
        // Upstream's NamespaceLifecycle admission keeps these.
        return Err(ApiError::forbidden(
            "",
            "namespaces",
            name,
            format!("namespaces \"{name}\" is forbidden: this namespace may not be deleted"),
        ));
    }
    let current = fetch(store, resource, namespace, name)?;
    let mut object = parse_stored(&current)?;
    check_preconditions(resource, name, &current, &object, opts)?;
    let mut finalizers: Vec<String> = meta::finalizers(&object)
        .into_iter()
        .map(str::to_owned)
        .collect();
    match opts.propagation.as_deref() {
        Some("Foreground") if !finalizers.iter().any(|f| f == FOREGROUND_FINALIZER) => {
            finalizers.push(FOREGROUND_FINALIZER.to_owned())
        }
        Some("Orphan") if !finalizers.iter().any(|f| f == ORPHAN_FINALIZER) => {
            finalizers.push(ORPHAN_FINALIZER.to_owned())
        }
        _ => {}
    }
    let first_request = meta::deletion_timestamp(&object).is_none();
    if first_request && is_crd(resource) {
        start_crd_cleanup(&mut object, &mut finalizers);
    }
    let graceful = graceful_pod(resource, &object, opts);
    let spec_pending = spec_finalizers_pending(resource, &object);
    if finalizers.is_empty() && graceful.is_none() && !spec_pending {
        return remove(store, resource, namespace, name, &current, opts.dry_run).await;
    }
    if meta::deletion_timestamp(&object).is_some()
        && meta::finalizers(&object).len() == finalizers.len()
    {
        // Already being deleted with nothing new to record.
        return Ok(ApiResponse::shared(200, Arc::clone(&current.value)));
    }
    mark_deleting(&mut object, finalizers, graceful);
    if is_namespaces(resource) {
        let status = meta::ensure_object(&mut object, &["status"]);
        meta::set_str(status, "phase", "Terminating");
    }
    if opts.dry_run {
        return Ok(ApiResponse::json(200, meta::to_json_bytes(&object)));
    }
    let key = object_key(resource, namespace, name);
    match commit(
        store,
        &key,
        Compare::ModRevision(current.mod_revision),
        object,
    )
    .await?
    {
        Some(bytes) => Ok(ApiResponse::shared(200, bytes)),
        None => Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            name,
            ApiError::MODIFIED,
        )),
    }
}

fn is_namespaces(resource: &Resource) -> bool {
    resource.group.is_empty() && resource.plural == "namespaces"
}

fn is_crd(resource: &Resource) -> bool {
    resource.group == "apiextensions.k8s.io" && resource.plural == "customresourcedefinitions"
}

/// Whether a Namespace still has `spec.finalizers` (the namespace controller's
/// `kubernetes`): it stays, Terminating, until they are gone, like metadata.finalizers.
pub fn spec_finalizers_pending(resource: &Resource, object: &Value) -> bool {
    is_namespaces(resource)
        && matches!(meta::get_path(object, &["spec", "finalizers"]), Some(Value::Array(a)) if !a.is_empty())
}

/// A CRD's first delete request adds the cleanup finalizer and the Terminating condition, as
/// upstream's CRD storage does; the CRD controller deletes the custom resources and then
/// removes the finalizer.
fn start_crd_cleanup(object: &mut Value, finalizers: &mut Vec<String>) {
    if !finalizers.iter().any(|f| f == CRD_CLEANUP_FINALIZER) {
        finalizers.push(CRD_CLEANUP_FINALIZER.to_owned());
    }
    crate::object::conditions::set(
        object,
        crate::object::conditions::Condition {
            type_: "Terminating",
            status: "True",
            reason: "InstanceDeletionPending",
            message: "CustomResourceDefinition marked for deletion; CustomResource deletion will begin soon",
        },
    );
}

fn check_preconditions(
    resource: &Resource,
    name: &str,
    current: &KeyValue,
    object: &Value,
    opts: &DeleteOptions,
) -> Result<(), ApiError> {
    if let Some(uid) = &opts.precondition_uid
        && meta::uid(object) != Some(uid.as_str())
    {
        return Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta::uid(object).unwrap_or("")
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && *rv != current.mod_revision.to_string()
    {
        return Err(ApiError::conflict(
            &resource.group,
            &resource.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                current.mod_revision
            ),
        ));
    }
    Ok(())
}

/// A pod bound to a node is deleted gracefully: the node agent stops its containers and
/// then removes it. Unbound pods and a zero grace period go at once, as upstream.
fn graceful_pod(resource: &Resource, object: &Value, opts: &DeleteOptions) -> Option<i64> {
    if !(resource.group.is_empty() && resource.plural == "pods") {
        return None;
    }
    meta::get_str(object, &["spec", "nodeName"]).filter(|n| !n.is_empty())?;
    let grace = opts
        .grace_period_seconds
        .or_else(|| meta::get_i64(object, &["spec", "terminationGracePeriodSeconds"]))
        .unwrap_or(30);
    (grace > 0).then_some(grace)
}

fn mark_deleting(object: &mut Value, finalizers: Vec<String>, grace: Option<i64>) {
    let md = meta::metadata_mut(object);
    if !md.contains_key("deletionTimestamp") {
        let at = time::now_unix() + grace.unwrap_or(0);
        meta::set_str(md, "deletionTimestamp", time::format_rfc3339(at));
        meta::set_i64(md, "deletionGracePeriodSeconds", grace.unwrap_or(0));
    }
    if finalizers.is_empty() {
        md.remove("finalizers");
    } else {
        let list = finalizers.into_iter().map(Value::String).collect();
        md.insert("finalizers".to_owned(), Value::Array(list));
    }
    // The write bumps resourceVersion but not generation.
}

/// Deletes every object the selection matches, answering with the list of what was deleted.
pub async fn delete_collection(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    params: &Params,
    selection: &Selection,
    opts: &DeleteOptions,
) -> Result<ApiResponse, ApiError> {
    let page = super::read::list_page(
        store,
        resource,
        namespace,
        &Params {
            limit: None,
            continue_token: None,
            ..params.clone()
        },
        selection,
    )?;
    for kv in &page.items {
        let object = parse_stored(kv)?;
        let (Some(name), ns) = (meta::name(&object), meta::namespace(&object)) else {
            continue;
        };
        match delete(store, resource, ns, name, opts).await {
            Ok(_) => {}
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    Ok(ApiResponse::json(
        200,
        super::read::list_json(resource, &page),
    ))
}
