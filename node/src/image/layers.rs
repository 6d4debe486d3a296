//! Unpacked layers under root/layers/<diff-id hex>/, each unpacked once.
//!
//! A layer is unpacked into root/layers/.tmp-<hex>-<pid>-<n>, its uncompressed stream is
//! hashed on the way and must equal the diff id from the image config, and only then is the
//! directory renamed into place. A directory under its final name is therefore complete;
//! leftovers of a crash are temporary names that `clean_temporaries` removes.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use flate2::bufread::MultiGzDecoder;

use super::digest::{self, HashingReader};
use super::error::ImageError;
use super::unpack;

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);
const TEMP_PREFIX: &str = ".tmp-";

#[derive(Debug, Clone)]
pub struct LayerStore {
    dir: PathBuf,
}

impl LayerStore {
    pub fn open(root: &Path) -> Result<LayerStore, ImageError> {
        let dir = root.join("layers");
        fs::create_dir_all(&dir).map_err(ImageError::io(format!("create {}", dir.display())))?;
        Ok(LayerStore { dir })
    }

    pub fn path(&self, diff_id: &str) -> Result<PathBuf, ImageError> {
        Ok(self.dir.join(digest::hex_of(diff_id)?))
    }

    pub fn has(&self, diff_id: &str) -> bool {
        self.path(diff_id).is_ok_and(|p| p.is_dir())
    }

    /// Unpacks `blob` (plain or gzip tar) as layer `diff_id` unless it is already there.
    pub fn ensure(&self, diff_id: &str, blob: File) -> Result<PathBuf, ImageError> {
        let target = self.path(diff_id)?;
        if target.is_dir() {
            return Ok(target);
        }
        let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
        let hex = digest::hex_of(diff_id)?;
        let temp = self
            .dir
            .join(format!("{TEMP_PREFIX}{hex}-{}-{n}", std::process::id()));
        fs::create_dir(&temp).map_err(ImageError::io(format!("create {}", temp.display())))?;
        let result = unpack_verified(blob, &temp, diff_id)
            .and_then(|()| sync_filesystem(&temp))
            .and_then(|()| {
                match fs::rename(&temp, &target) {
                    Ok(()) => Ok(()),
                    // Another thread or process finished the same layer first: keep theirs.
                    Err(_) if target.is_dir() => remove_tree(&temp),
                    Err(e) => Err(ImageError::Io {
                        what: format!("rename layer into {}", target.display()),
                        source: e,
                    }),
                }
            });
        if result.is_err() {
            let _ = remove_tree(&temp);
        }
        result.map(|()| target)
    }

    /// Every unpacked layer's diff id.
    pub fn list(&self) -> Result<Vec<String>, ImageError> {
        digest::listed_in(&self.dir).map_err(ImageError::io("list layers"))
    }

    /// Removes a layer directory; returns the bytes of regular files it held.
    pub fn remove(&self, diff_id: &str) -> Result<u64, ImageError> {
        let path = self.path(diff_id)?;
        if !path.is_dir() {
            return Ok(0);
        }
        let size = tree_size(&path);
        // Rename first so a half-removed layer never sits under its final name.
        let doomed = self
            .dir
            .join(format!("{TEMP_PREFIX}rm-{}", digest::hex_of(diff_id)?));
        fs::rename(&path, &doomed).map_err(ImageError::io(format!("remove {}", path.display())))?;
        remove_tree(&doomed)?;
        Ok(size)
    }

    /// Diff ids of layers that an overlay mount visible to this process uses as a lower
    /// directory: a safety net so `wisp images prune`, which cannot know the agent's
    /// containers, never pulls a layer from under a mounted rootfs.
    pub fn mounted(&self) -> BTreeSet<String> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let prefix = format!("{}/", self.dir.display());
        overlay_lowers(&mountinfo)
            .filter_map(|dir| dir.strip_prefix(&prefix).map(|hex| format!("sha256:{hex}")))
            .filter(|d| digest::hex_of(d).is_ok())
            .collect()
    }

    /// Removes unpacks interrupted by a crash (older than `age`: younger ones may be
    /// another process's work in progress).
    pub fn clean_temporaries(&self, age: std::time::Duration) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.elapsed().ok());
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX)
                && old.is_some_and(|o| o > age)
            {
                let _ = remove_tree(&entry.path());
            }
        }
    }
}

/// Every lowerdir path of every overlay mount in a mountinfo text.
fn overlay_lowers(mountinfo: &str) -> impl Iterator<Item = String> + '_ {
    mountinfo.lines().flat_map(|line| {
        let mut after = line.split(" - ").nth(1).unwrap_or("").split(' ');
        let is_overlay = after.next() == Some("overlay");
        let options = after.nth(1).filter(|_| is_overlay).unwrap_or("");
        let lowers = options
            .split(',')
            .find_map(|o| o.strip_prefix("lowerdir="))
            .unwrap_or("");
        lowers
            .split(':')
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    })
}

fn unpack_verified(blob: File, dest: &Path, diff_id: &str) -> Result<(), ImageError> {
    let mut buffered = BufReader::with_capacity(64 << 10, blob);
    let gzip = is_gzip(&mut buffered)?;
    let plain: Box<dyn Read> = if gzip {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let mut hashing = HashingReader::new(plain);
    unpack::unpack(&mut hashing, dest)?;
    let (actual, _) = hashing.finish().map_err(ImageError::io("read layer"))?;
    if actual != diff_id {
        return Err(ImageError::DigestMismatch {
            expected: diff_id.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Peeks for the gzip magic; zstd is named so the error says what is missing.
pub fn is_gzip(reader: &mut BufReader<File>) -> Result<bool, ImageError> {
    use std::io::BufRead;
    let head = reader.fill_buf().map_err(ImageError::io("read layer"))?;
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(ImageError::Unsupported("zstd-compressed layers".into()));
    }
    Ok(head.starts_with(&[0x1f, 0x8b]))
}

/// The final name means "complete", so the files must be on disk before the rename: a
/// board that loses power must not come back with a layer of empty files. One syncfs
/// per layer is cheaper than an fsync per file.
fn sync_filesystem(dir: &Path) -> Result<(), ImageError> {
    let fd = rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| ImageError::Io {
        what: format!("open {}", dir.display()),
        source: e.into(),
    })?;
    rustix::fs::syncfs(&fd).map_err(|e| ImageError::Io {
        what: "syncfs".into(),
        source: e.into(),
    })
}

fn remove_tree(path: &Path) -> Result<(), ImageError> {
    fs::remove_dir_all(path).map_err(ImageError::io(format!("remove {}", path.display())))
}

/// Bytes of regular files under `path` (hard links counted once per name; an estimate).
pub fn tree_size(path: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => tree_size(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_lowers_from_mountinfo() {
        let text = "\
36 35 98:0 / /mnt1 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
99 28 0:52 / /run/c/rootfs rw,relatime - overlay overlay rw,lowerdir=/d/layers/aa:/d/layers/bb,upperdir=/u,workdir=/w
";
        let lowers: Vec<String> = overlay_lowers(text).collect();
        assert_eq!(lowers, ["/d/layers/aa", "/d/layers/bb"]);
    }
}
