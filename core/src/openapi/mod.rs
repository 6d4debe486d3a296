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

mod catalog;
mod document;
mod dsl;
mod paths;
mod schemas;
mod unknown;

pub use catalog::{Catalog, builtin_name, custom_name};
pub use document::{OpenApiDocs, content_hash, document_key, group_version_document};
pub use dsl::{full_name, gvk_value};
pub use paths::PATCH_CONTENT_TYPES;
pub use unknown::{prune_unknown_in, unknown_fields_in};

#[cfg(test)]
mod tests;
