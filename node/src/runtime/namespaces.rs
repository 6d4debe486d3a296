//! Pod namespaces without a pause process: a network, IPC and UTS namespace is created by a
//! short-lived thread and kept alive by bind-mounting its nsfs file under the run directory
//! (`<run_dir>/netns/<pod uid>`, `ipcns/`, `utsns/`), the way `ip netns add` does.
//!
//! Containers join them through `NamespacePaths`; CNI gets the netns path. Removing a pod's
//! namespaces is unmount + unlink; listing the netns directory finds pods left over from a
//! previous run.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use rustix::mount::{UnmountFlags, mount_bind, unmount};
use rustix::thread::UnshareFlags;

use crate::runtime::bundle::NamespacePaths;

/// The kinds of namespace a pod owns, with their directory and flag.
const KINDS: [(&str, &str, UnshareFlags); 3] = [
    ("netns", "net", UnshareFlags::NEWNET),
    ("ipcns", "ipc", UnshareFlags::NEWIPC),
    ("utsns", "uts", UnshareFlags::NEWUTS),
];

#[derive(Debug)]
pub enum NamespaceError {
    Create(&'static str, io::Error),
    Bind(PathBuf, io::Error),
    Remove(PathBuf, io::Error),
    BadUid(String),
}

impl fmt::Display for NamespaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NamespaceError::Create(what, e) => write!(f, "creating a {what} namespace: {e}"),
            NamespaceError::Bind(p, e) => write!(f, "holding namespace at {}: {e}", p.display()),
            NamespaceError::Remove(p, e) => write!(f, "removing namespace {}: {e}", p.display()),
            NamespaceError::BadUid(uid) => write!(f, "pod uid {uid:?} cannot name a file"),
        }
    }
}

impl std::error::Error for NamespaceError {}

/// The namespaces held for one pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodNamespaces {
    pub network: PathBuf,
    pub ipc: PathBuf,
    pub uts: PathBuf,
}

impl PodNamespaces {
    /// The paths for the bundle (PID sharing is decided by the agent).
    pub fn paths(&self) -> NamespacePaths {
        NamespacePaths {
            network: Some(self.network.clone()),
            ipc: Some(self.ipc.clone()),
            uts: Some(self.uts.clone()),
            pid: None,
        }
    }
}

fn ns_path(run_dir: &Path, dir: &str, pod_uid: &str) -> Result<PathBuf, NamespaceError> {
    if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
        return Err(NamespaceError::BadUid(pod_uid.to_string()));
    }
    Ok(run_dir.join(dir).join(pod_uid))
}

/// Creates (or finds, when they already exist) the pod's net, IPC and UTS namespaces.
pub fn create(run_dir: &Path, pod_uid: &str) -> Result<PodNamespaces, NamespaceError> {
    let mut paths = Vec::new();
    for (dir, _, _) in KINDS {
        paths.push(ns_path(run_dir, dir, pod_uid)?);
    }
    if paths.iter().all(|p| is_nsfs(p)) {
        return Ok(PodNamespaces {
            network: paths[0].clone(),
            ipc: paths[1].clone(),
            uts: paths[2].clone(),
        });
    }
    remove(run_dir, pod_uid)?;
    for path in &paths {
        let parent = path.parent().unwrap_or(run_dir);
        fs::create_dir_all(parent).map_err(|e| NamespaceError::Bind(parent.to_path_buf(), e))?;
        fs::File::create(path).map_err(|e| NamespaceError::Bind(path.clone(), e))?;
    }
    let targets = paths.clone();
    let created = std::thread::spawn(move || hold_new_namespaces(&targets)).join();
    let result = created.unwrap_or_else(|_| {
        Err(NamespaceError::Create(
            "pod",
            io::Error::other("thread panicked"),
        ))
    });
    if let Err(e) = result {
        let _ = remove(run_dir, pod_uid);
        return Err(e);
    }
    Ok(PodNamespaces {
        network: paths[0].clone(),
        ipc: paths[1].clone(),
        uts: paths[2].clone(),
    })
}

/// Runs on a throwaway thread: unshare moves only this thread into the new namespaces.
fn hold_new_namespaces(targets: &[PathBuf]) -> Result<(), NamespaceError> {
    let flags = KINDS
        .iter()
        .fold(UnshareFlags::empty(), |all, (_, _, flag)| all | *flag);
    // SAFETY: FILES is not among the flags, so this thread keeps sharing the fd table; the
    // thread ends right after, taking its namespace membership with it.
    unsafe { rustix::thread::unshare_unsafe(flags) }
        .map_err(|e| NamespaceError::Create("pod", e.into()))?;
    for ((_, proc_name, _), target) in KINDS.iter().zip(targets) {
        let source = format!("/proc/thread-self/ns/{proc_name}");
        mount_bind(source.as_str(), target)
            .map_err(|e| NamespaceError::Bind(target.clone(), e.into()))?;
    }
    loopback_up().map_err(|e| NamespaceError::Create("loopback", e))
}

/// libc's IFF_UP is an i32; ifr_flags is a short.
const IFF_UP: libc::c_short = 0x1;

/// `ip link set lo up` in the calling thread's network namespace.
// The ioctl request is a c_ulong on glibc and a c_int on musl; both hold these small codes.
#[allow(clippy::cast_possible_truncation, clippy::unnecessary_cast)]
fn loopback_up() -> io::Result<()> {
    let socket = rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::DGRAM,
        None,
    )?;
    // SAFETY: ifreq is plain old data; zeroed is a valid value for it.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = libc::c_char::from_ne_bytes([*byte]);
    }
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS and SIOCSIFFLAGS read and write the ifreq we own for the call.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS as _, &mut request) < 0 {
            return Err(io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= IFF_UP;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS as _, &request) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Unmounts and unlinks the pod's namespace files; missing ones are fine.
pub fn remove(run_dir: &Path, pod_uid: &str) -> Result<(), NamespaceError> {
    for (dir, _, _) in KINDS {
        let path = ns_path(run_dir, dir, pod_uid)?;
        match unmount(&path, UnmountFlags::DETACH) {
            Ok(()) => {}
            // EINVAL: not a mount point; ENOENT: already gone.
            Err(e) if e == rustix::io::Errno::INVAL || e == rustix::io::Errno::NOENT => {}
            Err(e) => return Err(NamespaceError::Remove(path, e.into())),
        }
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(NamespaceError::Remove(path, e)),
        }
    }
    Ok(())
}

/// Pod uids that have a network namespace file under the run directory.
pub fn list(run_dir: &Path) -> Vec<String> {
    let Ok(entries) = fs::read_dir(run_dir.join("netns")) else {
        return Vec::new();
    };
    let mut uids: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    uids.sort();
    uids
}

/// True when `path` is a bind-mounted namespace (nsfs), not the empty placeholder file.
pub fn is_nsfs(path: &Path) -> bool {
    const NSFS_MAGIC: i64 = 0x6e73_6673;
    #[allow(clippy::useless_conversion)] // f_type is narrower than i64 on 32-bit ARM
    rustix::fs::statfs(path).is_ok_and(|s| i64::from(s.f_type) == NSFS_MAGIC)
}

/// The inode identifying a namespace (what `readlink /proc/<pid>/ns/net` shows as net:[N]).
pub fn inode(path: &Path) -> io::Result<u64> {
    Ok(rustix::fs::stat(path)?.st_ino)
}
