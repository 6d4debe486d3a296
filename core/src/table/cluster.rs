//! Printers for configuration, cluster and policy kinds: Namespace, Node, Event, ConfigMap,
//! Secret, ServiceAccount, PersistentVolume(Claim), RBAC, CRD, Lease, PriorityClass,
//! StorageClass, PodDisruptionBudget, ResourceQuota and LimitRange.

use miniserde::json::Value;

use super::age::age_since;
use super::cells::{age, deleting, int0, name, object_at, plain, str_or};
use super::{AGE, CREATED_AT, Column, NAME, Printer, WIDE_NAME, col, wide};
use crate::registry::json::{arr_at, b, int, path, s, str_at};

const NAMESPACE: &[Column] = &[NAME, col("Status", "string"), AGE];

fn namespace(ns: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(ns)),
        s(str_or(ns, &["status", "phase"], "")),
        age(ns, now),
    ]
}

const NODE: &[Column] = &[
    NAME,
    col("Status", "string"),
    col("Roles", "string"),
    AGE,
    col("Version", "string"),
    wide("Internal-IP", "string"),
    wide("External-IP", "string"),
    wide("OS-Image", "string"),
    wide("Kernel-Version", "string"),
    wide("Container-Runtime", "string"),
];

fn node_status(node: &Value) -> String {
    let ready = arr_at(node, &["status", "conditions"])
        .iter()
        .find(|c| str_at(c, &["type"]) == Some("Ready"));
    let mut status = match ready {
        Some(c) if str_at(c, &["status"]) == Some("True") => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if matches!(
        path(node, &["spec", "unschedulable"]),
        Some(Value::Bool(true))
    ) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

/// Roles from `node-role.kubernetes.io/<role>` labels and `kubernetes.io/role`, sorted.
fn node_roles(node: &Value) -> String {
    let mut roles: Vec<String> = Vec::new();
    for (key, value) in object_at(node, &["metadata", "labels"])
        .into_iter()
        .flatten()
    {
        let role = if let Some(role) = key.strip_prefix("node-role.kubernetes.io/") {
            role.to_string()
        } else if key == "kubernetes.io/role" {
            plain(value)
        } else {
            continue;
        };
        if !role.is_empty() && !roles.contains(&role) {
            roles.push(role);
        }
    }
    roles.sort();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn node_address(node: &Value, kind: &str) -> String {
    arr_at(node, &["status", "addresses"])
        .iter()
        .find(|a| str_at(a, &["type"]) == Some(kind))
        .and_then(|a| str_at(a, &["address"]))
        .unwrap_or("<none>")
        .to_string()
}

fn node(n: &Value, now: i64) -> Vec<Value> {
    let info = |field| s(str_or(n, &["status", "nodeInfo", field], "<unknown>"));
    vec![
        s(name(n)),
        s(&node_status(n)),
        s(&node_roles(n)),
        age(n, now),
        s(str_or(n, &["status", "nodeInfo", "kubeletVersion"], "")),
        s(&node_address(n, "InternalIP")),
        s(&node_address(n, "ExternalIP")),
        info("osImage"),
        info("kernelVersion"),
        info("containerRuntimeVersion"),
    ]
}

const EVENT: &[Column] = &[
    col("Last Seen", "string"),
    col("Type", "string"),
    col("Reason", "string"),
    col("Object", "string"),
    wide("Subobject", "string"),
    wide("Source", "string"),
    col("Message", "string"),
    wide("First Seen", "string"),
    wide("Count", "string"),
    WIDE_NAME,
];

/// Field names of an Event in core/v1 or events.k8s.io/v1.
struct EventFields {
    regarding: &'static str,
    message: &'static str,
    first: &'static str,
    last: &'static str,
    count: &'static str,
}

const CORE_EVENT: EventFields = EventFields {
    regarding: "involvedObject",
    message: "message",
    first: "firstTimestamp",
    last: "lastTimestamp",
    count: "count",
};

const EVENTS_V1: EventFields = EventFields {
    regarding: "regarding",
    message: "note",
    first: "deprecatedFirstTimestamp",
    last: "deprecatedLastTimestamp",
    count: "deprecatedCount",
};

fn event_source(ev: &Value) -> String {
    let component = str_or(ev, &["source", "component"], "");
    let (first, second) = if component.is_empty() {
        (
            str_or(ev, &["reportingController"], ""),
            str_or(ev, &["reportingInstance"], ""),
        )
    } else {
        (component, str_or(ev, &["source", "host"], ""))
    };
    if second.is_empty() {
        first.to_string()
    } else {
        format!("{first}, {second}")
    }
}

fn event_row(ev: &Value, now: i64, f: &EventFields) -> Vec<Value> {
    let first = match str_at(ev, &[f.first]) {
        Some(at) if !at.is_empty() => age_since(Some(at), now),
        _ => age_since(str_at(ev, &["eventTime"]), now),
    };
    let mut last = match str_at(ev, &[f.last]) {
        Some(at) if !at.is_empty() => age_since(Some(at), now),
        _ => first.clone(),
    };
    let mut count = int0(ev, &[f.count]);
    if path(ev, &["series"]).is_some_and(|v| !matches!(v, Value::Null)) {
        last = age_since(str_at(ev, &["series", "lastObservedTime"]), now);
        count = int0(ev, &["series", "count"]);
    } else if count == 0 {
        count = 1;
    }
    let kind = str_or(ev, &[f.regarding, "kind"], "").to_ascii_lowercase();
    let target = match str_or(ev, &[f.regarding, "name"], "") {
        "" => kind,
        object => format!("{kind}/{object}"),
    };
    vec![
        s(&last),
        s(str_or(ev, &["type"], "")),
        s(str_or(ev, &["reason"], "")),
        s(&target),
        s(str_or(ev, &[f.regarding, "fieldPath"], "")),
        s(&event_source(ev)),
        s(str_or(ev, &[f.message], "").trim()),
        s(&first),
        int(count),
        s(name(ev)),
    ]
}

fn core_event(ev: &Value, now: i64) -> Vec<Value> {
    event_row(ev, now, &CORE_EVENT)
}

fn events_v1_event(ev: &Value, now: i64) -> Vec<Value> {
    event_row(ev, now, &EVENTS_V1)
}

fn map_len(object: &Value, keys: &[&str]) -> i64 {
    object_at(object, keys).map_or(0, |m| m.len() as i64)
}

const CONFIG_MAP: &[Column] = &[NAME, col("Data", "string"), AGE];

fn config_map(cm: &Value, now: i64) -> Vec<Value> {
    let data = map_len(cm, &["data"]) + map_len(cm, &["binaryData"]);
    vec![s(name(cm)), int(data), age(cm, now)]
}

const SECRET: &[Column] = &[NAME, col("Type", "string"), col("Data", "string"), AGE];

fn secret(sec: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(sec)),
        s(str_or(sec, &["type"], "Opaque")),
        int(map_len(sec, &["data"])),
        age(sec, now),
    ]
}

const SERVICE_ACCOUNT: &[Column] = &[NAME, col("Secrets", "string"), AGE];

fn service_account(sa: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(sa)),
        int(arr_at(sa, &["secrets"]).len() as i64),
        age(sa, now),
    ]
}

/// `RWO,ROX,RWX,RWOP` in upstream's fixed order.
fn access_modes(object: &Value, keys: &[&str]) -> String {
    let modes: Vec<&str> = arr_at(object, keys)
        .iter()
        .filter_map(|m| match m {
            Value::String(text) => Some(text.as_str()),
            _ => None,
        })
        .collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(long, _)| modes.contains(long))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

fn storage_class_of(object: &Value) -> &str {
    let annotation = str_at(
        object,
        &[
            "metadata",
            "annotations",
            "volume.beta.kubernetes.io/storage-class",
        ],
    );
    annotation.unwrap_or_else(|| str_or(object, &["spec", "storageClassName"], ""))
}

fn phase_or_terminating(object: &Value) -> &str {
    if deleting(object) {
        "Terminating"
    } else {
        str_or(object, &["status", "phase"], "")
    }
}

const PERSISTENT_VOLUME: &[Column] = &[
    NAME,
    col("Capacity", "string"),
    col("Access Modes", "string"),
    col("Reclaim Policy", "string"),
    col("Status", "string"),
    col("Claim", "string"),
    col("StorageClass", "string"),
    col("VolumeAttributesClass", "string"),
    col("Reason", "string"),
    AGE,
    wide("VolumeMode", "string"),
];

fn persistent_volume(pv: &Value, now: i64) -> Vec<Value> {
    let claim = match path(pv, &["spec", "claimRef"]) {
        Some(c @ Value::Object(_)) => format!(
            "{}/{}",
            str_or(c, &["namespace"], ""),
            str_or(c, &["name"], "")
        ),
        _ => String::new(),
    };
    vec![
        s(name(pv)),
        s(&str_at(pv, &["spec", "capacity", "storage"]).map_or(String::new(), str::to_string)),
        s(&access_modes(pv, &["spec", "accessModes"])),
        s(str_or(pv, &["spec", "persistentVolumeReclaimPolicy"], "")),
        s(phase_or_terminating(pv)),
        s(&claim),
        s(storage_class_of(pv)),
        s(str_or(
            pv,
            &["spec", "volumeAttributesClassName"],
            "<unset>",
        )),
        s(str_or(pv, &["status", "reason"], "")),
        age(pv, now),
        s(str_or(pv, &["spec", "volumeMode"], "<unset>")),
    ]
}

const PERSISTENT_VOLUME_CLAIM: &[Column] = &[
    NAME,
    col("Status", "string"),
    col("Volume", "string"),
    col("Capacity", "string"),
    col("Access Modes", "string"),
    col("StorageClass", "string"),
    col("VolumeAttributesClass", "string"),
    AGE,
    wide("VolumeMode", "string"),
];

fn persistent_volume_claim(pvc: &Value, now: i64) -> Vec<Value> {
    let volume = str_or(pvc, &["spec", "volumeName"], "");
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            str_or(pvc, &["status", "capacity", "storage"], "").to_string(),
            access_modes(pvc, &["status", "accessModes"]),
        )
    };
    vec![
        s(name(pvc)),
        s(phase_or_terminating(pvc)),
        s(volume),
        s(&capacity),
        s(&modes),
        s(storage_class_of(pvc)),
        s(str_or(
            pvc,
            &["spec", "volumeAttributesClassName"],
            "<unset>",
        )),
        age(pvc, now),
        s(str_or(pvc, &["spec", "volumeMode"], "<unset>")),
    ]
}

const NAME_CREATED_AT: &[Column] = &[NAME, CREATED_AT];

/// Roles, ClusterRoles, LimitRanges and CRDs print their creation time, not an age.
fn name_created_at(object: &Value, _now: i64) -> Vec<Value> {
    vec![
        s(name(object)),
        s(str_or(object, &["metadata", "creationTimestamp"], "")),
    ]
}

const BINDING: &[Column] = &[
    NAME,
    col("Role", "string"),
    AGE,
    wide("Users", "string"),
    wide("Groups", "string"),
    wide("ServiceAccounts", "string"),
];

fn binding(rb: &Value, now: i64) -> Vec<Value> {
    let subjects = arr_at(rb, &["subjects"]);
    let of_kind = |kind: &str| {
        subjects
            .iter()
            .filter(|sub| str_at(sub, &["kind"]) == Some(kind))
            .map(|sub| match kind {
                "ServiceAccount" => format!(
                    "{}/{}",
                    str_or(sub, &["namespace"], ""),
                    str_or(sub, &["name"], "")
                ),
                _ => str_or(sub, &["name"], "").to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    vec![
        s(name(rb)),
        s(&format!(
            "{}/{}",
            str_or(rb, &["roleRef", "kind"], ""),
            str_or(rb, &["roleRef", "name"], "")
        )),
        age(rb, now),
        s(&of_kind("User")),
        s(&of_kind("Group")),
        s(&of_kind("ServiceAccount")),
    ]
}

const LEASE: &[Column] = &[NAME, col("Holder", "string"), AGE];

fn lease(l: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(l)),
        s(str_or(l, &["spec", "holderIdentity"], "<unknown>")),
        age(l, now),
    ]
}

const PRIORITY_CLASS: &[Column] = &[
    NAME,
    col("Value", "integer"),
    col("Global-Default", "boolean"),
    AGE,
    wide("PreemptionPolicy", "string"),
];

fn priority_class(pc: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(pc)),
        int(int0(pc, &["value"])),
        b(matches!(
            path(pc, &["globalDefault"]),
            Some(Value::Bool(true))
        )),
        age(pc, now),
        s(str_or(pc, &["preemptionPolicy"], "<unset>")),
    ]
}

const STORAGE_CLASS: &[Column] = &[
    NAME,
    col("Provisioner", "string"),
    col("ReclaimPolicy", "string"),
    col("VolumeBindingMode", "string"),
    col("AllowVolumeExpansion", "string"),
    AGE,
];

fn storage_class(sc: &Value, now: i64) -> Vec<Value> {
    let default_keys = [
        "storageclass.kubernetes.io/is-default-class",
        "storageclass.beta.kubernetes.io/is-default-class",
    ];
    let is_default = default_keys
        .iter()
        .any(|k| str_at(sc, &["metadata", "annotations", k]) == Some("true"));
    let mut shown = name(sc).to_string();
    if is_default {
        shown.push_str(" (default)");
    }
    let expansion = matches!(path(sc, &["allowVolumeExpansion"]), Some(Value::Bool(true)));
    vec![
        s(&shown),
        s(str_or(sc, &["provisioner"], "")),
        s(str_or(sc, &["reclaimPolicy"], "Delete")),
        s(str_or(sc, &["volumeBindingMode"], "Immediate")),
        b(expansion),
        age(sc, now),
    ]
}

const PDB: &[Column] = &[
    NAME,
    col("Min Available", "string"),
    col("Max Unavailable", "string"),
    col("Allowed Disruptions", "integer"),
    AGE,
];

fn int_or_string(object: &Value, keys: &[&str]) -> String {
    match path(object, keys) {
        None | Some(Value::Null) => "N/A".into(),
        Some(v) => plain(v),
    }
}

fn pdb(p: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(p)),
        s(&int_or_string(p, &["spec", "minAvailable"])),
        s(&int_or_string(p, &["spec", "maxUnavailable"])),
        int(int0(p, &["status", "disruptionsAllowed"])),
        age(p, now),
    ]
}

const RESOURCE_QUOTA: &[Column] = &[NAME, AGE, col("Request", "string"), col("Limit", "string")];

fn resource_quota(q: &Value, now: i64) -> Vec<Value> {
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for (resource, hard) in object_at(q, &["status", "hard"]).into_iter().flatten() {
        let used = path(q, &["status", "used", resource]).map_or("0".into(), plain);
        let text = format!("{resource}: {used}/{}", plain(hard));
        if matches!(resource.as_str(), "limits.cpu" | "limits.memory") {
            limits.push(text);
        } else {
            requests.push(text);
        }
    }
    vec![
        s(name(q)),
        age(q, now),
        s(&requests.join(", ")),
        s(&limits.join(", ")),
    ]
}

const fn printer(
    group: &'static str,
    kind: &'static str,
    columns: &'static [Column],
    cells: super::CellFn,
) -> Printer {
    Printer {
        group,
        kind,
        columns,
        cells,
    }
}

pub(super) const PRINTERS: &[Printer] = &[
    printer("", "Namespace", NAMESPACE, namespace),
    printer("", "Node", NODE, node),
    printer("", "Event", EVENT, core_event),
    printer("events.k8s.io", "Event", EVENT, events_v1_event),
    printer("", "ConfigMap", CONFIG_MAP, config_map),
    printer("", "Secret", SECRET, secret),
    printer("", "ServiceAccount", SERVICE_ACCOUNT, service_account),
    printer("", "PersistentVolume", PERSISTENT_VOLUME, persistent_volume),
    printer(
        "",
        "PersistentVolumeClaim",
        PERSISTENT_VOLUME_CLAIM,
        persistent_volume_claim,
    ),
    printer("", "LimitRange", NAME_CREATED_AT, name_created_at),
    printer("", "ResourceQuota", RESOURCE_QUOTA, resource_quota),
    printer(
        "rbac.authorization.k8s.io",
        "Role",
        NAME_CREATED_AT,
        name_created_at,
    ),
    printer(
        "rbac.authorization.k8s.io",
        "ClusterRole",
        NAME_CREATED_AT,
        name_created_at,
    ),
    printer("rbac.authorization.k8s.io", "RoleBinding", BINDING, binding),
    printer(
        "rbac.authorization.k8s.io",
        "ClusterRoleBinding",
        BINDING,
        binding,
    ),
    printer(
        "apiextensions.k8s.io",
        "CustomResourceDefinition",
        NAME_CREATED_AT,
        name_created_at,
    ),
    printer("coordination.k8s.io", "Lease", LEASE, lease),
    printer(
        "scheduling.k8s.io",
        "PriorityClass",
        PRIORITY_CLASS,
        priority_class,
    ),
    printer(
        "storage.k8s.io",
        "StorageClass",
        STORAGE_CLASS,
        storage_class,
    ),
    printer("policy", "PodDisruptionBudget", PDB, pdb),
];
