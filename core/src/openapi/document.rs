//! Group/version documents and the `/openapi/v3` cache: paths plus the closure of the
//! components they reference, content hashes, and the root document.

use miniserde::json::{Object, Value};

use super::catalog::{Catalog, builtin_name};
use super::dsl::{self, full_name, gvk_value};
use super::paths;
use crate::registry::json::{arr, obj, s, to_string};
use crate::registry::{Gvk, Registry};

/// The schema of a kind's list.
fn list_schema(gvk: &Gvk, item: &str) -> Value {
    let list_gvk = Gvk::new(
        gvk.group.clone(),
        gvk.version.clone(),
        format!("{}List", gvk.kind),
    );
    obj([
        ("type", s("object")),
        (
            "description",
            s(&format!("A list of {} objects.", gvk.kind)),
        ),
        ("required", arr([s("items")])),
        (
            "properties",
            obj([
                (
                    "apiVersion",
                    dsl::type_schema("string", "Versioned schema of this list."),
                ),
                (
                    "kind",
                    dsl::type_schema("string", "The REST resource this list represents."),
                ),
                (
                    "items",
                    obj([("type", s("array")), ("items", dsl::ref_schema(item, ""))]),
                ),
                (
                    "metadata",
                    dsl::ref_schema(&full_name("meta.v1.ListMeta"), "Standard list metadata."),
                ),
            ]),
        ),
        (
            "x-kubernetes-group-version-kind",
            arr([gvk_value(&list_gvk)]),
        ),
    ])
}

pub(super) fn collect_refs(value: &Value, refs: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(target)) => {
                        if let Some(name) = target.strip_prefix("#/components/schemas/") {
                            refs.push(name.to_string());
                        }
                    }
                    _ => collect_refs(v, refs),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, refs)),
        _ => {}
    }
}

/// The OpenAPI v3 document of one group/version.
pub fn group_version_document(
    registry: &Registry,
    catalog: &Catalog,
    group: &str,
    version: &str,
) -> Option<Value> {
    let mut paths = Object::new();
    let mut components = Object::new();
    let mut found = false;
    for r in registry.in_group_version(group, version) {
        found = true;
        let (name, schema) = catalog.document_schema(r);
        let list_name = format!("{name}List");
        let target = paths::Target {
            resource: r,
            schema: &name,
            list_schema: &list_name,
        };
        paths::add_resource_paths(&mut paths, &target);
        components.insert(list_name, list_schema(&r.gvk(), &name));
        let mut refs = Vec::new();
        collect_refs(&schema, &mut refs);
        components.insert(name, schema);
        for sub in r.subresources.iter().filter(|s| s.name == "scale") {
            refs.push(builtin_name(&sub.response));
        }
        for common in [
            "meta.v1.Status",
            "meta.v1.DeleteOptions",
            "meta.v1.Patch",
            "meta.v1.ListMeta",
        ] {
            refs.push(full_name(common));
        }
        refs.retain(|r| !components.contains_key(r));
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        for (name, schema) in catalog.closure(&refs) {
            components.entry(name).or_insert(schema);
        }
    }
    if !found {
        return None;
    }
    Some(obj([
        ("openapi", s("3.0.0")),
        (
            "info",
            obj([
                ("title", s("Kubernetes")),
                ("version", s(&crate::discovery::git_version())),
            ]),
        ),
        ("paths", Value::Object(paths)),
        (
            "components",
            obj([
                ("schemas", Value::Object(components)),
                ("parameters", paths::parameter_components()),
            ]),
        ),
    ]))
}

/// 64-bit FNV-1a of the document bytes, as 16 uppercase hex digits: only needs to change
/// when the document does (clients cache per URL).
pub fn content_hash(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016X}")
}

/// `/openapi/v3` answers. Keeps only the root and each document's hash (documents are
/// hundreds of kilobytes in all, requested rarely and cached by clients per hash); bodies are
/// regenerated on request, deterministically, so they always match their hash. Nothing is
/// built until the first request, so start-up does not pay for it.
#[derive(Debug, Default)]
pub struct OpenApiDocs {
    built_from: (u64, u64),
    root: String,
    /// (`apis/apps/v1`, hash)
    hashes: Vec<(String, String)>,
}

/// The root-document key of a group/version: `api/v1` or `apis/apps/v1`.
pub fn document_key(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn parse_key(key: &str) -> Option<(&str, &str)> {
    if let Some(version) = key.strip_prefix("api/") {
        return Some(("", version));
    }
    key.strip_prefix("apis/")?.split_once('/')
}

impl OpenApiDocs {
    /// An empty cache; the first request builds it.
    pub fn new() -> OpenApiDocs {
        OpenApiDocs::default()
    }

    pub fn is_current(&self, registry: &Registry, catalog: &Catalog) -> bool {
        self.built_from == (registry.generation(), catalog.generation())
    }

    /// Rebuilds the root and hashes if the registry or the catalog changed.
    pub fn refresh(&mut self, registry: &Registry, catalog: &Catalog) {
        if !self.is_current(registry, catalog) {
            self.rebuild(registry, catalog);
        }
    }

    fn rebuild(&mut self, registry: &Registry, catalog: &Catalog) {
        self.hashes.clear();
        let mut root_paths = Object::new();
        for (group, versions) in registry.groups() {
            for version in versions {
                let Some(doc) = group_version_document(registry, catalog, group, version) else {
                    continue;
                };
                let hash = content_hash(to_string(&doc).as_bytes());
                let key = document_key(group, version);
                let url = format!("/openapi/v3/{key}?hash={hash}");
                root_paths.insert(key.clone(), obj([("serverRelativeURL", s(&url))]));
                self.hashes.push((key, hash));
            }
        }
        self.root = to_string(&obj([("paths", Value::Object(root_paths))]));
        self.built_from = (registry.generation(), catalog.generation());
    }

    /// `GET /openapi/v3`.
    pub fn root(&mut self, registry: &Registry, catalog: &Catalog) -> &str {
        self.refresh(registry, catalog);
        &self.root
    }

    /// The current hash of a document, for redirecting stale `?hash=` requests.
    pub fn hash(&mut self, registry: &Registry, catalog: &Catalog, key: &str) -> Option<&str> {
        self.refresh(registry, catalog);
        self.hashes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, hash)| hash.as_str())
    }

    /// `GET /openapi/v3/<key>` (`api/v1`, `apis/apps/v1`): (hash, body). Serve with
    /// `Cache-Control: public, immutable` when the request's `hash` matches, as upstream does.
    pub fn document(
        &mut self,
        registry: &Registry,
        catalog: &Catalog,
        key: &str,
    ) -> Option<(String, String)> {
        let hash = self.hash(registry, catalog, key)?.to_string();
        let (group, version) = parse_key(key)?;
        let body = to_string(&group_version_document(registry, catalog, group, version)?);
        Some((hash, body))
    }
}
