//! The messages. Enum variants are encoded by their index: append new variants at the end
//! and bump [`crate::VERSION`] when a variant's fields change.

use serde::{Deserialize, Serialize};

/// Control plane to node agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ToNode {
    Hello {
        version: u16,
    },
    /// A pod bound to this node was created or changed: the stored object's JSON.
    PodUpsert {
        uid: String,
        json: Vec<u8>,
    },
    /// The pod's object is gone from the store.
    PodRemoved {
        uid: String,
    },
    /// The answer to [`FromNode::Get`]: the object's JSON, `None` when it does not exist.
    Object {
        request: u32,
        json: Option<Vec<u8>>,
    },
    /// The answer to [`FromNode::RequestToken`].
    Token {
        request: u32,
        result: Result<GrantedToken, String>,
    },
    /// A ConfigMap or Secret changed or was deleted (the node re-reads what its pods mount).
    ConfigChanged {
        kind: ConfigKind,
        namespace: String,
        name: String,
    },
    /// Every pod bound to this node has been sent (after the first listing and after a
    /// relist): pods the node runs that were not among them are gone.
    PodsSynced {
        uids: Vec<String>,
    },
    /// A Service was created or changed: `key` is `<namespace>/<name>`, `json` the stored
    /// object.
    ServiceUpsert {
        key: String,
        json: Vec<u8>,
    },
    /// The Service under `key` is gone.
    ServiceRemoved {
        key: String,
    },
    /// An Endpoints object (the ready and not-ready addresses of a Service, written by the
    /// Endpoints controller or by hand for a Service without selector) was created or
    /// changed; `key` is `<namespace>/<name>`, the Service's own.
    EndpointsUpsert {
        key: String,
        json: Vec<u8>,
    },
    /// The Endpoints object under `key` is gone.
    EndpointsRemoved {
        key: String,
    },
    /// Every Service (`services`) or every Endpoints object (`endpoints`) has been sent
    /// after the first listing or a relist: the keys of that kind not listed are gone. One
    /// message per kind; the node renders Service rules only once both kinds have synced.
    ServicesSynced {
        kind: ServiceObjectKind,
        keys: Vec<String>,
    },
    /// A NetworkPolicy (`key` = `<namespace>/<name>`) or a Namespace (`key` = its name; the
    /// node reads its labels for namespace selectors) was created or changed: the stored
    /// object (every one of the cluster).
    NetworkObjectUpsert {
        kind: NetworkObjectKind,
        key: String,
        json: Vec<u8>,
    },
    /// The object of that kind under `key` is gone.
    NetworkObjectRemoved {
        kind: NetworkObjectKind,
        key: String,
    },
    /// Every object of the kind has been sent after the first listing or a relist: keys of
    /// that kind not listed are gone. The node enforces NetworkPolicy only once both kinds
    /// have synced, so a restart never opens isolated pods for a moment.
    NetworkObjectsSynced {
        kind: NetworkObjectKind,
        keys: Vec<String>,
    },
}

/// Node agent to control plane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum FromNode {
    Hello {
        version: u16,
        node_name: String,
    },
    /// The node's `status` (capacity, allocatable, conditions, addresses, nodeInfo) as JSON,
    /// and the labels the agent sets (os, arch, hostname).
    NodeStatus {
        status_json: Vec<u8>,
        labels: Vec<(String, String)>,
    },
    /// A pod's whole `status` as JSON; applied only while the pod has this uid.
    PodStatus {
        namespace: String,
        name: String,
        uid: String,
        status_json: Vec<u8>,
    },
    /// Every container of a deleted pod has stopped and its resources are released: the
    /// control plane removes the object (the kubelet's final delete with grace 0).
    PodTerminated {
        namespace: String,
        name: String,
        uid: String,
    },
    /// An Event about an object.
    Event(Event),
    /// Read one object.
    Get {
        request: u32,
        kind: ObjectKind,
        namespace: String,
        name: String,
    },
    /// A bound ServiceAccount token for a pod's projected volume (TokenRequest).
    RequestToken {
        request: u32,
        namespace: String,
        service_account: String,
        audience: Option<String>,
        expiration_seconds: i64,
        pod_name: String,
        pod_uid: String,
    },
    /// Merge `status_json` (a whole `status` object, such as `{"loadBalancer":{...}}`) into
    /// the Service's status, only while the Service has this uid.
    ServiceStatus {
        namespace: String,
        name: String,
        uid: String,
        status_json: Vec<u8>,
    },
    /// The node is alive: sent once after `NodeStatus` and then every 10 s (the kubelet's
    /// lease renew interval); the control plane renews the node's Lease in kube-node-lease.
    Heartbeat,
}

/// What [`ToNode::ServicesSynced`] closes the listing of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServiceObjectKind {
    Service,
    Endpoints,
}

/// What the `NetworkObject*` messages carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetworkObjectKind {
    NetworkPolicy,
    Namespace,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConfigKind {
    ConfigMap,
    Secret,
}

/// What [`FromNode::Get`] can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectKind {
    ConfigMap,
    Secret,
    ServiceAccount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GrantedToken {
    pub token: String,
    /// Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    pub namespace: String,
    pub involved_kind: String,
    pub involved_name: String,
    pub involved_uid: String,
    /// `spec.containers{name}` and the like, or empty.
    pub field_path: String,
    pub reason: String,
    pub message: String,
    pub warning: bool,
}
