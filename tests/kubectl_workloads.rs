//! kubectl 1.32 against the real `wisp run` with the workload controllers and the
//! scheduler: Deployment rollouts (status, undo, restart, pause/resume, scale), a pod too big
//! for the node, Jobs that complete and that exceed their backoff limit, a StatefulSet's
//! ordered start, and foreground/orphan deletion of a Deployment. There is no node agent in
//! these tests: a Node object is created by kubectl, and a fake node thread marks bound pods
//! Running and Ready (and finishes graceful deletions) through kubectl, as the agent would.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use support::{Wisp, at, json, write_file};

const NODE: &str = "\
apiVersion: v1
kind: Node
metadata:
  name: node1
  labels:
    kubernetes.io/hostname: node1
";

const NODE_STATUS: &str = r#"{"status":{"allocatable":{"cpu":"4","memory":"8Gi","pods":"110"},"capacity":{"cpu":"4","memory":"8Gi","pods":"110"},"conditions":[{"type":"Ready","status":"True"}]}}"#;

/// A stand-in for the node agent, running until dropped.
struct FakeNode {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeNode {
    fn start(wisp: &Wisp) -> FakeNode {
        let stop = Arc::new(AtomicBool::new(false));
        let (kubeconfig, home) = (wisp.kubeconfig.clone(), wisp.dir.join("fake-node-home"));
        std::fs::create_dir_all(&home).expect("fake node home");
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                pass(&kubeconfig, &home);
                std::thread::sleep(Duration::from_millis(200));
            }
        });
        FakeNode {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn kubectl(kubeconfig: &PathBuf, home: &PathBuf, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env("HOME", home)
        .stdin(Stdio::null())
        .output();
    out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// One pass of the fake node: bound pods not yet Running become Running and Ready; pods
/// being deleted are removed. Pods a test finished (Succeeded/Failed) are left alone.
fn pass(kubeconfig: &PathBuf, home: &PathBuf) {
    let template = "{range .items[*]}{.metadata.namespace}|{.metadata.name}|{.spec.nodeName}|{.metadata.deletionTimestamp}|{.status.phase}{\"\\n\"}{end}";
    let list = kubectl(
        kubeconfig,
        home,
        &["get", "pods", "-A", "-o", &format!("jsonpath={template}")],
    );
    for line in list.lines() {
        let f: Vec<&str> = line.split('|').collect();
        let [ns, name, node, deleting, phase] = f[..] else {
            continue;
        };
        if !deleting.is_empty() {
            kubectl(
                kubeconfig,
                home,
                &[
                    "delete",
                    "pod",
                    "-n",
                    ns,
                    name,
                    "--grace-period=0",
                    "--force",
                ],
            );
        } else if !node.is_empty() && (phase.is_empty() || phase == "Pending") {
            let status = r#"{"status":{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},{"type":"Ready","status":"True"}]}}"#;
            kubectl(
                kubeconfig,
                home,
                &[
                    "patch",
                    "pod",
                    "-n",
                    ns,
                    name,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    status,
                ],
            );
        }
    }
}

fn with_node(tag: &str) -> Wisp {
    let wisp = Wisp::start(tag);
    let file = write_file(&wisp.dir, "node.yaml", NODE);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    wisp.ok(&[
        "patch",
        "node",
        "node1",
        "--subresource=status",
        "--type=merge",
        "-p",
        NODE_STATUS,
    ]);
    wisp
}

fn rollout_status(wisp: &Wisp, what: &str) -> String {
    wisp.ok(&["rollout", "status", what, "--timeout=90s"])
}

#[test]
fn deployment_rollouts_with_kubectl() {
    let wisp = with_node("rollouts");
    let _node = FakeNode::start(&wisp);
    wisp.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=3",
    ]);
    assert!(rollout_status(&wisp, "deploy/web").contains("successfully rolled out"));
    wisp.ok(&["set", "image", "deploy/web", "busybox=busybox:1.36"]);
    assert!(rollout_status(&wisp, "deploy/web").contains("successfully rolled out"));
    wisp.ok(&["rollout", "undo", "deploy/web"]);
    rollout_status(&wisp, "deploy/web");
    let d = json(&wisp.ok(&["get", "deploy", "web", "-o", "json"]));
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.image").as_deref(),
        Some("busybox")
    );
    let history = wisp.ok(&["rollout", "history", "deploy/web"]);
    assert!(
        history.contains("\n2 ") && history.contains("\n3 "),
        "{history}"
    );
    wisp.ok(&["rollout", "restart", "deploy/web"]);
    rollout_status(&wisp, "deploy/web");
    wisp.ok(&["scale", "deploy/web", "--replicas=5"]);
    rollout_status(&wisp, "deploy/web");
    let d = json(&wisp.ok(&["get", "deploy", "web", "-o", "json"]));
    assert_eq!(at(&d, "status.availableReplicas").as_deref(), Some("5"));
    wisp.ok(&["rollout", "pause", "deploy/web"]);
    wisp.ok(&["set", "image", "deploy/web", "busybox=busybox:1.37"]);
    let before = wisp.ok(&["get", "rs", "-o", "name"]).lines().count();
    wisp.ok(&["rollout", "resume", "deploy/web"]);
    rollout_status(&wisp, "deploy/web");
    let after = wisp.ok(&["get", "rs", "-o", "name"]).lines().count();
    assert_eq!(
        after,
        before + 1,
        "the paused template change rolls out on resume"
    );
    let describe = wisp.ok(&["describe", "deploy", "web"]);
    assert!(describe.contains("ScalingReplicaSet"), "{describe}");
    drop(_node);
    wisp.stop();
}

#[test]
fn a_pod_too_big_for_the_node_stays_pending_with_the_event() {
    let wisp = with_node("too-big");
    let overrides = r#"{"spec":{"containers":[{"name":"big","image":"busybox","resources":{"requests":{"cpu":"64"}}}]}}"#;
    wisp.ok(&[
        "run",
        "big",
        "--image=busybox",
        &format!("--overrides={overrides}"),
    ]);
    let mut describe = String::new();
    for _ in 0..50 {
        describe = wisp.ok(&["describe", "pod", "big"]);
        if describe.contains("FailedScheduling") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        describe.contains("0/1 nodes are available: 1 Insufficient cpu."),
        "{describe}"
    );
    let pod = json(&wisp.ok(&["get", "pod", "big", "-o", "json"]));
    assert_eq!(at(&pod, "status.phase").as_deref(), Some("Pending"));
    assert_eq!(at(&pod, "spec.nodeName"), None);
    wisp.stop();
}

fn finish_job_pods(wisp: &Wisp, job: &str, phase: &str) {
    for _ in 0..50 {
        let pods = wisp.ok(&[
            "get",
            "pods",
            "-l",
            &format!("job-name={job}"),
            "-o",
            "name",
        ]);
        if !pods.trim().is_empty() {
            for pod in pods.lines() {
                let status = format!(r#"{{"status":{{"phase":"{phase}"}}}}"#);
                wisp.ok(&[
                    "patch",
                    pod,
                    "--subresource=status",
                    "--type=merge",
                    "-p",
                    &status,
                ]);
            }
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("job {job} created no pod");
}

#[test]
fn jobs_complete_or_exceed_their_backoff_limit() {
    let wisp = with_node("jobs");
    wisp.ok(&["create", "job", "hello", "--image=busybox"]);
    finish_job_pods(&wisp, "hello", "Succeeded");
    wisp.ok(&[
        "wait",
        "--for=condition=complete",
        "job/hello",
        "--timeout=60s",
    ]);
    let bad = "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad}\nspec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: busybox}]\n";
    let file = write_file(&wisp.dir, "bad.yaml", bad);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    finish_job_pods(&wisp, "bad", "Failed");
    wisp.ok(&["wait", "--for=condition=failed", "job/bad", "--timeout=60s"]);
    let job = json(&wisp.ok(&["get", "job", "bad", "-o", "json"]));
    assert_eq!(
        at(&job, "status.conditions.0.reason").as_deref(),
        Some("BackoffLimitExceeded")
    );
    wisp.stop();
}

#[test]
fn statefulset_starts_in_order_and_deletion_cascades() {
    let wisp = with_node("ordered");
    let _node = FakeNode::start(&wisp);
    let sts = "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\nspec:\n  replicas: 3\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    metadata: {labels: {app: db}}\n    spec: {containers: [{name: c, image: busybox}]}\n";
    let file = write_file(&wisp.dir, "sts.yaml", sts);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    let status = rollout_status(&wisp, "sts/db");
    assert!(
        status.contains("Waiting for"),
        "OrderedReady starts pods one by one: {status}"
    );
    let names = wisp.ok(&["get", "pods", "-l", "app=db", "-o", "name"]);
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        vec!["pod/db-0", "pod/db-1", "pod/db-2"]
    );

    wisp.ok(&[
        "create",
        "deployment",
        "fg",
        "--image=busybox",
        "--replicas=2",
    ]);
    wisp.ok(&[
        "create",
        "deployment",
        "orphan",
        "--image=busybox",
        "--replicas=2",
    ]);
    rollout_status(&wisp, "deploy/fg");
    rollout_status(&wisp, "deploy/orphan");
    wisp.ok(&[
        "delete",
        "deploy",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert_eq!(
        wisp.ok(&["get", "pods", "-l", "app=fg", "-o", "name"])
            .trim(),
        ""
    );
    wisp.ok(&["delete", "deploy", "orphan", "--cascade=orphan"]);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        wisp.ok(&["get", "pods", "-l", "app=orphan", "-o", "name"])
            .lines()
            .count(),
        2
    );
    drop(_node);
    wisp.stop();
}

const BENCH_DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench}
spec:
  replicas: 100
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      containers:
      - name: c
        image: busybox
        resources: {requests: {cpu: 10m, memory: 16Mi}}
";

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/<pid>/stat");
    let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Issue 6's benchmark: `kubectl apply` of a 100-replica Deployment until all 100 pods exist
/// and are bound (polled with kubectl, so the figure includes one kubectl round trip), then
/// the control plane's CPU time over 60 s idle with it rolled out (goal: under 0.3 s).
#[test]
#[ignore = "benchmark: cargo test --release --test kubectl_workloads -- --ignored --nocapture"]
fn hundred_replicas_bound_then_idle_cpu() {
    let wisp = with_node("bench");
    let file = write_file(&wisp.dir, "bench.yaml", BENCH_DEPLOYMENT);
    let started = std::time::Instant::now();
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    let jsonpath = "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}";
    loop {
        let nodes = wisp.ok(&["get", "pods", "-l", "app=bench", "-o", jsonpath]);
        if nodes.lines().filter(|n| *n == "node1").count() >= 100 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "100 pods not bound in 120 s"
        );
    }
    let bound = started.elapsed();
    let node = FakeNode::start(&wisp);
    rollout_status(&wisp, "deploy/bench");
    drop(node);
    std::thread::sleep(Duration::from_secs(5));
    let ticks_per_second = 100; // USER_HZ on Linux
    let before = cpu_ticks(wisp.pid());
    std::thread::sleep(Duration::from_secs(60));
    let idle_ms = (cpu_ticks(wisp.pid()) - before) * 1000 / ticks_per_second;
    println!(
        "100 pods created and bound {bound:?} after kubectl apply; idle 60 s: {idle_ms} ms CPU"
    );
    assert!(
        idle_ms < 300,
        "idle CPU {idle_ms} ms over 60 s is above the 0.3 s goal"
    );
    wisp.stop();
}

/// Waits for the next minute: this test takes up to 70 s.
#[test]
fn a_cron_job_fires_every_minute() {
    let wisp = with_node("cron");
    wisp.ok(&[
        "create",
        "cronjob",
        "tick",
        "--image=busybox",
        "--schedule=* * * * *",
    ]);
    let started = std::time::Instant::now();
    let jobs = loop {
        let jobs = wisp.ok(&["get", "jobs", "-o", "name"]);
        if !jobs.trim().is_empty() {
            break jobs;
        }
        assert!(
            started.elapsed() < Duration::from_secs(75),
            "no Job within 75 s"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(jobs.trim().starts_with("job.batch/tick-"), "{jobs}");
    let cj = json(&wisp.ok(&["get", "cronjob", "tick", "-o", "json"]));
    assert!(at(&cj, "status.lastScheduleTime").is_some());
    assert_eq!(at(&cj, "status.active.0.kind").as_deref(), Some("Job"));
    let describe = wisp.ok(&["describe", "cronjob", "tick"]);
    assert!(describe.contains("SuccessfulCreate"), "{describe}");
    wisp.stop();
}
