//! OpenAPI v3 for `/openapi/v3`: the schema catalog (built-in types from `schemas`, custom
//! resources from their CRDs), per group/version documents with paths and components, the
//! root document whose `serverRelativeURL`s carry a content hash, and unknown-field detection
//! for `fieldValidation=Strict` and CRD pruning.
//!
//! kubectl 1.32 needs no `/openapi/v2` when these documents are complete: validation looks
//! for the PATCH operation's GVK and `fieldValidation` parameter in v3
//! (cli-runtime query_param_verifier_v3.go) and loads v2 lazily only when that fails;
//! explain reads v3 and falls back to v2 only when `/openapi/v3` fails (kubectl
//! explain.go, lazy since kubernetes PR 121600); apply asks v2 only when the v3 PATCH
//! operation does not list strategic merge patch, and treats any v2 error as "use the
//! compiled-in types". Serving `/openapi/v2` as 404 is therefore safe.

mod dsl;
mod paths;
mod schemas;
mod unknown;

use miniserde::json::{Object, Value};

pub use dsl::{full_name, gvk_value};
pub use paths::PATCH_CONTENT_TYPES;
pub use unknown::{prune_unknown_in, unknown_fields_in};

use crate::registry::json::{arr, b, obj, s, set, to_string};
use crate::registry::{Gvk, Registry, Resource};

/// Every schema the server knows, by component name, and which component each kind uses.
#[derive(Debug, Clone)]
pub struct Catalog {
    components: Object,
    kinds: Vec<(Gvk, String)>,
    generation: u64,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::new()
    }
}

/// The component name upstream gives a built-in kind: `io.k8s.api.<group>.<version>.<Kind>`
/// with the group's first label (`core` for the core group).
pub fn builtin_name(gvk: &Gvk) -> String {
    if gvk.group == "apiextensions.k8s.io" {
        return format!(
            "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{}.{}",
            gvk.version, gvk.kind
        );
    }
    let group = match gvk.group.as_ref() {
        "" => "core",
        g => g.split('.').next().unwrap_or(g),
    };
    format!("io.k8s.api.{group}.{}.{}", gvk.version, gvk.kind)
}

/// The component name of a custom kind: the group reversed (`com.example`), version, kind.
pub fn custom_name(gvk: &Gvk) -> String {
    let reversed: Vec<&str> = gvk.group.split('.').rev().collect();
    format!("{}.{}.{}", reversed.join("."), gvk.version, gvk.kind)
}

fn scalar_components() -> [(String, Value); 2] {
    [
        (
            "io.k8s.apimachinery.pkg.api.resource.Quantity".into(),
            obj([
                ("type", s("string")),
                (
                    "description",
                    s("A fixed-point number with a suffix, e.g. 500m, 1Gi or 2."),
                ),
            ]),
        ),
        (
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(),
            obj([
                ("type", s("string")),
                ("format", s("int-or-string")),
                ("x-kubernetes-int-or-string", b(true)),
                ("description", s("An integer or a string.")),
            ]),
        ),
    ]
}

impl Catalog {
    /// The built-in schemas.
    pub fn new() -> Catalog {
        let mut catalog = Catalog {
            components: Object::new(),
            kinds: Vec::new(),
            generation: 1,
        };
        for (name, schema) in scalar_components() {
            catalog.components.insert(name, schema);
        }
        let texts = [
            schemas::META,
            schemas::POD,
            schemas::CORE,
            schemas::WORKLOADS,
            schemas::MORE,
        ];
        for component in texts.iter().flat_map(|t| dsl::compile(t)) {
            if let Some(gvk) = component.gvk {
                catalog.kinds.push((gvk, component.name.clone()));
            }
            catalog.components.insert(component.name, component.schema);
        }
        catalog
    }

    /// Moves whenever a custom schema changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A component by name.
    pub fn component(&self, name: &str) -> Option<&Value> {
        self.components.get(name)
    }

    /// The components map, for resolving `$ref`s.
    pub fn components(&self) -> &Object {
        &self.components
    }

    /// The component name of a kind's schema, if it has a detailed one.
    pub fn kind_schema_name(&self, gvk: &Gvk) -> Option<&str> {
        self.kinds
            .iter()
            .find(|(g, _)| g == gvk)
            .map(|(_, n)| n.as_str())
    }

    /// The schema of a kind, if it has a detailed one.
    pub fn schema(&self, gvk: &Gvk) -> Option<&Value> {
        self.component(self.kind_schema_name(gvk)?)
    }

    /// Registers a custom resource version's `openAPIV3Schema` (from its CRD). The stored
    /// schema gets `apiVersion`, `kind`, `metadata` (as ObjectMeta) and the GVK extension, as
    /// upstream publishes it.
    pub fn set_custom_schema(&mut self, gvk: &Gvk, schema: &Value) {
        let name = custom_name(gvk);
        let mut schema = match schema {
            Value::Object(_) => schema.clone(),
            _ => obj([("type", s("object"))]),
        };
        let mut properties = match crate::registry::json::path(&schema, &["properties"]) {
            Some(Value::Object(p)) => p.clone(),
            _ => Object::new(),
        };
        properties.insert(
            "apiVersion".into(),
            dsl::type_schema("string", "Versioned schema of this object."),
        );
        properties.insert(
            "kind".into(),
            dsl::type_schema("string", "The REST resource this object represents."),
        );
        properties.insert(
            "metadata".into(),
            dsl::ref_schema(
                &full_name("meta.v1.ObjectMeta"),
                "Standard object metadata.",
            ),
        );
        set(&mut schema, "properties", Value::Object(properties));
        set(
            &mut schema,
            "x-kubernetes-group-version-kind",
            arr([gvk_value(gvk)]),
        );
        self.kinds.retain(|(g, _)| g != gvk);
        self.kinds.push((gvk.clone(), name.clone()));
        self.components.insert(name, schema);
        self.generation += 1;
    }

    /// Forgets a custom resource version's schema.
    pub fn remove_custom_schema(&mut self, gvk: &Gvk) {
        let name = custom_name(gvk);
        if self.components.remove(&name).is_some() {
            self.kinds.retain(|(g, _)| g != gvk);
            self.generation += 1;
        }
    }

    /// Fields of `object` its kind's schema does not know, as `spec.foo` or
    /// `spec.containers[0].bar`, in document order. Kinds without a detailed schema report
    /// none.
    pub fn unknown_fields(&self, object: &Value, gvk: &Gvk) -> Vec<String> {
        match self.schema(gvk) {
            Some(schema) => unknown_fields_in(object, schema, &self.components),
            None => Vec::new(),
        }
    }

    /// Removes the fields of `object` its kind's schema does not know (custom resources are
    /// pruned before they are stored) and returns their paths.
    pub fn prune_unknown(&self, object: &mut Value, gvk: &Gvk) -> Vec<String> {
        match self.schema(gvk) {
            Some(schema) => prune_unknown_in(object, schema, &self.components),
            None => Vec::new(),
        }
    }

    /// The schema used in documents for a resource: the detailed one, or an open object
    /// that still describes apiVersion, kind and metadata.
    fn document_schema(&self, r: &Resource) -> (String, Value) {
        let gvk = r.gvk();
        if let Some(name) = self.kind_schema_name(&gvk)
            && let Some(schema) = self.component(name)
        {
            return (name.to_string(), schema.clone());
        }
        let name = if r.builtin {
            builtin_name(&gvk)
        } else {
            custom_name(&gvk)
        };
        let open = dsl::compile(&format!(
            "@{name} gvk={}:{}:{} open | {} objects.\n  spec object | Desired state.\n  status object | Observed state.",
            gvk.group, gvk.version, gvk.kind, gvk.kind
        ));
        let schema = open.into_iter().next().map_or(Value::Null, |c| c.schema);
        (name, schema)
    }
}

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

/// Adds `name` and every component it references, transitively.
fn add_closure(catalog: &Catalog, name: &str, into: &mut Object) {
    if into.contains_key(name) {
        return;
    }
    let Some(schema) = catalog.component(name) else {
        return;
    };
    into.insert(name.to_string(), schema.clone());
    let mut refs = Vec::new();
    collect_refs(schema, &mut refs);
    for r in refs {
        add_closure(catalog, &r, into);
    }
}

fn collect_refs(value: &Value, refs: &mut Vec<String>) {
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
        for r in refs {
            add_closure(catalog, &r, &mut components);
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

#[cfg(test)]
mod tests;
