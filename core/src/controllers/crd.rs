//! CRD serving: each CustomResourceDefinition's served versions go into the registry and
//! their schemas into the catalog; its status gets upstream's NamesAccepted and Established
//! conditions and acceptedNames (what `kubectl wait --for condition=established` reads);
//! when it is deleted (the API server adds the cleanup finalizer), its custom resources are
//! deleted, then the finalizer removed, and the types go from the registry.

use std::cell::RefCell;
use std::collections::HashMap;

use miniserde::json::{Array, Object, Value};
use wisp_store::EventKind;

use super::client::{Client, ClientError, DeleteTarget};
use super::queue::WorkQueue;
use super::{Controller, Observed, same_status};
use crate::api::delete::CRD_CLEANUP_FINALIZER;
use crate::object::conditions::{self, Condition};
use crate::object::{keys, meta};
use crate::registry::{CrdVersion, Gvk, Resource, crd_versions};

const GROUP: &str = "apiextensions.k8s.io";
const PLURAL: &str = "customresourcedefinitions";

/// What one CRD put into the registry and catalog.
#[derive(Debug, Clone)]
struct Served {
    group: String,
    plural: String,
    kinds: Vec<Gvk>,
    /// Why its names were not accepted: (reason, message).
    problem: Option<(&'static str, String)>,
}

pub struct CrdController {
    client: Client,
    served: RefCell<HashMap<String, Served>>,
    queue: WorkQueue<String>,
}

/// `spec.names` as accepted: singular and listKind defaulted, as upstream reports them.
fn accepted_names(crd: &Value) -> Value {
    let mut names = match meta::get_path(crd, &["spec", "names"]) {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    };
    let kind = meta::get_str(crd, &["spec", "names", "kind"])
        .unwrap_or("")
        .to_owned();
    if meta::get_str(crd, &["spec", "names", "singular"]).is_none_or(str::is_empty) {
        meta::set_str(&mut names, "singular", kind.to_ascii_lowercase());
    }
    if meta::get_str(crd, &["spec", "names", "listKind"]).is_none_or(str::is_empty) {
        meta::set_str(&mut names, "listKind", format!("{kind}List"));
    }
    Value::Object(names)
}

/// status.storedVersions with the current storage version added.
fn stored_versions(crd: &Value) -> Array {
    let mut versions: Array = match meta::get_path(crd, &["status", "storedVersions"]) {
        Some(Value::Array(a)) => a.clone(),
        _ => Array::new(),
    };
    if let Some(Value::Array(list)) = meta::get_path(crd, &["spec", "versions"]) {
        for v in list {
            if matches!(meta::get_path(v, &["storage"]), Some(Value::Bool(true)))
                && let Some(name) = meta::get_str(v, &["name"])
                && !versions
                    .iter()
                    .any(|s| matches!(s, Value::String(s) if s == name))
            {
                versions.push(Value::String(name.to_owned()));
            }
        }
    }
    versions
}

impl CrdController {
    pub fn new(client: Client) -> CrdController {
        CrdController {
            client,
            served: RefCell::new(HashMap::new()),
            queue: WorkQueue::new(),
        }
    }

    fn crd_resource(&self) -> Option<Resource> {
        let registry = self.client.server().registry().borrow();
        registry.get(GROUP, "v1", PLURAL).cloned()
    }

    /// Puts the CRD's served versions into the registry and their schemas into a new
    /// catalog; a CRD whose names clash is recorded as not accepted and not served.
    fn serve(&self, name: &str, crd: &Value) {
        let served_before = self.served.borrow().get(name).cloned();
        let group = meta::get_str(crd, &["spec", "group"])
            .unwrap_or("")
            .to_owned();
        let plural = meta::get_str(crd, &["spec", "names", "plural"])
            .unwrap_or("")
            .to_owned();
        if let Some(old) = &served_before
            && (old.group != group || old.plural != plural)
        {
            self.unserve(name);
        }
        let versions = match crd_versions(crd) {
            Ok(versions) => versions,
            Err(e) => {
                self.unserve(name);
                let problem = Some(("Invalid", e.to_string()));
                let served = Served {
                    group,
                    plural,
                    kinds: Vec::new(),
                    problem,
                };
                self.served.borrow_mut().insert(name.to_owned(), served);
                return;
            }
        };
        let problem = self.register(&group, &plural, &versions);
        let kinds: Vec<Gvk> = if problem.is_some() {
            Vec::new()
        } else {
            versions.iter().map(|v| v.resource.gvk()).collect()
        };
        let stale: Vec<Gvk> = served_before
            .map(|s| s.kinds.into_iter().filter(|k| !kinds.contains(k)).collect())
            .unwrap_or_default();
        let schemas = if problem.is_some() {
            &[][..]
        } else {
            &versions[..]
        };
        self.swap_schemas(&stale, schemas);
        let served = Served {
            group,
            plural,
            kinds,
            problem,
        };
        self.served.borrow_mut().insert(name.to_owned(), served);
    }

    /// Adds the served versions to the registry and drops versions no longer served; on a
    /// name clash none stays and the clash is returned as (reason, message).
    fn register(
        &self,
        group: &str,
        plural: &str,
        versions: &[CrdVersion],
    ) -> Option<(&'static str, String)> {
        let mut registry = self.client.server().registry().borrow_mut();
        let mut problem = None;
        for version in versions {
            if let Err(e) = registry.add_custom(version.resource.clone()) {
                problem = Some(("KindConflict", e.to_string()));
                break;
            }
        }
        registry.retain_custom_versions(group, plural, |v| {
            problem.is_none() && versions.iter().any(|k| k.resource.version == v)
        });
        problem
    }

    /// Swaps in a catalog without the `stale` kinds and with these versions' schemas.
    fn swap_schemas(&self, stale: &[Gvk], versions: &[CrdVersion]) {
        self.client.server().update_catalog(|catalog| {
            for gvk in stale {
                catalog.remove_custom_schema(gvk);
            }
            for version in versions {
                match &version.schema {
                    Some(schema) => catalog.set_custom_schema(&version.resource.gvk(), schema),
                    None => catalog.remove_custom_schema(&version.resource.gvk()),
                }
            }
        });
    }

    fn unserve(&self, name: &str) {
        let Some(served) = self.served.borrow_mut().remove(name) else {
            return;
        };
        self.client
            .server()
            .registry()
            .borrow_mut()
            .remove_custom(&served.group, &served.plural);
        self.client.server().update_catalog(|catalog| {
            for gvk in &served.kinds {
                catalog.remove_custom_schema(gvk);
            }
        });
    }

    /// The status upstream's naming and establishing controllers write.
    fn desired_status(&self, name: &str, crd: &Value) -> Value {
        let problem = self
            .served
            .borrow()
            .get(name)
            .and_then(|s| s.problem.clone());
        let mut desired = crd.clone();
        let status = meta::ensure_object(&mut desired, &["status"]);
        status.insert("acceptedNames".to_owned(), accepted_names(crd));
        status.insert(
            "storedVersions".to_owned(),
            Value::Array(stored_versions(crd)),
        );
        let (names, established) = match &problem {
            None => (
                Condition {
                    type_: "NamesAccepted",
                    status: "True",
                    reason: "NoConflicts",
                    message: "no conflicts found",
                },
                Condition {
                    type_: "Established",
                    status: "True",
                    reason: "InitialNamesAccepted",
                    message: "the initial names have been accepted",
                },
            ),
            Some((reason, message)) => (
                Condition {
                    type_: "NamesAccepted",
                    status: "False",
                    reason,
                    message,
                },
                Condition {
                    type_: "Established",
                    status: "False",
                    reason: "NotAccepted",
                    message: "not all names are accepted",
                },
            ),
        };
        conditions::set(&mut desired, names);
        conditions::set(&mut desired, established);
        desired
    }

    async fn update_status(&self, crd: &Value, desired: &Value) -> Result<Value, ClientError> {
        if same_status(crd, desired) {
            return Ok(desired.clone());
        }
        let Some(resource) = self.crd_resource() else {
            return Ok(desired.clone());
        };
        self.client.update(&resource, desired, Some("status")).await
    }

    /// Deletes the custom resources; once none is left, marks the cleanup done and removes
    /// the finalizer (the API server then deletes the CRD).
    async fn clean_up(&self, name: &str, crd: &Value) -> Result<(), ClientError> {
        let served = self.served.borrow().get(name).cloned();
        let resource = served.as_ref().and_then(|s| {
            let registry = self.client.server().registry().borrow();
            registry.by_plural(&s.group, &s.plural).cloned()
        });
        if let Some(resource) = &resource {
            self.delete_instances(resource).await;
            let prefix = keys::resource_prefix(&resource.group, &resource.plural);
            let left = self
                .client
                .server()
                .store()
                .range(prefix.as_bytes(), 0, None)
                .kvs
                .len();
            if left > 0 {
                let mut desired = crd.clone();
                conditions::set(
                    &mut desired,
                    Condition {
                        type_: "Terminating",
                        status: "True",
                        reason: "InstanceDeletionInProgress",
                        message: "CustomResource deletion is in progress",
                    },
                );
                return self.update_status(crd, &desired).await.map(drop);
            }
        }
        let mut desired = crd.clone();
        conditions::set(
            &mut desired,
            Condition {
                type_: "Terminating",
                status: "False",
                reason: "InstanceDeletionCompleted",
                message: "removed all instances",
            },
        );
        let mut done = self.update_status(crd, &desired).await?;
        let kept: Array = meta::finalizers(&done)
            .into_iter()
            .filter(|f| *f != CRD_CLEANUP_FINALIZER)
            .map(|f| Value::String(f.to_owned()))
            .collect();
        meta::metadata_mut(&mut done).insert("finalizers".to_owned(), Value::Array(kept));
        let Some(crd_resource) = self.crd_resource() else {
            return Ok(());
        };
        self.client
            .update(&crd_resource, &done, None)
            .await
            .map(drop)
    }

    async fn delete_instances(&self, resource: &Resource) {
        let prefix = keys::resource_prefix(&resource.group, &resource.plural);
        let targets: Vec<DeleteTarget> = self
            .client
            .server()
            .store()
            .range(prefix.as_bytes(), 0, None)
            .kvs
            .iter()
            .filter_map(|kv| meta::from_json_bytes(&kv.value))
            .filter(|o| meta::deletion_timestamp(o).is_none())
            .map(|o| DeleteTarget {
                resource: resource.clone(),
                namespace: meta::namespace(&o).map(str::to_owned),
                name: meta::name(&o).unwrap_or("").to_owned(),
                propagation: "Background",
            })
            .collect();
        for e in self.client.delete_all(targets).await {
            eprintln!(
                "wisp: deleting {} instances: {e}",
                resource.qualified_plural()
            );
        }
    }

    /// The CRD whose custom resources live under this key, if it is being deleted.
    fn terminating_owner_of(&self, group: &str, plural: &str) -> Option<String> {
        self.served
            .borrow()
            .iter()
            .find(|(_, s)| s.group == group && s.plural == plural)
            .map(|(name, _)| name.clone())
    }
}

impl Controller for CrdController {
    fn name(&self) -> &'static str {
        "crd controller"
    }

    fn queue(&self) -> &WorkQueue<String> {
        &self.queue
    }

    fn relisted(&self, items: &[Observed<'_>]) {
        let crds: Vec<&Observed<'_>> = items
            .iter()
            .filter(|i| i.key.group == GROUP && i.key.plural == PLURAL)
            .collect();
        let gone: Vec<String> = self
            .served
            .borrow()
            .keys()
            .filter(|name| !crds.iter().any(|c| c.key.name == name.as_str()))
            .cloned()
            .collect();
        for name in gone {
            self.unserve(&name);
        }
        for crd in crds {
            self.observe(crd);
        }
    }

    fn observe(&self, change: &Observed<'_>) {
        let key = change.key;
        if key.group == GROUP && key.plural == PLURAL {
            match (change.kind, change.object()) {
                (EventKind::Put, Some(crd)) => {
                    self.serve(key.name, crd);
                    self.queue.add(key.name.to_owned());
                }
                _ => self.unserve(key.name),
            }
            return;
        }
        // A custom resource of a CRD being deleted went away: check the cleanup again.
        if change.kind == EventKind::Delete
            && !key.group.is_empty()
            && let Some(name) = self.terminating_owner_of(key.group, key.plural)
        {
            self.queue.add(name);
        }
    }

    async fn reconcile(&self, name: &str) -> Result<(), ClientError> {
        let key = keys::object_key(GROUP, PLURAL, None, name);
        let store = self.client.server().store();
        let Some(crd) = store
            .get(key.as_bytes())
            .and_then(|kv| meta::from_json_bytes(&kv.value))
        else {
            return Ok(());
        };
        if meta::deletion_timestamp(&crd).is_some() {
            if meta::finalizers(&crd).contains(&CRD_CLEANUP_FINALIZER) {
                return self.clean_up(name, &crd).await;
            }
            return Ok(());
        }
        let desired = self.desired_status(name, &crd);
        self.update_status(&crd, &desired).await.map(drop)
    }
}
