//! The storage-backend trait: the only way the store touches files.
//!
//! `FsBackend` is the real one (std files: `pread`/`pwrite`, `fdatasync`, directory `fsync`,
//! an exclusive `flock` on `LOCK`). Tests swap in `sim_backend::SimBackend`, which models
//! what survives a power cut.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One open file of a backend.
#[allow(clippy::len_without_is_empty)]
pub trait BackendFile: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; returns how many (0 at end of file).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    /// Writes all of `data` at `offset`.
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()>;
    fn len(&self) -> io::Result<u64>;
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Grows the file to at least `len` bytes of zeros with the blocks allocated, so later
    /// writes inside it need no metadata update at fdatasync (fallocate).
    fn allocate(&self, len: u64) -> io::Result<()>;
    /// Makes the written data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
}

/// A directory of files.
pub trait Backend: Send + Sync {
    /// File names in the directory.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Opens a file, creating it (empty) when `create` is set and it does not exist.
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn BackendFile>>;
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Makes creates, renames and removes in the directory durable (fsync of the directory).
    fn sync_dir(&self) -> io::Result<()>;
    /// Takes the exclusive lock that keeps a second process out; held until drop.
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>>;
    /// A name for messages: the directory path.
    fn describe(&self, name: &str) -> String;
}

/// Reads exactly `buf.len()` bytes at `offset`, or fails with `UnexpectedEof`.
pub fn read_exact_at(file: &dyn BackendFile, buf: &mut [u8], offset: u64) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        let n = file.read_at(&mut buf[done..], offset + done as u64)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "short read"));
        }
        done += n;
    }
    Ok(())
}

/// The real backend: files in one directory.
pub struct FsBackend {
    dir: PathBuf,
}

impl FsBackend {
    /// Uses `dir`, creating it when missing.
    pub fn new(dir: &Path) -> io::Result<FsBackend> {
        fs::create_dir_all(dir)?;
        Ok(FsBackend {
            dir: dir.to_path_buf(),
        })
    }
}

struct FsFile(File);

impl BackendFile for FsFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        self.0.read_at(buf, offset)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        self.0.write_all_at(data, offset)
    }
    fn len(&self) -> io::Result<u64> {
        Ok(self.0.metadata()?.len())
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.0.set_len(len)
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        let current = self.len()?;
        if len <= current {
            return Ok(());
        }
        match rustix::fs::fallocate(
            &self.0,
            rustix::fs::FallocateFlags::empty(),
            current,
            len - current,
        ) {
            Ok(()) => Ok(()),
            // Filesystems without fallocate: a plain extension still reads as zeros.
            Err(rustix::io::Errno::OPNOTSUPP) => self.0.set_len(len),
            Err(e) => Err(e.into()),
        }
    }
    fn sync_data(&self) -> io::Result<()> {
        self.0.sync_data()
    }
}

impl Backend for FsBackend {
    fn list(&self) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str() {
                names.push(name.to_string());
            }
        }
        Ok(names)
    }
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn BackendFile>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(create)
            .truncate(false)
            .open(self.dir.join(name))?;
        Ok(Arc::new(FsFile(file)))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        fs::rename(self.dir.join(from), self.dir.join(to))
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.dir.join(name))
    }
    fn sync_dir(&self) -> io::Result<()> {
        File::open(&self.dir)?.sync_all()
    }
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(self.dir.join("LOCK"))?;
        match file.try_lock() {
            Ok(()) => Ok(Box::new(file)),
            Err(fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "store directory is locked",
            )),
            Err(fs::TryLockError::Error(e)) => Err(e),
        }
    }
    fn describe(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}
