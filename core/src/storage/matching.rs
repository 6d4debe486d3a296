//! Which existing PersistentVolume a claim binds to, as upstream's binder chooses
//! (findBestMatchForClaim): a volume pre-bound to the claim by its claimRef wins; otherwise
//! the smallest available volume of the claim's class and volume mode that offers every
//! requested access mode, at least the requested capacity, and labels the claim's selector
//! accepts. Volumes being deleted or claimed by another claim are never chosen.

use miniserde::json::Value;

use crate::object::meta;
use crate::scheduler::quantity::parse_milli;
use crate::selector::LabelSelector;

fn strings<'a>(v: &'a Value, path: &[&str]) -> Vec<&'a str> {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| match s {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The claim's requested storage in thousandths of a byte.
pub fn requested(claim: &Value) -> i128 {
    meta::get_str(claim, &["spec", "resources", "requests", "storage"])
        .and_then(parse_milli)
        .unwrap_or(0)
}

pub fn capacity(volume: &Value) -> i128 {
    meta::get_str(volume, &["spec", "capacity", "storage"])
        .and_then(parse_milli)
        .unwrap_or(0)
}

/// The volume's claimRef names this claim (by namespace and name, and uid when set).
pub fn claimed_by(volume: &Value, claim: &Value) -> bool {
    let Some(r) = meta::get_path(volume, &["spec", "claimRef"]) else {
        return false;
    };
    let field = |f: &str| meta::get_str(r, &[f]).unwrap_or("");
    field("name") == meta::name(claim).unwrap_or("")
        && field("namespace") == meta::namespace(claim).unwrap_or("")
        && (field("uid").is_empty() || Some(field("uid")) == meta::uid(claim))
}

fn has_claim_ref(volume: &Value) -> bool {
    meta::get_path(volume, &["spec", "claimRef"]).is_some_and(|r| !matches!(r, Value::Null))
}

fn volume_mode(v: &Value) -> &str {
    meta::get_str(v, &["spec", "volumeMode"]).unwrap_or("Filesystem")
}

/// Everything but the claimRef: class, mode, access modes, size, selector.
pub fn satisfies(volume: &Value, claim: &Value) -> bool {
    let class = |v: &Value| {
        meta::get_str(v, &["spec", "storageClassName"])
            .unwrap_or("")
            .to_owned()
    };
    if class(volume) != class(claim) || volume_mode(volume) != volume_mode(claim) {
        return false;
    }
    let offered = strings(volume, &["spec", "accessModes"]);
    if !strings(claim, &["spec", "accessModes"])
        .iter()
        .all(|m| offered.contains(m))
    {
        return false;
    }
    if capacity(volume) < requested(claim) {
        return false;
    }
    match meta::get_path(claim, &["spec", "selector"]) {
        Some(sel @ Value::Object(_)) => {
            LabelSelector::from_structured(Some(sel)).is_ok_and(|s| s.matches_object(volume))
        }
        _ => true,
    }
}

/// The volume `claim` should bind to, if any.
pub fn best_match<'a>(claim: &Value, volumes: &'a [Value]) -> Option<&'a Value> {
    let usable = |v: &&Value| meta::deletion_timestamp(v).is_none();
    if let Some(pre_bound) = volumes
        .iter()
        .filter(usable)
        .find(|v| claimed_by(v, claim) && satisfies(v, claim))
    {
        return Some(pre_bound);
    }
    volumes
        .iter()
        .filter(usable)
        .filter(|v| !has_claim_ref(v) && satisfies(v, claim))
        .min_by_key(|v| capacity(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::parse;

    fn pv(name: &str, size: &str, modes: &str, extra: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"{name}","labels":{{"tier":"fast"}}}},"spec":{{"capacity":{{"storage":"{size}"}},"accessModes":[{modes}],"storageClassName":"manual"{extra}}}}}"#
        ))
        .unwrap()
    }

    fn claim(size: &str, extra: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"data","namespace":"default","uid":"u1"}},"spec":{{"accessModes":["ReadWriteOnce"],"resources":{{"requests":{{"storage":"{size}"}}}},"storageClassName":"manual"{extra}}}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn the_smallest_volume_that_fits_wins() {
        let volumes = vec![
            pv("big", "10Gi", r#""ReadWriteOnce""#, ""),
            pv("small", "2Gi", r#""ReadWriteOnce","ReadOnlyMany""#, ""),
            pv("tiny", "500Mi", r#""ReadWriteOnce""#, ""),
        ];
        let chosen = best_match(&claim("1Gi", ""), &volumes).unwrap();
        assert_eq!(meta::name(chosen), Some("small"));
    }

    #[test]
    fn access_modes_class_and_selector_must_match() {
        let volumes = vec![
            pv("rox", "5Gi", r#""ReadOnlyMany""#, ""),
            other_class(pv("other-class", "5Gi", r#""ReadWriteOnce""#, "")),
        ];
        assert!(best_match(&claim("1Gi", ""), &volumes).is_none());
        let fast = vec![pv("rwo", "5Gi", r#""ReadWriteOnce""#, "")];
        let wants_slow = r#","selector":{"matchLabels":{"tier":"slow"}}"#;
        assert!(best_match(&claim("1Gi", wants_slow), &fast).is_none());
        let wants_fast = r#","selector":{"matchLabels":{"tier":"fast"}}"#;
        assert!(best_match(&claim("1Gi", wants_fast), &fast).is_some());
    }

    #[test]
    fn claimed_volumes_are_skipped_unless_pre_bound_to_this_claim() {
        let other = r#","claimRef":{"namespace":"default","name":"other","uid":"u9"}"#;
        let mine = r#","claimRef":{"namespace":"default","name":"data"}"#;
        let volumes = vec![
            pv("taken", "1Gi", r#""ReadWriteOnce""#, other),
            pv("free", "1Gi", r#""ReadWriteOnce""#, ""),
            pv("reserved", "3Gi", r#""ReadWriteOnce""#, mine),
        ];
        let chosen = best_match(&claim("1Gi", ""), &volumes).unwrap();
        assert_eq!(meta::name(chosen), Some("reserved"));
        assert!(best_match(&claim("1Gi", ""), &volumes[..1]).is_none());
    }

    fn other_class(mut v: Value) -> Value {
        let spec = meta::ensure_object(&mut v, &["spec"]);
        meta::set_str(spec, "storageClassName", "slow");
        v
    }
}
