//! The image store: blobs, unpacked layers and the catalog under one root directory,
//! and the operations the agent and `wisp images` call on them.
//!
//! Layout: root/blobs/sha256/<hex> (content-addressed, verified), root/layers/<diff hex>/
//! (unpacked once), root/catalog.json (references, images, imported archives), root/tmp/.
//! All methods are blocking; the agent calls them from its blocking thread pool.

use std::collections::{BTreeSet, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::archive;
use super::blobs::BlobStore;
use super::catalog::{ArchiveRecord, Catalog, CatalogFile, ImageRecord};
use super::document;
use super::error::ImageError;
use super::import;
use super::layers::LayerStore;
use super::platform::Platform;
use super::reference::Reference;
use super::{ImageInfo, Progress};

/// Unreferenced blobs younger than this survive prune and gc: a registry pull writes its
/// blobs before it tags the manifest.
const DEFAULT_BLOB_GRACE: Duration = Duration::from_secs(600);
/// Temporaries older than this are leftovers of a crash, not another process's work.
const STALE_TEMP: Duration = Duration::from_secs(3600);

#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
    blobs: BlobStore,
    layers: LayerStore,
    catalog: CatalogFile,
    blob_grace: Duration,
}

/// What `import_dir` did with one archive.
#[derive(Debug)]
pub struct ArchiveOutcome {
    pub path: PathBuf,
    /// True when the archive was imported before and is unchanged (size and mtime).
    pub skipped: bool,
    pub result: Result<Vec<ImageInfo>, ImageError>,
}

impl ImageStore {
    pub fn open(root: &Path) -> Result<ImageStore, ImageError> {
        fs::create_dir_all(root).map_err(ImageError::io(format!("create {}", root.display())))?;
        let store = ImageStore {
            root: root.to_path_buf(),
            blobs: BlobStore::open(root)?,
            layers: LayerStore::open(root)?,
            catalog: CatalogFile::new(root),
            blob_grace: DEFAULT_BLOB_GRACE,
        };
        store.layers.clean_temporaries(STALE_TEMP);
        remove_stale_files(&root.join("tmp"));
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// How long unreferenced blobs are spared by prune and gc (tests and the CLI use 0).
    pub fn set_blob_grace(&mut self, grace: Duration) {
        self.blob_grace = grace;
    }

    /// Imports every image of an OCI or docker archive (tar or tar.gz).
    pub fn import_archive(
        &self,
        path: &Path,
        platform: &Platform,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<ImageInfo>, ImageError> {
        let contents = archive::read(path, &self.blobs, progress)?;
        let found = import::images(path, &contents, &self.blobs, platform)?;
        let mut named = Vec::new();
        for image in &found {
            let refs = image
                .names
                .iter()
                .map(|n| Reference::parse(n).map(|r| r.to_string()));
            named.push((image.manifest.clone(), refs.collect::<Result<Vec<_>, _>>()?));
        }
        let record = archive_record(path, &named);
        let catalog = self.catalog.update(|c| {
            for (manifest, refs) in &named {
                c.images
                    .entry(manifest.clone())
                    .or_insert_with(|| ImageRecord { added: now() });
                for r in refs {
                    c.refs.insert(r.clone(), manifest.clone());
                }
            }
            if let Some(record) = record {
                c.archives.insert(path.display().to_string(), record);
            }
            c.clone()
        })?;
        named
            .iter()
            .map(|(m, _)| self.info_in(&catalog, m))
            .collect()
    }

    /// Imports every archive (*.tar, *.tar.gz, *.tgz) in `dir`, skipping those imported
    /// before and unchanged whose images are all still in the store.
    pub fn import_dir(
        &self,
        dir: &Path,
        platform: &Platform,
    ) -> Result<Vec<ArchiveOutcome>, ImageError> {
        let entries =
            fs::read_dir(dir).map_err(ImageError::io(format!("read {}", dir.display())))?;
        let mut paths: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_archive_name(p))
            .collect();
        paths.sort();
        let mut outcomes = Vec::new();
        for path in paths {
            let catalog = self.catalog.load()?;
            if let Some(infos) = self.unchanged(&catalog, &path) {
                outcomes.push(ArchiveOutcome {
                    path,
                    skipped: true,
                    result: Ok(infos),
                });
                continue;
            }
            let result = self.import_archive(&path, platform, &mut |_| {});
            outcomes.push(ArchiveOutcome {
                path,
                skipped: false,
                result,
            });
        }
        Ok(outcomes)
    }

    fn unchanged(&self, catalog: &Catalog, path: &Path) -> Option<Vec<ImageInfo>> {
        let seen = catalog.archives.get(&path.display().to_string())?;
        let now = archive_record(path, &[])?;
        if (seen.size, seen.mtime_ns) != (now.size, now.mtime_ns) {
            return None;
        }
        seen.manifests
            .iter()
            .map(|m| self.info_in(catalog, m).ok())
            .collect()
    }

    /// Stores a blob whose content must hash to `digest` (registry pulls).
    pub fn put_blob(&self, digest: &str, reader: &mut dyn Read) -> Result<(), ImageError> {
        self.blobs.put(digest, reader).map(|_| ())
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blobs.has(digest)
    }

    /// Points `reference` at an image manifest whose config and layers are all stored.
    pub fn tag(&self, reference: &str, manifest_digest: &str) -> Result<ImageInfo, ImageError> {
        let name = Reference::parse(reference)?.to_string();
        let manifest = document::parse_manifest(&self.blobs.read_document(manifest_digest)?)?;
        for blob in std::iter::once(&manifest.config).chain(&manifest.layers) {
            if !self.blobs.has(&blob.digest) {
                return Err(ImageError::MissingBlob(blob.digest.clone()));
            }
        }
        let catalog = self.catalog.update(|c| {
            c.images
                .entry(manifest_digest.to_string())
                .or_insert_with(|| ImageRecord { added: now() });
            c.refs.insert(name, manifest_digest.to_string());
            c.clone()
        })?;
        self.info_in(&catalog, manifest_digest)
    }

    /// Finds an image by reference ("busybox", "host:5000/app:1", "app@sha256:...") or by
    /// id or manifest digest ("sha256:...").
    pub fn resolve(&self, reference: &str) -> Option<ImageInfo> {
        let catalog = self.catalog.load().ok()?;
        let manifest = find_manifest(&catalog, &self.blobs, reference)?;
        self.info_in(&catalog, &manifest).ok()
    }

    pub fn list(&self) -> Result<Vec<ImageInfo>, ImageError> {
        let catalog = self.catalog.load()?;
        catalog
            .images
            .keys()
            .map(|m| self.info_in(&catalog, m))
            .collect()
    }

    /// Forgets a reference; an id or manifest digest forgets the image with all its names.
    /// Blobs and layers stay until `prune` or `gc` (a running container may use them).
    pub fn remove(&self, reference: &str) -> Result<(), ImageError> {
        let by_name = Reference::parse(reference).ok().map(|r| r.to_string());
        let catalog = self.catalog.load()?;
        let manifest = find_manifest(&catalog, &self.blobs, reference)
            .ok_or_else(|| ImageError::NotFound(reference.to_string()))?;
        self.catalog.update(|c| {
            match by_name.filter(|n| c.refs.contains_key(n)) {
                Some(name) => drop(c.refs.remove(&name)),
                None => c.refs.retain(|_, m| *m != manifest),
            }
            if c.refs_of(&manifest).is_empty() {
                c.images.remove(&manifest);
            }
        })
    }

    /// The overlay lower directories of an image, top layer first, unpacking missing ones.
    pub fn lower_dirs(&self, info: &ImageInfo) -> Result<Vec<PathBuf>, ImageError> {
        let manifest = document::parse_manifest(&self.blobs.read_document(&info.manifest_digest)?)?;
        let mut dirs = Vec::with_capacity(info.layers.len());
        for (blob, diff_id) in manifest.layers.iter().zip(&info.layers) {
            let dir = match self.layers.has(diff_id) {
                true => self.layers.path(diff_id)?,
                false => self
                    .layers
                    .ensure(diff_id, self.blobs.open_blob(&blob.digest)?)?,
            };
            dirs.push(dir);
        }
        dirs.reverse();
        Ok(dirs)
    }

    /// Removes every image whose id is not in `in_use`, then unreferenced blobs and layers.
    pub fn prune(&self, in_use: &HashSet<String>) -> Result<u64, ImageError> {
        let catalog = self.catalog.load()?;
        let unused: Vec<String> = catalog
            .images
            .keys()
            .filter(|m| self.image_id(m).is_none_or(|id| !in_use.contains(&id)))
            .cloned()
            .collect();
        self.forget(&unused)?;
        self.sweep(in_use)
    }

    /// When the filesystem holding the store is at least `high_percent` full, removes
    /// unused images, oldest first, until it is at most `low_percent` full.
    pub fn gc(
        &self,
        high_percent: u8,
        low_percent: u8,
        in_use: &HashSet<String>,
    ) -> Result<u64, ImageError> {
        if self.disk_usage_percent()? < f64::from(high_percent) {
            return Ok(0);
        }
        let catalog = self.catalog.load()?;
        let mut candidates: Vec<(u64, String)> = catalog
            .images
            .iter()
            .filter(|(m, _)| self.image_id(m).is_none_or(|id| !in_use.contains(&id)))
            .map(|(m, r)| (r.added, m.clone()))
            .collect();
        candidates.sort();
        let mut freed = self.sweep(in_use)?;
        for (_, manifest) in candidates {
            if self.disk_usage_percent()? <= f64::from(low_percent) {
                break;
            }
            self.forget(std::slice::from_ref(&manifest))?;
            freed += self.sweep(in_use)?;
        }
        Ok(freed)
    }

    /// Percentage of the store's filesystem in use (as df counts it).
    pub fn disk_usage_percent(&self) -> Result<f64, ImageError> {
        let s = rustix::fs::statvfs(&self.root).map_err(|e| ImageError::Io {
            what: "statvfs".into(),
            source: e.into(),
        })?;
        let used = s.f_blocks.saturating_sub(s.f_bfree) as f64;
        let usable = used + s.f_bavail as f64;
        Ok(if usable == 0.0 {
            0.0
        } else {
            100.0 * used / usable
        })
    }

    fn forget(&self, manifests: &[String]) -> Result<(), ImageError> {
        self.catalog.update(|c| {
            for m in manifests {
                c.images.remove(m);
                c.refs.retain(|_, target| target != m);
                for record in c.archives.values_mut() {
                    record.manifests.retain(|x| x != m);
                }
            }
        })
    }

    /// Deletes blobs and layers no catalogued image and no in-use image id needs.
    fn sweep(&self, in_use: &HashSet<String>) -> Result<u64, ImageError> {
        let catalog = self.catalog.load()?;
        let (keep_blobs, mut keep_layers) = self.live_set(&catalog, in_use);
        keep_layers.extend(self.layers.mounted());
        let mut freed = 0;
        for diff_id in self.layers.list()? {
            if !keep_layers.contains(&diff_id) {
                freed += self.layers.remove(&diff_id)?;
            }
        }
        for digest in self.blobs.list()? {
            if !keep_blobs.contains(&digest) && !self.blob_is_young(&digest) {
                freed += self.blobs.remove(&digest)?;
            }
        }
        Ok(freed)
    }

    fn live_set(
        &self,
        catalog: &Catalog,
        in_use: &HashSet<String>,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut blobs = BTreeSet::new();
        let mut layers = BTreeSet::new();
        for manifest_digest in catalog.images.keys() {
            blobs.insert(manifest_digest.clone());
            let Ok(bytes) = self.blobs.read_document(manifest_digest) else {
                continue;
            };
            let Ok(manifest) = document::parse_manifest(&bytes) else {
                continue;
            };
            blobs.insert(manifest.config.digest.clone());
            blobs.extend(manifest.layers.iter().map(|l| l.digest.clone()));
            layers.extend(self.diff_ids(&manifest.config.digest));
        }
        // A running container's image may have been removed: its config (the id) still
        // names the layers its rootfs is mounted from.
        for id in in_use {
            if self.blobs.has(id) {
                blobs.insert(id.clone());
                layers.extend(self.diff_ids(id));
            }
        }
        (blobs, layers)
    }

    fn diff_ids(&self, config_digest: &str) -> Vec<String> {
        let config = self
            .blobs
            .read_document(config_digest)
            .and_then(|b| document::parse_config(&b));
        config.map(|c| c.diff_ids).unwrap_or_default()
    }

    fn blob_is_young(&self, digest: &str) -> bool {
        let modified = self
            .blobs
            .path(digest)
            .ok()
            .and_then(|p| fs::metadata(p).ok()?.modified().ok());
        modified.is_some_and(|t| t.elapsed().unwrap_or_default() < self.blob_grace)
    }

    fn image_id(&self, manifest_digest: &str) -> Option<String> {
        let bytes = self.blobs.read_document(manifest_digest).ok()?;
        Some(document::parse_manifest(&bytes).ok()?.config.digest)
    }

    fn info_in(&self, catalog: &Catalog, manifest_digest: &str) -> Result<ImageInfo, ImageError> {
        if !catalog.images.contains_key(manifest_digest) {
            return Err(ImageError::NotFound(manifest_digest.to_string()));
        }
        let manifest = document::parse_manifest(&self.blobs.read_document(manifest_digest)?)?;
        let config = document::parse_config(&self.blobs.read_document(&manifest.config.digest)?)?;
        let size = manifest.config.size + manifest.layers.iter().map(|l| l.size).sum::<u64>();
        Ok(ImageInfo {
            references: catalog.refs_of(manifest_digest),
            id: manifest.config.digest,
            manifest_digest: manifest_digest.to_string(),
            size,
            config: config.run,
            layers: config.diff_ids,
            platform: config.platform,
        })
    }
}

/// The manifest a reference, id or digest names.
fn find_manifest(catalog: &Catalog, blobs: &BlobStore, reference: &str) -> Option<String> {
    if reference.starts_with("sha256:") {
        if catalog.images.contains_key(reference) {
            return Some(reference.to_string());
        }
        return catalog
            .images
            .keys()
            .find(|m| {
                let bytes = blobs.read_document(m).ok();
                bytes
                    .and_then(|b| document::parse_manifest(&b).ok())
                    .is_some_and(|man| man.config.digest == reference)
            })
            .cloned();
    }
    let parsed = Reference::parse(reference).ok()?;
    if let Some(m) = catalog.refs.get(&parsed.to_string()) {
        return Some(m.clone());
    }
    // name@digest: the digest alone identifies the image.
    parsed.digest.filter(|d| catalog.images.contains_key(d))
}

fn is_archive_name(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    path.is_file()
        && [".tar", ".tar.gz", ".tgz"]
            .iter()
            .any(|ext| name.ends_with(ext))
}

fn archive_record(path: &Path, named: &[(String, Vec<String>)]) -> Option<ArchiveRecord> {
    let meta = fs::metadata(path).ok()?;
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(ArchiveRecord {
        size: meta.len(),
        mtime_ns: u64::try_from(mtime.as_nanos()).unwrap_or(u64::MAX),
        manifests: named.iter().map(|(m, _)| m.clone()).collect(),
    })
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn remove_stale_files(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let age = entry
            .metadata()
            .ok()
            .and_then(|m| m.modified().ok())
            .and_then(|t| t.elapsed().ok());
        if age.is_some_and(|a| a > STALE_TEMP) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::ArchiveFormat;
    use crate::image::testdir::TestDir;
    use crate::image::testimage::{self, TestImage};

    fn store_in(dir: &TestDir) -> ImageStore {
        let mut store = ImageStore::open(&dir.path().join("images")).unwrap();
        store.set_blob_grace(Duration::ZERO);
        store
    }

    fn busybox(
        dir: &TestDir,
        name: &str,
        format: ArchiveFormat,
        whiteouts: bool,
    ) -> Option<(PathBuf, TestImage)> {
        if !testimage::busybox_available() {
            eprintln!(
                "SKIP: {} missing (install busybox-static)",
                testimage::BUSYBOX
            );
            return None;
        }
        let path = dir.path().join(name);
        let image =
            testimage::write_busybox_archive(&path, "busybox:test", format, whiteouts).unwrap();
        Some((path, image))
    }

    fn import(store: &ImageStore, path: &Path) -> Result<Vec<ImageInfo>, ImageError> {
        store.import_archive(path, &Platform::host(), &mut |_| {})
    }

    #[test]
    fn oci_and_docker_archives_import_the_same_image() {
        let dir = TestDir::new("formats");
        let Some((oci, built)) = busybox(&dir, "oci.tar", ArchiveFormat::Oci, true) else {
            return;
        };
        let Some((docker, _)) = busybox(&dir, "docker.tar", ArchiveFormat::Docker, true) else {
            return;
        };
        let store = store_in(&dir);
        let from_oci = import(&store, &oci).unwrap();
        assert_eq!(from_oci.len(), 1);
        let info = &from_oci[0];
        assert_eq!(info.references, ["docker.io/library/busybox:test"]);
        assert_eq!(info.id, built.id);
        assert_eq!(info.manifest_digest, built.manifest_digest);
        assert_eq!(info.layers, built.diff_ids);
        assert_eq!(info.config.cmd, ["sh"]);
        let from_docker = import(&store, &docker).unwrap();
        assert_eq!(
            from_docker[0].id, built.id,
            "same config whichever the archive"
        );
        assert_eq!(from_docker[0].layers, built.diff_ids);
        let resolved = store.resolve("busybox:test").unwrap();
        assert_eq!(
            resolved.manifest_digest, from_docker[0].manifest_digest,
            "last import wins the tag"
        );
        assert!(store.resolve(&built.id).is_some(), "resolvable by id");
        assert!(store.resolve("busybox:other").is_none());
        assert_eq!(store.list().unwrap().len(), 2, "two manifests, one config");
    }

    #[test]
    fn gzip_compressed_archives_import() {
        let dir = TestDir::new("targz");
        let Some((plain, built)) = busybox(&dir, "plain.tar", ArchiveFormat::Docker, false) else {
            return;
        };
        let gz = dir.path().join("image.tar.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        std::io::copy(&mut fs::File::open(&plain).unwrap(), &mut encoder).unwrap();
        encoder.finish().unwrap();
        let store = store_in(&dir);
        let mut reports = Vec::new();
        let infos = store
            .import_archive(&gz, &Platform::host(), &mut |p| reports.push(p))
            .unwrap();
        assert_eq!(infos[0].id, built.id);
        let total = fs::metadata(&gz).unwrap().len();
        assert_eq!(
            reports.last(),
            Some(&Progress {
                bytes_done: total,
                bytes_total: total
            })
        );
    }

    #[test]
    fn import_is_idempotent_and_import_dir_skips_unchanged_archives() {
        let dir = TestDir::new("idempotent");
        let images = dir.path().join("preload");
        fs::create_dir(&images).unwrap();
        let Some((archive, built)) =
            busybox(&dir, "preload/busybox.tar", ArchiveFormat::Oci, false)
        else {
            return;
        };
        fs::write(images.join("notes.txt"), b"not an archive").unwrap();
        let store = store_in(&dir);
        let first = store.import_dir(&images, &Platform::host()).unwrap();
        assert_eq!(first.len(), 1, "only *.tar, *.tar.gz, *.tgz");
        assert!(!first[0].skipped);
        assert_eq!(first[0].result.as_ref().unwrap()[0].id, built.id);
        let blobs_before = store.blobs.list().unwrap().len();
        let second = store.import_dir(&images, &Platform::host()).unwrap();
        assert!(second[0].skipped, "unchanged archive imported again");
        assert_eq!(
            second[0].result.as_ref().unwrap()[0].manifest_digest,
            built.manifest_digest
        );
        import(&store, &archive).unwrap();
        assert_eq!(store.blobs.list().unwrap().len(), blobs_before);
        assert_eq!(store.list().unwrap().len(), 1);
        // Removed images come back at the next start even though the archive is unchanged.
        store.remove("busybox:test").unwrap();
        assert!(store.resolve("busybox:test").is_none());
        let third = store.import_dir(&images, &Platform::host()).unwrap();
        assert!(!third[0].skipped);
        assert!(store.resolve("busybox:test").is_some());
    }

    #[test]
    fn tampered_blobs_are_refused() {
        let dir = TestDir::new("tampered");
        let Some((good, _)) = busybox(&dir, "good.tar", ArchiveFormat::Oci, false) else {
            return;
        };
        // Rewrite the archive with one byte of the largest blob (the layer) flipped.
        let bad = dir.path().join("bad.tar");
        let mut out = tar::Builder::new(fs::File::create(&bad).unwrap());
        let mut archive = tar::Archive::new(fs::File::open(&good).unwrap());
        let mut largest = 0;
        let mut entries: Vec<(tar::Header, Vec<u8>)> = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            if bytes.len()
                > entries
                    .get(largest)
                    .map_or(0, |e: &(tar::Header, Vec<u8>)| e.1.len())
            {
                largest = entries.len();
            }
            entries.push((entry.header().clone(), bytes));
        }
        entries[largest].1[100] ^= 0xff;
        for (header, bytes) in entries {
            let path = header.path().unwrap().into_owned();
            out.append_data(&mut header.clone(), path, &bytes[..])
                .unwrap();
        }
        out.finish().unwrap();
        let store = store_in(&dir);
        let err = import(&store, &bad).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn platform_is_chosen_from_an_index() {
        if !testimage::busybox_available() {
            eprintln!("SKIP: {} missing", testimage::BUSYBOX);
            return;
        }
        let dir = TestDir::new("platform");
        let path = dir.path().join("multi.tar");
        let built =
            testimage::write_multiplatform_archive(&path, "localhost:5000/multi:1").unwrap();
        let store = store_in(&dir);
        let arm64 = store
            .import_archive(&path, &Platform::new("linux", "arm64", None), &mut |_| {})
            .unwrap();
        assert_eq!(arm64[0].manifest_digest, built[1].manifest_digest);
        assert_eq!(arm64[0].platform.architecture, "arm64");
        assert_eq!(arm64[0].references, ["localhost:5000/multi:1"]);
        let amd64 = store
            .import_archive(&path, &Platform::new("linux", "amd64", None), &mut |_| {})
            .unwrap();
        assert_eq!(amd64[0].manifest_digest, built[0].manifest_digest);
        let err = store
            .import_archive(
                &path,
                &Platform::new("linux", "arm", Some("v7")),
                &mut |_| {},
            )
            .unwrap_err();
        match err {
            ImageError::NoPlatform { wanted, available } => {
                assert_eq!(wanted, "linux/arm/v7");
                assert_eq!(available, ["linux/amd64", "linux/arm64/v8"]);
            }
            other => panic!("expected NoPlatform, got {other}"),
        }
    }

    /// Archives written by another tool (skopeo, as containers/image writes them for
    /// podman and CRI-O) import too: docker-archive with top-level layer files and
    /// symlinked layer.tar, OCI archives with a full name in ref.name.
    #[test]
    fn skopeo_written_archives_import() {
        let dir = TestDir::new("skopeo");
        let Some((ours, built)) = busybox(&dir, "ours.tar", ArchiveFormat::Docker, true) else {
            return;
        };
        let source = format!("docker-archive:{}", ours.display());
        let oci = dir.path().join("oci.tar");
        let docker = dir.path().join("docker.tar");
        let targets = [
            format!("oci-archive:{}:example.com/x/busybox:v1", oci.display()),
            format!("docker-archive:{}:busybox:skopeo", docker.display()),
        ];
        for target in &targets {
            let status = std::process::Command::new("skopeo")
                .args(["copy", "-q", &source, target])
                .status();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => panic!("skopeo copy {target}: {s}"),
                Err(_) => return eprintln!("SKIP skopeo_written_archives_import: skopeo missing"),
            }
        }
        let store = store_in(&dir);
        let from_oci = import(&store, &oci).unwrap();
        assert_eq!(from_oci[0].references, ["example.com/x/busybox:v1"]);
        assert_eq!(from_oci[0].layers, built.diff_ids);
        let from_docker = import(&store, &docker).unwrap();
        assert_eq!(
            from_docker[0].references,
            ["docker.io/library/busybox:skopeo"]
        );
        assert_eq!(
            from_docker[0].id, built.id,
            "docker to docker keeps the config"
        );
    }

    #[test]
    fn unknown_archives_are_named() {
        let dir = TestDir::new("unknown");
        let path = dir.path().join("random.tar");
        let mut tar = tar::Builder::new(fs::File::create(&path).unwrap());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        tar.append_data(&mut h, "hello.txt", &b"x"[..]).unwrap();
        tar.finish().unwrap();
        let err = import(&store_in(&dir), &path).unwrap_err();
        assert!(matches!(err, ImageError::UnknownArchive(_)), "{err}");
    }

    #[test]
    fn lower_dirs_unpack_once_with_whiteouts() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIP lower_dirs_unpack_once_with_whiteouts: needs root (whiteouts)");
            return;
        }
        let dir = TestDir::new("lowers");
        let Some((archive, built)) = busybox(&dir, "b.tar", ArchiveFormat::Oci, true) else {
            return;
        };
        let store = store_in(&dir);
        let info = import(&store, &archive).unwrap().remove(0);
        let lowers = store.lower_dirs(&info).unwrap();
        assert_eq!(lowers.len(), 2);
        assert!(
            lowers[0].ends_with(&built.diff_ids[1][7..]),
            "top layer first"
        );
        assert!(lowers[1].join("bin/busybox").is_file());
        assert_eq!(
            fs::read_link(lowers[1].join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert!(lowers[1].join("etc/removed").is_file());
        use std::os::unix::fs::FileTypeExt;
        assert!(
            fs::symlink_metadata(lowers[0].join("etc/removed"))
                .unwrap()
                .file_type()
                .is_char_device()
        );
        let inode = |p: PathBuf| std::os::unix::fs::MetadataExt::ino(&fs::metadata(p).unwrap());
        assert_eq!(
            inode(lowers[1].join("etc/passwd")),
            inode(lowers[1].join("etc/passwd.hardlink"))
        );
        let marker = lowers[1].join("bin/unpacked-once");
        fs::write(&marker, b"").unwrap();
        assert_eq!(store.lower_dirs(&info).unwrap(), lowers);
        assert!(marker.exists(), "second call must not unpack again");
    }

    #[test]
    fn prune_and_gc_keep_images_in_use() {
        let dir = TestDir::new("prune");
        let Some((a, built)) = busybox(&dir, "a.tar", ArchiveFormat::Docker, false) else {
            return;
        };
        let store = store_in(&dir);
        import(&store, &a).unwrap();
        let in_use: HashSet<String> = [built.id.clone()].into();
        assert_eq!(store.prune(&in_use).unwrap(), 0);
        assert!(store.resolve("busybox:test").is_some());
        // gc below the high mark does nothing; at 0% high and low it removes all unused.
        assert_eq!(store.gc(100, 100, &HashSet::new()).unwrap(), 0);
        assert_eq!(store.gc(0, 0, &in_use).unwrap(), 0);
        assert!(store.resolve("busybox:test").is_some());
        let freed = store.gc(0, 0, &HashSet::new()).unwrap();
        assert!(
            freed > 1_000_000,
            "busybox layer and config freed, got {freed}"
        );
        assert!(store.list().unwrap().is_empty());
        assert!(store.blobs.list().unwrap().is_empty());
        // A removed image still running keeps its layers through its id.
        let info = import(&store, &a).unwrap().remove(0);
        if rustix::process::geteuid().is_root() {
            store.lower_dirs(&info).unwrap();
        }
        store.remove(&info.id).unwrap();
        assert!(store.resolve(&info.id).is_none());
        store.prune(&in_use).unwrap();
        assert!(store.has_blob(&info.id));
        if rustix::process::geteuid().is_root() {
            assert!(store.layers.has(&info.layers[0]));
        }
        assert!(store.prune(&HashSet::new()).unwrap() > 0);
        assert!(!store.layers.has(&info.layers[0]));
    }

    /// Put a gzip layer, a config naming `diff_id` and a manifest; tag it "t:1".
    fn put_gzip_image(store: &ImageStore, tar: &[u8], diff_id: &str) -> ImageInfo {
        use crate::image::digest::of_bytes;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, tar).unwrap();
        let layer = gz.finish().unwrap();
        let config = format!(
            r#"{{"os":"linux","architecture":"arm64","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
        );
        let d = |media: &str, bytes: &[u8]| document::Descriptor {
            media_type: media.into(),
            digest: of_bytes(bytes),
            size: bytes.len() as u64,
            ..Default::default()
        };
        let manifest = document::manifest_json(
            &d(document::OCI_CONFIG, config.as_bytes()),
            &[d(document::OCI_LAYER_GZIP, &layer)],
        );
        for blob in [&layer[..], config.as_bytes(), manifest.as_bytes()] {
            store.put_blob(&of_bytes(blob), &mut &blob[..]).unwrap();
        }
        store.tag("t:1", &of_bytes(manifest.as_bytes())).unwrap()
    }

    #[test]
    fn compressed_layers_are_checked_against_diff_ids_when_unpacked() {
        let dir = TestDir::new("diffid");
        let store = store_in(&dir);
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        tar.append_data(&mut h, "file", &b"hi"[..]).unwrap();
        let tar = tar.into_inner().unwrap();
        let wrong = crate::image::digest::of_bytes(b"something else");
        let info = put_gzip_image(&store, &tar, &wrong);
        let err = store.lower_dirs(&info).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(store.layers.list().unwrap().is_empty());
        assert_eq!(
            fs::read_dir(dir.path().join("images/layers"))
                .unwrap()
                .count(),
            0,
            "temp dir left"
        );
        let right = crate::image::digest::of_bytes(&tar);
        let info = put_gzip_image(&store, &tar, &right);
        let lowers = store.lower_dirs(&info).unwrap();
        assert_eq!(fs::read(lowers[0].join("file")).unwrap(), b"hi");
    }

    #[test]
    fn pulled_blobs_are_tagged() {
        let dir = TestDir::new("tag");
        let store = store_in(&dir);
        let layer = b"not really a tar";
        let config = br#"{"architecture":"arm64","os":"linux","config":{"Cmd":["/app"]},"rootfs":{"type":"layers","diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"]}}"#;
        let manifest = document::manifest_json(
            &document::Descriptor {
                media_type: document::OCI_CONFIG.into(),
                digest: crate::image::digest::of_bytes(config),
                size: config.len() as u64,
                ..Default::default()
            },
            &[document::Descriptor {
                media_type: document::OCI_LAYER_GZIP.into(),
                digest: crate::image::digest::of_bytes(layer),
                size: layer.len() as u64,
                ..Default::default()
            }],
        );
        let manifest_digest = crate::image::digest::of_bytes(manifest.as_bytes());
        store
            .put_blob(&manifest_digest, &mut manifest.as_bytes())
            .unwrap();
        let err = store.tag("ghcr.io/o/app:1", &manifest_digest).unwrap_err();
        assert!(matches!(err, ImageError::MissingBlob(_)), "{err}");
        store
            .put_blob(&crate::image::digest::of_bytes(config), &mut &config[..])
            .unwrap();
        store
            .put_blob(&crate::image::digest::of_bytes(layer), &mut &layer[..])
            .unwrap();
        let info = store.tag("ghcr.io/o/app:1", &manifest_digest).unwrap();
        assert_eq!(info.config.cmd, ["/app"]);
        let pinned = format!("ghcr.io/o/app@{manifest_digest}");
        assert_eq!(store.resolve(&pinned).unwrap().id, info.id);
        assert!(
            store
                .put_blob(&manifest_digest, &mut &b"other"[..])
                .is_err()
        );
    }
}
