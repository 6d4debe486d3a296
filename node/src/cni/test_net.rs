//! Test support shared by the CNI and Services tests: a throwaway "host" network namespace
//! that the calling test thread enters (so the bridge, the veths' host ends, the plugins'
//! iptables rules, nftables tables and the forwarding sysctl all vanish with it), pod
//! namespaces made with `ip netns add`, and the real plugins from /usr/lib/cni.

use std::fs::File;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use rustix::thread::{LinkNameSpaceType, move_into_link_name_space};

use super::*;

pub(crate) const PLUGIN_DIR: &str = "/usr/lib/cni";

/// Why the environment cannot run these tests, if it cannot.
fn missing_prerequisite() -> Option<String> {
    if !rustix::process::geteuid().is_root() {
        return Some("not root".to_owned());
    }
    for tool in ["bridge", "host-local", "portmap", "loopback"] {
        if !Path::new(PLUGIN_DIR).join(tool).exists() {
            return Some(format!("{PLUGIN_DIR}/{tool} missing"));
        }
    }
    for tool in ["/bin/busybox", "/usr/sbin/iptables-save"] {
        if !Path::new(tool).exists() {
            return Some(format!("{tool} missing"));
        }
    }
    let ip = Command::new("ip").arg("-V").output();
    (!ip.is_ok_and(|o| o.status.success())).then(|| "iproute2 `ip` missing".to_owned())
}

pub(crate) fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect(args[0])
}

pub(crate) fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?} failed: {stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A private host namespace (entered by this thread), pod namespaces and a data dir.
pub(crate) struct TestNet {
    pub(crate) prefix: String,
    pub(crate) pods: Vec<String>,
    pub(crate) dir: PathBuf,
    pub(crate) home: File,
    pub(crate) cfg: CniConfig,
    pub(crate) net: DefaultNetwork,
}

impl TestNet {
    /// `None` (after saying why) when the machine cannot run the test.
    pub(crate) fn new(tag: &str, ipv6: bool) -> Option<Self> {
        if let Some(why) = missing_prerequisite() {
            eprintln!("skipping cni test {tag}: {why}");
            return None;
        }
        let prefix = format!("wcni-{}-{tag}", std::process::id());
        let host = format!("{prefix}-host");
        run_ok(&["ip", "netns", "add", &host]);
        run_ok(&["ip", "-n", &host, "link", "set", "lo", "up"]);
        let home = File::open("/proc/thread-self/ns/net").unwrap();
        let target = File::open(format!("/run/netns/{host}")).unwrap();
        move_into_link_name_space(target.as_fd(), Some(LinkNameSpaceType::Network)).unwrap();
        let dir = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&dir);
        let net = DefaultNetwork {
            name: "wtest".to_owned(),
            bridge: "wtest0".to_owned(),
            ipv4: "10.99.0.0/24".parse().ok(),
            ipv6: if ipv6 { "fd99::/64".parse().ok() } else { None },
            ipam_dir: dir.join("ipam"),
        };
        let mut cfg = CniConfig::for_data_dir(&dir);
        cfg.bin_dirs = vec![PathBuf::from(PLUGIN_DIR)];
        assert!(write_default_conflist(&cfg.conflist, &net).unwrap());
        Some(TestNet {
            prefix,
            pods: Vec::new(),
            dir,
            home,
            cfg,
            net,
        })
    }

    pub(crate) fn cni(&self) -> Cni {
        Cni::load(self.cfg.clone()).unwrap()
    }

    /// Creates a pod namespace and returns its path.
    pub(crate) fn pod_netns(&mut self, name: &str) -> PathBuf {
        let ns = format!("{}-{name}", self.prefix);
        run_ok(&["ip", "netns", "add", &ns]);
        self.pods.push(ns.clone());
        PathBuf::from(format!("/run/netns/{ns}"))
    }

    pub(crate) fn exec_in(&self, netns: &Path, args: &[&str]) -> Output {
        let name = netns.file_name().unwrap().to_str().unwrap();
        let mut full = vec!["ip", "netns", "exec", name];
        full.extend_from_slice(args);
        run(&full)
    }

    /// host-local's reservation files (addresses) for the test network.
    pub(crate) fn reservations(&self) -> Vec<String> {
        let dir = self.net.ipam_dir.join(&self.net.name);
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let names = entries.map(|e| e.unwrap().file_name().into_string().unwrap());
        let mut ips: Vec<String> = names
            .filter(|n| n.parse::<std::net::IpAddr>().is_ok())
            .collect();
        ips.sort();
        ips
    }

    pub(crate) fn cached_entries(&self) -> usize {
        std::fs::read_dir(self.cfg.cache_dir.join("results")).map_or(0, |d| d.count())
    }

    /// NAT rules mentioning a container id (ipMasq and portmap tag theirs with it).
    pub(crate) fn nat_rules_for(&self, container_id: &str) -> Vec<String> {
        let rules = run_ok(&["iptables-save", "-t", "nat"]);
        rules
            .lines()
            .filter(|l| l.contains(container_id))
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        let _ = move_into_link_name_space(self.home.as_fd(), Some(LinkNameSpaceType::Network));
        for ns in self.pods.iter().chain([&format!("{}-host", self.prefix)]) {
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub(crate) fn pod(name: &str) -> PodArgs {
    PodArgs {
        namespace: "default".to_owned(),
        name: name.to_owned(),
        uid: format!("uid-{name}"),
    }
}

pub(crate) fn host_veth(result: &CniResult) -> String {
    let host_side = result
        .interfaces
        .iter()
        .find(|i| i.sandbox.is_empty() && i.name != "wtest0");
    host_side
        .expect("a host-side veth in the result")
        .name
        .clone()
}

pub(crate) fn link_exists(name: &str) -> bool {
    run(&["ip", "link", "show", name]).status.success()
}

/// What a failing network test needs to be understood from its log alone.
pub(crate) fn dump_network_state(t: &TestNet, pod_netns: &Path) {
    eprintln!("{}", run_ok(&["iptables-save"]));
    eprintln!("{}", run_ok(&["ip", "addr"]));
    eprintln!("{}", run_ok(&["ip", "route"]));
    let listening = t.exec_in(pod_netns, &["/bin/busybox", "netstat", "-ltn"]);
    eprintln!("{}", String::from_utf8_lossy(&listening.stdout));
}

/// Connects with busybox nc until the server answers (it starts asynchronously).
pub(crate) fn connect_until_answer(host: &str, port: &str, limit: Duration) -> String {
    let start = Instant::now();
    loop {
        let out = run(&["/bin/busybox", "nc", "-w", "1", host, port]);
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !text.is_empty() || start.elapsed() > limit {
            return text;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A busybox server in a pod answering every connection with `reply`.
pub(crate) fn serve(netns: &Path, port: u16, reply: &str) -> Child {
    let name = netns.file_name().unwrap().to_str().unwrap();
    let port = port.to_string();
    Command::new("ip")
        .args([
            "netns",
            "exec",
            name,
            "/bin/busybox",
            "nc",
            "-ll",
            "-p",
            &port,
        ])
        .args(["-e", "/bin/busybox", "echo", reply])
        .stdout(Stdio::null())
        .spawn()
        .unwrap()
}
