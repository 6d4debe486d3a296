//! `pods/eviction`: a POSTed Eviction deletes the pod unless a PodDisruptionBudget says no.
//! As upstream's EvictionREST, minimally: pods that are pending, finished or already being
//! deleted go at once; otherwise the one PDB selecting the pod must allow a disruption,
//! which is then spent (`disruptionsAllowed` decremented, the pod listed in
//! `disruptedPods`) before the delete. More than one matching PDB is an error, as upstream.

use miniserde::json::Value;
use wisp_store::Compare;

use super::{SubresourceRequest, created_success};
use crate::api::body;
use crate::api::delete::{self, DeleteOptions};
use crate::api::read::{fetch, parse_stored};
use crate::api::response::ApiResponse;
use crate::api::write::commit;
use crate::object::{meta, time};
use crate::selector::LabelSelector;
use crate::status::{ApiError, Cause, Details};
use crate::workloads::objects::{object, set_condition, string};

const PDB_PREFIX: &str = "/registry/policy/poddisruptionbudgets/";
const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

pub async fn create(req: &SubresourceRequest<'_>) -> Result<ApiResponse, ApiError> {
    let w = req.parent;
    let eviction = body::decode_object(req.content_type, req.body)?;
    let mut opts = delete_options(&eviction, w.params)?;
    let kv = fetch(w.store, w.resource, w.namespace, req.name)?;
    let pod = parse_stored(&kv)?;
    if !can_ignore_budget(&pod) {
        guard(req, &pod, opts.dry_run).await?;
    }
    if !opts.dry_run {
        mark_disruption_target(&kv, pod, &mut opts, w.store).await?;
    }
    delete::delete(w.store, w.resource, w.namespace, req.name, &opts).await?;
    Ok(created_success())
}

/// Upstream's addConditionAndDeletePod: the DisruptionTarget condition on a pod that is
/// still running, written before the delete so the pod's controller (a Job's
/// podFailurePolicy) can tell an eviction from a failure. A resourceVersion precondition is
/// checked against the pod as read and then moved to the updated pod.
async fn mark_disruption_target(
    kv: &wisp_store::KeyValue,
    mut pod: Value,
    opts: &mut DeleteOptions,
    store: &wisp_store::Store,
) -> Result<(), ApiError> {
    let phase = meta::get_str(&pod, &["status", "phase"]).unwrap_or("");
    if matches!(phase, "Succeeded" | "Failed") || meta::deletion_timestamp(&pod).is_some() {
        return Ok(());
    }
    let stored_rv = meta::resource_version(&pod).unwrap_or("").to_owned();
    let name = meta::name(&pod).unwrap_or("").to_owned();
    let modified = || ApiError::conflict("", "pods", &name, ApiError::MODIFIED);
    if opts
        .precondition_rv
        .as_deref()
        .is_some_and(|rv| rv != stored_rv)
    {
        return Err(modified());
    }
    let status = meta::ensure_object(&mut pod, &["status"]);
    let condition = object([
        ("type", string("DisruptionTarget")),
        ("status", string("True")),
        ("reason", string("EvictionByEvictionAPI")),
        ("message", string("Eviction API: evicting")),
        (
            "lastTransitionTime",
            string(time::format_rfc3339(time::now_unix())),
        ),
    ]);
    if !set_condition(status, condition, true) {
        return Ok(());
    }
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    let written = commit(store, &key, Compare::ModRevision(kv.mod_revision), pod)
        .await?
        .ok_or_else(modified)?;
    if opts.precondition_rv.is_some() {
        opts.precondition_rv = meta::from_json_bytes(&written)
            .as_ref()
            .and_then(|p| meta::resource_version(p).map(str::to_owned));
    }
    Ok(())
}

/// The Eviction's `deleteOptions`, with the request's dryRun added.
fn delete_options(
    eviction: &Value,
    params: &crate::api::params::Params,
) -> Result<DeleteOptions, ApiError> {
    let body = meta::get_path(eviction, &["deleteOptions"])
        .map(meta::to_json_bytes)
        .unwrap_or_default();
    DeleteOptions::parse(&body, params)
}

/// Upstream's canIgnorePDB.
fn can_ignore_budget(pod: &Value) -> bool {
    let phase = meta::get_str(pod, &["status", "phase"]).unwrap_or("");
    matches!(phase, "Succeeded" | "Failed" | "Pending") || meta::deletion_timestamp(pod).is_some()
}

/// Finds the budget selecting the pod and spends one disruption from it.
async fn guard(req: &SubresourceRequest<'_>, pod: &Value, dry_run: bool) -> Result<(), ApiError> {
    let w = req.parent;
    let namespace = w.namespace.unwrap_or("");
    let prefix = format!("{PDB_PREFIX}{namespace}/");
    let listed = w.store.range(prefix.as_bytes(), 0, None);
    let matching: Vec<(wisp_store::KeyValue, Value)> = listed
        .kvs
        .into_iter()
        .filter_map(|kv| {
            let pdb = meta::from_json_bytes(&kv.value)?;
            let selector =
                LabelSelector::from_structured(meta::get_path(&pdb, &["spec", "selector"])).ok()?;
            selector.matches_object(pod).then_some((kv, pdb))
        })
        .collect();
    let (kv, mut pdb) = match matching.len() {
        0 => return Ok(()),
        1 => matching.into_iter().next().expect("one budget"),
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ));
        }
    };
    let name = meta::name(&pdb).unwrap_or("").to_owned();
    let observed = meta::get_i64(&pdb, &["status", "observedGeneration"]).unwrap_or(0);
    if observed < meta::generation(&pdb).unwrap_or(0) {
        return Err(too_many_requests(format!(
            "The disruption budget {name} is still being processed by the server."
        )));
    }
    let allowed = meta::get_i64(&pdb, &["status", "disruptionsAllowed"]).unwrap_or(0);
    if allowed < 0 {
        return Err(ApiError::forbidden(
            "policy",
            "poddisruptionbudget",
            &name,
            format!(
                "poddisruptionbudget.policy \"{name}\" is forbidden: pdb disruptions allowed is negative"
            ),
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(denied_message(&pdb)));
    }
    if dry_run {
        return Ok(());
    }
    let status = meta::ensure_object(&mut pdb, &["status"]);
    meta::set_i64(status, "disruptionsAllowed", allowed - 1);
    let disrupted = meta::ensure_object(&mut pdb, &["status", "disruptedPods"]);
    meta::set_str(disrupted, req.name, time::format_rfc3339(time::now_unix()));
    let key = String::from_utf8_lossy(&kv.key).into_owned();
    match commit(w.store, &key, Compare::ModRevision(kv.mod_revision), pdb).await? {
        Some(_) => Ok(()),
        None => Err(too_many_requests(format!(
            "The disruption budget {name} is still being processed by the server."
        ))),
    }
}

/// Upstream's disruptionDeniedMessage, for budgets without a failed-sync condition.
fn denied_message(pdb: &Value) -> String {
    let name = meta::name(pdb).unwrap_or("");
    let desired = meta::get_i64(pdb, &["status", "desiredHealthy"]).unwrap_or(0);
    let current = meta::get_i64(pdb, &["status", "currentHealthy"]).unwrap_or(0);
    if current <= desired {
        format!(
            "The disruption budget {name} needs {desired} healthy pods and has {current} currently"
        )
    } else {
        format!("The disruption budget {name} does not allow evicting pods currently")
    }
}

/// 429 with the DisruptionBudget cause kubectl drain prints.
fn too_many_requests(cause: String) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: VIOLATION.to_owned(),
        details: Box::new(Details {
            causes: vec![Cause {
                reason: "DisruptionBudget".to_owned(),
                message: cause,
                field: String::new(),
            }],
            ..Details::default()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn pending_and_finished_pods_skip_budgets() {
        assert!(can_ignore_budget(&parse(
            r#"{"status":{"phase":"Pending"}}"#
        )));
        assert!(can_ignore_budget(&parse(
            r#"{"status":{"phase":"Succeeded"}}"#
        )));
        assert!(!can_ignore_budget(&parse(
            r#"{"status":{"phase":"Running"}}"#
        )));
    }

    #[test]
    fn denial_matches_upstream() {
        let pdb = parse(
            r#"{"metadata":{"name":"web"},"status":{"desiredHealthy":2,"currentHealthy":2}}"#,
        );
        let e = too_many_requests(denied_message(&pdb));
        assert_eq!(e.code, 429);
        assert_eq!(e.message, VIOLATION);
        assert_eq!(
            e.details.causes[0].message,
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        assert!(e.to_json().contains(r#""reason":"DisruptionBudget""#));
    }
}
