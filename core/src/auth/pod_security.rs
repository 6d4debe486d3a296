//! Pod Security admission, enforce mode: a namespace labelled
//! `pod-security.kubernetes.io/enforce: baseline|restricted` refuses new pods that break the
//! Pod Security Standards at that level, with upstream's message
//! (`pods "x" is forbidden: violates PodSecurity "baseline:latest": privileged (container
//! "c" must not set securityContext.privileged=true)`). The checks and their wording follow
//! k8s.io/pod-security-admission/policy as of v1.32, the version wisp serves; every
//! `enforce-version` is evaluated as that version. Checks run in upstream's order (baseline
//! check IDs sorted, then restricted ones, a restricted check replacing the baseline check
//! it overrides). The warn and audit modes are in [`super::pod_security_modes`].

use miniserde::json::Value;
use wisp_store::Store;

use super::attributes::forbidden_on;
use crate::object::keys::object_key;
use crate::object::meta;
use crate::status::ApiError;

const ENFORCE: &str = "pod-security.kubernetes.io/enforce";
const ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

/// A failed check: upstream's ForbiddenReason and ForbiddenDetail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub reason: String,
    pub detail: String,
}

/// Refuses `pod` (being created in `namespace`) if the namespace enforces a level it breaks.
pub fn enforce(store: &Store, namespace: &str, pod: &Value) -> Result<(), ApiError> {
    let key = object_key("", "namespaces", None, namespace);
    let Some(ns) = store
        .get(key.as_bytes())
        .and_then(|kv| meta::from_json_bytes(&kv.value))
    else {
        return Ok(());
    };
    let labels = |k: &str| meta::get_str(&ns, &["metadata", "labels", k]).map(str::to_owned);
    let level = match labels(ENFORCE).as_deref() {
        None | Some("privileged") => return Ok(()),
        Some("baseline") => Level::Baseline,
        // upstream treats an invalid level as restricted.
        Some(_) => Level::Restricted,
    };
    let violations = check(level, pod);
    if violations.is_empty() {
        return Ok(());
    }
    let version = labels(ENFORCE_VERSION).unwrap_or_else(|| "latest".to_owned());
    let level_name = if level == Level::Baseline {
        "baseline"
    } else {
        "restricted"
    };
    let why = format!(
        "violates PodSecurity \"{level_name}:{version}\": {}",
        forbidden_detail(&violations)
    );
    Err(forbidden_on(
        "",
        "pods",
        meta::name(pod).unwrap_or(""),
        &why,
    ))
}

/// Upstream's ForbiddenDetail: every reason with its detail in parentheses.
pub fn forbidden_detail(violations: &[Violation]) -> String {
    let details: Vec<String> = violations
        .iter()
        .map(|v| {
            if v.detail.is_empty() {
                v.reason.clone()
            } else {
                format!("{} ({})", v.reason, v.detail)
            }
        })
        .collect();
    details.join(", ")
}

/// Upstream's ForbiddenReason: the reasons alone.
pub fn forbidden_reason(violations: &[Violation]) -> String {
    let reasons: Vec<&str> = violations.iter().map(|v| v.reason.as_str()).collect();
    reasons.join(", ")
}

type Check = fn(&Value, &Value) -> Option<Violation>;

/// The checks of a level in upstream's evaluation order.
fn checks(level: Level) -> Vec<Check> {
    let baseline: [(&str, Check); 11] = [
        ("appArmorProfile", app_armor),
        ("capabilities_baseline", capabilities_baseline),
        ("hostNamespaces", host_namespaces),
        ("hostPathVolumes", host_path_volumes),
        ("hostPorts", host_ports),
        ("privileged", privileged),
        ("procMount", proc_mount),
        ("seLinuxOptions", se_linux_options),
        ("seccompProfile_baseline", seccomp_baseline),
        ("sysctls", sysctls),
        ("windowsHostProcess", windows_host_process),
    ];
    let overridden = [
        "capabilities_baseline",
        "hostPathVolumes",
        "seccompProfile_baseline",
    ];
    let mut out: Vec<Check> = baseline
        .iter()
        .filter(|(id, _)| level == Level::Baseline || !overridden.contains(id))
        .map(|(_, c)| *c)
        .collect();
    if level == Level::Restricted {
        out.extend([
            allow_privilege_escalation as Check,
            capabilities_restricted,
            restricted_volumes,
            run_as_non_root,
            run_as_user,
            seccomp_restricted,
        ]);
    }
    out
}

/// Every violation of `level` by a pod object.
pub fn check(level: Level, pod: &Value) -> Vec<Violation> {
    let metadata = meta::get_path(pod, &["metadata"])
        .cloned()
        .unwrap_or(Value::Null);
    let spec = meta::get_path(pod, &["spec"])
        .cloned()
        .unwrap_or(Value::Null);
    checks(level)
        .iter()
        .filter_map(|c| c(&metadata, &spec))
        .collect()
}

fn violation(reason: &str, detail: String) -> Option<Violation> {
    Some(Violation {
        reason: reason.to_owned(),
        detail,
    })
}

fn items(v: &Value, path: &[&str]) -> Vec<Value> {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a.iter().cloned().collect(),
        _ => Vec::new(),
    }
}

/// initContainers, containers, ephemeralContainers, as upstream visits them.
fn containers(spec: &Value) -> Vec<Value> {
    ["initContainers", "containers", "ephemeralContainers"]
        .iter()
        .flat_map(|k| items(spec, &[k]))
        .collect()
}

fn name(c: &Value) -> String {
    meta::get_str(c, &["name"]).unwrap_or("").to_owned()
}

fn sc<'a>(c: &'a Value, field: &str) -> Option<&'a Value> {
    meta::get_path(c, &["securityContext", field])
}

fn is_true(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::Bool(true)))
}

fn join_quote(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("\"{i}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural<'a>(singular: &'a str, plural: &'a str, n: usize) -> &'a str {
    if n == 1 { singular } else { plural }
}

fn sorted_unique(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v.dedup();
    v
}

/// `pod and containers "a", "b"` style subjects of a detail.
fn setters(pod: bool, containers: &[String], suffix: &str) -> String {
    let mut parts = Vec::new();
    if pod {
        parts.push("pod".to_owned());
    }
    if !containers.is_empty() {
        parts.push(format!(
            "{} {}",
            plural("container", "containers", containers.len()),
            join_quote(containers)
        ));
    }
    format!("{}{suffix}", parts.join(" and "))
}

fn windows(spec: &Value) -> bool {
    meta::get_str(spec, &["os", "name"]) == Some("windows")
}

fn bad_containers(spec: &Value, bad: impl Fn(&Value) -> bool) -> Vec<String> {
    containers(spec)
        .iter()
        .filter(|c| bad(c))
        .map(name)
        .collect()
}

fn privileged(_: &Value, spec: &Value) -> Option<Violation> {
    let bad = bad_containers(spec, |c| is_true(sc(c, "privileged")));
    (!bad.is_empty()).then_some(())?;
    violation(
        "privileged",
        format!(
            "{} {} must not set securityContext.privileged=true",
            plural("container", "containers", bad.len()),
            join_quote(&bad)
        ),
    )
}

fn host_namespaces(_: &Value, spec: &Value) -> Option<Violation> {
    let found: Vec<&str> = [
        ("hostNetwork", "hostNetwork=true"),
        ("hostPID", "hostPID=true"),
        ("hostIPC", "hostIPC=true"),
    ]
    .into_iter()
    .filter(|(k, _)| is_true(meta::get_path(spec, &[k])))
    .map(|(_, s)| s)
    .collect();
    (!found.is_empty()).then_some(())?;
    violation("host namespaces", found.join(", "))
}

fn volumes_with(spec: &Value, source: &str) -> Vec<String> {
    items(spec, &["volumes"])
        .iter()
        .filter(|v| meta::get_path(v, &[source]).is_some_and(|s| !matches!(s, Value::Null)))
        .map(name)
        .collect()
}

fn host_path_volumes(_: &Value, spec: &Value) -> Option<Violation> {
    let bad = volumes_with(spec, "hostPath");
    (!bad.is_empty()).then_some(())?;
    violation(
        "hostPath volumes",
        format!(
            "{} {}",
            plural("volume", "volumes", bad.len()),
            join_quote(&bad)
        ),
    )
}

fn host_ports(_: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut ports = Vec::new();
    for c in containers(spec) {
        let used: Vec<i64> = items(&c, &["ports"])
            .iter()
            .filter_map(|p| meta::get_i64(p, &["hostPort"]))
            .filter(|p| *p != 0)
            .collect();
        if !used.is_empty() {
            bad.push(name(&c));
            ports.extend(used);
        }
    }
    (!bad.is_empty()).then_some(())?;
    ports.sort_unstable();
    ports.dedup();
    let ports: Vec<String> = ports.iter().map(i64::to_string).collect();
    violation(
        "hostPort",
        format!(
            "{} {} {} {} {}",
            plural("container", "containers", bad.len()),
            join_quote(&bad),
            plural("uses", "use", bad.len()),
            plural("hostPort", "hostPorts", ports.len()),
            ports.join(", ")
        ),
    )
}

const BASELINE_CAPABILITIES: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// Containers adding capabilities outside `allowed`, and those capabilities.
fn adding(spec: &Value, allowed: &[&str]) -> (Vec<String>, Vec<String>) {
    let mut bad = Vec::new();
    let mut caps = Vec::new();
    for c in containers(spec) {
        let extra: Vec<String> = strings(meta::get_path(
            &c,
            &["securityContext", "capabilities", "add"],
        ))
        .into_iter()
        .filter(|cap| !allowed.contains(&cap.as_str()))
        .collect();
        if !extra.is_empty() {
            bad.push(name(&c));
            caps.extend(extra);
        }
    }
    (bad, sorted_unique(caps))
}

fn must_not_add(bad: &[String], caps: &[String]) -> String {
    format!(
        "{} {} must not include {} in securityContext.capabilities.add",
        plural("container", "containers", bad.len()),
        join_quote(bad),
        join_quote(caps)
    )
}

fn capabilities_baseline(_: &Value, spec: &Value) -> Option<Violation> {
    let (bad, caps) = adding(spec, &BASELINE_CAPABILITIES);
    (!bad.is_empty()).then_some(())?;
    violation("non-default capabilities", must_not_add(&bad, &caps))
}

fn capabilities_restricted(_: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        return None;
    }
    let missing_drop = bad_containers(spec, |c| {
        !strings(meta::get_path(
            c,
            &["securityContext", "capabilities", "drop"],
        ))
        .iter()
        .any(|d| d == "ALL")
    });
    let (bad, caps) = adding(spec, &["NET_BIND_SERVICE"]);
    let mut details = Vec::new();
    if !missing_drop.is_empty() {
        details.push(format!(
            "{} {} must set securityContext.capabilities.drop=[\"ALL\"]",
            plural("container", "containers", missing_drop.len()),
            join_quote(&missing_drop)
        ));
    }
    if !bad.is_empty() {
        details.push(must_not_add(&bad, &caps));
    }
    (!details.is_empty()).then_some(())?;
    violation("unrestricted capabilities", details.join("; "))
}

fn proc_mount(_: &Value, spec: &Value) -> Option<Violation> {
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for c in containers(spec) {
        match meta::get_str(&c, &["securityContext", "procMount"]) {
            None | Some("Default") => {}
            Some(t) => {
                bad.push(name(&c));
                types.push(t.to_owned());
            }
        }
    }
    (!bad.is_empty()).then_some(())?;
    violation(
        "procMount",
        format!(
            "{} {} must not set securityContext.procMount to {}",
            plural("container", "containers", bad.len()),
            join_quote(&bad),
            join_quote(&sorted_unique(types))
        ),
    )
}

const SELINUX_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

fn se_linux_options(_: &Value, spec: &Value) -> Option<Violation> {
    let mut bad_types = Vec::new();
    let (mut user, mut role) = (false, false);
    let mut invalid = |o: &Value| {
        let t = meta::get_str(o, &["type"]).unwrap_or("");
        let mut bad = false;
        if !SELINUX_TYPES.contains(&t) {
            bad_types.push(t.to_owned());
            bad = true;
        }
        if !meta::get_str(o, &["user"]).unwrap_or("").is_empty() {
            user = true;
            bad = true;
        }
        if !meta::get_str(o, &["role"]).unwrap_or("").is_empty() {
            role = true;
            bad = true;
        }
        bad
    };
    let pod =
        sc(spec, "seLinuxOptions").is_some_and(|o| matches!(o, Value::Object(_)) && invalid(o));
    let mut bad = Vec::new();
    for c in containers(spec) {
        if sc(&c, "seLinuxOptions").is_some_and(|o| matches!(o, Value::Object(_)) && invalid(o)) {
            bad.push(name(&c));
        }
    }
    (pod || !bad.is_empty()).then_some(())?;
    let types = sorted_unique(bad_types);
    let mut data = Vec::new();
    if !types.is_empty() {
        data.push(format!(
            "{} {}",
            plural("type", "types", types.len()),
            join_quote(&types)
        ));
    }
    if user {
        data.push("user may not be set".to_owned());
    }
    if role {
        data.push("role may not be set".to_owned());
    }
    let suffix = format!(
        " set forbidden securityContext.seLinuxOptions: {}",
        data.join("; ")
    );
    violation("seLinuxOptions", setters(pod, &bad, &suffix))
}

fn valid_seccomp(t: Option<&str>) -> bool {
    matches!(t, Some("RuntimeDefault" | "Localhost"))
}

/// (pod sets a bad type, pod sets a good type, containers with bad types, containers
/// without a type, the bad types).
fn seccomp(spec: &Value) -> (bool, bool, Vec<String>, Vec<String>, Vec<String>) {
    let mut values = Vec::new();
    let pod_profile = sc(spec, "seccompProfile").filter(|p| matches!(p, Value::Object(_)));
    let pod_type = pod_profile.map(|p| meta::get_str(p, &["type"]));
    let pod_bad = pod_type.is_some_and(|t| !valid_seccomp(t));
    if pod_bad {
        values.push(pod_type.flatten().unwrap_or("").to_owned());
    }
    let pod_good = pod_type.is_some_and(valid_seccomp);
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match sc(&c, "seccompProfile").filter(|p| matches!(p, Value::Object(_))) {
            Some(p) => {
                let t = meta::get_str(p, &["type"]);
                if !valid_seccomp(t) {
                    explicit.push(name(&c));
                    values.push(t.unwrap_or("").to_owned());
                }
            }
            None if !pod_good => implicit.push(name(&c)),
            None => {}
        }
    }
    (pod_bad, pod_good, explicit, implicit, sorted_unique(values))
}

fn seccomp_baseline(_: &Value, spec: &Value) -> Option<Violation> {
    let (pod_bad, _, explicit, _, values) = seccomp(spec);
    (pod_bad || !explicit.is_empty()).then_some(())?;
    let suffix = format!(
        " must not set securityContext.seccompProfile.type to {}",
        join_quote(&values)
    );
    violation("seccompProfile", setters(pod_bad, &explicit, &suffix))
}

fn seccomp_restricted(meta_: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        return None;
    }
    let (pod_bad, _, explicit, implicit, _) = seccomp(spec);
    if pod_bad || !explicit.is_empty() {
        return seccomp_baseline(meta_, spec);
    }
    (!implicit.is_empty()).then_some(())?;
    violation(
        "seccompProfile",
        format!(
            "pod or {} {} must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\"",
            plural("container", "containers", implicit.len()),
            join_quote(&implicit)
        ),
    )
}

const SAFE_SYSCTLS: [&str; 12] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

fn sysctls(_: &Value, spec: &Value) -> Option<Violation> {
    let bad: Vec<String> = items(spec, &["securityContext", "sysctls"])
        .iter()
        .map(name)
        .filter(|n| !SAFE_SYSCTLS.contains(&n.as_str()))
        .collect();
    (!bad.is_empty()).then_some(())?;
    violation("forbidden sysctls", bad.join(", "))
}

fn windows_host_process(_: &Value, spec: &Value) -> Option<Violation> {
    let host = |v: &Value| {
        is_true(meta::get_path(
            v,
            &["securityContext", "windowsOptions", "hostProcess"],
        ))
    };
    let pod = host(spec);
    let bad = bad_containers(spec, host);
    (pod || !bad.is_empty()).then_some(())?;
    violation(
        "hostProcess",
        setters(
            pod,
            &bad,
            " must not set securityContext.windowsOptions.hostProcess=true",
        ),
    )
}

fn app_armor(metadata: &Value, spec: &Value) -> Option<Violation> {
    let ok = |t: Option<&str>| matches!(t, Some("RuntimeDefault" | "Localhost"));
    let mut values = Vec::new();
    let mut parts = Vec::new();
    if let Some(p) = sc(spec, "appArmorProfile").filter(|p| matches!(p, Value::Object(_)))
        && !ok(meta::get_str(p, &["type"]))
    {
        parts.push("pod".to_owned());
        values.push(meta::get_str(p, &["type"]).unwrap_or("").to_owned());
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(p) = sc(&c, "appArmorProfile").filter(|p| matches!(p, Value::Object(_)))
            && !ok(meta::get_str(p, &["type"]))
        {
            bad.push(name(&c));
            values.push(meta::get_str(p, &["type"]).unwrap_or("").to_owned());
        }
    }
    if !bad.is_empty() {
        parts.push(format!(
            "{} {}",
            plural("container", "containers", bad.len()),
            join_quote(&bad)
        ));
    }
    let mut values = sorted_unique(values);
    let mut annotations: Vec<String> = meta::string_map(metadata, &["annotations"])
        .into_iter()
        .filter(|(k, v)| {
            k.starts_with("container.apparmor.security.beta.kubernetes.io/")
                && !v.is_empty()
                && *v != "runtime/default"
                && !v.starts_with("localhost/")
        })
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    if !annotations.is_empty() {
        annotations.sort();
        parts.push(plural("annotation", "annotations", annotations.len()).to_owned());
        values.extend(annotations);
    }
    (!parts.is_empty()).then_some(())?;
    violation(
        plural(
            "forbidden AppArmor profile",
            "forbidden AppArmor profiles",
            values.len(),
        ),
        format!(
            "{} must not set AppArmor profile type to {}",
            parts.join(" and "),
            join_quote(&values)
        ),
    )
}

fn allow_privilege_escalation(_: &Value, spec: &Value) -> Option<Violation> {
    if windows(spec) {
        return None;
    }
    let bad = bad_containers(spec, |c| {
        !matches!(sc(c, "allowPrivilegeEscalation"), Some(Value::Bool(false)))
    });
    (!bad.is_empty()).then_some(())?;
    violation(
        "allowPrivilegeEscalation != false",
        format!(
            "{} {} must set securityContext.allowPrivilegeEscalation=false",
            plural("container", "containers", bad.len()),
            join_quote(&bad)
        ),
    )
}

const ALLOWED_VOLUMES: [&str; 9] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];
const RESTRICTED_VOLUMES: [&str; 22] = [
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "unknown",
];

fn restricted_volumes(_: &Value, spec: &Value) -> Option<Violation> {
    let present =
        |v: &Value, k: &str| meta::get_path(v, &[k]).is_some_and(|s| !matches!(s, Value::Null));
    let mut bad = Vec::new();
    let mut types = Vec::new();
    for v in items(spec, &["volumes"]) {
        if ALLOWED_VOLUMES.iter().any(|k| present(&v, k)) {
            continue;
        }
        bad.push(name(&v));
        let t = RESTRICTED_VOLUMES
            .iter()
            .find(|k| present(&v, k))
            .unwrap_or(&"unknown");
        types.push((*t).to_owned());
    }
    (!bad.is_empty()).then_some(())?;
    let types = sorted_unique(types);
    violation(
        "restricted volume types",
        format!(
            "{} {} {} {} {}",
            plural("volume", "volumes", bad.len()),
            join_quote(&bad),
            plural("uses", "use", bad.len()),
            plural(
                "restricted volume type",
                "restricted volume types",
                types.len()
            ),
            join_quote(&types)
        ),
    )
}

fn run_as_non_root(_: &Value, spec: &Value) -> Option<Violation> {
    let pod = sc(spec, "runAsNonRoot");
    let pod_bad = matches!(pod, Some(Value::Bool(false)));
    let pod_good = matches!(pod, Some(Value::Bool(true)));
    let (mut explicit, mut implicit) = (Vec::new(), Vec::new());
    for c in containers(spec) {
        match sc(&c, "runAsNonRoot") {
            Some(Value::Bool(false)) => explicit.push(name(&c)),
            Some(Value::Bool(true)) => {}
            _ if !pod_good => implicit.push(name(&c)),
            _ => {}
        }
    }
    if pod_bad || !explicit.is_empty() {
        return violation(
            "runAsNonRoot != true",
            setters(
                pod_bad,
                &explicit,
                " must not set securityContext.runAsNonRoot=false",
            ),
        );
    }
    (!implicit.is_empty()).then_some(())?;
    violation(
        "runAsNonRoot != true",
        format!(
            "pod or {} {} must set securityContext.runAsNonRoot=true",
            plural("container", "containers", implicit.len()),
            join_quote(&implicit)
        ),
    )
}

fn run_as_user(_: &Value, spec: &Value) -> Option<Violation> {
    let root = |v: &Value| meta::get_i64(v, &["securityContext", "runAsUser"]) == Some(0);
    let pod = root(spec);
    let bad = bad_containers(spec, root);
    (pod || !bad.is_empty()).then_some(())?;
    violation(
        "runAsUser=0",
        setters(pod, &bad, " must not set runAsUser=0"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: &str) -> Value {
        miniserde::json::from_str(json).unwrap()
    }

    fn text(level: Level, p: &Value) -> String {
        check(level, p)
            .iter()
            .map(|v| format!("{} ({})", v.reason, v.detail))
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn a_plain_pod_passes_baseline_but_not_restricted() {
        let p = pod(
            r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"nginx-120","image":"nginx"}]}}"#,
        );
        assert!(check(Level::Baseline, &p).is_empty());
        assert_eq!(
            text(Level::Restricted, &p),
            "allowPrivilegeEscalation != false (container \"nginx-120\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"nginx-120\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"nginx-120\" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container \"nginx-120\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
    }

    #[test]
    fn privileged_host_pods_break_baseline_in_upstream_order() {
        let p = pod(r#"{"spec":{"hostNetwork":true,"hostPID":true,
            "volumes":[{"name":"root","hostPath":{"path":"/"}}],
            "containers":[{"name":"a","securityContext":{"privileged":true,"capabilities":{"add":["SYS_ADMIN","CHOWN","NET_ADMIN"]}},"ports":[{"containerPort":80,"hostPort":8080}]},
                          {"name":"b","securityContext":{"privileged":true}}]}}"#);
        assert_eq!(
            text(Level::Baseline, &p),
            "non-default capabilities (container \"a\" must not include \"NET_ADMIN\", \"SYS_ADMIN\" in securityContext.capabilities.add), host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume \"root\"), hostPort (container \"a\" uses hostPort 8080), privileged (containers \"a\", \"b\" must not set securityContext.privileged=true)"
        );
        let restricted = text(Level::Restricted, &p);
        assert!(
            restricted.contains(
                "restricted volume types (volume \"root\" uses restricted volume type \"hostPath\")"
            ),
            "{restricted}"
        );
        assert!(
            !restricted.contains("hostPath volumes"),
            "overridden by restricted volume types"
        );
    }

    #[test]
    fn matches_a_message_seen_from_a_real_cluster() {
        let p = pod(
            r#"{"spec":{"containers":[{"name":"nginx-120","securityContext":{"privileged":true,"runAsUser":0}}]}}"#,
        );
        assert_eq!(
            text(Level::Restricted, &p),
            "privileged (container \"nginx-120\" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container \"nginx-120\" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container \"nginx-120\" must set securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or container \"nginx-120\" must set securityContext.runAsNonRoot=true), runAsUser=0 (container \"nginx-120\" must not set runAsUser=0), seccompProfile (pod or container \"nginx-120\" must set securityContext.seccompProfile.type to \"RuntimeDefault\" or \"Localhost\")"
        );
    }

    #[test]
    fn a_hardened_pod_passes_restricted() {
        let p = pod(
            r#"{"spec":{"securityContext":{"runAsNonRoot":true,"seccompProfile":{"type":"RuntimeDefault"}},
            "volumes":[{"name":"tmp","emptyDir":{}},{"name":"t","projected":{"sources":[]}}],
            "containers":[{"name":"app","securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"],"add":["NET_BIND_SERVICE"]}}}]}}"#,
        );
        assert_eq!(check(Level::Restricted, &p), Vec::new());
    }
}
