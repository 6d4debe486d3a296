use miniserde::json::{self, Object, Value};

use super::*;
use crate::registry::json::{arr_at, path, str_at};
use crate::registry::{Registry, Resource, Scope};

fn parse(text: &str) -> Value {
    json::from_str(text).expect("valid json")
}

fn document(reg: &Registry, catalog: &Catalog, group: &str, version: &str) -> Value {
    group_version_document(reg, catalog, group, version).expect("served group version")
}

fn paths_of(doc: &Value) -> &Object {
    match path(doc, &["paths"]) {
        Some(Value::Object(paths)) => paths,
        _ => panic!("document without paths"),
    }
}

fn gvk_of(op: &Value) -> (String, String, String) {
    let field = |k| {
        str_at(op, &["x-kubernetes-group-version-kind", k])
            .unwrap_or("?")
            .to_string()
    };
    (field("group"), field("version"), field("kind"))
}

fn has_param(op: &Value, name: &str) -> bool {
    arr_at(op, &["parameters"])
        .iter()
        .any(|p| str_at(p, &["name"]) == Some(name))
}

#[test]
fn every_patchable_resource_has_a_patch_with_gvk_and_field_validation() {
    let reg = Registry::new();
    let catalog = Catalog::new();
    for r in reg.all().iter().filter(|r| r.verbs.allows("patch")) {
        let doc = document(&reg, &catalog, &r.group, &r.version);
        let want = (
            r.group.to_string(),
            r.version.to_string(),
            r.kind.to_string(),
        );
        let found = paths_of(&doc)
            .values()
            .filter_map(|p| path(p, &["patch"]))
            .any(|op| gvk_of(op) == want && has_param(op, "fieldValidation"));
        assert!(
            found,
            "no PATCH with GVK and fieldValidation for {}",
            r.qualified_plural()
        );
    }
}

#[test]
fn every_write_operation_carries_field_validation_and_no_strategic_merge() {
    // kubectl checks the first PATCH operation it meets for a GVK (map order), so every one
    // must carry the parameter, status and scale included.
    let reg = Registry::new();
    let catalog = Catalog::new();
    for (group, versions) in reg.groups() {
        for version in versions {
            let doc = document(&reg, &catalog, group, version);
            for (p, item) in paths_of(&doc) {
                for method in ["patch", "put", "post"] {
                    if let Some(op) = path(item, &[method]) {
                        assert!(has_param(op, "fieldValidation"), "{method} {p}");
                        assert!(path(op, &["x-kubernetes-group-version-kind", "kind"]).is_some());
                    }
                }
                if let Some(op) = path(item, &["patch"]) {
                    let content = path(op, &["requestBody", "content"]).unwrap();
                    assert!(path(content, &["application/merge-patch+json"]).is_some());
                    assert!(path(content, &["application/strategic-merge-patch+json"]).is_none());
                }
            }
        }
    }
}

#[test]
fn paths_follow_upstream_layout_for_explain() {
    let reg = Registry::new();
    let catalog = Catalog::new();
    let apps = document(&reg, &catalog, "apps", "v1");
    let paths = paths_of(&apps);
    let list = paths
        .get("/apis/apps/v1/namespaces/{namespace}/deployments")
        .unwrap();
    assert_eq!(gvk_of(path(list, &["get"]).unwrap()).2, "Deployment");
    assert!(paths.contains_key("/apis/apps/v1/deployments"));
    let scale = paths
        .get("/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale")
        .unwrap();
    assert_eq!(
        gvk_of(path(scale, &["patch"]).unwrap()),
        ("autoscaling".into(), "v1".into(), "Scale".into())
    );
    let core = document(&reg, &catalog, "", "v1");
    let core_paths = paths_of(&core);
    assert!(core_paths.contains_key("/api/v1/namespaces/{name}"));
    assert!(core_paths.contains_key("/api/v1/nodes/{name}/status"));
    let pod = core_paths
        .get("/api/v1/namespaces/{namespace}/pods/{name}")
        .unwrap();
    assert_eq!(
        gvk_of(path(pod, &["delete"]).unwrap()),
        ("".into(), "v1".into(), "Pod".into())
    );
    let auth = document(&reg, &catalog, "authorization.k8s.io", "v1");
    let ssar = paths_of(&auth)
        .get("/apis/authorization.k8s.io/v1/selfsubjectaccessreviews")
        .unwrap();
    assert!(path(ssar, &["post"]).is_some() && path(ssar, &["get"]).is_none());
}

#[test]
fn every_ref_resolves_within_its_document() {
    let reg = Registry::new();
    let catalog = Catalog::new();
    for (group, versions) in reg.groups() {
        for version in versions {
            let doc = document(&reg, &catalog, group, version);
            let Some(Value::Object(schemas)) = path(&doc, &["components", "schemas"]) else {
                panic!("no schemas");
            };
            let mut refs = Vec::new();
            super::document::collect_refs(&doc, &mut refs);
            for r in refs {
                assert!(
                    schemas.contains_key(&r),
                    "{group}/{version}: dangling $ref {r}"
                );
            }
        }
    }
}

/// Follows a field path the way kubectl explain's template does: properties, `$ref`,
/// `items`, map values and `allOf`.
fn explain<'a>(doc: &'a Value, schema: &'a Value, fields: &[&str]) -> Option<&'a Value> {
    let schemas = path(doc, &["components", "schemas"])?;
    let resolve = |s: &'a Value| -> &'a Value {
        match str_at(s, &["$ref"]) {
            Some(r) => path(schemas, &[r.trim_start_matches("#/components/schemas/")]).unwrap(),
            None => s,
        }
    };
    let resolved = resolve(schema);
    let Some((first, rest)) = fields.split_first() else {
        // The template lists fields through allOf members and array items too.
        if let Some(member) = arr_at(resolved, &["allOf"]).first() {
            return explain(doc, member, &[]);
        }
        return match path(resolved, &["items"]) {
            Some(items) => explain(doc, items, &[]),
            None => Some(resolved),
        };
    };
    if let Some(sub) = path(resolved, &["properties", first]) {
        return explain(doc, sub, rest);
    }
    if let Some(items) = path(resolved, &["items"]) {
        return explain(doc, items, fields);
    }
    arr_at(resolved, &["allOf"])
        .iter()
        .find_map(|m| explain(doc, m, fields))
}

fn kind_schema<'a>(doc: &'a Value, group: &str, kind: &str) -> &'a Value {
    let Some(Value::Object(schemas)) = path(doc, &["components", "schemas"]) else {
        panic!("no schemas");
    };
    schemas
        .values()
        .find(|s| {
            arr_at(s, &["x-kubernetes-group-version-kind"])
                .iter()
                .any(|g| str_at(g, &["kind"]) == Some(kind) && str_at(g, &["group"]) == Some(group))
        })
        .unwrap_or_else(|| panic!("no schema for {kind}"))
}

#[test]
fn explain_walks_deployment_spec_and_pod_containers() {
    let reg = Registry::new();
    let catalog = Catalog::new();
    let apps = document(&reg, &catalog, "apps", "v1");
    let deployment = kind_schema(&apps, "apps", "Deployment");
    let spec = explain(&apps, deployment, &["spec"]).unwrap();
    assert!(path(spec, &["properties", "replicas"]).is_some());
    assert_eq!(
        str_at(
            path(deployment, &["properties", "spec"]).unwrap(),
            &["description"]
        ),
        Some("Desired behavior of the deployment.")
    );
    let containers = explain(
        &apps,
        deployment,
        &["spec", "template", "spec", "containers"],
    )
    .unwrap();
    assert!(path(containers, &["properties", "image"]).is_some());
    let core = document(&reg, &catalog, "", "v1");
    let pod = kind_schema(&core, "", "Pod");
    let ports = explain(&core, pod, &["spec", "containers", "ports"]).unwrap();
    assert!(
        arr_at(ports, &["required"])
            .iter()
            .any(|r| str_at(r, &[]) == Some("containerPort"))
    );
    let restart = explain(&core, pod, &["spec", "restartPolicy"]).unwrap();
    assert_eq!(arr_at(restart, &["enum"]).len(), 3);
    assert_eq!(
        str_at(restart, &["description"]),
        Some("Restart policy for all containers. Default Always.")
    );
    for (group, version, kind) in [
        ("", "v1", "Service"),
        ("", "v1", "ConfigMap"),
        ("", "v1", "Secret"),
        ("", "v1", "Namespace"),
        ("", "v1", "Node"),
        ("", "v1", "ServiceAccount"),
        ("batch", "v1", "Job"),
        ("batch", "v1", "CronJob"),
        ("apps", "v1", "StatefulSet"),
        ("apps", "v1", "DaemonSet"),
        ("apps", "v1", "ReplicaSet"),
        ("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding"),
        ("networking.k8s.io", "v1", "Ingress"),
    ] {
        let doc = document(&reg, &catalog, group, version);
        let schema = kind_schema(&doc, group, kind);
        assert!(
            explain(&doc, schema, &["metadata", "labels"]).is_some(),
            "{kind}"
        );
    }
}

#[test]
fn root_lists_group_versions_and_hash_follows_content() {
    let mut reg = Registry::new();
    let mut catalog = Catalog::new();
    let mut docs = OpenApiDocs::new();
    assert!(!docs.is_current(&reg, &catalog));
    let root = parse(docs.root(&reg, &catalog));
    let url = str_at(&root, &["paths", "apis/apps/v1", "serverRelativeURL"]).unwrap();
    let (hash, body) = docs.document(&reg, &catalog, "apis/apps/v1").unwrap();
    assert_eq!(url, format!("/openapi/v3/apis/apps/v1?hash={hash}"));
    assert_eq!(hash, content_hash(body.as_bytes()));
    assert!(str_at(&root, &["paths", "api/v1", "serverRelativeURL"]).is_some());
    assert!(docs.is_current(&reg, &catalog));

    let gvk = crate::registry::Gvk::new("example.com", "v1", "Widget");
    reg.add_custom(widget()).unwrap();
    catalog.set_custom_schema(
        &gvk,
        &parse(r#"{"type":"object","properties":{"spec":{"type":"object"}}}"#),
    );
    assert!(!docs.is_current(&reg, &catalog));
    let (first_hash, _) = docs
        .document(&reg, &catalog, "apis/example.com/v1")
        .unwrap();
    assert!(docs.is_current(&reg, &catalog));
    assert!(docs.root(&reg, &catalog).contains("apis/example.com/v1"));
    catalog.set_custom_schema(&gvk, &parse(r#"{"type":"object","properties":{"spec":{"type":"object","properties":{"size":{"type":"integer"}}}}}"#));
    let (second_hash, body) = docs
        .document(&reg, &catalog, "apis/example.com/v1")
        .unwrap();
    assert_ne!(first_hash, second_hash);
    assert!(docs.document(&reg, &catalog, "apis/nope.io/v1").is_none());
    let doc = parse(&body);
    let found = paths_of(&doc)
        .get("/apis/example.com/v1/namespaces/{namespace}/widgets/{name}")
        .and_then(|p| path(p, &["patch"]))
        .is_some_and(|op| has_param(op, "fieldValidation"));
    assert!(found);
    assert!(path(&doc, &["components", "schemas", "com.example.v1.Widget"]).is_some());
}

fn widget() -> Resource {
    Resource::custom(
        "example.com".into(),
        "v1".into(),
        "Widget".into(),
        "widgets".into(),
        "widget".into(),
        Scope::Namespaced,
        vec![],
        vec![],
    )
    .with_status()
}

#[test]
fn unknown_fields_in_builtin_kinds() {
    let catalog = Catalog::new();
    let deployment = parse(
        r#"{"apiVersion":"apps/v1","kind":"Deployment",
            "metadata":{"name":"web","labels":{"any.key/x":"y"},"annotations":{"a":"b"},"bogus":1},
            "spec":{"replicas":2,"foo":true,"selector":{"matchLabels":{"app":"web"}},
              "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":1,"maxUnavailable":"25%"}},
              "template":{"metadata":{"labels":{"app":"web"}},"spec":{
                "containers":[{"name":"a","image":"nginx","imagePullPolicyy":"Always",
                   "resources":{"limits":{"cpu":"1","memory":"1Gi"}},"env":[{"name":"X","valueFrom":{"fieldRef":{"fieldPath":"x"}}}],
                   "ports":[{"containerPort":80,"colour":"red"}]}],
                "volumes":[{"name":"v","iscsi":{"targetPortal":"x"}}],
                "securityContext":{"runAsUser":1000}}}},
            "status":{"replicas":1}}"#,
    );
    let gvk = crate::registry::Gvk::new("apps", "v1", "Deployment");
    assert_eq!(
        catalog.unknown_fields(&deployment, &gvk),
        [
            "metadata.bogus",
            "spec.foo",
            "spec.template.spec.containers[0].imagePullPolicyy",
            "spec.template.spec.containers[0].ports[0].colour",
        ]
    );
    let service = parse(
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"s"},
            "spec":{"ports":[{"port":80,"targetPort":"http"},{"port":53,"targetPort":5353,"protocol":"UDP"}],"selector":{"app":"web"},"tpye":"NodePort"}}"#,
    );
    let gvk = crate::registry::Gvk::new("", "v1", "Service");
    assert_eq!(catalog.unknown_fields(&service, &gvk), ["spec.tpye"]);
    let cm = parse(
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"data":{"k":"v"},"date":{}}"#,
    );
    assert_eq!(
        catalog.unknown_fields(&cm, &crate::registry::Gvk::new("", "v1", "ConfigMap")),
        ["date"]
    );
    let lease = parse(
        r#"{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","spec":{"holderIdentity":"a","anything":1}}"#,
    );
    let lease_gvk = crate::registry::Gvk::new("coordination.k8s.io", "v1", "Lease");
    assert_eq!(
        catalog.unknown_fields(&lease, &lease_gvk),
        ["spec.anything"]
    );
    // Kinds without a detailed schema report nothing; open types accept unlisted sources.
    let driver = parse(r#"{"apiVersion":"storage.k8s.io/v1","kind":"CSIDriver","spec":{"x":1}}"#);
    let driver_gvk = crate::registry::Gvk::new("storage.k8s.io", "v1", "CSIDriver");
    assert!(catalog.unknown_fields(&driver, &driver_gvk).is_empty());
    let pv = parse(
        r#"{"apiVersion":"v1","kind":"PersistentVolume","spec":{"capacity":{"storage":"1Gi"},"iscsi":{"lun":0}}}"#,
    );
    let pv_gvk = crate::registry::Gvk::new("", "v1", "PersistentVolume");
    assert!(catalog.unknown_fields(&pv, &pv_gvk).is_empty());
    let crd = parse(
        r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition","metadata":{"name":"w.example.com"},
            "spec":{"group":"example.com","scope":"Namespaced","names":{"plural":"w","kind":"W"},
              "versions":[{"name":"v1","served":true,"storage":true,"schema":{"openAPIV3Schema":{"type":"object","x-anything":1}},"colums":[]}]}}"#,
    );
    let crd_gvk =
        crate::registry::Gvk::new("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    assert_eq!(
        catalog.unknown_fields(&crd, &crd_gvk),
        ["spec.versions[0].colums"]
    );
}

#[test]
fn unknown_fields_in_custom_resources_respect_preserve_and_embedded() {
    let mut catalog = Catalog::new();
    let gvk = crate::registry::Gvk::new("example.com", "v1", "Widget");
    catalog.set_custom_schema(
        &gvk,
        &parse(
            r#"{"type":"object","properties":{
                "spec":{"type":"object","properties":{
                    "size":{"type":"integer"},
                    "free":{"type":"object","x-kubernetes-preserve-unknown-fields":true},
                    "tags":{"type":"object","additionalProperties":{"type":"string"}},
                    "items":{"type":"array","items":{"type":"object","properties":{"name":{"type":"string"}}}},
                    "template":{"type":"object","x-kubernetes-embedded-resource":true,"properties":{"spec":{"type":"object"}}},
                    "empty":{"type":"object"}}},
                "status":{"type":"object","x-kubernetes-preserve-unknown-fields":true}}}"#,
        ),
    );
    let object = parse(
        r#"{"apiVersion":"example.com/v1","kind":"Widget","metadata":{"name":"w","generation":1},
            "spec":{"size":1,"free":{"x":{"y":1}},"tags":{"a":"b"},"items":[{"name":"i","extra":1}],
                    "template":{"apiVersion":"v1","kind":"Pod","metadata":{},"spec":{"x":1},"other":1},
                    "empty":{"gone":true},"colour":"red"},
            "status":{"whatever":true}}"#,
    );
    assert_eq!(
        catalog.unknown_fields(&object, &gvk),
        [
            "spec.colour",
            "spec.empty.gone",
            "spec.items[0].extra",
            "spec.template.other",
            "spec.template.spec.x",
        ]
    );
    let mut pruned = object.clone();
    let removed = catalog.prune_unknown(&mut pruned, &gvk);
    assert_eq!(removed, catalog.unknown_fields(&object, &gvk));
    assert!(catalog.unknown_fields(&pruned, &gvk).is_empty());
    let item = &arr_at(&pruned, &["spec", "items"])[0];
    assert!(path(item, &["extra"]).is_none() && str_at(item, &["name"]) == Some("i"));
    assert_eq!(
        crate::registry::json::int_at(&pruned, &["spec", "free", "x", "y"]),
        Some(1)
    );
    assert!(path(&pruned, &["spec", "colour"]).is_none());
    assert!(path(&pruned, &["spec", "template", "kind"]).is_some());
    catalog.remove_custom_schema(&gvk);
    assert!(catalog.unknown_fields(&object, &gvk).is_empty());
}

#[test]
#[ignore = "prints document sizes and build time"]
fn print_sizes() {
    let reg = Registry::new();
    let catalog = Catalog::new();
    let start = std::time::Instant::now();
    let mut docs = OpenApiDocs::new();
    let mut total = docs.root(&reg, &catalog).len();
    let built = start.elapsed();
    for (group, versions) in reg.groups() {
        for version in versions {
            let key = if group.is_empty() {
                format!("api/{version}")
            } else {
                format!("apis/{group}/{version}")
            };
            let (_, body) = docs.document(&reg, &catalog, &key).unwrap();
            total += body.len();
            println!("{key}: {} bytes", body.len());
        }
    }
    let start = std::time::Instant::now();
    let discovery = crate::discovery::DiscoveryCache::new(&reg, "127.0.0.1:6443");
    let (_, apis) = discovery.root(
        crate::discovery::Root::Apis,
        crate::discovery::DiscoveryFormat::AggregatedV2,
    );
    println!(
        "discovery built in {:?}; aggregated /apis {} bytes",
        start.elapsed(),
        apis.len()
    );
    println!("openapi total {total} bytes, built in {built:?}");
    let names = catalog.component_names();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let start = std::time::Instant::now();
    let all = catalog.closure(&names);
    let compiled = start.elapsed();
    let text = crate::registry::json::to_string(&Value::Object(all.clone()));
    println!(
        "catalog: {} components, {} bytes as JSON, compiled in {compiled:?}",
        all.len(),
        text.len()
    );
    let deployment = crate::registry::Gvk::new("apps", "v1", "Deployment");
    let object = parse(r#"{"spec":{"template":{"spec":{"containers":[{"name":"a"}]}}}}"#);
    let start = std::time::Instant::now();
    let mut unknown = Vec::new();
    for _ in 0..100 {
        unknown = catalog.unknown_fields(&object, &deployment);
    }
    println!(
        "unknown_fields(Deployment): {:?} per call ({unknown:?})",
        start.elapsed() / 100
    );
    let start = std::time::Instant::now();
    let fresh = Catalog::new();
    println!(
        "catalog built in {:?} ({} kinds)",
        start.elapsed(),
        fresh.kind_count()
    );
    let rss = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let before = rss();
    let kept: Vec<(Catalog, Registry)> =
        (0..20).map(|_| (Catalog::new(), Registry::new())).collect();
    println!(
        "~{} kB RSS per Catalog + Registry ({} kept)",
        (rss() - before) / 20,
        kept.len()
    );
}
