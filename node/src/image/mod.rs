//! Images: content-addressed blobs, archive import, layers unpacked once, overlay mounts.
//!
//! Registry pulls live in `crate::pull`; this module stores what they fetch.

pub mod reference;

pub use reference::{Reference, ReferenceError};
