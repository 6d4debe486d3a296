//! Turning archive contents into images: OCI layouts (index.json) and `docker save`
//! archives (manifest.json), with every digest checked and one manifest per platform.

use std::io::BufReader;
use std::path::Path;

use super::archive::ArchiveContents;
use super::blobs::BlobStore;

use super::document::{self, Descriptor, OCI_CONFIG, OCI_LAYER_GZIP, OCI_LAYER_TAR};
use super::error::ImageError;
use super::layers::is_gzip;
use super::platform::Platform;

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const CONTAINERD_NAME: &str = "io.containerd.image.name";

/// One image found in an archive: its names (as written there) and manifest digest.
#[derive(Debug)]
pub struct Found {
    pub names: Vec<String>,
    pub manifest: String,
}

pub fn images(
    archive: &Path,
    contents: &ArchiveContents,
    blobs: &BlobStore,
    platform: &Platform,
) -> Result<Vec<Found>, ImageError> {
    if contents.has("index.json") {
        oci_images(contents, blobs, platform)
    } else if contents.has("manifest.json") {
        docker_images(contents, blobs)
    } else {
        Err(ImageError::UnknownArchive(archive.to_path_buf()))
    }
}

fn oci_images(
    contents: &ArchiveContents,
    blobs: &BlobStore,
    platform: &Platform,
) -> Result<Vec<Found>, ImageError> {
    let index = document::parse_index(&contents.bytes("index.json", blobs)?)?;
    let mut found = Vec::new();
    let mut available = Vec::new();
    for descriptor in &index.manifests {
        let Some(manifest) = choose(descriptor, blobs, platform, &mut available)? else {
            continue;
        };
        check_image(blobs, &manifest)?;
        found.push(Found {
            names: oci_names(descriptor),
            manifest,
        });
    }
    if found.is_empty() {
        return Err(ImageError::NoPlatform {
            wanted: platform.to_string(),
            available,
        });
    }
    Ok(found)
}

/// Names of a top-level descriptor. A bare ref.name ("latest", "1.0") is only a tag with
/// no repository, so it does not name an image on its own.
fn oci_names(descriptor: &Descriptor) -> Vec<String> {
    if let Some(name) = descriptor.annotations.get(CONTAINERD_NAME) {
        return vec![name.clone()];
    }
    match descriptor.annotations.get(REF_NAME) {
        Some(name) if name.contains('/') || name.contains(':') => vec![name.clone()],
        _ => Vec::new(),
    }
}

/// The manifest digest under `descriptor` for `platform`, descending through indexes.
fn choose(
    descriptor: &Descriptor,
    blobs: &BlobStore,
    platform: &Platform,
    available: &mut Vec<String>,
) -> Result<Option<String>, ImageError> {
    check_blob(blobs, descriptor)?;
    if let Some(p) = descriptor
        .platform
        .as_ref()
        .filter(|p| !platform.accepts(p))
    {
        available.push(p.to_string());
        return Ok(None);
    }
    if !descriptor.is_index() {
        return Ok(Some(descriptor.digest.clone()));
    }
    let index = document::parse_index(&blobs.read_document(&descriptor.digest)?)?;
    let with_platform = || {
        let manifests = index.manifests.iter();
        manifests.filter_map(|c| Some((c.platform.as_ref()?, c)))
    };
    let rejected = with_platform().filter(|(p, _)| !platform.accepts(p));
    available.extend(rejected.map(|(p, _)| p.to_string()));
    match platform.best(with_platform()) {
        Some(chosen) => choose(chosen, blobs, platform, available),
        None => Ok(None),
    }
}

fn check_blob(blobs: &BlobStore, descriptor: &Descriptor) -> Result<(), ImageError> {
    match blobs.size(&descriptor.digest) {
        None => Err(ImageError::MissingBlob(descriptor.digest.clone())),
        Some(size) if size != descriptor.size => Err(ImageError::Format(format!(
            "blob {} is {size} bytes, its descriptor says {}",
            descriptor.digest, descriptor.size
        ))),
        Some(_) => Ok(()),
    }
}

/// Every blob of the image is present with the right size, and layers match diff ids.
fn check_image(blobs: &BlobStore, manifest_digest: &str) -> Result<(), ImageError> {
    let manifest = document::parse_manifest(&blobs.read_document(manifest_digest)?)?;
    check_blob(blobs, &manifest.config)?;
    let config = document::parse_config(&blobs.read_document(&manifest.config.digest)?)?;
    if config.diff_ids.len() != manifest.layers.len() {
        return Err(ImageError::Format(format!(
            "manifest {manifest_digest} has {} layers, its config {} diff ids",
            manifest.layers.len(),
            config.diff_ids.len()
        )));
    }
    for layer in &manifest.layers {
        if layer.media_type.contains("zstd") || layer.media_type.contains("encrypted") {
            return Err(ImageError::Unsupported(format!(
                "layer media type {}",
                layer.media_type
            )));
        }
        check_blob(blobs, layer)?;
    }
    Ok(())
}

fn docker_images(contents: &ArchiveContents, blobs: &BlobStore) -> Result<Vec<Found>, ImageError> {
    let entries = document::parse_docker_manifest(&contents.bytes("manifest.json", blobs)?)?;
    let mut found = Vec::new();
    for entry in entries {
        let (config_digest, config_size) = contents.blob(&entry.config, blobs)?;
        // Old `docker save` names configs <hex>.json: the name is the content's digest.
        if let Some(hex) = entry.config.strip_suffix(".json").filter(|h| h.len() == 64) {
            let expected = format!("sha256:{hex}");
            if expected != config_digest {
                return Err(ImageError::DigestMismatch {
                    expected,
                    actual: config_digest,
                });
            }
        }
        let config = document::parse_config(&blobs.read_document(&config_digest)?)?;
        if config.diff_ids.len() != entry.layers.len() {
            return Err(ImageError::Format(format!(
                "{} lists {} layers, its config {} diff ids",
                entry.config,
                entry.layers.len(),
                config.diff_ids.len()
            )));
        }
        let mut layers = Vec::new();
        for (path, diff_id) in entry.layers.iter().zip(&config.diff_ids) {
            layers.push(docker_layer(contents, blobs, path, diff_id)?);
        }
        let config = Descriptor {
            media_type: OCI_CONFIG.into(),
            digest: config_digest,
            size: config_size,
            ..Descriptor::default()
        };
        let manifest = blobs.put_bytes(document::manifest_json(&config, &layers).as_bytes())?;
        found.push(Found {
            names: entry.repo_tags,
            manifest,
        });
    }
    Ok(found)
}

/// A docker layer file as a descriptor; an uncompressed layer must hash to its diff id
/// (compressed ones are checked against the diff id when unpacked).
fn docker_layer(
    contents: &ArchiveContents,
    blobs: &BlobStore,
    path: &str,
    diff_id: &str,
) -> Result<Descriptor, ImageError> {
    let (digest, size) = contents.blob(path, blobs)?;
    let gzip = is_gzip(&mut BufReader::new(blobs.open_blob(&digest)?))?;
    if !gzip && digest != diff_id {
        return Err(ImageError::DigestMismatch {
            expected: diff_id.to_string(),
            actual: digest,
        });
    }
    let media_type = if gzip { OCI_LAYER_GZIP } else { OCI_LAYER_TAR };
    Ok(Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        ..Descriptor::default()
    })
}
