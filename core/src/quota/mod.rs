//! ResourceQuota: what an object charges against a namespace's quotas (upstream's quota
//! evaluators for pods, services, configmaps, secrets and persistentvolumeclaims), the
//! admission check that refuses a create going over a quota ([`admission`]), and the
//! controller that keeps each quota's `status.hard` and `status.used` ([`controller`]).
//! Amounts are whole thousandths (as `scheduler::quantity` parses them) and are printed
//! back in Kubernetes' canonical quantity forms.

pub mod admission;
pub mod controller;
pub mod scopes;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use miniserde::json::Value;
use wisp_store::Store;

use crate::object::meta;
use crate::scheduler::quantity::parse_milli;

pub const QUOTAS: &str = "/registry/core/resourcequotas/";

/// Thousandths per quota resource name.
pub type Usage = BTreeMap<String, i128>;

/// The kinds a quota charges for: `(plural, storage prefix)`.
pub const CHARGED: [(&str, &str); 5] = [
    ("pods", "/registry/core/pods/"),
    ("services", "/registry/core/services/"),
    ("configmaps", "/registry/core/configmaps/"),
    ("secrets", "/registry/core/secrets/"),
    (
        "persistentvolumeclaims",
        "/registry/core/persistentvolumeclaims/",
    ),
];

const ONE: i128 = 1000;

fn add(usage: &mut Usage, name: &str, amount: i128) {
    *usage.entry(name.to_owned()).or_default() += amount;
}

/// What one object of `plural` charges; empty for objects that no longer count (finished
/// pods).
pub fn usage_of(plural: &str, object: &Value) -> Usage {
    let mut u = Usage::new();
    match plural {
        "pods" => {
            if matches!(
                meta::get_str(object, &["status", "phase"]),
                Some("Succeeded" | "Failed")
            ) {
                return u;
            }
            pod_usage(object, &mut u);
        }
        "services" => service_usage(object, &mut u),
        "persistentvolumeclaims" => claim_usage(object, &mut u),
        "configmaps" | "secrets" => {}
        _ => return u,
    }
    add(&mut u, plural, ONE);
    add(&mut u, &format!("count/{plural}"), ONE);
    u
}

/// Requests and limits per resource of a container list: summed, or maxed (init
/// containers).
fn containers(pod: &Value, list: &str, field: &str, sum: bool) -> Usage {
    let mut out = Usage::new();
    let Some(Value::Array(cs)) = meta::get_path(pod, &["spec", list]) else {
        return out;
    };
    for c in cs {
        for (name, q) in meta::string_map(c, &["resources", field]) {
            let v = parse_milli(q).unwrap_or(0);
            let e = out.entry(name.to_owned()).or_default();
            *e = if sum { *e + v } else { (*e).max(v) };
        }
    }
    out
}

/// Upstream's PodUsageFunc: containers summed, the largest init container if more,
/// charged as `cpu`/`requests.cpu`, `limits.cpu` and the same for memory and
/// ephemeral-storage.
fn pod_usage(pod: &Value, u: &mut Usage) {
    for (field, names) in [
        ("requests", ["cpu", "memory", "ephemeral-storage"]),
        ("limits", ["cpu", "memory", "ephemeral-storage"]),
    ] {
        let mut total = containers(pod, "containers", field, true);
        for (name, v) in containers(pod, "initContainers", field, false) {
            let e = total.entry(name).or_default();
            *e = (*e).max(v);
        }
        for name in names {
            let Some(v) = total.get(name) else { continue };
            add(u, &format!("{field}.{name}"), *v);
            if field == "requests" {
                add(u, name, *v);
            }
        }
    }
}

fn service_usage(service: &Value, u: &mut Usage) {
    let kind = meta::get_str(service, &["spec", "type"]).unwrap_or("ClusterIP");
    if kind == "LoadBalancer" {
        add(u, "services.loadbalancers", ONE);
    }
    if matches!(kind, "NodePort" | "LoadBalancer") {
        let ports = match meta::get_path(service, &["spec", "ports"]) {
            Some(Value::Array(p)) => p.len(),
            _ => 0,
        };
        add(
            u,
            "services.nodeports",
            i128::try_from(ports).unwrap_or(0) * ONE,
        );
    }
}

fn claim_usage(claim: &Value, u: &mut Usage) {
    let storage = meta::get_str(claim, &["spec", "resources", "requests", "storage"])
        .and_then(parse_milli)
        .unwrap_or(0);
    add(u, "requests.storage", storage);
    if let Some(class) = meta::get_str(claim, &["spec", "storageClassName"]) {
        let prefix = format!("{class}.storageclass.storage.k8s.io");
        add(u, &format!("{prefix}/requests.storage"), storage);
        add(u, &format!("{prefix}/persistentvolumeclaims"), ONE);
    }
}

/// What the objects of `plural` in `namespace` charge `quota` together (its scopes pick
/// the objects).
pub fn namespace_usage(store: &Store, plural: &str, namespace: &str, quota: &Value) -> Usage {
    let Some((_, prefix)) = CHARGED.iter().find(|(p, _)| *p == plural) else {
        return Usage::new();
    };
    let mut total = Usage::new();
    let listing = store.range(format!("{prefix}{namespace}/").as_bytes(), 0, None);
    for kv in &listing.kvs {
        let Some(object) = meta::from_json_bytes(&kv.value) else {
            continue;
        };
        if !scopes::matches(quota, plural, &object) {
            continue;
        }
        for (k, v) in usage_of(plural, &object) {
            add(&mut total, &k, v);
        }
    }
    total
}

/// The quota resource that counts objects of a kind without its own evaluator:
/// `count/<plural>` for the core group, `count/<plural>.<group>` otherwise.
pub fn object_count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// The storage prefix a generic `count/<plural>[.<group>]` resource counts under, for
/// kinds other than the charged ones.
pub fn object_count_prefix(resource: &str) -> Option<String> {
    let name = resource.strip_prefix("count/")?;
    if CHARGED.iter().any(|(p, _)| *p == name) {
        return None;
    }
    let (plural, group) = name.split_once('.').unwrap_or((name, ""));
    Some(crate::object::keys::resource_prefix(group, plural))
}

/// How many objects are stored under `prefix` in `namespace`, in thousandths.
pub fn object_count(store: &Store, prefix: &str, namespace: &str) -> i128 {
    let listing = store.range(format!("{prefix}{namespace}/").as_bytes(), 0, None);
    i128::try_from(listing.kvs.len()).unwrap_or(i128::MAX / ONE) * ONE
}

/// Which charged kind a quota resource name counts, if any.
pub fn kind_of(resource: &str) -> Option<&'static str> {
    let name = resource.strip_prefix("count/").unwrap_or(resource);
    if let Some((plural, _)) = CHARGED.iter().find(|(p, _)| *p == name) {
        return Some(plural);
    }
    if resource.starts_with("services.") {
        return Some("services");
    }
    if resource == "requests.storage" || resource.contains(".storageclass.storage.k8s.io/") {
        return Some("persistentvolumeclaims");
    }
    let compute = ["cpu", "memory", "ephemeral-storage"];
    let bare = resource
        .strip_prefix("requests.")
        .or_else(|| resource.strip_prefix("limits."))
        .unwrap_or(resource);
    compute.contains(&bare).then_some("pods")
}

/// A quota's `spec.hard` as names and thousandths, with the text as written.
pub fn hard_of(quota: &Value) -> Vec<(String, i128, String)> {
    meta::string_map(quota, &["spec", "hard"])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), parse_milli(v).unwrap_or(0), v.to_owned()))
        .collect()
}

/// Prints an amount as Kubernetes does: cpu-like names with `m` when fractional, byte
/// names with the largest binary (or else decimal) suffix that divides them exactly,
/// counts as integers.
pub fn format(resource: &str, milli: i128) -> String {
    if milli % ONE != 0 {
        return format!("{milli}m");
    }
    let whole = milli / ONE;
    let bytes = ["memory", "storage", "ephemeral-storage"]
        .iter()
        .any(|n| resource == *n || resource.ends_with(&format!(".{n}")));
    if !bytes || whole == 0 {
        return whole.to_string();
    }
    for (suffix, shift) in [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ] {
        let unit = 1i128 << shift;
        if whole % unit == 0 {
            return format!("{}{suffix}", whole / unit);
        }
    }
    for (suffix, exp) in [
        ("E", 18),
        ("P", 15),
        ("T", 12),
        ("G", 9),
        ("M", 6),
        ("k", 3),
    ] {
        let unit = 10i128.pow(exp);
        if whole % unit == 0 {
            return format!("{}{suffix}", whole / unit);
        }
    }
    whole.to_string()
}
