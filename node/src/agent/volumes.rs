//! Pod volumes. The async half reads what the volumes need from the control plane
//! (ConfigMaps, Secrets, a ServiceAccount token, the pod's own fields); the blocking half
//! writes them under the pod's directory. File volumes are written as the kubelet's atomic
//! writer does: a timestamped directory, a `..data` symlink swapped by rename, and one
//! symlink per key, so a running pod sees an update all at once.

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use miniserde::json::Value;
use wisp_proto::ObjectKind;

use super::Ctx;
use super::env::{field_ref, read_data};
use super::json::{self, get_i64, get_str};
use super::link::TokenFor;
use crate::runtime::podspec::Pod;

/// A file to write into a volume.
#[derive(Debug, Clone)]
pub struct FileEntry {
    pub path: String,
    pub data: Vec<u8>,
    pub mode: u32,
}

/// What a volume becomes on the host.
#[derive(Debug, Clone)]
pub enum VolumePlan {
    EmptyDir {
        memory: bool,
        size_limit: Option<i64>,
    },
    HostPath {
        path: PathBuf,
        kind: String,
    },
    Files(Vec<FileEntry>),
}

/// What [`fetch`] read: a plan per volume, and when the ServiceAccount tokens among them
/// should be renewed (unix seconds; the kubelet renews at 80% of a token's lifetime).
pub struct Fetched {
    pub plans: Vec<(String, VolumePlan)>,
    pub renew_at: Option<u64>,
}

/// Reads every volume's content; the error is the FailedMount message.
pub async fn fetch(ctx: &Ctx, pod: &Pod) -> Result<Fetched, String> {
    let mut plans = Vec::new();
    let mut renew_at = None;
    for v in &pod.spec.volumes {
        let source = json::parse(&v.source).unwrap_or(Value::Null);
        let plan = match v.kind.as_str() {
            "emptyDir" => VolumePlan::EmptyDir {
                memory: get_str(&source, &["medium"]) == Some("Memory"),
                size_limit: get_str(&source, &["sizeLimit"])
                    .and_then(|q| crate::runtime::quantity::Quantity::parse(q).ok())
                    .map(|q| q.units_ceil()),
            },
            "hostPath" => VolumePlan::HostPath {
                path: PathBuf::from(get_str(&source, &["path"]).unwrap_or("/")),
                kind: get_str(&source, &["type"]).unwrap_or("").to_owned(),
            },
            "persistentVolumeClaim" => claim_plan(&source, &v.name)?,
            "configMap" => VolumePlan::Files(
                keyed(ctx, pod, ObjectKind::ConfigMap, "name", &source, &v.name).await?,
            ),
            "secret" => VolumePlan::Files(
                keyed(ctx, pod, ObjectKind::Secret, "secretName", &source, &v.name).await?,
            ),
            "downwardAPI" => {
                VolumePlan::Files(downward(ctx, pod, &source, mode_of(&source, 0o644))?)
            }
            "projected" => VolumePlan::Files(projected(ctx, pod, &source, &mut renew_at).await?),
            other => {
                return Err(format!(
                    "volume \"{}\": {other} volumes are not supported by wisp yet",
                    v.name
                ));
            }
        };
        plans.push((v.name.clone(), plan));
    }
    Ok(Fetched { plans, renew_at })
}

/// A claim's volume is a host directory: the control plane writes the bound volume's path
/// into the source (`wispHostPath`, docs/protocol.md) before the pod reaches the node.
fn claim_plan(source: &Value, volume: &str) -> Result<VolumePlan, String> {
    let Some(path) = get_str(source, &["wispHostPath"]) else {
        let claim = get_str(source, &["claimName"]).unwrap_or("");
        return Err(format!(
            "MountVolume.SetUp failed for volume \"{volume}\" : persistentvolumeclaim \"{claim}\" is not bound"
        ));
    };
    Ok(VolumePlan::HostPath {
        path: PathBuf::from(path),
        kind: get_str(source, &["wispHostPathType"])
            .unwrap_or("")
            .to_owned(),
    })
}

fn mode_of(source: &Value, default: u32) -> u32 {
    get_i64(source, &["defaultMode"])
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(default)
}

/// A ConfigMap or Secret volume (or projection): all keys, or the listed items.
async fn keyed(
    ctx: &Ctx,
    pod: &Pod,
    kind: ObjectKind,
    name_field: &str,
    source: &Value,
    volume: &str,
) -> Result<Vec<FileEntry>, String> {
    let name = get_str(source, &[name_field]).unwrap_or("");
    let optional = json::get_bool(source, &["optional"]).unwrap_or(false);
    let default_mode = mode_of(source, 0o644);
    let Some(data) = read_data(ctx, kind, &pod.namespace, name).await? else {
        if optional {
            return Ok(Vec::new());
        }
        let what = if kind == ObjectKind::Secret {
            "secret"
        } else {
            "configmap"
        };
        return Err(format!(
            "MountVolume.SetUp failed for volume \"{volume}\" : {what} \"{name}\" not found"
        ));
    };
    let items = json::get_array(source, &["items"]);
    if items.is_empty() {
        return Ok(data
            .into_iter()
            .map(|(k, v)| FileEntry {
                path: k,
                data: v,
                mode: default_mode,
            })
            .collect());
    }
    let mut out = Vec::new();
    for item in items {
        let key = get_str(item, &["key"]).unwrap_or("");
        let Some((_, value)) = data.iter().find(|(k, _)| k == key) else {
            if optional {
                continue;
            }
            return Err(format!(
                "MountVolume.SetUp failed for volume \"{volume}\" : configmap references non-existent config key: {key}"
            ));
        };
        out.push(FileEntry {
            path: get_str(item, &["path"]).unwrap_or(key).to_owned(),
            data: value.clone(),
            mode: get_i64(item, &["mode"])
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(default_mode),
        });
    }
    Ok(out)
}

fn downward(
    ctx: &Ctx,
    pod: &Pod,
    source: &Value,
    default_mode: u32,
) -> Result<Vec<FileEntry>, String> {
    let mut out = Vec::new();
    for item in json::get_array(source, &["items"]) {
        let path = get_str(item, &["path"]).unwrap_or("").to_owned();
        let data = if let Some(field) = get_str(item, &["fieldRef", "fieldPath"]) {
            match field {
                "metadata.labels" => map_file(&pod.labels),
                "metadata.annotations" => map_file(&pod.annotations),
                other => field_ref(ctx, pod, other)?,
            }
        } else {
            continue;
        };
        out.push(FileEntry {
            path,
            data: data.into_bytes(),
            mode: get_i64(item, &["mode"])
                .and_then(|m| u32::try_from(m).ok())
                .unwrap_or(default_mode),
        });
    }
    Ok(out)
}

/// `key="value"` lines, as the downward API writes labels and annotations.
fn map_file(map: &std::collections::BTreeMap<String, String>) -> String {
    map.iter().map(|(k, v)| format!("{k}=\"{v}\"\n")).collect()
}

async fn projected(
    ctx: &Ctx,
    pod: &Pod,
    source: &Value,
    renew_at: &mut Option<u64>,
) -> Result<Vec<FileEntry>, String> {
    let default_mode = mode_of(source, 0o644);
    let mut out = Vec::new();
    for s in json::get_array(source, &["sources"]) {
        if let Some(t) = json::get(s, &["serviceAccountToken"]) {
            let expiration = get_i64(t, &["expirationSeconds"]).unwrap_or(3607);
            let granted = ctx
                .link
                .token(TokenFor {
                    namespace: &pod.namespace,
                    service_account: &pod.spec.service_account_name,
                    audience: get_str(t, &["audience"]),
                    expiration_seconds: expiration,
                    pod_name: &pod.name,
                    pod_uid: &pod.uid,
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| format!("failed to fetch token: {e}"))?;
            let now = super::time::now_secs();
            let lifetime = u64::try_from(granted.expires_at)
                .unwrap_or(0)
                .saturating_sub(now);
            let renew = now + lifetime * 8 / 10;
            *renew_at = Some(renew_at.map_or(renew, |r: u64| r.min(renew)));
            out.push(FileEntry {
                path: get_str(t, &["path"]).unwrap_or("token").to_owned(),
                data: granted.token.into_bytes(),
                mode: default_mode,
            });
        } else if let Some((kind, c)) = [
            ("configMap", ObjectKind::ConfigMap),
            ("secret", ObjectKind::Secret),
        ]
        .into_iter()
        .find_map(|(field, kind)| Some((kind, json::get(s, &[field])?)))
        {
            // A projected source inherits the volume's defaultMode.
            let mut with_mode = c.clone();
            json::insert(
                &mut with_mode,
                "defaultMode",
                json::int(i64::from(default_mode)),
            );
            out.extend(keyed(ctx, pod, kind, "name", &with_mode, "projected").await?);
        } else if let Some(d) = json::get(s, &["downwardAPI"]) {
            out.extend(downward(ctx, pod, d, default_mode)?);
        }
    }
    Ok(out)
}

/// Creates (or refreshes) a volume under `dir`; returns the host path to bind-mount.
pub fn materialize(
    dir: &Path,
    plan: &VolumePlan,
    fs_group: Option<u32>,
) -> std::io::Result<PathBuf> {
    match plan {
        VolumePlan::EmptyDir { memory, size_limit } => {
            std::fs::create_dir_all(dir)?;
            if *memory && !is_mountpoint(dir) {
                let size = size_limit.map_or_else(String::new, |s| format!(",size={s}"));
                rustix::mount::mount(
                    "tmpfs",
                    dir,
                    "tmpfs",
                    rustix::mount::MountFlags::NOSUID | rustix::mount::MountFlags::NODEV,
                    Some(std::ffi::CString::new(format!("mode=0777{size}"))?.as_c_str()),
                )?;
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777))?;
            Ok(dir.to_owned())
        }
        VolumePlan::HostPath { path, kind } => {
            match kind.as_str() {
                "DirectoryOrCreate" => std::fs::create_dir_all(path)?,
                "FileOrCreate" if !path.exists() => {
                    std::fs::File::create(path)?;
                }
                "Directory" if !path.is_dir() => {
                    return Err(std::io::Error::other(format!(
                        "hostPath type check failed: {} is not a directory",
                        path.display()
                    )));
                }
                "File" if !path.is_file() => {
                    return Err(std::io::Error::other(format!(
                        "hostPath type check failed: {} is not a file",
                        path.display()
                    )));
                }
                _ => {}
            }
            Ok(path.clone())
        }
        VolumePlan::Files(files) => {
            write_atomically(dir, files, fs_group)?;
            Ok(dir.to_owned())
        }
    }
}

fn is_mountpoint(dir: &Path) -> bool {
    let Some(parent) = dir.parent() else {
        return true;
    };
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(dir), std::fs::metadata(parent)) {
        (Ok(a), Ok(b)) => a.dev() != b.dev(),
        _ => false,
    }
}

/// The kubelet's atomic writer, simplified: new payload in `..<stamp>`, `..data` swapped
/// by rename, user-visible names as symlinks through `..data`.
pub fn write_atomically(
    dir: &Path,
    files: &[FileEntry],
    fs_group: Option<u32>,
) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let stamp = format!(
        "..{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    );
    let payload = dir.join(&stamp);
    std::fs::create_dir(&payload)?;
    for f in files {
        if f.path
            .split('/')
            .any(|part| part == ".." || part.is_empty())
        {
            return Err(std::io::Error::other(format!(
                "invalid volume path {}",
                f.path
            )));
        }
        let target = payload.join(&f.path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&target, &f.data)?;
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(f.mode))?;
        if let Some(gid) = fs_group {
            std::os::unix::fs::chown(&target, None, Some(gid))?;
        }
    }
    let old = std::fs::read_link(dir.join("..data")).ok();
    let tmp_link = dir.join("..data_tmp");
    let _ = std::fs::remove_file(&tmp_link);
    symlink(&stamp, &tmp_link)?;
    std::fs::rename(&tmp_link, dir.join("..data"))?;
    for f in files {
        let top = f.path.split('/').next().unwrap_or(&f.path);
        let link = dir.join(top);
        if std::fs::symlink_metadata(&link).is_err() {
            symlink(Path::new("..data").join(top), &link)?;
        }
    }
    if let Some(old) = old
        && old != Path::new(&stamp)
    {
        let _ = std::fs::remove_dir_all(dir.join(old));
    }
    // Names that disappeared from the payload.
    for entry in std::fs::read_dir(dir)?.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("..") {
            continue;
        }
        if !files
            .iter()
            .any(|f| f.path.split('/').next() == Some(&*name))
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_mounts_the_host_path_the_control_plane_resolved() {
        let bound = json::parse(
            r#"{"claimName":"data","wispHostPath":"/var/lib/wisp/storage/pvc-1","wispHostPathType":"DirectoryOrCreate"}"#,
        )
        .unwrap();
        match claim_plan(&bound, "v").unwrap() {
            VolumePlan::HostPath { path, kind } => {
                assert_eq!(path, PathBuf::from("/var/lib/wisp/storage/pvc-1"));
                assert_eq!(kind, "DirectoryOrCreate");
            }
            other => panic!("{other:?}"),
        }
        let unbound = json::parse(r#"{"claimName":"data"}"#).unwrap();
        let Err(message) = claim_plan(&unbound, "v") else {
            panic!("an unbound claim cannot be mounted")
        };
        assert_eq!(
            message,
            "MountVolume.SetUp failed for volume \"v\" : persistentvolumeclaim \"data\" is not bound"
        );
    }

    #[test]
    fn atomic_writes_swap_whole_payloads() {
        let dir = tempfile::tempdir().unwrap();
        let v = dir.path().join("cfg");
        let file = |p: &str, d: &str| FileEntry {
            path: p.into(),
            data: d.as_bytes().to_vec(),
            mode: 0o644,
        };
        write_atomically(&v, &[file("a", "1"), file("b", "2")], None).unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "1");
        write_atomically(&v, &[file("a", "3")], None).unwrap();
        assert_eq!(std::fs::read_to_string(v.join("a")).unwrap(), "3");
        assert!(!v.join("b").exists(), "a removed key disappears");
        let payloads = std::fs::read_dir(&v)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .count();
        assert_eq!(payloads, 1, "the old payload is gone");
        assert!(write_atomically(&v, &[file("../x", "no")], None).is_err());
    }
}
