//! The binder, the scheduler's claim checks and admission together against a real API
//! server over the store's in-memory backend; the node agent is simulated as in the
//! workload tests, and provisioned directories go to a temporary root.

use std::path::PathBuf;

use miniserde::json::Value;

use super::names;
use crate::object::meta;
use crate::workloads::tests::Cluster;

const CLAIMS_API: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const PODS_API: &str = "/api/v1/namespaces/default/pods";

struct Storage {
    c: Cluster,
    root: PathBuf,
}

impl Drop for Storage {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn cluster() -> Storage {
    let c = Cluster::new();
    c.add_node();
    let root = c.storage_root.clone();
    Storage { c, root }
}

fn claim(name: &str, class: Option<&str>, size: &str) -> String {
    let class = class.map_or(String::new(), |c| format!(r#""storageClassName":"{c}","#));
    format!(
        r#"{{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{{"name":"{name}"}},"spec":{{{class}"accessModes":["ReadWriteOnce"],"resources":{{"requests":{{"storage":"{size}"}}}}}}}}"#
    )
}

fn pod(name: &str, claim: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{"containers":[{{"name":"c","image":"busybox","volumeMounts":[{{"name":"data","mountPath":"/data"}}]}}],"volumes":[{{"name":"data","persistentVolumeClaim":{{"claimName":"{claim}"}}}}]}}}}"#
    )
}

fn manual_class(c: &Cluster, reclaim: &str) {
    c.create(
        "/apis/storage.k8s.io/v1/storageclasses",
        &format!(
            r#"{{"apiVersion":"storage.k8s.io/v1","kind":"StorageClass","metadata":{{"name":"manual"}},"provisioner":"kubernetes.io/no-provisioner","reclaimPolicy":"{reclaim}"}}"#
        ),
    );
}

fn manual_volume(c: &Cluster, name: &str, size: &str, reclaim: &str, dir: &str) {
    c.create(
        "/api/v1/persistentvolumes",
        &format!(
            r#"{{"apiVersion":"v1","kind":"PersistentVolume","metadata":{{"name":"{name}"}},"spec":{{"capacity":{{"storage":"{size}"}},"accessModes":["ReadWriteOnce"],"storageClassName":"manual","persistentVolumeReclaimPolicy":"{reclaim}","hostPath":{{"path":"{dir}"}}}}}}"#
        ),
    );
}

fn get_claim(c: &Cluster, name: &str) -> Option<Value> {
    super::pod_claims::get_claim(c.server().store(), "default", name)
}

fn get_volume(c: &Cluster, name: &str) -> Option<Value> {
    super::pod_claims::get_volume(c.server().store(), name)
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    meta::get_str(v, path).unwrap_or("")
}

fn annotation<'a>(v: &'a Value, key: &str) -> &'a str {
    s(v, &["metadata", "annotations", key])
}

fn delete(c: &Cluster, path: &str) {
    c.request("DELETE", path, "application/json", "");
}

#[test]
fn claims_get_the_default_class_the_finalizer_and_pending() {
    let t = cluster();
    let created = t.c.create(CLAIMS_API, &claim("data", None, "1Gi"));
    assert_eq!(s(&created, &["spec", "storageClassName"]), "local-path");
    assert_eq!(s(&created, &["spec", "volumeMode"]), "Filesystem");
    assert_eq!(s(&created, &["status", "phase"]), "Pending");
    assert_eq!(meta::finalizers(&created), vec![names::PVC_PROTECTION]);
    let explicit = t.c.create(CLAIMS_API, &claim("none", Some(""), "1Gi"));
    assert_eq!(s(&explicit, &["spec", "storageClassName"]), "");
    let (code, body) = t.c.try_request(
        "POST",
        CLAIMS_API,
        "application/json",
        r#"{"apiVersion":"v1","kind":"PersistentVolumeClaim","metadata":{"name":"bad"},"spec":{}}"#,
    );
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("spec.accessModes: Required value: at least 1 access mode is required"),
        "{body}"
    );
    assert!(
        body.contains("spec.resources[storage]: Required value"),
        "{body}"
    );
    // Waiting for a consumer: nothing is provisioned yet.
    t.c.settle();
    assert_eq!(
        s(&get_claim(&t.c, "data").unwrap(), &["status", "phase"]),
        "Pending"
    );
    assert!(t.c.list(super::VOLUMES).is_empty());
}

#[test]
fn immediate_claims_bind_the_smallest_matching_volume_with_upstream_annotations() {
    let t = cluster();
    manual_class(&t.c, "Retain");
    manual_volume(&t.c, "big", "10Gi", "Retain", "/srv/big");
    manual_volume(&t.c, "small", "2Gi", "Retain", "/srv/small");
    t.c.settle();
    assert_eq!(
        s(&get_volume(&t.c, "small").unwrap(), &["status", "phase"]),
        "Available"
    );
    t.c.create(CLAIMS_API, &claim("data", Some("manual"), "1Gi"));
    t.c.settle();
    let claim = get_claim(&t.c, "data").unwrap();
    assert_eq!(s(&claim, &["status", "phase"]), "Bound");
    assert_eq!(s(&claim, &["spec", "volumeName"]), "small");
    assert_eq!(s(&claim, &["status", "capacity", "storage"]), "2Gi");
    assert_eq!(annotation(&claim, names::BIND_COMPLETED), "yes");
    assert_eq!(annotation(&claim, names::BOUND_BY_CONTROLLER), "yes");
    let volume = get_volume(&t.c, "small").unwrap();
    assert_eq!(s(&volume, &["status", "phase"]), "Bound");
    assert_eq!(
        s(&volume, &["spec", "claimRef", "uid"]),
        s(&claim, &["metadata", "uid"])
    );
    assert_eq!(
        s(&get_volume(&t.c, "big").unwrap(), &["status", "phase"]),
        "Available"
    );
    // Retain: the volume stays, Released, when the claim goes.
    delete(&t.c, &format!("{CLAIMS_API}/data"));
    t.c.settle();
    assert!(get_claim(&t.c, "data").is_none());
    assert_eq!(
        s(&get_volume(&t.c, "small").unwrap(), &["status", "phase"]),
        "Released"
    );
}

#[test]
fn a_pod_with_an_unbound_immediate_claim_stays_pending() {
    let t = cluster();
    manual_class(&t.c, "Delete");
    t.c.create(CLAIMS_API, &claim("data", Some("manual"), "1Gi"));
    t.c.create(PODS_API, &pod("app", "data"));
    t.c.settle();
    let p = t.c.get("/registry/core/pods/default/app");
    assert!(meta::get_str(&p, &["spec", "nodeName"]).is_none());
    let cond = crate::workloads::objects::condition(&p, "PodScheduled").expect("condition");
    assert_eq!(
        s(cond, &["message"]),
        "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
    );
    // A matching volume appears: the claim binds and the pod is scheduled.
    manual_volume(&t.c, "pv1", "1Gi", "Delete", "/srv/pv1");
    t.c.settle();
    let p = t.c.get("/registry/core/pods/default/app");
    assert_eq!(s(&p, &["spec", "nodeName"]), "node1");
}

#[test]
fn wait_for_first_consumer_provisions_on_the_selected_node_and_delete_reclaims() {
    let t = cluster();
    t.c.create(CLAIMS_API, &claim("data", None, "1Gi"));
    t.c.create(PODS_API, &pod("app", "data"));
    t.c.settle();
    let claim = get_claim(&t.c, "data").unwrap();
    assert_eq!(s(&claim, &["status", "phase"]), "Bound");
    assert_eq!(annotation(&claim, names::SELECTED_NODE), "node1");
    assert_eq!(
        annotation(&claim, names::STORAGE_PROVISIONER),
        super::PROVISIONER
    );
    let pv_name = format!("pvc-{}", s(&claim, &["metadata", "uid"]));
    assert_eq!(s(&claim, &["spec", "volumeName"]), pv_name);
    let volume = get_volume(&t.c, &pv_name).unwrap();
    assert_eq!(s(&volume, &["status", "phase"]), "Bound");
    assert_eq!(
        s(&volume, &["spec", "persistentVolumeReclaimPolicy"]),
        "Delete"
    );
    assert_eq!(s(&volume, &["spec", "capacity", "storage"]), "1Gi");
    let dir = t.root.join(&pv_name);
    assert_eq!(
        s(&volume, &["spec", "hostPath", "path"]),
        dir.to_str().unwrap()
    );
    assert!(dir.is_dir());
    let p = t.c.get("/registry/core/pods/default/app");
    assert_eq!(s(&p, &["spec", "nodeName"]), "node1");
    // The node sees the host path in the pod it is sent.
    let mut sent = p.clone();
    assert!(super::pod_claims::resolve_host_paths(
        t.c.server().store(),
        &mut sent
    ));
    let v = meta::get_path(&sent, &["spec", "volumes"]).and_then(|v| match v {
        Value::Array(a) => a.first(),
        _ => None,
    });
    assert_eq!(
        s(v.unwrap(), &["persistentVolumeClaim", "wispHostPath"]),
        dir.to_str().unwrap()
    );

    // pvc-protection: the claim stays while the pod uses it.
    t.c.node_agent_step();
    delete(&t.c, &format!("{CLAIMS_API}/data"));
    t.c.settle();
    let deleting = get_claim(&t.c, "data").expect("kept while in use");
    assert!(meta::deletion_timestamp(&deleting).is_some());
    assert!(dir.is_dir());
    delete(&t.c, &format!("{PODS_API}/app"));
    t.c.node_agent_step();
    t.c.settle();
    assert!(get_claim(&t.c, "data").is_none());
    assert!(get_volume(&t.c, &pv_name).is_none());
    assert!(!dir.exists());
}

#[test]
fn a_bound_volume_is_kept_by_pv_protection() {
    let t = cluster();
    manual_class(&t.c, "Retain");
    manual_volume(&t.c, "pv1", "1Gi", "Retain", "/srv/pv1");
    t.c.create(CLAIMS_API, &claim("data", Some("manual"), "1Gi"));
    t.c.settle();
    delete(&t.c, "/api/v1/persistentvolumes/pv1");
    t.c.settle();
    let volume = get_volume(&t.c, "pv1").expect("kept while bound");
    assert_eq!(meta::finalizers(&volume), vec![names::PV_PROTECTION]);
    delete(&t.c, &format!("{CLAIMS_API}/data"));
    t.c.settle();
    assert!(get_volume(&t.c, "pv1").is_none());
}

#[test]
fn claim_spec_is_immutable_and_only_bound_expandable_claims_grow() {
    let t = cluster();
    t.c.create(CLAIMS_API, &claim("data", None, "1Gi"));
    let patch = |body: &str| {
        t.c.try_request(
            "PATCH",
            &format!("{CLAIMS_API}/data"),
            "application/merge-patch+json",
            body,
        )
    };
    let (code, body) = patch(r#"{"spec":{"accessModes":["ReadWriteMany"]}}"#);
    assert_eq!(code, 422, "{body}");
    assert!(body.contains("spec is immutable after creation"), "{body}");
    let grow = r#"{"spec":{"resources":{"requests":{"storage":"2Gi"}}}}"#;
    let (code, body) = patch(grow);
    assert_eq!(code, 422, "an unbound claim keeps its request: {body}");
    t.c.create(PODS_API, &pod("app", "data"));
    t.c.settle();
    let (code, body) = patch(grow);
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("only dynamically provisioned pvc can be resized and the storageclass that provisions the pvc must support resize"),
        "{body}"
    );
    t.c.merge(
        "/apis/storage.k8s.io/v1/storageclasses/local-path",
        r#"{"allowVolumeExpansion":true}"#,
    );
    t.c.merge(&format!("{CLAIMS_API}/data"), grow);
    let (code, body) = patch(r#"{"spec":{"resources":{"requests":{"storage":"512Mi"}}}}"#);
    assert_eq!(code, 422, "{body}");
    assert!(
        body.contains("field can not be less than status.capacity"),
        "{body}"
    );
}

#[test]
fn a_volume_bound_to_another_node_keeps_its_pod_pending() {
    let t = cluster();
    manual_class(&t.c, "Retain");
    t.c.create(
        "/api/v1/persistentvolumes",
        r#"{"apiVersion":"v1","kind":"PersistentVolume","metadata":{"name":"elsewhere"},"spec":{"capacity":{"storage":"1Gi"},"accessModes":["ReadWriteOnce"],"storageClassName":"manual","hostPath":{"path":"/srv/x"},
          "nodeAffinity":{"required":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"kubernetes.io/hostname","operator":"In","values":["other-node"]}]}]}}}}"#,
    );
    t.c.create(CLAIMS_API, &claim("data", Some("manual"), "1Gi"));
    t.c.create(PODS_API, &pod("app", "data"));
    t.c.settle();
    assert_eq!(
        s(&get_claim(&t.c, "data").unwrap(), &["status", "phase"]),
        "Bound"
    );
    let p = t.c.get("/registry/core/pods/default/app");
    assert!(meta::get_str(&p, &["spec", "nodeName"]).is_none());
    let cond = crate::workloads::objects::condition(&p, "PodScheduled").expect("condition");
    assert_eq!(
        s(cond, &["message"]),
        "0/1 nodes are available: 1 node(s) had volume node affinity conflict."
    );
}
