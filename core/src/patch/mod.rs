//! Patches on dynamic JSON objects: RFC 6902 JSON patch, RFC 7386 merge patch, Kubernetes
//! strategic merge patch and server-side apply with managed fields. Everything here is a
//! pure function on `miniserde::json::Value`; decoding request bodies, choosing the patch
//! type from the Content-Type and answering with a Status belong to the API handlers.

pub mod apply;
pub mod field_set;
pub mod json_patch;
pub mod managed_fields;
pub mod merge_keys;
pub mod merge_patch;
pub mod strategic;
pub mod value;

pub use json_patch::{JsonPatchError, apply_json_patch};
pub use merge_patch::{MergePatchError, apply_merge_patch};

pub use apply::{ApplyError, ApplyResult, Conflict, ManagedFieldsEntry, apply, record_update};
pub use merge_keys::BuiltinPatchMeta;
pub use strategic::{
    ListStrategy, MapKey, NoPatchMeta, PatchMeta, StrategicMergeError, apply_strategic_merge_patch,
};
