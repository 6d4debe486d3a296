use std::collections::HashSet;

use super::*;

#[test]
fn plurals_and_kinds_are_unique_per_group_version() {
    let reg = Registry::new();
    let mut plurals = HashSet::new();
    let mut kinds = HashSet::new();
    for r in reg.all() {
        assert!(
            plurals.insert((r.group.clone(), r.version.clone(), r.plural.clone())),
            "duplicate plural {}",
            r.qualified_plural()
        );
        assert!(
            kinds.insert((r.group.clone(), r.version.clone(), r.kind.clone())),
            "duplicate kind {}",
            r.kind
        );
        assert_eq!(r.plural.to_ascii_lowercase(), r.plural.as_ref());
        assert!(!r.singular.is_empty(), "{} has no singular", r.plural);
    }
}

#[test]
fn short_names_are_unique_except_upstreams_ev() {
    // Upstream serves `ev` for both core/v1 and events.k8s.io/v1 events; kubectl resolves
    // it to the core group. Every other short name is unique.
    let reg = Registry::new();
    let mut seen = HashSet::new();
    for r in reg.all() {
        for s in &r.short_names {
            if !seen.insert(s.clone()) {
                assert_eq!(s, "ev", "short name {s} is not unique");
            }
        }
    }
    assert_eq!(reg.resolve("ev").map(|r| r.group.as_ref()), Some(""));
}

#[test]
fn upstream_short_names_resolve() {
    let reg = Registry::new();
    let cases = [
        ("po", "", "pods"),
        ("svc", "", "services"),
        ("deploy", "apps", "deployments"),
        ("rs", "apps", "replicasets"),
        ("sts", "apps", "statefulsets"),
        ("ds", "apps", "daemonsets"),
        ("cm", "", "configmaps"),
        ("ns", "", "namespaces"),
        ("sa", "", "serviceaccounts"),
        ("no", "", "nodes"),
        ("pv", "", "persistentvolumes"),
        ("pvc", "", "persistentvolumeclaims"),
        ("limits", "", "limitranges"),
        ("quota", "", "resourcequotas"),
        ("ep", "", "endpoints"),
        ("rc", "", "replicationcontrollers"),
        ("ing", "networking.k8s.io", "ingresses"),
        ("netpol", "networking.k8s.io", "networkpolicies"),
        ("pdb", "policy", "poddisruptionbudgets"),
        ("pc", "scheduling.k8s.io", "priorityclasses"),
        ("sc", "storage.k8s.io", "storageclasses"),
        ("crd", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("crds", "apiextensions.k8s.io", "customresourcedefinitions"),
        ("cj", "batch", "cronjobs"),
        ("deployment", "apps", "deployments"),
        ("Pods", "", "pods"),
    ];
    for (name, group, plural) in cases {
        let r = reg
            .resolve(name)
            .unwrap_or_else(|| panic!("{name} unresolved"));
        assert_eq!(
            (r.group.as_ref(), r.plural.as_ref()),
            (group, plural),
            "{name}"
        );
    }
    assert!(reg.resolve("job").is_some());
    assert!(reg.resolve("lease").is_some());
    assert!(reg.resolve("nope").is_none());
}

#[test]
fn category_all_matches_upstream() {
    let reg = Registry::new();
    let mut all: Vec<_> = reg
        .in_category("all")
        .map(|r| r.plural.to_string())
        .collect();
    all.sort();
    assert_eq!(
        all,
        [
            "cronjobs",
            "daemonsets",
            "deployments",
            "jobs",
            "pods",
            "replicasets",
            "replicationcontrollers",
            "services",
            "statefulsets"
        ]
    );
}

#[test]
fn subresources_carry_response_kinds() {
    let reg = Registry::new();
    let deploy = reg.get("apps", "v1", "deployments").unwrap();
    let scale = deploy.subresource("scale").unwrap();
    assert_eq!(scale.response, Gvk::new("autoscaling", "v1", "Scale"));
    assert_eq!(
        scale.verbs.names().collect::<Vec<_>>(),
        ["get", "patch", "update"]
    );
    assert_eq!(deploy.subresource("status").unwrap().response, deploy.gvk());
    let pods = reg.get("", "v1", "pods").unwrap();
    assert_eq!(
        pods.subresource("eviction").unwrap().response,
        Gvk::new("policy", "v1", "Eviction")
    );
    assert_eq!(pods.subresource("log").unwrap().response.kind, "Pod");
    let sa = reg.get("", "v1", "serviceaccounts").unwrap();
    assert_eq!(
        sa.subresource("token").unwrap().response,
        Gvk::new("authentication.k8s.io", "v1", "TokenRequest")
    );
    for name in ["statefulsets", "replicasets"] {
        assert!(reg.get("apps", "v1", name).unwrap().has_scale(), "{name}");
    }
    assert!(!reg.get("apps", "v1", "daemonsets").unwrap().has_scale());
}

#[test]
fn verbs_follow_upstream() {
    let reg = Registry::new();
    let ns = reg.get("", "v1", "namespaces").unwrap();
    assert_eq!(
        ns.verbs.names().collect::<Vec<_>>(),
        [
            "create", "delete", "get", "list", "patch", "update", "watch"
        ]
    );
    let ssar = reg
        .get("authorization.k8s.io", "v1", "selfsubjectaccessreviews")
        .unwrap();
    assert_eq!(ssar.verbs.names().collect::<Vec<_>>(), ["create"]);
    assert!(!ssar.is_stored());
    assert!(
        reg.get("", "v1", "pods")
            .unwrap()
            .verbs
            .allows("deletecollection")
    );
    let local = reg
        .get("authorization.k8s.io", "v1", "localsubjectaccessreviews")
        .unwrap();
    assert!(local.namespaced());
}

#[test]
fn field_labels_and_storage_prefixes() {
    let reg = Registry::new();
    let pods = reg.get("", "v1", "pods").unwrap();
    assert_eq!(
        pods.field_label("spec.nodeName").unwrap().path,
        ["spec", "nodeName"]
    );
    assert!(pods.field_label("metadata.name").is_some());
    assert!(pods.field_label("spec.containers").is_none());
    let secrets = reg.get("", "v1", "secrets").unwrap();
    assert!(secrets.field_label("type").is_some());
    assert!(
        reg.get("", "v1", "configmaps")
            .unwrap()
            .field_label("type")
            .is_none()
    );
    let events = reg.get("", "v1", "events").unwrap();
    assert_eq!(
        events.field_label("source").unwrap().path,
        ["source", "component"]
    );
    assert_eq!(pods.storage_prefix(), "/registry/core/pods/");
    assert_eq!(
        reg.get("apps", "v1", "deployments")
            .unwrap()
            .storage_prefix(),
        "/registry/apps/deployments/"
    );
    assert_eq!(
        reg.get("apps", "v1", "deployments")
            .unwrap()
            .qualified_plural(),
        "deployments.apps"
    );
}

fn widget(version: &str) -> Resource {
    Resource::custom(
        "example.com".into(),
        version.into(),
        "Widget".into(),
        "widgets".into(),
        "widget".into(),
        Scope::Namespaced,
        vec!["wd".into()],
        vec!["all".into()],
    )
}

#[test]
fn custom_resources_are_added_looked_up_and_removed() {
    let mut reg = Registry::new();
    let gen0 = reg.generation();
    reg.add_custom(widget("v1alpha1").with_status()).unwrap();
    reg.add_custom(widget("v1").with_status().with_scale())
        .unwrap();
    assert!(reg.generation() > gen0);
    let w = reg.get("example.com", "v1", "widgets").unwrap();
    assert!(w.has_status() && w.has_scale() && !w.strategic_merge && !w.builtin);
    assert_eq!(reg.resolve("wd").unwrap().group, "example.com");
    assert_eq!(
        reg.by_kind("example.com", "v1alpha1", "Widget")
            .unwrap()
            .version,
        "v1alpha1"
    );
    assert!(reg.in_category("all").any(|r| r.plural == "widgets"));
    let groups = reg.groups();
    let (_, versions) = groups.iter().find(|(g, _)| *g == "example.com").unwrap();
    assert_eq!(versions, &["v1", "v1alpha1"]);
    assert_eq!(groups[0].0, "");
    assert_eq!(groups[1].0, "apps");

    reg.retain_custom_versions("example.com", "widgets", |v| v == "v1");
    assert!(reg.get("example.com", "v1alpha1", "widgets").is_none());
    assert_eq!(reg.remove_custom("example.com", "widgets"), 1);
    assert!(reg.resolve("wd").is_none());
    assert_eq!(reg.all().len(), Registry::new().all().len());
}

#[test]
fn custom_resources_cannot_shadow_builtins_or_kinds() {
    let mut reg = Registry::new();
    let mut evil = widget("v1");
    evil.group = "apps".into();
    assert_eq!(
        reg.add_custom(evil),
        Err(RegistryError::BuiltinGroup("apps".into()))
    );
    reg.add_custom(widget("v1")).unwrap();
    let mut other = widget("v1");
    other.plural = "gadgets".into();
    assert!(matches!(
        reg.add_custom(other),
        Err(RegistryError::KindTaken(_))
    ));
    assert_eq!(reg.remove_custom("", "pods"), 0);
}

#[test]
fn version_priority_orders_like_kubernetes() {
    let mut reg = Registry::new();
    for v in [
        "v1beta1", "v2", "v1alpha1", "v1", "foo", "v10beta3", "v1beta2",
    ] {
        reg.add_custom(widget(v)).unwrap();
    }
    let groups = reg.groups();
    let (_, versions) = groups.iter().find(|(g, _)| *g == "example.com").unwrap();
    assert_eq!(
        versions,
        &[
            "v2", "v1", "v10beta3", "v1beta2", "v1beta1", "v1alpha1", "foo"
        ]
    );
}
