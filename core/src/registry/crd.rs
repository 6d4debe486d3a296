//! Turns a CustomResourceDefinition object (apiextensions.k8s.io/v1, as stored) into the
//! registry entries of its served versions, with their printer columns, subresources and
//! schemas, so a CRD controller can call `Registry::add_custom` and
//! `openapi::Catalog::set_custom_schema` with them.

use std::fmt;

use miniserde::json::Value;

use super::json::{arr_at, int_at, path, str_at};
use super::types::{PrinterColumn, Resource, ScalePaths, Scope, Str};

/// Why a CRD object cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrdError {
    /// A required field is missing or empty, e.g. `spec.names.plural`.
    Missing(&'static str),
    /// `spec.scope` is neither Namespaced nor Cluster.
    BadScope(String),
}

impl fmt::Display for CrdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrdError::Missing(field) => write!(f, "{field}: Required value"),
            CrdError::BadScope(scope) => {
                write!(f, "spec.scope: Unsupported value: \"{scope}\"")
            }
        }
    }
}

impl std::error::Error for CrdError {}

/// One served version of a CRD: its registry entry and its `openAPIV3Schema`, if any.
#[derive(Debug, Clone)]
pub struct CrdVersion {
    pub resource: Resource,
    pub schema: Option<Value>,
    /// Whether this is the storage version.
    pub storage: bool,
}

fn required<'a>(crd: &'a Value, keys: &[&str], name: &'static str) -> Result<&'a str, CrdError> {
    match str_at(crd, keys) {
        Some(text) if !text.is_empty() => Ok(text),
        _ => Err(CrdError::Missing(name)),
    }
}

fn strings(value: &Value, keys: &[&str]) -> Vec<String> {
    arr_at(value, keys)
        .iter()
        .filter_map(|v| match v {
            Value::String(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    arr_at(version, &["additionalPrinterColumns"])
        .iter()
        .map(|c| {
            let text = |k: &str| Str::from(str_at(c, &[k]).unwrap_or("").to_string());
            PrinterColumn {
                name: text("name"),
                type_: text("type"),
                format: text("format"),
                description: text("description"),
                priority: int_at(c, &["priority"]).unwrap_or(0),
                json_path: text("jsonPath"),
            }
        })
        .collect()
}

fn scale_paths(version: &Value) -> Option<ScalePaths> {
    let scale = path(version, &["subresources", "scale"])?;
    let text = |k: &str| str_at(scale, &[k]).map(|t| Str::from(t.to_string()));
    Some(ScalePaths {
        spec_replicas: text("specReplicasPath")?,
        status_replicas: text("statusReplicasPath")?,
        label_selector: text("labelSelectorPath"),
    })
}

/// The served versions of a CRD, in the order its `spec.versions` lists them.
pub fn crd_versions(crd: &Value) -> Result<Vec<CrdVersion>, CrdError> {
    let group = required(crd, &["spec", "group"], "spec.group")?;
    let plural = required(crd, &["spec", "names", "plural"], "spec.names.plural")?;
    let kind = required(crd, &["spec", "names", "kind"], "spec.names.kind")?;
    let singular = match str_at(crd, &["spec", "names", "singular"]) {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => kind.to_ascii_lowercase(),
    };
    let scope = match str_at(crd, &["spec", "scope"]).unwrap_or("") {
        "Namespaced" => Scope::Namespaced,
        "Cluster" => Scope::Cluster,
        other => return Err(CrdError::BadScope(other.to_string())),
    };
    let short_names = strings(crd, &["spec", "names", "shortNames"]);
    let categories = strings(crd, &["spec", "names", "categories"]);
    let mut out = Vec::new();
    for version in arr_at(crd, &["spec", "versions"]) {
        if !matches!(path(version, &["served"]), Some(Value::Bool(true))) {
            continue;
        }
        let name = required(version, &["name"], "spec.versions[].name")?;
        let mut resource = Resource::custom(
            group.to_string(),
            name.to_string(),
            kind.to_string(),
            plural.to_string(),
            singular.clone(),
            scope,
            short_names.clone(),
            categories.clone(),
        );
        if path(version, &["subresources", "status"]).is_some() {
            resource = resource.with_status();
        }
        resource.scale_paths = scale_paths(version);
        if resource.scale_paths.is_some() {
            resource = resource.with_scale();
        }
        resource.printer_columns = printer_columns(version);
        out.push(CrdVersion {
            resource,
            schema: path(version, &["schema", "openAPIV3Schema"]).cloned(),
            storage: matches!(path(version, &["storage"]), Some(Value::Bool(true))),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use miniserde::json;

    use super::*;

    const CRD: &str = r#"{"apiVersion":"apiextensions.k8s.io/v1","kind":"CustomResourceDefinition",
      "metadata":{"name":"widgets.example.com"},
      "spec":{"group":"example.com","scope":"Namespaced",
        "names":{"plural":"widgets","kind":"Widget","shortNames":["wd"],"categories":["all"]},
        "versions":[
          {"name":"v1","served":true,"storage":true,
           "schema":{"openAPIV3Schema":{"type":"object","properties":{"spec":{"type":"object"}}}},
           "subresources":{"status":{},"scale":{"specReplicasPath":".spec.replicas","statusReplicasPath":".status.replicas"}},
           "additionalPrinterColumns":[{"name":"Size","type":"integer","jsonPath":".spec.size","priority":1}]},
          {"name":"v1beta1","served":false,"storage":false}]}}"#;

    #[test]
    fn served_versions_become_resources() {
        let crd: Value = json::from_str(CRD).unwrap();
        let versions = crd_versions(&crd).unwrap();
        assert_eq!(versions.len(), 1);
        let v1 = &versions[0];
        assert!(v1.storage && v1.schema.is_some());
        let r = &v1.resource;
        assert_eq!(
            (r.plural.as_ref(), r.singular.as_ref()),
            ("widgets", "widget")
        );
        assert_eq!(r.short_names, ["wd"]);
        assert!(r.has_status() && r.has_scale() && r.namespaced());
        assert_eq!(
            r.scale_paths.as_ref().unwrap().spec_replicas,
            ".spec.replicas"
        );
        assert_eq!(r.printer_columns[0].priority, 1);
        assert_eq!(r.printer_columns[0].json_path, ".spec.size");
    }

    #[test]
    fn missing_names_and_bad_scope_are_errors() {
        let no_plural = CRD.replace(r#""plural":"widgets","#, "");
        let crd: Value = json::from_str(&no_plural).unwrap();
        assert_eq!(
            crd_versions(&crd).unwrap_err(),
            CrdError::Missing("spec.names.plural")
        );
        let bad_scope = CRD.replace("Namespaced", "Galaxy");
        let crd: Value = json::from_str(&bad_scope).unwrap();
        assert_eq!(
            crd_versions(&crd).unwrap_err().to_string(),
            "spec.scope: Unsupported value: \"Galaxy\""
        );
    }
}
