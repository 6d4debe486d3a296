//! apps/v1 workloads (Deployment, ReplicaSet, StatefulSet, DaemonSet): upstream's
//! defaults (apps/v1 defaults.go) and validation: a selector that is required, non-empty
//! and matches the template's labels, a non-negative replica count, a pod template that
//! restarts always, and what apps/v1 keeps immutable on update.

use miniserde::json::{Object, Value};

use super::fields::{
    ensure_child, go_label_selector, go_quote, go_string_map, int_default, obj_mut, str_default,
};
use super::{Context, object_meta, pod_spec};
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::selector::LabelSelector;
use crate::status::{Cause, field};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    Deployment,
    ReplicaSet,
    StatefulSet,
    DaemonSet,
}

impl Workload {
    pub fn from_kind(kind: &str) -> Option<Workload> {
        Some(match kind {
            "Deployment" => Workload::Deployment,
            "ReplicaSet" => Workload::ReplicaSet,
            "StatefulSet" => Workload::StatefulSet,
            "DaemonSet" => Workload::DaemonSet,
            _ => return None,
        })
    }

    fn lower(self) -> &'static str {
        match self {
            Workload::Deployment => "deployment",
            Workload::ReplicaSet => "replicaset",
            Workload::StatefulSet => "statefulset",
            Workload::DaemonSet => "daemonset",
        }
    }
}

pub fn default(kind: Workload, object: &mut Value) {
    pod_spec::default_spec(object, &["spec", "template", "spec"]);
    let Some(spec) = obj_mut(object, &["spec"]) else {
        return;
    };
    if kind != Workload::DaemonSet {
        int_default(spec, "replicas", 1);
    }
    match kind {
        Workload::Deployment => {
            int_default(spec, "revisionHistoryLimit", 10);
            int_default(spec, "progressDeadlineSeconds", 600);
            let pct = Value::String("25%".into());
            default_strategy(
                spec,
                "strategy",
                &[("maxUnavailable", pct.clone()), ("maxSurge", pct)],
            );
        }
        Workload::StatefulSet => {
            int_default(spec, "revisionHistoryLimit", 10);
            str_default(spec, "podManagementPolicy", "OrderedReady");
            default_strategy(
                spec,
                "updateStrategy",
                &[("partition", super::fields::int(0))],
            );
            let retention = ensure_child(spec, "persistentVolumeClaimRetentionPolicy");
            str_default(retention, "whenDeleted", "Retain");
            str_default(retention, "whenScaled", "Retain");
        }
        Workload::DaemonSet => {
            int_default(spec, "revisionHistoryLimit", 10);
            let defaults = [
                ("maxUnavailable", super::fields::int(1)),
                ("maxSurge", super::fields::int(0)),
            ];
            default_strategy(spec, "updateStrategy", &defaults);
        }
        Workload::ReplicaSet => {}
    }
}

/// `type: RollingUpdate` unless set, and the rollingUpdate parameters for that type.
fn default_strategy(spec: &mut Object, key: &str, params: &[(&str, Value)]) {
    let strategy = ensure_child(spec, key);
    str_default(strategy, "type", "RollingUpdate");
    if super::fields::str_of(strategy, "type") != Some("RollingUpdate") {
        return;
    }
    let rolling_update = ensure_child(strategy, "rollingUpdate");
    for (k, v) in params {
        super::fields::set_default(rolling_update, k, v.clone());
    }
}

pub fn validate(ctx: &Context<'_>, kind: Workload, object: &Value, causes: &mut Vec<Cause>) {
    if ctx.subresource == Some("status") {
        return;
    }
    if kind != Workload::DaemonSet {
        non_negative(object, &["spec", "replicas"], "spec.replicas", causes);
    }
    non_negative(
        object,
        &["spec", "minReadySeconds"],
        "spec.minReadySeconds",
        causes,
    );
    non_negative(
        object,
        &["spec", "revisionHistoryLimit"],
        "spec.revisionHistoryLimit",
        causes,
    );
    validate_selector_and_template(kind, object, causes);
    if kind == Workload::Deployment {
        validate_deployment_strategy(object, causes);
        super::rolling_update::validate(object, causes);
    }
    if let Some(old) = ctx.old {
        validate_update(kind, object, old, causes);
    }
}

/// `ValidateNonnegativeField`.
pub fn non_negative(object: &Value, path: &[&str], name: &str, causes: &mut Vec<Cause>) {
    if let Some(n) = meta::get_i64(object, path)
        && n < 0
    {
        causes.push(field::invalid(
            name,
            &n.to_string(),
            "must be greater than or equal to 0",
        ));
    }
}

/// The StatefulSet with a volume per volumeClaimTemplate added to its template, so mounts
/// of the claims validate as the controller will make them (the claim replaces a volume of
/// the same name).
fn with_claim_template_volumes(object: &Value) -> Value {
    let mut copy = object.clone();
    let names: Vec<String> = match meta::get_path(object, &["spec", "volumeClaimTemplates"]) {
        Some(Value::Array(t)) => t
            .iter()
            .filter_map(|t| meta::get_str(t, &["metadata", "name"]).map(str::to_owned))
            .collect(),
        _ => return copy,
    };
    let spec = meta::ensure_object(&mut copy, &["spec", "template", "spec"]);
    let volumes = spec
        .entry("volumes".to_owned())
        .or_insert_with(|| Value::Array(Default::default()));
    if let Value::Array(list) = volumes {
        list.retain(|v| !meta::get_str(v, &["name"]).is_some_and(|n| names.iter().any(|c| c == n)));
        for name in names {
            let mut volume = miniserde::json::Object::new();
            volume.insert("name".to_owned(), Value::String(name.clone()));
            let mut claim = miniserde::json::Object::new();
            claim.insert("claimName".to_owned(), Value::String(name));
            volume.insert("persistentVolumeClaim".to_owned(), Value::Object(claim));
            list.push(Value::Object(volume));
        }
    }
    copy
}

pub const SELECTOR_MISMATCH: &str = "`selector` does not match template `labels`";

fn validate_selector_and_template(kind: Workload, object: &Value, causes: &mut Vec<Cause>) {
    let selector =
        meta::get_path(object, &["spec", "selector"]).filter(|s| !matches!(s, Value::Null));
    match selector {
        None => causes.push(field::required("spec.selector")),
        Some(s)
            if meta::as_object(s).is_some_and(|o| {
                o.values().all(|v| match v {
                    Value::Object(m) => m.is_empty(),
                    Value::Array(a) => a.is_empty(),
                    _ => true,
                })
            }) =>
        {
            causes.push(field::invalid(
                "spec.selector",
                &go_label_selector(Some(s)),
                &format!("empty selector is invalid for {}", kind.lower()),
            ));
        }
        Some(s) => match LabelSelector::from_structured(Some(s)) {
            Err(e) => causes.push(field::invalid(
                "spec.selector",
                &go_label_selector(Some(s)),
                &e.to_string(),
            )),
            Ok(sel) => {
                let labels = meta::get_path(object, &["spec", "template", "metadata", "labels"]);
                if !sel.matches_object(&template_as_object(object)) {
                    causes.push(field::invalid(
                        "spec.template.metadata.labels",
                        &go_string_map(labels),
                        SELECTOR_MISMATCH,
                    ));
                }
            }
        },
    }
    object_meta::validate(
        object,
        &["spec", "template", "metadata"],
        "spec.template.metadata",
        causes,
    );
    let with_claims;
    let template_owner = if kind == Workload::StatefulSet {
        with_claims = with_claim_template_volumes(object);
        &with_claims
    } else {
        object
    };
    pod_spec::validate_spec(
        template_owner,
        &["spec", "template", "spec"],
        "spec.template.spec",
        causes,
    );
    let restart = meta::get_str(object, &["spec", "template", "spec", "restartPolicy"]);
    if let Some(restart) = restart.filter(|r| *r != "Always") {
        causes.push(field::not_supported(
            "spec.template.spec.restartPolicy",
            &go_quote(restart),
            &["Always"],
        ));
    }
}

/// The template's metadata as an object a selector can match.
fn template_as_object(object: &Value) -> Value {
    let mut o = Object::new();
    if let Some(m) = meta::get_path(object, &["spec", "template", "metadata"]) {
        o.insert("metadata".to_owned(), m.clone());
    }
    Value::Object(o)
}

fn validate_deployment_strategy(object: &Value, causes: &mut Vec<Cause>) {
    let kind = meta::get_str(object, &["spec", "strategy", "type"]).unwrap_or("");
    match kind {
        "RollingUpdate" => {}
        "Recreate" => {
            if meta::get_path(object, &["spec", "strategy", "rollingUpdate"])
                .is_some_and(|v| !matches!(v, Value::Null))
            {
                causes.push(field::forbidden(
                    "spec.strategy.rollingUpdate",
                    "may not be specified when strategy `type` is 'Recreate'",
                ));
            }
        }
        other => causes.push(field::not_supported(
            "spec.strategy.type",
            &go_quote(other),
            &["Recreate", "RollingUpdate"],
        )),
    }
    let deadline = meta::get_i64(object, &["spec", "progressDeadlineSeconds"]);
    let min_ready = meta::get_i64(object, &["spec", "minReadySeconds"]).unwrap_or(0);
    if let Some(d) = deadline
        && d <= min_ready
    {
        causes.push(field::invalid(
            "spec.progressDeadlineSeconds",
            &d.to_string(),
            "must be greater than minReadySeconds",
        ));
    }
}

pub const STATEFULSET_UPDATE_MSG: &str = "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden";

fn validate_update(kind: Workload, new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    if kind == Workload::StatefulSet {
        let strip = |v: &Value| {
            let mut spec = meta::get_path(v, &["spec"]).cloned().unwrap_or(Value::Null);
            if let Some(o) = meta::as_object_mut(&mut spec) {
                for k in [
                    "replicas",
                    "ordinals",
                    "template",
                    "updateStrategy",
                    "persistentVolumeClaimRetentionPolicy",
                    "minReadySeconds",
                ] {
                    o.remove(k);
                }
            }
            spec
        };
        if !values_equal(&strip(new), &strip(old)) {
            causes.push(field::forbidden("spec", STATEFULSET_UPDATE_MSG));
        }
        return;
    }
    let new_sel = meta::get_path(new, &["spec", "selector"]);
    let old_sel = meta::get_path(old, &["spec", "selector"]);
    let same = match (new_sel, old_sel) {
        (Some(a), Some(b)) => values_equal(a, b),
        (None, None) => true,
        _ => false,
    };
    if !same {
        causes.push(field::immutable(
            "spec.selector",
            &go_label_selector(new_sel),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Operation;
    use crate::admission::tests::{context, parse};

    const DEPLOY: &str = r#"{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"busybox","image":"busybox"}]}}}}"#;

    fn run(kind: Workload, object: &mut Value, old: Option<&Value>) -> Vec<Cause> {
        let mut causes = Vec::new();
        let op = if old.is_some() {
            Operation::Update
        } else {
            Operation::Create
        };
        context(op, old, |ctx| {
            default(kind, object);
            validate(ctx, kind, object, &mut causes);
        });
        causes
    }

    fn text(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn deployment_defaults() {
        let mut d = parse(DEPLOY);
        assert!(run(Workload::Deployment, &mut d, None).is_empty());
        assert_eq!(meta::get_i64(&d, &["spec", "replicas"]), Some(1));
        assert_eq!(
            meta::get_i64(&d, &["spec", "revisionHistoryLimit"]),
            Some(10)
        );
        assert_eq!(
            meta::get_i64(&d, &["spec", "progressDeadlineSeconds"]),
            Some(600)
        );
        assert_eq!(
            meta::get_str(&d, &["spec", "strategy", "type"]),
            Some("RollingUpdate")
        );
        assert_eq!(
            meta::get_str(&d, &["spec", "strategy", "rollingUpdate", "maxSurge"]),
            Some("25%")
        );
        assert_eq!(
            meta::get_str(&d, &["spec", "strategy", "rollingUpdate", "maxUnavailable"]),
            Some("25%")
        );
        assert_eq!(
            meta::get_str(&d, &["spec", "template", "spec", "restartPolicy"]),
            Some("Always")
        );
    }

    #[test]
    fn negative_replicas() {
        let mut d = parse(&DEPLOY.replace(
            r#""spec":{"selector""#,
            r#""spec":{"replicas":-1,"selector""#,
        ));
        assert_eq!(
            text(&run(Workload::Deployment, &mut d, None)),
            vec!["spec.replicas: Invalid value: -1: must be greater than or equal to 0"]
        );
    }

    #[test]
    fn selector_must_match_and_exist() {
        let mut d = parse(&DEPLOY.replace(r#""labels":{"app":"web"}"#, r#""labels":{"app":"db"}"#));
        assert_eq!(
            text(&run(Workload::Deployment, &mut d, None)),
            vec![
                "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`"
            ]
        );
        let mut none = parse(&DEPLOY.replace(r#""selector":{"matchLabels":{"app":"web"}},"#, ""));
        assert_eq!(
            text(&run(Workload::Deployment, &mut none, None)),
            vec!["spec.selector: Required value"]
        );
        let mut empty = parse(&DEPLOY.replace(r#""matchLabels":{"app":"web"}"#, ""));
        assert_eq!(
            text(&run(Workload::Deployment, &mut empty, None)),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment"
            ]
        );
    }

    #[test]
    fn selector_is_immutable() {
        let mut old = parse(DEPLOY);
        run(Workload::Deployment, &mut old, None);
        let mut new = parse(&DEPLOY.replace(r#""app":"web""#, r#""app":"web2""#));
        assert_eq!(
            text(&run(Workload::Deployment, &mut new, Some(&old))),
            vec![
                "spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web2\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
            ]
        );
    }

    #[test]
    fn template_must_restart_always() {
        let mut d = parse(&DEPLOY.replace(
            r#""spec":{"containers""#,
            r#""spec":{"restartPolicy":"Never","containers""#,
        ));
        assert_eq!(
            text(&run(Workload::ReplicaSet, &mut d, None)),
            vec![
                "spec.template.spec.restartPolicy: Unsupported value: \"Never\": supported values: \"Always\""
            ]
        );
    }

    #[test]
    fn statefulset_and_daemonset_defaults() {
        let mut s = parse(DEPLOY);
        assert!(run(Workload::StatefulSet, &mut s, None).is_empty());
        assert_eq!(
            meta::get_str(&s, &["spec", "podManagementPolicy"]),
            Some("OrderedReady")
        );
        assert_eq!(
            meta::get_i64(
                &s,
                &["spec", "updateStrategy", "rollingUpdate", "partition"]
            ),
            Some(0)
        );
        let mut changed = s.clone();
        meta::set_str(
            obj_mut(&mut changed, &["spec"]).unwrap(),
            "serviceName",
            "other",
        );
        assert_eq!(
            text(&run(Workload::StatefulSet, &mut changed, Some(&s))),
            vec![format!("spec: Forbidden: {STATEFULSET_UPDATE_MSG}")]
        );
        let mut ds = parse(DEPLOY);
        assert!(run(Workload::DaemonSet, &mut ds, None).is_empty());
        assert_eq!(meta::get_i64(&ds, &["spec", "replicas"]), None);
        assert_eq!(
            meta::get_i64(
                &ds,
                &["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"]
            ),
            Some(1)
        );
    }
}
