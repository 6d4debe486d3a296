//! Printers for workload controllers: Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
//! CronJob, ReplicationController, PodTemplate and ControllerRevision.

use miniserde::json::Value;

use super::age::{age_since, human_duration, parse_rfc3339};
use super::cells::{
    age, bool_text, containers_field, deleting, format_labels, format_selector, int0, name,
    object_at, str_or,
};
use super::{AGE, Column, NAME, Printer, col, wide};
use crate::registry::json::{arr_at, int, int_at, path, s, str_at};

const TEMPLATE: &[&str] = &["spec", "template", "spec"];
const CRON_TEMPLATE: &[&str] = &["spec", "jobTemplate", "spec", "template", "spec"];

/// Containers, Images and Selector wide cells of a pod template at `spec`.
fn template_cells(object: &Value, spec: &[&str], selector: Option<&Value>) -> [Value; 3] {
    [
        s(&containers_field(object, spec, "name")),
        s(&containers_field(object, spec, "image")),
        s(&format_selector(selector)),
    ]
}

/// Desired replicas; the API defaults an absent spec.replicas to 1.
fn desired(object: &Value) -> i64 {
    int_at(object, &["spec", "replicas"]).unwrap_or(1)
}

const DEPLOYMENT: &[Column] = &[
    NAME,
    col("Ready", "string"),
    col("Up-to-date", "integer"),
    col("Available", "integer"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
    wide("Selector", "string"),
];

fn deployment(d: &Value, now: i64) -> Vec<Value> {
    let ready = int0(d, &["status", "readyReplicas"]);
    let mut row = vec![
        s(name(d)),
        s(&format!("{ready}/{}", desired(d))),
        int(int0(d, &["status", "updatedReplicas"])),
        int(int0(d, &["status", "availableReplicas"])),
        age(d, now),
    ];
    row.extend(template_cells(d, TEMPLATE, path(d, &["spec", "selector"])));
    row
}

const REPLICA_SET: &[Column] = &[
    NAME,
    col("Desired", "integer"),
    col("Current", "integer"),
    col("Ready", "integer"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
    wide("Selector", "string"),
];

fn replica_set(rs: &Value, now: i64) -> Vec<Value> {
    let mut row = vec![
        s(name(rs)),
        int(desired(rs)),
        int(int0(rs, &["status", "replicas"])),
        int(int0(rs, &["status", "readyReplicas"])),
        age(rs, now),
    ];
    row.extend(template_cells(
        rs,
        TEMPLATE,
        path(rs, &["spec", "selector"]),
    ));
    row
}

/// ReplicationController: same columns, but its selector is a plain label map.
fn replication_controller(rc: &Value, now: i64) -> Vec<Value> {
    let mut row = replica_set(rc, now);
    row[7] = s(&format_labels(object_at(rc, &["spec", "selector"])));
    row
}

const STATEFUL_SET: &[Column] = &[
    NAME,
    col("Ready", "string"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
];

fn stateful_set(sts: &Value, now: i64) -> Vec<Value> {
    let ready = int0(sts, &["status", "readyReplicas"]);
    vec![
        s(name(sts)),
        s(&format!("{ready}/{}", desired(sts))),
        age(sts, now),
        s(&containers_field(sts, TEMPLATE, "name")),
        s(&containers_field(sts, TEMPLATE, "image")),
    ]
}

const DAEMON_SET: &[Column] = &[
    NAME,
    col("Desired", "integer"),
    col("Current", "integer"),
    col("Ready", "integer"),
    col("Up-to-date", "integer"),
    col("Available", "integer"),
    col("Node Selector", "string"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
    wide("Selector", "string"),
];

fn daemon_set(ds: &Value, now: i64) -> Vec<Value> {
    let status = |field| int(int0(ds, &["status", field]));
    let mut row = vec![
        s(name(ds)),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        s(&format_labels(object_at(
            ds,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        age(ds, now),
    ];
    row.extend(template_cells(
        ds,
        TEMPLATE,
        path(ds, &["spec", "selector"]),
    ));
    row
}

const JOB: &[Column] = &[
    NAME,
    col("Status", "string"),
    col("Completions", "string"),
    col("Duration", "string"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
    wide("Selector", "string"),
];

fn has_condition(object: &Value, kind: &str) -> bool {
    arr_at(object, &["status", "conditions"])
        .iter()
        .any(|c| str_at(c, &["type"]) == Some(kind) && str_at(c, &["status"]) == Some("True"))
}

/// Upstream's order (kubernetes PR 123226, 1.30): terminal conditions first, then deletion,
/// suspension and a pending failure.
fn job_status(job: &Value) -> &'static str {
    if has_condition(job, "Complete") {
        "Complete"
    } else if has_condition(job, "Failed") {
        "Failed"
    } else if deleting(job) {
        "Terminating"
    } else if has_condition(job, "Suspended") {
        "Suspended"
    } else if has_condition(job, "FailureTarget") {
        "FailureTarget"
    } else {
        "Running"
    }
}

fn job_completions(job: &Value) -> String {
    let succeeded = int0(job, &["status", "succeeded"]);
    match int_at(job, &["spec", "completions"]) {
        Some(completions) => format!("{succeeded}/{completions}"),
        None => match int_at(job, &["spec", "parallelism"]).unwrap_or(1) {
            p if p > 1 => format!("{succeeded}/1 of {p}"),
            _ => format!("{succeeded}/1"),
        },
    }
}

fn job_duration(job: &Value, now: i64) -> String {
    let time = |field| str_at(job, &["status", field]).and_then(parse_rfc3339);
    match (time("startTime"), time("completionTime")) {
        (None, _) => String::new(),
        (Some(start), None) => human_duration(now - start),
        (Some(start), Some(end)) => human_duration(end - start),
    }
}

fn job(j: &Value, now: i64) -> Vec<Value> {
    let mut row = vec![
        s(name(j)),
        s(job_status(j)),
        s(&job_completions(j)),
        s(&job_duration(j, now)),
        age(j, now),
    ];
    row.extend(template_cells(j, TEMPLATE, path(j, &["spec", "selector"])));
    row
}

const CRON_JOB: &[Column] = &[
    NAME,
    col("Schedule", "string"),
    col("Timezone", "string"),
    col("Suspend", "boolean"),
    col("Active", "integer"),
    col("Last Schedule", "string"),
    AGE,
    wide("Containers", "string"),
    wide("Images", "string"),
    wide("Selector", "string"),
];

fn cron_job(cj: &Value, now: i64) -> Vec<Value> {
    let last = match str_at(cj, &["status", "lastScheduleTime"]) {
        Some(at) => age_since(Some(at), now),
        None => "<none>".into(),
    };
    let mut row = vec![
        s(name(cj)),
        s(str_or(cj, &["spec", "schedule"], "")),
        s(str_or(cj, &["spec", "timeZone"], "<none>")),
        s(bool_text(path(cj, &["spec", "suspend"]))),
        int(arr_at(cj, &["status", "active"]).len() as i64),
        s(&last),
        age(cj, now),
    ];
    let selector = path(cj, &["spec", "jobTemplate", "spec", "selector"]);
    row.extend(template_cells(cj, CRON_TEMPLATE, selector));
    row
}

const POD_TEMPLATE: &[Column] = &[
    NAME,
    col("Containers", "string"),
    col("Images", "string"),
    col("Pod Labels", "string"),
];

fn pod_template(pt: &Value, _now: i64) -> Vec<Value> {
    let spec = &["template", "spec"];
    vec![
        s(name(pt)),
        s(&containers_field(pt, spec, "name")),
        s(&containers_field(pt, spec, "image")),
        s(&format_labels(object_at(
            pt,
            &["template", "metadata", "labels"],
        ))),
    ]
}

const CONTROLLER_REVISION: &[Column] = &[
    NAME,
    col("Controller", "string"),
    col("Revision", "integer"),
    AGE,
];

/// `daemonset.apps/web` for the controlling owner, `<none>` without one.
fn controller_name(object: &Value) -> String {
    let owners = arr_at(object, &["metadata", "ownerReferences"]);
    let Some(owner) = owners
        .iter()
        .find(|o| matches!(path(o, &["controller"]), Some(Value::Bool(true))))
    else {
        return "<none>".into();
    };
    let kind = str_or(owner, &["kind"], "").to_ascii_lowercase();
    let api_version = str_or(owner, &["apiVersion"], "");
    let owner_name = str_or(owner, &["name"], "");
    match api_version.split_once('/') {
        Some((group, _)) => format!("{kind}.{group}/{owner_name}"),
        None => format!("{kind}/{owner_name}"),
    }
}

fn controller_revision(cr: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(cr)),
        s(&controller_name(cr)),
        int(int0(cr, &["revision"])),
        age(cr, now),
    ]
}

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "apps",
        kind: "Deployment",
        columns: DEPLOYMENT,
        cells: deployment,
    },
    Printer {
        group: "apps",
        kind: "ReplicaSet",
        columns: REPLICA_SET,
        cells: replica_set,
    },
    Printer {
        group: "",
        kind: "ReplicationController",
        columns: REPLICA_SET,
        cells: replication_controller,
    },
    Printer {
        group: "apps",
        kind: "StatefulSet",
        columns: STATEFUL_SET,
        cells: stateful_set,
    },
    Printer {
        group: "apps",
        kind: "DaemonSet",
        columns: DAEMON_SET,
        cells: daemon_set,
    },
    Printer {
        group: "batch",
        kind: "Job",
        columns: JOB,
        cells: job,
    },
    Printer {
        group: "batch",
        kind: "CronJob",
        columns: CRON_JOB,
        cells: cron_job,
    },
    Printer {
        group: "",
        kind: "PodTemplate",
        columns: POD_TEMPLATE,
        cells: pod_template,
    },
    Printer {
        group: "apps",
        kind: "ControllerRevision",
        columns: CONTROLLER_REVISION,
        cells: controller_revision,
    },
];
