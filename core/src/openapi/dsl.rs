//! A tiny text format for schemas, compiled to OpenAPI v3 schema Values at startup, so the
//! built-in types read as a table instead of pages of JSON literals.
//!
//! ```text
//! @core.v1.ConfigMap gvk=:v1:ConfigMap | Holds configuration data for pods.
//!   immutable bool | When true, data cannot be changed.
//!   data map[string] | Configuration data.
//! ```
//! A header starts with `@name`, then optional `gvk=group:version:Kind` (which also adds
//! `apiVersion`, `kind` and `metadata`) and `open` (unknown fields are preserved), then `|`
//! and the description. Field lines are indented: `name[!] type | description`, `!` marking
//! a required field. Types: `string`, `string(A,B)` (enum), `int32`, `int64`, `number`,
//! `bool`, `time`, `bytes`, `quantity`, `intstr`, `object` (any object, fields preserved),
//! `@ref`, `[]T`, `map[T]`. Short names expand: `meta.v1.X` to
//! `io.k8s.apimachinery.pkg.apis.meta.v1.X`, others to `io.k8s.api.<name>`.

use miniserde::json::{Object, Value};

use crate::registry::Gvk;
use crate::registry::json::{arr, b, obj, s, set, strs};

/// One compiled schema component.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: String,
    pub gvk: Option<Gvk>,
    pub schema: Value,
}

/// Expands a short schema name to its OpenAPI component name.
pub fn full_name(short: &str) -> String {
    if short.starts_with("io.") || short.starts_with("com.") {
        short.to_string()
    } else if let Some(rest) = short.strip_prefix("meta.") {
        format!("io.k8s.apimachinery.pkg.apis.meta.{rest}")
    } else {
        format!("io.k8s.api.{short}")
    }
}

/// `#/components/schemas/<full name>`.
pub fn ref_to(full: &str) -> String {
    format!("#/components/schemas/{full}")
}

/// The schema of a reference, wrapped as upstream does so a field description can sit
/// beside it (`allOf` with one `$ref`; kubectl explain follows it).
pub fn ref_schema(full: &str, description: &str) -> Value {
    let target = obj([("$ref", s(&ref_to(full)))]);
    if description.is_empty() {
        return target;
    }
    obj([("allOf", arr([target])), ("description", s(description))])
}

/// The schema for a type expression.
pub fn type_schema(expr: &str, description: &str) -> Value {
    let mut schema = if let Some(item) = expr.strip_prefix("[]") {
        obj([("type", s("array")), ("items", type_schema(item, ""))])
    } else if let Some(inner) = expr.strip_prefix("map[").and_then(|r| r.strip_suffix(']')) {
        obj([
            ("type", s("object")),
            ("additionalProperties", type_schema(inner, "")),
        ])
    } else if let Some(target) = expr.strip_prefix('@') {
        return ref_schema(&full_name(target), description);
    } else if let Some(values) = expr
        .strip_prefix("string(")
        .and_then(|r| r.strip_suffix(')'))
    {
        obj([("type", s("string")), ("enum", strs(values.split(',')))])
    } else {
        scalar(expr)
    };
    if !description.is_empty() {
        set(&mut schema, "description", s(description));
    }
    schema
}

fn scalar(expr: &str) -> Value {
    match expr {
        "int32" | "int64" => obj([("type", s("integer")), ("format", s(expr))]),
        "number" => obj([("type", s("number")), ("format", s("double"))]),
        "bool" => obj([("type", s("boolean"))]),
        "time" => obj([("type", s("string")), ("format", s("date-time"))]),
        "bytes" => obj([("type", s("string")), ("format", s("byte"))]),
        "quantity" => ref_schema("io.k8s.apimachinery.pkg.api.resource.Quantity", ""),
        "intstr" => ref_schema("io.k8s.apimachinery.pkg.util.intstr.IntOrString", ""),
        "object" => obj([
            ("type", s("object")),
            ("x-kubernetes-preserve-unknown-fields", b(true)),
        ]),
        _ => obj([("type", s("string"))]),
    }
}

/// A type being compiled.
struct Draft {
    name: String,
    gvk: Option<Gvk>,
    open: bool,
    description: String,
    properties: Object,
    required: Vec<String>,
}

impl Draft {
    fn header(line: &str) -> Draft {
        let (head, description) = line.split_once('|').unwrap_or((line, ""));
        let mut words = head.split_whitespace();
        let name = full_name(words.next().unwrap_or("@").trim_start_matches('@'));
        let mut draft = Draft {
            name,
            gvk: None,
            open: false,
            description: description.trim().to_string(),
            properties: Object::new(),
            required: Vec::new(),
        };
        for word in words {
            if word == "open" {
                draft.open = true;
            } else if let Some(gvk) = word.strip_prefix("gvk=") {
                let mut parts = gvk.splitn(3, ':');
                let (g, v, k) = (parts.next(), parts.next(), parts.next());
                draft.gvk = Some(Gvk::new(
                    g.unwrap_or("").to_string(),
                    v.unwrap_or("").to_string(),
                    k.unwrap_or("").to_string(),
                ));
            }
        }
        if draft.gvk.is_some() {
            draft
                .field("apiVersion string | Versioned schema of this representation of an object.");
            draft.field("kind string | The REST resource this object represents, in CamelCase.");
            draft.field("metadata @meta.v1.ObjectMeta | Standard object metadata.");
        }
        draft
    }

    fn field(&mut self, line: &str) {
        let (head, description) = line.split_once('|').unwrap_or((line, ""));
        let mut words = head.split_whitespace();
        let (Some(name), Some(expr)) = (words.next(), words.next()) else {
            return;
        };
        let name = match name.strip_suffix('!') {
            Some(required) => {
                self.required.push(required.to_string());
                required
            }
            None => name,
        };
        self.properties
            .insert(name.to_string(), type_schema(expr, description.trim()));
    }

    fn finish(self) -> Component {
        let mut schema = obj([
            ("type", s("object")),
            ("description", s(&self.description)),
            ("properties", Value::Object(self.properties)),
        ]);
        if !self.required.is_empty() {
            set(
                &mut schema,
                "required",
                strs(self.required.iter().map(String::as_str)),
            );
        }
        if self.open {
            set(&mut schema, "x-kubernetes-preserve-unknown-fields", b(true));
        }
        if let Some(gvk) = &self.gvk {
            set(
                &mut schema,
                "x-kubernetes-group-version-kind",
                arr([gvk_value(gvk)]),
            );
        }
        Component {
            name: self.name,
            gvk: self.gvk,
            schema,
        }
    }
}

/// `{"group":..,"kind":..,"version":..}` as the extension carries it.
pub fn gvk_value(gvk: &Gvk) -> Value {
    obj([
        ("group", s(&gvk.group)),
        ("kind", s(&gvk.kind)),
        ("version", s(&gvk.version)),
    ])
}

/// One type of schema text, indexed but not compiled: compiled on demand, so the resident
/// catalog is a few kilobytes of names instead of hundreds of kilobytes of JSON trees.
#[derive(Debug, Clone)]
pub struct Block {
    pub name: String,
    pub gvk: Option<Gvk>,
    /// The header line (without its leading `@`) and the field lines.
    pub text: &'static str,
}

/// Splits schema text into its type blocks.
pub fn index(text: &'static str) -> Vec<Block> {
    text.split("\n@")
        .filter_map(|piece| {
            let component = compile_block(piece)?;
            Some(Block {
                name: component.name,
                gvk: component.gvk,
                text: piece,
            })
        })
        .collect()
}

/// Compiles one block (a header line, with or without `@`, then field lines).
pub fn compile_block(text: &str) -> Option<Component> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header = lines.next()?;
    if !header.trim_start().starts_with('@') && header.starts_with(' ') {
        return None;
    }
    let mut draft = Draft::header(header.trim_start());
    for line in lines {
        draft.field(line);
    }
    Some(draft.finish())
}

/// Compiles schema text into components, in order of appearance.
pub fn compile(text: &str) -> Vec<Component> {
    let mut components = Vec::new();
    let mut current: Option<Draft> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if line.starts_with('@') {
            components.extend(current.take().map(Draft::finish));
            current = Some(Draft::header(line));
        } else if let Some(draft) = current.as_mut() {
            draft.field(line);
        }
    }
    components.extend(current.map(Draft::finish));
    components
}
