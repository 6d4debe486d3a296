//! The resource registry as data: every served resource type with its group, version, kind,
//! names, scope, verbs, subresources and field selectors.
//!
//! Built-in types come from the static table in `builtin`; custom resources (from CRDs) are
//! added at runtime as the same [`Resource`] values, so discovery, OpenAPI, RBAC and the generic
//! REST path see one list. The registry owns no objects and knows nothing of storage beyond
//! the key prefix of each type.

mod builtin;
mod crd;
pub mod json;
mod lookup;
mod types;

pub use crd::{CrdError, CrdVersion, crd_versions};
pub use lookup::{Registry, RegistryError};
pub use types::{
    FieldLabel, Gvk, PrinterColumn, Resource, ScalePaths, Scope, Str, Subresource, Verbs,
    group_version,
};

#[cfg(test)]
mod tests;
