//! Quota and LimitRange admission and the quota controller against a real API server over
//! the store's in-memory backend (the workload tests' cluster).

use miniserde::json::Value;

use super::{format, usage_of};
use crate::object::meta;
use crate::patch::value::parse;
use crate::workloads::tests::Cluster;

const PODS: &str = "/api/v1/namespaces/default/pods";
const QUOTAS: &str = "/api/v1/namespaces/default/resourcequotas";
const LIMITS: &str = "/api/v1/namespaces/default/limitranges";

fn cluster() -> Cluster {
    let c = Cluster::new();
    super::controller::spawn(c.executor(), c.server());
    c
}

fn pod(name: &str, resources: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{"containers":[{{"name":"c","image":"busybox","resources":{resources}}}]}}}}"#
    )
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    meta::get_str(v, path).unwrap_or("")
}

#[test]
fn amounts_print_in_canonical_forms() {
    assert_eq!(format("requests.cpu", 1500), "1500m");
    assert_eq!(format("cpu", 2000), "2");
    assert_eq!(format("requests.memory", 256 * 1024 * 1024 * 1000), "256Mi");
    assert_eq!(format("memory", 200_000_000 * 1000), "200M");
    assert_eq!(format("requests.storage", 0), "0");
    assert_eq!(format("pods", 3000), "3");
}

#[test]
fn pods_charge_requests_limits_and_a_count_until_they_finish() {
    let p = parse(&pod(
        "a",
        r#"{"requests":{"cpu":"250m","memory":"64Mi"},"limits":{"cpu":"1"}}"#,
    ))
    .unwrap();
    let u = usage_of("pods", &p);
    assert_eq!(u["pods"], 1000);
    assert_eq!(u["count/pods"], 1000);
    assert_eq!(u["requests.cpu"], 250);
    assert_eq!(u["cpu"], 250);
    assert_eq!(u["limits.cpu"], 1000);
    assert_eq!(u["requests.memory"], 64 * 1024 * 1024 * 1000);
    assert!(!u.contains_key("limits.memory"));
    let mut done = p.clone();
    meta::set_str(
        meta::ensure_object(&mut done, &["status"]),
        "phase",
        "Succeeded",
    );
    assert!(usage_of("pods", &done).is_empty());
}

#[test]
fn a_create_over_quota_is_refused_with_upstreams_message_and_status_shows_used() {
    let c = cluster();
    c.create(
        QUOTAS,
        r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"compute"},"spec":{"hard":{"pods":"2","requests.cpu":"1","configmaps":"1"}}}"#,
    );
    c.create(PODS, &pod("a", r#"{"requests":{"cpu":"500m"}}"#));
    c.create(PODS, &pod("b", r#"{"requests":{"cpu":"300m"}}"#));
    let (code, body) = c.try_request(
        "POST",
        PODS,
        "application/json",
        &pod("big", r#"{"requests":{"cpu":"500m"}}"#),
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"pods \"big\" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=500m, used: pods=2,requests.cpu=800m, limited: pods=2,requests.cpu=1"#),
        "{body}"
    );
    let (code, body) = c.try_request("POST", PODS, "application/json", &pod("none", "{}"));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains("failed quota: compute: must specify requests.cpu for: c"),
        "{body}"
    );
    c.settle();
    let q = c.get("/registry/core/resourcequotas/default/compute");
    assert_eq!(s(&q, &["status", "used", "pods"]), "2");
    assert_eq!(s(&q, &["status", "used", "requests.cpu"]), "800m");
    assert_eq!(s(&q, &["status", "used", "configmaps"]), "0");
    assert_eq!(s(&q, &["status", "hard", "requests.cpu"]), "1");
    // Deleting a pod frees its share (unbound pods go at once).
    c.request("DELETE", &format!("{PODS}/a"), "application/json", "");
    c.settle();
    let q = c.get("/registry/core/resourcequotas/default/compute");
    assert_eq!(s(&q, &["status", "used", "requests.cpu"]), "300m");
    c.create(PODS, &pod("big", r#"{"requests":{"cpu":"500m"}}"#));
}

#[test]
fn limit_ranges_default_containers_and_refuse_what_breaks_them() {
    let c = cluster();
    let lr = c.create(
        LIMITS,
        r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr"},"spec":{"limits":[
          {"type":"Container","max":{"cpu":"1"},"min":{"cpu":"100m"},"default":{"memory":"256Mi"},"maxLimitRequestRatio":{"cpu":"4"}},
          {"type":"Pod","max":{"memory":"1Gi"}}]}}"#,
    );
    let item = meta::get_path(&lr, &["spec", "limits"]).and_then(|l| match l {
        Value::Array(a) => a.first().cloned(),
        _ => None,
    });
    let item = item.unwrap();
    assert_eq!(s(&item, &["default", "cpu"]), "1", "default from max");
    assert_eq!(
        s(&item, &["defaultRequest", "memory"]),
        "256Mi",
        "request from default"
    );
    assert_eq!(s(&item, &["defaultRequest", "cpu"]), "1");

    let created = c.create(PODS, &pod("plain", "{}"));
    let res = |p: &Value, f: &str, r: &str| {
        let Some(Value::Array(cs)) = meta::get_path(p, &["spec", "containers"]) else {
            return String::new();
        };
        s(&cs[0], &["resources", f, r]).to_owned()
    };
    assert_eq!(res(&created, "limits", "cpu"), "1");
    assert_eq!(res(&created, "requests", "cpu"), "1");
    assert_eq!(res(&created, "limits", "memory"), "256Mi");
    assert_eq!(
        s(
            &created,
            &["metadata", "annotations", "kubernetes.io/limit-ranger"]
        ),
        "LimitRanger plugin set: cpu, memory request for container c; cpu, memory limit for container c"
    );
    assert_eq!(s(&created, &["status", "qosClass"]), "Guaranteed");

    let refused = |body: &str, want: &str| {
        let (code, text) = c.try_request("POST", PODS, "application/json", body);
        assert_eq!(code, 403, "{text}");
        assert!(text.contains(want), "want {want} in {text}");
    };
    refused(
        &pod(
            "small",
            r#"{"requests":{"cpu":"50m"},"limits":{"cpu":"100m"}}"#,
        ),
        r#"pods \"small\" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"#,
    );
    refused(
        &pod("large", r#"{"limits":{"cpu":"2"}}"#),
        "maximum cpu usage per Container is 1, but limit is 2",
    );
    refused(
        &pod(
            "ratio",
            r#"{"requests":{"cpu":"100m"},"limits":{"cpu":"1"}}"#,
        ),
        "cpu max limit to request ratio per Container is 4, but provided ratio is 10.000000",
    );
    refused(
        &pod("fat", r#"{"limits":{"memory":"2Gi"}}"#),
        "maximum memory usage per Pod is 1Gi, but limit is 2Gi",
    );
}

#[test]
fn other_kinds_are_counted_by_count_resources() {
    let c = cluster();
    c.create(
        QUOTAS,
        r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"objects"},"spec":{"hard":{"count/deployments.apps":"1"}}}"#,
    );
    c.settle();
    let q = c.get("/registry/core/resourcequotas/default/objects");
    assert_eq!(s(&q, &["status", "used", "count/deployments.apps"]), "0");
    let deployments = "/apis/apps/v1/namespaces/default/deployments";
    c.create(
        deployments,
        &crate::workloads::tests::deployment("a", 0, ""),
    );
    let (code, body) = c.try_request(
        "POST",
        deployments,
        "application/json",
        &crate::workloads::tests::deployment("b", 0, ""),
    );
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(r#"deployments.apps \"b\" is forbidden: exceeded quota: objects, requested: count/deployments.apps=1, used: count/deployments.apps=1, limited: count/deployments.apps=1"#),
        "{body}"
    );
    c.settle();
    let q = c.get("/registry/core/resourcequotas/default/objects");
    assert_eq!(s(&q, &["status", "used", "count/deployments.apps"]), "1");
}

#[test]
fn scoped_quotas_track_only_the_pods_their_scopes_select() {
    let c = cluster();
    c.create(
        QUOTAS,
        r#"{"apiVersion":"v1","kind":"ResourceQuota","metadata":{"name":"best-effort"},"spec":{"hard":{"pods":"1"},"scopes":["BestEffort"]}}"#,
    );
    c.create(PODS, &pod("sized", r#"{"requests":{"cpu":"100m"}}"#));
    c.create(PODS, &pod("free", "{}"));
    let (code, body) = c.try_request("POST", PODS, "application/json", &pod("free2", "{}"));
    assert_eq!(code, 403, "{body}");
    assert!(
        body.contains(
            "exceeded quota: best-effort, requested: pods=1, used: pods=1, limited: pods=1"
        ),
        "{body}"
    );
    c.create(PODS, &pod("sized2", r#"{"requests":{"cpu":"100m"}}"#));
    c.settle();
    let q = c.get("/registry/core/resourcequotas/default/best-effort");
    assert_eq!(s(&q, &["status", "used", "pods"]), "1");
}

#[test]
fn limit_ranges_are_validated_as_upstream() {
    let c = cluster();
    let (code, body) = c.try_request(
        "POST",
        LIMITS,
        "application/json",
        r#"{"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"bad"},"spec":{"limits":[
          {"type":"Container","min":{"cpu":"2"},"max":{"cpu":"1"},"maxLimitRequestRatio":{"memory":"500m"}},
          {"type":"Pod","default":{"cpu":"1"}},
          {"type":"PersistentVolumeClaim"}]}}"#,
    );
    assert_eq!(code, 422, "{body}");
    for want in [
        r#"spec.limits[0].min[cpu]: Invalid value: \"2\": min value 2 is greater than max value 1"#,
        r#"spec.limits[0].maxLimitRequestRatio[memory]: Invalid value: \"500m\": ratio 500m is less than 1"#,
        "spec.limits[1].default: Forbidden: may not be specified when `type` is 'Pod'",
        "spec.limits[2].limits: Required value: either minimum or maximum storage value is required, but neither was provided",
    ] {
        assert!(body.contains(want), "want {want} in {body}");
    }
}
