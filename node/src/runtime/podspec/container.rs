//! One entry of `spec.containers` / `spec.initContainers`, with upstream defaults applied.

use super::fields::Fields;
use super::probe::{self, Lifecycle, Probe};
use super::{SeccompProfile, SpecError, parse_seccomp};
use crate::runtime::quantity::Quantity;

/// A container of the pod.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub image: String,
    pub image_pull_policy: PullPolicy,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub working_dir: Option<String>,
    pub env: Vec<EnvVar>,
    /// `envFrom` as JSON text.
    pub env_from: Option<String>,
    pub ports: Vec<ContainerPort>,
    pub resources: Resources,
    pub volume_mounts: Vec<VolumeMount>,
    pub security_context: ContainerSecurityContext,
    pub liveness_probe: Option<Probe>,
    pub readiness_probe: Option<Probe>,
    pub startup_probe: Option<Probe>,
    pub lifecycle: Lifecycle,
    /// Only `Always` exists: an init container that is a sidecar.
    pub restart_policy: Option<ContainerRestartPolicy>,
    pub stdin: bool,
    pub stdin_once: bool,
    pub tty: bool,
    /// Defaults to /dev/termination-log.
    pub termination_message_path: String,
    pub termination_message_policy: TerminationMessagePolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullPolicy {
    Always,
    IfNotPresent,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerRestartPolicy {
    Always,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TerminationMessagePolicy {
    File,
    FallbackToLogsOnError,
}

/// One `env` entry: a literal value, or `valueFrom` as JSON text for the agent to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVar {
    pub name: String,
    pub value: Option<String>,
    pub value_from: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub container_port: i32,
    pub host_port: Option<i32>,
    /// "TCP" (default), "UDP" or "SCTP".
    pub protocol: String,
    pub host_ip: Option<String>,
}

/// `resources.requests` or `resources.limits`, in the units the runtime needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceList {
    pub cpu_millis: Option<i64>,
    pub memory_bytes: Option<i64>,
    pub ephemeral_storage_bytes: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resources {
    pub requests: ResourceList,
    pub limits: ResourceList,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeMount {
    pub name: String,
    pub mount_path: String,
    pub sub_path: Option<String>,
    pub read_only: bool,
}

/// `securityContext` of a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub privileged: bool,
    pub read_only_root_filesystem: bool,
    pub allow_privilege_escalation: Option<bool>,
    pub capabilities: Capabilities,
    pub seccomp_profile: Option<SeccompProfile>,
}

/// Capability names as written in the spec ("NET_ADMIN", "ALL"), without the CAP_ prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    pub add: Vec<String>,
    pub drop: Vec<String>,
}

pub(crate) fn parse(c: &Fields<'_>) -> Result<Container, SpecError> {
    let image = c.string("image")?;
    Ok(Container {
        name: c.str("name")?.ok_or_else(|| c.fail("name", "missing"))?,
        image_pull_policy: parse_pull_policy(c, &image)?,
        image,
        command: c.strings("command")?,
        args: c.strings("args")?,
        working_dir: c.str("workingDir")?.filter(|d| !d.is_empty()),
        env: parse_env(c)?,
        env_from: c.raw("envFrom"),
        ports: parse_ports(c)?,
        resources: parse_resources(c)?,
        volume_mounts: parse_mounts(c)?,
        security_context: parse_security(c)?,
        liveness_probe: probe::parse_probe(c, "livenessProbe")?,
        readiness_probe: probe::parse_probe(c, "readinessProbe")?,
        startup_probe: probe::parse_probe(c, "startupProbe")?,
        lifecycle: probe::parse_lifecycle(c)?,
        restart_policy: match c.str("restartPolicy")?.as_deref() {
            None => None,
            Some("Always") => Some(ContainerRestartPolicy::Always),
            Some(_) => {
                return Err(c.fail("restartPolicy", "only Always is allowed for a container"));
            }
        },
        stdin: c.flag("stdin")?,
        stdin_once: c.flag("stdinOnce")?,
        tty: c.flag("tty")?,
        termination_message_path: c
            .str("terminationMessagePath")?
            .unwrap_or_else(|| "/dev/termination-log".to_string()),
        termination_message_policy: match c.str("terminationMessagePolicy")?.as_deref() {
            None | Some("File") => TerminationMessagePolicy::File,
            Some("FallbackToLogsOnError") => TerminationMessagePolicy::FallbackToLogsOnError,
            Some(_) => return Err(c.fail("terminationMessagePolicy", "unknown policy")),
        },
    })
}

/// Upstream default: Always for `:latest` or an untagged image, IfNotPresent otherwise.
fn parse_pull_policy(c: &Fields<'_>, image: &str) -> Result<PullPolicy, SpecError> {
    match c.str("imagePullPolicy")?.as_deref() {
        Some("Always") => Ok(PullPolicy::Always),
        Some("IfNotPresent") => Ok(PullPolicy::IfNotPresent),
        Some("Never") => Ok(PullPolicy::Never),
        Some(_) => Err(c.fail("imagePullPolicy", "unknown pull policy")),
        None if image_is_latest(image) => Ok(PullPolicy::Always),
        None => Ok(PullPolicy::IfNotPresent),
    }
}

fn image_is_latest(image: &str) -> bool {
    if image.contains('@') {
        return false;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => true,
        Some((_, tag)) => tag == "latest",
    }
}

fn parse_env(c: &Fields<'_>) -> Result<Vec<EnvVar>, SpecError> {
    let mut env = Vec::new();
    for var in c.objects("env")? {
        env.push(EnvVar {
            name: var.string("name")?,
            value: var.str("value")?,
            value_from: var.raw("valueFrom"),
        });
    }
    Ok(env)
}

fn parse_ports(c: &Fields<'_>) -> Result<Vec<ContainerPort>, SpecError> {
    let mut ports = Vec::new();
    for port in c.objects("ports")? {
        ports.push(ContainerPort {
            name: port.str("name")?,
            container_port: port
                .i32("containerPort")?
                .ok_or_else(|| port.fail("containerPort", "missing"))?,
            host_port: port.i32("hostPort")?.filter(|p| *p != 0),
            protocol: port.str("protocol")?.unwrap_or_else(|| "TCP".to_string()),
            host_ip: port.str("hostIP")?,
        });
    }
    Ok(ports)
}

/// Requests default to limits when only limits are given, as upstream defaulting does.
fn parse_resources(c: &Fields<'_>) -> Result<Resources, SpecError> {
    let Some(res) = c.object("resources")? else {
        return Ok(Resources::default());
    };
    let limits = parse_resource_list(&res, "limits")?;
    let mut requests = parse_resource_list(&res, "requests")?;
    requests.cpu_millis = requests.cpu_millis.or(limits.cpu_millis);
    requests.memory_bytes = requests.memory_bytes.or(limits.memory_bytes);
    requests.ephemeral_storage_bytes = requests
        .ephemeral_storage_bytes
        .or(limits.ephemeral_storage_bytes);
    Ok(Resources { requests, limits })
}

fn parse_resource_list(res: &Fields<'_>, key: &str) -> Result<ResourceList, SpecError> {
    let Some(list) = res.object(key)? else {
        return Ok(ResourceList::default());
    };
    let quantity = |name: &str| -> Result<Option<Quantity>, SpecError> {
        match list.str(name)? {
            None => Ok(None),
            Some(text) => Quantity::parse(&text)
                .map(Some)
                .map_err(|e| list.fail(name, &e.to_string())),
        }
    };
    Ok(ResourceList {
        cpu_millis: quantity("cpu")?.map(Quantity::millis_ceil),
        memory_bytes: quantity("memory")?.map(Quantity::units_ceil),
        ephemeral_storage_bytes: quantity("ephemeral-storage")?.map(Quantity::units_ceil),
    })
}

fn parse_mounts(c: &Fields<'_>) -> Result<Vec<VolumeMount>, SpecError> {
    let mut mounts = Vec::new();
    for mount in c.objects("volumeMounts")? {
        mounts.push(VolumeMount {
            name: mount.string("name")?,
            mount_path: mount
                .str("mountPath")?
                .ok_or_else(|| mount.fail("mountPath", "missing"))?,
            sub_path: mount.str("subPath")?.filter(|p| !p.is_empty()),
            read_only: mount.flag("readOnly")?,
        });
    }
    Ok(mounts)
}

fn parse_security(c: &Fields<'_>) -> Result<ContainerSecurityContext, SpecError> {
    let Some(ctx) = c.object("securityContext")? else {
        return Ok(ContainerSecurityContext::default());
    };
    let capabilities = match ctx.object("capabilities")? {
        None => Capabilities::default(),
        Some(caps) => Capabilities {
            add: caps.strings("add")?,
            drop: caps.strings("drop")?,
        },
    };
    Ok(ContainerSecurityContext {
        run_as_user: ctx.i64("runAsUser")?,
        run_as_group: ctx.i64("runAsGroup")?,
        run_as_non_root: ctx.bool("runAsNonRoot")?,
        privileged: ctx.flag("privileged")?,
        read_only_root_filesystem: ctx.flag("readOnlyRootFilesystem")?,
        allow_privilege_escalation: ctx.bool("allowPrivilegeEscalation")?,
        capabilities,
        seccomp_profile: parse_seccomp(&ctx)?,
    })
}
