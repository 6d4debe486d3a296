//! kubectl 1.32 against the real `wisp run`: PodDisruptionBudget status written by the
//! disruption controller, and `kubectl drain` (cordon, then evictions that honour the budget)
//! on the one node. As in kubectl_workloads.rs there is no node agent: a fake node thread
//! marks bound pods Running and Ready and finishes graceful deletions.

mod support;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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

const PDB: &str = "\
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 1
  selector:
    matchLabels:
      app: web
";

fn wait_for(wisp: &Wisp, timeout: Duration, what: &str, ok: impl Fn(&Wisp) -> bool) {
    let start = Instant::now();
    while !ok(wisp) {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn drain_evicts_through_the_disruption_budget() {
    let wisp = with_node("drain");
    let _node = FakeNode::start(&wisp);
    wisp.ok(&[
        "create",
        "deployment",
        "web",
        "--image=busybox",
        "--replicas=2",
    ]);
    wisp.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    let pdb = write_file(&wisp.dir, "pdb.yaml", PDB);
    wisp.ok(&["apply", "-f", pdb.to_str().unwrap()]);
    wait_for(&wisp, Duration::from_secs(10), "the budget's status", |w| {
        let p = json(&w.ok(&["get", "pdb", "web", "-o", "json"]));
        at(&p, "status.disruptionsAllowed").as_deref() == Some("1")
    });
    let p = json(&wisp.ok(&["get", "pdb", "web", "-o", "json"]));
    assert_eq!(at(&p, "status.currentHealthy").as_deref(), Some("2"));
    assert_eq!(at(&p, "status.desiredHealthy").as_deref(), Some("1"));
    assert_eq!(at(&p, "status.expectedPods").as_deref(), Some("2"));
    assert_eq!(at(&p, "status.observedGeneration").as_deref(), Some("1"));
    assert_eq!(
        at(&p, "status.conditions.0.type").as_deref(),
        Some("DisruptionAllowed")
    );
    assert_eq!(
        at(&p, "status.conditions.0.reason").as_deref(),
        Some("SufficientPods")
    );
    let table = wisp.ok(&["get", "pdb", "web"]);
    assert!(
        table
            .lines()
            .nth(1)
            .is_some_and(|l| l.split_whitespace().nth(3) == Some("1")),
        "{table}"
    );

    // One node: the first eviction replaces a pod that cannot be scheduled anywhere (the
    // node is cordoned), so the budget refuses the second until drain gives up.
    let drain = wisp.kubectl(&["drain", "node1", "--ignore-daemonsets", "--timeout=12s"]);
    assert!(!drain.status_ok(), "{drain:?}");
    let said = format!("{}{}", drain.stdout, drain.stderr);
    assert!(
        said.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{said}"
    );
    assert!(said.contains("evicted"), "{said}");
    let node = wisp.ok(&["get", "node", "node1"]);
    assert!(node.contains("SchedulingDisabled"), "{node}");
    let taints = wisp.ok(&[
        "get",
        "node",
        "node1",
        "-o",
        "jsonpath={.spec.taints[*].key}",
    ]);
    assert!(
        taints.contains("node.kubernetes.io/unschedulable"),
        "{taints}"
    );

    // Without the budget, drain evicts the rest and succeeds.
    wisp.ok(&["delete", "pdb", "web"]);
    let drain = wisp.kubectl(&["drain", "node1", "--ignore-daemonsets", "--timeout=30s"]);
    assert!(drain.status_ok(), "{drain:?}");
    let running = wisp.ok(&[
        "get",
        "pods",
        "--field-selector=spec.nodeName=node1",
        "-o",
        "name",
    ]);
    assert!(running.trim().is_empty(), "{running}");
    wisp.ok(&["uncordon", "node1"]);
    wisp.ok(&["rollout", "status", "deploy/web", "--timeout=60s"]);
    drop(_node);
    wisp.stop();
}
