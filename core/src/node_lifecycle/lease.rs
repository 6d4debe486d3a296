//! The node's Lease in kube-node-lease, renewed as upstream's kubelet renews it: holder the
//! node's name, leaseDurationSeconds 40, renewTime now (MicroTime), owned by the Node so it
//! goes with it. Leases live under a volatile store prefix: renewing writes nothing to disk.

use std::time::SystemTime;

use miniserde::json::Value;

use crate::object::{meta, time};
use crate::workloads::client::{Client, WriteError, keys};
use crate::workloads::objects::{array, int, object, string};

/// The namespace of node Leases.
pub const NAMESPACE: &str = "kube-node-lease";
/// The kubelet's lease duration; it renews every quarter of it (10 s).
pub const DURATION_SECONDS: i64 = 40;
/// Storage prefix of node Leases.
pub const PREFIX: &str = "/registry/coordination.k8s.io/leases/kube-node-lease/";

fn path(name: &str) -> String {
    format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{name}")
}

/// The renewTime of the node's Lease, in seconds since the epoch.
pub fn renewed_at(lease: &Value) -> Option<i64> {
    meta::get_str(lease, &["spec", "renewTime"]).and_then(time::parse_rfc3339)
}

/// Creates or renews `node`'s Lease at `now`; one retry after a conflict.
pub async fn renew(client: &Client, node: &str, now: SystemTime) -> Result<(), WriteError> {
    let node_uid = client
        .get(&format!("{}{node}", keys::NODES))
        .and_then(|n| meta::uid(&n).map(str::to_owned));
    let mut last = Ok(());
    for _ in 0..2 {
        last = renew_once(client, node, node_uid.as_deref(), now).await;
        if last != Err(WriteError::Conflict) && last != Err(WriteError::AlreadyExists) {
            return last;
        }
    }
    last
}

async fn renew_once(
    client: &Client,
    node: &str,
    node_uid: Option<&str>,
    now: SystemTime,
) -> Result<(), WriteError> {
    let spec = object([
        ("holderIdentity", string(node)),
        ("leaseDurationSeconds", int(DURATION_SECONDS)),
        ("renewTime", string(time::format_rfc3339_micros(now))),
    ]);
    let owners = node_uid.map(|uid| {
        array(vec![object([
            ("apiVersion", string("v1")),
            ("kind", string("Node")),
            ("name", string(node)),
            ("uid", string(uid)),
        ])])
    });
    let Some(mut lease) = client.get(&format!("{PREFIX}{node}")) else {
        let mut metadata = object([("name", string(node)), ("namespace", string(NAMESPACE))]);
        if let (Some(o), Some(m)) = (owners, meta::as_object_mut(&mut metadata)) {
            m.insert("ownerReferences".to_owned(), o);
        }
        let lease = object([
            ("apiVersion", string("coordination.k8s.io/v1")),
            ("kind", string("Lease")),
            ("metadata", metadata),
            ("spec", spec),
        ]);
        let collection = format!("/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases");
        return client.create(&collection, &lease).await.map(|_| ());
    };
    let metadata = meta::metadata_mut(&mut lease);
    if let Some(o) = owners.filter(|_| !metadata.contains_key("ownerReferences")) {
        metadata.insert("ownerReferences".to_owned(), o);
    }
    if let Some(obj) = meta::as_object_mut(&mut lease) {
        obj.insert("spec".to_owned(), spec);
    }
    client.update(&path(node), &lease).await.map(|_| ())
}
