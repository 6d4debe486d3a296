//! Registry pulls over the OCI distribution API: resolve a tag or digest to an image
//! manifest for one platform (through an image index when there is one), then stream the
//! config and layer blobs, each verified against its SHA-256 digest, into a `BlobSink` the
//! image store implements. Blocking I/O throughout: the agent runs pulls on its blocking
//! thread pool. It does not unpack layers or keep any state between pulls.

mod blob;
mod body;
mod challenge;
mod credentials;
mod endpoint;
mod error;
mod http;
mod manifest;
mod reference;
mod session;
mod tls;
mod url;

use std::io::Read;
use std::time::Duration;

pub use crate::image::Platform;
pub use challenge::{Challenge, parse as parse_www_authenticate};
pub use credentials::{Credentials, credentials_from_dockerconfigjson};
pub use error::PullError;
pub use http::TransportError;
pub use reference::is_sha256_digest;

use crate::image::reference::{validate_repository, validate_tag};
use endpoint::Endpoint;

/// Where pulled content goes: a content-addressed store keyed by `sha256:<hex>` digest.
pub trait BlobSink {
    fn has_blob(&self, digest: &str) -> bool;
    /// Stores the blob read from `data` to its end. A read error means the content is bad
    /// (wrong digest or size, or a broken connection): the sink must then not keep it.
    fn put_blob(&self, digest: &str, data: &mut dyn Read) -> Result<(), String>;
}

/// Operator settings for pulls.
#[derive(Debug, Clone)]
pub struct PullConfig {
    /// Registries (`host` or `host:port`) reached without certificate checks, and over
    /// plain HTTP when they do not speak TLS.
    pub insecure_registries: Vec<String>,
    /// PEM bundles of CAs trusted besides the system's CA bundle.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Limit on connecting and on each read or write (not on a whole download).
    pub timeout: Duration,
    /// Endpoints tried before a registry itself (pull-through caches, local copies).
    pub mirrors: Vec<Mirror>,
}

/// Mirrors of one registry (`docker.io` or a host), each `host[:port]` of a distribution
/// API serving the same repositories.
#[derive(Debug, Clone)]
pub struct Mirror {
    pub registry: String,
    pub endpoints: Vec<String>,
}

impl Default for PullConfig {
    fn default() -> PullConfig {
        PullConfig {
            insecure_registries: Vec::new(),
            extra_ca_pem: Vec::new(),
            timeout: Duration::from_secs(30),
            mirrors: Vec::new(),
        }
    }
}

/// What a pull produced. Every blob named here is in the sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pulled {
    /// Digest of the reference as the registry resolves it: the index's for multi-platform
    /// images (what `imageID`/repo digests show and what `resolve_digest` returns).
    pub repo_digest: String,
    /// Digest of the platform's image manifest (equal to `repo_digest` without an index).
    pub manifest_digest: String,
    pub manifest: Vec<u8>,
    pub config_digest: String,
    /// Layer digests, base layer first.
    pub layers: Vec<String>,
}

/// Progress of a pull, for events and logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullProgress {
    Resolved {
        manifest_digest: String,
        layers: usize,
    },
    BlobCached {
        digest: String,
        size: u64,
    },
    BlobStarted {
        digest: String,
        size: u64,
    },
    BlobProgress {
        digest: String,
        done: u64,
        total: u64,
    },
    BlobDone {
        digest: String,
    },
}

/// Pulls `registry/repository:reference` (`reference` a tag or `sha256:` digest) for
/// `platform`, from the registry's configured mirrors first, then from the registry itself.
/// Blobs the sink already has are skipped; the manifest (and the index) go into the sink
/// last, so a stored manifest implies its blobs are stored.
#[allow(clippy::too_many_arguments)]
pub fn pull(
    registry: &str,
    repository: &str,
    reference: &str,
    platform: &Platform,
    creds: Option<&Credentials>,
    cfg: &PullConfig,
    sink: &dyn BlobSink,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<Pulled, PullError> {
    check_names(repository, reference)?;
    first_success(endpoints(registry, creds, cfg), |endpoint| {
        endpoint::pull_from(
            endpoint, repository, reference, platform, cfg, sink, progress,
        )
    })
}

/// The digest `reference` resolves to now (the index's for multi-platform images), without
/// downloading blobs: for `imagePullPolicy: Always` against what is stored.
pub fn resolve_digest(
    registry: &str,
    repository: &str,
    reference: &str,
    creds: Option<&Credentials>,
    cfg: &PullConfig,
) -> Result<String, PullError> {
    check_names(repository, reference)?;
    first_success(endpoints(registry, creds, cfg), |endpoint| {
        endpoint::resolve_from(endpoint, repository, reference, cfg)
    })
}

/// Mirrors of `registry` (without credentials: those are for the registry alone), then the
/// registry's own API host.
fn endpoints<'a>(
    registry: &str,
    creds: Option<&'a Credentials>,
    cfg: &PullConfig,
) -> Vec<Endpoint<'a>> {
    let name = credentials::normalize_host(registry);
    let mirrors = cfg
        .mirrors
        .iter()
        .filter(|m| credentials::normalize_host(&m.registry) == name)
        .flat_map(|m| &m.endpoints)
        .map(|host| Endpoint {
            host: host.clone(),
            creds: None,
        });
    let upstream = Endpoint {
        host: reference::api_host(registry),
        creds,
    };
    mirrors.chain(std::iter::once(upstream)).collect()
}

/// Tries each endpoint in turn; content is verified by digest wherever it comes from, so a
/// failing mirror is simply passed over. Local failures (sink, configuration) stop at once.
fn first_success<T>(
    endpoints: Vec<Endpoint<'_>>,
    mut attempt: impl FnMut(&Endpoint<'_>) -> Result<T, PullError>,
) -> Result<T, PullError> {
    let mut endpoints = endpoints.into_iter().peekable();
    loop {
        let Some(endpoint) = endpoints.next() else {
            return Err(PullError::Config("no endpoint to pull from".into()));
        };
        match attempt(&endpoint) {
            Err(e @ (PullError::Sink { .. } | PullError::Config(_))) => return Err(e),
            Err(_) if endpoints.peek().is_some() => {}
            result => return result,
        }
    }
}

fn check_names(repository: &str, reference: &str) -> Result<(), PullError> {
    let tag_or_digest = is_sha256_digest(reference) || validate_tag(reference).is_ok();
    if validate_repository(repository).is_ok() && tag_or_digest {
        Ok(())
    } else {
        Err(PullError::InvalidReference(format!(
            "{repository:?} with reference {reference:?}"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_before_any_request() {
        let digest = crate::image::digest::of_bytes(b"");
        assert!(check_names("library/busybox", "1.36").is_ok());
        assert!(check_names("o/app", &digest).is_ok());
        for (repository, reference) in [
            ("../etc", "latest"),
            ("Upper", "latest"),
            ("app", "bad/tag"),
            ("app", ""),
            ("app", "sha256:short"),
            ("a//b", "latest"),
        ] {
            let err = check_names(repository, reference).unwrap_err();
            assert!(matches!(err, PullError::InvalidReference(_)), "{err}");
        }
    }
}
