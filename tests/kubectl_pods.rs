//! Pods as real containers: wisp with its node agent (runc, overlay rootfs, pod
//! namespaces), a busybox image built by the test and imported from the images dir at
//! start (no network), driven by the real kubectl. Needs root and runc (CI installs
//! them); without them each test says why it is skipped.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use support::{Wisp, at, json};
use wisp_node::image::ArchiveFormat;
use wisp_node::image::testimage::write_busybox_archive;

const IMAGE: &str = "wisp.test/busybox:1.0";

/// Root, runc and busybox-static, or the reason they are missing.
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

/// Each wisp of this test binary gets its own pod network range on the shared bridge.
static NEXT_POD_NET: AtomicU8 = AtomicU8::new(100);

/// wisp with its node agent; state, logs and images under the test's own directory.
/// Disk-pressure eviction is off: the tests must not depend on the CI machine's free space.
fn start_node(tag: &str) -> Node {
    start_node_with(tag, "  evictionHard:\n    nodefs.available: 0%\n")
}

/// [`start_node`] with more `node:` settings (YAML lines indented by two spaces).
fn start_node_with(tag: &str, node_extra: &str) -> Node {
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
            "network:\n  podCIDR: 10.{pod_net}.0.0/16\n  bridge: wtest{pod_net}\n  nftTable: wtest{pod_net}\nnode:\n  name: {tag}\n  runDir: {run}\n  podLogsDir: {logs}\n  imagesDir: {images}\n{node_extra}",
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
    /// The test's own CNI bridge, removed at the end.
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
        let pods = self.w().kubectl(&["get", "pods,jobs", "-o", "yaml"]).stdout;
        panic!(
            "timed out waiting for {what}; wisp said: {}\n--- objects\n{pods}",
            self.w().stderr_tail()
        );
    }

    fn run_dir(&self) -> PathBuf {
        self.w().dir.join("run")
    }

    fn runc_list(&self) -> Vec<String> {
        let out = Command::new("runc")
            .arg("--root")
            .arg(self.run_dir().join("runc"))
            .args(["list", "-q"])
            .output()
            .expect("runc list");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn pod_json(&self, name: &str) -> miniserde::json::Value {
        json(&self.w().ok(&["get", "pod", name, "-o", "json"]))
    }

    fn pods_with(&self, selector: &str) -> Vec<String> {
        self.w()
            .ok(&["get", "pods", "-l", selector, "-o", "name"])
            .lines()
            .map(|l| l.trim_start_matches("pod/").to_owned())
            .collect()
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

/// Kills and deletes the test's containers, unmounts its mounts, removes its bridge and its
/// Service table (named after the bridge; wisp leaves it in place on purpose).
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
    for mount in mounts_under(dir) {
        let _ = rustix::mount::unmount(Path::new(&mount), rustix::mount::UnmountFlags::DETACH);
    }
}

fn mounts_under(dir: &Path) -> Vec<String> {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut found: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .map(str::to_owned)
        .collect();
    found.sort_by_key(|p| std::cmp::Reverse(p.len()));
    found
}

/// Pod cgroups of these pod uids still present in any hierarchy.
fn pod_cgroups(uids: &[String]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return found;
    };
    let mut roots: Vec<PathBuf> = hierarchies.flatten().map(|e| e.path()).collect();
    roots.push(PathBuf::from("/sys/fs/cgroup"));
    for root in roots {
        for uid in uids {
            let p = root.join("wisp").join(format!("pod{uid}"));
            if p.exists() {
                found.push(p);
            }
        }
    }
    found
}

#[test]
fn a_deployment_runs_real_containers_and_deleting_leaves_nothing_behind() {
    require_node!("a_deployment_runs_real_containers_and_deleting_leaves_nothing_behind");
    let node = start_node("pods-deploy");
    let w = node.w();
    w.ok(&[
        "create",
        "deployment",
        "web",
        "--image",
        IMAGE,
        "--replicas",
        "3",
        "--",
        "sh",
        "-c",
        "echo started on $(hostname); i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done",
    ]);
    w.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    let pods = node.pods_with("app=web");
    assert_eq!(pods.len(), 3, "{pods:?}");
    let mut uids = Vec::new();
    for name in &pods {
        let pod = node.pod_json(name);
        assert_eq!(at(&pod, "status.phase").as_deref(), Some("Running"));
        assert_eq!(
            at(&pod, "status.containerStatuses.0.ready").as_deref(),
            Some("true")
        );
        let id = at(&pod, "status.containerStatuses.0.imageID").unwrap_or_default();
        assert!(id.starts_with("wisp.test/busybox@sha256:"), "imageID {id}");
        let ip = at(&pod, "status.podIP").unwrap_or_default();
        assert!(
            ip.starts_with("10."),
            "pod IP from the CNI bridge network: {ip:?}"
        );
        uids.push(at(&pod, "metadata.uid").unwrap());
    }
    assert_eq!(node.runc_list().len(), 3, "one runc container per pod");
    // The container's own output, through the CRI log file.
    let log_dir = w.dir.join("logs");
    node.wait_for(Duration::from_secs(20), "container logs", |_| {
        logs_contain(&log_dir, "started on web-")
    });

    w.ok(&["delete", "deployment", "web", "--wait=true"]);
    node.wait_for(Duration::from_secs(60), "the pods to go", |w| {
        w.ok(&["get", "pods", "-o", "name"]).trim().is_empty()
    });
    assert!(
        node.runc_list().is_empty(),
        "containers left: {:?}",
        node.runc_list()
    );
    let left = mounts_under(&w.dir);
    assert!(left.is_empty(), "mounts left: {left:?}");
    let netns: Vec<_> = std::fs::read_dir(node.run_dir().join("netns"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(netns.is_empty(), "network namespaces left: {netns:?}");
    let cgroups = pod_cgroups(&uids);
    assert!(cgroups.is_empty(), "cgroups left: {cgroups:?}");
    let pod_dirs: Vec<_> = std::fs::read_dir(w.dir.join("node/pods"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(pod_dirs.is_empty(), "pod directories left: {pod_dirs:?}");
    // host-local keeps one file per reserved IP (plus its lock and last_reserved_ip).
    let reserved: Vec<_> = std::fs::read_dir(w.dir.join("node/cni/ipam/wisp"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
                .collect()
        })
        .unwrap_or_default();
    assert!(reserved.is_empty(), "pod IPs still reserved: {reserved:?}");
    node.stop();
}

fn logs_contain(root: &Path, needle: &str) -> bool {
    walk(root)
        .iter()
        .any(|f| std::fs::read_to_string(f).is_ok_and(|t| t.contains(needle)))
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_crashing_container_backs_off_and_a_job_completes() {
    require_node!("a_crashing_container_backs_off_and_a_job_completes");
    let node = start_node("pods-crash");
    let w = node.w();
    w.ok(&[
        "run",
        "crash",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo bye; exit 3",
    ]);
    node.wait_for(Duration::from_secs(60), "CrashLoopBackOff", |_| {
        let pod = node.pod_json("crash");
        at(&pod, "status.containerStatuses.0.state.waiting.reason").as_deref()
            == Some("CrashLoopBackOff")
            && at(&pod, "status.containerStatuses.0.restartCount")
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 1)
    });
    let pod = node.pod_json("crash");
    assert_eq!(
        at(
            &pod,
            "status.containerStatuses.0.lastState.terminated.exitCode"
        )
        .as_deref(),
        Some("3")
    );
    assert_eq!(
        at(
            &pod,
            "status.containerStatuses.0.lastState.terminated.reason"
        )
        .as_deref(),
        Some("Error")
    );
    let message = at(&pod, "status.containerStatuses.0.state.waiting.message").unwrap_or_default();
    assert!(message.starts_with("back-off "), "{message}");

    w.ok(&[
        "create",
        "job",
        "hello",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo hi from job",
    ]);
    node.wait_for(Duration::from_secs(60), "the job to complete", |w| {
        w.kubectl(&[
            "wait",
            "--for=condition=complete",
            "job/hello",
            "--timeout=2s",
        ])
        .status_ok()
    });
    let job_pods = node.pods_with("job-name=hello");
    assert_eq!(job_pods.len(), 1);
    let pod = node.pod_json(&job_pods[0]);
    assert_eq!(at(&pod, "status.phase").as_deref(), Some("Succeeded"));
    assert_eq!(
        at(&pod, "status.containerStatuses.0.state.terminated.reason").as_deref(),
        Some("Completed")
    );
    w.ok(&["delete", "pod", "crash", "--wait=true"]);
    w.ok(&["delete", "job", "hello", "--wait=true"]);
    node.wait_for(Duration::from_secs(60), "the pods to go", |w| {
        w.ok(&["get", "pods", "-o", "name"]).trim().is_empty()
    });
    node.stop();
}

#[test]
fn killing_wisp_leaves_containers_running_and_the_restart_adopts_them() {
    require_node!("killing_wisp_leaves_containers_running_and_the_restart_adopts_them");
    let mut node = start_node("pods-adopt");
    node.w().ok(&[
        "run",
        "sleeper",
        "--image",
        IMAGE,
        "--",
        "sh",
        "-c",
        "echo up; sleep 3600",
    ]);
    node.w().ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/sleeper",
        "--timeout=60s",
    ]);
    let before = node.pod_json("sleeper");
    let started = at(
        &before,
        "status.containerStatuses.0.state.running.startedAt",
    );
    let ids = node.runc_list();
    assert_eq!(ids.len(), 1);
    let pid = runc_pid(&node, &ids[0]);

    let wisp = node.wisp.take().expect("running");
    node.wisp = Some(wisp.kill_and_restart());
    assert_eq!(
        runc_pid(&node, &ids[0]),
        pid,
        "the container kept running across the kill"
    );
    node.wait_for(
        Duration::from_secs(30),
        "the adopted pod to be Ready",
        |w| {
            w.kubectl(&[
                "wait",
                "--for=condition=Ready",
                "pod/sleeper",
                "--timeout=5s",
            ])
            .status_ok()
        },
    );
    let after = node.pod_json("sleeper");
    assert_eq!(
        at(&after, "status.containerStatuses.0.restartCount").as_deref(),
        Some("0")
    );
    assert_eq!(
        at(&after, "status.containerStatuses.0.state.running.startedAt"),
        started
    );
    assert_eq!(node.runc_list(), ids, "adopted, not restarted");
    node.w().ok(&[
        "delete",
        "pod",
        "sleeper",
        "--wait=true",
        "--grace-period=1",
    ]);
    assert!(node.runc_list().is_empty());
    node.stop();
}

fn runc_pid(node: &Node, id: &str) -> String {
    let out = Command::new("runc")
        .arg("--root")
        .arg(node.run_dir().join("runc"))
        .args(["state", id])
        .output()
        .expect("runc state");
    let state = json(&String::from_utf8_lossy(&out.stdout));
    at(&state, "pid").unwrap_or_default()
}

#[test]
fn logs_exec_and_port_forward_reach_the_container() {
    require_node!("logs_exec_and_port_forward_reach_the_container");
    let node = start_node("pods-streams");
    let w = node.w();
    w.ok(&[
        "run", "tools", "--image", IMAGE, "--", "sh", "-c",
        "echo hello from tools; mkdir -p /www; echo served by httpd > /www/index.html; \
         (i=0; while true; do echo tick $i; i=$((i+1)); sleep 1; done) & exec httpd -f -p 8080 -h /www",
    ]);
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/tools",
        "--timeout=60s",
    ]);

    // logs, --tail, --timestamps, -f
    node.wait_for(Duration::from_secs(20), "the first log line", |w| {
        w.kubectl(&["logs", "tools"])
            .stdout
            .contains("hello from tools")
    });
    let tail = w.ok(&["logs", "tools", "--tail=1"]);
    assert_eq!(tail.lines().count(), 1, "{tail}");
    let stamped = w.ok(&["logs", "tools", "--timestamps", "--tail=1"]);
    assert!(
        stamped.starts_with("20") && stamped.contains("Z tick "),
        "{stamped}"
    );
    let follow = w.kubectl_background(&["logs", "-f", "tools", "--tail=0"]);
    let line = follow.wait_line(Duration::from_secs(15), |l| l.starts_with("tick "));
    assert!(line.starts_with("tick "), "{line}");

    // exec: output, stdin and exit codes as kubectl reports them
    assert_eq!(
        w.ok(&["exec", "tools", "--", "cat", "/www/index.html"]),
        "served by httpd\n"
    );
    let run = w.kubectl(&[
        "exec",
        "tools",
        "--",
        "sh",
        "-c",
        "echo to-stderr >&2; exit 3",
    ]);
    assert_eq!(run.status, Some(3), "{run}");
    assert!(run.stderr.contains("to-stderr"), "{run}");
    let echoed = w.ok_stdin(&["exec", "-i", "tools", "--", "cat"], "through stdin\n");
    assert_eq!(echoed, "through stdin\n");

    // port-forward to busybox httpd inside the pod
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let forward = w.kubectl_background(&["port-forward", "pod/tools", &format!("{port}:8080")]);
    forward.wait_line(Duration::from_secs(15), |l| l.contains("Forwarding from"));
    let body = http_get(port, "/index.html");
    assert!(
        body.contains("served by httpd"),
        "{body:?}; kubectl said {:?}; wisp said {}",
        forward.stderr_lines(),
        w.stderr_tail()
    );
    drop(forward);
    drop(follow);

    // kubectl top through metrics.k8s.io, from the containers' cgroups and the node's /proc.
    let top = w.ok(&["top", "pod", "tools", "--containers"]);
    assert!(top.contains("tools") && top.contains("Mi"), "{top}");
    let top_node = w.ok(&["top", "node"]);
    assert!(
        top_node.contains("pods-streams") && top_node.contains('%'),
        "{top_node}"
    );
    w.ok(&["delete", "pod", "tools", "--grace-period=1", "--wait=true"]);
    node.stop();
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to port-forward");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[path = "../node/tests/pull_support/mod.rs"]
#[allow(unused_imports)]
mod pull_support;

#[test]
fn images_are_pulled_from_a_tls_registry_with_a_pull_secret() {
    require_node!("images_are_pulled_from_a_tls_registry_with_a_pull_secret");
    if !pull_support::tools_present() {
        return;
    }
    let pki = pull_support::TestPki::new();
    let registry = pull_support::Registry::start(Some(&pki), pull_support::Auth::Htpasswd);
    let archive = registry.dir.0.join("busybox.tar");
    write_busybox_archive(&archive, "wisp.test/pushed:2.0", ArchiveFormat::Oci, false).unwrap();
    let image = format!("{}/team/busybox:2.0", registry.host);
    let pushed = Command::new("skopeo")
        .args(["--insecure-policy", "copy", "--quiet", "--dest-cert-dir"])
        .arg(&registry.cert_dir)
        .arg("--dest-creds")
        .arg(format!("{}:{}", pull_support::USER, pull_support::PASSWORD))
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("docker://{image}"))
        .output()
        .expect("skopeo runs");
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let ca = registry.cert_dir.join("ca.crt");
    let node = start_node_with(
        "pods-pull",
        &format!(
            "  registryCAFiles: [{}]\n  evictionHard:\n    nodefs.available: 0%\n",
            ca.display()
        ),
    );
    let w = node.w();
    w.ok(&[
        "create",
        "secret",
        "docker-registry",
        "regcred",
        &format!("--docker-server={}", registry.host),
        &format!("--docker-username={}", pull_support::USER),
        &format!("--docker-password={}", pull_support::PASSWORD),
    ]);
    // Without credentials the registry refuses the pull.
    w.ok(&["run", "anonymous", "--image", &image, "--", "sleep", "3600"]);
    node.wait_for(Duration::from_secs(30), "ErrImagePull", |_| {
        let pod = node.pod_json("anonymous");
        at(&pod, "status.containerStatuses.0.state.waiting.reason").as_deref()
            == Some("ErrImagePull")
    });
    let message = at(
        &node.pod_json("anonymous"),
        "status.containerStatuses.0.state.waiting.message",
    )
    .unwrap_or_default();
    assert!(
        message.contains("unauthorized") || message.contains("401"),
        "{message}"
    );

    let overrides = r#"{"spec":{"imagePullSecrets":[{"name":"regcred"}]}}"#;
    w.ok(&[
        "run",
        "pulled",
        "--image",
        &image,
        "--overrides",
        overrides,
        "--",
        "sleep",
        "3600",
    ]);
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/pulled",
        "--timeout=60s",
    ]);
    let pod = node.pod_json("pulled");
    let image_id = at(&pod, "status.containerStatuses.0.imageID").unwrap_or_default();
    assert!(
        image_id.starts_with(&format!("{}/team/busybox@sha256:", registry.host)),
        "{image_id}"
    );
    w.ok(&[
        "delete",
        "pod",
        "pulled",
        "anonymous",
        "--grace-period=1",
        "--wait=true",
    ]);
    node.stop();
}

#[test]
fn probes_memory_limits_and_config_updates_behave_as_upstream() {
    require_node!("probes_memory_limits_and_config_updates_behave_as_upstream");
    let node = start_node("pods-probes");
    let w = node.w();
    let pod = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: probed
spec:
  containers:
  - name: app
    image: {IMAGE}
    command: ["sh", "-c", "touch /tmp/healthy; mkdir -p /www; echo ok > /www/index.html; httpd -p 8080 -h /www; sleep 3600"]
    readinessProbe:
      httpGet: {{path: /index.html, port: 8080}}
      periodSeconds: 1
    livenessProbe:
      exec: {{command: ["cat", "/tmp/healthy"]}}
      periodSeconds: 1
      failureThreshold: 2
    volumeMounts:
    - {{name: cfg, mountPath: /etc/cfg}}
  volumes:
  - name: cfg
    configMap: {{name: settings}}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  mode: first
---
apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  restartPolicy: Never
  containers:
  - name: hog
    image: {IMAGE}
    command: ["sh", "-c", "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo survived"]
    resources:
      limits: {{memory: 16Mi}}
"#
    );
    w.ok_stdin(&["apply", "-f", "-"], &pod);
    let hooks_dir = w.dir.join("hooks");
    std::fs::create_dir_all(&hooks_dir).unwrap();
    let hooks = format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: hooks
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: c
    image: {IMAGE}
    command: ["sleep", "3600"]
    lifecycle:
      postStart:
        exec: {{command: ["sh", "-c", "echo ran > /tmp/post-start"]}}
      preStop:
        exec: {{command: ["sh", "-c", "echo stopping > /hooks/pre-stop"]}}
    volumeMounts:
    - {{name: out, mountPath: /hooks}}
  volumes:
  - name: out
    hostPath: {{path: {dir}, type: Directory}}
"#,
        dir = hooks_dir.display()
    );
    w.ok_stdin(&["apply", "-f", "-"], &hooks);
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/probed",
        "pod/hooks",
        "--timeout=60s",
    ]);
    assert_eq!(
        w.ok(&["exec", "hooks", "--", "cat", "/tmp/post-start"]),
        "ran\n"
    );
    w.ok(&["delete", "pod", "hooks", "--wait=true"]);
    assert_eq!(
        std::fs::read_to_string(hooks_dir.join("pre-stop")).unwrap_or_default(),
        "stopping\n",
        "the preStop hook ran before the container was stopped"
    );

    // A configMap volume follows updates of the ConfigMap in the running pod.
    assert_eq!(
        w.ok(&["exec", "probed", "--", "cat", "/etc/cfg/mode"]),
        "first"
    );
    w.ok(&[
        "patch",
        "configmap",
        "settings",
        "-p",
        r#"{"data":{"mode":"second"}}"#,
    ]);
    node.wait_for(Duration::from_secs(20), "the volume update", |w| {
        w.kubectl(&["exec", "probed", "--", "cat", "/etc/cfg/mode"])
            .stdout
            == "second"
    });

    // A failing liveness probe restarts the container.
    w.ok(&["exec", "probed", "--", "rm", "/tmp/healthy"]);
    node.wait_for(
        Duration::from_secs(40),
        "a restart by the liveness probe",
        |_| {
            at(
                &node.pod_json("probed"),
                "status.containerStatuses.0.restartCount",
            )
            .as_deref()
                == Some("1")
        },
    );
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/probed",
        "--timeout=60s",
    ]);

    // A memory limit kills with OOMKilled.
    node.wait_for(Duration::from_secs(60), "the OOM kill", |_| {
        at(&node.pod_json("hog"), "status.phase").as_deref() == Some("Failed")
    });
    let hog = node.pod_json("hog");
    assert_eq!(
        at(&hog, "status.containerStatuses.0.state.terminated.reason").as_deref(),
        Some("OOMKilled"),
        "{hog:?}"
    );
    assert_eq!(
        at(&hog, "status.containerStatuses.0.state.terminated.exitCode").as_deref(),
        Some("137")
    );
    w.ok(&[
        "delete",
        "pod",
        "probed",
        "hog",
        "--grace-period=1",
        "--wait=true",
    ]);
    node.stop();
}

/// Benchmarks of the node agent (not run by `cargo test`; numbers in docs/node.md):
/// `cargo test --release --test kubectl_pods bench -- --ignored --nocapture`.
/// Pod start latency (created to Running, image present) for 1 pod and for 50 at once,
/// wisp's RSS with 0 and 100 running pods, and wisp's CPU while 20 pods idle for 60 s.
#[test]
#[ignore = "benchmark: run by hand with --ignored --nocapture"]
fn bench_pod_start_and_footprint() {
    require_node!("bench_pod_start_and_footprint");
    let node = start_node("pods-bench");
    let w = node.w();
    let pid = w.pid();
    let rss0 = rss_kib(pid);
    let one = start_latencies(&node, "one", 1);
    let fifty = start_latencies(&node, "fifty", 50);
    println!("pod start, 1 pod: {:?} ms", one);
    println!(
        "pod start, 50 at once: p50 {} ms, p99 {} ms, max {} ms",
        percentile(&fifty, 50),
        percentile(&fifty, 99),
        fifty.last().unwrap()
    );
    w.ok(&["delete", "pods", "--all", "--grace-period=1", "--wait=true"]);
    let hundred = start_latencies(&node, "hundred", 100);
    std::thread::sleep(Duration::from_secs(5));
    let rss100 = rss_kib(pid);
    println!(
        "wisp RSS: {rss0} KiB with 0 pods, {rss100} KiB with 100 running pods: {} KiB per pod (100 pods started: p50 {} ms, p99 {} ms)",
        (rss100.saturating_sub(rss0)) / 100,
        percentile(&hundred, 50),
        percentile(&hundred, 99)
    );
    w.ok(&["delete", "pods", "--all", "--grace-period=1", "--wait=true"]);
    start_latencies(&node, "idle", 20);
    // Let status writes, events and the blocking pool's threads settle first.
    std::thread::sleep(Duration::from_secs(20));
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(60));
    let after = cpu_ticks(pid);
    println!(
        "wisp CPU with 20 idle pods over 60 s: {:.2} s",
        (after - before) as f64 / 100.0
    );
    w.ok(&["delete", "pods", "--all", "--grace-period=1", "--wait=true"]);
    node.stop();
}

fn percentile(sorted: &[u128], p: usize) -> u128 {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}

/// Creates `n` pods in one request and returns each one's time from the request to the
/// first watch event that shows it Running, sorted (ms).
fn start_latencies(node: &Node, prefix: &str, n: usize) -> Vec<u128> {
    let w = node.w();
    let watch = w.kubectl_background(&[
        "get",
        "pods",
        "-w",
        "-o",
        "jsonpath={.metadata.name} {.status.phase}{\"\\n\"}",
    ]);
    std::thread::sleep(Duration::from_millis(500));
    let pods: String = (0..n)
        .map(|i| {
            format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {prefix}-{i}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: c\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n---\n"
            )
        })
        .collect();
    let started = Instant::now();
    w.ok_stdin(&["create", "-f", "-"], &pods);
    let mut seen = std::collections::HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(300);
    while seen.len() < n && Instant::now() < deadline {
        for line in watch.stdout_lines() {
            if let Some(name) = line.strip_suffix(" Running")
                && name.starts_with(prefix)
            {
                seen.entry(name.to_owned())
                    .or_insert_with(|| started.elapsed().as_millis());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(seen.len(), n, "not all pods reached Running");
    let mut times: Vec<u128> = seen.into_values().collect();
    times.sort_unstable();
    times
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap()
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

#[test]
fn memory_pressure_evicts_best_effort_pods() {
    require_node!("memory_pressure_evicts_best_effort_pods");
    // A threshold no machine meets: the node is always under memory pressure.
    let node = start_node_with(
        "pods-evict",
        "  evictionHard:\n    memory.available: 1000Ti\n    nodefs.available: 0%\n",
    );
    let w = node.w();
    w.ok(&["run", "victim", "--image", IMAGE, "--", "sleep", "3600"]);
    node.wait_for(Duration::from_secs(40), "the eviction", |_| {
        at(&node.pod_json("victim"), "status.reason").as_deref() == Some("Evicted")
    });
    let pod = node.pod_json("victim");
    assert_eq!(at(&pod, "status.phase").as_deref(), Some("Failed"));
    let message = at(&pod, "status.message").unwrap_or_default();
    assert!(message.contains("low on resource: memory"), "{message}");
    let status = w.ok(&[
        "get",
        "node",
        "pods-evict",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"MemoryPressure\")].status}",
    ]);
    assert_eq!(status, "True");
    w.ok(&["delete", "pod", "victim", "--wait=true"]);
    assert!(
        node.runc_list().is_empty(),
        "the evicted pod's container is gone"
    );
    node.stop();
}
