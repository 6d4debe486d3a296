//! Namespace lifecycle: a Namespace being deleted (deletionTimestamp set, phase
//! Terminating, `kubernetes` still in spec.finalizers) has every object in it deleted, with
//! upstream's status conditions while content remains, and then its `kubernetes` finalizer
//! removed through the `finalize` subresource, after which the API server deletes it. The
//! steps and messages are upstream's (pkg/controller/namespace/deletion).

use std::cell::RefCell;
use std::collections::{BTreeMap, HashSet};

use miniserde::json::{Array, Value};
use wisp_store::EventKind;

use super::client::{Client, ClientError, DeleteTarget};
use super::queue::WorkQueue;
use super::{Controller, Observed, same_status};
use crate::object::conditions::{self, Condition};
use crate::object::{keys, meta};
use crate::registry::Resource;

/// The finalizer this controller owns in a Namespace's spec.finalizers.
pub const KUBERNETES_FINALIZER: &str = "kubernetes";

pub struct NamespaceController {
    client: Client,
    /// Namespaces with a deletionTimestamp: changes to objects in them re-check them.
    terminating: RefCell<HashSet<String>>,
    queue: WorkQueue<String>,
}

/// What is left in a namespace after a deletion pass.
#[derive(Debug, Default, PartialEq, Eq)]
struct Remaining {
    /// `plural.group` -> objects left.
    resources: BTreeMap<String, usize>,
    /// finalizer -> objects carrying it.
    finalizers: BTreeMap<String, usize>,
}

impl Remaining {
    fn is_empty(&self) -> bool {
        self.resources.is_empty()
    }
}

fn spec_finalizers(namespace: &Value) -> Vec<&str> {
    match meta::get_path(namespace, &["spec", "finalizers"]) {
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|f| match f {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `what has N resource instances, ...` as upstream lists remaining content.
fn listed(counts: &BTreeMap<String, usize>, joiner: &str) -> String {
    counts
        .iter()
        .map(|(what, n)| format!("{what} {joiner} {n} resource instances"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Upstream's five deletion conditions for the outcome of one pass: (type, true?, reason,
/// message).
fn deletion_conditions(
    remaining: &Remaining,
    errors: &[ClientError],
) -> [(&'static str, bool, &'static str, String); 5] {
    let failures: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let content = !remaining.resources.is_empty();
    let finalizers = !remaining.finalizers.is_empty();
    [
        (
            "NamespaceDeletionDiscoveryFailure",
            false,
            "ResourcesDiscovered",
            "All resources successfully discovered".to_owned(),
        ),
        (
            "NamespaceDeletionGroupVersionParsingFailure",
            false,
            "ParsedGroupVersions",
            "All legacy kube types successfully parsed".to_owned(),
        ),
        if failures.is_empty() {
            (
                "NamespaceDeletionContentFailure",
                false,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization".to_owned(),
            )
        } else {
            (
                "NamespaceDeletionContentFailure",
                true,
                "ContentDeletionFailed",
                format!(
                    "Failed to delete all resource types, {} remaining: {}",
                    failures.len(),
                    failures.join(", ")
                ),
            )
        },
        if content {
            (
                "NamespaceContentRemaining",
                true,
                "SomeResourcesRemain",
                format!(
                    "Some resources are remaining: {}",
                    listed(&remaining.resources, "has")
                ),
            )
        } else {
            (
                "NamespaceContentRemaining",
                false,
                "ContentRemoved",
                "All content successfully removed".to_owned(),
            )
        },
        if finalizers {
            (
                "NamespaceFinalizersRemaining",
                true,
                "SomeFinalizersRemain",
                format!(
                    "Some content in the namespace has finalizers remaining: {}",
                    listed(&remaining.finalizers, "in")
                ),
            )
        } else {
            (
                "NamespaceFinalizersRemaining",
                false,
                "ContentHasNoFinalizers",
                "All content-preserving finalizers finished".to_owned(),
            )
        },
    ]
}

fn set_conditions(namespace: &mut Value, remaining: &Remaining, errors: &[ClientError]) {
    for (type_, true_, reason, message) in deletion_conditions(remaining, errors) {
        let status = if true_ { "True" } else { "False" };
        conditions::set(
            namespace,
            Condition {
                type_,
                status,
                reason,
                message: &message,
            },
        );
    }
}

impl NamespaceController {
    pub fn new(client: Client) -> NamespaceController {
        NamespaceController {
            client,
            terminating: RefCell::new(HashSet::new()),
            queue: WorkQueue::new(),
        }
    }

    /// Every namespaced type that can be listed and deleted, once per storage prefix
    /// (versions share their objects).
    fn namespaced_resources(&self) -> Vec<Resource> {
        let registry = self.client.server().registry().borrow();
        let mut seen = HashSet::new();
        registry
            .all()
            .iter()
            .filter(|r| r.namespaced() && r.is_stored() && r.verbs.allows("delete"))
            .filter(|r| seen.insert(r.storage_prefix()))
            .cloned()
            .collect()
    }

    fn namespace_resource(&self) -> Option<Resource> {
        let registry = self.client.server().registry().borrow();
        registry.get("", "v1", "namespaces").cloned()
    }

    /// Deletes what is not being deleted yet; returns the failures.
    async fn delete_content(&self, namespace: &str, resources: &[Resource]) -> Vec<ClientError> {
        let store = self.client.server().store();
        let mut targets = Vec::new();
        for resource in resources {
            let prefix = keys::namespace_prefix(&resource.group, &resource.plural, namespace);
            for kv in store.range(prefix.as_bytes(), 0, None).kvs {
                let Some(object) = meta::from_json_bytes(&kv.value) else {
                    continue;
                };
                if meta::deletion_timestamp(&object).is_some() {
                    continue;
                }
                targets.push(DeleteTarget {
                    resource: resource.clone(),
                    namespace: Some(namespace.to_owned()),
                    name: meta::name(&object).unwrap_or("").to_owned(),
                    propagation: "Background",
                });
            }
        }
        self.client.delete_all(targets).await
    }

    fn remaining(&self, namespace: &str, resources: &[Resource]) -> Remaining {
        let store = self.client.server().store();
        let mut remaining = Remaining::default();
        for resource in resources {
            let prefix = keys::namespace_prefix(&resource.group, &resource.plural, namespace);
            let kvs = store.range(prefix.as_bytes(), 0, None).kvs;
            if kvs.is_empty() {
                continue;
            }
            let name = format!("{}.{}", resource.plural, resource.group);
            remaining.resources.insert(name, kvs.len());
            for kv in kvs {
                let Some(object) = meta::from_json_bytes(&kv.value) else {
                    continue;
                };
                for finalizer in meta::finalizers(&object) {
                    *remaining
                        .finalizers
                        .entry(finalizer.to_owned())
                        .or_default() += 1;
                }
            }
        }
        remaining
    }

    async fn write_status(&self, before: &Value, after: &Value) -> Result<Value, ClientError> {
        let Some(resource) = self.namespace_resource() else {
            return Ok(after.clone());
        };
        if same_status(before, after) {
            return Ok(after.clone());
        }
        self.client.update(&resource, after, Some("status")).await
    }

    /// Removes `kubernetes` from spec.finalizers; the server then deletes the namespace
    /// unless metadata.finalizers remain.
    async fn finalize(&self, namespace: &Value) -> Result<(), ClientError> {
        let Some(resource) = self.namespace_resource() else {
            return Ok(());
        };
        let mut finalized = namespace.clone();
        let kept: Array = spec_finalizers(namespace)
            .into_iter()
            .filter(|f| *f != KUBERNETES_FINALIZER)
            .map(|f| Value::String(f.to_owned()))
            .collect();
        meta::ensure_object(&mut finalized, &["spec"])
            .insert("finalizers".to_owned(), Value::Array(kept));
        self.client
            .update(&resource, &finalized, Some("finalize"))
            .await
            .map(drop)
    }
}

impl Controller for NamespaceController {
    fn name(&self) -> &'static str {
        "namespace controller"
    }

    fn queue(&self) -> &WorkQueue<String> {
        &self.queue
    }

    fn relisted(&self, items: &[Observed<'_>]) {
        self.terminating.borrow_mut().clear();
        for item in items.iter().filter(|i| i.key.is_namespace()) {
            self.observe(item);
        }
    }

    fn observe(&self, change: &Observed<'_>) {
        if change.key.is_namespace() {
            let name = change.key.name;
            let deleting = change.kind == EventKind::Put
                && change.contains(b"\"deletionTimestamp\"")
                && change
                    .object()
                    .is_some_and(|o| meta::deletion_timestamp(o).is_some());
            if deleting {
                self.terminating.borrow_mut().insert(name.to_owned());
                self.queue.add(name.to_owned());
            } else {
                self.terminating.borrow_mut().remove(name);
            }
            return;
        }
        if let Some(ns) = change.key.namespace
            && self.terminating.borrow().contains(ns)
        {
            self.queue.add(ns.to_owned());
        }
    }

    async fn reconcile(&self, name: &str) -> Result<(), ClientError> {
        let key = keys::object_key("", "namespaces", None, name);
        let store = self.client.server().store();
        let Some(namespace) = store
            .get(key.as_bytes())
            .and_then(|kv| meta::from_json_bytes(&kv.value))
        else {
            return Ok(());
        };
        if meta::deletion_timestamp(&namespace).is_none()
            || !spec_finalizers(&namespace).contains(&KUBERNETES_FINALIZER)
        {
            return Ok(());
        }
        let resources = self.namespaced_resources();
        let errors = self.delete_content(name, &resources).await;
        let remaining = self.remaining(name, &resources);
        let mut updated = namespace.clone();
        meta::set_str(
            meta::ensure_object(&mut updated, &["status"]),
            "phase",
            "Terminating",
        );
        set_conditions(&mut updated, &remaining, &errors);
        let written = self.write_status(&namespace, &updated).await?;
        if !remaining.is_empty() || !errors.is_empty() {
            // Deletions of what is left bring the namespace back here.
            return match errors.into_iter().next() {
                Some(e) => Err(e),
                None => Ok(()),
            };
        }
        self.finalize(&written).await
    }
}
