//! Unknown-field detection: walks an object against an OpenAPI v3 schema (following `$ref`
//! and `allOf`) and names every field the schema does not declare, as upstream's strict
//! decoding reports them (`spec.foo`, `spec.containers[0].bar`).
//!
//! Rules follow structural schemas: an object schema without `properties`,
//! `additionalProperties` or `x-kubernetes-preserve-unknown-fields` knows no fields; maps
//! (`additionalProperties`) accept any key; preserved subtrees are not reported; embedded
//! resources (`x-kubernetes-embedded-resource`) always accept apiVersion, kind and metadata.

use miniserde::json::{Object, Value};

/// What a schema says about one JSON node, after following references.
#[derive(Default)]
struct View<'a> {
    properties: Vec<&'a Object>,
    additional: Option<&'a Value>,
    items: Option<&'a Value>,
    preserve: bool,
    embedded: bool,
    object_typed: bool,
}

fn flag(schema: &Object, key: &str) -> bool {
    matches!(schema.get(key), Some(Value::Bool(true)))
}

/// Collects the view of `schema`, following `$ref` and `allOf` (depth-limited for cycles).
fn view<'a>(schema: &'a Value, components: &'a Object, into: &mut View<'a>, depth: u8) {
    let Value::Object(map) = schema else {
        return;
    };
    if depth > 16 {
        into.preserve = true;
        return;
    }
    if let Some(Value::String(target)) = map.get("$ref") {
        let name = target.trim_start_matches("#/components/schemas/");
        match components.get(name) {
            Some(resolved) => view(resolved, components, into, depth + 1),
            None => into.preserve = true,
        }
    }
    if let Some(Value::Array(all)) = map.get("allOf") {
        for member in all {
            view(member, components, into, depth + 1);
        }
    }
    if let Some(Value::Object(props)) = map.get("properties") {
        into.properties.push(props);
        into.object_typed = true;
    }
    if matches!(map.get("type"), Some(Value::String(t)) if t == "object") {
        into.object_typed = true;
    }
    into.additional = into.additional.or(map.get("additionalProperties"));
    into.items = into.items.or(map.get("items"));
    into.preserve |= flag(map, "x-kubernetes-preserve-unknown-fields");
    into.embedded |= flag(map, "x-kubernetes-embedded-resource");
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn walk(value: &Value, schema: &Value, components: &Object, path: &str, out: &mut Vec<String>) {
    let mut v = View::default();
    view(schema, components, &mut v, 0);
    match value {
        Value::Object(fields) => walk_object(fields, &v, components, path, out),
        Value::Array(items) => {
            if let Some(item_schema) = v.items {
                for (i, item) in items.iter().enumerate() {
                    walk(item, item_schema, components, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// How a field of an object relates to the object's schema.
enum Child<'a> {
    /// Declared (or a map value): walk it with this schema.
    Known(&'a Value),
    /// Accepted without a schema (preserved, `additionalProperties: true`, embedded meta).
    Accepted,
    Unknown,
}

fn classify<'a>(key: &str, v: &View<'a>) -> Child<'a> {
    if let Some(prop) = v.properties.iter().find_map(|p| p.get(key)) {
        return Child::Known(prop);
    }
    match v.additional {
        Some(Value::Bool(true)) => return Child::Accepted,
        Some(schema @ Value::Object(_)) => return Child::Known(schema),
        _ => {}
    }
    if v.embedded && matches!(key, "apiVersion" | "kind" | "metadata") {
        return Child::Accepted;
    }
    if !v.preserve && v.object_typed {
        Child::Unknown
    } else {
        Child::Accepted
    }
}

fn walk_object(
    fields: &Object,
    v: &View<'_>,
    components: &Object,
    path: &str,
    out: &mut Vec<String>,
) {
    for (key, child) in fields {
        let child_path = join(path, key);
        match classify(key, v) {
            Child::Known(schema) => walk(child, schema, components, &child_path, out),
            Child::Accepted => {}
            Child::Unknown => out.push(child_path),
        }
    }
}

fn prune(
    value: &mut Value,
    schema: &Value,
    components: &Object,
    path: &str,
    out: &mut Vec<String>,
) {
    let mut v = View::default();
    view(schema, components, &mut v, 0);
    match value {
        Value::Object(fields) => {
            let mut gone = Vec::new();
            for (key, child) in fields.iter_mut() {
                let child_path = join(path, key);
                match classify(key, &v) {
                    Child::Known(schema) => prune(child, schema, components, &child_path, out),
                    Child::Accepted => {}
                    Child::Unknown => {
                        gone.push(key.clone());
                        out.push(child_path);
                    }
                }
            }
            for key in gone {
                fields.remove(&key);
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = v.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune(item, item_schema, components, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// Removes the fields `schema` does not declare (structural-schema pruning, as custom
/// resources are stored) and returns their paths.
pub fn prune_unknown_in(object: &mut Value, schema: &Value, components: &Object) -> Vec<String> {
    let mut out = Vec::new();
    prune(object, schema, components, "", &mut out);
    out
}

/// Unknown fields of `object` under `schema`, `$ref`s resolved in `components`.
pub fn unknown_fields_in(object: &Value, schema: &Value, components: &Object) -> Vec<String> {
    let mut out = Vec::new();
    walk(object, schema, components, "", &mut out);
    out
}
