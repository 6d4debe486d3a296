//! The pull's error type: one variant per way a pull fails that a caller may treat
//! differently (retry, report `ErrImagePull` with a reason, ask for credentials).

use std::fmt;

use super::http::TransportError;

/// Why a pull failed; messages name the registry, image or digest involved.
#[derive(Debug)]
pub enum PullError {
    /// The repository or tag/digest is not well formed (nothing was sent).
    InvalidReference(String),
    /// The `PullConfig` is unusable (an extra CA bundle that does not parse).
    Config(String),
    /// Connecting, TLS (untrusted certificate, handshake) or reading failed.
    Transport(TransportError),
    /// The registry or token server answered something the protocol does not allow.
    Protocol(String),
    /// 404: no such repository, tag, manifest or blob.
    NotFound { what: String, detail: String },
    /// 401/403, or credentials needed and missing or rejected.
    Unauthorized { registry: String, detail: String },
    /// Any other non-2xx status (429, 5xx): usually worth retrying later.
    Registry {
        registry: String,
        status: u16,
        detail: String,
    },
    /// A manifest or index that does not parse or is of an unsupported kind.
    BadManifest(String),
    /// The image index lists no image that runs on the requested platform.
    NoMatchingPlatform {
        wanted: String,
        available: Vec<String>,
    },
    /// Content does not hash to the digest it was asked for by.
    DigestMismatch { expected: String, actual: String },
    /// Content is longer or shorter than its descriptor says.
    SizeMismatch {
        digest: String,
        expected: u64,
        actual: u64,
    },
    /// The blob sink failed to store verified content.
    Sink { digest: String, detail: String },
}

impl fmt::Display for PullError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::InvalidReference(detail) => write!(f, "invalid reference: {detail}"),
            Self::Config(detail) => write!(f, "bad pull configuration: {detail}"),
            Self::Transport(e) => e.fmt(f),
            Self::Protocol(detail) => write!(f, "registry protocol error: {detail}"),
            Self::NotFound { what, detail } => write!(f, "{what} not found ({detail})"),
            Self::Unauthorized { registry, detail } => {
                write!(f, "unauthorized at {registry}: {detail}")
            }
            Self::Registry {
                registry,
                status,
                detail,
            } => write!(f, "registry {registry} answered {status}: {detail}"),
            Self::BadManifest(detail) => write!(f, "bad manifest: {detail}"),
            Self::NoMatchingPlatform { wanted, available } => write!(
                f,
                "no image for platform {wanted}; available: {}",
                if available.is_empty() {
                    "none listed".to_owned()
                } else {
                    available.join(", ")
                }
            ),
            Self::DigestMismatch { expected, actual } => {
                write!(f, "digest mismatch: expected {expected}, got {actual}")
            }
            Self::SizeMismatch {
                digest,
                expected,
                actual,
            } => write!(
                f,
                "size mismatch for {digest}: expected {expected} bytes, got {actual}"
            ),
            Self::Sink { digest, detail } => write!(f, "storing {digest} failed: {detail}"),
        }
    }
}

impl std::error::Error for PullError {}

impl From<TransportError> for PullError {
    fn from(e: TransportError) -> PullError {
        PullError::Transport(e)
    }
}
