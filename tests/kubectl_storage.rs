//! PersistentVolumeClaims end to end: wisp with its node agent (runc, busybox image built
//! by the test), the default `local-path` StorageClass, the volume binder and the
//! scheduler's WaitForFirstConsumer path, driven by the real kubectl. Needs root and runc
//! (CI installs them); without them each test says why it is skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use support::{Wisp, at, json};
use wisp_node::image::ArchiveFormat;
use wisp_node::image::testimage::write_busybox_archive;

const IMAGE: &str = "wisp.test/busybox:1.0";

fn prerequisites() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    if Command::new("runc").arg("--version").output().is_err() {
        return Err("runc is not installed".into());
    }
    if !wisp_node::image::testimage::busybox_available() {
        return Err("busybox-static is not installed".into());
    }
    Ok(())
}

macro_rules! require_node {
    ($name:literal) => {
        if let Err(why) = prerequisites() {
            eprintln!("skipping {}: {why}", $name);
            return;
        }
    };
}

/// Pod network ranges of this test binary (kubectl_pods uses 100.., kubectl_services 120..).
static NEXT_POD_NET: AtomicU8 = AtomicU8::new(140);

/// wisp with its node agent, as kubectl_pods starts it.
fn start_node(tag: &str) -> Node {
    let pod_net = NEXT_POD_NET.fetch_add(1, Ordering::Relaxed);
    let wisp = Wisp::start_with(tag, |dir| {
        let images = dir.join("images-in");
        std::fs::create_dir_all(&images).unwrap();
        write_busybox_archive(
            &images.join("busybox.tar"),
            IMAGE,
            ArchiveFormat::Oci,
            false,
        )
        .expect("test image");
        format!(
            "network:\n  podCIDR: 10.{pod_net}.0.0/16\n  bridge: wtest{pod_net}\n  nftTable: wtest{pod_net}\nnode:\n  name: {tag}\n  runDir: {run}\n  podLogsDir: {logs}\n  imagesDir: {images}\n  evictionHard:\n    nodefs.available: 0%\n",
            run = dir.join("run").display(),
            logs = dir.join("logs").display(),
            images = images.display(),
        )
    });
    let node = Node {
        wisp: Some(wisp),
        bridge: format!("wtest{pod_net}"),
    };
    node.wait_for(Duration::from_secs(30), "the node to register", |w| {
        w.kubectl(&["get", "node", tag]).status_ok()
    });
    node
}

/// Stops wisp and removes whatever container state a failed test left on the host.
struct Node {
    wisp: Option<Wisp>,
    bridge: String,
}

impl Node {
    fn w(&self) -> &Wisp {
        self.wisp.as_ref().expect("running")
    }

    fn wait_for(&self, timeout: Duration, what: &str, mut done: impl FnMut(&Wisp) -> bool) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if done(self.w()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let objects = self
            .w()
            .kubectl(&["get", "pods,pvc,pv", "-o", "yaml"])
            .stdout;
        panic!(
            "timed out waiting for {what}; wisp said: {}\n--- objects\n{objects}",
            self.w().stderr_tail()
        );
    }

    fn jsonpath(&self, args: &[&str], path: &str) -> String {
        let template = format!("jsonpath={path}");
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["-o", &template]);
        self.w().kubectl(&all).stdout.trim().to_owned()
    }

    fn wait_phase(&self, pod: &str, phase: &str) {
        self.wait_for(Duration::from_secs(90), &format!("{pod} {phase}"), |_| {
            self.jsonpath(&["get", "pod", pod], "{.status.phase}") == phase
        });
    }

    fn storage_dir(&self) -> PathBuf {
        self.w().dir.join("storage")
    }

    fn stop(mut self) {
        let wisp = self.wisp.take().expect("running");
        let dir = wisp.dir.clone();
        wisp.stop();
        clean_host(&dir, &self.bridge);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(wisp) = self.wisp.take() {
            let dir = wisp.dir.clone();
            drop(wisp);
            clean_host(&dir, &self.bridge);
        }
    }
}

fn clean_host(dir: &Path, bridge: &str) {
    let _ = Command::new("ip").args(["link", "delete", bridge]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", bridge])
        .output();
    let root = dir.join("run/runc");
    let _ = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "for c in $(runc --root {r} list -q 2>/dev/null); do runc --root {r} kill $c KILL 2>/dev/null; runc --root {r} delete -f $c 2>/dev/null; done",
            r = root.display()
        ))
        .status();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounts: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    mounts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for mount in mounts {
        let _ = rustix::mount::unmount(Path::new(mount), rustix::mount::UnmountFlags::DETACH);
    }
}

fn claim_yaml(name: &str, class: Option<&str>) -> String {
    let class = class.map_or(String::new(), |c| format!("  storageClassName: {c}\n"));
    format!(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: {name}\nspec:\n{class}  accessModes: [ReadWriteOnce]\n  resources:\n    requests:\n      storage: 64Mi\n"
    )
}

fn pod_yaml(name: &str, claim: &str, script: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  restartPolicy: Never\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sh, -c, '{script}']\n    volumeMounts:\n    - name: data\n      mountPath: /data\n  volumes:\n  - name: data\n    persistentVolumeClaim:\n      claimName: {claim}\n"
    )
}

#[test]
fn a_claim_keeps_data_across_pods_and_deleting_it_removes_the_directory() {
    require_node!("a_claim_keeps_data_across_pods_and_deleting_it_removes_the_directory");
    let node = start_node("pvc-data");
    let w = node.w();
    let classes = w.ok(&["get", "storageclass"]);
    assert!(
        classes.contains("local-path (default)") && classes.contains("wisp.io/local-path"),
        "{classes}"
    );
    w.ok_stdin(&["apply", "-f", "-"], &claim_yaml("data", None));
    assert_eq!(
        node.jsonpath(&["get", "pvc", "data"], "{.status.phase}"),
        "Pending",
        "WaitForFirstConsumer: no volume before a pod uses the claim"
    );
    w.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("writer", "data", "echo kept > /data/file"),
    );
    node.wait_phase("writer", "Succeeded");
    let claim = json(&w.ok(&["get", "pvc", "data", "-o", "json"]));
    assert_eq!(at(&claim, "status.phase").as_deref(), Some("Bound"));
    let volume = at(&claim, "spec.volumeName").expect("volumeName");
    assert_eq!(
        volume,
        format!("pvc-{}", at(&claim, "metadata.uid").unwrap())
    );
    let pv = json(&w.ok(&["get", "pv", &volume, "-o", "json"]));
    assert_eq!(at(&pv, "status.phase").as_deref(), Some("Bound"));
    assert_eq!(at(&pv, "spec.capacity.storage").as_deref(), Some("64Mi"));
    let dir = node.storage_dir().join(&volume);
    assert_eq!(
        std::fs::read_to_string(dir.join("file")).unwrap_or_default(),
        "kept\n"
    );

    w.ok(&["delete", "pod", "writer", "--wait=true"]);
    w.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("reader", "data", "cat /data/file"),
    );
    node.wait_phase("reader", "Succeeded");
    assert_eq!(w.ok(&["logs", "reader"]).trim(), "kept");
    // A readOnly claim volume is mounted read-only.
    let read_only = pod_yaml(
        "ro",
        "data",
        "cat /data/file; touch /data/new && exit 3; exit 0",
    )
    .replace(
        "      claimName: data\n",
        "      claimName: data\n      readOnly: true\n",
    );
    w.ok_stdin(&["apply", "-f", "-"], &read_only);
    node.wait_phase("ro", "Succeeded");
    assert!(!dir.join("new").exists());

    // pvc-protection: the claim stays while a pod that has not finished uses it.
    w.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("holder", "data", "sleep 3600"),
    );
    node.wait_phase("holder", "Running");
    w.ok(&["delete", "pvc", "data", "--wait=false"]);
    std::thread::sleep(Duration::from_secs(1));
    assert!(
        w.kubectl(&["get", "pvc", "data"]).status_ok(),
        "the claim goes only when its pods are gone"
    );
    assert!(dir.is_dir());
    w.ok(&["delete", "pod", "holder", "reader", "ro", "--wait=true"]);
    node.wait_for(
        Duration::from_secs(60),
        "the claim, volume and directory to go",
        |w| {
            !w.kubectl(&["get", "pvc", "data"]).status_ok()
                && !w.kubectl(&["get", "pv", &volume]).status_ok()
                && !dir.exists()
        },
    );

    // A claim of a class that provisions nothing and has no volume keeps its pod Pending.
    w.ok_stdin(&["apply", "-f", "-"], &claim_yaml("manual", Some("manual")));
    w.ok_stdin(
        &["apply", "-f", "-"],
        &pod_yaml("waiting", "manual", "true"),
    );
    node.wait_for(
        Duration::from_secs(20),
        "the FailedScheduling message",
        |_| {
            node.jsonpath(
                &["get", "pod", "waiting"],
                "{.status.conditions[0].message}",
            ) == "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims."
        },
    );
    node.stop();
}

#[test]
fn a_stateful_set_gets_bound_claims_per_pod() {
    require_node!("a_stateful_set_gets_bound_claims_per_pod");
    let node = start_node("pvc-sts");
    let w = node.w();
    let set = format!(
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  replicas: 2\n  serviceName: db\n  selector:\n    matchLabels: {{app: db}}\n  template:\n    metadata:\n      labels: {{app: db}}\n    spec:\n      terminationGracePeriodSeconds: 1\n      containers:\n      - name: c\n        image: {IMAGE}\n        command: [sh, -c, 'hostname > /data/owner; sleep 3600']\n        volumeMounts:\n        - name: data\n          mountPath: /data\n  volumeClaimTemplates:\n  - metadata:\n      name: data\n    spec:\n      accessModes: [ReadWriteOnce]\n      resources:\n        requests:\n          storage: 16Mi\n"
    );
    w.ok_stdin(&["apply", "-f", "-"], &set);
    w.ok(&["rollout", "status", "statefulset/db", "--timeout=120s"]);
    for ordinal in 0..2 {
        let claim = format!("data-db-{ordinal}");
        assert_eq!(
            node.jsonpath(&["get", "pvc", &claim], "{.status.phase}"),
            "Bound"
        );
        let volume = node.jsonpath(&["get", "pvc", &claim], "{.spec.volumeName}");
        let owner = node.storage_dir().join(&volume).join("owner");
        node.wait_for(Duration::from_secs(20), "the pod's file", |_| {
            std::fs::read_to_string(&owner).unwrap_or_default() == format!("db-{ordinal}\n")
        });
    }
    node.stop();
}
