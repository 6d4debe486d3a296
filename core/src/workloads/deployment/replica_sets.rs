//! A Deployment's ReplicaSets: claiming them by selector, telling the new one (template
//! equal to the Deployment's, ignoring pod-template-hash) from the old ones, creating it
//! with its hash, and the revision and replica annotations (upstream's
//! getAllReplicaSetsAndSyncRevision and SetNewReplicaSetAnnotations).

use miniserde::json::{Object, Value};

use super::rollout::{Rollout, rs_replicas};
use super::{DESIRED_REPLICAS, HASH_LABEL, MAX_REPLICAS, REVISION, REVISION_HISTORY, hash, math};
use crate::object::{meta, time};
use crate::patch::value::values_equal;
use crate::workloads::client::{WriteError, keys, paths};
use crate::workloads::events::{self, Event};
use crate::workloads::objects::{self, int, object, string};

/// Deployment annotations not copied onto its ReplicaSets.
const NOT_COPIED: [&str; 6] = [
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
    "deprecated.deployment.rollback.to",
];

pub fn revision(rs: &Value) -> i64 {
    objects::annotation(rs, REVISION)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The template without its pod-template-hash label, for comparison and hashing.
fn template_without_hash(object: &Value) -> Value {
    let mut t = meta::get_path(object, &["spec", "template"])
        .cloned()
        .unwrap_or(Value::Null);
    let labels = meta::get_path(&t, &["metadata", "labels"]).is_some();
    if labels {
        let l = meta::ensure_object(&mut t, &["metadata", "labels"]);
        l.remove(HASH_LABEL);
        if l.is_empty() {
            meta::ensure_object(&mut t, &["metadata"]).remove("labels");
        }
    }
    t
}

impl Rollout {
    /// Lists the namespace's ReplicaSets, adopting matching orphans and releasing owned
    /// ones that no longer match; keeps the owned ones, oldest first.
    pub async fn claim_replica_sets(&mut self) -> Result<(), WriteError> {
        let selector = objects::spec_selector(&self.d);
        let uid = meta::uid(&self.d).unwrap_or("").to_owned();
        let deleting = objects::is_deleting(&self.d);
        let mut owned = Vec::new();
        let prefix = keys::in_namespace(keys::REPLICA_SETS, &self.p.ns);
        for rs in self.ctl.client.list(&prefix) {
            let matches = selector.matches_object(&rs);
            let reference = match objects::controller_of(&rs) {
                Some((_, _, owner)) if owner == uid && matches => {
                    owned.push(rs);
                    continue;
                }
                Some((_, _, owner)) if owner == uid && !deleting => None,
                None if matches && !deleting && !objects::is_deleting(&rs) => Some(
                    objects::controller_reference("apps/v1", "Deployment", &self.d),
                ),
                _ => continue,
            };
            let adopting = reference.is_some();
            let patch = object([(
                "metadata",
                object([
                    ("ownerReferences", objects::with_controller(&rs, reference)),
                    (
                        "resourceVersion",
                        string(meta::resource_version(&rs).unwrap_or("")),
                    ),
                ]),
            )]);
            let path = paths::replica_set(&self.p.ns, meta::name(&rs).unwrap_or(""));
            let written = self.ctl.client.merge_patch(&path, &patch).await?;
            if adopting {
                owned.push(written);
            }
        }
        owned.sort_by(|a, b| {
            objects::creation_time(a)
                .cmp(objects::creation_time(b))
                .then_with(|| meta::name(a).cmp(&meta::name(b)))
        });
        self.rss = owned;
        self.new = self.find_new();
        Ok(())
    }

    /// The oldest ReplicaSet whose template equals the Deployment's, ignoring the hash.
    pub fn find_new(&self) -> Option<usize> {
        let want = template_without_hash(&self.d);
        self.rss
            .iter()
            .position(|rs| values_equal(&template_without_hash(rs), &want))
    }

    /// Brings the new ReplicaSet's annotations and the Deployment's revision up to date;
    /// creates the new ReplicaSet when `create` and there is none.
    pub async fn sync_revision(&mut self, create: bool) -> Result<(), WriteError> {
        self.new = self.find_new();
        let max_old = self
            .olds()
            .iter()
            .map(|i| revision(&self.rss[*i]))
            .max()
            .unwrap_or(0);
        let new_revision = max_old + 1;
        match self.new {
            Some(n) => self.update_existing_new(n, new_revision).await,
            None if create => self.create_new(new_revision).await,
            None => Ok(()),
        }
    }

    async fn update_existing_new(&mut self, n: usize, new_revision: i64) -> Result<(), WriteError> {
        let mut rs = self.rss[n].clone();
        let mut changed = self.copy_annotations(&mut rs, new_revision, true);
        let min_ready = meta::get_path(&self.d, &["spec", "minReadySeconds"]).cloned();
        let rs_min_ready = meta::get_path(&rs, &["spec", "minReadySeconds"]);
        let same = match (rs_min_ready, &min_ready) {
            (Some(a), Some(b)) => values_equal(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            let spec = meta::ensure_object(&mut rs, &["spec"]);
            match min_ready {
                Some(v) => spec.insert("minReadySeconds".to_owned(), v),
                None => spec.remove("minReadySeconds"),
            };
            changed = true;
        }
        if changed {
            let path = paths::replica_set(&self.p.ns, meta::name(&rs).unwrap_or(""));
            self.rss[n] = self.ctl.client.update(&path, &rs).await?;
        }
        let rs_name = meta::name(&self.rss[n]).unwrap_or("").to_owned();
        self.set_deployment_revision(revision(&self.rss[n])).await?;
        if self.p.deadline.is_some() && objects::condition(&self.d, "Progressing").is_none() {
            let message = format!("Found new replica set \"{rs_name}\"");
            self.write_progressing("True", "FoundNewReplicaSet", &message)
                .await?;
        }
        Ok(())
    }

    async fn create_new(&mut self, new_revision: i64) -> Result<(), WriteError> {
        let collisions = meta::get_i64(&self.d, &["status", "collisionCount"])
            .and_then(|c| u32::try_from(c).ok());
        let template = template_without_hash(&self.d);
        let hash = hash::template_hash(&template, collisions);
        let rs = self.new_replica_set(template, &hash, new_revision);
        let created = match self
            .ctl
            .client
            .create(&paths::replica_sets(&self.p.ns), &rs)
            .await
        {
            Ok(created) => created,
            Err(WriteError::AlreadyExists) => return self.on_name_collision(&rs).await,
            Err(e) => return Err(e),
        };
        let name = meta::name(&created).unwrap_or("").to_owned();
        let replicas = rs_replicas(&created);
        if replicas > 0 {
            self.scaling_event(&name, 0, replicas);
        }
        self.rss.push(created);
        self.new = Some(self.rss.len() - 1);
        self.set_deployment_revision(new_revision).await?;
        if self.p.deadline.is_some() {
            let message = format!("Created new replica set \"{name}\"");
            self.write_progressing("True", "NewReplicaSetCreated", &message)
                .await?;
        }
        Ok(())
    }

    /// Another object holds the name: the same template under this Deployment is ours
    /// after all; anything else bumps collisionCount so the next hash differs.
    async fn on_name_collision(&mut self, wanted: &Value) -> Result<(), WriteError> {
        let name = meta::name(wanted).unwrap_or("");
        let existing = self
            .ctl
            .client
            .get(&keys::object(keys::REPLICA_SETS, &self.p.ns, name));
        if let Some(rs) = &existing {
            let ours = objects::controller_of(rs).map(|(_, _, uid)| uid) == meta::uid(&self.d);
            if ours && values_equal(&template_without_hash(rs), &template_without_hash(&self.d)) {
                return Ok(());
            }
        }
        let count = meta::get_i64(&self.d, &["status", "collisionCount"]).unwrap_or(0) + 1;
        let mut status = meta::get_path(&self.d, &["status"])
            .cloned()
            .unwrap_or(Value::Null);
        if !matches!(status, Value::Object(_)) {
            status = Value::Object(Object::new());
        }
        meta::set_i64(
            meta::ensure_object(&mut status, &[]),
            "collisionCount",
            count,
        );
        self.write_status(status).await?;
        Err(WriteError::Conflict)
    }

    fn new_replica_set(&self, template: Value, hash: &str, new_revision: i64) -> Value {
        let mut template = template;
        meta::set_str(
            meta::ensure_object(&mut template, &["metadata", "labels"]),
            HASH_LABEL,
            hash,
        );
        let labels = meta::get_path(&template, &["metadata", "labels"])
            .cloned()
            .unwrap_or(Value::Null);
        let mut selector = meta::get_path(&self.d, &["spec", "selector"])
            .cloned()
            .unwrap_or(Value::Null);
        meta::set_str(
            meta::ensure_object(&mut selector, &["matchLabels"]),
            HASH_LABEL,
            hash,
        );
        let all_pods: i64 = self.rss.iter().map(rs_replicas).sum();
        let replicas = if self.p.recreate {
            self.p.replicas
        } else {
            math::new_rs_replicas(self.p.replicas, self.p.surge, all_pods, 0)
        };
        let mut spec = object([
            ("replicas", int(replicas)),
            ("selector", selector),
            ("template", template),
        ]);
        if let Some(v) = meta::get_path(&self.d, &["spec", "minReadySeconds"]) {
            meta::ensure_object(&mut spec, &[]).insert("minReadySeconds".to_owned(), v.clone());
        }
        let mut rs = object([
            ("apiVersion", string("apps/v1")),
            ("kind", string("ReplicaSet")),
            (
                "metadata",
                object([
                    ("name", string(format!("{}-{hash}", self.p.name))),
                    ("namespace", string(self.p.ns.clone())),
                    ("labels", labels),
                    (
                        "ownerReferences",
                        objects::array(vec![objects::controller_reference(
                            "apps/v1",
                            "Deployment",
                            &self.d,
                        )]),
                    ),
                ]),
            ),
            ("spec", spec),
        ]);
        self.copy_annotations(&mut rs, new_revision, false);
        rs
    }

    /// Upstream's SetNewReplicaSetAnnotations; `true` when something changed.
    fn copy_annotations(&self, rs: &mut Value, new_revision: i64, exists: bool) -> bool {
        let from: Vec<(String, String)> = meta::string_map(&self.d, &["metadata", "annotations"])
            .into_iter()
            .filter(|(k, _)| !NOT_COPIED.contains(k))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let old_revision = objects::annotation(rs, REVISION).map(str::to_owned);
        let annotations = meta::ensure_object(rs, &["metadata", "annotations"]);
        let mut changed = false;
        for (k, v) in from {
            if !matches!(annotations.get(&k), Some(Value::String(s)) if *s == v) {
                meta::set_str(annotations, &k, v);
                changed = true;
            }
        }
        let old = old_revision.as_deref().unwrap_or("");
        let old_number = if old.is_empty() {
            Some(0)
        } else {
            old.parse::<i64>().ok()
        };
        if old_number.is_some_and(|o| o < new_revision) {
            meta::set_str(annotations, REVISION, new_revision.to_string());
            changed = true;
            if exists && !old.is_empty() {
                let history = match annotations.get(REVISION_HISTORY) {
                    Some(Value::String(h)) if !h.is_empty() => format!("{h},{old}"),
                    _ => old.to_owned(),
                };
                meta::set_str(annotations, REVISION_HISTORY, history);
            }
        }
        if !exists {
            meta::set_str(annotations, DESIRED_REPLICAS, self.p.replicas.to_string());
            meta::set_str(
                annotations,
                MAX_REPLICAS,
                (self.p.replicas + self.p.surge).to_string(),
            );
            changed = true;
        }
        changed
    }

    /// Writes the Deployment's revision annotation when it differs.
    async fn set_deployment_revision(&mut self, revision: i64) -> Result<(), WriteError> {
        let value = revision.to_string();
        if objects::annotation(&self.d, REVISION) == Some(value.as_str()) {
            return Ok(());
        }
        let patch = object([(
            "metadata",
            object([
                ("annotations", object([(REVISION, string(value))])),
                (
                    "resourceVersion",
                    string(meta::resource_version(&self.d).unwrap_or("")),
                ),
            ]),
        )]);
        let path = paths::deployment(&self.p.ns, &self.p.name);
        self.d = self.ctl.client.merge_patch(&path, &patch).await?;
        Ok(())
    }

    /// Sets spec.replicas and the desired/max-replicas annotations; `true` if it resized.
    pub async fn scale_rs(&mut self, i: usize, replicas: i64) -> Result<bool, WriteError> {
        let mut rs = self.rss[i].clone();
        let resized = rs_replicas(&rs) != replicas;
        let desired = self.p.replicas.to_string();
        let max = (self.p.replicas + self.p.surge).to_string();
        let annotated = objects::annotation(&rs, DESIRED_REPLICAS) == Some(desired.as_str())
            && objects::annotation(&rs, MAX_REPLICAS) == Some(max.as_str());
        if !resized && annotated {
            return Ok(false);
        }
        meta::set_i64(
            meta::ensure_object(&mut rs, &["spec"]),
            "replicas",
            replicas,
        );
        let annotations = meta::ensure_object(&mut rs, &["metadata", "annotations"]);
        meta::set_str(annotations, DESIRED_REPLICAS, desired);
        meta::set_str(annotations, MAX_REPLICAS, max);
        let path = paths::replica_set(&self.p.ns, meta::name(&rs).unwrap_or(""));
        let before = rs_replicas(&self.rss[i]);
        self.rss[i] = self.ctl.client.update(&path, &rs).await?;
        if resized {
            let name = meta::name(&rs).unwrap_or("");
            self.scaling_event(name, before, replicas);
        }
        Ok(resized)
    }

    /// upstream's ScalingReplicaSet event on the Deployment.
    fn scaling_event(&self, rs_name: &str, from: i64, to: i64) {
        let direction = if to > from { "up" } else { "down" };
        let event = Event {
            kind: "Normal",
            reason: "ScalingReplicaSet",
            message: format!("Scaled {direction} replica set {rs_name} from {from} to {to}"),
            component: "deployment-controller",
        };
        events::emit(&self.ctl.executor, &self.ctl.client, &self.d, event);
    }

    pub fn now() -> String {
        time::format_rfc3339(time::now_unix())
    }
}
