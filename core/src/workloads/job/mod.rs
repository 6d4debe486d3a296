//! The Job controller: runs pods from the template until `completions` succeed (or, with
//! no completions, until one succeeds and the rest end), at most `parallelism` at once;
//! fails the Job past `backoffLimit` failed pods or `activeDeadlineSeconds`, deleting what
//! still runs; writes succeeded/failed/active/ready and the Complete/Failed conditions;
//! deletes a finished Job after `ttlSecondsAfterFinished`. Pods are the Job's by
//! controller ownerReference and carry the job-name and controller-uid labels. Indexed
//! completion mode is in [`indexed`], podFailurePolicy in [`failure_policy`].

mod failure_policy;
mod indexed;

use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys, paths};
use super::events::{self, Event};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, int, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::{meta, time};
use crate::patch::value::values_equal;
use failure_policy::Outcome;

/// Upstream's pod failure backoff: 10 s, doubling per failure, at most 10 minutes.
const FAILURE_BACKOFF: Duration = Duration::from_secs(10);
const MAX_FAILURE_BACKOFF: Duration = Duration::from_secs(600);

pub struct JobController {
    client: Client,
    queue: Rc<WorkQueue>,
    executor: Rc<LocalExecutor<'static>>,
    /// Per Job key: the failed count last seen and when it was first seen (upstream keeps
    /// this backoff record in memory too).
    failures: RefCell<HashMap<String, (i64, Instant)>>,
}

/// Starts the controller: feeds from Jobs and pods, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(JobController {
        client: Client::new(server, "job-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
        executor: Rc::clone(executor),
        failures: RefCell::new(HashMap::new()),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_job = move |c: Change| {
        if let Some(key) = c.latest().and_then(queue_key) {
            queue.add(key);
        }
    };
    executor
        .spawn(feed::follow(
            store.clone(),
            keys::JOBS.into(),
            Rc::new(on_job),
        ))
        .detach();
    let queue = Rc::clone(&ctl.queue);
    let on_pod = move |c: Change| {
        for pod in [&c.old, &c.new].into_iter().flatten() {
            if let Some(("Job", name, _)) = objects::controller_of(pod) {
                queue.add(format!("{}/{name}", meta::namespace(pod).unwrap_or("")));
            }
        }
    };
    executor
        .spawn(feed::follow(store, keys::PODS.into(), Rc::new(on_pod)))
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

/// The Job's spec with upstream's defaults.
struct Spec {
    parallelism: i64,
    completions: Option<i64>,
    backoff_limit: i64,
    deadline: Option<i64>,
    ttl: Option<i64>,
    suspended: bool,
}

impl Spec {
    fn read(job: &Value) -> Spec {
        let completions = meta::get_i64(job, &["spec", "completions"]);
        Spec {
            parallelism: objects::spec_i64(job, "parallelism", 1),
            completions,
            backoff_limit: objects::spec_i64(job, "backoffLimit", 6),
            deadline: meta::get_i64(job, &["spec", "activeDeadlineSeconds"]),
            ttl: meta::get_i64(job, &["spec", "ttlSecondsAfterFinished"]),
            suspended: matches!(
                meta::get_path(job, &["spec", "suspend"]),
                Some(Value::Bool(true))
            ),
        }
    }
}

/// Pod counts of one Job.
#[derive(Default)]
struct Counts {
    active: Vec<Value>,
    ready: i64,
    succeeded: i64,
    failed: i64,
    terminating: i64,
    /// Indexed mode: the indexes with a succeeded pod (with those already recorded).
    succeeded_indexes: BTreeSet<i64>,
    /// The message of the first failed pod a FailJob rule of podFailurePolicy matched.
    policy_failure: Option<String>,
}

fn finished_condition(job: &Value) -> Option<&str> {
    ["Complete", "Failed"].into_iter().find(|kind| {
        objects::condition(job, kind).and_then(|c| meta::get_str(c, &["status"])) == Some("True")
    })
}

impl JobController {
    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let Some(job) = self.client.get(&keys::object(keys::JOBS, ns, name)) else {
            return Ok(());
        };
        if objects::is_deleting(&job) {
            return Ok(());
        }
        let spec = Spec::read(&job);
        if finished_condition(&job).is_some() {
            return self.expire(&job, ns, &spec).await;
        }
        let counts = self.count_pods(&job, ns);
        let verdict = self.verdict(&job, &spec, &counts);
        if let Some((kind, reason, message)) = verdict {
            for pod in &counts.active {
                self.delete_pod(ns, pod).await?;
            }
            match kind {
                "Complete" => self.event(&job, "Normal", "Completed", "Job completed".to_owned()),
                _ => self.event(&job, "Warning", reason, message.clone()),
            }
            return self
                .write_status(&job, ns, &counts, Some((kind, reason, &message)))
                .await;
        }
        if !spec.suspended {
            self.manage(&job, ns, &spec, &counts).await?;
        } else {
            for pod in &counts.active {
                self.delete_pod(ns, pod).await?;
            }
        }
        if let (Some(limit), Some(start)) = (spec.deadline, start_time(&job)) {
            let left = (start + limit - time::now_unix()).max(0) + 1;
            let delay = Duration::from_secs(u64::try_from(left).unwrap_or(1));
            self.queue.add_after(&self.executor, key.to_owned(), delay);
        }
        self.write_status(&job, ns, &counts, None).await
    }

    /// Pods the Job controls, counted; succeeded/failed never drop below what the status
    /// already recorded (a removed pod keeps counting).
    fn count_pods(&self, job: &Value, ns: &str) -> Counts {
        let uid = meta::uid(job).unwrap_or("");
        let mut c = Counts::default();
        let (mut succeeded, mut failed) = (0, 0);
        let indexed = indexed::is_indexed(job);
        let completions = meta::get_i64(job, &["spec", "completions"]).unwrap_or(0);
        if indexed {
            let recorded = meta::get_str(job, &["status", "completedIndexes"]).unwrap_or("");
            c.succeeded_indexes = indexed::parse_indexes(recorded);
        }
        for pod in self.client.list(&keys::in_namespace(keys::PODS, ns)) {
            if objects::controller_of(&pod).map(|r| r.2) != Some(uid) {
                continue;
            }
            match objects::phase(&pod) {
                "Succeeded" => {
                    succeeded += 1;
                    if let Some(i) = indexed::index_of(&pod).filter(|i| *i < completions) {
                        c.succeeded_indexes.insert(i);
                    }
                }
                "Failed" => match failure_policy::judge(job, &pod) {
                    Outcome::Ignore => {}
                    Outcome::Count => failed += 1,
                    Outcome::FailJob(message) => {
                        failed += 1;
                        c.policy_failure.get_or_insert(message);
                    }
                },
                _ if objects::is_deleting(&pod) => c.terminating += 1,
                _ => {
                    c.ready += i64::from(objects::is_ready(&pod));
                    c.active.push(pod);
                }
            }
        }
        let recorded = |f: &str| meta::get_i64(job, &["status", f]).unwrap_or(0);
        if indexed {
            succeeded = i64::try_from(c.succeeded_indexes.len()).unwrap_or(0);
        }
        c.succeeded = succeeded.max(recorded("succeeded"));
        c.failed = failed.max(recorded("failed"));
        c
    }

    /// Whether the Job has now finished: `(condition, reason, message)`.
    fn verdict(
        &self,
        job: &Value,
        spec: &Spec,
        c: &Counts,
    ) -> Option<(&'static str, &'static str, String)> {
        if let Some(message) = &c.policy_failure {
            return Some(("Failed", "PodFailurePolicy", message.clone()));
        }
        if c.failed > spec.backoff_limit {
            return Some((
                "Failed",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit".to_owned(),
            ));
        }
        let expired = spec
            .deadline
            .zip(start_time(job))
            .is_some_and(|(limit, start)| start + limit <= time::now_unix());
        if expired {
            return Some((
                "Failed",
                "DeadlineExceeded",
                "Job was active longer than specified deadline".to_owned(),
            ));
        }
        let complete = match spec.completions {
            Some(n) if indexed::is_indexed(job) => {
                i64::try_from(c.succeeded_indexes.len()).unwrap_or(0) >= n
            }
            Some(n) => c.succeeded >= n,
            None => c.succeeded >= 1 && c.active.is_empty(),
        };
        complete.then(|| {
            (
                "Complete",
                "CompletionsReached",
                "Reached expected number of succeeded pods".to_owned(),
            )
        })
    }

    async fn manage(
        &self,
        job: &Value,
        ns: &str,
        spec: &Spec,
        c: &Counts,
    ) -> Result<(), WriteError> {
        let remaining = match spec.completions {
            Some(n) => (n - c.succeeded).max(0),
            None if c.succeeded > 0 => 0,
            None => spec.parallelism,
        };
        let want = usize::try_from(spec.parallelism.min(remaining)).unwrap_or(0);
        let active = c.active.len();
        if active < want && self.backing_off(job, c.failed) {
            return Ok(());
        }
        if indexed::is_indexed(job) {
            return self.manage_indexed(job, ns, want, c).await;
        }
        if active < want {
            let pod = pod_from_template(job);
            for _ in active..want {
                self.create_pod(job, ns, &pod).await?;
            }
        } else {
            for pod in c.active.iter().skip(want) {
                self.delete_pod(ns, pod).await?;
            }
        }
        Ok(())
    }

    async fn create_pod(&self, job: &Value, ns: &str, pod: &Value) -> Result<(), WriteError> {
        let created = self.client.create(&paths::pods(ns), pod).await?;
        let message = format!("Created pod: {}", meta::name(&created).unwrap_or(""));
        self.event(job, "Normal", "SuccessfulCreate", message);
        Ok(())
    }

    /// Indexed mode: active pods of succeeded, out-of-range or duplicated indexes go (and
    /// the highest indexes past `want`); the lowest missing indexes get a pod each.
    async fn manage_indexed(
        &self,
        job: &Value,
        ns: &str,
        want: usize,
        c: &Counts,
    ) -> Result<(), WriteError> {
        let completions = meta::get_i64(job, &["spec", "completions"]).unwrap_or(0);
        let mut running: Vec<(i64, &Value)> = Vec::new();
        for pod in &c.active {
            let keep = indexed::index_of(pod).filter(|i| {
                *i < completions
                    && !c.succeeded_indexes.contains(i)
                    && !running.iter().any(|(j, _)| j == i)
            });
            match keep {
                Some(i) => running.push((i, pod)),
                None => self.delete_pod(ns, pod).await?,
            }
        }
        running.sort_by_key(|(i, _)| *i);
        for (_, pod) in running.iter().skip(want) {
            self.delete_pod(ns, pod).await?;
        }
        if running.len() >= want || self.backing_off(job, c.failed) {
            return Ok(());
        }
        let name = meta::name(job).unwrap_or("");
        let missing = (0..completions)
            .filter(|i| !c.succeeded_indexes.contains(i) && !running.iter().any(|(j, _)| j == i))
            .take(want - running.len());
        for index in missing {
            let mut pod = pod_from_template(job);
            indexed::assign(&mut pod, name, index);
            self.create_pod(job, ns, &pod).await?;
        }
        Ok(())
    }

    /// After `failed` pod failures, new pods wait 10 s * 2^(failed-1) from when the
    /// latest failure was seen; `true` (with a wake-up queued) while that lasts.
    fn backing_off(&self, job: &Value, failed: i64) -> bool {
        let key = queue_key(job).unwrap_or_default();
        if failed == 0 {
            self.failures.borrow_mut().remove(&key);
            return false;
        }
        let seen = {
            let mut failures = self.failures.borrow_mut();
            let entry = failures
                .entry(key.clone())
                .or_insert((failed, Instant::now()));
            if entry.0 != failed {
                *entry = (failed, Instant::now());
            }
            entry.1
        };
        let exponent = u32::try_from(failed - 1).unwrap_or(u32::MAX).min(16);
        let delay = FAILURE_BACKOFF
            .saturating_mul(1 << exponent)
            .min(MAX_FAILURE_BACKOFF);
        let elapsed = seen.elapsed();
        if elapsed >= delay {
            return false;
        }
        self.queue.add_after(&self.executor, key, delay - elapsed);
        true
    }

    async fn delete_pod(&self, ns: &str, pod: &Value) -> Result<(), WriteError> {
        match self
            .client
            .delete(&paths::pod(ns, meta::name(pod).unwrap_or("")))
            .await
        {
            Ok(()) | Err(WriteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn write_status(
        &self,
        job: &Value,
        ns: &str,
        c: &Counts,
        finished: Option<(&str, &str, &str)>,
    ) -> Result<(), WriteError> {
        let mut status = match meta::get_path(job, &["status"]) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        let now = time::format_rfc3339(time::now_unix());
        if !status.contains_key("startTime") {
            status.insert("startTime".to_owned(), string(now.clone()));
        }
        let active = i64::try_from(c.active.len()).unwrap_or(0);
        let active = if finished.is_some() { 0 } else { active };
        if indexed::is_indexed(job) && !c.succeeded_indexes.is_empty() {
            let text = indexed::format_indexes(&c.succeeded_indexes);
            status.insert("completedIndexes".to_owned(), string(text));
        }
        for (field, n) in [
            ("active", active),
            ("succeeded", c.succeeded),
            ("failed", c.failed),
            ("terminating", c.terminating),
        ] {
            if n > 0 {
                status.insert(field.to_owned(), int(n));
            } else {
                status.remove(field);
            }
        }
        status.insert(
            "ready".to_owned(),
            int(if finished.is_some() { 0 } else { c.ready }),
        );
        if let Some((kind, reason, message)) = finished {
            record_finish(&mut status, kind, reason, message, &now);
        }
        let status = Value::Object(status);
        if meta::get_path(job, &["status"]).is_some_and(|cur| values_equal(cur, &status)) {
            return Ok(());
        }
        let mut updated = job.clone();
        if let Some(o) = meta::as_object_mut(&mut updated) {
            o.insert("status".to_owned(), status);
        }
        let path = format!(
            "/apis/batch/v1/namespaces/{ns}/jobs/{}/status",
            meta::name(job).unwrap_or("")
        );
        self.client.update(&path, &updated).await.map(|_| ())
    }

    /// A finished Job with ttlSecondsAfterFinished is deleted (its pods with it) once the
    /// TTL has passed since it finished.
    async fn expire(&self, job: &Value, ns: &str, spec: &Spec) -> Result<(), WriteError> {
        let Some(ttl) = spec.ttl else { return Ok(()) };
        let kind = finished_condition(job).unwrap_or("Complete");
        let finished_at = objects::condition(job, kind)
            .and_then(|c| meta::get_str(c, &["lastTransitionTime"]))
            .and_then(time::parse_rfc3339)
            .unwrap_or(0);
        let left = finished_at + ttl - time::now_unix();
        if left > 0 {
            let key = queue_key(job).unwrap_or_default();
            let delay = Duration::from_secs(u64::try_from(left).unwrap_or(1));
            self.queue.add_after(&self.executor, key, delay);
            return Ok(());
        }
        let path = format!(
            "/apis/batch/v1/namespaces/{ns}/jobs/{}?propagationPolicy=Foreground",
            meta::name(job).unwrap_or("")
        );
        match self.client.delete(&path).await {
            Ok(()) | Err(WriteError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// The Complete or Failed condition, and completionTime for Complete.
fn record_finish(status: &mut Object, kind: &str, reason: &str, message: &str, now: &str) {
    let cond = object([
        ("type", string(kind)),
        ("status", string("True")),
        ("lastProbeTime", string(now)),
        ("lastTransitionTime", string(now)),
        ("reason", string(reason)),
        ("message", string(message)),
    ]);
    objects::set_condition(status, cond, true);
    if kind == "Complete" {
        status.insert("completionTime".to_owned(), string(now));
    }
}

impl JobController {
    fn event(&self, job: &Value, kind: &'static str, reason: &'static str, message: String) {
        let event = Event {
            kind,
            reason,
            message,
            component: "job-controller",
        };
        events::emit(&self.executor, &self.client, job, event);
    }
}

fn start_time(job: &Value) -> Option<i64> {
    meta::get_str(job, &["status", "startTime"]).and_then(time::parse_rfc3339)
}

/// A pod of the Job: the template plus the job-name and controller-uid labels.
fn pod_from_template(job: &Value) -> Value {
    let template = meta::get_path(job, &["spec", "template"]);
    let mut md = Object::new();
    if let Some(v) = template.and_then(|t| meta::get_path(t, &["metadata", "annotations"])) {
        md.insert("annotations".to_owned(), v.clone());
    }
    let mut labels = match template.and_then(|t| meta::get_path(t, &["metadata", "labels"])) {
        Some(Value::Object(o)) => o.clone(),
        _ => Object::new(),
    };
    let name = meta::name(job).unwrap_or("");
    let uid = meta::uid(job).unwrap_or("");
    for (k, v) in [
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", name),
        ("controller-uid", uid),
        ("job-name", name),
    ] {
        labels.insert(k.to_owned(), string(v));
    }
    md.insert("labels".to_owned(), Value::Object(labels));
    md.insert("generateName".to_owned(), string(format!("{name}-")));
    md.insert(
        "ownerReferences".to_owned(),
        objects::array(vec![objects::controller_reference("batch/v1", "Job", job)]),
    );
    let spec = template
        .and_then(|t| meta::get_path(t, &["spec"]))
        .cloned()
        .unwrap_or_else(|| Value::Object(Object::new()));
    object([
        ("apiVersion", string("v1")),
        ("kind", string("Pod")),
        ("metadata", Value::Object(md)),
        ("spec", spec),
    ])
}

#[cfg(test)]
mod tests;
