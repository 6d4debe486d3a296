//! The PersistentVolume controller: binds claims to volumes and volumes to claims, provisions
//! local-path volumes, reclaims released volumes, and lifts the pvc-protection and
//! pv-protection finalizers once nothing uses the object. Fed by watches on claims, volumes
//! and pods; one queue with claim keys (`c:<ns>/<name>`) and volume keys (`v:<name>`).
//!
//! Binding follows upstream's binder: the volume's claimRef first, then its Bound phase, then
//! the claim's volumeName with the bind-completed / bound-by-controller annotations, then the
//! claim's Bound phase with the volume's capacity and access modes. Claims of a
//! WaitForFirstConsumer class wait until the scheduler has written the selected-node
//! annotation; Immediate claims bind (or are provisioned) at once.

use std::cell::RefCell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::rc::Rc;

use async_executor::LocalExecutor;
use miniserde::json::Value;

use super::local_path::{self, Root};
use super::matching::{best_match, claimed_by};
use super::pod_claims::{get_claim, get_volume, host_path, is_bound, uses_claim};
use super::{CLAIMS, PROVISIONER, VOLUMES, classes, names};
use crate::api::server::ApiServer;
use crate::object::meta;
use crate::workloads::client::{Client, WriteError, keys};
use crate::workloads::events::{self, Event};
use crate::workloads::feed::{self, Change, queue_key};
use crate::workloads::objects::{self, string};
use crate::workloads::queue::{self, WorkQueue};

const COMPONENT: &str = "persistentvolume-controller";

pub struct Binder {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
    root: Root,
    /// `(uid, reason)` of the waiting events already recorded, so a claim that waits
    /// gets one event, not one per sync.
    told: RefCell<HashSet<(String, &'static str)>>,
}

/// Starts the binder: feeds from claims, volumes and pods; one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>, root: PathBuf) {
    let binder = Rc::new(Binder::new(executor, server, root));
    let store = server.store().clone();
    let q = Rc::clone(&binder.queue);
    let on_claim = move |c: Change| queue_for_claim(&q, &c);
    executor
        .spawn(feed::follow(
            store.clone(),
            CLAIMS.into(),
            Rc::new(on_claim),
        ))
        .detach();
    let q = Rc::clone(&binder.queue);
    let pending_store = store.clone();
    let on_volume = move |c: Change| {
        queue_for_volume(&q, &c);
        if became_available(&c) {
            queue_pending_claims(&q, &pending_store);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            VOLUMES.into(),
            Rc::new(on_volume),
        ))
        .detach();
    let q = Rc::clone(&binder.queue);
    let on_pod = move |c: Change| queue_for_pod(&q, &c);
    executor
        .spawn(feed::follow(store, keys::PODS.into(), Rc::new(on_pod)))
        .detach();
    let worker = Rc::clone(&binder);
    executor
        .spawn(queue::run_worker(
            Rc::clone(&binder.queue),
            Rc::clone(executor),
            move |key| {
                let b = Rc::clone(&worker);
                async move { b.sync(&key).await }
            },
        ))
        .detach();
}

fn queue_for_claim(q: &WorkQueue, c: &Change) {
    if let Some(key) = c.latest().and_then(queue_key) {
        q.add(format!("c:{key}"));
    }
    for claim in [&c.old, &c.new].into_iter().flatten() {
        if let Some(v) = meta::get_str(claim, &["spec", "volumeName"]).filter(|v| !v.is_empty()) {
            q.add(format!("v:{v}"));
        }
    }
}

fn queue_for_volume(q: &WorkQueue, c: &Change) {
    let Some(volume) = c.latest() else { return };
    q.add_key(meta::name(volume).map(|n| format!("v:{n}")));
    let r = |f: &str| meta::get_str(volume, &["spec", "claimRef", f]);
    if let (Some(ns), Some(name)) = (r("namespace"), r("name")) {
        q.add(format!("c:{ns}/{name}"));
    }
}

/// A volume without a claim appeared, or its claim let go of it: unbound claims may fit.
fn became_available(c: &Change) -> bool {
    let free = |v: &Value| {
        meta::get_path(v, &["spec", "claimRef"]).is_none_or(|r| matches!(r, Value::Null))
    };
    match (&c.old, &c.new) {
        (None, Some(new)) => free(new),
        (Some(old), Some(new)) => free(new) && !free(old),
        _ => false,
    }
}

fn queue_pending_claims(q: &WorkQueue, store: &wisp_store::Store) {
    for kv in store.range(CLAIMS.as_bytes(), 0, None).kvs.iter() {
        let Some(claim) = meta::from_json_bytes(&kv.value) else {
            continue;
        };
        if !is_bound(&claim) {
            q.add_key(queue_key(&claim).map(|k| format!("c:{k}")));
        }
    }
}

/// A pod that goes away or finishes may be the last user of a claim being deleted.
fn queue_for_pod(q: &WorkQueue, c: &Change) {
    let Some(old) = &c.old else { return };
    let released = c
        .new
        .as_ref()
        .is_none_or(|new| objects::is_terminal(new) && !objects::is_terminal(old));
    if !released {
        return;
    }
    let ns = meta::namespace(old).unwrap_or("");
    for claim in super::pod_claims::claim_names(old) {
        q.add(format!("c:{ns}/{claim}"));
    }
}

impl Binder {
    pub fn new(
        executor: &Rc<LocalExecutor<'static>>,
        server: &Rc<ApiServer>,
        root: PathBuf,
    ) -> Binder {
        Binder {
            client: Client::new(
                server,
                "persistent-volume-binder",
                "kube-controller-manager",
            ),
            queue: WorkQueue::new(),
            executor: Rc::clone(executor),
            root: Root(root),
            told: RefCell::new(HashSet::new()),
        }
    }

    pub async fn sync(&self, key: &str) -> Result<(), WriteError> {
        if let Some(rest) = key.strip_prefix("c:") {
            let (ns, name) = feed::split_queue_key(rest);
            self.sync_claim(ns, name).await
        } else if let Some(name) = key.strip_prefix("v:") {
            self.sync_volume(name).await
        } else {
            Ok(())
        }
    }

    fn store(&self) -> &wisp_store::Store {
        self.client.server().store()
    }

    fn event(&self, regarding: &Value, kind: &'static str, reason: &'static str, message: String) {
        let uid = meta::uid(regarding).unwrap_or("").to_owned();
        if kind == "Normal" && reason != "ProvisioningSucceeded" {
            // Waiting notices are recorded once per claim.
            if !self.told.borrow_mut().insert((uid, reason)) {
                return;
            }
        }
        let event = Event {
            kind,
            reason,
            message,
            component: COMPONENT,
        };
        events::emit(&self.executor, &self.client, regarding, event);
    }

    async fn sync_claim(&self, ns: &str, name: &str) -> Result<(), WriteError> {
        let Some(claim) = get_claim(self.store(), ns, name) else {
            return Ok(());
        };
        if objects::is_deleting(&claim) {
            return self.release_claim(&claim).await;
        }
        let wanted = meta::get_str(&claim, &["spec", "volumeName"]).unwrap_or("");
        if !wanted.is_empty() {
            return self.bind_named(&claim, wanted).await;
        }
        let class_name = classes::of_claim(&claim).to_owned();
        let class = (!class_name.is_empty())
            .then(|| classes::get(self.store(), &class_name))
            .flatten();
        let selected = objects::annotation(&claim, names::SELECTED_NODE).map(str::to_owned);
        if class.as_ref().is_some_and(classes::waits_for_consumer) && selected.is_none() {
            let message = "waiting for first consumer to be created before binding".to_owned();
            self.event(&claim, "Normal", "WaitForFirstConsumer", message);
            return Ok(());
        }
        let volumes = self.client.list(VOLUMES);
        if let Some(volume) = best_match(&claim, &volumes) {
            return self.bind(&claim, volume.clone(), false).await;
        }
        match class {
            Some(c) if classes::is_local_path(&c) => {
                self.provision(&claim, &c, selected.as_deref()).await
            }
            Some(c) => {
                let provisioner = meta::get_str(&c, &["provisioner"]).unwrap_or("");
                let message = format!(
                    "Waiting for a volume to be created either by the external provisioner '{provisioner}' or manually by the system administrator. If volume creation is delayed, please verify that the provisioner is running and correctly registered."
                );
                self.event(&claim, "Normal", "ExternalProvisioning", message);
                Ok(())
            }
            None if class_name.is_empty() => {
                let message =
                    "no persistent volumes available for this claim and no storage class is set"
                        .to_owned();
                self.event(&claim, "Normal", "FailedBinding", message);
                Ok(())
            }
            None => {
                let message = format!("storageclass.storage.k8s.io \"{class_name}\" not found");
                self.event(&claim, "Warning", "ProvisioningFailed", message);
                Ok(())
            }
        }
    }

    /// The claim names its volume (pre-bound by the user, or half-bound by us).
    async fn bind_named(&self, claim: &Value, volume_name: &str) -> Result<(), WriteError> {
        let Some(volume) = get_volume(self.store(), volume_name) else {
            return Ok(());
        };
        let free =
            meta::get_path(&volume, &["spec", "claimRef"]).is_none_or(|r| matches!(r, Value::Null));
        if free || claimed_by(&volume, claim) {
            let ours = objects::annotation(claim, names::BOUND_BY_CONTROLLER) == Some("yes");
            return self.bind(claim, volume, !ours).await;
        }
        let message = "volume already bound to a different claim".to_owned();
        self.event(claim, "Warning", "FailedBinding", message);
        Ok(())
    }

    async fn provision(
        &self,
        claim: &Value,
        class: &Value,
        selected: Option<&str>,
    ) -> Result<(), WriteError> {
        let name = local_path::volume_name(claim);
        let dir = match self.root.create(&name).await {
            Ok(dir) => dir,
            Err(e) => {
                let message = format!(
                    "failed to provision volume with StorageClass \"{}\": {e}",
                    meta::name(class).unwrap_or("")
                );
                self.event(claim, "Warning", "ProvisioningFailed", message.clone());
                return Err(WriteError::Other { code: 500, message });
            }
        };
        let hostname = self.hostname(selected);
        let volume = local_path::volume_for(
            claim,
            &dir,
            classes::reclaim_policy(class),
            hostname.as_deref(),
        );
        let created = match self
            .client
            .create("/api/v1/persistentvolumes", &volume)
            .await
        {
            Ok(v) => v,
            Err(WriteError::AlreadyExists) => {
                get_volume(self.store(), &name).ok_or(WriteError::NotFound)?
            }
            Err(e) => return Err(e),
        };
        let message = format!("Successfully provisioned volume {name}");
        self.event(claim, "Normal", "ProvisioningSucceeded", message);
        self.bind(claim, created, false).await
    }

    /// The hostname label of the selected node, or of the first node when none was
    /// selected (an Immediate claim on wisp's one node).
    fn hostname(&self, selected: Option<&str>) -> Option<String> {
        let nodes = self.client.list(keys::NODES);
        let node = match selected {
            Some(s) => nodes.iter().find(|n| meta::name(n) == Some(s)),
            None => nodes.first(),
        }?;
        let label = meta::get_str(node, &["metadata", "labels", "kubernetes.io/hostname"]);
        label.or(meta::name(node)).map(str::to_owned)
    }

    /// Binds `claim` and `volume` both ways; `user_named` says the claim's volumeName was
    /// set by its author, so the claim does not get bound-by-controller.
    async fn bind(&self, claim: &Value, volume: Value, user_named: bool) -> Result<(), WriteError> {
        let volume_name = meta::name(&volume).unwrap_or("").to_owned();
        let mut volume = volume;
        if !claimed_by(&volume, claim)
            || meta::get_str(&volume, &["spec", "claimRef", "uid"]).is_none_or(str::is_empty)
        {
            let mut updated = volume.clone();
            let spec = meta::ensure_object(&mut updated, &["spec"]);
            spec.insert("claimRef".to_owned(), local_path::claim_ref(claim));
            let md = meta::ensure_object(&mut updated, &["metadata", "annotations"]);
            meta::set_str(md, names::BOUND_BY_CONTROLLER, "yes");
            volume = self
                .client
                .update(&volume_path(&volume_name), &updated)
                .await?;
        }
        self.set_volume_phase(&volume, "Bound").await?;
        let claim = self.bind_claim_spec(claim, &volume, user_named).await?;
        self.set_claim_bound(&claim, &volume).await?;
        // A bound claim waits for nothing: forget its waiting notices.
        let uid = meta::uid(&claim).unwrap_or("");
        self.told.borrow_mut().retain(|(u, _)| u != uid);
        Ok(())
    }

    async fn bind_claim_spec(
        &self,
        claim: &Value,
        volume: &Value,
        user_named: bool,
    ) -> Result<Value, WriteError> {
        let volume_name = meta::name(volume).unwrap_or("");
        let provisioned = objects::annotation(volume, names::PROVISIONED_BY) == Some(PROVISIONER);
        let done = meta::get_str(claim, &["spec", "volumeName"]) == Some(volume_name)
            && objects::annotation(claim, names::BIND_COMPLETED) == Some("yes")
            && (!provisioned || objects::annotation(claim, names::STORAGE_PROVISIONER).is_some());
        if done {
            return Ok(claim.clone());
        }
        let mut updated = claim.clone();
        meta::set_str(
            meta::ensure_object(&mut updated, &["spec"]),
            "volumeName",
            volume_name,
        );
        let md = meta::ensure_object(&mut updated, &["metadata", "annotations"]);
        meta::set_str(md, names::BIND_COMPLETED, "yes");
        if !user_named {
            meta::set_str(md, names::BOUND_BY_CONTROLLER, "yes");
        }
        if provisioned {
            meta::set_str(md, names::STORAGE_PROVISIONER, PROVISIONER);
            meta::set_str(md, names::BETA_STORAGE_PROVISIONER, PROVISIONER);
        }
        self.client.update(&claim_path(claim), &updated).await
    }

    async fn set_claim_bound(&self, claim: &Value, volume: &Value) -> Result<(), WriteError> {
        let same = |f: &str| {
            meta::get_path(claim, &["status", f]).map(meta::to_json_bytes)
                == meta::get_path(volume, &["spec", f]).map(meta::to_json_bytes)
        };
        if is_bound(claim) && same("accessModes") && same("capacity") {
            return Ok(());
        }
        let mut updated = claim.clone();
        let status = meta::ensure_object(&mut updated, &["status"]);
        meta::set_str(status, "phase", "Bound");
        for f in ["accessModes", "capacity"] {
            if let Some(v) = meta::get_path(volume, &["spec", f]) {
                status.insert(f.to_owned(), v.clone());
            }
        }
        let path = format!("{}/status", claim_path(claim));
        self.client.update(&path, &updated).await.map(|_| ())
    }

    async fn set_volume_phase(&self, volume: &Value, phase: &str) -> Result<Value, WriteError> {
        if meta::get_str(volume, &["status", "phase"]) == Some(phase) {
            return Ok(volume.clone());
        }
        let mut updated = volume.clone();
        let status = meta::ensure_object(&mut updated, &["status"]);
        meta::set_str(status, "phase", phase);
        status.remove("message");
        status.remove("reason");
        let path = format!("{}/status", volume_path(meta::name(volume).unwrap_or("")));
        self.client.update(&path, &updated).await
    }

    /// pvc-protection: the finalizer goes once no pod that has not finished uses the claim.
    async fn release_claim(&self, claim: &Value) -> Result<(), WriteError> {
        if !meta::finalizers(claim).contains(&names::PVC_PROTECTION) {
            return Ok(());
        }
        let ns = meta::namespace(claim).unwrap_or("");
        let name = meta::name(claim).unwrap_or("");
        let in_use = self
            .client
            .list(&keys::in_namespace(keys::PODS, ns))
            .iter()
            .any(|p| !objects::is_terminal(p) && uses_claim(p, name));
        if in_use {
            return Ok(());
        }
        self.drop_finalizer(&claim_path(claim), claim, names::PVC_PROTECTION)
            .await
    }

    async fn drop_finalizer(
        &self,
        path: &str,
        object: &Value,
        finalizer: &str,
    ) -> Result<(), WriteError> {
        let mut updated = object.clone();
        let kept: Vec<Value> = meta::finalizers(object)
            .into_iter()
            .filter(|f| *f != finalizer)
            .map(string)
            .collect();
        meta::metadata_mut(&mut updated).insert("finalizers".to_owned(), objects::array(kept));
        self.client.update(path, &updated).await.map(|_| ())
    }

    async fn sync_volume(&self, name: &str) -> Result<(), WriteError> {
        let Some(volume) = get_volume(self.store(), name) else {
            return Ok(());
        };
        let phase = meta::get_str(&volume, &["status", "phase"]).unwrap_or("");
        if objects::is_deleting(&volume) {
            // pv-protection: a volume is kept while it is bound.
            if phase != "Bound" && meta::finalizers(&volume).contains(&names::PV_PROTECTION) {
                return self
                    .drop_finalizer(&volume_path(name), &volume, names::PV_PROTECTION)
                    .await;
            }
            if phase == "Bound" && self.claim_of(&volume).is_none() {
                self.set_volume_phase(&volume, "Released").await?;
            }
            return Ok(());
        }
        let r = |f: &str| meta::get_str(&volume, &["spec", "claimRef", f]).unwrap_or("");
        if r("name").is_empty() {
            return self
                .set_volume_phase(&volume, "Available")
                .await
                .map(|_| ());
        }
        match self.claim_of(&volume) {
            Some(claim)
                if is_bound(&claim)
                    && meta::get_str(&claim, &["spec", "volumeName"]) == Some(name) =>
            {
                self.set_volume_phase(&volume, "Bound").await.map(|_| ())
            }
            // The claim's own sync finishes the binding.
            Some(_) => Ok(()),
            None if r("uid").is_empty() => self
                .set_volume_phase(&volume, "Available")
                .await
                .map(|_| ()),
            None => self.reclaim(volume).await,
        }
    }

    /// The claim the volume's claimRef names, if it still exists with that uid.
    fn claim_of(&self, volume: &Value) -> Option<Value> {
        let r = |f: &str| meta::get_str(volume, &["spec", "claimRef", f]).unwrap_or("");
        let claim = get_claim(self.store(), r("namespace"), r("name"))?;
        (r("uid").is_empty() || meta::uid(&claim) == Some(r("uid"))).then_some(claim)
    }

    /// The claim is gone: Released, then with the Delete policy the directory (when the
    /// local-path provisioner made it) and the object go.
    async fn reclaim(&self, volume: Value) -> Result<(), WriteError> {
        let phase = meta::get_str(&volume, &["status", "phase"]).unwrap_or("");
        let volume = if matches!(phase, "Released" | "Failed") {
            volume
        } else {
            self.set_volume_phase(&volume, "Released").await?
        };
        let policy =
            meta::get_str(&volume, &["spec", "persistentVolumeReclaimPolicy"]).unwrap_or("Retain");
        if policy != "Delete" {
            return Ok(());
        }
        let name = meta::name(&volume).unwrap_or("").to_owned();
        let ours = objects::annotation(&volume, names::PROVISIONED_BY) == Some(PROVISIONER);
        if let (true, Some((path, _))) = (ours, host_path(&volume))
            && let Err(e) = self.root.remove(PathBuf::from(path)).await
        {
            let message = format!("error deleting volume {name}: {e}");
            self.event(&volume, "Warning", "VolumeFailedDelete", message.clone());
            return Err(WriteError::Other { code: 500, message });
        }
        self.client.delete(&volume_path(&name)).await
    }
}

fn volume_path(name: &str) -> String {
    format!("/api/v1/persistentvolumes/{name}")
}

fn claim_path(claim: &Value) -> String {
    format!(
        "/api/v1/namespaces/{}/persistentvolumeclaims/{}",
        meta::namespace(claim).unwrap_or(""),
        meta::name(claim).unwrap_or("")
    )
}
