//! The replica arithmetic of a rollout, as upstream's deployment util computes it:
//! maxSurge and maxUnavailable from ints or percentages (surge rounds up, unavailability
//! down), the size of a new ReplicaSet under the surge limit, and proportional scaling.

use miniserde::json::Value;

use crate::object::meta;

/// An int-or-string like `2` or `"25%"` scaled against `total`.
pub fn scaled_value(v: Option<&Value>, default_percent: i64, total: i64, round_up: bool) -> i64 {
    let percent = match v {
        Some(Value::String(s)) => match s.strip_suffix('%').and_then(|p| p.parse::<i64>().ok()) {
            Some(p) => p,
            None => return s.parse().unwrap_or(0),
        },
        Some(n @ Value::Number(_)) => return meta::get_i64(n, &[]).unwrap_or(0),
        _ => default_percent,
    };
    let scaled = percent * total;
    if round_up {
        (scaled + 99).div_euclid(100)
    } else {
        scaled.div_euclid(100)
    }
}

/// `(maxSurge, maxUnavailable)` for `replicas`, never both zero (ResolveFenceposts).
pub fn fenceposts(
    max_surge: Option<&Value>,
    max_unavailable: Option<&Value>,
    replicas: i64,
) -> (i64, i64) {
    let surge = scaled_value(max_surge, 25, replicas, true);
    let unavailable = scaled_value(max_unavailable, 25, replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The new ReplicaSet's size for a rolling update: grow by what the surge allows, never
/// beyond the desired count.
pub fn new_rs_replicas(desired: i64, max_surge: i64, all_pods: i64, new_rs: i64) -> i64 {
    let max_total = desired + max_surge;
    if all_pods >= max_total {
        return new_rs;
    }
    let scale_up = max_total - all_pods;
    new_rs + scale_up.min(desired - new_rs)
}

/// How many replicas a ReplicaSet of `rs_replicas` gains (or loses) when the deployment
/// grows to `desired` (upstream's getReplicaSetFraction).
pub fn rs_fraction(rs_replicas: i64, desired: i64, max_surge: i64, annotated: i64) -> i64 {
    if desired == 0 {
        return -rs_replicas;
    }
    if annotated == 0 {
        return 0;
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let size = ((rs_replicas * (desired + max_surge)) as f64 / annotated as f64).round() as i64;
    size - rs_replicas
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::patch::value::parse;

    #[test]
    fn percentages_round_surge_up_and_unavailability_down() {
        let p = parse(r#""25%""#).unwrap();
        assert_eq!(scaled_value(Some(&p), 0, 10, true), 3);
        assert_eq!(scaled_value(Some(&p), 0, 10, false), 2);
        assert_eq!(scaled_value(None, 25, 3, true), 1);
        assert_eq!(scaled_value(None, 25, 3, false), 0);
        let n = parse("2").unwrap();
        assert_eq!(scaled_value(Some(&n), 25, 10, false), 2);
    }

    #[test]
    fn fenceposts_never_both_zero() {
        let zero = parse("0").unwrap();
        assert_eq!(fenceposts(Some(&zero), Some(&zero), 3), (0, 1));
        assert_eq!(fenceposts(None, None, 4), (1, 1));
    }

    #[test]
    fn new_replica_set_grows_within_the_surge() {
        assert_eq!(new_rs_replicas(3, 1, 3, 0), 1);
        assert_eq!(new_rs_replicas(3, 1, 4, 1), 1);
        assert_eq!(new_rs_replicas(3, 5, 3, 0), 3);
    }

    #[test]
    fn proportional_fraction_follows_the_max_replicas_annotation() {
        // Two ReplicaSets of 5 under a deployment of 10 (surge 0) growing to 20.
        assert_eq!(rs_fraction(5, 20, 0, 10), 5);
        assert_eq!(rs_fraction(5, 0, 0, 10), -5);
    }
}
