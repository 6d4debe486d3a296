//! CREATE, UPDATE and PATCH: decode, merge with what is stored, stamp the metadata the
//! server owns, admit, and commit with compare-and-swap on the store. The stored JSON gets
//! its resourceVersion written in at commit time, so GET and WATCH serve those bytes as is.

use std::sync::{Arc, Mutex};

use miniserde::json::Value;
use wisp_store::{Compare, KeyValue, Store, Txn, TxnOp, TxnOutcome};

use super::params::Params;
use super::read::{fetch, object_key, parse_stored};
use super::response::ApiResponse;
use crate::admission::{self, Operation};
use crate::object::{meta, time, uid};
use crate::patch;
use crate::registry::Resource;
use crate::status::{ApiError, field};

/// Everything a write needs to know about its request.
pub struct WriteRequest<'a> {
    pub store: &'a Store,
    pub catalog: &'a crate::openapi::Catalog,
    pub resource: &'a Resource,
    pub namespace: Option<&'a str>,
    pub subresource: Option<&'a str>,
    pub params: &'a Params,
    pub user: &'a str,
    /// Service ClusterIP and NodePort pools, for admission.
    pub allocators: &'a crate::admission::Allocators,
}

/// How many times a PATCH re-reads and re-applies after losing a compare-and-swap race.
const PATCH_RETRIES: usize = 5;

/// Commits `object` at `key` if `compare` holds; returns the stored bytes.
pub async fn commit(
    store: &Store,
    key: &str,
    compare: Compare,
    object: Value,
) -> Result<Option<Arc<[u8]>>, ApiError> {
    let written: Arc<Mutex<Option<Arc<[u8]>>>> = Arc::new(Mutex::new(None));
    let slot = Arc::clone(&written);
    let value = wisp_store::Value::WithRevision(Box::new(move |revision| {
        let mut object = object;
        meta::set_resource_version(&mut object, revision);
        let bytes = meta::to_json_bytes(&object);
        *slot.lock().expect("no panics while holding the slot") = Some(Arc::from(bytes.as_slice()));
        bytes
    }));
    let txn = Txn {
        key: key.as_bytes().to_vec(),
        compare,
        op: TxnOp::Put(value),
    };
    match store
        .txn(txn)
        .await
        .map_err(|e| ApiError::internal(format!("store write failed: {e}")))?
    {
        TxnOutcome::Succeeded { .. } => Ok(written
            .lock()
            .expect("no panics while holding the slot")
            .take()),
        TxnOutcome::Failed { .. } => Ok(None),
    }
}

/// Checks apiVersion and kind of a body against the URL's resource, filling them if absent.
fn check_type(resource: &Resource, object: &mut Value) -> Result<(), ApiError> {
    let expected_version = resource.api_version();
    let o = meta::as_object_mut(object)
        .ok_or_else(|| ApiError::bad_request("the request body must be a JSON object"))?;
    match o.get("apiVersion") {
        Some(Value::String(v)) if *v != expected_version => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({v}) does not match the expected API version ({expected_version})"
            )));
        }
        _ => meta::set_str(o, "apiVersion", expected_version),
    }
    match o.get("kind") {
        Some(Value::String(k)) if *k != *resource.kind => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                resource.kind
            )));
        }
        _ => meta::set_str(o, "kind", resource.kind.to_string()),
    }
    Ok(())
}

/// Puts the URL's namespace into the object, refusing a different one in the body.
fn settle_namespace(
    resource: &Resource,
    namespace: Option<&str>,
    object: &mut Value,
) -> Result<(), ApiError> {
    let md = meta::metadata_mut(object);
    match (resource.namespaced(), namespace) {
        (true, Some(ns)) => {
            match md.get("namespace") {
                Some(Value::String(body_ns)) if !body_ns.is_empty() && body_ns != ns => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta::set_str(md, "namespace", ns),
            }
            Ok(())
        }
        (true, None) => Err(ApiError::bad_request(
            "the server could not find the requested resource: a namespace is required",
        )),
        (false, _) => {
            md.remove("namespace");
            Ok(())
        }
    }
}

/// Upstream's generateName suffix: five characters from an alphabet without vowels.
fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut bytes = [0u8; 5];
    getrandom::getrandom(&mut bytes).expect("the kernel's random source is available");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fn settle_name(resource: &Resource, object: &mut Value) -> Result<String, ApiError> {
    if let Some(name) = meta::name(object).filter(|n| !n.is_empty()) {
        return Ok(name.to_owned());
    }
    let generated = meta::get_str(object, &["metadata", "generateName"])
        .filter(|g| !g.is_empty())
        .map(|g| format!("{g}{}", name_suffix()));
    match generated {
        Some(name) => {
            meta::set_str(meta::metadata_mut(object), "name", name.clone());
            Ok(name)
        }
        None => Err(ApiError::invalid(
            &resource.group,
            &resource.kind,
            "",
            vec![field::required_because(
                "metadata.name",
                "name or generateName is required",
            )],
        )),
    }
}

/// The part of an object that is neither metadata nor status: a change here bumps
/// metadata.generation.
fn spec_changed(old: &Value, new: &Value) -> bool {
    let (Some(a), Some(b)) = (meta::as_object(old), meta::as_object(new)) else {
        return true;
    };
    let keys = a
        .keys()
        .chain(b.keys())
        .filter(|k| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"));
    keys.into_iter().any(|k| match (a.get(k), b.get(k)) {
        (Some(x), Some(y)) => !patch::value::values_equal(x, y),
        (None, None) => false,
        _ => true,
    })
}

/// Resources whose objects carry metadata.generation (those with a spec a controller acts on).
fn tracks_generation(resource: &Resource) -> bool {
    resource.has_status() || !resource.builtin
}

pub async fn create(req: &WriteRequest<'_>, object: Value) -> Result<ApiResponse, ApiError> {
    create_object(req, object, false).await
}

/// Creates `object`; `applied` says server-side apply already recorded its manager.
async fn create_object(
    req: &WriteRequest<'_>,
    mut object: Value,
    applied: bool,
) -> Result<ApiResponse, ApiError> {
    check_type(req.resource, &mut object)?;
    settle_namespace(req.resource, req.namespace, &mut object)?;
    let name = settle_name(req.resource, &mut object)?;
    let warnings = admission::check_fields(
        req.catalog,
        req.resource,
        &mut object,
        req.params.field_validation,
    )?;
    stamp_new(req.resource, &mut object);
    if !applied {
        object = super::apply::record_update(req, None, object)?;
    }
    admission::admit(
        &admission::Context {
            store: req.store,
            resource: req.resource,
            operation: Operation::Create,
            subresource: None,
            old: None,
            user: req.user,
            allocators: req.allocators,
            dry_run: req.params.dry_run,
        },
        &mut object,
    )
    .await?;
    if req.params.dry_run {
        return Ok(ApiResponse::json(201, meta::to_json_bytes(&object)).with_warnings(&warnings));
    }
    let key = object_key(req.resource, req.namespace, &name);
    match commit(req.store, &key, Compare::Absent, object).await? {
        Some(bytes) => Ok(ApiResponse::shared(201, bytes).with_warnings(&warnings)),
        None => Err(ApiError::already_exists(
            &req.resource.group,
            &req.resource.plural,
            &name,
        )),
    }
}

/// Sets what the server owns on a new object and drops what a client may not set.
fn stamp_new(resource: &Resource, object: &mut Value) {
    let track_generation = tracks_generation(resource);
    if resource.has_status()
        && let Some(o) = meta::as_object_mut(object)
    {
        o.remove("status");
    }
    let md = meta::metadata_mut(object);
    for owned in [
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "selfLink",
    ] {
        md.remove(owned);
    }
    meta::set_str(md, "uid", uid::new_uid());
    meta::set_str(
        md,
        "creationTimestamp",
        time::format_rfc3339(time::now_unix()),
    );
    if track_generation {
        meta::set_i64(md, "generation", 1);
    } else {
        md.remove("generation");
    }
}

pub async fn update(
    req: &WriteRequest<'_>,
    name: &str,
    mut object: Value,
) -> Result<ApiResponse, ApiError> {
    check_type(req.resource, &mut object)?;
    settle_namespace(req.resource, req.namespace, &mut object)?;
    match meta::name(&object) {
        Some(body_name) if body_name != name => {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        _ => meta::set_str(meta::metadata_mut(&mut object), "name", name),
    }
    let warnings = admission::check_fields(
        req.catalog,
        req.resource,
        &mut object,
        req.params.field_validation,
    )?;
    let current = fetch(req.store, req.resource, req.namespace, name)?;
    if let Some(rv) = meta::resource_version(&object).filter(|rv| !rv.is_empty())
        && rv != current.mod_revision.to_string()
    {
        return Err(ApiError::conflict(
            &req.resource.group,
            &req.resource.plural,
            name,
            ApiError::MODIFIED,
        ));
    }
    let old = parse_stored(&current)?;
    replace(req, name, &current, &old, object, false)
        .await
        .map(|r| r.with_warnings(&warnings))
}

/// Applies a patch to the stored object and writes the result, retrying on races.
pub async fn patch(
    req: &WriteRequest<'_>,
    name: &str,
    content_type: &str,
    body: &[u8],
) -> Result<ApiResponse, ApiError> {
    let patch_doc = super::body::parse_json(body)?;
    for _ in 0..PATCH_RETRIES {
        let current = match fetch(req.store, req.resource, req.namespace, name) {
            Ok(kv) => kv,
            Err(e) if content_type == APPLY_PATCH && e.code == 404 => {
                return apply_create(req, name, patch_doc).await;
            }
            Err(e) => return Err(e),
        };
        let old = parse_stored(&current)?;
        let mut new = apply_patch(req, content_type, &old, &patch_doc)?;
        let applied = content_type == APPLY_PATCH;
        // Upstream decodes the patched object under fieldValidation as it decodes a body
        // (`kubectl apply` of an existing object is a patch); apply checks its own fields.
        let warnings = if applied {
            Vec::new()
        } else {
            admission::check_fields(
                req.catalog,
                req.resource,
                &mut new,
                req.params.field_validation,
            )?
        };
        match replace(req, name, &current, &old, new, applied).await {
            Err(e) if e.reason == "Conflict" && e.message.ends_with(ApiError::MODIFIED) => continue,
            other => return other.map(|r| r.with_warnings(&warnings)),
        }
    }
    Err(ApiError::conflict(
        &req.resource.group,
        &req.resource.plural,
        name,
        ApiError::MODIFIED,
    ))
}

const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// A patch error with the status upstream gives it (400 malformed, 413 too large, 422
/// valid but not applicable).
fn patch_error(status: u16, message: String) -> ApiError {
    match status {
        413 => ApiError::too_large(message),
        422 => ApiError {
            code: 422,
            reason: "Invalid",
            ..ApiError::bad_request(message)
        },
        _ => ApiError::bad_request(message),
    }
}

fn apply_patch(
    req: &WriteRequest<'_>,
    content_type: &str,
    old: &Value,
    patch_doc: &Value,
) -> Result<Value, ApiError> {
    let result = match content_type {
        "application/json-patch+json" => patch::apply_json_patch(old.clone(), patch_doc)
            .map_err(|e| patch_error(e.http_status(), e.to_string())),
        "application/merge-patch+json" => patch::apply_merge_patch(old.clone(), patch_doc)
            .map_err(|e| ApiError::bad_request(e.to_string())),
        "application/strategic-merge-patch+json" if req.resource.strategic_merge => {
            let meta = patch::BuiltinPatchMeta::new(&req.resource.kind);
            patch::apply_strategic_merge_patch(old.clone(), patch_doc, &meta)
                .map_err(|e| patch_error(e.http_status(), e.to_string()))
        }
        APPLY_PATCH => return super::apply::server_side_apply(req, Some(old), patch_doc),
        other => return Err(ApiError::unsupported_media_type(other)),
    }?;
    if meta::as_object(&result).is_none() {
        return Err(ApiError::bad_request(
            "the patched object must be a JSON object",
        ));
    }
    Ok(result)
}

async fn apply_create(
    req: &WriteRequest<'_>,
    name: &str,
    applied: Value,
) -> Result<ApiResponse, ApiError> {
    let mut object = super::apply::server_side_apply(req, None, &applied)?;
    meta::set_str(meta::metadata_mut(&mut object), "name", name);
    create_object(req, object, true).await
}

/// Writes `new` over the stored `current`, keeping what the server owns and what the
/// subresource does not address.
async fn replace(
    req: &WriteRequest<'_>,
    name: &str,
    current: &KeyValue,
    old: &Value,
    mut new: Value,
    recorded: bool,
) -> Result<ApiResponse, ApiError> {
    carry_over(req, old, &mut new);
    if !recorded {
        new = super::apply::record_update(req, Some(old), new)?;
    }
    admission::admit(
        &admission::Context {
            store: req.store,
            resource: req.resource,
            operation: Operation::Update,
            subresource: req.subresource,
            old: Some(old),
            user: req.user,
            allocators: req.allocators,
            dry_run: req.params.dry_run,
        },
        &mut new,
    )
    .await?;
    if meta::deletion_timestamp(&new).is_some()
        && meta::finalizers(&new).is_empty()
        && !super::delete::spec_finalizers_pending(req.resource, &new)
    {
        // The last finalizer is gone from an object being deleted: delete it now.
        return super::delete::remove(
            req.store,
            req.resource,
            req.namespace,
            name,
            current,
            req.params.dry_run,
        )
        .await;
    }
    if req.params.dry_run {
        // Upstream answers a dry-run update with the stored resourceVersion (nothing was
        // written); without it `kubectl diff` shows a spurious resourceVersion removal.
        meta::set_resource_version(&mut new, current.mod_revision);
        return Ok(ApiResponse::json(200, meta::to_json_bytes(&new)));
    }
    let key = object_key(req.resource, req.namespace, name);
    match commit(
        req.store,
        &key,
        Compare::ModRevision(current.mod_revision),
        new,
    )
    .await?
    {
        Some(bytes) => Ok(ApiResponse::shared(200, bytes)),
        None => Err(ApiError::conflict(
            &req.resource.group,
            &req.resource.plural,
            name,
            ApiError::MODIFIED,
        )),
    }
}

/// Server-owned metadata comes from the stored object; a main-resource write keeps the
/// stored status, a status write keeps everything but status.
fn carry_over(req: &WriteRequest<'_>, old: &Value, new: &mut Value) {
    let status_write = req.subresource == Some("status");
    if req.subresource == Some("finalize") {
        keep_all_but_spec_finalizers(old, new);
    } else if status_write {
        let status = meta::as_object_mut(new).and_then(|o| o.remove("status"));
        let mut merged = old.clone();
        if let Some(o) = meta::as_object_mut(&mut merged) {
            match status {
                Some(s) => o.insert("status".to_owned(), s),
                None => o.remove("status"),
            };
        }
        *new = merged;
    } else if req.resource.has_status() {
        let status = meta::as_object(old).and_then(|o| o.get("status")).cloned();
        if let Some(o) = meta::as_object_mut(new) {
            match status {
                Some(s) => o.insert("status".to_owned(), s),
                None => o.remove("status"),
            };
        }
    }
    let finalize_write = req.subresource == Some("finalize");
    let bump = !status_write
        && !finalize_write
        && tracks_generation(req.resource)
        && spec_changed(old, new);
    let old_md = meta::as_object(old)
        .and_then(|o| o.get("metadata"))
        .and_then(meta::as_object)
        .cloned()
        .unwrap_or_default();
    let md = meta::metadata_mut(new);
    for owned in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old_md.get(owned) {
            Some(v) => md.insert(owned.to_owned(), v.clone()),
            None => md.remove(owned),
        };
    }
    md.remove("resourceVersion");
    if bump {
        let generation = meta::get_i64(old, &["metadata", "generation"]).unwrap_or(0) + 1;
        meta::set_i64(md, "generation", generation);
    }
}

/// A Namespace `finalize` write changes only spec.finalizers, as upstream's finalize
/// strategy does.
fn keep_all_but_spec_finalizers(old: &Value, new: &mut Value) {
    let finalizers = meta::get_path(new, &["spec", "finalizers"]).cloned();
    let mut merged = old.clone();
    let spec = meta::ensure_object(&mut merged, &["spec"]);
    match finalizers {
        Some(list) => spec.insert("finalizers".to_owned(), list),
        None => spec.remove("finalizers"),
    };
    *new = merged;
}
