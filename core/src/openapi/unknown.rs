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

fn walk_object(
    fields: &Object,
    v: &View<'_>,
    components: &Object,
    path: &str,
    out: &mut Vec<String>,
) {
    for (key, child) in fields {
        let child_path = join(path, key);
        if let Some(prop) = v.properties.iter().find_map(|p| p.get(key)) {
            walk(child, prop, components, &child_path, out);
            continue;
        }
        match v.additional {
            Some(Value::Bool(true)) => continue,
            Some(schema @ Value::Object(_)) => {
                walk(child, schema, components, &child_path, out);
                continue;
            }
            _ => {}
        }
        if v.embedded && matches!(key.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if !v.preserve && v.object_typed {
            out.push(child_path);
        }
    }
}

/// Unknown fields of `object` under `schema`, `$ref`s resolved in `components`.
pub fn unknown_fields_in(object: &Value, schema: &Value, components: &Object) -> Vec<String> {
    let mut out = Vec::new();
    walk(object, schema, components, "", &mut out);
    out
}
