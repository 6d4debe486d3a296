//! The Node authorizer (upstream's plugin/pkg/auth/authorizer/node), approximated: a
//! node (system:node:<name> in system:nodes) may get a Secret, ConfigMap,
//! PersistentVolumeClaim, PersistentVolume or ServiceAccount, and create a token for a
//! ServiceAccount, only
//! when a pod bound to it (spec.nodeName) references that object; node leases only in
//! kube-node-lease under its own name; everything else by the static rules of ClusterRole
//! system:node. Upstream keeps a graph updated by informers; wisp walks the pods of the
//! namespace in the store instead (one node runs few pods). What the node may write is
//! narrowed further by [`super::node_restriction`].

use miniserde::json::Value;
use wisp_store::Store;

use super::attributes::{Attributes, ResourceAttributes, Target};
use super::component_policy::node_rules;
use super::identities;
use crate::api::server::User;
use crate::object::meta;

/// What the node authorizer says, before RBAC has its turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeVerdict {
    /// Not a node: only RBAC decides.
    NotNode,
    Allow,
    /// RBAC decides; the reason joins RBAC's in a refusal.
    NoOpinion(String),
}

pub fn authorize(store: &Store, user: &User, attrs: &Attributes) -> NodeVerdict {
    let Some(node) = identities::node_name(user) else {
        return NodeVerdict::NotNode;
    };
    let Target::Resource(r) = &attrs.target else {
        return static_rules(attrs);
    };
    match (
        r.group.as_str(),
        r.resource.as_str(),
        r.subresource.as_str(),
    ) {
        (
            "",
            kind @ ("secrets"
            | "configmaps"
            | "persistentvolumeclaims"
            | "persistentvolumes"
            | "serviceaccounts"),
            "",
        ) => get_referenced(store, node, &attrs.verb, kind, r),
        ("", "serviceaccounts", "token") => token(store, node, &attrs.verb, r),
        ("coordination.k8s.io", "leases", "") => lease(node, attrs, r),
        _ => static_rules(attrs),
    }
}

fn static_rules(attrs: &Attributes) -> NodeVerdict {
    if node_rules().iter().any(|rule| rule.allows(attrs)) {
        NodeVerdict::Allow
    } else {
        NodeVerdict::NoOpinion(String::new())
    }
}

fn no_opinion(reason: &str) -> NodeVerdict {
    NodeVerdict::NoOpinion(reason.to_owned())
}

fn no_relationship(node: &str) -> NodeVerdict {
    NodeVerdict::NoOpinion(format!(
        "no relationship found between node '{node}' and this object"
    ))
}

fn get_referenced(
    store: &Store,
    node: &str,
    verb: &str,
    kind: &str,
    r: &ResourceAttributes,
) -> NodeVerdict {
    if verb != "get" {
        return no_opinion("can only get individual resources of this type");
    }
    if r.name.is_empty() {
        return no_opinion("No Object name found");
    }
    let found = match kind {
        "persistentvolumes" => bound_pods(store, node, "")
            .iter()
            .flat_map(|pod| references(pod, "persistentvolumeclaims"))
            .filter_map(|(ns, claim)| claim_volume(store, &ns, &claim))
            .any(|volume| volume == r.name),
        _ => bound_pods(store, node, &r.namespace)
            .iter()
            .any(|pod| references(pod, kind).iter().any(|(_, n)| *n == r.name)),
    };
    if found {
        NodeVerdict::Allow
    } else {
        no_relationship(node)
    }
}

fn token(store: &Store, node: &str, verb: &str, r: &ResourceAttributes) -> NodeVerdict {
    if verb != "create" || r.name.is_empty() {
        return no_opinion("can only create tokens for individual service accounts");
    }
    let used = bound_pods(store, node, &r.namespace)
        .iter()
        .any(|pod| service_account_of(pod) == r.name);
    if used {
        NodeVerdict::Allow
    } else {
        no_relationship(node)
    }
}

fn lease(node: &str, attrs: &Attributes, r: &ResourceAttributes) -> NodeVerdict {
    if !matches!(
        attrs.verb.as_str(),
        "get" | "create" | "update" | "patch" | "delete"
    ) {
        return no_opinion("can only get, create, update, patch, or delete a node lease");
    }
    if r.namespace != "kube-node-lease" {
        return no_opinion("can only access leases in the kube-node-lease namespace");
    }
    if attrs.verb != "create" && r.name != node {
        return no_opinion("can only access node lease with the same name as the requesting node");
    }
    NodeVerdict::Allow
}

/// The pods bound to `node`, in `namespace` (every namespace when empty).
pub fn bound_pods(store: &Store, node: &str, namespace: &str) -> Vec<Value> {
    let prefix = if namespace.is_empty() {
        "/registry/core/pods/".to_owned()
    } else {
        format!("/registry/core/pods/{namespace}/")
    };
    store
        .range(prefix.as_bytes(), 0, None)
        .kvs
        .iter()
        .filter_map(|kv| meta::from_json_bytes(&kv.value))
        .filter(|pod| meta::get_str(pod, &["spec", "nodeName"]) == Some(node))
        .collect()
}

fn claim_volume(store: &Store, namespace: &str, claim: &str) -> Option<String> {
    let key = format!("/registry/core/persistentvolumeclaims/{namespace}/{claim}");
    let pvc = meta::from_json_bytes(&store.get(key.as_bytes())?.value)?;
    meta::get_str(&pvc, &["spec", "volumeName"]).map(str::to_owned)
}

fn service_account_of(pod: &Value) -> &str {
    meta::get_str(pod, &["spec", "serviceAccountName"]).unwrap_or("default")
}

fn items<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// (namespace, name) of every object of `kind` a pod references: volumes (projected
/// sources included), env and envFrom of every container, imagePullSecrets.
pub fn references(pod: &Value, kind: &str) -> Vec<(String, String)> {
    let ns = meta::namespace(pod).unwrap_or("").to_owned();
    let mut names: Vec<&str> = Vec::new();
    let (volume_key, name_key, env_key, from_key) = match kind {
        "secrets" => ("secret", "secretName", "secretKeyRef", "secretRef"),
        "configmaps" => ("configMap", "name", "configMapKeyRef", "configMapRef"),
        "persistentvolumeclaims" => ("persistentVolumeClaim", "claimName", "", ""),
        "serviceaccounts" => return vec![(ns, service_account_of(pod).to_owned())],
        _ => return Vec::new(),
    };
    for volume in items(pod, &["spec", "volumes"]) {
        names.extend(meta::get_str(volume, &[volume_key, name_key]));
        for source in items(volume, &["projected", "sources"]) {
            names.extend(meta::get_str(source, &[volume_key, "name"]));
        }
    }
    if kind == "secrets" {
        for s in items(pod, &["spec", "imagePullSecrets"]) {
            names.extend(meta::get_str(s, &["name"]));
        }
    }
    if !env_key.is_empty() {
        for list in ["containers", "initContainers", "ephemeralContainers"] {
            for c in items(pod, &["spec", list]) {
                for e in items(c, &["env"]) {
                    names.extend(meta::get_str(e, &["valueFrom", env_key, "name"]));
                }
                for e in items(c, &["envFrom"]) {
                    names.extend(meta::get_str(e, &[from_key, "name"]));
                }
            }
        }
    }
    names
        .into_iter()
        .map(|n| (ns.clone(), n.to_owned()))
        .collect()
}
