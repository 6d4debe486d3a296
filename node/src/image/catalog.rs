//! The catalog: root/catalog.json, the small mutable part of the store.
//!
//! It maps references to manifest digests, lists the imported images (named or not) and
//! remembers which archives were imported (path, size, mtime) so `import_dir` skips them
//! on the next start. Every change is a read-modify-write under an exclusive flock on
//! root/catalog.lock (the agent and `wisp images` may run at once), written to a temporary
//! file and renamed, so readers never see half a file.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use miniserde::{Deserialize, Serialize, json};
use rustix::fs::{FlockOperation, flock};

use super::error::ImageError;

#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct Catalog {
    /// Normalized reference -> manifest digest.
    pub refs: BTreeMap<String, String>,
    /// Manifest digest -> record; every image in the store, named or not.
    pub images: BTreeMap<String, ImageRecord>,
    /// Archive path -> what importing it produced.
    pub archives: BTreeMap<String, ArchiveRecord>,
}

#[derive(Serialize, Deserialize, Default, Debug, Clone)]
pub struct ImageRecord {
    /// Unix seconds of the import or pull; gc removes the oldest unused images first.
    pub added: u64,
}

#[derive(Serialize, Deserialize, Default, Debug, Clone, PartialEq, Eq)]
pub struct ArchiveRecord {
    pub size: u64,
    pub mtime_ns: u64,
    pub manifests: Vec<String>,
}

impl Catalog {
    pub fn refs_of(&self, manifest: &str) -> Vec<String> {
        self.refs
            .iter()
            .filter(|(_, m)| *m == manifest)
            .map(|(r, _)| r.clone())
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct CatalogFile {
    path: PathBuf,
    lock: PathBuf,
}

impl CatalogFile {
    pub fn new(root: &Path) -> CatalogFile {
        CatalogFile {
            path: root.join("catalog.json"),
            lock: root.join("catalog.lock"),
        }
    }

    pub fn load(&self) -> Result<Catalog, ImageError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(<Catalog as Default>::default());
            }
            Err(e) => {
                return Err(ImageError::Io {
                    what: format!("read {}", self.path.display()),
                    source: e,
                });
            }
        };
        json::from_str(&text).map_err(|_| {
            ImageError::Format(format!("{} is not a valid catalog", self.path.display()))
        })
    }

    /// Applies `change` under the lock and writes the result.
    pub fn update<T>(&self, change: impl FnOnce(&mut Catalog) -> T) -> Result<T, ImageError> {
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(ImageError::io(format!("open {}", self.lock.display())))?;
        flock(&lock, FlockOperation::LockExclusive).map_err(|e| ImageError::Io {
            what: "lock catalog".into(),
            source: e.into(),
        })?;
        let mut catalog = self.load()?;
        let out = change(&mut catalog);
        self.write(&catalog)?;
        Ok(out)
    }

    fn write(&self, catalog: &Catalog) -> Result<(), ImageError> {
        let temp = self
            .path
            .with_extension(format!("json.tmp-{}", std::process::id()));
        let result = (|| {
            let mut file = File::create(&temp)?;
            file.write_all(json::to_string(catalog).as_bytes())?;
            file.sync_all()?;
            fs::rename(&temp, &self.path)
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&temp);
            ImageError::Io {
                what: format!("write {}", self.path.display()),
                source: e,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_persist() {
        let dir = crate::image::testdir::TestDir::new("catalog");
        let file = CatalogFile::new(dir.path());
        assert!(file.load().unwrap().refs.is_empty());
        file.update(|c| {
            c.refs
                .insert("docker.io/library/a:latest".into(), "sha256:x".into());
            c.images.insert("sha256:x".into(), ImageRecord { added: 7 });
        })
        .unwrap();
        let c = CatalogFile::new(dir.path()).load().unwrap();
        assert_eq!(c.refs_of("sha256:x"), ["docker.io/library/a:latest"]);
        assert_eq!(c.images["sha256:x"].added, 7);
    }
}
