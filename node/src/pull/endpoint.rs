//! One pull from one endpoint (the registry itself or a mirror of it): fetch the manifest,
//! pick the platform's image from an index, stream the blobs into the sink, store the
//! manifest and index last.

use super::manifest::{self, Document};
use super::session::Session;
use super::{
    BlobSink, Credentials, PullConfig, PullError, PullProgress, Pulled, TransportError, blob,
    is_sha256_digest,
};
use crate::image::Platform;

/// Largest manifest or index accepted (they are held in memory; real ones are a few KiB).
const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

/// Where to pull from and as whom.
pub struct Endpoint<'a> {
    /// `host[:port]` of the distribution API.
    pub host: String,
    pub creds: Option<&'a Credentials>,
}

#[allow(clippy::too_many_arguments)]
pub fn pull_from(
    endpoint: &Endpoint<'_>,
    repository: &str,
    reference: &str,
    platform: &Platform,
    cfg: &PullConfig,
    sink: &dyn BlobSink,
    progress: &mut dyn FnMut(PullProgress),
) -> Result<Pulled, PullError> {
    let mut session = Session::new(&endpoint.host, repository, endpoint.creds, cfg)?;
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

pub fn resolve_from(
    endpoint: &Endpoint<'_>,
    repository: &str,
    reference: &str,
    cfg: &PullConfig,
) -> Result<String, PullError> {
    let mut session = Session::new(&endpoint.host, repository, endpoint.creds, cfg)?;
    let target = format!("/v2/{repository}/manifests/{reference}");
    let what = manifest_what(repository, reference);
    let resp = session.request("HEAD", &target, &manifest::accept_header(), &what)?;
    match resp.header("docker-content-digest") {
        Some(digest) if is_sha256_digest(digest) => Ok(digest.to_owned()),
        // Registries need not send the header; the body's hash is the answer then.
        _ => Ok(fetch_manifest(&mut session, repository, reference)?.digest),
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
        Document::Index(index) => index.manifests,
    };
    let entry = manifest::choose(&entries, platform).map_err(|available| {
        PullError::NoMatchingPlatform {
            wanted: platform.to_string(),
            available,
        }
    })?;
    let chosen = fetch_manifest(session, repository, &entry.digest)?;
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
    manifest::parse_document(&fetched.bytes, fetched.content_type.as_deref())
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
    let digest = crate::image::digest::of_bytes(&bytes);
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
