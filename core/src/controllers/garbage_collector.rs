//! The garbage collector: deletes dependents whose owners are gone (background), deletes
//! an owner's dependents before the owner under the `foregroundDeletion` finalizer (waiting
//! only for dependents with blockOwnerDeletion), and for the `orphan` finalizer removes the
//! owner from its dependents' ownerReferences. The rules are upstream's
//! (pkg/controller/garbagecollector): owners are verified by reading them, deletes carry a
//! UID precondition, and the propagation policy follows the dependent's own finalizers.

use std::cell::RefCell;

use miniserde::json::{Array, Value};
use wisp_store::EventKind;

use super::client::{Client, ClientError};
use super::owner_index::{OwnerIndex, OwnerRef, owner_refs};
use super::queue::WorkQueue;
use super::{Controller, Observed};
use crate::api::delete::{FOREGROUND_FINALIZER, ORPHAN_FINALIZER};
use crate::object::{keys, meta};
use crate::registry::{Registry, Resource};

pub struct GarbageCollector {
    client: Client,
    index: RefCell<OwnerIndex>,
    queue: WorkQueue<String>,
}

/// What a dependent finds when it looks its owner up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OwnerState {
    /// Exists and is not being deleted in the foreground.
    Solid,
    /// Gone, or the name now belongs to an object with another UID.
    Absent,
    /// Being deleted in the foreground: waiting for its dependents to go.
    WaitingForDependents,
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// The type of objects of (apiVersion, kind); any served version of the group will do,
/// since all versions share the storage key.
fn resource_of(registry: &Registry, api_version: &str, kind: &str) -> Option<Resource> {
    let (group, version) = split_api_version(api_version);
    registry
        .by_kind(group, version, kind)
        .or_else(|| {
            registry
                .all()
                .iter()
                .find(|r| r.group == group && r.kind == kind)
        })
        .cloned()
}

fn has_gc_finalizer(object: &Value) -> bool {
    meta::finalizers(object)
        .iter()
        .any(|f| *f == ORPHAN_FINALIZER || *f == FOREGROUND_FINALIZER)
}

impl GarbageCollector {
    pub fn new(client: Client) -> GarbageCollector {
        GarbageCollector {
            client,
            index: RefCell::new(OwnerIndex::default()),
            queue: WorkQueue::new(),
        }
    }

    /// Number of objects with ownerReferences being tracked.
    pub fn tracked(&self) -> usize {
        self.index.borrow().len()
    }

    /// The owner's type and store key, seen from a dependent in `namespace`.
    fn owner_key(&self, namespace: Option<&str>, owner: &OwnerRef) -> Option<(Resource, String)> {
        let registry = self.client.server().registry().borrow();
        let resource = resource_of(&registry, &owner.api_version, &owner.kind)?;
        let ns = namespace.filter(|_| resource.namespaced());
        let key = keys::object_key(&resource.group, &resource.plural, ns, &owner.name);
        Some((resource, key))
    }

    fn queue_owners(&self, namespace: Option<&str>, object: &Value) {
        for owner in owner_refs(object) {
            if let Some((_, key)) = self.owner_key(namespace, &owner) {
                self.queue.add(key);
            }
        }
    }

    fn owner_state(&self, namespace: Option<&str>, owner: &OwnerRef) -> OwnerState {
        // A type we cannot resolve cannot be verified: keep the dependent, as upstream does.
        let Some((resource, key)) = self.owner_key(namespace, owner) else {
            return OwnerState::Solid;
        };
        if namespace.is_none() && resource.namespaced() {
            // A cluster-scoped dependent cannot name a namespaced owner: upstream treats the
            // reference as unresolvable and never collects the dependent for it.
            return OwnerState::Solid;
        }
        let store = self.client.server().store();
        let Some(object) = store
            .get(key.as_bytes())
            .and_then(|kv| meta::from_json_bytes(&kv.value))
        else {
            return OwnerState::Absent;
        };
        if meta::uid(&object) != Some(owner.uid.as_str()) {
            return OwnerState::Absent;
        }
        let foreground = meta::finalizers(&object).contains(&FOREGROUND_FINALIZER);
        if meta::deletion_timestamp(&object).is_some() && foreground {
            OwnerState::WaitingForDependents
        } else {
            OwnerState::Solid
        }
    }

    fn resource_of_object(&self, object: &Value) -> Option<Resource> {
        let registry = self.client.server().registry().borrow();
        resource_of(
            &registry,
            meta::get_str(object, &["apiVersion"])?,
            meta::get_str(object, &["kind"])?,
        )
    }

    fn read(&self, key: &str) -> Option<Value> {
        let kv = self.client.server().store().get(key.as_bytes())?;
        meta::from_json_bytes(&kv.value)
    }

    /// A dependent: delete it if no owner holds it, or drop references to owners that are
    /// gone (or going) while another owner still holds it.
    async fn attempt_to_delete(&self, object: &Value) -> Result<(), ClientError> {
        let refs = owner_refs(object);
        let namespace = meta::namespace(object);
        let mut solid = false;
        let mut waiting = false;
        let mut stale = Vec::new();
        for owner in &refs {
            match self.owner_state(namespace, owner) {
                OwnerState::Solid => solid = true,
                OwnerState::Absent => stale.push(owner.uid.clone()),
                OwnerState::WaitingForDependents => {
                    waiting = true;
                    stale.push(owner.uid.clone());
                }
            }
        }
        if refs.is_empty() || (solid && stale.is_empty()) {
            return Ok(());
        }
        if solid {
            return self.drop_owner_refs(object, &stale).await;
        }
        let uid = meta::uid(object).unwrap_or("");
        let has_dependents = !self.index.borrow().dependents(uid).is_empty();
        let finalizers = meta::finalizers(object);
        let policy = if waiting && has_dependents {
            "Foreground"
        } else if finalizers.contains(&ORPHAN_FINALIZER) {
            "Orphan"
        } else if finalizers.contains(&FOREGROUND_FINALIZER) {
            "Foreground"
        } else {
            "Background"
        };
        let Some(resource) = self.resource_of_object(object) else {
            return Ok(());
        };
        let name = meta::name(object).unwrap_or("");
        self.client
            .delete(&resource, namespace, name, policy, Some(uid))
            .await
    }

    async fn drop_owner_refs(&self, object: &Value, uids: &[String]) -> Result<(), ClientError> {
        let Some(resource) = self.resource_of_object(object) else {
            return Ok(());
        };
        let mut updated = object.clone();
        let md = meta::metadata_mut(&mut updated);
        if let Some(Value::Array(list)) = md.get_mut("ownerReferences") {
            list.retain(|r| !uids.iter().any(|u| meta::get_str(r, &["uid"]) == Some(u)));
            if list.is_empty() {
                md.remove("ownerReferences");
            }
        }
        self.client
            .update(&resource, &updated, None)
            .await
            .map(drop)
    }

    async fn remove_finalizer(&self, object: &Value, finalizer: &str) -> Result<(), ClientError> {
        let Some(resource) = self.resource_of_object(object) else {
            return Ok(());
        };
        let mut updated = object.clone();
        let kept: Array = meta::finalizers(object)
            .into_iter()
            .filter(|f| *f != finalizer)
            .map(|f| Value::String(f.to_owned()))
            .collect();
        meta::metadata_mut(&mut updated).insert("finalizers".to_owned(), Value::Array(kept));
        self.client
            .update(&resource, &updated, None)
            .await
            .map(drop)
    }

    /// Foreground deletion: every dependent is deleted; the owner goes once those that
    /// block it (blockOwnerDeletion) are gone.
    async fn delete_dependents(&self, owner: &Value) -> Result<(), ClientError> {
        let uid = meta::uid(owner).unwrap_or("");
        let dependents = self.index.borrow().dependents(uid).to_vec();
        for dependent in &dependents {
            self.queue.add(dependent.key.clone());
        }
        if dependents.iter().any(|d| d.blocking) {
            // Their deletions (or ownerReference changes) bring the owner back here.
            return Ok(());
        }
        self.remove_finalizer(owner, FOREGROUND_FINALIZER).await
    }

    /// Orphan deletion: the owner's reference is removed from every dependent, then the
    /// owner goes.
    async fn orphan_dependents(&self, owner: &Value) -> Result<(), ClientError> {
        let uid = meta::uid(owner).unwrap_or("").to_owned();
        let dependents = self.index.borrow().dependents(&uid).to_vec();
        for dependent in dependents {
            let Some(object) = self.read(&dependent.key) else {
                continue;
            };
            match self
                .drop_owner_refs(&object, std::slice::from_ref(&uid))
                .await
            {
                Err(e) if e.not_found() => {}
                other => other?,
            }
        }
        self.remove_finalizer(owner, ORPHAN_FINALIZER).await
    }

    fn track(&self, change: &Observed<'_>, object: &Value) {
        let key = change.key.full;
        let namespace = change.key.namespace;
        match change.kind {
            EventKind::Put => {
                let refs = owner_refs(object);
                let changed = self.index.borrow_mut().set(key, &refs);
                if changed && let Some(previous) = change.previous() {
                    // An owner in foreground deletion may have stopped being blocked.
                    self.queue_owners(namespace, previous);
                }
                let deleting = meta::deletion_timestamp(object).is_some();
                if (!refs.is_empty() && !deleting) || (deleting && has_gc_finalizer(object)) {
                    self.queue.add(key.to_owned());
                }
            }
            EventKind::Delete => {
                self.index.borrow_mut().remove(key);
                self.queue_owners(namespace, object);
                let uid = meta::uid(object).unwrap_or("");
                let dependents = self.index.borrow().dependents(uid).to_vec();
                for dependent in dependents {
                    self.queue.add(dependent.key);
                }
            }
        }
    }
}

impl Controller for GarbageCollector {
    fn name(&self) -> &'static str {
        "garbage collector"
    }

    fn queue(&self) -> &WorkQueue<String> {
        &self.queue
    }

    fn relisted(&self, items: &[Observed<'_>]) {
        self.index.borrow_mut().clear();
        for item in items {
            let relevant =
                item.contains(b"\"ownerReferences\"") || item.contains(b"\"deletionTimestamp\"");
            if relevant && let Some(object) = item.object() {
                self.track(item, object);
            }
        }
    }

    fn observe(&self, change: &Observed<'_>) {
        let interesting = change.contains(b"\"ownerReferences\"")
            || change.contains(b"\"deletionTimestamp\"")
            || (change.kind == EventKind::Delete && !self.index.borrow().is_empty())
            || self.index.borrow().is_dependent(change.key.full);
        if !interesting {
            return;
        }
        if let Some(object) = change.object() {
            self.track(change, object);
        }
    }

    async fn reconcile(&self, key: &str) -> Result<(), ClientError> {
        let Some(object) = self.read(key) else {
            return Ok(());
        };
        if meta::deletion_timestamp(&object).is_none() {
            return self.attempt_to_delete(&object).await;
        }
        let finalizers = meta::finalizers(&object);
        if finalizers.contains(&ORPHAN_FINALIZER) {
            self.orphan_dependents(&object).await
        } else if finalizers.contains(&FOREGROUND_FINALIZER) {
            self.delete_dependents(&object).await
        } else {
            Ok(())
        }
    }
}
