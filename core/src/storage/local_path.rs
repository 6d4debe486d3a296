//! The local-path provisioner: one directory per volume, `<root>/<pv-name>`, made when a
//! claim is provisioned and removed when its volume is reclaimed with the Delete policy.
//! The control plane owns the data dir, so it makes the directories; the filesystem work
//! runs on the blocking pool, never on the control-plane thread. The PersistentVolume it
//! describes is a hostPath volume with node affinity to the node the claim was made for.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use miniserde::json::Value;

use super::{PROVISIONER, names};
use crate::object::meta;
use crate::workloads::objects::{array, object, string};

/// Volume directories are world-writable: a pod may run as any user (the same mode
/// rancher's local-path provisioner gives its directories).
const DIR_MODE: u32 = 0o777;

/// Where provisioned volumes live.
#[derive(Debug, Clone)]
pub struct Root(pub PathBuf);

impl Root {
    pub fn dir_of(&self, volume: &str) -> PathBuf {
        self.0.join(volume)
    }

    /// Whether `path` is a directory this provisioner made (directly under the root).
    pub fn owns(&self, path: &Path) -> bool {
        path.parent() == Some(self.0.as_path())
            && path
                .file_name()
                .is_some_and(|n| !n.is_empty() && n != "." && n != "..")
    }

    pub async fn create(&self, volume: &str) -> io::Result<PathBuf> {
        let dir = self.dir_of(volume);
        let made = dir.clone();
        blocking::unblock(move || {
            std::fs::create_dir_all(&made)?;
            std::fs::set_permissions(&made, std::fs::Permissions::from_mode(DIR_MODE))
        })
        .await?;
        Ok(dir)
    }

    /// Removes the volume's directory and everything in it; a missing one is fine.
    pub async fn remove(&self, path: PathBuf) -> io::Result<()> {
        if !self.owns(&path) {
            return Err(io::Error::other(format!(
                "{} is not a local-path volume directory",
                path.display()
            )));
        }
        blocking::unblock(move || match std::fs::remove_dir_all(&path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        })
        .await
    }
}

/// Upstream's name for a provisioned volume: `pvc-<claim uid>`.
pub fn volume_name(claim: &Value) -> String {
    format!("pvc-{}", meta::uid(claim).unwrap_or(""))
}

/// The PersistentVolume of a provisioned claim: capacity = the request, the claim's access
/// modes, class and volume mode, a claimRef, the class's reclaim policy, and required node
/// affinity to `hostname` (the node's `kubernetes.io/hostname` label).
pub fn volume_for(claim: &Value, dir: &Path, reclaim: &str, hostname: Option<&str>) -> Value {
    let spec_field = |f: &str| meta::get_path(claim, &["spec", f]).cloned();
    let storage =
        meta::get_str(claim, &["spec", "resources", "requests", "storage"]).unwrap_or("0");
    let mut spec = object([
        ("capacity", object([("storage", string(storage))])),
        (
            "accessModes",
            spec_field("accessModes").unwrap_or_else(|| array(vec![string("ReadWriteOnce")])),
        ),
        (
            "hostPath",
            object([
                ("path", string(dir.to_string_lossy())),
                ("type", string("DirectoryOrCreate")),
            ]),
        ),
        ("claimRef", claim_ref(claim)),
        ("persistentVolumeReclaimPolicy", string(reclaim)),
        ("storageClassName", string(super::classes::of_claim(claim))),
        (
            "volumeMode",
            spec_field("volumeMode").unwrap_or_else(|| string("Filesystem")),
        ),
    ]);
    if let (Some(host), Value::Object(s)) = (hostname, &mut spec) {
        s.insert("nodeAffinity".to_owned(), node_affinity(host));
    }
    object([
        ("apiVersion", string("v1")),
        ("kind", string("PersistentVolume")),
        (
            "metadata",
            object([
                ("name", string(volume_name(claim))),
                (
                    "annotations",
                    object([(names::PROVISIONED_BY, string(PROVISIONER))]),
                ),
            ]),
        ),
        ("spec", spec),
    ])
}

pub fn claim_ref(claim: &Value) -> Value {
    let field = |path: &[&str]| string(meta::get_str(claim, path).unwrap_or(""));
    object([
        ("kind", string("PersistentVolumeClaim")),
        ("apiVersion", string("v1")),
        ("namespace", field(&["metadata", "namespace"])),
        ("name", field(&["metadata", "name"])),
        ("uid", field(&["metadata", "uid"])),
        ("resourceVersion", field(&["metadata", "resourceVersion"])),
    ])
}

fn node_affinity(hostname: &str) -> Value {
    let expr = object([
        ("key", string("kubernetes.io/hostname")),
        ("operator", string("In")),
        ("values", array(vec![string(hostname)])),
    ]);
    let term = object([("matchExpressions", array(vec![expr]))]);
    object([(
        "required",
        object([("nodeSelectorTerms", array(vec![term]))]),
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_direct_children_of_the_root_are_owned() {
        let root = Root(PathBuf::from("/data/storage"));
        assert!(root.owns(Path::new("/data/storage/pvc-1")));
        assert!(!root.owns(Path::new("/data/storage")));
        assert!(!root.owns(Path::new("/data/other/pvc-1")));
        assert!(!root.owns(Path::new("/data/storage/a/b")));
    }

    #[test]
    fn directories_are_made_and_removed() {
        let base = std::env::temp_dir().join(format!("wisp-local-path-{}", std::process::id()));
        let root = Root(base.join("storage"));
        futures_lite::future::block_on(async {
            let dir = root.create("pvc-x").await.unwrap();
            std::fs::write(dir.join("f"), b"data").unwrap();
            assert!(dir.is_dir());
            root.remove(dir.clone()).await.unwrap();
            assert!(!dir.exists());
            root.remove(dir).await.unwrap();
            assert!(root.remove(base.join("elsewhere")).await.is_err());
        });
        let _ = std::fs::remove_dir_all(base);
    }
}
