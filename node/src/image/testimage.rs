//! Real test images built from the host's /bin/busybox (busybox-static), for the unit
//! tests here and the root crate's integration tests and benches. Not for production use.
//!
//! Layer 1 holds /bin/busybox, applet symlinks, /etc/passwd (plus a hard link to it) and
//! files the optional layer 2 deletes: /etc/removed through a `.wh.` whiteout and
//! /etc/opaque/old through an opaque directory.

use std::fs::File;
use std::io::{self, Write};
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use miniserde::json::{self, Array, Object, Value};
use tar::{Builder, EntryType, Header};

use super::ArchiveFormat;
use super::digest;
use super::document::{self, Descriptor, OCI_CONFIG, OCI_INDEX, OCI_LAYER_GZIP, OCI_MANIFEST};
use super::platform::Platform;

pub const BUSYBOX: &str = "/bin/busybox";
pub const APPLETS: &[&str] = &[
    "sh", "ls", "cat", "echo", "sleep", "true", "false", "env", "id", "httpd", "wget", "nc",
    "hostname", "ps", "kill", "mount", "touch", "rm", "mkdir", "grep", "head", "tail", "date",
    "printf", "test", "[", "nslookup", "uname",
];

/// Digests of a written test image.
#[derive(Debug, Clone)]
pub struct TestImage {
    pub manifest_digest: String,
    /// Config digest: the image id.
    pub id: String,
    pub diff_ids: Vec<String>,
}

pub fn busybox_available() -> bool {
    Path::new(BUSYBOX).is_file()
}

/// Writes a busybox image named `reference` as an archive at `out`. With `whiteout_layer`
/// a second layer deletes /etc/removed, makes /etc/opaque opaque and adds /etc/layer2.
pub fn write_busybox_archive(
    out: &Path,
    reference: &str,
    format: ArchiveFormat,
    whiteout_layer: bool,
) -> io::Result<TestImage> {
    let mut layers = vec![busybox_layer(Path::new(BUSYBOX))?];
    if whiteout_layer {
        layers.push(whiteout_layer_tar()?);
    }
    let image = build_image(&layers, &Platform::host())?;
    let mut tar = Builder::new(File::create(out)?);
    match format {
        ArchiveFormat::Oci => {
            let named = with_name(image.manifest_descriptor.clone(), reference);
            write_oci(&mut tar, &image.blobs, &[named])?;
        }
        ArchiveFormat::Docker => write_docker(&mut tar, &image, &layers, reference)?,
    }
    tar.into_inner()?.sync_all()?;
    Ok(image.summary)
}

/// Writes a one-layer busybox OCI archive for another platform, from that platform's
/// busybox binary (board tests: the arm64 or armhf busybox-static of Debian).
pub fn write_busybox_archive_for(
    out: &Path,
    reference: &str,
    busybox: &Path,
    platform: &Platform,
) -> io::Result<TestImage> {
    let image = build_image(&[busybox_layer(busybox)?], platform)?;
    let mut tar = Builder::new(File::create(out)?);
    let named = with_name(image.manifest_descriptor.clone(), reference);
    write_oci(&mut tar, &image.blobs, &[named])?;
    tar.into_inner()?.sync_all()?;
    Ok(image.summary)
}

/// Writes an OCI archive whose single name points to an index of two images, linux/amd64
/// and linux/arm64/v8; each has the busybox layer plus /etc/platform naming its platform.
/// Returns the images in that order.
pub fn write_multiplatform_archive(out: &Path, reference: &str) -> io::Result<Vec<TestImage>> {
    let base = busybox_layer(Path::new(BUSYBOX))?;
    let mut blobs = Vec::new();
    let mut manifests = Vec::new();
    let mut summaries = Vec::new();
    for platform in [
        Platform::new("linux", "amd64", None),
        Platform::new("linux", "arm64", Some("v8")),
    ] {
        let marker = file_layer("etc/platform", platform.to_string().as_bytes())?;
        let image = build_image(&[base.clone(), marker], &platform)?;
        blobs.extend(image.blobs);
        manifests.push(Descriptor {
            platform: Some(platform),
            ..image.manifest_descriptor
        });
        summaries.push(image.summary);
    }
    let index = document::index_json(&manifests).into_bytes();
    let index_descriptor = descriptor(OCI_INDEX, &index);
    blobs.push(index);
    let mut tar = Builder::new(File::create(out)?);
    write_oci(&mut tar, &blobs, &[with_name(index_descriptor, reference)])?;
    tar.into_inner()?.sync_all()?;
    Ok(summaries)
}

struct BuiltImage {
    /// Config, compressed layers and manifest.
    blobs: Vec<Vec<u8>>,
    config: Vec<u8>,
    manifest_descriptor: Descriptor,
    summary: TestImage,
}

fn build_image(layers: &[Vec<u8>], platform: &Platform) -> io::Result<BuiltImage> {
    let diff_ids: Vec<String> = layers.iter().map(|l| digest::of_bytes(l)).collect();
    let config = config_json(platform, &diff_ids).into_bytes();
    let mut blobs = vec![config.clone()];
    let mut layer_descriptors = Vec::new();
    for layer in layers {
        let gz = gzip(layer)?;
        layer_descriptors.push(descriptor(OCI_LAYER_GZIP, &gz));
        blobs.push(gz);
    }
    let config_descriptor = descriptor(OCI_CONFIG, &config);
    let manifest = document::manifest_json(&config_descriptor, &layer_descriptors).into_bytes();
    let manifest_descriptor = descriptor(OCI_MANIFEST, &manifest);
    blobs.push(manifest);
    let summary = TestImage {
        manifest_digest: manifest_descriptor.digest.clone(),
        id: config_descriptor.digest,
        diff_ids,
    };
    Ok(BuiltImage {
        blobs,
        config,
        manifest_descriptor,
        summary,
    })
}

fn descriptor(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: digest::of_bytes(bytes),
        size: bytes.len() as u64,
        ..Descriptor::default()
    }
}

fn with_name(mut d: Descriptor, reference: &str) -> Descriptor {
    d.annotations
        .insert("io.containerd.image.name".into(), reference.into());
    let tag = reference.rsplit_once(':').map_or("latest", |(_, t)| t);
    d.annotations
        .insert("org.opencontainers.image.ref.name".into(), tag.into());
    d
}

fn write_oci(tar: &mut Builder<File>, blobs: &[Vec<u8>], top: &[Descriptor]) -> io::Result<()> {
    append(tar, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    append(tar, "index.json", document::index_json(top).as_bytes())?;
    for blob in blobs {
        let hex = &digest::of_bytes(blob)[7..];
        append(tar, &format!("blobs/sha256/{hex}"), blob)?;
    }
    Ok(())
}

/// `docker save` layout as docker wrote it before version 25: plain layer.tar files.
fn write_docker(
    tar: &mut Builder<File>,
    image: &BuiltImage,
    layers: &[Vec<u8>],
    reference: &str,
) -> io::Result<()> {
    let config_name = format!("{}.json", &image.summary.id[7..]);
    append(tar, &config_name, &image.config)?;
    let mut layer_paths = Array::new();
    for (layer, diff_id) in layers.iter().zip(&image.summary.diff_ids) {
        let path = format!("{}/layer.tar", &diff_id[7..]);
        append(tar, &path, layer)?;
        layer_paths.push(Value::String(path));
    }
    let mut entry = Object::new();
    entry.insert("Config".into(), Value::String(config_name));
    entry.insert(
        "RepoTags".into(),
        Value::Array([Value::String(reference.into())].into_iter().collect()),
    );
    entry.insert("Layers".into(), Value::Array(layer_paths));
    let manifest = json::to_string(&Value::Array([Value::Object(entry)].into_iter().collect()));
    append(tar, "manifest.json", manifest.as_bytes())
}

fn config_json(platform: &Platform, diff_ids: &[String]) -> String {
    let strings =
        |items: &[&str]| Value::Array(items.iter().map(|s| Value::String((*s).into())).collect());
    let mut run = Object::new();
    run.insert("Cmd".into(), strings(&["sh"]));
    run.insert(
        "Env".into(),
        strings(&["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]),
    );
    let mut rootfs = Object::new();
    rootfs.insert("type".into(), Value::String("layers".into()));
    rootfs.insert(
        "diff_ids".into(),
        Value::Array(diff_ids.iter().map(|d| Value::String(d.clone())).collect()),
    );
    let mut o = Object::new();
    o.insert(
        "architecture".into(),
        Value::String(platform.architecture.clone()),
    );
    o.insert("os".into(), Value::String(platform.os.clone()));
    if let Some(v) = &platform.variant {
        o.insert("variant".into(), Value::String(v.clone()));
    }
    o.insert("config".into(), Value::Object(run));
    o.insert("rootfs".into(), Value::Object(rootfs));
    o.insert(
        "created".into(),
        Value::String("2023-11-14T22:13:20Z".into()),
    );
    json::to_string(&Value::Object(o))
}

fn busybox_layer(binary: &Path) -> io::Result<Vec<u8>> {
    let busybox = std::fs::read(binary)?;
    let mut tar = Builder::new(Vec::new());
    for dir in ["bin", "etc", "etc/opaque", "tmp", "proc", "sys", "dev"] {
        dir_entry(&mut tar, dir, if dir == "tmp" { 0o1777 } else { 0o755 })?;
    }
    file_entry(&mut tar, "bin/busybox", 0o755, &busybox)?;
    for applet in APPLETS {
        link_entry(
            &mut tar,
            EntryType::Symlink,
            &format!("bin/{applet}"),
            "busybox",
        )?;
    }
    file_entry(
        &mut tar,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )?;
    file_entry(
        &mut tar,
        "etc/group",
        0o644,
        b"root:x:0:\nnobody:x:65534:\n",
    )?;
    link_entry(
        &mut tar,
        EntryType::Link,
        "etc/passwd.hardlink",
        "etc/passwd",
    )?;
    file_entry(&mut tar, "etc/removed", 0o644, b"deleted by layer 2\n")?;
    file_entry(&mut tar, "etc/opaque/old", 0o644, b"hidden by layer 2\n")?;
    tar.into_inner()
}

fn whiteout_layer_tar() -> io::Result<Vec<u8>> {
    let mut tar = Builder::new(Vec::new());
    dir_entry(&mut tar, "etc", 0o755)?;
    file_entry(&mut tar, "etc/.wh.removed", 0o644, b"")?;
    dir_entry(&mut tar, "etc/opaque", 0o755)?;
    file_entry(&mut tar, "etc/opaque/.wh..wh..opq", 0o644, b"")?;
    file_entry(&mut tar, "etc/opaque/new", 0o644, b"from layer 2\n")?;
    file_entry(&mut tar, "etc/layer2", 0o644, b"second layer\n")?;
    tar.into_inner()
}

fn file_layer(path: &str, content: &[u8]) -> io::Result<Vec<u8>> {
    let mut tar = Builder::new(Vec::new());
    file_entry(&mut tar, path, 0o644, content)?;
    tar.into_inner()
}

fn header(kind: EntryType, mode: u32, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h
}

fn dir_entry<W: Write>(tar: &mut Builder<W>, path: &str, mode: u32) -> io::Result<()> {
    tar.append_data(
        &mut header(EntryType::Directory, mode, 0),
        format!("{path}/"),
        io::empty(),
    )
}

fn file_entry<W: Write>(
    tar: &mut Builder<W>,
    path: &str,
    mode: u32,
    content: &[u8],
) -> io::Result<()> {
    tar.append_data(
        &mut header(EntryType::Regular, mode, content.len() as u64),
        path,
        content,
    )
}

fn link_entry<W: Write>(
    tar: &mut Builder<W>,
    kind: EntryType,
    path: &str,
    target: &str,
) -> io::Result<()> {
    tar.append_link(&mut header(kind, 0o777, 0), path, target)
}

fn append(tar: &mut Builder<File>, path: &str, content: &[u8]) -> io::Result<()> {
    file_entry(tar, path, 0o644, content)
}

fn gzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(bytes)?;
    encoder.finish()
}
