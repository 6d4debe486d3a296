//! A crash-simulating backend for tests: every file has a "live" image (what reads see) and
//! a "durable" image (what survives a power cut), and so does the directory.
//!
//! `sync_data` copies a file's live image to its durable one, `sync_dir` does the same for
//! the directory's names. `freeze_at_sync(n)` makes the n-th sync (1-based, file or directory)
//! and every later one fail without making anything durable: the moment the power went out.
//! `crash_image` builds a fresh backend from the durable images, optionally keeping part of
//! each file's unsynced appended bytes, as a torn write would.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::backend::{Backend, BackendFile};

#[derive(Default)]
struct FileImages {
    live: Vec<u8>,
    durable: Vec<u8>,
}

type SimFile = Arc<Mutex<FileImages>>;

#[derive(Default)]
struct Dir {
    live: BTreeMap<String, SimFile>,
    durable: BTreeMap<String, SimFile>,
    syncs: u64,
    freeze_at: Option<u64>,
    sync_delay: Option<std::time::Duration>,
    bytes_written: u64,
}

impl Dir {
    /// Counts a sync; `false` when the power is already out.
    fn count_sync(&mut self) -> bool {
        self.syncs += 1;
        !matches!(self.freeze_at, Some(n) if self.syncs >= n)
    }
}

/// The simulated directory. Cloning shares it.
#[derive(Clone, Default)]
pub struct SimBackend {
    dir: Arc<Mutex<Dir>>,
}

struct SimHandle {
    file: SimFile,
    dir: Arc<Mutex<Dir>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss")
}

impl SimBackend {
    pub fn new() -> SimBackend {
        SimBackend::default()
    }

    /// Syncs so far (file and directory).
    pub fn sync_count(&self) -> u64 {
        lock(&self.dir).syncs
    }

    /// The `n`-th sync from the start (1-based) and all later ones fail and persist nothing.
    pub fn freeze_at_sync(&self, n: u64) {
        lock(&self.dir).freeze_at = Some(n);
    }

    /// Makes every file sync sleep this long, like a slow SD card (to exercise group commit).
    pub fn set_sync_delay(&self, delay: std::time::Duration) {
        lock(&self.dir).sync_delay = Some(delay);
    }

    /// Bytes passed to `write_all_at` so far.
    pub fn bytes_written(&self) -> u64 {
        lock(&self.dir).bytes_written
    }

    /// Names in the live directory.
    pub fn names(&self) -> Vec<String> {
        lock(&self.dir).live.keys().cloned().collect()
    }

    /// A new backend holding what a power cut now would leave: the durable directory with
    /// each file's durable bytes plus up to `torn_bytes` of its unsynced appended bytes.
    pub fn crash_image(&self, torn_bytes: usize) -> SimBackend {
        let dir = lock(&self.dir);
        let mut out = Dir::default();
        for (name, file) in &dir.durable {
            let f = lock(file);
            let bytes = torn_merge(&f.durable, &f.live, torn_bytes);
            let image = Arc::new(Mutex::new(FileImages {
                live: bytes.clone(),
                durable: bytes,
            }));
            out.live.insert(name.clone(), image.clone());
            out.durable.insert(name.clone(), image);
        }
        SimBackend {
            dir: Arc::new(Mutex::new(out)),
        }
    }

    /// Bytes of a file's live image (None when absent).
    pub fn read_file(&self, name: &str) -> Option<Vec<u8>> {
        let dir = lock(&self.dir);
        dir.live.get(name).map(|f| lock(f).live.clone())
    }

    /// Changes a file's live and durable bytes alike: damage that is already on the media.
    pub fn damage(&self, name: &str, change: impl FnOnce(&mut Vec<u8>)) {
        let dir = lock(&self.dir);
        if let Some(f) = dir.live.get(name) {
            let mut f = lock(f);
            change(&mut f.live);
            f.durable = f.live.clone();
        }
    }
}

/// The durable bytes with up to `torn` bytes of the live image applied from the first
/// offset where the two differ: a write that reached the media only in part.
fn torn_merge(durable: &[u8], live: &[u8], torn: usize) -> Vec<u8> {
    let common = durable.iter().zip(live).take_while(|(a, b)| a == b).count();
    let mut bytes = durable.to_vec();
    let upto = live.len().min(common.saturating_add(torn));
    if upto > common {
        if bytes.len() < upto {
            bytes.resize(upto, 0);
        }
        bytes[common..upto].copy_from_slice(&live[common..upto]);
    }
    bytes
}

impl BackendFile for SimHandle {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let f = lock(&self.file);
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(f.live.len());
        let n = buf.len().min(f.live.len() - start);
        buf[..n].copy_from_slice(&f.live[start..start + n]);
        Ok(n)
    }
    fn write_all_at(&self, data: &[u8], offset: u64) -> io::Result<()> {
        lock(&self.dir).bytes_written += data.len() as u64;
        let mut f = lock(&self.file);
        let start = usize::try_from(offset).map_err(|_| io::Error::other("offset too large"))?;
        if f.live.len() < start + data.len() {
            f.live.resize(start + data.len(), 0);
        }
        f.live[start..start + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.file).live.len() as u64)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("length too large"))?;
        lock(&self.file).live.resize(len, 0);
        Ok(())
    }
    fn allocate(&self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(|_| io::Error::other("length too large"))?;
        let mut f = lock(&self.file);
        if f.live.len() < len {
            f.live.resize(len, 0);
        }
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        let delay = {
            let mut dir = lock(&self.dir);
            if !dir.count_sync() {
                return Err(power_lost());
            }
            dir.sync_delay
        };
        if let Some(d) = delay {
            std::thread::sleep(d);
        }
        let mut f = lock(&self.file);
        f.durable = f.live.clone();
        Ok(())
    }
}

impl Backend for SimBackend {
    fn list(&self) -> io::Result<Vec<String>> {
        Ok(lock(&self.dir).live.keys().cloned().collect())
    }
    fn open(&self, name: &str, create: bool) -> io::Result<Arc<dyn BackendFile>> {
        let mut dir = lock(&self.dir);
        let file = match dir.live.get(name) {
            Some(f) => f.clone(),
            None if create => {
                let f = SimFile::default();
                dir.live.insert(name.to_string(), f.clone());
                f
            }
            None => return Err(io::Error::new(io::ErrorKind::NotFound, name.to_string())),
        };
        Ok(Arc::new(SimHandle {
            file,
            dir: self.dir.clone(),
        }))
    }
    fn rename(&self, from: &str, to: &str) -> io::Result<()> {
        let mut dir = lock(&self.dir);
        let file = dir
            .live
            .remove(from)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
        dir.live.insert(to.to_string(), file);
        Ok(())
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        let mut dir = lock(&self.dir);
        dir.live
            .remove(name)
            .map(drop)
            .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    }
    fn sync_dir(&self) -> io::Result<()> {
        let mut dir = lock(&self.dir);
        if !dir.count_sync() {
            return Err(power_lost());
        }
        dir.durable = dir.live.clone();
        Ok(())
    }
    fn lock(&self) -> io::Result<Box<dyn Send + Sync>> {
        Ok(Box::new(()))
    }
    fn describe(&self, name: &str) -> String {
        format!("sim:{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_synced_bytes_and_names_survive() {
        let sim = SimBackend::new();
        let f = sim.open("a", true).unwrap();
        f.write_all_at(b"hello", 0).unwrap();
        assert!(
            sim.crash_image(0).read_file("a").is_none(),
            "name not durable before sync_dir"
        );
        sim.sync_dir().unwrap();
        assert_eq!(sim.crash_image(0).read_file("a").unwrap(), b"");
        f.sync_data().unwrap();
        f.write_all_at(b" world", 5).unwrap();
        assert_eq!(sim.crash_image(0).read_file("a").unwrap(), b"hello");
        assert_eq!(sim.crash_image(3).read_file("a").unwrap(), b"hello wo");
        sim.freeze_at_sync(sim.sync_count() + 1);
        assert!(f.sync_data().is_err());
        assert_eq!(sim.crash_image(0).read_file("a").unwrap(), b"hello");
    }
}
