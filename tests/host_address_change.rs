//! Host address changes end to end: wisp runs in a network namespace of the test's own
//! whose only route is a default route over an interface of its own with address A (so A is the
//! host's primary address), serves a NodePort and a LoadBalancer Service with a real runc
//! pod behind them; then the test moves the interface to address B, as a DHCP renewal
//! would, and checks that without a restart the NodePort answers on B, the Node, the
//! LoadBalancer's ingress and the `kubernetes` Endpoints say B, the API server's
//! certificate verifies for B against the cluster CA, and the pod was not restarted.
//! The machine's own interfaces and routes are not touched: the test's thread enters the
//! namespace, and every process it starts (wisp, kubectl, ip, openssl) runs in it. Needs
//! root, runc, nft, openssl and busybox-static; without them the test says why it skips.

mod support;

use std::io::{Read, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use support::{Wisp, at, json};
use wisp_node::image::ArchiveFormat;
use wisp_node::image::testimage::write_busybox_archive;

const IMAGE: &str = "wisp.test/busybox:1.0";
const ADDRESS_A: &str = "10.77.0.2";
const ADDRESS_B: &str = "10.78.0.2";
/// How long after the address moved everything must have followed.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(10);

fn prerequisites() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    for (tool, arg) in [
        ("runc", "--version"),
        ("nft", "--version"),
        ("openssl", "version"),
    ] {
        if Command::new(tool).arg(arg).output().is_err() {
            return Err(format!("{tool} is not installed"));
        }
    }
    if !wisp_node::image::testimage::busybox_available() {
        return Err("busybox-static is not installed".into());
    }
    Ok(())
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The test's network namespace with the interface `wa0` (a veth pair inside it) holding A and the default
/// route; removed (with everything wisp left in it) on drop.
struct TestNetwork {
    name: String,
}

impl TestNetwork {
    fn create() -> TestNetwork {
        let name = format!("waddr{}", std::process::id());
        ip(&["netns", "add", &name]);
        let network = TestNetwork { name };
        let n = network.name.as_str();
        ip(&["-n", n, "link", "set", "lo", "up"]);
        ip(&[
            "-n", n, "link", "add", "wa0", "type", "veth", "peer", "name", "wa1",
        ]);
        ip(&["-n", n, "link", "set", "wa1", "up"]);
        ip(&[
            "-n",
            n,
            "addr",
            "add",
            &format!("{ADDRESS_A}/24"),
            "dev",
            "wa0",
        ]);
        ip(&["-n", n, "link", "set", "wa0", "up"]);
        ip(&["-n", n, "route", "add", "default", "dev", "wa0"]);
        network
    }

    /// Moves this thread (and so every process it starts) into the namespace.
    fn enter(&self) {
        let file = std::fs::File::open(format!("/run/netns/{}", self.name)).expect("netns");
        rustix::thread::move_into_link_name_space(
            std::os::fd::AsFd::as_fd(&file),
            Some(rustix::thread::LinkNameSpaceType::Network),
        )
        .expect("setns");
    }

    /// What a DHCP renewal to another subnet does: the old address goes, the new one comes,
    /// the default route is set again.
    fn move_address(&self) {
        ip(&["addr", "del", &format!("{ADDRESS_A}/24"), "dev", "wa0"]);
        ip(&["addr", "add", &format!("{ADDRESS_B}/24"), "dev", "wa0"]);
        ip(&["route", "replace", "default", "dev", "wa0"]);
    }
}

impl Drop for TestNetwork {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// wisp and the containers and mounts it leaves when a test fails half-way.
struct Node {
    wisp: Option<Wisp>,
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
        panic!(
            "timed out waiting for {what}; wisp said: {}",
            self.w().stderr_tail()
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(wisp) = self.wisp.take() {
            let dir = wisp.dir.clone();
            drop(wisp);
            clean_host(&dir);
        }
    }
}

fn clean_host(dir: &Path) {
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

fn start_node(tag: &str) -> Node {
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
            "network:\n  podCIDR: 10.150.0.0/16\n  serviceCIDR: 10.151.0.0/16\n  clusterDNS: 10.151.0.10\n  bridge: waddr0\n  nftTable: waddr\nnode:\n  name: {tag}\n  runDir: {run}\n  podLogsDir: {logs}\n  imagesDir: {images}\n",
            run = dir.join("run").display(),
            logs = dir.join("logs").display(),
            images = images.display(),
        )
    });
    let node = Node { wisp: Some(wisp) };
    node.wait_for(Duration::from_secs(30), "the node to register", |w| {
        w.kubectl(&["get", "node", tag]).status_ok()
    });
    node
}

fn web_manifest() -> String {
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

fn host_ip_pod_manifest() -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: later
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "echo $HOST_IP; exec sleep 3600"]
    env:
    - name: HOST_IP
      valueFrom:
        fieldRef: {{fieldPath: status.hostIP}}
"#
    )
}

fn http_get(host: &str, port: u16) -> Result<String, String> {
    let address = format!("{host}:{port}");
    let mut s = std::net::TcpStream::connect_timeout(
        &address.parse().map_err(|e| format!("{address}: {e}"))?,
        Duration::from_secs(2),
    )
    .map_err(|e| format!("connect {address}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    write!(s, "GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out.split("\r\n\r\n").nth(1).unwrap_or("").trim().to_owned())
}

/// Whether a TLS handshake with `ip`:`port` verifies against the cluster CA with `ip` as
/// the IP SAN (openssl checks the name; the exit status says whether it verified).
fn tls_verifies_for(w: &Wisp, ip: &str) -> Result<(), String> {
    let out = Command::new("openssl")
        .args(["s_client", "-connect", &format!("{ip}:{}", w.port)])
        .arg("-CAfile")
        .arg(w.pki("ca.crt"))
        .args(["-verify_ip", ip, "-verify_return_error", "-brief"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() && said.contains("Verification: OK") {
        Ok(())
    } else {
        Err(said)
    }
}

fn node_internal_ip(w: &Wisp, node: &str) -> String {
    w.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.addresses[?(@.type==\"InternalIP\")].address}",
    ])
}

#[test]
fn moving_the_host_address_keeps_a_node_port_answering_on_the_new_one() {
    if let Err(why) = prerequisites() {
        eprintln!(
            "skipping moving_the_host_address_keeps_a_node_port_answering_on_the_new_one: {why}"
        );
        return;
    }
    let network = TestNetwork::create();
    network.enter();
    let tag = "addr-move";
    let node = start_node(tag);
    let w = node.w();
    assert_eq!(
        node_internal_ip(w, tag),
        ADDRESS_A,
        "A is the primary address"
    );
    tls_verifies_for(w, ADDRESS_A).expect("the certificate names A at start");
    w.ok_stdin(&["apply", "-f", "-"], &web_manifest());
    w.ok(&["wait", "--for=condition=Ready", "pod/web", "--timeout=90s"]);
    let service = json(&w.ok(&["get", "service", "web", "-o", "json"]));
    let node_port: u16 = at(&service, "spec.ports.0.nodePort")
        .and_then(|p| p.parse().ok())
        .expect("a node port");
    node.wait_for(Duration::from_secs(20), "the NodePort on A", |_| {
        http_get(ADDRESS_A, node_port).is_ok_and(|b| b == "hello")
    });
    let started_at = |w: &Wisp| {
        let pod = json(&w.ok(&["get", "pod", "web", "-o", "json"]));
        let started = at(&pod, "status.containerStatuses.0.state.running.startedAt");
        let restarts = at(&pod, "status.containerStatuses.0.restartCount");
        (
            started.expect("running"),
            restarts.expect("a restart count"),
        )
    };
    let before = started_at(w);
    assert_eq!(before.1, "0");

    let moved = Instant::now();
    network.move_address();
    node.wait_for(FOLLOW_TIMEOUT, "the NodePort on B", |_| {
        http_get(ADDRESS_B, node_port).is_ok_and(|b| b == "hello")
    });
    let node_port_after = moved.elapsed();
    node.wait_for(FOLLOW_TIMEOUT, "the certificate to name B", |w| {
        tls_verifies_for(w, ADDRESS_B).is_ok()
    });
    let certificate_after = moved.elapsed();
    node.wait_for(FOLLOW_TIMEOUT, "the Node's InternalIP to be B", |w| {
        node_internal_ip(w, tag) == ADDRESS_B
    });
    let wide = w.ok(&["get", "node", "-o", "wide"]);
    assert!(wide.contains(ADDRESS_B), "{wide}");
    node.wait_for(FOLLOW_TIMEOUT, "the LoadBalancer ingress to be B", |w| {
        let service = json(&w.ok(&["get", "service", "web", "-o", "json"]));
        at(&service, "status.loadBalancer.ingress.0.ip").as_deref() == Some(ADDRESS_B)
    });
    node.wait_for(
        FOLLOW_TIMEOUT,
        "the LoadBalancer address B to answer",
        |_| http_get(ADDRESS_B, 80).is_ok_and(|b| b == "hello"),
    );
    node.wait_for(FOLLOW_TIMEOUT, "the kubernetes Endpoints to be B", |w| {
        let endpoints = json(&w.ok(&["get", "endpoints", "kubernetes", "-o", "json"]));
        at(&endpoints, "subsets.0.addresses.0.ip").as_deref() == Some(ADDRESS_B)
    });
    eprintln!(
        "address moved: NodePort on B after {node_port_after:?}, certificate after {certificate_after:?}, everything after {:?}",
        moved.elapsed()
    );
    assert_eq!(started_at(w), before, "the pod was not restarted");
    let stderr = w.stderr_tail();
    assert!(
        stderr.contains("host address is now 10.78.0.2"),
        "the node agent followed: {stderr}"
    );

    // A pod started after the move sees B as its host address.
    w.ok_stdin(&["apply", "-f", "-"], &host_ip_pod_manifest());
    w.ok(&[
        "wait",
        "--for=condition=Ready",
        "pod/later",
        "--timeout=60s",
    ]);
    let later = json(&w.ok(&["get", "pod", "later", "-o", "json"]));
    assert_eq!(at(&later, "status.hostIP").as_deref(), Some(ADDRESS_B));
    node.wait_for(Duration::from_secs(10), "the later pod's log", |w| {
        w.kubectl(&["logs", "later"]).stdout.trim() == ADDRESS_B
    });

    w.ok(&["delete", "service", "web"]);
    w.ok(&["delete", "pod", "web", "later", "--timeout=60s"]);
    let mut node = node;
    let wisp = node.wisp.take().expect("running");
    let dir = wisp.dir.clone();
    wisp.stop();
    clean_host(&dir);
    drop(network);
}
