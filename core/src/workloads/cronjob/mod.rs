//! The CronJob controller: creates a Job from `jobTemplate` at each scheduled time (UTC, or
//! the wall clock of `spec.timeZone`),
//! named `<cronjob>-<minutes since the epoch>`, honouring suspend, concurrencyPolicy
//! (Allow, Forbid, Replace) and startingDeadlineSeconds; keeps status.active,
//! lastScheduleTime and lastSuccessfulTime; deletes finished Jobs beyond the history limits.
//! A timer wakes each CronJob at its next scheduled time, the one clock it needs.

mod schedule;
pub mod zone;

use std::rc::Rc;
use std::time::Duration;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys};
use super::events::{self, Event};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, array, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::patch::value::values_equal;

const CRON_JOBS: &str = "/registry/batch/cronjobs/";
const SCHEDULED_AT: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

pub struct CronJobController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
}

/// Starts the controller: feeds from CronJobs and Jobs, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(CronJobController {
        client: Client::new(server, "cronjob-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_cron = move |c: Change| queue.add_key(c.latest().and_then(queue_key));
    executor
        .spawn(feed::follow(
            store.clone(),
            CRON_JOBS.into(),
            Rc::new(on_cron),
        ))
        .detach();
    let queue = Rc::clone(&ctl.queue);
    let on_job = move |c: Change| {
        for job in [&c.old, &c.new].into_iter().flatten() {
            if let Some(("CronJob", name, _)) = objects::controller_of(job) {
                queue.add(format!("{}/{name}", meta::namespace(job).unwrap_or("")));
            }
        }
    };
    executor
        .spawn(feed::follow(store, keys::JOBS.into(), Rc::new(on_job)))
        .detach();
    let worker = Rc::clone(&ctl);
    executor
        .spawn(queue::run_worker(
            Rc::clone(&ctl.queue),
            Rc::clone(executor),
            move |key| {
                let ctl = Rc::clone(&worker);
                async move { ctl.sync(&key).await }
            },
        ))
        .detach();
}

/// `Complete` or `Failed` when the Job has finished.
fn finished(job: &Value) -> Option<&'static str> {
    ["Complete", "Failed"].into_iter().find(|kind| {
        objects::condition(job, kind).and_then(|c| meta::get_str(c, &["status"])) == Some("True")
    })
}

fn job_ref(job: &Value) -> Value {
    let field = |p: &[&str]| string(meta::get_str(job, p).unwrap_or(""));
    object([
        ("apiVersion", string("batch/v1")),
        ("kind", string("Job")),
        ("name", field(&["metadata", "name"])),
        ("namespace", field(&["metadata", "namespace"])),
        ("uid", field(&["metadata", "uid"])),
        ("resourceVersion", field(&["metadata", "resourceVersion"])),
    ])
}

impl CronJobController {
    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(cj) = self.client.get(&format!("{CRON_JOBS}{ns}/{name}")) else {
            return Ok(());
        };
        if objects::is_deleting(&cj) {
            return Ok(());
        }
        let mut jobs = self.owned_jobs(&cj, ns);
        self.clean_history(&cj, ns, &mut jobs).await?;
        let mut status = self.observed_status(&cj, &jobs);
        let suspended = matches!(
            meta::get_path(&cj, &["spec", "suspend"]),
            Some(Value::Bool(true))
        );
        let schedule = meta::get_str(&cj, &["spec", "schedule"]).and_then(schedule::parse);
        let zone = match meta::get_str(&cj, &["spec", "timeZone"]) {
            Some(name) => zone::load(name)
                .await
                .map(Some)
                .map_err(|e| (name.to_owned(), e)),
            None => Ok(None),
        };
        match (zone, suspended, &schedule) {
            (Err((name, e)), _, _) => {
                let message = format!("invalid timeZone: {name:?}: {e}");
                self.event(&cj, "Warning", "UnknownTimeZone", message);
            }
            (Ok(zone), false, Some(schedule)) => {
                let zoned = zone::ZonedSchedule {
                    schedule,
                    zone: zone.as_deref(),
                };
                self.run_due(&cj, ns, &zoned, &jobs, &mut status).await?;
                self.wake_at_next(&cj, &zoned);
            }
            _ => {}
        }
        self.write_status(&cj, ns, status).await
    }

    /// Jobs this CronJob controls.
    fn owned_jobs(&self, cj: &Value, ns: &str) -> Vec<Value> {
        let uid = meta::uid(cj).unwrap_or("");
        self.client
            .list(&keys::in_namespace(keys::JOBS, ns))
            .into_iter()
            .filter(|j| objects::controller_of(j).map(|r| r.2) == Some(uid))
            .collect()
    }

    /// status.active from the unfinished Jobs; lastSuccessfulTime from the newest
    /// completion.
    fn observed_status(&self, cj: &Value, jobs: &[Value]) -> Object {
        let mut status = match meta::get_path(cj, &["status"]) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        let active: Vec<Value> = jobs
            .iter()
            .filter(|j| finished(j).is_none())
            .map(job_ref)
            .collect();
        if active.is_empty() {
            status.remove("active");
        } else {
            status.insert("active".to_owned(), array(active));
        }
        let last_success = jobs
            .iter()
            .filter(|j| finished(j) == Some("Complete"))
            .filter_map(|j| meta::get_str(j, &["status", "completionTime"]))
            .max();
        if let Some(t) = last_success {
            status.insert("lastSuccessfulTime".to_owned(), string(t));
        }
        status
    }

    /// Starts the Job of the latest missed schedule, if the policies allow.
    async fn run_due(
        &self,
        cj: &Value,
        ns: &str,
        schedule: &zone::ZonedSchedule<'_>,
        jobs: &[Value],
        status: &mut Object,
    ) -> Result<(), WriteError> {
        let now = time::now_unix();
        let since = meta::get_str(cj, &["status", "lastScheduleTime"])
            .or_else(|| meta::get_str(cj, &["metadata", "creationTimestamp"]))
            .and_then(time::parse_rfc3339)
            .unwrap_or(now);
        let (Some(due), missed) = schedule.latest_between(since, now, 101) else {
            return Ok(());
        };
        if missed > 100 {
            let message = "too many missed start times (> 100); check clock skew".to_owned();
            self.event(cj, "Warning", "TooManyMissedTimes", message);
        }
        if let Some(deadline) = meta::get_i64(cj, &["spec", "startingDeadlineSeconds"])
            && due + deadline < now
        {
            return Ok(());
        }
        let active: Vec<&Value> = jobs.iter().filter(|j| finished(j).is_none()).collect();
        match meta::get_str(cj, &["spec", "concurrencyPolicy"]).unwrap_or("Allow") {
            "Forbid" if !active.is_empty() => {
                let message =
                    "Cannot determine if job needs to be started: forbidden by concurrency policy"
                        .to_owned();
                self.event(cj, "Normal", "JobAlreadyActive", message);
                return Ok(());
            }
            "Replace" => {
                for job in active {
                    self.delete_job(cj, ns, job).await?;
                }
            }
            _ => {}
        }
        let created = self.create_job(cj, ns, due, &schedule.format(due)).await?;
        if let Some(job) = created {
            let mut refs = match status.remove("active") {
                Some(Value::Array(a)) => a,
                _ => Default::default(),
            };
            refs.push(job_ref(&job));
            status.insert("active".to_owned(), Value::Array(refs));
        }
        status.insert(
            "lastScheduleTime".to_owned(),
            string(time::format_rfc3339(due)),
        );
        Ok(())
    }

    /// The Job for the firing at `due`; `None` when it already exists.
    async fn create_job(
        &self,
        cj: &Value,
        ns: &str,
        due: i64,
        scheduled_at: &str,
    ) -> Result<Option<Value>, WriteError> {
        let template = meta::get_path(cj, &["spec", "jobTemplate"]);
        let mut md = Object::new();
        for field in ["labels", "annotations"] {
            if let Some(v) = template.and_then(|t| meta::get_path(t, &["metadata", field])) {
                md.insert(field.to_owned(), v.clone());
            }
        }
        let name = format!("{}-{}", meta::name(cj).unwrap_or(""), due.div_euclid(60));
        md.insert("name".to_owned(), string(name.clone()));
        let mut annotations = match md.remove("annotations") {
            Some(Value::Object(o)) => o,
            _ => Object::new(),
        };
        annotations.insert(SCHEDULED_AT.to_owned(), string(scheduled_at));
        md.insert("annotations".to_owned(), Value::Object(annotations));
        md.insert(
            "ownerReferences".to_owned(),
            array(vec![objects::controller_reference(
                "batch/v1", "CronJob", cj,
            )]),
        );
        let spec = template
            .and_then(|t| meta::get_path(t, &["spec"]))
            .cloned()
            .unwrap_or(Value::Null);
        let job = object([
            ("apiVersion", string("batch/v1")),
            ("kind", string("Job")),
            ("metadata", Value::Object(md)),
            ("spec", spec),
        ]);
        let path = format!("/apis/batch/v1/namespaces/{ns}/jobs");
        match self.client.create(&path, &job).await {
            Ok(created) => {
                self.event(
                    cj,
                    "Normal",
                    "SuccessfulCreate",
                    format!("Created job {name}"),
                );
                Ok(Some(created))
            }
            Err(WriteError::AlreadyExists) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Deletes the oldest finished Jobs beyond successful/failedJobsHistoryLimit (3 and 1).
    async fn clean_history(
        &self,
        cj: &Value,
        ns: &str,
        jobs: &mut Vec<Value>,
    ) -> Result<(), WriteError> {
        for (kind, field, default) in [
            ("Complete", "successfulJobsHistoryLimit", 3),
            ("Failed", "failedJobsHistoryLimit", 1),
        ] {
            let limit = usize::try_from(objects::spec_i64(cj, field, default)).unwrap_or(0);
            let mut done: Vec<Value> = jobs
                .iter()
                .filter(|j| finished(j) == Some(kind))
                .cloned()
                .collect();
            done.sort_by_key(|j| objects::creation_time(j).to_owned());
            let excess = done.len().saturating_sub(limit);
            for job in done.iter().take(excess) {
                self.delete_job(cj, ns, job).await?;
                jobs.retain(|j| meta::uid(j) != meta::uid(job));
            }
        }
        Ok(())
    }

    async fn delete_job(&self, cj: &Value, ns: &str, job: &Value) -> Result<(), WriteError> {
        let name = meta::name(job).unwrap_or("");
        let path =
            format!("/apis/batch/v1/namespaces/{ns}/jobs/{name}?propagationPolicy=Background");
        match self.client.delete(&path).await {
            Ok(()) => {
                self.event(
                    cj,
                    "Normal",
                    "SuccessfulDelete",
                    format!("Deleted job {name}"),
                );
                Ok(())
            }
            Err(WriteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn wake_at_next(&self, cj: &Value, schedule: &zone::ZonedSchedule<'_>) {
        let now = time::now_unix();
        let (Some(next), Some(key)) = (schedule.next_after(now), queue_key(cj)) else {
            return;
        };
        let delay = Duration::from_secs(u64::try_from(next - now).unwrap_or(1).max(1));
        self.queue.add_after(&self.executor, key, delay);
    }

    fn event(&self, cj: &Value, kind: &'static str, reason: &'static str, message: String) {
        let event = Event {
            kind,
            reason,
            message,
            component: "cronjob-controller",
        };
        events::emit(&self.executor, &self.client, cj, event);
    }

    async fn write_status(&self, cj: &Value, ns: &str, status: Object) -> Result<(), WriteError> {
        let status = Value::Object(status);
        let current = meta::get_path(cj, &["status"])
            .cloned()
            .unwrap_or_else(|| Value::Object(Object::new()));
        if values_equal(&current, &status) {
            return Ok(());
        }
        let mut updated = cj.clone();
        if let Some(o) = meta::as_object_mut(&mut updated) {
            o.insert("status".to_owned(), status);
        }
        let path = format!(
            "/apis/batch/v1/namespaces/{ns}/cronjobs/{}/status",
            meta::name(cj).unwrap_or("")
        );
        self.client.update(&path, &updated).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests;
