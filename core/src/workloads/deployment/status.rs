//! The Deployment's status: replica counts summed over its ReplicaSets, the Available
//! condition, and the Progressing condition with its deadline (upstream's
//! calculateStatus, syncRolloutStatus and checkPausedConditions). The deadline is the one
//! place a timer is needed: a stuck rollout is re-checked when it would expire.

use std::time::Duration;

use miniserde::json::{Object, Value};

use super::rollout::{Rollout, rs_replicas, rs_status};
use crate::object::{meta, time};
use crate::patch::value::values_equal;
use crate::workloads::client::{WriteError, paths};
use crate::workloads::feed::queue_key;
use crate::workloads::objects::{self, int, object, string};

const PROGRESSING: &str = "Progressing";
const TIMED_OUT: &str = "ProgressDeadlineExceeded";
const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
const PAUSED: &str = "DeploymentPaused";

pub fn condition(kind: &str, status: &str, reason: &str, message: &str) -> Value {
    let now = Rollout::now();
    object([
        ("type", string(kind)),
        ("status", string(status)),
        ("lastUpdateTime", string(now.clone())),
        ("lastTransitionTime", string(now)),
        ("reason", string(reason)),
        ("message", string(message)),
    ])
}

fn status_i64(status: &Value, field: &str) -> i64 {
    meta::get_i64(status, &[field]).unwrap_or(0)
}

impl Rollout {
    /// PUT /status with `status`; the Deployment is refreshed from the answer.
    pub async fn write_status(&mut self, status: Value) -> Result<(), WriteError> {
        let mut d = self.d.clone();
        if let Some(o) = meta::as_object_mut(&mut d) {
            o.insert("status".to_owned(), status);
        }
        let path = format!("{}/status", paths::deployment(&self.p.ns, &self.p.name));
        self.d = self.ctl.client.update(&path, &d).await?;
        Ok(())
    }

    fn current_status(&self) -> Object {
        match meta::get_path(&self.d, &["status"]) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        }
    }

    pub async fn write_progressing(
        &mut self,
        status: &str,
        reason: &str,
        message: &str,
    ) -> Result<(), WriteError> {
        let mut s = self.current_status();
        if objects::set_condition(
            &mut s,
            condition(PROGRESSING, status, reason, message),
            true,
        ) {
            self.write_status(Value::Object(s)).await?;
        }
        Ok(())
    }

    pub async fn check_paused_conditions(&mut self) -> Result<(), WriteError> {
        if self.p.deadline.is_none() {
            return Ok(());
        }
        let reason = objects::condition(&self.d, PROGRESSING)
            .and_then(|c| meta::get_str(c, &["reason"]))
            .map(str::to_owned);
        if reason.as_deref() == Some(TIMED_OUT) {
            return Ok(());
        }
        let paused_cond = reason.as_deref() == Some(PAUSED);
        if self.p.paused && !paused_cond {
            self.write_progressing("Unknown", PAUSED, "Deployment is paused")
                .await
        } else if !self.p.paused && paused_cond {
            self.write_progressing("Unknown", "DeploymentResumed", "Deployment is resumed")
                .await
        } else {
            Ok(())
        }
    }

    /// upstream's calculateStatus: counts plus the Available condition.
    fn calculate_status(&self) -> Object {
        let all: Vec<&Value> = self.rss.iter().collect();
        let sum = |f: &dyn Fn(&Value) -> i64| all.iter().map(|rs| f(rs)).sum::<i64>();
        let available = sum(&|rs| rs_status(rs, "availableReplicas"));
        let total = sum(&rs_replicas);
        let mut s = self.current_status();
        for field in [
            "observedGeneration",
            "replicas",
            "updatedReplicas",
            "readyReplicas",
            "availableReplicas",
            "unavailableReplicas",
        ] {
            s.remove(field);
        }
        let updated = self.new.map_or(0, |n| rs_status(&self.rss[n], "replicas"));
        let counts = [
            ("observedGeneration", meta::generation(&self.d).unwrap_or(0)),
            ("replicas", sum(&|rs| rs_status(rs, "replicas"))),
            ("updatedReplicas", updated),
            ("readyReplicas", sum(&|rs| rs_status(rs, "readyReplicas"))),
            ("availableReplicas", available),
            ("unavailableReplicas", (total - available).max(0)),
        ];
        for (field, n) in counts {
            if n != 0 {
                s.insert(field.to_owned(), int(n));
            }
        }
        let cond = if available >= self.p.replicas - self.p.unavailable {
            condition(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
            )
        } else {
            condition(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
            )
        };
        objects::set_condition(&mut s, cond, true);
        s
    }

    /// Writes the calculated status; with `progress`, also the Progressing condition.
    pub async fn sync_status(&mut self, progress: bool) -> Result<(), WriteError> {
        let mut s = self.calculate_status();
        if progress {
            self.progress_condition(&mut s);
        }
        let s = Value::Object(s);
        let unchanged =
            meta::get_path(&self.d, &["status"]).is_some_and(|cur| values_equal(cur, &s));
        if !unchanged {
            self.write_status(s.clone()).await?;
        }
        if progress {
            self.requeue_if_stuck(&s);
        }
        Ok(())
    }

    pub async fn sync_status_only(&mut self) -> Result<(), WriteError> {
        self.sync_revision(false).await?;
        self.sync_status(false).await
    }

    fn complete(&self, s: &Value) -> bool {
        let r = self.p.replicas;
        status_i64(s, "updatedReplicas") == r
            && status_i64(s, "replicas") == r
            && status_i64(s, "availableReplicas") == r
            && status_i64(s, "observedGeneration") >= meta::generation(&self.d).unwrap_or(0)
    }

    /// Progress since the stored status: more updated, ready or available pods, or fewer old.
    fn progressed(&self, new: &Value) -> bool {
        let old = meta::get_path(&self.d, &["status"])
            .cloned()
            .unwrap_or(Value::Null);
        let olds = |s: &Value| status_i64(s, "replicas") - status_i64(s, "updatedReplicas");
        status_i64(new, "updatedReplicas") > status_i64(&old, "updatedReplicas")
            || olds(new) < olds(&old)
            || status_i64(new, "readyReplicas") > status_i64(&old, "readyReplicas")
            || status_i64(new, "availableReplicas") > status_i64(&old, "availableReplicas")
    }

    fn timed_out(&self, cond: Option<&Value>) -> bool {
        let (Some(deadline), Some(cond)) = (self.p.deadline, cond) else {
            return false;
        };
        match meta::get_str(cond, &["reason"]) {
            Some(NEW_RS_AVAILABLE) => false,
            Some(TIMED_OUT) => true,
            _ => meta::get_str(cond, &["lastUpdateTime"])
                .and_then(time::parse_rfc3339)
                .is_some_and(|from| from + deadline < time::now_unix()),
        }
    }

    fn progress_condition(&self, s: &mut Object) {
        if self.p.deadline.is_none() {
            if let Some(Value::Array(c)) = s.get_mut("conditions") {
                c.retain(|c| meta::get_str(c, &["type"]) != Some(PROGRESSING));
            }
            return;
        }
        let snapshot = Value::Object(s.clone());
        let current = objects::condition(&self.d, PROGRESSING).cloned();
        let reason = current.as_ref().and_then(|c| meta::get_str(c, &["reason"]));
        let done = status_i64(&snapshot, "replicas") == status_i64(&snapshot, "updatedReplicas")
            && reason == Some(NEW_RS_AVAILABLE);
        if done {
            return;
        }
        let subject = match self.new {
            Some(n) => format!("ReplicaSet \"{}\"", meta::name(&self.rss[n]).unwrap_or("")),
            None => format!("Deployment \"{}\"", self.p.name),
        };
        if self.complete(&snapshot) {
            let msg = format!("{subject} has successfully progressed.");
            objects::set_condition(
                s,
                condition(PROGRESSING, "True", NEW_RS_AVAILABLE, &msg),
                true,
            );
        } else if self.progressed(&snapshot) {
            let msg = format!("{subject} is progressing.");
            objects::set_condition(
                s,
                condition(PROGRESSING, "True", "ReplicaSetUpdated", &msg),
                false,
            );
        } else if self.timed_out(current.as_ref()) {
            let msg = format!("{subject} has timed out progressing.");
            objects::set_condition(s, condition(PROGRESSING, "False", TIMED_OUT, &msg), true);
        }
    }

    /// A rollout still in progress is looked at again when its deadline would pass.
    fn requeue_if_stuck(&self, s: &Value) {
        let Some(deadline) = self.p.deadline else {
            return;
        };
        let wrapped = object([("status", s.clone())]);
        let Some(cond) = objects::condition(&wrapped, PROGRESSING) else {
            return;
        };
        if self.complete(s) || meta::get_str(cond, &["reason"]) == Some(TIMED_OUT) {
            return;
        }
        let Some(from) = meta::get_str(cond, &["lastUpdateTime"]).and_then(time::parse_rfc3339)
        else {
            return;
        };
        let after = (from + deadline - time::now_unix()).max(0) + 1;
        let key = queue_key(&self.d).unwrap_or_default();
        let delay = Duration::from_secs(u64::try_from(after).unwrap_or(1));
        self.ctl.queue.add_after(&self.ctl.executor, key, delay);
    }
}
