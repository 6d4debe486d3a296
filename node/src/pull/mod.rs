//! Registry pulls over the OCI distribution API: resolve a tag or digest to an image
//! manifest for one platform (through an image index when there is one), then stream the
//! config and layer blobs, each verified against its SHA-256 digest, into a `BlobSink` the
//! image store implements. Blocking I/O throughout: the agent runs pulls on its blocking
//! thread pool. It does not unpack layers or keep any state between pulls.

mod blob;
mod body;
mod challenge;
mod credentials;
mod error;
mod http;
mod manifest;
mod platform;
mod reference;
mod session;
mod tls;
mod url;

use std::io::Read;
use std::time::Duration;

pub use challenge::{Challenge, parse as parse_www_authenticate};
pub use credentials::{Credentials, credentials_from_dockerconfigjson};
pub use error::PullError;
pub use http::TransportError;
pub use platform::Platform;
pub use reference::{ImageReference, is_sha256_digest};

use manifest::Document;
use session::Session;

/// Largest manifest or index accepted (they are held in memory; real ones are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

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
    /// PEM bundles of CAs trusted besides the public roots.
    pub extra_ca_pem: Vec<Vec<u8>>,
    /// Limit on connecting and on each read or write (not on a whole download).
    pub timeout: Duration,
}

impl Default for PullConfig {
    fn default() -> PullConfig {
        PullConfig {
            insecure_registries: Vec::new(),
            extra_ca_pem: Vec::new(),
            timeout: Duration::from_secs(30),
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
/// `platform`. Blobs the sink already has are skipped; the manifest (and the index) go into
/// the sink last, so a stored manifest implies its blobs are stored.
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
    let host = reference::api_host(registry);
    let mut session = Session::new(&host, repository, creds, cfg)?;
    let top = fetch_manifest(&mut session, repository, reference)?;
    let resolved = resolve_platform(&mut session, repository, top, platform)?;
    let image = &resolved.image;
    progress(PullProgress::Resolved {
        manifest_digest: resolved.manifest.digest.clone(),
        layers: image.layers.len(),
    });
    for desc in std::iter::once(&image.config).chain(&image.layers) {
        blob::fetch_blob(&mut session, repository, desc, sink, progress)?;
    }
    store_document(sink, &resolved.manifest)?;
    if let Some(index) = &resolved.index {
        store_document(sink, index)?;
    }
    let Resolved {
        index,
        manifest,
        image,
    } = resolved;
    Ok(Pulled {
        repo_digest: index.map_or_else(|| manifest.digest.clone(), |i| i.digest),
        manifest_digest: manifest.digest,
        manifest: manifest.bytes,
        config_digest: image.config.digest,
        layers: image.layers.into_iter().map(|l| l.digest).collect(),
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
    let host = reference::api_host(registry);
    let mut session = Session::new(&host, repository, creds, cfg)?;
    let target = format!("/v2/{repository}/manifests/{reference}");
    let what = manifest_what(repository, reference);
    let resp = session.request("HEAD", &target, &manifest::accept_header(), &what)?;
    match resp.header("docker-content-digest") {
        Some(digest) if is_sha256_digest(digest) => Ok(digest.to_owned()),
        // Registries need not send the header; the body's hash is the answer then.
        _ => Ok(fetch_manifest(&mut session, repository, reference)?.digest),
    }
}

fn check_names(repository: &str, reference: &str) -> Result<(), PullError> {
    let parsed = ImageReference::parse(&format!("example.invalid/{repository}"));
    let tag_or_digest = is_sha256_digest(reference) || reference::valid_tag(reference);
    match parsed {
        Ok(parsed) if parsed.repository == repository && tag_or_digest => Ok(()),
        _ => Err(PullError::InvalidReference(format!(
            "{repository:?} with reference {reference:?}"
        ))),
    }
}

/// A manifest or index as fetched, its digest verified.
struct Fetched {
    bytes: Vec<u8>,
    digest: String,
    content_type: Option<String>,
}

struct Resolved {
    index: Option<Fetched>,
    manifest: Fetched,
    image: manifest::ImageManifest,
}

fn resolve_platform(
    session: &mut Session<'_>,
    repository: &str,
    top: Fetched,
    platform: &Platform,
) -> Result<Resolved, PullError> {
    let entries = match parse_manifest(&top)? {
        Document::Image(image) => {
            return Ok(Resolved {
                index: None,
                manifest: top,
                image,
            });
        }
        Document::Index(entries) => entries,
    };
    let entry = manifest::choose(&entries, platform).map_err(|available| {
        PullError::NoMatchingPlatform {
            wanted: platform.to_string(),
            available,
        }
    })?;
    let chosen = fetch_manifest(session, repository, &entry.descriptor.digest)?;
    match parse_manifest(&chosen)? {
        Document::Image(image) => Ok(Resolved {
            index: Some(top),
            manifest: chosen,
            image,
        }),
        Document::Index(_) => Err(PullError::BadManifest(
            "nested image indexes are not supported".into(),
        )),
    }
}

fn parse_manifest(fetched: &Fetched) -> Result<Document, PullError> {
    manifest::parse(&fetched.bytes, fetched.content_type.as_deref())
        .map_err(|e| PullError::BadManifest(format!("{}: {e}", fetched.digest)))
}

fn manifest_what(repository: &str, reference: &str) -> String {
    let sep = if is_sha256_digest(reference) {
        '@'
    } else {
        ':'
    };
    format!("manifest {repository}{sep}{reference}")
}

fn fetch_manifest(
    session: &mut Session<'_>,
    repository: &str,
    reference: &str,
) -> Result<Fetched, PullError> {
    let target = format!("/v2/{repository}/manifests/{reference}");
    let what = manifest_what(repository, reference);
    let mut resp = session.request("GET", &target, &manifest::accept_header(), &what)?;
    let bytes = resp
        .read_to_limit(MAX_MANIFEST_BYTES + 1)
        .map_err(|source| TransportError::Io {
            addr: what.clone(),
            source,
        })?;
    if bytes.len() as u64 > MAX_MANIFEST_BYTES {
        return Err(PullError::BadManifest(format!(
            "{what} exceeds {MAX_MANIFEST_BYTES} bytes"
        )));
    }
    let digest = blob::sha256_of(&bytes);
    let claimed = resp
        .header("docker-content-digest")
        .filter(|d| is_sha256_digest(d));
    let expected = Some(reference).filter(|r| is_sha256_digest(r)).or(claimed);
    if let Some(expected) = expected.filter(|e| *e != digest) {
        return Err(PullError::DigestMismatch {
            expected: expected.to_owned(),
            actual: digest,
        });
    }
    Ok(Fetched {
        bytes,
        digest,
        content_type: resp.header("content-type").map(str::to_owned),
    })
}

fn store_document(sink: &dyn BlobSink, doc: &Fetched) -> Result<(), PullError> {
    if sink.has_blob(&doc.digest) {
        return Ok(());
    }
    sink.put_blob(&doc.digest, &mut &doc.bytes[..])
        .map_err(|detail| PullError::Sink {
            digest: doc.digest.clone(),
            detail,
        })
}
