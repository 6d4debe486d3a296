use super::*;
use crate::admission::allocator::{Allocators, ServiceNetwork};
use crate::admission::tests::{parse, temp_store};
use crate::registry::Registry;
use wisp_store::Store;

struct Fixture {
    store: Store,
    resource: crate::registry::Resource,
    allocators: Allocators,
}

impl Fixture {
    fn new(network: ServiceNetwork) -> Fixture {
        let registry = Registry::new();
        Fixture {
            store: temp_store(),
            resource: registry
                .get("", "v1", "services")
                .expect("registered")
                .clone(),
            allocators: Allocators::new(network),
        }
    }

    /// Defaults, validates and allocates like `admit`, returning the object or the error.
    fn admit(&self, svc: &str, old: Option<&Value>) -> Result<Value, ApiError> {
        let mut svc = parse(svc);
        let ctx = Context {
            store: &self.store,
            resource: &self.resource,
            operation: if old.is_some() {
                Operation::Update
            } else {
                Operation::Create
            },
            subresource: None,
            old,
            user: "test",
            allocators: &self.allocators,
            dry_run: false,
        };
        default(&mut svc);
        if let Some(old) = old {
            carry_over(old, &mut svc);
        }
        let mut causes = Vec::new();
        validate(&ctx, &svc, &mut causes);
        if !causes.is_empty() {
            return Err(ApiError::invalid(
                "",
                "Service",
                meta::name(&svc).unwrap_or(""),
                causes,
            ));
        }
        allocate(&ctx, &mut svc)?;
        Ok(svc)
    }

    /// Writes the object to the store as the API would after admission.
    fn store_it(&self, svc: &Value) {
        let key = format!(
            "/registry/core/services/{}/{}",
            meta::namespace(svc).unwrap(),
            meta::name(svc).unwrap()
        );
        futures_lite::future::block_on(self.store.put(
            key.as_bytes(),
            wisp_store::Value::Bytes(meta::to_json_bytes(svc)),
        ))
        .unwrap();
    }

    fn create(&self, svc: &str) -> Value {
        let v = self.admit(svc, None).expect("admitted");
        self.store_it(&v);
        v
    }

    fn delete(&self, ns: &str, name: &str) {
        let key = format!("/registry/core/services/{ns}/{name}");
        futures_lite::future::block_on(self.store.delete(key.as_bytes())).unwrap();
    }
}

fn svc(name: &str, spec: &str) -> String {
    format!(r#"{{"metadata":{{"name":"{name}","namespace":"default"}},"spec":{spec}}}"#)
}

const WEB: &str = r#"{"selector":{"app":"web"},"ports":[{"port":80}]}"#;

#[test]
fn defaults_and_first_allocation() {
    let f = Fixture::new(ServiceNetwork::default());
    let v = f.create(&svc("web", WEB));
    let s = |p: &[&str]| meta::get_str(&v, p).map(str::to_owned);
    assert_eq!(s(&["spec", "type"]).as_deref(), Some("ClusterIP"));
    assert_eq!(s(&["spec", "sessionAffinity"]).as_deref(), Some("None"));
    assert_eq!(
        s(&["spec", "ipFamilyPolicy"]).as_deref(),
        Some("SingleStack")
    );
    assert_eq!(
        s(&["spec", "internalTrafficPolicy"]).as_deref(),
        Some("Cluster")
    );
    let port = &array(&v, &["spec", "ports"])[0];
    assert_eq!(meta::get_str(port, &["protocol"]), Some("TCP"));
    assert_eq!(meta::get_i64(port, &["targetPort"]), Some(80));
    // .0, .1 (kubernetes) and .10 (DNS) are never handed out on their own.
    assert_eq!(s(&["spec", "clusterIP"]).as_deref(), Some("10.43.0.2"));
    let ips = meta::get_path(&v, &["spec", "clusterIPs"]).map(miniserde::json::to_string);
    assert_eq!(ips.as_deref(), Some(r#"["10.43.0.2"]"#));
}

#[test]
fn requested_ip_is_honoured_once() {
    let f = Fixture::new(ServiceNetwork::default());
    let k = f.create(&svc(
        "kubernetes",
        r#"{"clusterIP":"10.43.0.1","ports":[{"port":443}]}"#,
    ));
    assert_eq!(meta::get_str(&k, &["spec", "clusterIP"]), Some("10.43.0.1"));
    let e = f
        .admit(
            &svc(
                "other",
                r#"{"clusterIP":"10.43.0.1","ports":[{"port":443}]}"#,
            ),
            None,
        )
        .unwrap_err();
    assert_eq!(e.code, 422);
    assert_eq!(
        e.message,
        "Service \"other\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.43.0.1\"}: failed to allocate IP 10.43.0.1: provided IP is already allocated"
    );
    let outside = f
        .admit(
            &svc("o", r#"{"clusterIP":"10.44.0.1","ports":[{"port":1}]}"#),
            None,
        )
        .unwrap_err();
    assert!(outside.message.ends_with(
        "failed to allocate IP 10.44.0.1: the provided IP (10.44.0.1) is not in the valid range. The range of valid IPs is 10.43.0.0/16"
    ), "{}", outside.message);
    // Re-creating an existing Service is AlreadyExists, not an address conflict.
    let again = f
        .admit(
            &svc(
                "kubernetes",
                r#"{"clusterIP":"10.43.0.1","ports":[{"port":443}]}"#,
            ),
            None,
        )
        .unwrap_err();
    assert_eq!(again.code, 409);
}

#[test]
fn exhaustion_reuse_after_delete_and_rebuild_from_store() {
    // A /28: 16 addresses, minus network, broadcast, .1 and .10 = 12 dynamic ones.
    let net = ServiceNetwork::new(
        "10.99.0.0".parse().unwrap(),
        28,
        "10.99.0.10".parse().unwrap(),
    )
    .unwrap();
    let f = Fixture::new(net.clone());
    for i in 0..12 {
        f.create(&svc(&format!("s{i}"), WEB));
    }
    let full = f.admit(&svc("one-more", WEB), None).unwrap_err();
    assert_eq!(full.code, 500);
    assert_eq!(
        full.message,
        "Internal error occurred: failed to allocate a serviceIP: range is full"
    );
    let freed = meta::get_str(
        &f.admit(&svc("probe", r#"{"clusterIP":"None"}"#), None)
            .unwrap(),
        &["spec", "clusterIP"],
    )
    .map(str::to_owned);
    assert_eq!(freed.as_deref(), Some("None"), "headless needs no address");
    f.delete("default", "s3");
    let reused = f.create(&svc("late", WEB));
    assert_eq!(
        meta::get_str(&reused, &["spec", "clusterIP"]),
        Some("10.99.0.5")
    );
    // A new API server over the same store sees every address taken again.
    let restarted = Fixture {
        store: f.store.clone(),
        resource: f.resource.clone(),
        allocators: Allocators::new(net),
    };
    assert_eq!(restarted.allocators.usage(&restarted.store).0, 12);
    assert_eq!(restarted.admit(&svc("x", WEB), None).unwrap_err().code, 500);
}

#[test]
fn node_ports_allocated_kept_and_released() {
    let f = Fixture::new(ServiceNetwork::default());
    let np = f.create(&svc(
        "np",
        r#"{"type":"NodePort","ports":[{"name":"80-8080","port":80,"targetPort":8080}]}"#,
    ));
    let port = meta::get_i64(&array(&np, &["spec", "ports"])[0], &["nodePort"]).unwrap();
    assert!((30000..=32767).contains(&port));
    assert_eq!(
        meta::get_str(&np, &["spec", "externalTrafficPolicy"]),
        Some("Cluster")
    );
    // An update that leaves nodePort out keeps it.
    let updated = f
        .admit(
            &svc(
                "np",
                r#"{"type":"NodePort","ports":[{"name":"80-8080","port":80,"targetPort":8080}]}"#,
            ),
            Some(&np),
        )
        .unwrap();
    assert_eq!(
        meta::get_i64(&array(&updated, &["spec", "ports"])[0], &["nodePort"]),
        Some(port)
    );
    assert_eq!(
        meta::get_str(&updated, &["spec", "clusterIP"]),
        meta::get_str(&np, &["spec", "clusterIP"])
    );
    // Someone else asking for the same port is refused with upstream's message.
    let taken = f
        .admit(
            &svc(
                "np2",
                &format!(r#"{{"type":"NodePort","ports":[{{"port":80,"nodePort":{port}}}]}}"#),
            ),
            None,
        )
        .unwrap_err();
    assert_eq!(
        taken.message,
        format!(
            "Service \"np2\" is invalid: spec.ports[0].nodePort: Invalid value: {port}: provided port is already allocated"
        )
    );
    // Back to ClusterIP: the port is dropped from the object and free once stored.
    let back = f
        .admit(&svc("np", r#"{"type":"ClusterIP","ports":[{"name":"80-8080","port":80,"targetPort":8080,"nodePort":30000}]}"#), Some(&np))
        .inspect(|v| f.store_it(v))
        .unwrap();
    assert_eq!(
        meta::get_i64(&array(&back, &["spec", "ports"])[0], &["nodePort"]),
        None
    );
    let reuse = f
        .admit(
            &svc(
                "np2",
                &format!(r#"{{"type":"NodePort","ports":[{{"port":80,"nodePort":{port}}}]}}"#),
            ),
            None,
        )
        .unwrap();
    assert_eq!(
        meta::get_i64(&array(&reuse, &["spec", "ports"])[0], &["nodePort"]),
        Some(port)
    );
}

#[test]
fn cluster_ip_is_immutable() {
    let f = Fixture::new(ServiceNetwork::default());
    let web = f.create(&svc("web", WEB));
    let e = f
        .admit(
            &svc(
                "web",
                r#"{"clusterIP":"10.43.9.9","selector":{"app":"web"},"ports":[{"port":80}]}"#,
            ),
            Some(&web),
        )
        .unwrap_err();
    assert_eq!(
        e.message,
        "Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"10.43.9.9\"}: may not change once set"
    );
}

#[test]
fn port_validation() {
    let f = Fixture::new(ServiceNetwork::default());
    let e = f
        .admit(
            &svc(
                "bad",
                r#"{"ports":[{"port":80},{"name":"x","port":70000},{"name":"x","port":81}]}"#,
            ),
            None,
        )
        .unwrap_err();
    let fields: Vec<(&str, &str)> = e
        .details
        .causes
        .iter()
        .map(|c| (c.field.as_str(), c.message.as_str()))
        .collect();
    assert_eq!(
        fields,
        vec![
            ("spec.ports[0].name", "Required value"),
            (
                "spec.ports[1].port",
                "Invalid value: 70000: must be between 1 and 65535, inclusive"
            ),
            (
                "spec.ports[1].targetPort",
                "Invalid value: 70000: must be between 1 and 65535, inclusive"
            ),
            ("spec.ports[2].name", "Duplicate value: \"x\""),
        ]
    );
    let np = f
        .admit(
            &svc("np", r#"{"ports":[{"port":80,"nodePort":30001}]}"#),
            None,
        )
        .unwrap_err();
    assert_eq!(
        np.details.causes[0].message,
        "Forbidden: may not be used when `type` is 'ClusterIP'"
    );
}

#[test]
fn local_load_balancers_get_a_health_check_port() {
    let f = Fixture::new(ServiceNetwork::default());
    let lb = f.create(&svc(
        "lb",
        r#"{"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]}"#,
    ));
    let port = meta::get_i64(&array(&lb, &["spec", "ports"])[0], &["nodePort"]).unwrap();
    let health = meta::get_i64(&lb, &["spec", "healthCheckNodePort"]).unwrap();
    assert_ne!(port, health);
    assert!(matches!(
        meta::get_path(&lb, &["spec", "allocateLoadBalancerNodePorts"]),
        Some(Value::Bool(true))
    ));
    let kept = f
        .admit(
            &svc(
                "lb",
                r#"{"type":"LoadBalancer","externalTrafficPolicy":"Local","ports":[{"port":80}]}"#,
            ),
            Some(&lb),
        )
        .unwrap();
    assert_eq!(
        meta::get_i64(&kept, &["spec", "healthCheckNodePort"]),
        Some(health)
    );
    assert_eq!(f.allocators.usage(&f.store).1, 2);
}
