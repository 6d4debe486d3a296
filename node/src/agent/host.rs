//! The host resources the agent works with, and where each lives: the OCI runtime, the
//! image store, cgroups, pod namespaces, the pod network, and the directories:
//! `<data>/pods/<uid>/` (volumes, /etc files, container rootfs), `<run>/pods/<uid>.json`
//! (what adoption needs; in /run so a reboot forgets it with the containers),
//! `<run>/fifo/` (container stdout/stderr pipes), `<run>/netns|ipcns|utsns/<uid>`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::state::SavedPod;
use crate::image::{ImageInfo, ImageStore};
use crate::runtime::cgroups::{self, Cgroups};
use crate::runtime::namespaces;
use crate::runtime::oci::OciRuntime;
use crate::runtime::podspec::Pod;

/// The namespaces a pod's containers join (None: the host's).
#[derive(Debug, Default, Clone)]
pub struct Namespaces {
    pub network: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
}

pub struct Host {
    pub runtime: OciRuntime,
    pub images: ImageStore,
    pub cgroups: Option<Cgroups>,
    pub network: Option<Box<dyn PodNetwork>>,
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub log_root: PathBuf,
    pub cluster_dns: String,
    pub cluster_domain: String,
    pub pull_config: crate::pull::PullConfig,
}

/// The image store as the registry client's blob sink.
struct StoreSink<'a>(&'a ImageStore);

impl crate::pull::BlobSink for StoreSink<'_> {
    fn has_blob(&self, digest: &str) -> bool {
        self.0.has_blob(digest)
    }

    fn put_blob(&self, digest: &str, data: &mut dyn std::io::Read) -> Result<(), String> {
        self.0.put_blob(digest, data).map_err(|e| e.to_string())
    }
}

/// Pod networking (CNI in `wisp run`; absent means loopback only).
pub trait PodNetwork: Send + Sync {
    /// Attaches the pod's namespace; returns its IP.
    fn add(&self, pod: &Pod, netns: &Path) -> Result<Option<String>, String>;
    /// Detaches it; idempotent.
    fn del(&self, pod: &Pod, netns: &Path);
    /// Releases attachments of pods not in `live` (after a restart).
    fn cleanup(&self, live: &std::collections::HashSet<String>);
}

impl Host {
    pub fn pod_dir(&self, uid: &str) -> PathBuf {
        self.data_dir.join("pods").join(uid)
    }

    pub fn container_dir(&self, uid: &str, name: &str, attempt: u32) -> PathBuf {
        self.pod_dir(uid)
            .join("containers")
            .join(format!("{name}-{attempt}"))
    }

    /// The directory of a container run from its id (`<uid>-<name>-<attempt>`).
    pub fn container_dir_of(&self, id: &str) -> Option<PathBuf> {
        // Pod uids are 36-character UUIDs.
        let (uid, rest) = (id.get(..36)?, id.get(37..)?);
        let dir = self.pod_dir(uid).join("containers").join(rest);
        dir.exists().then_some(dir)
    }

    pub fn fifo_path(&self, id: &str, stream: &str) -> PathBuf {
        self.run_dir.join("fifo").join(format!("{id}.{stream}"))
    }

    pub fn state_file(&self, uid: &str) -> PathBuf {
        self.run_dir.join("pods").join(format!("{uid}.json"))
    }

    pub fn save_pod(&self, uid: &str, saved: &SavedPod) {
        let path = self.state_file(uid);
        let tmp = path.with_extension("tmp");
        let text = miniserde::json::to_string(saved);
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            eprintln!("wisp: node: saving pod state {}: {e}", path.display());
        }
    }

    pub fn load_pod(&self, uid: &str) -> Option<SavedPod> {
        let text = std::fs::read_to_string(self.state_file(uid)).ok()?;
        miniserde::json::from_str(&text).ok()
    }

    /// The pod's namespaces; the network one only without hostNetwork, IPC only without
    /// hostIPC.
    pub fn create_namespaces(
        &self,
        uid: &str,
        network: bool,
        ipc: bool,
    ) -> Result<Namespaces, String> {
        let ns = namespaces::create(&self.run_dir, uid).map_err(|e| e.to_string())?;
        Ok(Namespaces {
            network: network.then_some(ns.network),
            ipc: ipc.then_some(ns.ipc),
            // hostNetwork pods see the host's name, as upstream (they share its UTS).
            uts: network.then_some(ns.uts),
        })
    }

    pub fn existing_namespaces(&self, uid: &str) -> Namespaces {
        let path = |kind: &str| {
            let p = self.run_dir.join(kind).join(uid);
            namespaces::is_nsfs(&p).then_some(p)
        };
        Namespaces {
            network: path("netns"),
            ipc: path("ipcns"),
            uts: path("utsns"),
        }
    }

    pub fn remove_namespaces(&self, uid: &str) {
        if let Err(e) = namespaces::remove(&self.run_dir, uid) {
            eprintln!("wisp: node: removing namespaces of pod {uid}: {e}");
        }
    }

    pub fn network_add(&self, pod: &Pod, netns: &Path) -> Result<Option<String>, String> {
        match &self.network {
            Some(n) => n.add(pod, netns),
            None => Ok(None),
        }
    }

    pub fn network_del(&self, pod: &Pod, netns: &Path) {
        if let Some(n) = &self.network {
            n.del(pod, netns);
        }
    }

    pub fn cgroups_path(&self, uid: &str, id: &str) -> String {
        cgroups::container_path(uid, id)
    }

    pub fn remove_pod_cgroup(&self, uid: &str) {
        if let Some(c) = &self.cgroups
            && let Err(e) = c.remove_pod(uid)
        {
            eprintln!("wisp: node: removing the cgroup of pod {uid}: {e}");
        }
    }

    pub fn oom_killed(&self, id: &str) -> bool {
        let (Some(c), Some(uid)) = (&self.cgroups, id.get(..36)) else {
            return false;
        };
        c.oom_kills(&cgroups::container_path(uid, id))
            .is_ok_and(|n| n > 0)
    }

    /// Detaches every mount at or below `dir` (overlay rootfs, tmpfs volumes), deepest
    /// first, so removing the directory never reaches into a mounted filesystem.
    pub fn unmount_under(&self, dir: &Path) {
        let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut targets: Vec<PathBuf> = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|p| PathBuf::from(p.replace("\\040", " ")))
            .filter(|p| p.starts_with(dir))
            .collect();
        targets.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for t in targets {
            let _ = rustix::mount::unmount(&t, rustix::mount::UnmountFlags::DETACH);
        }
    }

    pub fn image_present(&self, image: &str) -> bool {
        self.images.resolve(image).is_some()
    }

    /// Pulls an image from its registry into the image store, with the first pull
    /// secret (dockerconfigjson) that has credentials for the registry.
    pub fn pull(&self, image: &str, secrets: &[Vec<u8>]) -> Result<ImageInfo, String> {
        let r = crate::image::Reference::parse(image).map_err(|e| e.to_string())?;
        let creds = secrets
            .iter()
            .find_map(|s| crate::pull::credentials_from_dockerconfigjson(s, &r.registry));
        let sink = StoreSink(&self.images);
        let pulled = crate::pull::pull(
            &r.registry,
            &r.repository,
            r.manifest_reference(),
            &crate::pull::Platform::host(),
            creds.as_ref(),
            &self.pull_config,
            &sink,
            &mut |_| {},
        )
        .map_err(|e| e.to_string())?;
        self.images
            .tag(&r.to_string(), &pulled.manifest_digest)
            .map_err(|e| e.to_string())
    }

    /// Waits for a child with a deadline (a pidfd polled with a timeout, no sleeping
    /// loop); kills it at the deadline. Its exit code, or None.
    pub fn wait_child(&self, mut child: std::process::Child, timeout: Duration) -> Option<i32> {
        let pid = rustix::process::Pid::from_raw(i32::try_from(child.id()).ok()?)?;
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok()?;
        let mut fds = [rustix::event::PollFd::new(
            &pidfd,
            rustix::event::PollFlags::IN,
        )];
        let spec = rustix::event::Timespec::try_from(timeout).ok()?;
        let ready = rustix::event::poll(&mut fds, Some(&spec)).unwrap_or(0);
        if ready == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        child.wait().ok()?.code()
    }
}
