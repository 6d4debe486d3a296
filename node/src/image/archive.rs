//! Reading an image archive (tar or tar.gz) in one pass into the blob store.
//!
//! `docker save` puts manifest.json after the layers and OCI layouts may order files any
//! way, so the archive is streamed once: files under blobs/sha256/ are stored verified
//! against their names, other large files (docker layer.tar) are stored under their computed
//! digest, and small files (index.json, manifest.json, configs) stay in memory until the
//! importer asks for them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;

use flate2::bufread::MultiGzDecoder;

use super::Progress;
use super::blobs::BlobStore;
use super::error::ImageError;
use super::unpack::normalize;

/// Files up to this size stay in memory, up to MEMORY_BUDGET in total.
const SMALL_FILE: u64 = 1 << 20;
const MEMORY_BUDGET: usize = 32 << 20;
const PROGRESS_STEP: u64 = 4 << 20;

pub enum Stored {
    Memory(Vec<u8>),
    Blob { digest: String, size: u64 },
}

/// What one pass over an archive found, by normalized path inside the archive.
pub struct ArchiveContents {
    pub files: BTreeMap<String, Stored>,
    /// Symlinks (docker save links repeated layers): path -> normalized target.
    pub links: BTreeMap<String, String>,
}

impl ArchiveContents {
    pub fn has(&self, path: &str) -> bool {
        self.files.contains_key(path)
    }

    /// A file's bytes (only small files; documents).
    pub fn bytes(&self, path: &str, blobs: &BlobStore) -> Result<Vec<u8>, ImageError> {
        match self.files.get(self.follow(path)) {
            Some(Stored::Memory(bytes)) => Ok(bytes.clone()),
            Some(Stored::Blob { digest, .. }) => blobs.read_document(digest),
            None => Err(ImageError::Format(format!("archive has no {path}"))),
        }
    }

    /// A file as a stored blob: (digest, size).
    pub fn blob(&self, path: &str, blobs: &BlobStore) -> Result<(String, u64), ImageError> {
        match self.files.get(self.follow(path)) {
            Some(Stored::Memory(bytes)) => Ok((blobs.put_bytes(bytes)?, bytes.len() as u64)),
            Some(Stored::Blob { digest, size }) => Ok((digest.clone(), *size)),
            None => Err(ImageError::Format(format!("archive has no {path}"))),
        }
    }

    fn follow<'a>(&'a self, path: &'a str) -> &'a str {
        self.links.get(path).map_or(path, String::as_str)
    }
}

/// Reads `path` (plain or gzip tar) into `blobs`, reporting archive bytes read.
pub fn read(
    path: &Path,
    blobs: &BlobStore,
    progress: &mut dyn FnMut(Progress),
) -> Result<ArchiveContents, ImageError> {
    let file = File::open(path).map_err(ImageError::io(format!("open {}", path.display())))?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let counted = ProgressReader {
        inner: file,
        done: 0,
        reported: 0,
        total,
        progress: &mut *progress,
    };
    let mut buffered = BufReader::with_capacity(64 << 10, counted);
    let gzip = {
        use std::io::BufRead;
        buffered
            .fill_buf()
            .map_err(ImageError::io(format!("read {}", path.display())))?
            .starts_with(&[0x1f, 0x8b])
    };
    let mut stream: Box<dyn Read + '_> = if gzip {
        Box::new(MultiGzDecoder::new(buffered))
    } else {
        Box::new(buffered)
    };
    let contents = read_entries(&mut stream, blobs).map_err(|e| match e {
        ImageError::Io { what, source } => ImageError::Io {
            what: format!("{}: {what}", path.display()),
            source,
        },
        other => other,
    })?;
    drop(stream);
    progress(Progress {
        bytes_done: total,
        bytes_total: total,
    });
    Ok(contents)
}

fn read_entries(stream: &mut dyn Read, blobs: &BlobStore) -> Result<ArchiveContents, ImageError> {
    let mut contents = ArchiveContents {
        files: BTreeMap::new(),
        links: BTreeMap::new(),
    };
    let mut in_memory = 0usize;
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(ImageError::io("read archive"))? {
        let mut entry = entry.map_err(ImageError::io("read archive"))?;
        let raw = entry
            .path()
            .map_err(ImageError::io("archive entry path"))?
            .into_owned();
        let Some(rel) = normalize(&raw)? else {
            continue;
        };
        let name = rel.to_string_lossy().into_owned();
        match entry.header().entry_type() {
            tar::EntryType::Symlink => {
                if let Some(target) = entry.link_name().ok().flatten() {
                    let joined = rel.parent().unwrap_or(Path::new("")).join(target);
                    if let Some(t) = normalize(&joined)? {
                        contents
                            .links
                            .insert(name, t.to_string_lossy().into_owned());
                    }
                }
            }
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let stored = store_entry(&mut entry, &name, blobs, &mut in_memory)?;
                contents.files.insert(name, stored);
            }
            _ => {}
        }
    }
    Ok(contents)
}

fn store_entry(
    entry: &mut dyn Read,
    name: &str,
    blobs: &BlobStore,
    in_memory: &mut usize,
) -> Result<Stored, ImageError> {
    if let Some(hex) = name.strip_prefix("blobs/sha256/") {
        let digest = format!("sha256:{hex}");
        let size = blobs.put(&digest, entry)?;
        return Ok(Stored::Blob { digest, size });
    }
    let mut head = Vec::new();
    entry
        .take(SMALL_FILE + 1)
        .read_to_end(&mut head)
        .map_err(ImageError::io(format!("read {name}")))?;
    if head.len() as u64 <= SMALL_FILE && *in_memory + head.len() <= MEMORY_BUDGET {
        *in_memory += head.len();
        return Ok(Stored::Memory(head));
    }
    let mut rest = io::Cursor::new(head).chain(entry);
    let (digest, size) = blobs.put_unverified(&mut rest)?;
    Ok(Stored::Blob { digest, size })
}

/// Counts bytes read from the archive file and reports every PROGRESS_STEP.
struct ProgressReader<'a, R> {
    inner: R,
    done: u64,
    reported: u64,
    total: u64,
    progress: &'a mut dyn FnMut(Progress),
}

impl<R: Read> Read for ProgressReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if self.done >= self.reported + PROGRESS_STEP {
            self.reported = self.done;
            (self.progress)(Progress {
                bytes_done: self.done,
                bytes_total: self.total,
            });
        }
        Ok(n)
    }
}
