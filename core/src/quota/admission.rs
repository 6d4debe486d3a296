//! The ResourceQuota admission check on create: for each quota of the namespace that
//! limits something the new object charges, the namespace's current usage (read from the
//! store, which is what the quota controller writes into `status.used`) plus the object's
//! charge must stay within `spec.hard`; otherwise the create is refused with upstream's
//! message (`exceeded quota: NAME, requested: ..., used: ..., limited: ...`). A quota
//! limiting pod compute resources also requires every container to state them
//! (`failed quota: NAME: must specify limits.cpu for: c`).

use std::collections::{BTreeMap, BTreeSet};

use miniserde::json::Value;
use wisp_store::Store;

use super::{QUOTAS, Usage, format, hard_of, namespace_usage, usage_of};
use crate::object::meta;
use crate::status::ApiError;

/// Quota resources a pod's containers must each set when a quota limits them.
const CONTAINER_RESOURCES: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

fn quotas_in(store: &Store, namespace: &str) -> Vec<Value> {
    store
        .range(format!("{QUOTAS}{namespace}/").as_bytes(), 0, None)
        .kvs
        .iter()
        .filter_map(|kv| meta::from_json_bytes(&kv.value))
        .collect()
}

/// Refuses the create of `object` (a `plural` in its namespace) when it would go over a
/// quota.
pub fn check(store: &Store, group: &str, plural: &str, object: &Value) -> Result<(), ApiError> {
    if !super::CHARGED
        .iter()
        .any(|(p, _)| group.is_empty() && *p == plural)
    {
        return check_object_count(store, group, plural, object);
    }
    let ns = meta::namespace(object).unwrap_or("");
    let quotas = quotas_in(store, ns);
    if quotas.is_empty() {
        return Ok(());
    }
    let name = meta::name(object).unwrap_or("");
    let refuse = |message: String| {
        ApiError::forbidden(
            "",
            plural,
            name,
            format!("{plural} \"{name}\" is forbidden: {message}"),
        )
    };
    let charge = usage_of(plural, object);
    for quota in &quotas {
        if !super::scopes::matches(quota, plural, object) {
            continue;
        }
        let mut used: Option<Usage> = None;
        let quota_name = meta::name(quota).unwrap_or("");
        let hard = hard_of(quota);
        if plural == "pods"
            && let Some(missing) = missing_container_resources(object, &hard)
        {
            return Err(refuse(format!(
                "failed quota: {quota_name}: must specify {missing}"
            )));
        }
        let exceeded: Vec<&(String, i128, String)> = hard
            .iter()
            .filter(|(k, _, _)| charge.contains_key(k))
            .filter(|(k, limit, _)| {
                let used = used.get_or_insert_with(|| namespace_usage(store, plural, ns, quota));
                used.get(k).copied().unwrap_or(0) + charge[k] > *limit
            })
            .collect();
        if exceeded.is_empty() {
            continue;
        }
        let used = used.get_or_insert_with(|| namespace_usage(store, plural, ns, quota));
        let list = |value: &dyn Fn(&str, &str) -> String| {
            exceeded
                .iter()
                .map(|(k, _, text)| format!("{k}={}", value(k, text)))
                .collect::<Vec<_>>()
                .join(",")
        };
        let requested = list(&|k, _| format(k, charge[k]));
        let in_use = list(&|k, _| format(k, used.get(k).copied().unwrap_or(0)));
        let limited = list(&|_, text| text.to_owned());
        return Err(refuse(format!(
            "exceeded quota: {quota_name}, requested: {requested}, used: {in_use}, limited: {limited}"
        )));
    }
    Ok(())
}

/// Kinds without their own evaluator count one object each against
/// `count/<plural>.<group>`.
fn check_object_count(
    store: &Store,
    group: &str,
    plural: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let ns = meta::namespace(object).unwrap_or("");
    let resource = super::object_count_name(group, plural);
    for quota in quotas_in(store, ns) {
        if !super::scopes::of(&quota).is_empty() {
            continue;
        }
        let Some((_, limit, text)) = hard_of(&quota).into_iter().find(|(k, _, _)| *k == resource)
        else {
            continue;
        };
        let prefix = crate::object::keys::resource_prefix(group, plural);
        let used = super::object_count(store, &prefix, ns);
        if used + 1000 <= limit {
            continue;
        }
        let name = meta::name(object).unwrap_or("");
        let qualified = if group.is_empty() {
            plural.to_owned()
        } else {
            format!("{plural}.{group}")
        };
        return Err(ApiError::forbidden(
            group,
            plural,
            name,
            format!(
                "{qualified} \"{name}\" is forbidden: exceeded quota: {}, requested: {resource}=1, used: {resource}={}, limited: {resource}={text}",
                meta::name(&quota).unwrap_or(""),
                format(&resource, used)
            ),
        ));
    }
    Ok(())
}

/// `limits.cpu for: a,b; requests.memory for: a` when containers leave out a compute
/// resource the quota limits.
fn missing_container_resources(pod: &Value, hard: &[(String, i128, String)]) -> Option<String> {
    let required: BTreeSet<&str> = hard
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| CONTAINER_RESOURCES.contains(k))
        .collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for list in ["initContainers", "containers"] {
        let Some(Value::Array(cs)) = meta::get_path(pod, &["spec", list]) else {
            continue;
        };
        for c in cs {
            let set =
                |field: &str, name: &str| meta::get_str(c, &["resources", field, name]).is_some();
            for r in &required {
                let present = match *r {
                    "cpu" | "memory" => set("requests", r),
                    other => {
                        let (field, name) = other.split_once('.').unwrap_or(("", other));
                        set(field, name)
                    }
                };
                if !present {
                    let container = meta::get_str(c, &["name"]).unwrap_or("").to_owned();
                    missing.entry(r).or_default().insert(container);
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Some(parts.join("; "))
}
