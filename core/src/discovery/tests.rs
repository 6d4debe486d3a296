use miniserde::json::{self, Value};

use super::*;
use crate::registry::json::{arr_at, path, str_at};
use crate::registry::{Resource, Scope};

/// Canonical text of a JSON document (miniserde objects keep keys sorted).
fn canon(text: &str) -> String {
    to_string(&json::from_str::<Value>(text).expect("valid json"))
}

fn find<'a>(items: &'a [Value], key: &str, name: &str) -> &'a Value {
    items
        .iter()
        .find(|v| str_at(v, &[key]) == Some(name))
        .unwrap_or_else(|| panic!("{name} missing"))
}

const KUBECTL_ACCEPT: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

#[test]
fn negotiation_follows_the_accept_header() {
    assert_eq!(
        negotiate(Some(KUBECTL_ACCEPT)),
        DiscoveryFormat::AggregatedV2
    );
    let old = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
    assert_eq!(negotiate(Some(old)), DiscoveryFormat::AggregatedV2Beta1);
    let reordered = "application/json;as=APIGroupDiscoveryList;v=v2;g=apidiscovery.k8s.io";
    assert_eq!(negotiate(Some(reordered)), DiscoveryFormat::AggregatedV2);
    assert_eq!(
        negotiate(Some("application/json, */*")),
        DiscoveryFormat::Legacy
    );
    assert_eq!(negotiate(None), DiscoveryFormat::Legacy);
    let refused =
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json";
    assert_eq!(negotiate(Some(refused)), DiscoveryFormat::Legacy);
    let unknown =
        "application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList,application/json";
    assert_eq!(negotiate(Some(unknown)), DiscoveryFormat::Legacy);
    assert_eq!(
        DiscoveryFormat::AggregatedV2.content_type(),
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
    );
}

#[test]
fn legacy_api_versions_shape() {
    assert_eq!(
        to_string(&api_versions("10.0.0.1:6443")),
        canon(
            r#"{"kind":"APIVersions","versions":["v1"],"serverAddressByClientCIDRs":[{"clientCIDR":"0.0.0.0/0","serverAddress":"10.0.0.1:6443"}]}"#
        )
    );
}

#[test]
fn legacy_group_list_has_apps_with_preferred_version() {
    let list = api_group_list(&Registry::new());
    assert_eq!(str_at(&list, &["kind"]), Some("APIGroupList"));
    let groups = arr_at(&list, &["groups"]);
    assert_eq!(
        to_string(find(groups, "name", "apps")),
        canon(
            r#"{"name":"apps","versions":[{"groupVersion":"apps/v1","version":"v1"}],"preferredVersion":{"groupVersion":"apps/v1","version":"v1"}}"#
        )
    );
    assert!(groups.iter().all(|g| str_at(g, &["name"]) != Some("")));
    let group = api_group(&Registry::new(), "batch").unwrap();
    assert_eq!(str_at(&group, &["kind"]), Some("APIGroup"));
    assert!(api_group(&Registry::new(), "nope.io").is_none());
}

#[test]
fn legacy_resource_list_matches_upstream_entries() {
    let reg = Registry::new();
    let list = api_resource_list(&reg, "apps", "v1").unwrap();
    assert_eq!(str_at(&list, &["apiVersion"]), Some("v1"));
    assert_eq!(str_at(&list, &["groupVersion"]), Some("apps/v1"));
    let resources = arr_at(&list, &["resources"]);
    assert_eq!(
        to_string(find(resources, "name", "deployments")),
        canon(
            r#"{"name":"deployments","singularName":"deployment","namespaced":true,"kind":"Deployment","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],"shortNames":["deploy"],"categories":["all"]}"#
        )
    );
    assert_eq!(
        to_string(find(resources, "name", "deployments/scale")),
        canon(
            r#"{"name":"deployments/scale","singularName":"","namespaced":true,"group":"autoscaling","version":"v1","kind":"Scale","verbs":["get","patch","update"]}"#
        )
    );
    assert_eq!(
        to_string(find(resources, "name", "deployments/status")),
        canon(
            r#"{"name":"deployments/status","singularName":"","namespaced":true,"kind":"Deployment","verbs":["get","patch","update"]}"#
        )
    );
    let names: Vec<_> = resources
        .iter()
        .filter_map(|r| str_at(r, &["name"]))
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted);
}

#[test]
fn core_resource_list_has_no_api_version_and_eviction_names_its_group() {
    let reg = Registry::new();
    let list = api_resource_list(&reg, "", "v1").unwrap();
    assert!(path(&list, &["apiVersion"]).is_none());
    assert_eq!(str_at(&list, &["groupVersion"]), Some("v1"));
    let resources = arr_at(&list, &["resources"]);
    assert_eq!(
        to_string(find(resources, "name", "pods/eviction")),
        canon(
            r#"{"name":"pods/eviction","singularName":"","namespaced":true,"group":"policy","version":"v1","kind":"Eviction","verbs":["create"]}"#
        )
    );
    assert_eq!(
        to_string(find(resources, "name", "namespaces")),
        canon(
            r#"{"name":"namespaces","singularName":"namespace","namespaced":false,"kind":"Namespace","verbs":["create","delete","get","list","patch","update","watch"],"shortNames":["ns"]}"#
        )
    );
    assert!(api_resource_list(&reg, "apps", "v2").is_none());
}

#[test]
fn aggregated_apis_matches_upstream_shape() {
    let reg = Registry::new();
    let doc = aggregated(&reg, Root::Apis, DiscoveryFormat::AggregatedV2);
    assert_eq!(str_at(&doc, &["kind"]), Some("APIGroupDiscoveryList"));
    assert_eq!(
        str_at(&doc, &["apiVersion"]),
        Some("apidiscovery.k8s.io/v2")
    );
    let items = arr_at(&doc, &["items"]);
    let apps = items
        .iter()
        .find(|i| str_at(i, &["metadata", "name"]) == Some("apps"))
        .unwrap();
    let v1 = &arr_at(apps, &["versions"])[0];
    assert_eq!(str_at(v1, &["freshness"]), Some("Current"));
    let deploy = find(arr_at(v1, &["resources"]), "resource", "deployments");
    assert_eq!(
        to_string(deploy),
        canon(
            r#"{"resource":"deployments","responseKind":{"group":"apps","version":"v1","kind":"Deployment"},
            "scope":"Namespaced","singularResource":"deployment","verbs":["create","delete","deletecollection","get","list","patch","update","watch"],
            "shortNames":["deploy"],"categories":["all"],
            "subresources":[{"subresource":"scale","responseKind":{"group":"autoscaling","version":"v1","kind":"Scale"},"verbs":["get","patch","update"]},
                            {"subresource":"status","responseKind":{"group":"apps","version":"v1","kind":"Deployment"},"verbs":["get","patch","update"]}]}"#
        )
    );
    assert!(
        items
            .iter()
            .all(|i| str_at(i, &["metadata", "name"]).is_some())
    );
}

#[test]
fn aggregated_api_has_one_core_item_with_empty_metadata() {
    let reg = Registry::new();
    let doc = aggregated(&reg, Root::Api, DiscoveryFormat::AggregatedV2Beta1);
    assert_eq!(
        str_at(&doc, &["apiVersion"]),
        Some("apidiscovery.k8s.io/v2beta1")
    );
    let items = arr_at(&doc, &["items"]);
    assert_eq!(items.len(), 1);
    assert_eq!(to_string(path(&items[0], &["metadata"]).unwrap()), "{}");
    let v1 = &arr_at(&items[0], &["versions"])[0];
    let pods = find(arr_at(v1, &["resources"]), "resource", "pods");
    assert_eq!(str_at(pods, &["responseKind", "group"]), Some(""));
    assert_eq!(str_at(pods, &["scope"]), Some("Namespaced"));
    let nodes = find(arr_at(v1, &["resources"]), "resource", "nodes");
    assert_eq!(str_at(nodes, &["scope"]), Some("Cluster"));
}

#[test]
fn version_is_semver_with_platform() {
    let v = version_info();
    assert_eq!(str_at(&v, &["major"]), Some("1"));
    assert_eq!(str_at(&v, &["minor"]), Some("32"));
    let git = str_at(&v, &["gitVersion"]).unwrap();
    assert!(git.starts_with("v1.32.0+wisp."), "{git}");
    let platform = str_at(&v, &["platform"]).unwrap();
    assert!(platform.starts_with("linux/"), "{platform}");
    #[cfg(target_arch = "aarch64")]
    assert_eq!(platform, "linux/arm64");
    #[cfg(target_arch = "x86_64")]
    assert_eq!(platform, "linux/amd64");
}

#[test]
fn cache_rebuilds_when_a_crd_arrives() {
    let mut reg = Registry::new();
    let mut cache = DiscoveryCache::new(&reg, "127.0.0.1:6443");
    let (ct, body) = cache.root(Root::Apis, DiscoveryFormat::AggregatedV2);
    assert_eq!(ct, CONTENT_TYPE_AGGREGATED_V2);
    assert!(!body.contains("example.com"));
    assert!(cache.group_version("", "v1").unwrap().contains("\"pods\""));
    let widget = Resource::custom(
        "example.com".into(),
        "v1".into(),
        "Widget".into(),
        "widgets".into(),
        "widget".into(),
        Scope::Namespaced,
        vec![],
        vec![],
    );
    reg.add_custom(widget).unwrap();
    assert!(!cache.is_current(&reg));
    cache.refresh(&reg);
    assert!(cache.is_current(&reg));
    let (_, body) = cache.root(Root::Apis, DiscoveryFormat::AggregatedV2);
    assert!(body.contains("example.com"));
    assert!(cache.group_version("example.com", "v1").is_some());
    let (ct, body) = cache.root(Root::Api, DiscoveryFormat::Legacy);
    assert_eq!(ct, "application/json");
    assert!(body.contains("127.0.0.1:6443"));
}
