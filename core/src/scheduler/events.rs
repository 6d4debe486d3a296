//! core/v1 Events the scheduler records about pods (Scheduled, FailedScheduling), in the
//! pod's namespace; the store keeps them in memory only (a volatile prefix).

use std::time::{SystemTime, UNIX_EPOCH};

use miniserde::json::Value;

use crate::object::{meta, time};
use crate::workloads::client::{Client, WriteError, paths};
use crate::workloads::objects::{int, object, string};

pub async fn record(
    client: &Client,
    pod: &Value,
    kind: &str,
    reason: &str,
    message: &str,
) -> Result<(), WriteError> {
    let ns = meta::namespace(pod).unwrap_or("");
    let name = meta::name(pod).unwrap_or("");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let now = time::format_rfc3339(time::now_unix());
    let event = object([
        ("apiVersion", string("v1")),
        ("kind", string("Event")),
        (
            "metadata",
            object([
                ("name", string(format!("{name}.{nanos:x}"))),
                ("namespace", string(ns)),
            ]),
        ),
        (
            "involvedObject",
            object([
                ("apiVersion", string("v1")),
                ("kind", string("Pod")),
                ("namespace", string(ns)),
                ("name", string(name)),
                ("uid", string(meta::uid(pod).unwrap_or(""))),
                (
                    "resourceVersion",
                    string(meta::resource_version(pod).unwrap_or("")),
                ),
            ]),
        ),
        ("reason", string(reason)),
        ("message", string(message)),
        (
            "source",
            object([("component", string(super::SCHEDULER_NAME))]),
        ),
        ("firstTimestamp", string(now.clone())),
        ("lastTimestamp", string(now)),
        ("count", int(1)),
        ("type", string(kind)),
        (
            "eventTime",
            string(time::format_rfc3339_micros(SystemTime::now())),
        ),
        ("action", string("Scheduling")),
        ("reportingComponent", string(super::SCHEDULER_NAME)),
        ("reportingInstance", string("")),
    ]);
    client.create(&paths::events(ns), &event).await.map(|_| ())
}
