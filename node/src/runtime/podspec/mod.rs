//! The typed subset of a core/v1 Pod the node agent acts on, parsed from the Pod's JSON bytes.
//!
//! Only the fields a kubelet reads are typed; volume sources, `valueFrom`, `envFrom` and the
//! DNS config stay raw JSON text because the agent resolves them against other objects.
//! Upstream defaults are applied where the API server may not have (it defaults most).

mod container;
mod fields;
mod probe;

use std::collections::BTreeMap;
use std::fmt;

pub use container::{
    Capabilities, Container, ContainerPort, ContainerRestartPolicy, ContainerSecurityContext,
    EnvVar, PullPolicy, ResourceList, Resources, TerminationMessagePolicy, VolumeMount,
};
pub use fields::IntOrString;
pub use probe::{Handler, HttpGet, Lifecycle, Probe};

use fields::Fields;

/// A Pod as the agent sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Pod {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub deletion_timestamp: Option<String>,
    /// `metadata.deletionGracePeriodSeconds`, set together with the deletion timestamp.
    pub grace: Option<i64>,
    pub resource_version: String,
    pub creation_timestamp: Option<String>,
    pub spec: PodSpec,
}

/// `spec` of a Pod.
#[derive(Debug, Clone, PartialEq)]
pub struct PodSpec {
    pub node_name: Option<String>,
    pub restart_policy: RestartPolicy,
    /// Defaults to 30.
    pub termination_grace_period_seconds: i64,
    pub active_deadline_seconds: Option<i64>,
    pub host_network: bool,
    pub host_pid: bool,
    pub host_ipc: bool,
    pub share_process_namespace: bool,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub dns_policy: DnsPolicy,
    /// `dnsConfig` as JSON text.
    pub dns_config: Option<String>,
    /// `hostAliases` as JSON text.
    pub host_aliases: Option<String>,
    /// Defaults to "default".
    pub service_account_name: String,
    pub automount_service_account_token: Option<bool>,
    /// `imagePullSecrets[].name`.
    pub image_pull_secrets: Vec<String>,
    /// Defaults to true: inject `<SVC>_SERVICE_HOST`-style env vars.
    pub enable_service_links: bool,
    pub set_hostname_as_fqdn: bool,
    pub security_context: PodSecurityContext,
    pub init_containers: Vec<Container>,
    pub containers: Vec<Container>,
    pub volumes: Vec<Volume>,
}

/// `spec.restartPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    Always,
    OnFailure,
    Never,
}

/// `spec.dnsPolicy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPolicy {
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

/// `spec.securityContext`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PodSecurityContext {
    pub run_as_user: Option<i64>,
    pub run_as_group: Option<i64>,
    pub run_as_non_root: Option<bool>,
    pub fs_group: Option<i64>,
    pub supplemental_groups: Vec<i64>,
    pub sysctls: Vec<(String, String)>,
    pub seccomp_profile: Option<SeccompProfile>,
}

/// A `seccompProfile` of a pod or container security context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeccompProfile {
    RuntimeDefault,
    Unconfined,
    Localhost(String),
}

/// One entry of `spec.volumes`: its name, which source it uses and that source as JSON text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    /// The source's key, e.g. "emptyDir", "configMap", "hostPath".
    pub kind: String,
    /// The source object as JSON text, e.g. `{"medium":"Memory"}`.
    pub source: String,
}

/// Why a Pod document could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecError {
    /// JSON path of the offending field, empty for the document itself.
    pub path: String,
    pub reason: String,
}

impl SpecError {
    pub(crate) fn new(path: &str, reason: &str) -> SpecError {
        SpecError {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "pod: {}", self.reason)
        } else {
            write!(f, "pod field {}: {}", self.path, self.reason)
        }
    }
}

impl std::error::Error for SpecError {}

impl PodSpec {
    /// Parses a whole Pod object (as served by the API) from its JSON bytes.
    pub fn from_pod_json(bytes: &[u8]) -> Result<Pod, SpecError> {
        let text = std::str::from_utf8(bytes).map_err(|_| SpecError::new("", "not UTF-8"))?;
        let value: miniserde::json::Value =
            miniserde::json::from_str(text).map_err(|_| SpecError::new("", "not valid JSON"))?;
        let root = Fields::root(&value)?;
        let meta = root
            .object("metadata")?
            .ok_or_else(|| SpecError::new("metadata", "missing"))?;
        let spec = root
            .object("spec")?
            .ok_or_else(|| SpecError::new("spec", "missing"))?;
        Ok(Pod {
            namespace: meta
                .str("namespace")?
                .unwrap_or_else(|| "default".to_string()),
            name: meta.string("name")?,
            uid: meta.string("uid")?,
            labels: meta.string_map("labels")?,
            annotations: meta.string_map("annotations")?,
            deletion_timestamp: meta.str("deletionTimestamp")?,
            grace: meta.i64("deletionGracePeriodSeconds")?,
            resource_version: meta.string("resourceVersion")?,
            creation_timestamp: meta.str("creationTimestamp")?,
            spec: parse_spec(&spec)?,
        })
    }
}

fn parse_spec(spec: &Fields<'_>) -> Result<PodSpec, SpecError> {
    let containers = parse_containers(spec, "containers")?;
    if containers.is_empty() {
        return Err(spec.fail("containers", "a pod needs at least one container"));
    }
    Ok(PodSpec {
        node_name: spec.str("nodeName")?,
        restart_policy: parse_restart_policy(spec)?,
        termination_grace_period_seconds: spec.i64("terminationGracePeriodSeconds")?.unwrap_or(30),
        active_deadline_seconds: spec.i64("activeDeadlineSeconds")?,
        host_network: spec.flag("hostNetwork")?,
        host_pid: spec.flag("hostPID")?,
        host_ipc: spec.flag("hostIPC")?,
        share_process_namespace: spec.flag("shareProcessNamespace")?,
        hostname: spec.str("hostname")?,
        subdomain: spec.str("subdomain")?,
        dns_policy: parse_dns_policy(spec)?,
        dns_config: spec.raw("dnsConfig"),
        host_aliases: spec.raw("hostAliases"),
        service_account_name: spec
            .str("serviceAccountName")?
            .or(spec.str("serviceAccount")?)
            .unwrap_or_else(|| "default".to_string()),
        automount_service_account_token: spec.bool("automountServiceAccountToken")?,
        image_pull_secrets: spec
            .objects("imagePullSecrets")?
            .iter()
            .map(|secret| secret.string("name"))
            .collect::<Result<_, _>>()?,
        enable_service_links: spec.bool("enableServiceLinks")?.unwrap_or(true),
        set_hostname_as_fqdn: spec.flag("setHostnameAsFQDN")?,
        security_context: parse_pod_security(spec)?,
        init_containers: parse_containers(spec, "initContainers")?,
        containers,
        volumes: parse_volumes(spec)?,
    })
}

fn parse_containers(spec: &Fields<'_>, key: &str) -> Result<Vec<Container>, SpecError> {
    spec.objects(key)?.iter().map(container::parse).collect()
}

fn parse_restart_policy(spec: &Fields<'_>) -> Result<RestartPolicy, SpecError> {
    match spec.str("restartPolicy")?.as_deref() {
        None | Some("Always") => Ok(RestartPolicy::Always),
        Some("OnFailure") => Ok(RestartPolicy::OnFailure),
        Some("Never") => Ok(RestartPolicy::Never),
        Some(_) => Err(spec.fail("restartPolicy", "unknown restart policy")),
    }
}

fn parse_dns_policy(spec: &Fields<'_>) -> Result<DnsPolicy, SpecError> {
    match spec.str("dnsPolicy")?.as_deref() {
        None | Some("ClusterFirst") => Ok(DnsPolicy::ClusterFirst),
        Some("ClusterFirstWithHostNet") => Ok(DnsPolicy::ClusterFirstWithHostNet),
        Some("Default") => Ok(DnsPolicy::Default),
        Some("None") => Ok(DnsPolicy::None),
        Some(_) => Err(spec.fail("dnsPolicy", "unknown dns policy")),
    }
}

fn parse_pod_security(spec: &Fields<'_>) -> Result<PodSecurityContext, SpecError> {
    let Some(ctx) = spec.object("securityContext")? else {
        return Ok(PodSecurityContext::default());
    };
    let mut sysctls = Vec::new();
    for entry in ctx.objects("sysctls")? {
        sysctls.push((entry.string("name")?, entry.string("value")?));
    }
    Ok(PodSecurityContext {
        run_as_user: ctx.i64("runAsUser")?,
        run_as_group: ctx.i64("runAsGroup")?,
        run_as_non_root: ctx.bool("runAsNonRoot")?,
        fs_group: ctx.i64("fsGroup")?,
        supplemental_groups: ctx.i64s("supplementalGroups")?,
        sysctls,
        seccomp_profile: parse_seccomp(&ctx)?,
    })
}

pub(crate) fn parse_seccomp(ctx: &Fields<'_>) -> Result<Option<SeccompProfile>, SpecError> {
    let Some(profile) = ctx.object("seccompProfile")? else {
        return Ok(None);
    };
    match profile.string("type")?.as_str() {
        "RuntimeDefault" => Ok(Some(SeccompProfile::RuntimeDefault)),
        "Unconfined" => Ok(Some(SeccompProfile::Unconfined)),
        "Localhost" => Ok(Some(SeccompProfile::Localhost(
            profile.string("localhostProfile")?,
        ))),
        _ => Err(profile.fail("type", "unknown seccomp profile type")),
    }
}

fn parse_volumes(spec: &Fields<'_>) -> Result<Vec<Volume>, SpecError> {
    let mut volumes = Vec::new();
    for volume in spec.objects("volumes")? {
        let name = volume.string("name")?;
        let Some(kind) = volume.keys().find(|k| *k != "name").cloned() else {
            return Err(volume.fail("name", "volume has no source"));
        };
        let source = volume.raw(&kind).unwrap_or_default();
        volumes.push(Volume { name, kind, source });
    }
    Ok(volumes)
}

#[cfg(test)]
mod tests;
