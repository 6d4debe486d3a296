//! One sync of one Deployment: its parameters with upstream's defaults applied, the
//! ReplicaSets it owns, and the rollout strategies (RollingUpdate, Recreate, proportional
//! scaling) that resize them, following upstream's rolling.go, recreate.go and sync.go.

use std::rc::Rc;

use miniserde::json::Value;

use super::math;
use super::{DESIRED_REPLICAS, DeploymentController};
use crate::object::meta;
use crate::workloads::client::WriteError;
use crate::workloads::objects;

/// The Deployment's spec with defaults (the API server does not default it).
pub struct Params {
    pub ns: String,
    pub name: String,
    pub replicas: i64,
    pub paused: bool,
    pub recreate: bool,
    /// MaxSurge(d): zero for Recreate.
    pub surge: i64,
    /// MaxUnavailable(d): zero for Recreate or no replicas, at most `replicas`.
    pub unavailable: i64,
    pub history_limit: i64,
    pub deadline: Option<i64>,
}

impl Params {
    pub fn read(d: &Value) -> Params {
        let replicas = objects::spec_i64(d, "replicas", 1);
        let recreate = meta::get_str(d, &["spec", "strategy", "type"]) == Some("Recreate");
        let rolling = meta::get_path(d, &["spec", "strategy", "rollingUpdate"]);
        let (surge, unavailable) = math::fenceposts(
            rolling.and_then(|r| meta::get_path(r, &["maxSurge"])),
            rolling.and_then(|r| meta::get_path(r, &["maxUnavailable"])),
            replicas,
        );
        let deadline = match meta::get_path(d, &["spec", "progressDeadlineSeconds"]) {
            None | Some(Value::Null) => Some(600),
            Some(v) => meta::get_i64(v, &[]).filter(|s| *s != i64::from(i32::MAX)),
        };
        Params {
            ns: meta::namespace(d).unwrap_or("").to_owned(),
            name: meta::name(d).unwrap_or("").to_owned(),
            replicas,
            paused: matches!(
                meta::get_path(d, &["spec", "paused"]),
                Some(Value::Bool(true))
            ),
            recreate,
            surge: if recreate { 0 } else { surge },
            unavailable: if recreate || replicas == 0 {
                0
            } else {
                unavailable.min(replicas)
            },
            history_limit: objects::spec_i64(d, "revisionHistoryLimit", 10),
            deadline,
        }
    }
}

pub fn rs_replicas(rs: &Value) -> i64 {
    objects::spec_i64(rs, "replicas", 1)
}

pub fn rs_status(rs: &Value, field: &str) -> i64 {
    meta::get_i64(rs, &["status", field]).unwrap_or(0)
}

pub struct Rollout {
    pub ctl: Rc<DeploymentController>,
    pub d: Value,
    pub p: Params,
    /// Owned ReplicaSets, oldest first.
    pub rss: Vec<Value>,
    /// Index of the ReplicaSet whose template matches the Deployment's.
    pub new: Option<usize>,
}

impl Rollout {
    pub fn new(ctl: Rc<DeploymentController>, d: Value) -> Rollout {
        let p = Params::read(&d);
        Rollout {
            ctl,
            d,
            p,
            rss: Vec::new(),
            new: None,
        }
    }

    pub fn olds(&self) -> Vec<usize> {
        (0..self.rss.len())
            .filter(|i| Some(*i) != self.new)
            .collect()
    }

    fn active_olds(&self) -> Vec<usize> {
        self.olds()
            .into_iter()
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .collect()
    }

    fn sum(&self, of: &[usize], f: impl Fn(&Value) -> i64) -> i64 {
        of.iter().map(|i| f(&self.rss[*i])).sum()
    }

    fn all(&self) -> Vec<usize> {
        (0..self.rss.len()).collect()
    }

    /// Upstream's isScalingEvent: an active ReplicaSet was sized for another replica count.
    pub fn is_scaling_event(&mut self) -> bool {
        self.new = self.find_new();
        self.rss.iter().filter(|rs| rs_replicas(rs) > 0).any(|rs| {
            objects::annotation(rs, DESIRED_REPLICAS)
                .and_then(|v| v.parse::<i64>().ok())
                .is_some_and(|desired| desired != self.p.replicas)
        })
    }

    /// Paused or scaling: resize without rolling forward (upstream's sync).
    pub async fn sync_scale(&mut self) -> Result<(), WriteError> {
        self.sync_revision(false).await?;
        self.scale().await?;
        if self.p.paused {
            self.cleanup().await?;
        }
        self.sync_status(false).await
    }

    pub async fn rollout_rolling(&mut self) -> Result<(), WriteError> {
        self.sync_revision(true).await?;
        if self.reconcile_new().await? || self.reconcile_olds().await? {
            return self.sync_status(true).await;
        }
        if self.complete_by_status() {
            self.cleanup().await?;
        }
        self.sync_status(true).await
    }

    pub async fn rollout_recreate(&mut self) -> Result<(), WriteError> {
        self.sync_revision(false).await?;
        let mut scaled = false;
        for i in self.active_olds() {
            scaled |= self.scale_rs(i, 0).await?;
        }
        if scaled || self.old_pods_running() {
            return self.sync_status(true).await;
        }
        if self.new.is_none() {
            self.sync_revision(true).await?;
        }
        if let Some(n) = self.new {
            self.scale_rs(n, self.p.replicas).await?;
        }
        if self.complete_by_status() {
            self.cleanup().await?;
        }
        self.sync_status(true).await
    }

    /// Old ReplicaSets still report pods, or pods of theirs still exist and run.
    fn old_pods_running(&self) -> bool {
        let olds = self.olds();
        if self.sum(&olds, |rs| rs_status(rs, "replicas")) > 0 {
            return true;
        }
        let uids: Vec<&str> = olds
            .iter()
            .filter_map(|i| meta::uid(&self.rss[*i]))
            .collect();
        let prefix = crate::workloads::client::keys::in_namespace(
            crate::workloads::client::keys::PODS,
            &self.p.ns,
        );
        self.ctl.client.list(&prefix).iter().any(|pod| {
            objects::controller_of(pod).is_some_and(|(_, _, uid)| uids.contains(&uid))
                && !objects::is_terminal(pod)
        })
    }

    async fn reconcile_new(&mut self) -> Result<bool, WriteError> {
        let Some(n) = self.new else { return Ok(false) };
        let current = rs_replicas(&self.rss[n]);
        if current == self.p.replicas {
            return Ok(false);
        }
        if current > self.p.replicas {
            return self.scale_rs(n, self.p.replicas).await;
        }
        let all_pods = self.sum(&self.all(), rs_replicas);
        let target = math::new_rs_replicas(self.p.replicas, self.p.surge, all_pods, current);
        self.scale_rs(n, target).await
    }

    async fn reconcile_olds(&mut self) -> Result<bool, WriteError> {
        let olds = self.active_olds();
        if self.sum(&olds, rs_replicas) == 0 {
            return Ok(false);
        }
        let all_pods = self.sum(&self.all(), rs_replicas);
        let min_available = self.p.replicas - self.p.unavailable;
        let new_unavailable = self.new.map_or(0, |n| {
            rs_replicas(&self.rss[n]) - rs_status(&self.rss[n], "availableReplicas")
        });
        let max_scaled_down = all_pods - min_available - new_unavailable;
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        let cleaned = self.cleanup_unhealthy(&olds, max_scaled_down).await?;
        let scaled = self.scale_down_olds(&olds).await?;
        Ok(cleaned + scaled > 0)
    }

    /// Scales down old ReplicaSets' unavailable pods first, oldest ReplicaSet first.
    async fn cleanup_unhealthy(&mut self, olds: &[usize], max: i64) -> Result<i64, WriteError> {
        let mut total = 0;
        for &i in olds {
            if total >= max {
                break;
            }
            let (replicas, available) = (
                rs_replicas(&self.rss[i]),
                rs_status(&self.rss[i], "availableReplicas"),
            );
            if replicas == 0 || replicas == available {
                continue;
            }
            let count = (max - total).min(replicas - available);
            self.scale_rs(i, replicas - count).await?;
            total += count;
        }
        Ok(total)
    }

    /// Scales old ReplicaSets down as far as availability above minAvailable allows.
    async fn scale_down_olds(&mut self, olds: &[usize]) -> Result<i64, WriteError> {
        let min_available = self.p.replicas - self.p.unavailable;
        let available = self.sum(&self.all(), |rs| rs_status(rs, "availableReplicas"));
        if available <= min_available {
            return Ok(0);
        }
        let budget = available - min_available;
        let mut total = 0;
        for &i in olds {
            if total >= budget {
                break;
            }
            let replicas = rs_replicas(&self.rss[i]);
            if replicas == 0 {
                continue;
            }
            let count = replicas.min(budget - total);
            self.scale_rs(i, replicas - count).await?;
            total += count;
        }
        Ok(total)
    }

    /// Upstream's scale(): one active ReplicaSet takes the whole count; otherwise a
    /// saturated new ReplicaSet retires the old ones, or the change is spread in
    /// proportion to each ReplicaSet's share.
    async fn scale(&mut self) -> Result<(), WriteError> {
        let mut active: Vec<usize> = self
            .all()
            .into_iter()
            .filter(|i| rs_replicas(&self.rss[*i]) > 0)
            .collect();
        let single = match active.len() {
            0 => self.new.or(self.rss.len().checked_sub(1)),
            1 => Some(active[0]),
            _ => None,
        };
        if let Some(i) = single {
            if rs_replicas(&self.rss[i]) != self.p.replicas {
                self.scale_rs(i, self.p.replicas).await?;
            }
            return Ok(());
        }
        if self.is_saturated() {
            for i in self.active_olds() {
                self.scale_rs(i, 0).await?;
            }
            return Ok(());
        }
        if self.p.recreate {
            return Ok(());
        }
        let current = self.sum(&active, rs_replicas);
        let allowed = if self.p.replicas > 0 {
            self.p.replicas + self.p.surge
        } else {
            0
        };
        let to_add = allowed - current;
        // Larger first; among equals newer first when growing, older first when shrinking.
        active.sort_by(|a, b| {
            let (ra, rb) = (&self.rss[*a], &self.rss[*b]);
            let by_size = rs_replicas(rb).cmp(&rs_replicas(ra));
            let by_age = objects::creation_time(ra).cmp(objects::creation_time(rb));
            by_size.then(if to_add > 0 { by_age.reverse() } else { by_age })
        });
        let sizes = self.proportional_sizes(&active, to_add);
        for (i, size) in active.into_iter().zip(sizes) {
            self.scale_rs(i, size).await?;
        }
        Ok(())
    }

    fn proportional_sizes(&self, active: &[usize], to_add: i64) -> Vec<i64> {
        let mut added = 0;
        let mut sizes: Vec<i64> = active
            .iter()
            .map(|i| {
                let rs = &self.rss[*i];
                let replicas = rs_replicas(rs);
                if to_add == 0 || replicas == 0 || to_add == added {
                    return replicas;
                }
                let annotated = objects::annotation(rs, super::MAX_REPLICAS)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or_else(|| {
                        meta::get_i64(&self.d, &["status", "replicas"]).unwrap_or(0)
                    });
                let fraction =
                    math::rs_fraction(replicas, self.p.replicas, self.p.surge, annotated);
                let allowed = to_add - added;
                let share = if to_add > 0 {
                    fraction.min(allowed)
                } else {
                    fraction.max(allowed)
                };
                added += share;
                replicas + share
            })
            .collect();
        if let Some(first) = sizes.first_mut() {
            *first = (*first + to_add - added).max(0);
        }
        sizes
    }

    fn is_saturated(&self) -> bool {
        let Some(n) = self.new else { return false };
        let rs = &self.rss[n];
        let desired = objects::annotation(rs, DESIRED_REPLICAS).and_then(|v| v.parse::<i64>().ok());
        rs_replicas(rs) == self.p.replicas
            && desired == Some(self.p.replicas)
            && rs_status(rs, "availableReplicas") == self.p.replicas
    }

    /// DeploymentComplete against the stored status (upstream checks `&d.Status`).
    fn complete_by_status(&self) -> bool {
        let s = |f: &str| meta::get_i64(&self.d, &["status", f]).unwrap_or(0);
        s("updatedReplicas") == self.p.replicas
            && s("replicas") == self.p.replicas
            && s("availableReplicas") == self.p.replicas
            && s("observedGeneration") >= meta::generation(&self.d).unwrap_or(0)
    }

    /// Deletes the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit.
    async fn cleanup(&mut self) -> Result<(), WriteError> {
        let mut olds: Vec<usize> = self
            .olds()
            .into_iter()
            .filter(|i| !objects::is_deleting(&self.rss[*i]))
            .collect();
        let excess = i64::try_from(olds.len()).unwrap_or(0) - self.p.history_limit.max(0);
        if excess <= 0 {
            return Ok(());
        }
        olds.sort_by_key(|i| super::replica_sets::revision(&self.rss[*i]));
        let mut deleted = 0;
        for i in olds {
            if deleted >= excess {
                break;
            }
            let rs = &self.rss[i];
            let settled = rs_status(rs, "replicas") == 0
                && rs_replicas(rs) == 0
                && meta::generation(rs).unwrap_or(0) <= rs_status(rs, "observedGeneration");
            if !settled {
                continue;
            }
            let path = crate::workloads::client::paths::replica_set(
                &self.p.ns,
                meta::name(rs).unwrap_or(""),
            );
            match self.ctl.client.delete(&path).await {
                Ok(()) | Err(WriteError::NotFound) => deleted += 1,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
