//! The blocking host work of the agent, run on smol's thread pool: pod sandboxes (pod
//! directory, network/IPC/UTS namespaces, CNI, /etc files, volumes), containers (image,
//! overlay rootfs, OCI bundle, log FIFOs, `runc create` + `runc start`), collecting a
//! finished container, signals, teardown and adoption after a wisp restart.

use std::fs::File;
use std::path::{Path, PathBuf};

use async_io::Async;

use super::host::Host;
use super::logs;
use super::state::SavedPod;
use super::volumes::VolumePlan;
use crate::image::{ImageInfo, overlay};
use crate::runtime::bundle::{self, BundleSpec, ImageDefaults, Mount, NamespacePaths};
use crate::runtime::oci::Stdio;
use crate::runtime::podspec::{Container, DnsPolicy, Pod, PullPolicy};

/// A pod's host-side resources.
#[derive(Debug, Clone)]
pub struct Sandbox {
    pub dir: PathBuf,
    pub netns: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub ip: Option<String>,
    pub volumes: Vec<(String, PathBuf)>,
    pub released: bool,
}

/// Why a container could not start, with upstream's waiting reasons.
#[derive(Debug)]
pub enum LaunchError {
    ImageNeverPull(String),
    ImagePull(String),
    Config(String),
    Create(String),
    Run(String),
    Sandbox(String),
}

impl LaunchError {
    pub fn reason(&self) -> &'static str {
        match self {
            LaunchError::ImageNeverPull(_) => "ErrImageNeverPull",
            LaunchError::ImagePull(_) => "ErrImagePull",
            LaunchError::Config(_) => "CreateContainerConfigError",
            LaunchError::Create(_) => "CreateContainerError",
            LaunchError::Run(_) => "RunContainerError",
            LaunchError::Sandbox(_) => "CreatePodSandboxError",
        }
    }
}

impl std::fmt::Display for LaunchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LaunchError::ImageNeverPull(m)
            | LaunchError::ImagePull(m)
            | LaunchError::Config(m)
            | LaunchError::Create(m)
            | LaunchError::Run(m)
            | LaunchError::Sandbox(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for LaunchError {}

/// What to start.
pub struct ContainerPlan {
    pub pod: Pod,
    pub container: Container,
    pub env: Vec<(String, String)>,
    pub attempt: u32,
    /// `.dockerconfigjson` contents of the pod's imagePullSecrets.
    pub pull_secrets: Vec<Vec<u8>>,
    /// With shareProcessNamespace: the pid of a running container of the pod whose PID
    /// namespace this one joins (no pause process: the first container is that
    /// namespace's init, so if it exits the namespace ends with it).
    pub share_pid_of: Option<i32>,
}

/// A container's two output streams and its log file.
pub struct LogStreams {
    pub stdout: Async<File>,
    pub stderr: Async<File>,
    pub file: PathBuf,
}

pub struct Started {
    pub id: String,
    pub name: String,
    pub pid: i32,
    pub image_id: String,
    pub logs: Option<LogStreams>,
}

/// How a finished container ended beyond its exit code.
#[derive(Debug, Default)]
pub struct Outcome {
    pub oom_killed: bool,
    pub termination_message: String,
}

pub fn create_sandbox(
    host: &Host,
    pod: &Pod,
    volumes: Vec<(String, VolumePlan)>,
) -> Result<Sandbox, LaunchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| LaunchError::Sandbox(format!("{what}: {e}"));
    let dir = host.pod_dir(&pod.uid);
    std::fs::create_dir_all(dir.join("containers")).map_err(|e| fail("pod directory", &e))?;
    let mut sandbox = Sandbox {
        dir: dir.clone(),
        netns: None,
        ipc: None,
        uts: None,
        ip: None,
        volumes: Vec::new(),
        released: false,
    };
    if let Err(e) = populate(host, pod, volumes, &mut sandbox) {
        destroy_sandbox(host, pod, &mut sandbox);
        return Err(e);
    }
    Ok(sandbox)
}

fn populate(
    host: &Host,
    pod: &Pod,
    volumes: Vec<(String, VolumePlan)>,
    sandbox: &mut Sandbox,
) -> Result<(), LaunchError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| LaunchError::Sandbox(format!("{what}: {e}"));
    let spec = &pod.spec;
    let namespaces = host
        .create_namespaces(&pod.uid, !spec.host_network, !spec.host_ipc)
        .map_err(|e| fail("pod namespaces", &e))?;
    sandbox.netns = namespaces.network;
    sandbox.ipc = namespaces.ipc;
    sandbox.uts = namespaces.uts;
    if let Some(netns) = &sandbox.netns {
        sandbox.ip = host
            .network_add(pod, netns)
            .map_err(|e| fail("pod network", &e))?;
    }
    write_etc_files(host, pod, sandbox).map_err(|e| fail("/etc files", &e))?;
    let fs_group = spec
        .security_context
        .fs_group
        .and_then(|g| u32::try_from(g).ok());
    for (name, plan) in volumes {
        let target = sandbox.dir.join("volumes").join(&name);
        let path = super::volumes::materialize(&target, &plan, fs_group)
            .map_err(|e| fail(&format!("volume \"{name}\""), &e))?;
        sandbox.volumes.push((name, path));
    }
    Ok(())
}

fn hostname_of(pod: &Pod) -> String {
    pod.spec
        .hostname
        .clone()
        .unwrap_or_else(|| pod.name.clone())
}

fn write_etc_files(host: &Host, pod: &Pod, sandbox: &Sandbox) -> std::io::Result<()> {
    let name = hostname_of(pod);
    let mut hosts = String::from(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
    );
    if let Some(ip) = &sandbox.ip {
        let fqdn = match &pod.spec.subdomain {
            Some(sub) => format!(
                "{name}.{sub}.{}.svc.{}\t",
                pod.namespace, host.cluster_domain
            ),
            None => String::new(),
        };
        hosts.push_str(&format!("{ip}\t{fqdn}{name}\n"));
    }
    std::fs::write(sandbox.dir.join("etc-hosts"), hosts)?;
    std::fs::write(sandbox.dir.join("etc-hostname"), format!("{name}\n"))?;
    let resolv = match pod.spec.dns_policy {
        DnsPolicy::ClusterFirst if !pod.spec.host_network => cluster_resolv(host, pod),
        DnsPolicy::ClusterFirstWithHostNet => cluster_resolv(host, pod),
        DnsPolicy::None => String::new(),
        _ => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
    };
    std::fs::write(sandbox.dir.join("resolv.conf"), resolv)
}

fn cluster_resolv(host: &Host, pod: &Pod) -> String {
    let d = &host.cluster_domain;
    format!(
        "search {ns}.svc.{d} svc.{d} {d}\nnameserver {dns}\noptions ndots:5\n",
        ns = pod.namespace,
        dns = host.cluster_dns
    )
}

/// The runtime's id for a container run: unique per pod, name and attempt.
pub fn container_id(uid: &str, name: &str, attempt: u32) -> String {
    format!("{uid}-{name}-{attempt}")
}

pub fn start_container(
    host: &Host,
    sandbox: &Sandbox,
    plan: &ContainerPlan,
) -> Result<Started, LaunchError> {
    let c = &plan.container;
    let info = ensure_image(host, &c.image, c.image_pull_policy, &plan.pull_secrets)?;
    let id = container_id(&plan.pod.uid, &c.name, plan.attempt);
    let cdir = host.container_dir(&plan.pod.uid, &c.name, plan.attempt);
    let _stale = std::fs::remove_dir_all(&cdir);
    let result = start_in(host, sandbox, plan, &info, &id, &cdir);
    if result.is_err() {
        let _ = host.runtime.delete(&id, true);
        cleanup_container_dir(&cdir);
    }
    result
}

fn start_in(
    host: &Host,
    sandbox: &Sandbox,
    plan: &ContainerPlan,
    info: &ImageInfo,
    id: &str,
    cdir: &Path,
) -> Result<Started, LaunchError> {
    let c = &plan.container;
    let create =
        |what: &str, e: &dyn std::fmt::Display| LaunchError::Create(format!("{what}: {e}"));
    let rootfs = cdir.join("rootfs");
    for d in ["rootfs", "upper", "work"] {
        std::fs::create_dir_all(cdir.join(d)).map_err(|e| create("container directory", &e))?;
    }
    let lowers = host
        .images
        .lower_dirs(info)
        .map_err(|e| create("image layers", &e))?;
    overlay::mount(&lowers, &cdir.join("upper"), &cdir.join("work"), &rootfs)
        .map_err(|e| create("root filesystem", &e))?;
    let termination_log = cdir.join("termination-log");
    File::create(&termination_log).map_err(|e| create("termination log", &e))?;
    let mounts = container_mounts(sandbox, c, &termination_log)?;
    let spec = BundleSpec {
        container: c,
        pod: &plan.pod.spec,
        rootfs: rootfs.clone(),
        image: ImageDefaults {
            entrypoint: info.config.entrypoint.clone(),
            cmd: info.config.cmd.clone(),
            env: info.config.env.clone(),
            working_dir: Some(info.config.working_dir.clone()).filter(|w| !w.is_empty()),
            user: info.config.user.clone(),
        },
        env: plan.env.clone(),
        mounts,
        namespaces: NamespacePaths {
            network: sandbox.netns.clone(),
            ipc: sandbox.ipc.clone(),
            uts: sandbox.uts.clone(),
            pid: plan
                .share_pid_of
                .map(|pid| PathBuf::from(format!("/proc/{pid}/ns/pid"))),
        },
        cgroups_path: host.cgroups_path(&plan.pod.uid, id),
        hostname: hostname_of(&plan.pod),
        annotations: Default::default(),
        terminal: false,
    };
    bundle::write_bundle(cdir, &spec).map_err(|e| {
        if e.is_config_error() {
            LaunchError::Config(e.to_string())
        } else {
            create("bundle", &e)
        }
    })?;
    let fifo_out = host.fifo_path(id, "out");
    let fifo_err = host.fifo_path(id, "err");
    let out = logs::container_fifo(&fifo_out).map_err(|e| create("stdout pipe", &e))?;
    let err = logs::container_fifo(&fifo_err).map_err(|e| create("stderr pipe", &e))?;
    let stdout = logs::reader_end(&fifo_out).map_err(|e| create("stdout pipe", &e))?;
    let stderr = logs::reader_end(&fifo_err).map_err(|e| create("stderr pipe", &e))?;
    let pid = host
        .runtime
        .create(
            id,
            cdir,
            Stdio::Fds {
                stdin: None,
                stdout: out,
                stderr: err,
            },
            &cdir.join("pid"),
        )
        .map_err(|e| LaunchError::Create(e.to_string()))?;
    host.runtime
        .start(id)
        .map_err(|e| LaunchError::Run(e.to_string()))?;
    let log_paths = logs::LogPaths::new(
        &host.log_root,
        &plan.pod.namespace,
        &plan.pod.name,
        &plan.pod.uid,
        &c.name,
    );
    Ok(Started {
        id: id.to_owned(),
        name: c.name.clone(),
        pid,
        image_id: image_id(info),
        logs: Some(LogStreams {
            stdout,
            stderr,
            file: log_paths.file(plan.attempt),
        }),
    })
}

/// `docker.io/library/busybox@sha256:...`, the form the kubelet reports.
fn image_id(info: &ImageInfo) -> String {
    match info.references.first() {
        Some(r) => {
            let repo = r.split('@').next().unwrap_or(r);
            let repo = match repo.rfind(':') {
                Some(i) if !repo[i..].contains('/') => &repo[..i],
                _ => repo,
            };
            format!("{repo}@{}", info.manifest_digest)
        }
        None => info.manifest_digest.clone(),
    }
}

fn ensure_image(
    host: &Host,
    image: &str,
    policy: PullPolicy,
    secrets: &[Vec<u8>],
) -> Result<ImageInfo, LaunchError> {
    let local = host.images.resolve(image);
    match (local, policy) {
        (Some(info), PullPolicy::IfNotPresent | PullPolicy::Never) => Ok(info),
        (None, PullPolicy::Never) => Err(LaunchError::ImageNeverPull(format!(
            "Container image \"{image}\" is not present with pull policy of Never"
        ))),
        (local, _) => match host.pull(image, secrets) {
            Ok(info) => Ok(info),
            // An offline device keeps running what it has (the pull is retried on the
            // next start of this container).
            Err(e) => local.ok_or_else(|| {
                LaunchError::ImagePull(format!("failed to pull image \"{image}\": {e}"))
            }),
        },
    }
}

fn container_mounts(
    sandbox: &Sandbox,
    c: &Container,
    termination_log: &Path,
) -> Result<Vec<Mount>, LaunchError> {
    let bind = |dest: &str, src: &Path, ro: bool| Mount {
        destination: dest.to_owned(),
        source: src.display().to_string(),
        kind: "bind".into(),
        options: vec![
            "rbind".into(),
            "rprivate".into(),
            if ro { "ro" } else { "rw" }.into(),
        ],
    };
    let mut mounts = Vec::new();
    for vm in &c.volume_mounts {
        let Some((_, path)) = sandbox.volumes.iter().find(|(n, _)| *n == vm.name) else {
            return Err(LaunchError::Config(format!(
                "volume mount \"{}\" refers to no volume of the pod",
                vm.name
            )));
        };
        let source = match vm.sub_path.as_deref().filter(|s| !s.is_empty()) {
            Some(sub) => {
                if sub.starts_with('/') || sub.split('/').any(|p| p == "..") {
                    return Err(LaunchError::Config(format!("invalid subPath \"{sub}\"")));
                }
                let p = path.join(sub);
                if !p.exists() {
                    std::fs::create_dir_all(&p)
                        .map_err(|e| LaunchError::Create(format!("subPath {sub}: {e}")))?;
                }
                p
            }
            None => path.clone(),
        };
        mounts.push(bind(&vm.mount_path, &source, vm.read_only));
    }
    let user_mounted = |dest: &str| c.volume_mounts.iter().any(|m| m.mount_path == dest);
    for (dest, file) in [
        ("/etc/hosts", "etc-hosts"),
        ("/etc/hostname", "etc-hostname"),
        ("/etc/resolv.conf", "resolv.conf"),
    ] {
        if !user_mounted(dest) {
            mounts.push(bind(dest, &sandbox.dir.join(file), false));
        }
    }
    if !c.termination_message_path.is_empty() && !user_mounted(&c.termination_message_path) {
        mounts.push(bind(&c.termination_message_path, termination_log, false));
    }
    Ok(mounts)
}

/// After the init process exited: the OOM verdict, the termination message, and the
/// container's runtime state, rootfs and pipes removed.
pub fn collect(host: &Host, id: &str) -> Outcome {
    let mut outcome = Outcome {
        oom_killed: host.oom_killed(id),
        ..Outcome::default()
    };
    if let Some(cdir) = host.container_dir_of(id) {
        let mut message = std::fs::read(cdir.join("termination-log")).unwrap_or_default();
        message.truncate(4096);
        outcome.termination_message = String::from_utf8_lossy(&message).into_owned();
        let _ = host.runtime.delete(id, true);
        cleanup_container_dir(&cdir);
    }
    let _ = std::fs::remove_file(host.fifo_path(id, "out"));
    let _ = std::fs::remove_file(host.fifo_path(id, "err"));
    outcome
}

fn cleanup_container_dir(cdir: &Path) {
    let _ = overlay::unmount(&cdir.join("rootfs"));
    let _ = std::fs::remove_dir_all(cdir);
}

pub fn signal(host: &Host, id: &str, signal: i32) -> Result<(), String> {
    host.runtime
        .kill(id, signal, false)
        .map_err(|e| e.to_string())
}

/// Runs a command in a container (exec probes); its exit code, `None` on timeout or
/// failure to start.
pub fn exec_status(
    host: &Host,
    id: &str,
    command: &[String],
    timeout: std::time::Duration,
) -> Option<i32> {
    let cdir = host.container_dir_of(id)?;
    let process = crate::runtime::oci::exec_process_json(&cdir, command, false).ok()?;
    let null = || {
        File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .ok()
            .map(Into::into)
    };
    let stdio = Stdio::Fds {
        stdin: null(),
        stdout: null()?,
        stderr: null()?,
    };
    let child = host.runtime.exec(id, &process, stdio).ok()?;
    let pid = child.id();
    let code = host.wait_child(child, timeout);
    crate::runtime::reaper::release(pid);
    code
}

pub fn destroy_sandbox(host: &Host, pod: &Pod, sandbox: &mut Sandbox) {
    if sandbox.released {
        return;
    }
    if let Some(netns) = &sandbox.netns {
        host.network_del(pod, netns);
    }
    host.remove_namespaces(&pod.uid);
    host.remove_pod_cgroup(&pod.uid);
    host.unmount_under(&sandbox.dir);
    let _ = std::fs::remove_dir_all(&sandbox.dir);
    sandbox.released = true;
}

pub fn forget_pod(host: &Host, uid: &str) {
    let _ = std::fs::remove_file(host.state_file(uid));
}

/// A container found alive (or gone) when adopting a pod.
pub struct Adopted {
    pub saved: super::state::SavedContainer,
    pub started: Option<Started>,
}

/// Rebuilds a pod's sandbox and running containers after a wisp restart.
pub fn adopt(
    host: &Host,
    pod: &Pod,
    saved: &SavedPod,
) -> Result<Option<(Sandbox, Vec<Adopted>)>, LaunchError> {
    let dir = host.pod_dir(&pod.uid);
    if !dir.exists() {
        return Ok(None);
    }
    let namespaces = host.existing_namespaces(&pod.uid);
    let sandbox = Sandbox {
        dir: dir.clone(),
        netns: namespaces.network,
        ipc: namespaces.ipc,
        uts: namespaces.uts,
        ip: saved.ip.clone(),
        volumes: pod
            .spec
            .volumes
            .iter()
            .map(|v| {
                let field = match v.kind.as_str() {
                    "hostPath" => Some("path"),
                    "persistentVolumeClaim" => Some("wispHostPath"),
                    _ => None,
                };
                let host_path = field.and_then(|f| {
                    let source = super::json::parse(&v.source)?;
                    super::json::get_str(&source, &[f]).map(PathBuf::from)
                });
                (
                    v.name.clone(),
                    host_path.unwrap_or_else(|| dir.join("volumes").join(&v.name)),
                )
            })
            .collect(),
        released: false,
    };
    let mut adopted = Vec::new();
    for c in &saved.containers {
        let alive = host
            .runtime
            .state(&c.id)
            .ok()
            .filter(|s| s.status == "running" && s.pid > 0);
        let started = alive.and_then(|state| {
            let stdout = logs::reader_end(&host.fifo_path(&c.id, "out")).ok()?;
            let stderr = logs::reader_end(&host.fifo_path(&c.id, "err")).ok()?;
            let paths =
                logs::LogPaths::new(&host.log_root, &pod.namespace, &pod.name, &pod.uid, &c.name);
            Some(Started {
                id: c.id.clone(),
                name: c.name.clone(),
                pid: state.pid,
                image_id: c.image_id.clone(),
                logs: Some(LogStreams {
                    stdout,
                    stderr,
                    file: paths.file(c.restart_count),
                }),
            })
        });
        if started.is_none() {
            let _ = host.runtime.delete(&c.id, true);
        }
        adopted.push(Adopted {
            saved: c.clone(),
            started,
        });
    }
    Ok(Some((sandbox, adopted)))
}

/// After the control plane listed this node's pods: containers, namespaces, pod
/// directories and adoption records of pods that no longer exist are removed (a pod
/// deleted while wisp was down).
pub fn clean_orphans(host: &Host, live: &std::collections::HashSet<String>) {
    let orphan = |uid: &str| !live.contains(uid);
    if let Some(network) = &host.network {
        network.cleanup(live);
    }
    if let Ok(states) = host.runtime.list() {
        for s in states {
            if s.id.get(..36).is_some_and(orphan) {
                let _ = host.runtime.kill(&s.id, 9, true);
                let _ = host.runtime.delete(&s.id, true);
            }
        }
    }
    for uid in crate::runtime::namespaces::list(&host.run_dir) {
        if orphan(&uid) {
            host.remove_namespaces(&uid);
        }
    }
    if let Ok(entries) = std::fs::read_dir(host.data_dir.join("pods")) {
        for e in entries.flatten() {
            let uid = e.file_name().to_string_lossy().into_owned();
            if orphan(&uid) {
                host.unmount_under(&e.path());
                host.remove_pod_cgroup(&uid);
                let _ = std::fs::remove_dir_all(e.path());
                let _ = std::fs::remove_file(host.state_file(&uid));
            }
        }
    }
}
