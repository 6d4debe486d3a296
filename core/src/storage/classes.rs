//! Reading StorageClasses: which one is the default (upstream's DefaultStorageClass
//! admission picks the newest class annotated as default), a class's binding mode and
//! reclaim policy, and whether wisp's local-path provisioner serves it.

use miniserde::json::Value;
use wisp_store::Store;

use super::{CLASSES, PROVISIONER, names};
use crate::object::meta;

fn list(store: &Store) -> Vec<Value> {
    store
        .range(CLASSES.as_bytes(), 0, None)
        .kvs
        .iter()
        .filter_map(|kv| meta::from_json_bytes(&kv.value))
        .collect()
}

pub fn get(store: &Store, name: &str) -> Option<Value> {
    let kv = store.get(format!("{CLASSES}{name}").as_bytes())?;
    meta::from_json_bytes(&kv.value)
}

/// The name of the default class: the newest annotated `is-default-class: "true"` (ties by
/// name, as upstream sorts).
pub fn default_name(store: &Store) -> Option<String> {
    let mut defaults: Vec<Value> = list(store)
        .into_iter()
        .filter(|c| {
            meta::get_str(c, &["metadata", "annotations", names::IS_DEFAULT_CLASS]) == Some("true")
        })
        .collect();
    defaults.sort_by(|a, b| {
        let created = |v: &Value| {
            meta::get_str(v, &["metadata", "creationTimestamp"])
                .unwrap_or("")
                .to_owned()
        };
        created(b)
            .cmp(&created(a))
            .then_with(|| meta::name(a).cmp(&meta::name(b)))
    });
    defaults.first().and_then(meta::name).map(str::to_owned)
}

/// `volumeBindingMode` waits for the first consumer.
pub fn waits_for_consumer(class: &Value) -> bool {
    meta::get_str(class, &["volumeBindingMode"]) == Some("WaitForFirstConsumer")
}

pub fn reclaim_policy(class: &Value) -> &str {
    meta::get_str(class, &["reclaimPolicy"]).unwrap_or("Delete")
}

/// Served by wisp's local-path provisioner.
pub fn is_local_path(class: &Value) -> bool {
    meta::get_str(class, &["provisioner"]) == Some(PROVISIONER)
}

/// The claim's class name; `""` when it asks for no class.
pub fn of_claim(claim: &Value) -> &str {
    meta::get_str(claim, &["spec", "storageClassName"]).unwrap_or("")
}

/// Whether binding of `claim` waits for a pod to be scheduled (its class says so).
pub fn claim_waits_for_consumer(store: &Store, claim: &Value) -> bool {
    let name = of_claim(claim);
    !name.is_empty() && get(store, name).is_some_and(|c| waits_for_consumer(&c))
}
