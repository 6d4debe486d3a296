//! kubectl 1.32 against the real `wisp run` (control plane only): an Indexed Job whose pods
//! carry their completion index and finish it (the test plays the node, writing pod
//! status), a Job failed by its podFailurePolicy, and CronJob time zones accepted from the
//! host's tz database or refused with upstream's message.

mod support;

use support::{Wisp, write_file};

const INDEXED: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: idx
spec:
  completions: 3
  parallelism: 3
  completionMode: Indexed
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
";

const POLICY: &str = "\
apiVersion: batch/v1
kind: Job
metadata:
  name: pfp
spec:
  backoffLimit: 6
  podFailurePolicy:
    rules:
    - action: FailJob
      onExitCodes:
        containerName: main
        operator: In
        values: [42]
  template:
    spec:
      restartPolicy: Never
      containers:
      - name: main
        image: busybox
";

fn pods_of(wisp: &Wisp, job: &str) -> Vec<String> {
    let names = wisp.ok(&[
        "get",
        "pods",
        "-l",
        &format!("job-name={job}"),
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ]);
    names.split_whitespace().map(str::to_owned).collect()
}

fn set_status(wisp: &Wisp, pod: &str, status: &str) {
    wisp.ok(&[
        "patch",
        "pod",
        pod,
        "--subresource=status",
        "--type=merge",
        "-p",
        &format!(r#"{{"status":{status}}}"#),
    ]);
}

#[test]
fn indexed_jobs_and_pod_failure_policy_with_kubectl() {
    let wisp = Wisp::start("batch-jobs");
    let file = write_file(&wisp.dir, "idx.yaml", INDEXED);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    let mut pods = Vec::new();
    for _ in 0..40 {
        pods = pods_of(&wisp, "idx");
        if pods.len() == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    assert_eq!(pods.len(), 3, "{pods:?}");
    let indexes = wisp.ok(&[
        "get",
        "pods",
        "-l",
        "job-name=idx",
        "-o",
        "jsonpath={range .items[*]}{.metadata.labels.batch\\.kubernetes\\.io/job-completion-index} {.spec.hostname} {.spec.containers[0].env[0].name}{\"\\n\"}{end}",
    ]);
    let mut lines: Vec<&str> = indexes.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "0 idx-0 JOB_COMPLETION_INDEX",
            "1 idx-1 JOB_COMPLETION_INDEX",
            "2 idx-2 JOB_COMPLETION_INDEX"
        ]
    );
    for pod in &pods {
        set_status(&wisp, pod, r#"{"phase":"Succeeded"}"#);
    }
    wisp.ok(&[
        "wait",
        "--for=condition=complete",
        "job/idx",
        "--timeout=20s",
    ]);
    let done = wisp.ok(&[
        "get",
        "job",
        "idx",
        "-o",
        "jsonpath={.status.completedIndexes}",
    ]);
    assert_eq!(done, "0-2");

    let file = write_file(&wisp.dir, "pfp.yaml", POLICY);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    let mut pods = Vec::new();
    for _ in 0..40 {
        pods = pods_of(&wisp, "pfp");
        if !pods.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    set_status(
        &wisp,
        &pods[0],
        r#"{"phase":"Failed","containerStatuses":[{"name":"main","image":"busybox","imageID":"","ready":false,"restartCount":0,"state":{"terminated":{"exitCode":42}}}]}"#,
    );
    wisp.ok(&["wait", "--for=condition=failed", "job/pfp", "--timeout=20s"]);
    let reason = wisp.ok(&[
        "get",
        "job",
        "pfp",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}",
    ]);
    assert_eq!(reason, "PodFailurePolicy");
    wisp.stop();
}

#[test]
fn cron_job_time_zones_with_kubectl() {
    let wisp = Wisp::start("batch-cron");
    let refused = wisp
        .kubectl(&[
            "create",
            "cronjob",
            "bad",
            "--image=busybox",
            "--schedule=0 3 * * *",
            "--dry-run=client",
            "-o",
            "json",
        ])
        .stdout;
    let with_zone = refused.replacen(
        "\"schedule\": \"0 3 * * *\",",
        "\"schedule\": \"0 3 * * *\", \"timeZone\": \"Nowhere/Atlantis\",",
        1,
    );
    let file = write_file(&wisp.dir, "bad.json", &with_zone);
    let out = wisp.kubectl(&["create", "-f", file.to_str().unwrap()]);
    assert!(!out.status_ok());
    assert!(
        out.stderr
            .contains(r#"spec.timeZone: Invalid value: "Nowhere/Atlantis": unknown time zone Nowhere/Atlantis"#),
        "{}",
        out.stderr
    );
    if std::path::Path::new("/usr/share/zoneinfo/Europe/Berlin").exists() {
        let good = with_zone
            .replace("Nowhere/Atlantis", "Europe/Berlin")
            .replace("\"bad\"", "\"good\"");
        let file = write_file(&wisp.dir, "good.json", &good);
        wisp.ok(&["create", "-f", file.to_str().unwrap()]);
        let table = wisp.ok(&["get", "cronjob", "good"]);
        assert!(table.contains("Europe/Berlin"), "{table}");
    }
    wisp.stop();
}
