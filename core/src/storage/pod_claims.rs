//! A pod's PersistentVolumeClaims as the scheduler, the binder and the node link see them:
//! the claims it names, whether they let it be placed (upstream's VolumeBinding plugin:
//! missing or deleted claims and unbound Immediate claims keep it Pending; unbound
//! WaitForFirstConsumer claims get the node selected for them), and the host directory each
//! bound claim's volume lives in, which the node agent mounts.

use miniserde::json::Value;
use wisp_store::Store;

use super::{CLAIMS, VOLUMES, classes};
use crate::object::meta;

/// The claim names of the pod's `persistentVolumeClaim` volumes.
pub fn claim_names(pod: &Value) -> Vec<&str> {
    let Some(Value::Array(volumes)) = meta::get_path(pod, &["spec", "volumes"]) else {
        return Vec::new();
    };
    volumes
        .iter()
        .filter_map(|v| meta::get_str(v, &["persistentVolumeClaim", "claimName"]))
        .collect()
}

pub fn uses_claim(pod: &Value, claim: &str) -> bool {
    claim_names(pod).contains(&claim)
}

/// Bound as upstream reads it: a volume name and the Bound phase.
pub fn is_bound(claim: &Value) -> bool {
    meta::get_str(claim, &["status", "phase"]) == Some("Bound")
        && meta::get_str(claim, &["spec", "volumeName"]).is_some_and(|v| !v.is_empty())
}

pub fn get_claim(store: &Store, namespace: &str, name: &str) -> Option<Value> {
    let kv = store.get(format!("{CLAIMS}{namespace}/{name}").as_bytes())?;
    meta::from_json_bytes(&kv.value)
}

pub fn get_volume(store: &Store, name: &str) -> Option<Value> {
    let kv = store.get(format!("{VOLUMES}{name}").as_bytes())?;
    meta::from_json_bytes(&kv.value)
}

/// What the pod's claims say about placing it now.
#[derive(Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Every claim is bound (or there are none).
    Ready,
    /// Bind these WaitForFirstConsumer claims first: the scheduler selects the node for
    /// them and waits until the binder has bound them.
    SelectNode(Vec<String>),
    /// The pod cannot be placed; upstream's reason.
    Unschedulable(String),
}

pub fn verdict(store: &Store, pod: &Value) -> Verdict {
    let ns = meta::namespace(pod).unwrap_or("");
    let mut waiting = Vec::new();
    let mut unbound_immediate = false;
    for name in claim_names(pod) {
        let Some(claim) = get_claim(store, ns, name) else {
            return Verdict::Unschedulable(format!("persistentvolumeclaim \"{name}\" not found"));
        };
        if meta::deletion_timestamp(&claim).is_some() {
            return Verdict::Unschedulable(format!(
                "persistentvolumeclaim \"{name}\" is being deleted"
            ));
        }
        if is_bound(&claim) {
            continue;
        }
        if classes::claim_waits_for_consumer(store, &claim) {
            waiting.push(name.to_owned());
        } else {
            unbound_immediate = true;
        }
    }
    if unbound_immediate {
        Verdict::Unschedulable("pod has unbound immediate PersistentVolumeClaims".to_owned())
    } else if waiting.is_empty() {
        Verdict::Ready
    } else {
        Verdict::SelectNode(waiting)
    }
}

/// The host directory of a PersistentVolume and its hostPath type (`local` volumes must
/// exist: type `Directory`).
pub fn host_path(volume: &Value) -> Option<(&str, &str)> {
    if let Some(path) = meta::get_str(volume, &["spec", "hostPath", "path"]) {
        let kind = meta::get_str(volume, &["spec", "hostPath", "type"]).unwrap_or("");
        return Some((path, kind));
    }
    meta::get_str(volume, &["spec", "local", "path"]).map(|p| (p, "Directory"))
}

/// Writes into each `persistentVolumeClaim` volume source of `pod` whose claim is bound
/// the volume's host directory (`wispHostPath`, `wispHostPathType`), the protocol's way of
/// telling the node agent where to mount from (docs/protocol.md). Claims not bound yet are
/// left without it. True when something was written.
pub fn resolve_host_paths(store: &Store, pod: &mut Value) -> bool {
    let ns = meta::namespace(pod).unwrap_or("").to_owned();
    let Some(Value::Array(volumes)) = meta::as_object_mut(pod)
        .and_then(|o| o.get_mut("spec"))
        .and_then(meta::as_object_mut)
        .and_then(|s| s.get_mut("volumes"))
    else {
        return false;
    };
    let mut changed = false;
    for v in volumes.iter_mut() {
        let Some(source) = meta::as_object_mut(v)
            .and_then(|o| o.get_mut("persistentVolumeClaim"))
            .and_then(meta::as_object_mut)
        else {
            continue;
        };
        let Some(Value::String(claim_name)) = source.get("claimName") else {
            continue;
        };
        let resolved = get_claim(store, &ns, claim_name)
            .filter(is_bound)
            .and_then(|c| {
                let volume = meta::get_str(&c, &["spec", "volumeName"])?.to_owned();
                get_volume(store, &volume)
            });
        let Some(volume) = resolved else { continue };
        if let Some((path, kind)) = host_path(&volume) {
            meta::set_str(source, "wispHostPath", path);
            meta::set_str(source, "wispHostPathType", kind);
            changed = true;
        }
    }
    changed | mount_read_only_claims(pod)
}

/// A claim volume with `readOnly: true` is mounted read-only everywhere, as the kubelet
/// does: its mounts are marked readOnly in the copy the node gets.
fn mount_read_only_claims(pod: &mut Value) -> bool {
    let read_only: Vec<String> = match meta::get_path(pod, &["spec", "volumes"]) {
        Some(Value::Array(vs)) => vs
            .iter()
            .filter(|v| {
                matches!(
                    meta::get_path(v, &["persistentVolumeClaim", "readOnly"]),
                    Some(Value::Bool(true))
                )
            })
            .filter_map(|v| meta::get_str(v, &["name"]).map(str::to_owned))
            .collect(),
        _ => return false,
    };
    if read_only.is_empty() {
        return false;
    }
    let Some(spec) = meta::as_object_mut(pod)
        .and_then(|o| o.get_mut("spec"))
        .and_then(meta::as_object_mut)
    else {
        return false;
    };
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(cs)) = spec.get_mut(list) else {
            continue;
        };
        for c in cs.iter_mut() {
            let Some(Value::Array(mounts)) =
                meta::as_object_mut(c).and_then(|o| o.get_mut("volumeMounts"))
            else {
                continue;
            };
            for m in mounts.iter_mut().filter_map(meta::as_object_mut) {
                if m.get("name")
                    .is_some_and(|n| matches!(n, Value::String(n) if read_only.contains(n)))
                {
                    m.insert("readOnly".to_owned(), Value::Bool(true));
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::parse;

    #[test]
    fn read_only_claims_make_their_mounts_read_only() {
        let mut pod = parse(
            r#"{"spec":{"containers":[{"name":"c","volumeMounts":[{"name":"ro","mountPath":"/a"},{"name":"rw","mountPath":"/b"}]}],
            "volumes":[{"name":"ro","persistentVolumeClaim":{"claimName":"x","readOnly":true}},{"name":"rw","persistentVolumeClaim":{"claimName":"y"}}]}}"#,
        )
        .unwrap();
        assert!(mount_read_only_claims(&mut pod));
        let Some(Value::Array(cs)) = meta::get_path(&pod, &["spec", "containers"]) else {
            panic!("containers")
        };
        let Some(Value::Array(mounts)) = meta::get_path(&cs[0], &["volumeMounts"]) else {
            panic!("mounts")
        };
        assert!(matches!(
            meta::get_path(&mounts[0], &["readOnly"]),
            Some(Value::Bool(true))
        ));
        assert!(meta::get_path(&mounts[1], &["readOnly"]).is_none());
    }
}
