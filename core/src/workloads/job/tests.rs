//! Indexed Jobs and podFailurePolicy against a real API server (in-memory store), the
//! node agent simulated by status writes.

use miniserde::json::Value;

use super::indexed::INDEX_KEY;
use crate::object::meta;
use crate::workloads::client::keys;
use crate::workloads::objects;
use crate::workloads::tests::Cluster;

const JOBS: &str = "/apis/batch/v1/namespaces/default/jobs";

fn job(name: &str, spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{name}","namespace":"default"}},
        "spec":{{{spec}"template":{{"spec":{{"restartPolicy":"Never","containers":[{{"name":"main","image":"busybox"}}]}}}}}}}}"#
    )
}

fn get_job(c: &Cluster, name: &str) -> Value {
    c.get(&keys::object(keys::JOBS, "default", name))
}

fn finish(c: &Cluster, pod: &Value, status: &str) {
    let name = meta::name(pod).unwrap_or("");
    c.merge(
        &format!("/api/v1/namespaces/default/pods/{name}/status"),
        &format!(r#"{{"status":{status}}}"#),
    );
}

fn index(pod: &Value) -> String {
    meta::get_str(pod, &["metadata", "annotations", INDEX_KEY])
        .unwrap_or("")
        .to_owned()
}

fn reason(job: &Value, kind: &str) -> (String, String) {
    let c = objects::condition(job, kind);
    let field = |f: &str| {
        c.and_then(|c| meta::get_str(c, &[f]))
            .unwrap_or("")
            .to_owned()
    };
    (field("reason"), field("message"))
}

#[test]
fn an_indexed_job_runs_each_index_once_and_records_completed_indexes() {
    let c = Cluster::new();
    c.add_node();
    c.create(
        JOBS,
        &job(
            "idx",
            r#""completions":4,"parallelism":2,"completionMode":"Indexed","#,
        ),
    );
    c.settle();
    let mut pods = c.active_pods();
    pods.sort_by_key(index);
    assert_eq!(pods.iter().map(index).collect::<Vec<_>>(), ["0", "1"]);
    let p0 = &pods[0];
    assert!(meta::name(p0).unwrap().starts_with("idx-0-"));
    assert_eq!(
        meta::get_str(p0, &["metadata", "labels", INDEX_KEY]),
        Some("0")
    );
    assert_eq!(meta::get_str(p0, &["spec", "hostname"]), Some("idx-0"));
    let env = String::from_utf8(meta::to_json_bytes(
        meta::get_path(p0, &["spec", "containers"]).unwrap(),
    ))
    .unwrap();
    assert!(
        env.contains(r#""name":"JOB_COMPLETION_INDEX""#)
            && env.contains("metadata.labels['batch.kubernetes.io/job-completion-index']"),
        "{env}"
    );

    // Index 1 succeeds: it is recorded and the next missing index (2) starts.
    finish(&c, &pods[1], r#"{"phase":"Succeeded"}"#);
    c.settle();
    let j = get_job(&c, "idx");
    assert_eq!(
        meta::get_str(&j, &["status", "completedIndexes"]),
        Some("1")
    );
    let mut active: Vec<String> = c.active_pods().iter().map(index).collect();
    active.sort();
    assert_eq!(active, ["0", "2"]);
    for pod in c.active_pods() {
        finish(&c, &pod, r#"{"phase":"Succeeded"}"#);
    }
    c.settle();
    let last = c.active_pods();
    assert_eq!(last.iter().map(index).collect::<Vec<_>>(), ["3"]);
    finish(&c, &last[0], r#"{"phase":"Succeeded"}"#);
    c.settle();
    let j = get_job(&c, "idx");
    assert_eq!(
        meta::get_str(&j, &["status", "completedIndexes"]),
        Some("0-3")
    );
    assert_eq!(meta::get_i64(&j, &["status", "succeeded"]), Some(4));
    assert_eq!(reason(&j, "Complete").0, "CompletionsReached");
}

const POLICY: &str = r#""backoffLimit":3,"podFailurePolicy":{"rules":[
    {"action":"Ignore","onPodConditions":[{"type":"DisruptionTarget"}]},
    {"action":"FailJob","onExitCodes":{"containerName":"main","operator":"In","values":[42]}}]},"#;

#[test]
fn pod_failure_policy_ignores_disruptions_and_fails_the_job_on_an_exit_code() {
    let c = Cluster::new();
    c.add_node();
    c.create(JOBS, &job("pfp", POLICY));
    c.settle();
    let pod = c.active_pods().remove(0);
    finish(
        &c,
        &pod,
        r#"{"phase":"Failed","conditions":[{"type":"DisruptionTarget","status":"True","reason":"EvictionByEvictionAPI"}]}"#,
    );
    c.settle();
    let j = get_job(&c, "pfp");
    assert_eq!(meta::get_i64(&j, &["status", "failed"]), None, "ignored");
    let replacement = c.active_pods();
    assert_eq!(
        replacement.len(),
        1,
        "an ignored failure is replaced at once"
    );

    finish(
        &c,
        &replacement[0],
        r#"{"phase":"Failed","containerStatuses":[{"name":"main","state":{"terminated":{"exitCode":42}}}]}"#,
    );
    c.settle();
    let j = get_job(&c, "pfp");
    let (why, message) = reason(&j, "Failed");
    assert_eq!(why, "PodFailurePolicy");
    let name = meta::name(&replacement[0]).unwrap();
    assert_eq!(
        message,
        format!(
            "Container main for pod default/{name} failed with exit code 42 matching FailJob rule at index 1"
        )
    );
    assert_eq!(meta::get_i64(&j, &["status", "failed"]), Some(1));
}
