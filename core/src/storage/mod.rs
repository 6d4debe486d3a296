//! Persistent storage: PersistentVolumeClaims bound to PersistentVolumes, with a local-path
//! provisioner that makes one directory per volume under `<data-dir>/storage/`. The binder
//! ([`binder`]) is event-driven from store watches like the workload controllers; the
//! scheduler asks [`pod_claims`] whether a pod's claims let it be placed, and the node link
//! resolves each claim to its volume's host path before a pod reaches the node agent.

pub mod binder;
pub mod classes;
pub mod local_path;
pub mod matching;
pub mod pod_claims;

#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::rc::Rc;

use async_executor::LocalExecutor;

use crate::api::server::ApiServer;

/// The provisioner of wisp's built-in `local-path` StorageClass.
pub const PROVISIONER: &str = "wisp.io/local-path";
/// The default StorageClass created at first start.
pub const DEFAULT_CLASS: &str = "local-path";

pub const CLAIMS: &str = "/registry/core/persistentvolumeclaims/";
pub const VOLUMES: &str = "/registry/core/persistentvolumes/";
pub const CLASSES: &str = "/registry/storage.k8s.io/storageclasses/";

/// Upstream's annotations and finalizers, spelled as upstream spells them.
pub mod names {
    pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
    pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
    pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";
    pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
    pub const STORAGE_PROVISIONER: &str = "volume.kubernetes.io/storage-provisioner";
    pub const BETA_STORAGE_PROVISIONER: &str = "volume.beta.kubernetes.io/storage-provisioner";
    pub const IS_DEFAULT_CLASS: &str = "storageclass.kubernetes.io/is-default-class";
    pub const PVC_PROTECTION: &str = "kubernetes.io/pvc-protection";
    pub const PV_PROTECTION: &str = "kubernetes.io/pv-protection";
}

/// Starts the volume binder; provisioned volumes live under `root`.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>, root: PathBuf) {
    binder::spawn(executor, server, root);
}

/// The StorageClass object of the built-in default class (bootstrap creates it).
pub fn default_class_json() -> String {
    format!(
        r#"{{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{{"name":"{DEFAULT_CLASS}","annotations":{{"{}":"true"}}}},"provisioner":"{PROVISIONER}","reclaimPolicy":"Delete","volumeBindingMode":"WaitForFirstConsumer"}}"#,
        names::IS_DEFAULT_CLASS
    )
}
