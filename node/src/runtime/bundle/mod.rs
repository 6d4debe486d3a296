//! OCI bundles: config.json (runtime-spec 1.0.2) for one container of a pod.
//!
//! Everything the spec derives from Kubernetes rules lives here: command and args against the
//! image's ENTRYPOINT and CMD, env overlay, user and groups, capabilities, seccomp, masked
//! paths, namespaces and cgroup resources. The agent resolves volumes, env sources and the
//! pod's namespaces first and passes the results in; /etc/hosts, /etc/resolv.conf,
//! /etc/hostname and the termination log arrive as ordinary mounts from it.

mod devices;
mod resources;
mod seccomp;
mod security;
mod user;

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use miniserde::json::Value;

pub use resources::{CPU_PERIOD_US, cpu_quota, cpu_shares, linux_resources};
pub use security::{
    ALL_CAPABILITIES, DEFAULT_CAPABILITIES, MASKED_PATHS, READONLY_PATHS, effective_capabilities,
};
pub use user::ProcessUser;

use crate::json::{array, b, int, opt, s, sparse_obj, string_object, strs};
use crate::runtime::podspec::{Container, PodSpec, SeccompProfile};
use crate::runtime::qos;

/// What the image's config says about running it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageDefaults {
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    /// "KEY=value" entries.
    pub env: Vec<String>,
    pub working_dir: Option<String>,
    /// "user", "uid", "user:group" or "uid:gid"; empty means root.
    pub user: String,
}

/// One OCI mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub destination: String,
    pub source: String,
    /// "bind", "tmpfs", "proc"...
    pub kind: String,
    pub options: Vec<String>,
}

/// Namespaces the container joins; `None` means a new one (or the host's for hostNetwork,
/// hostIPC, hostPID).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NamespacePaths {
    pub network: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    /// The first container's /proc/<pid>/ns/pid when the pod shares its process namespace.
    pub pid: Option<PathBuf>,
}

/// Everything needed to write one container's bundle.
#[derive(Debug, Clone)]
pub struct BundleSpec<'a> {
    pub container: &'a Container,
    pub pod: &'a PodSpec,
    pub rootfs: PathBuf,
    pub image: ImageDefaults,
    /// The container's env, `valueFrom` and `envFrom` already resolved, in spec order.
    pub env: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    pub namespaces: NamespacePaths,
    /// For runc's cgroupfs driver, e.g. "/wisp/pod<uid>/<container id>".
    pub cgroups_path: String,
    pub hostname: String,
    pub annotations: BTreeMap<String, String>,
    pub terminal: bool,
}

/// Why a bundle could not be written; all but `Io` are the pod's fault
/// (CreateContainerConfigError).
#[derive(Debug)]
pub enum BundleError {
    /// runAsNonRoot with a process that would run as uid 0.
    RunAsRoot,
    /// runAsNonRoot with an image USER given by name.
    NonNumericUser(String),
    UnknownUser(String),
    UnknownGroup(String),
    BadId(i64),
    /// Neither command/args nor the image give a process to run.
    NoCommand,
    /// Localhost seccomp profiles are not supported.
    UnsupportedSeccomp(String),
    Io(io::Error),
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BundleError::RunAsRoot => {
                write!(f, "container has runAsNonRoot and image will run as root")
            }
            BundleError::NonNumericUser(u) => {
                write!(
                    f,
                    "container has runAsNonRoot and image has non-numeric user ({u}), cannot verify user is non-root"
                )
            }
            BundleError::UnknownUser(u) => write!(
                f,
                "unable to find user {u}: no matching entries in passwd file"
            ),
            BundleError::UnknownGroup(g) => write!(
                f,
                "unable to find group {g}: no matching entries in group file"
            ),
            BundleError::BadId(id) => write!(f, "user or group id {id} out of range"),
            BundleError::NoCommand => write!(f, "no command specified"),
            BundleError::UnsupportedSeccomp(p) => write!(f, "seccomp profile {p} is not supported"),
            BundleError::Io(e) => write!(f, "writing bundle: {e}"),
        }
    }
}

impl std::error::Error for BundleError {}

impl BundleError {
    /// True when the pod spec (not the host) is at fault.
    pub fn is_config_error(&self) -> bool {
        !matches!(self, BundleError::Io(_))
    }
}

/// Writes `dir/config.json` for the container.
pub fn write_bundle(dir: &Path, spec: &BundleSpec<'_>) -> Result<(), BundleError> {
    let config = build_config(spec)?;
    fs::create_dir_all(dir).map_err(BundleError::Io)?;
    let tmp = dir.join("config.json.tmp");
    fs::write(&tmp, miniserde::json::to_string(&config)).map_err(BundleError::Io)?;
    fs::rename(&tmp, dir.join("config.json")).map_err(BundleError::Io)
}

/// The config.json document.
pub fn build_config(spec: &BundleSpec<'_>) -> Result<Value, BundleError> {
    let csc = &spec.container.security_context;
    let mut capabilities = effective_capabilities(&csc.capabilities, csc.privileged);
    security::within_bounding_set(&mut capabilities, security::own_bounding_set());
    let user = user::resolve(spec.container, spec.pod, &spec.image.user, &spec.rootfs)?;
    let own_uts = spec.namespaces.uts.is_some() || !spec.pod.host_network;
    Ok(sparse_obj([
        ("ociVersion", s("1.0.2")),
        ("process", process(spec, &user, &capabilities)?),
        (
            "root",
            sparse_obj([
                ("path", s(spec.rootfs.to_string_lossy())),
                ("readonly", b(csc.read_only_root_filesystem)),
            ]),
        ),
        (
            "hostname",
            if own_uts && !spec.hostname.is_empty() {
                s(spec.hostname.as_str())
            } else {
                Value::Null
            },
        ),
        (
            "mounts",
            array(merged_mounts(spec).into_iter().map(mount_json)),
        ),
        ("annotations", string_object(&spec.annotations)),
        ("linux", linux(spec, &capabilities)?),
    ]))
}

fn process(
    spec: &BundleSpec<'_>,
    user: &ProcessUser,
    capabilities: &[String],
) -> Result<Value, BundleError> {
    let csc = &spec.container.security_context;
    let no_new_privileges = !(csc.privileged || csc.allow_privilege_escalation == Some(true));
    let cwd = spec
        .container
        .working_dir
        .clone()
        .or_else(|| spec.image.working_dir.clone())
        .filter(|d| !d.is_empty());
    let caps = strs(capabilities);
    Ok(sparse_obj([
        ("terminal", b(spec.terminal)),
        (
            "user",
            sparse_obj([
                ("uid", int(i64::from(user.uid))),
                ("gid", int(i64::from(user.gid))),
                (
                    "additionalGids",
                    array(user.additional_gids.iter().map(|g| int(i64::from(*g)))),
                ),
            ]),
        ),
        ("args", strs(process_args(spec.container, &spec.image)?)),
        ("env", strs(process_env(spec))),
        ("cwd", s(cwd.unwrap_or_else(|| "/".to_string()))),
        (
            "capabilities",
            sparse_obj([
                ("bounding", caps.clone()),
                ("effective", caps.clone()),
                ("permitted", caps),
                ("inheritable", array([])),
                ("ambient", array([])),
            ]),
        ),
        ("noNewPrivileges", b(no_new_privileges)),
        (
            "oomScoreAdj",
            int(i64::from(qos::oom_score_adj(
                spec.pod,
                spec.container,
                qos::node_memory_bytes(),
            ))),
        ),
    ]))
}

/// command replaces ENTRYPOINT and drops CMD; args replace CMD.
pub fn process_args(
    container: &Container,
    image: &ImageDefaults,
) -> Result<Vec<String>, BundleError> {
    let mut args = if container.command.is_empty() {
        image.entrypoint.clone()
    } else {
        container.command.clone()
    };
    if !container.args.is_empty() {
        args.extend(container.args.iter().cloned());
    } else if container.command.is_empty() {
        args.extend(image.cmd.iter().cloned());
    }
    if args.is_empty() {
        Err(BundleError::NoCommand)
    } else {
        Ok(args)
    }
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// HOSTNAME, then the image's env, then the container's, later entries replacing earlier ones.
fn process_env(spec: &BundleSpec<'_>) -> Vec<String> {
    let mut env: Vec<(String, String)> = vec![("HOSTNAME".to_string(), spec.hostname.clone())];
    let image_env = spec
        .image
        .env
        .iter()
        .map(|e| e.split_once('=').map_or((e.as_str(), ""), |(k, v)| (k, v)));
    let pairs = image_env.chain(spec.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    for (key, value) in pairs {
        match env.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => env.push((key.to_string(), value.to_string())),
        }
    }
    if !env.iter().any(|(k, _)| k == "PATH") {
        env.insert(1, ("PATH".to_string(), DEFAULT_PATH.to_string()));
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// Defaults first; an agent mount at the same destination replaces the default one.
fn merged_mounts(spec: &BundleSpec<'_>) -> Vec<Mount> {
    let mut mounts: Vec<Mount> =
        security::default_mounts(spec.container.security_context.privileged)
            .into_iter()
            .filter(|d| !spec.mounts.iter().any(|m| m.destination == d.destination))
            .collect();
    mounts.extend(spec.mounts.iter().cloned());
    mounts
}

fn mount_json(m: Mount) -> Value {
    sparse_obj([
        ("destination", s(m.destination)),
        ("type", s(m.kind)),
        ("source", s(m.source)),
        ("options", strs(&m.options)),
    ])
}

fn linux(spec: &BundleSpec<'_>, capabilities: &[String]) -> Result<Value, BundleError> {
    let privileged = spec.container.security_context.privileged;
    let sysctl: BTreeMap<String, String> =
        spec.pod.security_context.sysctls.iter().cloned().collect();
    Ok(sparse_obj([
        ("namespaces", array(namespaces(spec))),
        ("cgroupsPath", s(spec.cgroups_path.as_str())),
        (
            "resources",
            linux_resources(&spec.container.resources, privileged),
        ),
        (
            "sysctl",
            if sysctl.is_empty() {
                Value::Null
            } else {
                string_object(&sysctl)
            },
        ),
        ("seccomp", seccomp(spec, capabilities)?),
        (
            "devices",
            if privileged {
                array(devices::host_devices(Path::new("/dev")))
            } else {
                Value::Null
            },
        ),
        (
            "maskedPaths",
            if privileged {
                Value::Null
            } else {
                strs(MASKED_PATHS)
            },
        ),
        (
            "readonlyPaths",
            if privileged {
                Value::Null
            } else {
                strs(READONLY_PATHS)
            },
        ),
    ]))
}

fn namespaces(spec: &BundleSpec<'_>) -> Vec<Value> {
    let pod = spec.pod;
    let ns = &spec.namespaces;
    let entry = |kind: &str, path: &Option<PathBuf>| {
        sparse_obj([
            ("type", s(kind)),
            ("path", opt(path.as_ref(), |p| s(p.to_string_lossy()))),
        ])
    };
    let mut out = vec![entry("mount", &None)];
    if ns.pid.is_some() || !pod.host_pid {
        out.push(entry("pid", &ns.pid));
    }
    if ns.network.is_some() || !pod.host_network {
        out.push(entry("network", &ns.network));
    }
    if ns.ipc.is_some() || !pod.host_ipc {
        out.push(entry("ipc", &ns.ipc));
    }
    if ns.uts.is_some() || !pod.host_network {
        out.push(entry("uts", &ns.uts));
    }
    out
}

/// The container's profile wins over the pod's; no profile at all means Unconfined, as upstream.
fn seccomp(spec: &BundleSpec<'_>, capabilities: &[String]) -> Result<Value, BundleError> {
    if spec.container.security_context.privileged {
        return Ok(Value::Null);
    }
    let profile = spec
        .container
        .security_context
        .seccomp_profile
        .as_ref()
        .or(spec.pod.security_context.seccomp_profile.as_ref());
    match profile {
        None | Some(SeccompProfile::Unconfined) => Ok(Value::Null),
        Some(SeccompProfile::RuntimeDefault) => Ok(seccomp::runtime_default(capabilities)),
        Some(SeccompProfile::Localhost(path)) => {
            Err(BundleError::UnsupportedSeccomp(format!("localhost/{path}")))
        }
    }
}

#[cfg(test)]
mod tests;
