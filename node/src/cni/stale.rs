//! Clean-up at agent start: attachments cached for containers that no longer exist get a
//! DEL, and host-local address reservations held by no live container are released (a crash
//! between the plugin's ADD and the cache write leaves a reservation without an entry).

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use super::Cni;
use super::cache::{self, Cached};
use super::error::CniError;

/// What `cleanup_stale` removed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StaleCleanup {
    /// Container ids whose cached attachment got a DEL.
    pub detached: Vec<String>,
    /// Addresses whose host-local reservation was deleted.
    pub released: Vec<IpAddr>,
}

impl Cni {
    /// Detaches every cached attachment of this network whose container is not in `live`,
    /// then frees every host-local reservation whose owner is not in `live`. Call it before
    /// the first `add` (it edits host-local's directory under host-local's lock).
    pub fn cleanup_stale(&self, live: &[&str]) -> Result<StaleCleanup, CniError> {
        let mut done = StaleCleanup::default();
        for (file, entry) in Cached::list(&self.cfg.cache_dir)? {
            if entry.network != self.list.name || live.contains(&entry.container_id.as_str()) {
                continue;
            }
            let netns = sandbox_of(&entry).unwrap_or_default();
            self.del_attachment(&entry.container_id, &netns, &entry.ifname, Some(&entry))?;
            cache::remove(&file)?;
            done.detached.push(entry.container_id);
        }
        for dir in self.list.host_local_dirs() {
            done.released.extend(release_reservations(&dir, live)?);
        }
        Ok(done)
    }
}

/// The pod namespace recorded in the cached result, when it still exists: DEL inside the
/// namespace also removes the veth and the masquerade rules, not just the address.
fn sandbox_of(entry: &Cached) -> Option<String> {
    let result = super::CniResult::from_value(entry.result.clone()?).ok()?;
    let sandbox = result
        .interfaces
        .into_iter()
        .map(|i| i.sandbox)
        .find(|s| !s.is_empty())?;
    Path::new(&sandbox).exists().then_some(sandbox)
}

/// Deletes the reservation files (named by address, holding "<container id>\r\n<ifname>")
/// in one host-local directory whose container is not live.
fn release_reservations(dir: &Path, live: &[&str]) -> Result<Vec<IpAddr>, CniError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(CniError::io(dir, e)),
    };
    let _lock = HostLocalLock::take(dir)?;
    let mut released = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| CniError::io(dir, e))?.path();
        let Some(ip) = reservation_address(&path) else {
            continue;
        };
        let owner = std::fs::read_to_string(&path).map_err(|e| CniError::io(&path, e))?;
        let owner = owner.lines().next().unwrap_or_default().trim();
        if !live.contains(&owner) {
            cache::remove(&path)?;
            released.push(ip);
        }
    }
    Ok(released)
}

/// host-local names reservation files by the address (IPv6 colons kept; the plugin
/// replaces them with '_' only on Windows).
fn reservation_address(path: &Path) -> Option<IpAddr> {
    path.file_name()?.to_str()?.parse().ok()
}

/// host-local's own lock: an exclusive flock on `<dir>/lock`.
struct HostLocalLock {
    _held: std::fs::File,
}

impl HostLocalLock {
    fn take(dir: &Path) -> Result<Self, CniError> {
        let path: PathBuf = dir.join("lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| CniError::io(&path, e))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| CniError::io(&path, e.into()))?;
        Ok(HostLocalLock { _held: file })
    }
}
