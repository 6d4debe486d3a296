//! Pods: the PodSpec defaults, what upstream's default admission plugins add on create
//! (ServiceAccount, Priority, DefaultTolerationSeconds), the status a new pod starts with
//! (`PrepareForCreate`: phase Pending and its QoS class), and the update rule that keeps a
//! pod's spec fixed except for the few fields upstream lets change.

use miniserde::json::{Object, Value};

use super::fields::{array, int, int_default, obj_mut, set_default, str_default, string};
use super::{Context, Operation, pod_spec};
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::status::{Cause, field};

pub fn default(ctx: &Context<'_>, pod: &mut Value) {
    pod_spec::default_spec(pod, &["spec"]);
    let Some(spec) = obj_mut(pod, &["spec"]) else {
        return;
    };
    set_default(spec, "enableServiceLinks", Value::Bool(true));
    if ctx.operation != Operation::Create || ctx.subresource.is_some() {
        return;
    }
    str_default(spec, "serviceAccountName", "default");
    let account = super::fields::str_of(spec, "serviceAccountName")
        .unwrap_or("default")
        .to_owned();
    str_default(spec, "serviceAccount", &account);
    if super::fields::str_of(spec, "priorityClassName")
        .unwrap_or("")
        .is_empty()
    {
        int_default(spec, "priority", 0);
    }
    str_default(spec, "preemptionPolicy", "PreemptLowerPriority");
    add_default_tolerations(spec);
    // LimitRanger's defaults come before the QoS class, as upstream's admission runs
    // before PrepareForCreate.
    super::limit_range::default_pod(ctx.store, pod);
    let qos = qos_class(pod);
    let status = meta::ensure_object(pod, &["status"]);
    str_default(status, "phase", "Pending");
    str_default(status, "qosClass", qos);
}

/// DefaultTolerationSeconds: tolerate not-ready and unreachable nodes for 300 s unless the
/// pod already tolerates those taints.
fn add_default_tolerations(spec: &mut Object) {
    let list = spec
        .entry("tolerations".to_owned())
        .or_insert_with(|| Value::Array(Vec::new().into_iter().collect()));
    let Value::Array(list) = list else {
        return;
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = list.iter().any(|t| {
            let k = meta::get_str(t, &["key"]).unwrap_or("");
            let effect = meta::get_str(t, &["effect"]).unwrap_or("");
            let op = meta::get_str(t, &["operator"]).unwrap_or("");
            (k == key || (k.is_empty() && op == "Exists"))
                && (effect.is_empty() || effect == "NoExecute")
        });
        if !tolerated {
            let mut t = Object::new();
            t.insert("key".to_owned(), string(key));
            t.insert("operator".to_owned(), string("Exists"));
            t.insert("effect".to_owned(), string("NoExecute"));
            t.insert("tolerationSeconds".to_owned(), int(300));
            list.push(Value::Object(t));
        }
    }
}

/// Upstream's `GetPodQOS`: BestEffort without any request or limit, Guaranteed when every
/// container limits cpu and memory with requests equal to limits, Burstable otherwise.
/// Quantities compare as written ("1" and "1000m" differ here).
pub fn qos_class(pod: &Value) -> &'static str {
    let containers: Vec<&Value> = ["containers", "initContainers"]
        .iter()
        .flat_map(|list| array(pod, &["spec", list]).iter())
        .collect();
    let mut any = false;
    let mut guaranteed = true;
    for c in containers {
        let requests = meta::get_path(c, &["resources", "requests"]).and_then(meta::as_object);
        let limits = meta::get_path(c, &["resources", "limits"]).and_then(meta::as_object);
        let tracked = |o: Option<&Object>, r: &str| o.and_then(|o| o.get(r)).cloned();
        for r in ["cpu", "memory"] {
            let (req, lim) = (tracked(requests, r), tracked(limits, r));
            any |= req.is_some() || lim.is_some();
            match (req, lim) {
                (Some(a), Some(b)) if values_equal(&a, &b) => {}
                _ => guaranteed = false,
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

pub fn validate(ctx: &Context<'_>, pod: &Value, causes: &mut Vec<Cause>) {
    if ctx.subresource.is_some() {
        return;
    }
    pod_spec::validate_spec(pod, &["spec"], "spec", causes);
    if let Some(old) = ctx.old {
        // Objects stored before these defaults existed compare as if they had them.
        let mut old = old.clone();
        pod_spec::default_spec(&mut old, &["spec"]);
        if let Some(spec) = obj_mut(&mut old, &["spec"]) {
            set_default(spec, "enableServiceLinks", Value::Bool(true));
        }
        validate_update(pod, &old, causes);
    }
}

pub const UPDATE_MSG: &str = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

/// `ValidatePodUpdate`'s spec rule: blank out what may change, then the rest must match.
fn validate_update(new: &Value, old: &Value, causes: &mut Vec<Cause>) {
    let (Some(new_spec), Some(old_spec)) = (
        meta::get_path(new, &["spec"]),
        meta::get_path(old, &["spec"]),
    ) else {
        return;
    };
    let old_tolerations = array(old_spec, &["tolerations"]);
    let new_tolerations = array(new_spec, &["tolerations"]);
    let tolerations_kept = old_tolerations
        .iter()
        .all(|t| new_tolerations.iter().any(|n| values_equal(n, t)));
    let old_grace = meta::get_i64(old_spec, &["terminationGracePeriodSeconds"]);
    let new_grace = meta::get_i64(new_spec, &["terminationGracePeriodSeconds"]);
    let grace_ok =
        old_grace == new_grace || (old_grace.is_some_and(|g| g < 0) && new_grace == Some(1));
    let (a, b) = (masked(new_spec), masked(old_spec));
    if !values_equal(&a, &b) || !tolerations_kept || !grace_ok {
        causes.push(field::forbidden("spec", UPDATE_MSG));
    }
}

/// The spec without the fields a pod update may change.
fn masked(spec: &Value) -> Value {
    let mut spec = spec.clone();
    if let Some(o) = meta::as_object_mut(&mut spec) {
        for key in [
            "activeDeadlineSeconds",
            "tolerations",
            "terminationGracePeriodSeconds",
        ] {
            o.remove(key);
        }
        for list in ["containers", "initContainers"] {
            for c in super::fields::objects_mut(o, list) {
                c.insert("image".to_owned(), string(""));
            }
        }
    }
    spec
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::tests::{context, parse};

    #[test]
    fn create_fills_plugin_defaults_and_status() {
        let mut pod = parse(
            r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#,
        );
        context(Operation::Create, None, |ctx| default(ctx, &mut pod));
        let s = |p: &[&str]| meta::get_str(&pod, p).map(str::to_owned);
        assert_eq!(
            s(&["spec", "serviceAccountName"]).as_deref(),
            Some("default")
        );
        assert_eq!(s(&["spec", "serviceAccount"]).as_deref(), Some("default"));
        assert_eq!(meta::get_i64(&pod, &["spec", "priority"]), Some(0));
        assert!(matches!(
            meta::get_path(&pod, &["spec", "enableServiceLinks"]),
            Some(Value::Bool(true))
        ));
        assert_eq!(s(&["status", "phase"]).as_deref(), Some("Pending"));
        assert_eq!(s(&["status", "qosClass"]).as_deref(), Some("BestEffort"));
        assert_eq!(array(&pod, &["spec", "tolerations"]).len(), 2);
        let c = &array(&pod, &["spec", "containers"])[0];
        assert_eq!(meta::get_str(c, &["imagePullPolicy"]), Some("Always"));
    }

    #[test]
    fn qos_classes() {
        let pod = |res: &str| {
            parse(&format!(
                r#"{{"spec":{{"containers":[{{"name":"c","resources":{res}}}]}}}}"#
            ))
        };
        assert_eq!(qos_class(&pod("{}")), "BestEffort");
        assert_eq!(qos_class(&pod(r#"{"requests":{"cpu":"1"}}"#)), "Burstable");
        assert_eq!(
            qos_class(&pod(
                r#"{"limits":{"cpu":"1","memory":"1Gi"},"requests":{"cpu":"1","memory":"1Gi"}}"#
            )),
            "Guaranteed"
        );
    }

    fn stored() -> Value {
        let mut pod = parse(
            r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox:1"}]}}"#,
        );
        context(Operation::Create, None, |ctx| default(ctx, &mut pod));
        pod
    }

    fn update_causes(edit: impl FnOnce(&mut Value)) -> Vec<Cause> {
        let old = stored();
        let mut new = old.clone();
        edit(&mut new);
        let mut causes = Vec::new();
        context(Operation::Update, Some(&old), |ctx| {
            default(ctx, &mut new);
            validate(ctx, &new, &mut causes);
        });
        causes
    }

    #[test]
    fn image_may_change() {
        let causes = update_causes(|p| {
            let c = obj_mut(p, &["spec"]).unwrap();
            for c in super::super::fields::objects_mut(c, "containers") {
                c.insert("image".to_owned(), string("busybox:2"));
            }
        });
        assert!(causes.is_empty(), "{causes:?}");
    }

    #[test]
    fn other_spec_changes_are_forbidden_with_upstreams_message() {
        let causes = update_causes(|p| {
            let spec = obj_mut(p, &["spec"]).unwrap();
            spec.insert("restartPolicy".to_owned(), string("Never"));
        });
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec");
        assert_eq!(causes[0].reason, "FieldValueForbidden");
        assert_eq!(causes[0].message, format!("Forbidden: {UPDATE_MSG}"));
    }

    #[test]
    fn tolerations_may_only_grow() {
        let removed = update_causes(|p| {
            obj_mut(p, &["spec"]).unwrap().remove("tolerations");
        });
        assert_eq!(removed.len(), 1);
        let added = update_causes(|p| {
            if let Some(Value::Array(a)) = obj_mut(p, &["spec"]).unwrap().get_mut("tolerations") {
                a.push(parse(r#"{"key":"x","operator":"Exists"}"#));
            }
        });
        assert!(added.is_empty(), "{added:?}");
    }
}
