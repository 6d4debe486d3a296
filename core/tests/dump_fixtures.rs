//! Writes every document the registry-derived modules serve into `$WISP_DUMP_DIR`, laid out
//! by URL path, so a throwaway static server can answer a real kubectl with them (see
//! `serve_fixtures.py` beside this file). Ignored unless asked for.

use std::fs;
use std::path::Path;

use miniserde::json::{self, Value};
use wisp_core::discovery::{self, DiscoveryCache, DiscoveryFormat, Root};
use wisp_core::openapi::{Catalog, OpenApiDocs, document_key};
use wisp_core::registry::{Registry, crd_versions};
use wisp_core::table::{IncludeObject, table_json};

fn write(dir: &Path, name: &str, body: &str) {
    let file = dir.join(name);
    fs::create_dir_all(file.parent().unwrap()).unwrap();
    fs::write(file, body).unwrap();
}

const PODS: &str = r#"[
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"web-1","namespace":"default","labels":{"app":"web"},"creationTimestamp":"2025-01-01T00:00:00Z"},
  "spec":{"nodeName":"board","containers":[{"name":"app","image":"nginx"}]},
  "status":{"phase":"Running","podIPs":[{"ip":"10.42.0.4"}],"containerStatuses":[{"name":"app","ready":true,"restartCount":0,"state":{"running":{}}}]}},
 {"apiVersion":"v1","kind":"Pod","metadata":{"name":"crash","namespace":"default","creationTimestamp":"2025-01-01T00:00:00Z"},
  "spec":{"containers":[{"name":"app","image":"busybox"}]},
  "status":{"phase":"Running","containerStatuses":[{"name":"app","ready":false,"restartCount":7,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}]"#;

#[test]
#[ignore = "writes kubectl fixtures to $WISP_DUMP_DIR"]
fn dump_fixtures() {
    let dir = std::env::var("WISP_DUMP_DIR").expect("set WISP_DUMP_DIR");
    let dir = Path::new(&dir);
    let mut reg = Registry::new();
    let mut catalog = Catalog::new();
    let crd: Value = json::from_str(CRD).unwrap();
    for version in crd_versions(&crd).unwrap() {
        if let Some(schema) = &version.schema {
            catalog.set_custom_schema(&version.resource.gvk(), schema);
        }
        reg.add_custom(version.resource).unwrap();
    }
    let cache = DiscoveryCache::new(&reg, "127.0.0.1:6443");
    for (root, name) in [(Root::Api, "api"), (Root::Apis, "apis")] {
        write(
            dir,
            &format!("{name}/legacy.json"),
            cache.root(root, DiscoveryFormat::Legacy).1,
        );
        let v2 = cache.root(root, DiscoveryFormat::AggregatedV2).1;
        write(dir, &format!("{name}/aggregated.json"), v2);
    }
    for (group, versions) in reg.groups() {
        for version in versions {
            let body = cache.group_version(group, version).unwrap();
            write(
                dir,
                &format!("{}/index.json", document_key(group, version)),
                body,
            );
        }
    }
    write(
        dir,
        "version/index.json",
        &json::to_string(&discovery::version_info()),
    );
    let mut docs = OpenApiDocs::new();
    write(dir, "openapi/v3/index.json", docs.root(&reg, &catalog));
    for (group, versions) in reg.groups() {
        for version in versions {
            let key = document_key(group, version);
            let (_, body) = docs.document(&reg, &catalog, &key).unwrap();
            write(dir, &format!("openapi/v3/{key}/index.json"), &body);
        }
    }
    let pods: Value = json::from_str(PODS).unwrap();
    let Value::Array(pods) = pods else { panic!() };
    let rows: Vec<&Value> = pods.iter().collect();
    let now = 1_735_689_600 + 3 * 3600;
    let list_meta = json::from_str(r#"{"resourceVersion":"812"}"#).unwrap();
    let table = table_json(
        reg.get("", "v1", "pods").unwrap(),
        &rows,
        now,
        IncludeObject::Metadata,
        list_meta,
    );
    write(
        dir,
        "api/v1/namespaces/default/pods/table.json",
        &json::to_string(&table),
    );
    let widget: Value = json::from_str(WIDGET).unwrap();
    let widgets = reg.get("example.com", "v1", "widgets").unwrap();
    let list_meta = json::from_str(r#"{"resourceVersion":"813"}"#).unwrap();
    let table = table_json(widgets, &[&widget], now, IncludeObject::Metadata, list_meta);
    let path = "apis/example.com/v1/namespaces/default/widgets";
    write(dir, &format!("{path}/table.json"), &json::to_string(&table));
    write(dir, &format!("{path}/w1/index.json"), WIDGET);
}

const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
  "metadata":{"name":"widgets.example.com"},
  "spec":{"group":"example.com","scope":"Namespaced",
    "names":{"plural":"widgets","singular":"widget","kind":"Widget","shortNames":["wd"],"categories":["all"]},
    "versions":[{"name":"v1","served":true,"storage":true,
      "schema":{"openAPIV3Schema":{"type":"object","description":"A widget.","properties":{
        "spec":{"type":"object","description":"What the widget should be.","properties":{
          "size":{"type":"integer","description":"Size in units."},
          "color":{"type":"string","description":"Paint color."}}},
        "status":{"type":"object","properties":{"ready":{"type":"boolean"}}}}}},
      "subresources":{"status":{},"scale":{"specReplicasPath":".spec.size","statusReplicasPath":".status.size"}},
      "additionalPrinterColumns":[
        {"name":"Size","type":"integer","jsonPath":".spec.size"},
        {"name":"Color","type":"string","jsonPath":".spec.color","priority":1},
        {"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}]}]}}"#;

const WIDGET: &str = r#"{"apiVersion":"example.com/v1","kind":"Widget",
  "metadata":{"name":"w1","namespace":"default","creationTimestamp":"2025-01-01T00:00:00Z","resourceVersion":"7",
    "annotations":{"kubectl.kubernetes.io/last-applied-configuration":"{\"apiVersion\":\"example.com/v1\",\"kind\":\"Widget\",\"metadata\":{\"name\":\"w1\",\"namespace\":\"default\"},\"spec\":{\"size\":1}}\n"}},
  "spec":{"size":1}}"#;
