//! The schema catalog: built-in component schemas (indexed from `schemas`, compiled on
//! demand), custom resource schemas registered from CRDs, component naming, and the
//! unknown-field and pruning entry points by GVK.
//!
//! Only names and the static text are resident: a compiled catalog of JSON trees costs about
//! 800 kB of RAM, the index a few kilobytes. Validation compiles the closure of the kind it
//! checks (well under a millisecond).

use miniserde::json::{Object, Value};

use super::dsl::{self, full_name, gvk_value};
use super::schemas;
use super::unknown::{prune_unknown_in, unknown_fields_in};
use crate::registry::json::{arr, b, obj, s, set};
use crate::registry::{Gvk, Resource};

/// Every schema the server knows, by component name, and which component each kind uses.
#[derive(Debug, Clone)]
pub struct Catalog {
    builtin: Vec<dsl::Block>,
    /// (kind, component name, schema) of custom resource versions.
    custom: Vec<(Gvk, String, Value)>,
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

/// Quantity and IntOrString: scalar types without a top-level `type` (the alternatives are
/// listed instead), which is also what makes kubectl explain print `<Quantity>` and
/// `<IntOrString>` rather than `<string>`.
fn scalar_components() -> [(String, Value); 2] {
    let alternatives = |a: &str, b: &str| arr([obj([("type", s(a))]), obj([("type", s(b))])]);
    [
        (
            "io.k8s.apimachinery.pkg.api.resource.Quantity".into(),
            obj([
                ("oneOf", alternatives("string", "number")),
                (
                    "description",
                    s("A fixed-point number with a suffix, e.g. 500m, 1Gi or 2."),
                ),
            ]),
        ),
        (
            "io.k8s.apimachinery.pkg.util.intstr.IntOrString".into(),
            obj([
                ("anyOf", alternatives("integer", "string")),
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
        let texts = [
            schemas::META,
            schemas::POD,
            schemas::CORE,
            schemas::WORKLOADS,
            schemas::MORE,
        ];
        Catalog {
            builtin: texts.iter().flat_map(|t| dsl::index(t)).collect(),
            custom: Vec::new(),
            generation: 1,
        }
    }

    /// Moves whenever a custom schema changes.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// A component by name, compiled.
    pub fn component(&self, name: &str) -> Option<Value> {
        if let Some((_, schema)) = scalar_components().into_iter().find(|(n, _)| n == name) {
            return Some(schema);
        }
        if let Some((_, _, schema)) = self.custom.iter().find(|(_, n, _)| n == name) {
            return Some(schema.clone());
        }
        let block = self.builtin.iter().find(|b| b.name == name)?;
        dsl::compile_block(block.text).map(|c| c.schema)
    }

    /// Every component name.
    pub fn component_names(&self) -> Vec<String> {
        let scalars = scalar_components().into_iter().map(|(n, _)| n);
        let builtin = self.builtin.iter().map(|b| b.name.clone());
        let custom = self.custom.iter().map(|(_, n, _)| n.clone());
        scalars.chain(builtin).chain(custom).collect()
    }

    /// How many kinds have a schema.
    pub fn kind_count(&self) -> usize {
        self.builtin.iter().filter(|b| b.gvk.is_some()).count() + self.custom.len()
    }

    /// The component name of a kind's schema, if it has a detailed one.
    pub fn kind_schema_name(&self, gvk: &Gvk) -> Option<&str> {
        let custom = self.custom.iter().find(|(g, _, _)| g == gvk);
        if let Some((_, name, _)) = custom {
            return Some(name);
        }
        let block = self.builtin.iter().find(|b| b.gvk.as_ref() == Some(gvk))?;
        Some(&block.name)
    }

    /// The schema of a kind, if it has a detailed one.
    pub fn schema(&self, gvk: &Gvk) -> Option<Value> {
        self.component(self.kind_schema_name(gvk)?)
    }

    /// The named components and every component they reference, transitively.
    pub fn closure(&self, roots: &[&str]) -> Object {
        let mut into = Object::new();
        let mut pending: Vec<String> = roots.iter().map(|r| r.to_string()).collect();
        while let Some(name) = pending.pop() {
            if into.contains_key(&name) {
                continue;
            }
            let Some(schema) = self.component(&name) else {
                continue;
            };
            super::document::collect_refs(&schema, &mut pending);
            into.insert(name, schema);
        }
        into
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
        self.custom.retain(|(g, _, _)| g != gvk);
        self.custom.push((gvk.clone(), name, schema));
        self.generation += 1;
    }

    /// Forgets a custom resource version's schema.
    pub fn remove_custom_schema(&mut self, gvk: &Gvk) {
        let before = self.custom.len();
        self.custom.retain(|(g, _, _)| g != gvk);
        if self.custom.len() != before {
            self.generation += 1;
        }
    }

    /// Fields of `object` its kind's schema does not know, as `spec.foo` or
    /// `spec.containers[0].bar`, in document order. Kinds without a detailed schema report
    /// none.
    pub fn unknown_fields(&self, object: &Value, gvk: &Gvk) -> Vec<String> {
        let Some(name) = self.kind_schema_name(gvk) else {
            return Vec::new();
        };
        let components = self.closure(&[name]);
        match components.get(name) {
            Some(schema) => unknown_fields_in(object, schema, &components),
            None => Vec::new(),
        }
    }

    /// Removes the fields of `object` its kind's schema does not know (custom resources are
    /// pruned before they are stored) and returns their paths.
    pub fn prune_unknown(&self, object: &mut Value, gvk: &Gvk) -> Vec<String> {
        let Some(name) = self.kind_schema_name(gvk) else {
            return Vec::new();
        };
        let components = self.closure(&[name]);
        match components.get(name) {
            Some(schema) => prune_unknown_in(object, schema, &components),
            None => Vec::new(),
        }
    }

    /// The schema used in documents for a resource: the detailed one, or an open object
    /// that still describes apiVersion, kind and metadata.
    pub(super) fn document_schema(&self, r: &Resource) -> (String, Value) {
        let gvk = r.gvk();
        if let Some(name) = self.kind_schema_name(&gvk)
            && let Some(schema) = self.component(name)
        {
            return (name.to_string(), schema);
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
