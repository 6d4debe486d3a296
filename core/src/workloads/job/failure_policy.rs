//! A Job's `podFailurePolicy`, as upstream's: the first rule matching a failed pod decides
//! what its failure means. `onExitCodes` matches a container (or init container) that
//! terminated with a non-zero code In / NotIn the listed values, optionally only the named
//! container; `onPodConditions` matches a pod condition of that type and status (True by
//! default), such as DisruptionTarget on an evicted pod. Actions: FailJob (the Job fails
//! with reason PodFailurePolicy), Ignore (the failure is not counted toward backoffLimit),
//! Count (the default). FailIndex (backoffLimitPerIndex) is not supported and counts.

use miniserde::json::Value;

use crate::object::meta;

/// What a failed pod's failure means for its Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fail the Job with this message.
    FailJob(String),
    Ignore,
    Count,
}

fn list<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// The outcome for a pod in phase Failed.
pub fn judge(job: &Value, pod: &Value) -> Outcome {
    for (index, rule) in list(job, &["spec", "podFailurePolicy", "rules"])
        .iter()
        .enumerate()
    {
        let action = meta::get_str(rule, &["action"]).unwrap_or("");
        let Some(what) = matching(rule, pod) else {
            continue;
        };
        return match action {
            "FailJob" => {
                let ns = meta::namespace(pod).unwrap_or("");
                let name = meta::name(pod).unwrap_or("");
                Outcome::FailJob(match what {
                    Match::ExitCode(container, code) => format!(
                        "Container {container} for pod {ns}/{name} failed with exit code {code} matching FailJob rule at index {index}"
                    ),
                    Match::Condition(kind) => format!(
                        "Pod {ns}/{name} has condition {kind} matching FailJob rule at index {index}"
                    ),
                })
            }
            "Ignore" => Outcome::Ignore,
            _ => Outcome::Count,
        };
    }
    Outcome::Count
}

enum Match {
    ExitCode(String, i64),
    Condition(String),
}

fn matching(rule: &Value, pod: &Value) -> Option<Match> {
    if let Some(req) = meta::get_path(rule, &["onExitCodes"]) {
        return exit_code_match(req, pod);
    }
    list(rule, &["onPodConditions"]).iter().find_map(|pattern| {
        let kind = meta::get_str(pattern, &["type"])?;
        let status = meta::get_str(pattern, &["status"]).unwrap_or("True");
        list(pod, &["status", "conditions"])
            .iter()
            .any(|c| {
                meta::get_str(c, &["type"]) == Some(kind)
                    && meta::get_str(c, &["status"]) == Some(status)
            })
            .then(|| Match::Condition(kind.to_owned()))
    })
}

/// Containers first, then init containers, as upstream looks.
fn exit_code_match(req: &Value, pod: &Value) -> Option<Match> {
    let only = meta::get_str(req, &["containerName"]);
    let operator = meta::get_str(req, &["operator"]).unwrap_or("");
    let values: Vec<i64> = list(req, &["values"])
        .iter()
        .filter_map(|v| meta::get_i64(v, &[]))
        .collect();
    ["containerStatuses", "initContainerStatuses"]
        .iter()
        .flat_map(|field| list(pod, &["status", field]).iter())
        .find_map(|status| {
            let name = meta::get_str(status, &["name"]).unwrap_or("");
            if only.is_some_and(|o| o != name) {
                return None;
            }
            let code = meta::get_i64(status, &["state", "terminated", "exitCode"])?;
            let listed = values.contains(&code);
            let hit = code != 0
                && match operator {
                    "In" => listed,
                    "NotIn" => !listed,
                    _ => false,
                };
            hit.then(|| Match::ExitCode(name.to_owned(), code))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        meta::from_json_bytes(s.as_bytes()).unwrap()
    }

    const JOB: &str = r#"{"spec":{"podFailurePolicy":{"rules":[
        {"action":"Ignore","onPodConditions":[{"type":"DisruptionTarget"}]},
        {"action":"FailJob","onExitCodes":{"containerName":"main","operator":"In","values":[42]}},
        {"action":"Count","onExitCodes":{"operator":"NotIn","values":[1]}},
        {"action":"FailJob","onExitCodes":{"operator":"NotIn","values":[7]}}]}}}"#;

    fn pod(container: &str, code: i64, conditions: &str) -> Value {
        parse(&format!(
            r#"{{"metadata":{{"name":"p","namespace":"ns"}},"status":{{"phase":"Failed","conditions":[{conditions}],
            "containerStatuses":[{{"name":"{container}","state":{{"terminated":{{"exitCode":{code}}}}}}}]}}}}"#
        ))
    }

    #[test]
    fn the_first_matching_rule_decides() {
        let job = parse(JOB);
        assert_eq!(
            judge(&job, &pod("main", 42, "")),
            Outcome::FailJob(
                "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"
                    .into()
            )
        );
        assert_eq!(judge(&job, &pod("side", 42, "")), Outcome::Count);
        assert_eq!(
            judge(
                &job,
                &pod("main", 42, r#"{"type":"DisruptionTarget","status":"True"}"#)
            ),
            Outcome::Ignore
        );
        assert_eq!(
            judge(&job, &pod("main", 1, "")),
            Outcome::FailJob(
                "Container main for pod ns/p failed with exit code 1 matching FailJob rule at index 3"
                    .into()
            )
        );
    }

    #[test]
    fn exit_code_zero_never_matches_and_conditions_name_themselves() {
        let job = parse(
            r#"{"spec":{"podFailurePolicy":{"rules":[
            {"action":"FailJob","onExitCodes":{"operator":"NotIn","values":[5]}},
            {"action":"FailJob","onPodConditions":[{"type":"DisruptionTarget","status":"True"}]}]}}}"#,
        );
        assert_eq!(judge(&job, &pod("main", 0, "")), Outcome::Count);
        assert_eq!(
            judge(
                &job,
                &pod("main", 0, r#"{"type":"DisruptionTarget","status":"True"}"#)
            ),
            Outcome::FailJob(
                "Pod ns/p has condition DisruptionTarget matching FailJob rule at index 1".into()
            )
        );
        assert_eq!(judge(&parse("{}"), &pod("main", 3, "")), Outcome::Count);
    }
}
