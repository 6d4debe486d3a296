//! core/v1 Events the controllers and the scheduler record about the objects they act on
//! (what `kubectl describe` lists), in the object's namespace. The store keeps events in
//! memory only (a volatile prefix). Recording never blocks or fails a sync: each event is
//! written by its own detached task, and a failed write is dropped as upstream's recorder
//! drops events under pressure.

use std::time::{SystemTime, UNIX_EPOCH};

use async_executor::LocalExecutor;
use miniserde::json::Value;

use super::client::{Client, paths};
use super::objects::{int, object, string};
use crate::object::{meta, time};

/// Who records and how the event reads.
pub struct Event<'a> {
    /// `Normal` or `Warning`.
    pub kind: &'a str,
    pub reason: &'a str,
    pub message: String,
    /// The reporting component, e.g. `deployment-controller`.
    pub component: &'a str,
}

/// Writes the event about `regarding` in the background.
pub fn emit(
    executor: &LocalExecutor<'static>,
    client: &Client,
    regarding: &Value,
    event: Event<'_>,
) {
    let body = build(regarding, &event);
    let path = paths::events(meta::namespace(regarding).unwrap_or("default"));
    let client = client.clone();
    executor
        .spawn(async move {
            let _dropped_on_failure = client.create(&path, &body).await;
        })
        .detach();
}

fn build(regarding: &Value, e: &Event<'_>) -> Value {
    let ns = meta::namespace(regarding).unwrap_or("default");
    let name = meta::name(regarding).unwrap_or("");
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let now = time::format_rfc3339(time::now_unix());
    let field = |path: &[&str]| string(meta::get_str(regarding, path).unwrap_or(""));
    object([
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
                ("apiVersion", field(&["apiVersion"])),
                ("kind", field(&["kind"])),
                ("namespace", string(ns)),
                ("name", string(name)),
                ("uid", field(&["metadata", "uid"])),
                ("resourceVersion", field(&["metadata", "resourceVersion"])),
            ]),
        ),
        ("reason", string(e.reason)),
        ("message", string(e.message.clone())),
        ("source", object([("component", string(e.component))])),
        ("firstTimestamp", string(now.clone())),
        ("lastTimestamp", string(now)),
        ("count", int(1)),
        ("type", string(e.kind)),
        ("eventTime", Value::Null),
        ("reportingComponent", string(e.component)),
        ("reportingInstance", string("")),
    ])
}
