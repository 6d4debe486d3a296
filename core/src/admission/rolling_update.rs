//! A Deployment's `strategy.rollingUpdate` (`ValidateRollingUpdateDeployment`): maxSurge and
//! maxUnavailable are non-negative counts or percentages, maxUnavailable at most 100%, and
//! not both zero. Values print as Go's `%#v` of an `intstr.IntOrString`, as upstream's do.

use miniserde::json::Value;

use super::fields::go_quote;
use crate::object::meta;
use crate::status::{Cause, field};

const PERCENT_MSG: &str = "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')";

fn go_int_or_string(v: &Value) -> String {
    match v {
        Value::String(s) => format!(
            "intstr.IntOrString{{Type:1, IntVal:0, StrVal:{}}}",
            go_quote(s)
        ),
        other => format!(
            "intstr.IntOrString{{Type:0, IntVal:{}, StrVal:\"\"}}",
            meta::get_i64(other, &[]).unwrap_or(0)
        ),
    }
}

/// The value as a count or percentage; None when malformed (reported separately).
fn amount(v: &Value) -> Option<(i64, bool)> {
    match v {
        Value::String(s) => {
            let digits = s.strip_suffix('%')?;
            (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
                .then(|| digits.parse().ok().map(|n| (n, true)))
                .flatten()
        }
        other => meta::get_i64(other, &[]).map(|n| (n, false)),
    }
}

fn check(v: &Value, path: &str, causes: &mut Vec<Cause>) -> Option<(i64, bool)> {
    let parsed = amount(v);
    match (v, parsed) {
        (Value::String(_), None) => {
            causes.push(field::invalid(path, &go_int_or_string(v), PERCENT_MSG))
        }
        (_, Some((n, false))) if n < 0 => causes.push(field::invalid(
            path,
            &n.to_string(),
            "must be greater than or equal to 0",
        )),
        _ => {}
    }
    parsed
}

pub fn validate(object: &Value, causes: &mut Vec<Cause>) {
    let base = ["spec", "strategy", "rollingUpdate"];
    let Some(ru) = meta::get_path(object, &base) else {
        return;
    };
    let prefix = "spec.strategy.rollingUpdate";
    let unavailable = meta::get_path(ru, &["maxUnavailable"]);
    let surge = meta::get_path(ru, &["maxSurge"]);
    let u = unavailable.and_then(|v| check(v, &format!("{prefix}.maxUnavailable"), causes));
    let s = surge.and_then(|v| check(v, &format!("{prefix}.maxSurge"), causes));
    if let (Some(v), Some((n, true))) = (unavailable, u)
        && n > 100
    {
        causes.push(field::invalid(
            &format!("{prefix}.maxUnavailable"),
            &go_int_or_string(v),
            "must not be greater than 100%",
        ));
    }
    if let (Some(v), Some((0, _)), Some((0, _))) = (unavailable, u, s) {
        causes.push(field::invalid(
            &format!("{prefix}.maxUnavailable"),
            &go_int_or_string(v),
            "may not be 0 when `maxSurge` is 0",
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn causes(ru: &str) -> Vec<String> {
        let v: Value = miniserde::json::from_str(&format!(
            r#"{{"spec":{{"strategy":{{"rollingUpdate":{ru}}}}}}}"#
        ))
        .unwrap();
        let mut c = Vec::new();
        validate(&v, &mut c);
        c.into_iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn upstream_rules_and_renderings() {
        assert!(causes(r#"{"maxUnavailable":"25%","maxSurge":1}"#).is_empty());
        assert_eq!(
            causes(r#"{"maxUnavailable":0,"maxSurge":"0%"}"#),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}: may not be 0 when `maxSurge` is 0"
            ]
        );
        assert_eq!(
            causes(r#"{"maxUnavailable":"150%"}"#),
            vec![
                "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"150%\"}: must not be greater than 100%"
            ]
        );
        assert_eq!(
            causes(r#"{"maxSurge":"x"}"#),
            vec![format!(
                "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{{Type:1, IntVal:0, StrVal:\"x\"}}: {PERCENT_MSG}"
            )]
        );
    }
}
