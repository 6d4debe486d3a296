//! Reading and building the bits of objects every workload controller needs: controller
//! ownerReferences, pod state (active, ready, available), label selectors, and small
//! constructors for JSON values.

use miniserde::json::{Array, Number, Object, Value};

use crate::object::{meta, time};
use crate::selector::LabelSelector;

pub fn string(s: impl Into<String>) -> Value {
    Value::String(s.into())
}

pub fn int(n: i64) -> Value {
    Value::Number(u64::try_from(n).map_or(Number::I64(n), Number::U64))
}

pub fn array(items: Vec<Value>) -> Value {
    Value::Array(items.into_iter().collect())
}

pub fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    let mut o = Object::new();
    for (k, v) in pairs {
        o.insert(k.to_owned(), v);
    }
    Value::Object(o)
}

/// The controller ownerReference of an object: `(kind, name, uid)`.
pub fn controller_of(object: &Value) -> Option<(&str, &str, &str)> {
    let Some(Value::Array(refs)) = meta::get_path(object, &["metadata", "ownerReferences"]) else {
        return None;
    };
    refs.iter()
        .find(|r| matches!(meta::get_path(r, &["controller"]), Some(Value::Bool(true))))
        .map(|r| {
            (
                meta::get_str(r, &["kind"]).unwrap_or(""),
                meta::get_str(r, &["name"]).unwrap_or(""),
                meta::get_str(r, &["uid"]).unwrap_or(""),
            )
        })
}

/// A controller ownerReference to `owner` that blocks its foreground deletion.
pub fn controller_reference(api_version: &str, kind: &str, owner: &Value) -> Value {
    object([
        ("apiVersion", string(api_version)),
        ("kind", string(kind)),
        ("name", string(meta::name(owner).unwrap_or(""))),
        ("uid", string(meta::uid(owner).unwrap_or(""))),
        ("controller", Value::Bool(true)),
        ("blockOwnerDeletion", Value::Bool(true)),
    ])
}

/// The ownerReferences of `object` with its controller reference replaced by `reference`
/// (or removed when `None`).
pub fn with_controller(object: &Value, reference: Option<Value>) -> Value {
    let mut refs: Array = match meta::get_path(object, &["metadata", "ownerReferences"]) {
        Some(Value::Array(a)) => a
            .iter()
            .filter(|r| !matches!(meta::get_path(r, &["controller"]), Some(Value::Bool(true))))
            .cloned()
            .collect(),
        _ => Array::new(),
    };
    refs.extend(reference);
    Value::Array(refs)
}

/// The structured selector at `spec.selector`; a missing or broken one selects nothing,
/// as upstream treats an invalid selector.
pub fn spec_selector(object: &Value) -> LabelSelector {
    match meta::get_path(object, &["spec", "selector"]) {
        Some(sel @ Value::Object(_)) => {
            LabelSelector::from_structured(Some(sel)).unwrap_or_else(|_| LabelSelector::nothing())
        }
        _ => LabelSelector::nothing(),
    }
}

pub fn phase(pod: &Value) -> &str {
    meta::get_str(pod, &["status", "phase"]).unwrap_or("")
}

pub fn is_terminal(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

pub fn is_deleting(object: &Value) -> bool {
    meta::deletion_timestamp(object).is_some()
}

/// Counted by ReplicaSets: neither finished nor being deleted.
pub fn is_active(pod: &Value) -> bool {
    !is_terminal(pod) && !is_deleting(pod)
}

/// A condition of `status.conditions` by type.
pub fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    let Some(Value::Array(conds)) = meta::get_path(object, &["status", "conditions"]) else {
        return None;
    };
    conds
        .iter()
        .find(|c| meta::get_str(c, &["type"]) == Some(kind))
}

/// When the pod became Ready (unix seconds), if it is Ready now.
pub fn ready_since(pod: &Value) -> Option<i64> {
    let cond = condition(pod, "Ready")?;
    if meta::get_str(cond, &["status"]) != Some("True") {
        return None;
    }
    Some(
        meta::get_str(cond, &["lastTransitionTime"])
            .and_then(time::parse_rfc3339)
            .unwrap_or(0),
    )
}

pub fn is_ready(pod: &Value) -> bool {
    ready_since(pod).is_some()
}

/// Available as upstream's `IsPodAvailable`: Ready for at least `min_ready` seconds.
/// `Err(wait)` says how many seconds until a Ready pod becomes available.
pub fn availability(pod: &Value, min_ready: i64, now: i64) -> Result<(), Option<i64>> {
    let since = ready_since(pod).ok_or(None)?;
    if min_ready <= 0 || since + min_ready <= now {
        Ok(())
    } else {
        Err(Some(since + min_ready - now))
    }
}

pub fn spec_i64(object: &Value, field: &str, default: i64) -> i64 {
    meta::get_i64(object, &["spec", field]).unwrap_or(default)
}

pub fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    meta::get_str(object, &["metadata", "annotations", key])
}

pub fn creation_time(object: &Value) -> &str {
    meta::get_str(object, &["metadata", "creationTimestamp"]).unwrap_or("")
}

/// Sets or replaces a condition, keeping lastTransitionTime when the status is unchanged
/// (upstream's SetCondition helpers); `false` when nothing changed.
pub fn set_condition(status: &mut Object, cond: Value, keep_update_time: bool) -> bool {
    let kind = meta::get_str(&cond, &["type"]).unwrap_or("").to_owned();
    let conds = match status
        .entry("conditions".to_owned())
        .or_insert_with(|| Value::Array(Array::new()))
    {
        Value::Array(a) => a,
        other => {
            *other = Value::Array(Array::new());
            let Value::Array(a) = other else {
                unreachable!("just set")
            };
            a
        }
    };
    let mut cond = cond;
    if let Some(pos) = conds
        .iter()
        .position(|c| meta::get_str(c, &["type"]) == Some(&kind))
    {
        let old = &conds[pos];
        let same_status = meta::get_str(old, &["status"]) == meta::get_str(&cond, &["status"]);
        let same_reason = meta::get_str(old, &["reason"]) == meta::get_str(&cond, &["reason"]);
        if same_status && same_reason && keep_update_time {
            return false;
        }
        let since = meta::get_path(old, &["lastTransitionTime"]).cloned();
        if let (true, Some(t), Value::Object(c)) = (same_status, since, &mut cond) {
            c.insert("lastTransitionTime".to_owned(), t);
        }
        conds.remove(pos);
    }
    conds.push(cond);
    true
}
