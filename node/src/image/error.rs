//! The image store's error type: one enum for every way an image operation fails.

use std::fmt;
use std::io;
use std::path::PathBuf;

use super::reference::ReferenceError;

#[derive(Debug)]
pub enum ImageError {
    /// A filesystem operation failed; `what` says which.
    Io {
        what: String,
        source: io::Error,
    },
    /// Content did not hash to the digest it was stored or referenced under.
    DigestMismatch {
        expected: String,
        actual: String,
    },
    /// A digest string is not "sha256:<64 lowercase hex>".
    InvalidDigest(String),
    Reference(ReferenceError),
    /// A manifest, index or config is not what the OCI/docker formats describe.
    Format(String),
    /// An archive is neither an OCI layout nor a `docker save` archive.
    UnknownArchive(PathBuf),
    /// An OCI index has no manifest for the wanted platform.
    NoPlatform {
        wanted: String,
        available: Vec<String>,
    },
    /// A layer tar entry would land outside the layer directory.
    PathEscape(String),
    /// A blob the image needs is not in the store.
    MissingBlob(String),
    NotFound(String),
    /// Layer media types this build cannot unpack (zstd, encrypted).
    Unsupported(String),
    Mount(String),
}

impl ImageError {
    pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(io::Error) -> ImageError {
        let what = what.into();
        move |source| ImageError::Io { what, source }
    }
}

impl fmt::Display for ImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { what, source } => write!(f, "{what}: {source}"),
            Self::DigestMismatch { expected, actual } => {
                write!(
                    f,
                    "digest mismatch: expected {expected}, content is {actual}"
                )
            }
            Self::InvalidDigest(d) => write!(f, "invalid digest {d:?}"),
            Self::Reference(e) => e.fmt(f),
            Self::Format(m) => write!(f, "malformed image: {m}"),
            Self::UnknownArchive(p) => write!(
                f,
                "{} is neither an OCI archive (oci-layout, index.json) nor a docker archive (manifest.json)",
                p.display()
            ),
            Self::NoPlatform { wanted, available } => {
                write!(
                    f,
                    "no image for platform {wanted} (archive has: {})",
                    available.join(", ")
                )
            }
            Self::PathEscape(p) => write!(f, "layer entry {p:?} escapes the layer directory"),
            Self::MissingBlob(d) => write!(f, "blob {d} is not in the store"),
            Self::NotFound(r) => write!(f, "image {r} not found"),
            Self::Unsupported(m) => write!(f, "unsupported: {m}"),
            Self::Mount(m) => write!(f, "overlay mount: {m}"),
        }
    }
}

impl std::error::Error for ImageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Reference(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ReferenceError> for ImageError {
    fn from(e: ReferenceError) -> Self {
        ImageError::Reference(e)
    }
}
