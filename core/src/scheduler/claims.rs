//! The scheduler's side of volume binding (upstream's VolumeBinding plugin, reduced to
//! what one local-path node needs): a pod whose claims are missing, being deleted, or
//! unbound with an Immediate class stays Pending with upstream's reason; for unbound
//! WaitForFirstConsumer claims the scheduler writes the chosen node into each claim's
//! `volume.kubernetes.io/selected-node` annotation and binds the pod only once the binder
//! (crate::storage) has bound them, which a claim watch brings back to the queue. A node
//! must also satisfy the required node affinity of the volumes already bound to the pod's
//! claims.

use miniserde::json::Value;

use crate::object::meta;
use crate::storage::names::SELECTED_NODE;
use crate::storage::pod_claims::{Verdict, claim_names, get_claim, get_volume, is_bound, verdict};
use crate::workloads::client::{Client, WriteError};
use crate::workloads::feed::Change;
use crate::workloads::objects::{object, string};

pub use crate::storage::pod_claims::Verdict as ClaimVerdict;

pub fn check(client: &Client, pod: &Value) -> Verdict {
    verdict(client.server().store(), pod)
}

/// The failure message of a pod its claims keep Pending, worded as upstream's PreFilter
/// failures are (no per-node counts).
pub fn unschedulable_message(nodes: usize, reason: &str) -> String {
    format!("0/{nodes} nodes are available: {reason}.")
}

/// A claim change that can let a waiting pod go: a new claim, or one that became bound.
pub fn may_unblock(change: &Change) -> bool {
    let bound = |c: &Value| meta::get_str(c, &["status", "phase"]) == Some("Bound");
    match (&change.old, &change.new) {
        (None, Some(_)) => true,
        (Some(old), Some(new)) => bound(new) && !bound(old),
        _ => false,
    }
}

/// Writes the selected node into each claim that does not have it yet.
pub async fn select_node(
    client: &Client,
    pod: &Value,
    claims: &[String],
    node: &str,
) -> Result<(), WriteError> {
    let ns = meta::namespace(pod).unwrap_or("");
    for name in claims {
        let current = get_claim(client.server().store(), ns, name);
        let already = current
            .as_ref()
            .and_then(|c| meta::get_str(c, &["metadata", "annotations", SELECTED_NODE]));
        if already == Some(node) {
            continue;
        }
        let patch = object([(
            "metadata",
            object([("annotations", object([(SELECTED_NODE, string(node))]))]),
        )]);
        let path = format!("/api/v1/namespaces/{ns}/persistentvolumeclaims/{name}");
        client.merge_patch(&path, &patch).await?;
    }
    Ok(())
}

/// The required node affinities of the volumes bound to a pod's claims, as pods whose
/// required node affinity they are, so the scheduler's own matching reads them.
pub struct VolumeAffinity(Vec<Value>);

impl VolumeAffinity {
    pub fn of(client: &Client, pod: &Value) -> VolumeAffinity {
        let store = client.server().store();
        let ns = meta::namespace(pod).unwrap_or("");
        let mut required = Vec::new();
        for name in claim_names(pod) {
            let volume = get_claim(store, ns, name)
                .filter(is_bound)
                .and_then(|c| get_volume(store, meta::get_str(&c, &["spec", "volumeName"])?));
            let terms = volume
                .as_ref()
                .and_then(|v| meta::get_path(v, &["spec", "nodeAffinity", "required"]));
            if let Some(terms) = terms {
                required.push(object([(
                    "spec",
                    object([(
                        "affinity",
                        object([(
                            "nodeAffinity",
                            object([(
                                "requiredDuringSchedulingIgnoredDuringExecution",
                                terms.clone(),
                            )]),
                        )]),
                    )]),
                )]));
            }
        }
        VolumeAffinity(required)
    }

    /// Upstream's VolumeBinding filter reason when a bound volume cannot be used on `node`.
    pub fn admits(&self, node: &Value) -> Result<(), String> {
        if self
            .0
            .iter()
            .all(|p| super::placement::matches_node(p, node))
        {
            Ok(())
        } else {
            Err("node(s) had volume node affinity conflict".to_owned())
        }
    }
}
