//! Images: content-addressed blobs, archive import, layers unpacked once, overlay mounts.
//!
//! `ImageStore` is the entry point: it imports OCI and `docker save` archives (what a board
//! boots from offline), stores what registry pulls fetch (`crate::pull` does the fetching),
//! resolves references, unpacks layers for overlay rootfs mounts and collects garbage.
//! Everything here is blocking; the agent calls it from its blocking thread pool.

mod archive;
mod blobs;
mod catalog;
pub mod digest;
pub(crate) mod document;
mod error;
mod import;
mod layers;
pub mod overlay;
pub mod platform;
pub mod reference;
mod store;
#[cfg(test)]
mod testdir;
#[doc(hidden)]
pub mod testimage;
mod unpack;

pub use error::ImageError;
pub use platform::Platform;
pub use reference::{Reference, ReferenceError};
pub use store::{ArchiveOutcome, ImageStore};

/// An image in the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageInfo {
    /// Normalized references naming it ("docker.io/library/busybox:latest"); may be empty.
    pub references: Vec<String>,
    /// The config digest "sha256:...", what `docker images` and the CRI call the image id.
    pub id: String,
    pub manifest_digest: String,
    /// Bytes of config and layer blobs as stored (compressed).
    pub size: u64,
    pub config: ImageConfig,
    /// Layer diff ids, bottom layer first.
    pub layers: Vec<String>,
    pub platform: Platform,
}

/// The run defaults an image config carries; empty means not set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageConfig {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// "KEY=value" entries.
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
}

/// Import progress: archive bytes read so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Archive layout for test images.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI image layout (oci-layout, index.json, blobs/sha256) with gzip layers.
    Oci,
    /// `docker save` layout (manifest.json, <id>/layer.tar, <config>.json), plain layers.
    Docker,
}
