//! Content-addressed blob files under root/blobs/sha256/<hex>.
//!
//! Every write goes to a temporary file in root/tmp (same filesystem), is hashed on the way,
//! synced, and renamed into place only when the digest matches, so a blob file that exists
//! is always complete and correct.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::digest::{self, HashingReader};
use super::error::ImageError;

/// Manifests, indexes and configs larger than this are refused (they are JSON documents).
pub const MAX_DOCUMENT: u64 = 8 << 20;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    tmp: PathBuf,
}

impl BlobStore {
    pub fn open(root: &Path) -> Result<BlobStore, ImageError> {
        let dir = root.join("blobs").join("sha256");
        let tmp = root.join("tmp");
        fs::create_dir_all(&dir).map_err(ImageError::io(format!("create {}", dir.display())))?;
        fs::create_dir_all(&tmp).map_err(ImageError::io(format!("create {}", tmp.display())))?;
        Ok(BlobStore { dir, tmp })
    }

    pub fn path(&self, digest: &str) -> Result<PathBuf, ImageError> {
        Ok(self.dir.join(digest::hex_of(digest)?))
    }

    pub fn has(&self, digest: &str) -> bool {
        self.path(digest).is_ok_and(|p| p.is_file())
    }

    /// Stores `reader`'s content under `expected`, refusing it if it hashes differently.
    pub fn put(&self, expected: &str, reader: &mut dyn Read) -> Result<u64, ImageError> {
        let target = self.path(expected)?;
        let (temp, actual, size) = self.write_temp(reader)?;
        if actual != expected {
            let _ = fs::remove_file(&temp);
            return Err(ImageError::DigestMismatch {
                expected: expected.into(),
                actual,
            });
        }
        self.commit(&temp, &target)?;
        Ok(size)
    }

    /// Stores content whose digest is not known in advance; returns (digest, size).
    pub fn put_unverified(&self, reader: &mut dyn Read) -> Result<(String, u64), ImageError> {
        let (temp, digest, size) = self.write_temp(reader)?;
        self.commit(&temp, &self.path(&digest)?)?;
        Ok((digest, size))
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String, ImageError> {
        Ok(self.put_unverified(&mut &bytes[..])?.0)
    }

    pub fn open_blob(&self, digest: &str) -> Result<File, ImageError> {
        let path = self.path(digest)?;
        File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ImageError::MissingBlob(digest.to_string()),
            _ => ImageError::Io {
                what: format!("open {}", path.display()),
                source: e,
            },
        })
    }

    /// Reads a JSON document blob (bounded by MAX_DOCUMENT).
    pub fn read_document(&self, digest: &str) -> Result<Vec<u8>, ImageError> {
        let mut bytes = Vec::new();
        self.open_blob(digest)?
            .take(MAX_DOCUMENT + 1)
            .read_to_end(&mut bytes)
            .map_err(ImageError::io(format!("read blob {digest}")))?;
        if bytes.len() as u64 > MAX_DOCUMENT {
            return Err(ImageError::Format(format!(
                "document {digest} is larger than 8 MiB"
            )));
        }
        Ok(bytes)
    }

    pub fn size(&self, digest: &str) -> Option<u64> {
        fs::metadata(self.path(digest).ok()?).ok().map(|m| m.len())
    }

    /// Every stored blob digest.
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        digest::listed_in(&self.dir).map_err(ImageError::io("list blobs"))
    }

    /// Removes a blob; returns the bytes freed (0 if it was not there).
    pub fn remove(&self, digest: &str) -> Result<u64, ImageError> {
        let path = self.path(digest)?;
        let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        match fs::remove_file(&path) {
            Ok(()) => Ok(size),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(ImageError::Io {
                what: format!("remove {}", path.display()),
                source: e,
            }),
        }
    }

    fn write_temp(&self, reader: &mut dyn Read) -> Result<(PathBuf, String, u64), ImageError> {
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let temp = self.tmp.join(format!("blob-{}-{n}", std::process::id()));
        let result = (|| {
            let mut file = File::create(&temp)?;
            let mut hashing = HashingReader::new(reader);
            io::copy(&mut hashing, &mut file)?;
            file.flush()?;
            file.sync_all()?;
            hashing.finish()
        })();
        match result {
            Ok((digest, size)) => Ok((temp, digest, size)),
            Err(e) => {
                let _ = fs::remove_file(&temp);
                Err(ImageError::Io {
                    what: "write blob".into(),
                    source: e,
                })
            }
        }
    }

    fn commit(&self, temp: &Path, target: &Path) -> Result<(), ImageError> {
        fs::rename(temp, target).map_err(|e| {
            let _ = fs::remove_file(temp);
            ImageError::Io {
                what: format!("rename blob into {}", target.display()),
                source: e,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_put_refuses_wrong_content() {
        let root = crate::image::testdir::TestDir::new("blobs");
        let store = BlobStore::open(root.path()).unwrap();
        let good = digest::of_bytes(b"hello");
        assert_eq!(store.put(&good, &mut &b"hello"[..]).unwrap(), 5);
        assert!(store.has(&good));
        let wrong = digest::of_bytes(b"other");
        let err = store.put(&wrong, &mut &b"hello"[..]).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(!store.has(&wrong));
        assert_eq!(
            fs::read_dir(root.path().join("tmp")).unwrap().count(),
            0,
            "temp left over"
        );
        assert_eq!(store.list().unwrap(), vec![good.clone()]);
        assert_eq!(store.remove(&good).unwrap(), 5);
        assert!(!store.has(&good));
    }
}
