//! Services end to end: wisp with its node agent renders real nftables rules from the
//! Services and Endpoints in the store, and real busybox pods (runc, CNI bridge) reach each
//! other through a ClusterIP, the test process reaches them through a NodePort and the
//! LoadBalancer address on the host. Each wisp has its own pod range, bridge, service range
//! and nftables table, so the tests run in parallel with each other and with
//! tests/kubectl_pods.rs. Needs root, runc and nft (CI installs them); without them each
//! test says why it is skipped.

mod support;

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use support::{Wisp, at, json};
use wisp_node::image::ArchiveFormat;
use wisp_node::image::testimage::write_busybox_archive;

const IMAGE: &str = "wisp.test/busybox:1.0";

/// Root, runc, nft and busybox-static, or the reason they are missing.
fn prerequisites() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    if Command::new("runc").arg("--version").output().is_err() {
        return Err("runc is not installed".into());
    }
    if Command::new("nft").arg("--version").output().is_err() {
        return Err("nft is not installed".into());
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

/// Pod ranges 10.120.0.0/16, 10.122... and service ranges one above (kubectl_pods.rs uses
/// 10.100 upwards with the default service range). Each test process starts at an offset
/// of its own (from its pid), so two runs of this file at once (two checkouts on one host)
/// rarely pick the same bridge, table and ranges and tear down each other's.
static NEXT_NET: AtomicU8 = AtomicU8::new(0);

fn next_pod_net() -> u8 {
    let start = 120 + 2 * u8::try_from(std::process::id() % 16).unwrap_or(0);
    let _ = NEXT_NET.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    NEXT_NET.fetch_add(2, Ordering::Relaxed)
}

/// wisp with its node agent, its own pod and service ranges, bridge and nftables table (and
/// no disk-pressure eviction: a full CI disk must not evict the test's pods).
fn start_node(tag: &str) -> Node {
    let pod_net = next_pod_net();
    let svc_net = pod_net + 1;
    let table = format!("wsvc{pod_net}");
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
            "network:\n  podCIDR: 10.{pod_net}.0.0/16\n  serviceCIDR: 10.{svc_net}.0.0/16\n  clusterDNS: 10.{svc_net}.0.10\n  bridge: wsvc{pod_net}\n  nftTable: {table}\nnode:\n  name: {tag}\n  evictionHard:\n    nodefs.available: 0%\n  runDir: {run}\n  podLogsDir: {logs}\n  imagesDir: {images}\n",
            run = dir.join("run").display(),
            logs = dir.join("logs").display(),
            images = images.display(),
        )
    });
    let node = Node {
        wisp: Some(wisp),
        bridge: format!("wsvc{pod_net}"),
        table,
    };
    node.wait_for(Duration::from_secs(30), "the node to register", |w| {
        w.kubectl(&["get", "node", tag]).status_ok()
    });
    node
}

/// Stops wisp and removes what it leaves on the host on purpose (its nftables table, which
/// outlives wisp so Services survive a restart) or after a failed test.
struct Node {
    wisp: Option<Wisp>,
    bridge: String,
    table: String,
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
            std::thread::sleep(Duration::from_millis(100));
        }
        let objects = self
            .w()
            .kubectl(&["get", "pods,services,endpoints", "-o", "yaml"])
            .stdout;
        panic!(
            "timed out waiting for {what}; wisp said: {}\n--- objects\n{objects}\n--- table\n{}",
            self.w().stderr_tail(),
            self.rules()
        );
    }

    /// `nft list table` of this wisp's table (empty when it does not exist).
    fn rules(&self) -> String {
        let out = Command::new("nft")
            .args(["list", "table", "inet", &self.table])
            .output()
            .expect("nft");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn stop(mut self) {
        let wisp = self.wisp.take().expect("running");
        let dir = wisp.dir.clone();
        wisp.stop();
        clean_host(&dir, &self.bridge, &self.table);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(wisp) = self.wisp.take() {
            let dir = wisp.dir.clone();
            drop(wisp);
            clean_host(&dir, &self.bridge, &self.table);
        }
    }
}

/// Kills and deletes the test's containers, unmounts its mounts, removes its bridge and its
/// nftables table (no other wisp uses that name).
fn clean_host(dir: &Path, bridge: &str, table: &str) {
    let _ = Command::new("nft")
        .args(["delete", "table", "inet", table])
        .output();
    let _ = Command::new("ip").args(["link", "delete", bridge]).output();
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

/// Three busybox httpd pods answering with their hostname (the pod name), ready while
/// /tmp/ready exists, behind a LoadBalancer Service (so it has a ClusterIP and a NodePort too).
fn web_manifest() -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {{app: web}}
  template:
    metadata:
      labels: {{app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: httpd
        image: {IMAGE}
        command: ["sh", "-c", "mkdir -p /www; hostname > /www/index.html; touch /tmp/ready; exec httpd -f -p 8080 -h /www"]
        ports:
        - {{name: http, containerPort: 8080}}
        readinessProbe:
          exec:
            command: ["cat", "/tmp/ready"]
          periodSeconds: 1
          failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector: {{app: web}}
  ports:
  - {{name: http, port: 80, targetPort: http}}
"#
    )
}

/// The hostnames answering `count` requests to `address` (ip:port) from inside the client
/// pod. busybox `nc` rather than `wget`: the static busybox's wget crashes in glibc's
/// resolver inside a minimal rootfs.
fn seen_from_client(w: &Wisp, address: &str, count: usize) -> Vec<String> {
    let (ip, port) = address.rsplit_once(':').expect("ip:port");
    let request = r"GET / HTTP/1.0\r\n\r\n";
    let script = format!(
        "for i in $(seq {count}); do printf '{request}' | nc -w 3 {ip} {port} | tail -n 1 | grep . || echo FAILED; done"
    );
    let out = w.ok(&["exec", "client", "--", "sh", "-c", &script]);
    out.lines().map(str::to_owned).collect()
}

fn http_get(host: &str, port: u16) -> Result<String, String> {
    let address = format!("{host}:{port}");
    let mut s = std::net::TcpStream::connect_timeout(
        &address.parse().map_err(|e| format!("{address}: {e}"))?,
        Duration::from_secs(3),
    )
    .map_err(|e| format!("connect {address}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").trim().to_owned())
}

fn ready_addresses(w: &Wisp) -> usize {
    let endpoints = json(&w.ok(&["get", "endpoints", "web", "-o", "json"]));
    at(&endpoints, "subsets.0.addresses").map_or(0, |a| json(&a).as_array_len())
}

trait ArrayLen {
    fn as_array_len(&self) -> usize;
}

impl ArrayLen for miniserde::json::Value {
    fn as_array_len(&self) -> usize {
        match self {
            miniserde::json::Value::Array(items) => items.len(),
            _ => 0,
        }
    }
}

#[test]
fn cluster_ip_node_port_and_load_balancer_reach_ready_pods_only() {
    require_node!("cluster_ip_node_port_and_load_balancer_reach_ready_pods_only");
    let mut node = start_node("svc-traffic");
    let w = node.w();
    w.ok_stdin(&["apply", "-f", "-"], &web_manifest());
    w.ok(&["run", "client", "--image", IMAGE, "--", "sleep", "3600"]);
    w.ok(&["rollout", "status", "deployment/web", "--timeout=90s"]);
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/client",
        "--timeout=60s",
    ]);
    node.wait_for(Duration::from_secs(20), "3 ready endpoints", |w| {
        ready_addresses(w) == 3
    });
    let service = json(&w.ok(&["get", "service", "web", "-o", "json"]));
    let cluster_ip = at(&service, "spec.clusterIP").expect("a cluster IP");
    let node_port: u16 = at(&service, "spec.ports.0.nodePort")
        .and_then(|p| p.parse().ok())
        .expect("a node port");
    let pods: BTreeSet<String> = w
        .ok(&["get", "pods", "-l", "app=web", "-o", "name"])
        .lines()
        .map(|l| l.trim_start_matches("pod/").to_owned())
        .collect();
    assert_eq!(pods.len(), 3, "{pods:?}");

    // From a pod through the ClusterIP: every backend answers (random choice, 45 tries:
    // the chance of missing one of three is 3 * (2/3)^45, about 3e-8).
    let url = format!("{cluster_ip}:80");
    if std::env::var_os("SVC_PAUSE").is_some() {
        eprintln!("PAUSE {url} {}", w.dir.display());
        std::thread::sleep(Duration::from_secs(300));
    }
    node.wait_for(Duration::from_secs(10), "the ClusterIP to answer", |w| {
        !seen_from_client(w, &url, 1).contains(&"FAILED".to_owned())
    });
    let seen: BTreeSet<String> = seen_from_client(w, &url, 45).into_iter().collect();
    assert_eq!(seen, pods, "backends seen through {url}");

    // Cluster DNS served by wisp: the Service's name resolves to its ClusterIP from a pod
    // (busybox nslookup asks the nameserver of the pod's resolv.conf: the cluster DNS
    // address, answered by the agent on the host's lo).
    let resolved = w.ok(&[
        "exec",
        "client",
        "--",
        "nslookup",
        "web.default.svc.cluster.local",
    ]);
    assert!(
        resolved.contains(&cluster_ip),
        "nslookup answered: {resolved}"
    );
    // busybox's nslookup tries every search domain and exits 1 when any answers NXDOMAIN,
    // so only its output is checked.
    let short = w
        .kubectl(&["exec", "client", "--", "nslookup", "web"])
        .stdout;
    assert!(
        short.contains("Name:\tweb.default.svc.cluster.local") && short.contains(&cluster_ip),
        "the search list completes short names: {short}"
    );

    // In-cluster clients reach the API server through the `kubernetes` Service (its
    // Endpoints name the host address and the API port).
    let api_ip = w.ok(&[
        "get",
        "service",
        "kubernetes",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let connect = format!("nc -w 3 {api_ip} 443 </dev/null && echo connected");
    let out = w.ok(&["exec", "client", "--", "sh", "-c", &connect]);
    assert_eq!(out.trim(), "connected", "kubernetes Service {api_ip}:443");

    // From the host through the NodePort and the LoadBalancer address (the host's own).
    let node_json = json(&w.ok(&["get", "node", "svc-traffic", "-o", "json"]));
    let host_ip = at(&node_json, "status.addresses.0.address").expect("node address");
    node.wait_for(Duration::from_secs(10), "the load-balancer status", |w| {
        let service = json(&w.ok(&["get", "service", "web", "-o", "json"]));
        at(&service, "status.loadBalancer.ingress.0.ip").as_deref() == Some(host_ip.as_str())
    });
    let mut answered = BTreeSet::new();
    for _ in 0..30 {
        let body = http_get(&host_ip, node_port)
            .unwrap_or_else(|e| panic!("NodePort {host_ip}:{node_port}: {e}\n{}", node.rules()));
        answered.insert(body);
    }
    assert!(answered.is_subset(&pods), "{answered:?}");
    let body = http_get(&host_ip, 80)
        .unwrap_or_else(|e| panic!("LoadBalancer {host_ip}:80: {e}\n{}", node.rules()));
    assert!(pods.contains(&body), "{body:?}");

    // A Service that stops being a LoadBalancer loses its ingress status.
    w.ok(&[
        "patch",
        "service",
        "web",
        "-p",
        r#"{"spec":{"type":"NodePort"}}"#,
    ]);
    node.wait_for(Duration::from_secs(10), "the ingress status to go", |w| {
        let service = json(&w.ok(&["get", "service", "web", "-o", "json"]));
        at(&service, "status.loadBalancer.ingress").is_none()
    });

    // A pod that turns not ready leaves the rotation.
    let out_of_rotation = pods.iter().next().unwrap().clone();
    w.ok(&["exec", &out_of_rotation, "--", "sh", "-c", "rm /tmp/ready"]);
    node.wait_for(Duration::from_secs(20), "2 ready endpoints", |w| {
        ready_addresses(w) == 2
    });
    // The rules follow within the debounce; allow the agent a moment.
    std::thread::sleep(Duration::from_millis(500));
    let seen: BTreeSet<String> = seen_from_client(w, &url, 30).into_iter().collect();
    assert!(!seen.contains(&out_of_rotation), "{seen:?}");
    assert_eq!(seen.len(), 2, "{seen:?}");

    // The table outlives wisp: a killed and restarted wisp (same data dir) keeps answering
    // meanwhile, and its first swap after the new listing keeps the Service with the same
    // two ready endpoints. Checked from the host only: exec into adopted containers is the
    // pod agent's business (tests/kubectl_pods.rs).
    let wisp = node.wisp.take().expect("running");
    node.wisp = Some(wisp.kill_and_restart());
    let body = http_get(&host_ip, node_port).unwrap_or_else(|e| panic!("after restart: {e}"));
    assert!(seen.contains(&body), "{body:?}");
    node.wait_for(Duration::from_secs(30), "the node after the restart", |w| {
        w.kubectl(&["get", "node", "svc-traffic"]).status_ok()
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut answered = BTreeSet::new();
    for _ in 0..30 {
        answered.insert(http_get(&host_ip, node_port).expect("NodePort after the restart"));
    }
    assert_eq!(
        answered, seen,
        "backends through the NodePort after the restart"
    );
    let w = node.w();

    // Deleting everything leaves no rules for the Service.
    assert!(node.rules().contains("default/web/"), "{}", node.rules());
    w.ok(&["delete", "service", "web"]);
    w.ok(&["delete", "deployment", "web", "--wait=true"]);
    w.ok(&["delete", "pod", "client", "--grace-period=1", "--wait=true"]);
    node.wait_for(Duration::from_secs(10), "the rules to go", |_| {
        !node.rules().contains("default/web/")
    });
    node.stop();
}

/// 100 Services with 10 manual endpoints each (Services without selector, Endpoints written
/// by the test), created at once; then one more endpoint change. Prints the time from the
/// API write to the rules being in the kernel (polled with `nft list`, so an upper bound).
#[test]
fn bench_service_rules_100_services_x_10_endpoints() {
    require_node!("bench_service_rules_100_services_x_10_endpoints");
    let node = start_node("svc-bench");
    let w = node.w();
    let mut manifest = String::new();
    for s in 0..100 {
        let addresses: Vec<String> = (0..10)
            .map(|e| format!("{{ip: 10.99.{s}.{}}}", e + 1))
            .collect();
        manifest.push_str(&format!(
            "apiVersion: v1\nkind: Service\nmetadata: {{name: bench{s}}}\nspec:\n  ports: [{{port: 80, targetPort: 8080}}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: bench{s}}}\nsubsets:\n- addresses: [{}]\n  ports: [{{port: 8080}}]\n---\n",
            addresses.join(", ")
        ));
    }
    let started = Instant::now();
    w.ok_stdin(&["apply", "-f", "-"], &manifest);
    let applied = started.elapsed();
    node.wait_for(Duration::from_secs(60), "100 services in the rules", |_| {
        node.rules().contains("10.99.99.10")
    });
    let all = started.elapsed();
    let started = Instant::now();
    w.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: Endpoints\nmetadata: {name: bench7}\nsubsets:\n- addresses: [{ip: 10.98.0.1}]\n  ports: [{port: 8080}]\n",
    );
    node.wait_for(Duration::from_secs(10), "the changed endpoint", |_| {
        node.rules().contains("10.98.0.1")
    });
    let one = started.elapsed();
    eprintln!(
        "services bench through the agent: 100 services x 10 endpoints: kubectl apply {applied:?}, in the kernel after {all:?}; one Endpoints change in the kernel after {one:?} (includes kubectl start-up)"
    );
    // The agent's own figure per swap (render + nft), logged with WISP_PROXY_TIMING set.
    for line in w
        .stderr_tail()
        .lines()
        .filter(|l| l.contains("service rules applied"))
    {
        eprintln!("{line}");
    }
    node.stop();
}

/// One HTTP answer from inside `pod` (the last line of the body), or FAILED when the
/// connection is refused, dropped (2 s) or empty.
fn answer_from(w: &Wisp, pod: &str, ip: &str, port: u16) -> String {
    let script = format!(
        r"printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 {ip} {port} | tail -n 1 | grep . || echo FAILED"
    );
    w.ok(&["exec", pod, "--", "sh", "-c", &script])
        .trim()
        .to_owned()
}

fn policy_manifest() -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {{app: web}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: httpd
    image: {IMAGE}
    command: ["sh", "-c", "mkdir -p /www; echo hello > /www/index.html; exec httpd -f -p 8080 -h /www"]
    ports:
    - {{name: http, containerPort: 8080}}
    readinessProbe:
      httpGet: {{path: /, port: http}}
      periodSeconds: 1
      failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {{app: web}}
  ports:
  - {{port: 80, targetPort: http}}
"#
    )
}

const DENY_INGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-ingress}\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
const ALLOW_CLIENT: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client}\nspec:\n  podSelector: {matchLabels: {app: web}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {run: client}}}]\n    ports: [{port: http}]\n";
const DENY_CLIENT_EGRESS: &str = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-client-egress}\nspec:\n  podSelector: {matchLabels: {run: client}}\n  policyTypes: [Egress]\n";

#[test]
fn network_policy_blocks_and_reopens_pod_and_service_traffic() {
    require_node!("network_policy_blocks_and_reopens_pod_and_service_traffic");
    let node = start_node("netpol");
    let w = node.w();
    w.ok_stdin(&["apply", "-f", "-"], &policy_manifest());
    for client in ["client", "other"] {
        w.ok(&["run", client, "--image", IMAGE, "--", "sleep", "3600"]);
    }
    for pod in ["web", "client", "other"] {
        w.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=90s",
        ]);
    }
    let web_ip = w.ok(&["get", "pod", "web", "-o", "jsonpath={.status.podIP}"]);
    let cluster_ip = w.ok(&["get", "service", "web", "-o", "jsonpath={.spec.clusterIP}"]);
    let paths = [(web_ip.as_str(), 8080), (cluster_ip.as_str(), 80)];
    let expect = |pod: &str, want: &str, why: &str| {
        for (ip, port) in paths {
            node.wait_for(
                Duration::from_secs(10),
                &format!("{why}: {pod} -> {ip}:{port} {want}"),
                |w| answer_from(w, pod, ip, port) == want,
            );
        }
    };
    expect("client", "hello", "before any policy");

    // Deny all ingress in the namespace: direct (bridged) and Service (DNATed) traffic stop;
    // the kubelet's HTTP readiness probe (from the host) still passes.
    w.ok_stdin(&["apply", "-f", "-"], DENY_INGRESS);
    expect("client", "FAILED", "deny-all ingress");
    expect("other", "FAILED", "deny-all ingress");
    std::thread::sleep(Duration::from_secs(3));
    let ready = w.ok(&[
        "get",
        "pod",
        "web",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].status}"#,
    ]);
    assert_eq!(ready, "True", "the probe from the host must pass");
    assert_eq!(
        http_get(&web_ip, 8080).as_deref(),
        Ok("hello"),
        "host to pod"
    );

    // An allow rule by label and named port reopens the way for the client only.
    w.ok_stdin(&["apply", "-f", "-"], ALLOW_CLIENT);
    expect("client", "hello", "allowed by label");
    assert_eq!(
        answer_from(w, "other", &web_ip, 8080),
        "FAILED",
        "other is not allowed"
    );
    // A client started while the policies exist is allowed from its first try: the agent
    // waits for its address to be in the rules before starting its containers.
    w.ok(&[
        "run",
        "late",
        "--labels=run=client",
        "--image",
        IMAGE,
        "--",
        "sleep",
        "3600",
    ]);
    w.ok(&["wait", "--for=condition=Ready", "pod/late", "--timeout=60s"]);
    assert_eq!(
        answer_from(w, "late", &web_ip, 8080),
        "hello",
        "a new allowed pod"
    );

    // Egress isolation of the client without rules: it reaches nothing any more, but the
    // node's own services (cluster DNS on the host) stay reachable, as upstream allows.
    w.ok_stdin(&["apply", "-f", "-"], DENY_CLIENT_EGRESS);
    expect("client", "FAILED", "egress denied");
    let resolved = w.ok(&[
        "exec",
        "client",
        "--",
        "nslookup",
        "web.default.svc.cluster.local",
    ]);
    assert!(
        resolved.contains(&cluster_ip),
        "DNS under egress deny: {resolved}"
    );
    assert!(node.rules().contains("policy_forward"), "{}", node.rules());

    // Deleting the policies restores everything and leaves no policy rules behind.
    w.ok(&["delete", "networkpolicy", "--all"]);
    expect("client", "hello", "policies deleted");
    expect("other", "hello", "policies deleted");
    node.wait_for(Duration::from_secs(10), "the policy rules to go", |_| {
        !node.rules().contains("policy_")
    });
    w.ok(&["delete", "pod", "--all", "--grace-period=1", "--wait=true"]);
    node.stop();
}

/// Runs `work` on a thread that has entered the network namespace at `netns` (a pod's: its
/// sockets take the pod's path through its veth, the bridge and the host's rules, exactly as
/// the pod's own processes would; only the process around them is the test's).
fn in_netns<T: Send + 'static>(netns: &Path, work: impl FnOnce() -> T + Send + 'static) -> T {
    use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};
    use std::os::fd::AsFd;
    let netns = netns.to_owned();
    std::thread::spawn(move || {
        let file = std::fs::File::open(&netns).expect("pod netns");
        move_into_link_name_space(file.as_fd(), Some(LinkNameSpaceType::Network)).expect("setns");
        work()
    })
    .join()
    .expect("netns thread")
}

fn pod_netns(node: &Node, pod: &str) -> std::path::PathBuf {
    let uid = node
        .w()
        .ok(&["get", "pod", pod, "-o", "jsonpath={.metadata.uid}"]);
    node.w().dir.join("run/netns").join(uid.trim())
}

/// Sequential connections (connect, read the server's byte and its close, reset) for
/// `span`: connections per second and failures.
fn connection_rate(address: std::net::SocketAddr, span: Duration) -> (f64, usize) {
    let started = Instant::now();
    let (mut done, mut failed) = (0usize, 0usize);
    while started.elapsed() < span {
        match one_connection(address) {
            Ok(true) => done += 1,
            _ => failed += 1,
        }
    }
    (done as f64 / started.elapsed().as_secs_f64(), failed)
}

fn one_connection(address: std::net::SocketAddr) -> std::io::Result<bool> {
    let mut s = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut byte = Vec::new();
    s.read_to_end(&mut byte)?;
    // Close with a reset: no TIME_WAIT on either side, so a quickly reused source port
    // never meets the previous connection (which stalls a connect for a second and would
    // measure TCP's timers, not the path).
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO))?;
    Ok(byte == b"x")
}

/// A query for `name` type A with recursion desired.
fn dns_query(id: u16, name: &str) -> Vec<u8> {
    let mut q = Vec::with_capacity(64);
    q.extend(id.to_be_bytes());
    q.extend([0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(u8::try_from(label.len()).expect("label"));
        q.extend(label.as_bytes());
    }
    q.extend([0, 0, 1, 0, 1]);
    q
}

/// Sequential queries over one UDP socket for `span`: the latency of each answered query
/// (NOERROR with an answer, matching id) and the number of failures.
fn dns_latencies(
    server: std::net::SocketAddr,
    name: &str,
    span: Duration,
) -> (Vec<Duration>, usize) {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    socket.connect(server).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    let (mut latencies, mut failed) = (Vec::new(), 0usize);
    let mut buf = [0u8; 512];
    let started = Instant::now();
    let mut id: u16 = 0;
    while started.elapsed() < span {
        id = id.wrapping_add(1);
        let sent = Instant::now();
        socket.send(&dns_query(id, name)).expect("send");
        match socket.recv(&mut buf) {
            Ok(n) if n > 12 && buf[..2] == id.to_be_bytes() && buf[3] & 0x0f == 0 && buf[7] > 0 => {
                latencies.push(sent.elapsed());
            }
            _ => failed += 1,
        }
    }
    (latencies, failed)
}

/// The `per_mille`/1000 quantile of sorted latencies (nearest rank).
fn percentile(sorted: &[Duration], per_mille: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (per_mille * (sorted.len() - 1)).div_ceil(1000);
    sorted[rank.min(sorted.len() - 1)]
}

/// Connection rate from a pod to another pod, directly and through a ClusterIP (its DNAT,
/// conntrack and the extra routing hop), in alternating 2 s rounds of one run; then DNS
/// queries from a pod to the cluster DNS server. The clients run in the pods' network
/// namespaces (in_netns); the TCP server is a listener in the server pod's namespace that
/// writes one byte and closes, so the server costs almost nothing and the network path
/// dominates.
#[test]
#[ignore = "benchmark: cargo test -p wisp --test kubectl_services bench_connection -- --ignored --nocapture"]
fn bench_connection_rate_and_dns_from_a_pod() {
    require_node!("bench_connection_rate_and_dns_from_a_pod");
    let node = start_node("net-bench");
    let w = node.w();
    for pod in ["srv", "cli"] {
        w.ok(&["run", pod, "--image", IMAGE, "--", "sleep", "3600"]);
    }
    for pod in ["srv", "cli"] {
        w.ok(&[
            "wait",
            "--for=condition=Ready",
            &format!("pod/{pod}"),
            "--timeout=90s",
        ]);
    }
    let srv_ip = w.ok(&["get", "pod", "srv", "-o", "jsonpath={.status.podIP}"]);
    let listener = in_netns(&pod_netns(&node, "srv"), || {
        std::net::TcpListener::bind("0.0.0.0:9000").expect("bind in the server pod")
    });
    for _ in 0..2 {
        let listener = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let _ = stream.write_all(b"x");
            }
        });
    }
    w.ok_stdin(
        &["apply", "-f", "-"],
        &format!("apiVersion: v1\nkind: Service\nmetadata: {{name: bench}}\nspec:\n  ports: [{{port: 80, targetPort: 9000}}]\n---\napiVersion: v1\nkind: Endpoints\nmetadata: {{name: bench}}\nsubsets:\n- addresses: [{{ip: {srv_ip}}}]\n  ports: [{{port: 9000}}]\n"),
    );
    let cluster_ip = w.ok(&[
        "get",
        "service",
        "bench",
        "-o",
        "jsonpath={.spec.clusterIP}",
    ]);
    let direct: std::net::SocketAddr = format!("{srv_ip}:9000").parse().unwrap();
    let service: std::net::SocketAddr = format!("{cluster_ip}:80").parse().unwrap();
    let cli = pod_netns(&node, "cli");
    node.wait_for(Duration::from_secs(10), "the ClusterIP to answer", |_| {
        in_netns(&cli, move || {
            connection_rate(service, Duration::from_millis(100))
        })
        .0 > 0.0
    });
    let span = Duration::from_secs(2);
    let mut rows = Vec::new();
    for round in 1..=3 {
        for (path, address) in [("pod IP", direct), ("ClusterIP", service)] {
            let (rate, failed) = in_netns(&cli, move || connection_rate(address, span));
            // A rare failure is reported, not fatal; many mean the path is broken.
            assert!(
                (failed * 100) as f64 <= rate * span.as_secs_f64(),
                "{path}: {failed} failures"
            );
            rows.push((round, path, rate, failed));
        }
    }
    eprintln!("\nconnection rate from a pod (sequential connect + 1 byte + reset, 2 s per row)");
    eprintln!("| round | path | connections/s | failed |\n|---|---|---|---|");
    for (round, path, rate, failed) in &rows {
        eprintln!("| {round} | {path} | {rate:.0} | {failed} |");
    }
    let mean = |p: &str| {
        let r: Vec<f64> = rows.iter().filter(|r| r.1 == p).map(|r| r.2).collect();
        r.iter().sum::<f64>() / r.len() as f64
    };
    eprintln!(
        "ClusterIP / pod IP: {:.2} ({:.0} vs {:.0} connections/s)",
        mean("ClusterIP") / mean("pod IP"),
        mean("ClusterIP"),
        mean("pod IP")
    );

    let resolv = w.ok(&["exec", "cli", "--", "cat", "/etc/resolv.conf"]);
    let dns_ip = resolv
        .lines()
        .find_map(|l| l.strip_prefix("nameserver "))
        .expect("a nameserver")
        .trim()
        .to_owned();
    let dns: std::net::SocketAddr = format!("{dns_ip}:53").parse().unwrap();
    let name = "bench.default.svc.cluster.local";
    let (mut one, failed) = in_netns(&cli, move || dns_latencies(dns, name, span));
    assert_eq!(failed, 0, "DNS failures");
    one.sort();
    let parallel = 4;
    let handles: Vec<_> = (0..parallel)
        .map(|_| {
            let cli = cli.clone();
            std::thread::spawn(move || in_netns(&cli, move || dns_latencies(dns, name, span)))
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let (latencies, failed) = h.join().unwrap();
        assert_eq!(failed, 0, "DNS failures in parallel");
        all.extend(latencies);
    }
    all.sort();
    eprintln!("\nDNS from a pod to the cluster DNS server ({dns_ip}), A {name}, 2 s each");
    eprintln!("| clients | queries/s | p50 | p99 | max |\n|---|---|---|---|---|");
    for (clients, lat) in [(1, &one), (parallel, &all)] {
        eprintln!(
            "| {clients} | {:.0} | {:?} | {:?} | {:?} |",
            lat.len() as f64 / span.as_secs_f64(),
            percentile(lat, 500),
            percentile(lat, 990),
            lat.last().copied().unwrap_or_default()
        );
    }
    w.ok(&["delete", "pod", "--all", "--grace-period=1", "--wait=true"]);
    node.stop();
}

/// `wisp cleanup` refuses while wisp runs; after wisp is killed (containers, table, bridge
/// and mounts stay behind, as on a crash or before an uninstall) it removes all of them.
#[test]
fn cleanup_removes_what_the_node_leaves_on_the_host() {
    require_node!("cleanup_removes_what_the_node_leaves_on_the_host");
    let node = start_node("cleanup");
    let w = node.w();
    w.ok(&[
        "run", "sleeper", "--image", IMAGE, "--port", "8080", "--expose", "--", "sleep", "3600",
    ]);
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/sleeper",
        "--timeout=90s",
    ]);
    node.wait_for(Duration::from_secs(10), "the Service rules", |_| {
        node.rules().contains("default/sleeper/")
    });
    let dir = w.dir.clone();
    let cleanup = || {
        Command::new(support::wisp_binary())
            .arg("cleanup")
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .arg("--data-dir")
            .arg(&dir)
            .output()
            .expect("wisp cleanup")
    };
    let refused = cleanup();
    let said = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(said.contains("stop it first"), "{said}");
    assert!(
        node.rules().contains("default/sleeper/"),
        "nothing removed while running"
    );

    let _ = Command::new("sh")
        .args(["-c", &format!("kill -KILL {}", w.pid())])
        .status();
    std::thread::sleep(Duration::from_millis(500));
    let runc_root = dir.join("run/runc");
    let containers = || {
        let out = Command::new("runc")
            .arg("--root")
            .arg(&runc_root)
            .args(["list", "-q"])
            .output()
            .expect("runc");
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    };
    assert!(
        !containers().is_empty(),
        "the containers outlive a killed wisp"
    );
    let started = Instant::now();
    let done = cleanup();
    let took = started.elapsed();
    let report = String::from_utf8_lossy(&done.stdout).into_owned();
    assert!(
        done.status.success(),
        "{report}{}",
        String::from_utf8_lossy(&done.stderr)
    );
    eprintln!("wisp cleanup in {took:?}:\n{report}");
    assert_eq!(containers(), "", "containers left");
    assert_eq!(node.rules(), "", "table left");
    let bridge = Command::new("ip")
        .args(["link", "show", &node.bridge])
        .output()
        .unwrap();
    assert!(!bridge.status.success(), "bridge {} left", node.bridge);
    assert_eq!(mounts_under(&dir), Vec::<String>::new(), "mounts left");
    let ipam = dir.join("node/cni/ipam");
    let reserved: Vec<String> = walk_names(&ipam)
        .into_iter()
        .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
        .collect();
    assert!(reserved.is_empty(), "IP reservations left: {reserved:?}");
    let lo = Command::new("ip")
        .args(["-o", "addr", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(
        !String::from_utf8_lossy(&lo.stdout).contains(&format!("{}/32", dns_address(&dir))),
        "cluster DNS address left on lo"
    );
    drop(node);
}

/// File names under `dir`, recursively.
fn walk_names(dir: &Path) -> Vec<String> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        names.push(entry.file_name().to_string_lossy().into_owned());
        if entry.path().is_dir() {
            names.extend(walk_names(&entry.path()));
        }
    }
    names
}

/// The cluster DNS address of the config the test wrote.
fn dns_address(dir: &Path) -> String {
    let config = std::fs::read_to_string(dir.join("config.yaml")).unwrap();
    let line = config
        .lines()
        .find_map(|l| l.trim().strip_prefix("clusterDNS: "));
    line.expect("clusterDNS in the config").to_owned()
}
