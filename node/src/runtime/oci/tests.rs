//! Root tests against the real runc: a busybox rootfs, real pipes, real cgroups and netns.
//! They skip (with a message) when not root or when runc or /bin/busybox is missing, and run
//! one at a time. `reaper::wait_any_nonblocking` with a real container is tested in
//! node/tests/runtime_reaper.rs, its own process, where it cannot collect other tests' inits.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::*;
use crate::runtime::bundle::{BundleSpec, ImageDefaults, NamespacePaths, write_bundle};
use crate::runtime::cgroups::{Cgroups, PodLimits, container_path};
use crate::runtime::namespaces;
use crate::runtime::podspec::{Pod, PodSpec};
use crate::runtime::reaper::{self, ExitStatus};

static SERIAL: Mutex<()> = Mutex::new(());

/// A temp dir with a busybox rootfs and a runc state root, removed on drop.
struct Fixture {
    dir: PathBuf,
    runtime: OciRuntime,
    cgroups: Cgroups,
    pod_uid: String,
}

struct Ran {
    exit: ExitStatus,
    stdout: String,
    stderr: String,
    oom_kills: u64,
}

fn fixture(name: &str, kind: RuntimeKind) -> Option<Fixture> {
    if !rustix::process::getuid().is_root() {
        eprintln!("SKIP {name}: needs root");
        return None;
    }
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIP {name}: /bin/busybox (busybox-static) is missing");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("wisp-oci-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let runtime = match OciRuntime::detect(
        find_in_path(kind.binary_name()).as_deref(),
        kind,
        &dir.join("state"),
    ) {
        Ok(runtime) => runtime,
        Err(OciError::NoRuntime(what)) => {
            eprintln!("SKIP {name}: {} not installed ({what})", kind.binary_name());
            return None;
        }
        Err(e) => panic!("detect: {e}"),
    };
    let rootfs = dir.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    if let Err(e) = reaper::become_subreaper() {
        // qemu-user (the ARM test runner) does not emulate PR_SET_CHILD_SUBREAPER.
        eprintln!("SKIP {name}: cannot become a child subreaper ({e}); emulated?");
        let _ = fs::remove_dir_all(&dir);
        return None;
    }
    let pod_uid = format!("test-{name}-{}", std::process::id());
    Some(Fixture {
        dir,
        runtime,
        cgroups: Cgroups::detect().unwrap(),
        pod_uid,
    })
}

fn parse_pod(containers: &str) -> Pod {
    let doc =
        format!(r#"{{"metadata":{{"name":"p","uid":"u"}},"spec":{{"containers":{containers}}}}}"#);
    PodSpec::from_pod_json(doc.as_bytes()).unwrap()
}

impl Fixture {
    fn bundle_spec<'a>(
        &self,
        pod: &'a Pod,
        index: usize,
        namespaces: NamespacePaths,
    ) -> BundleSpec<'a> {
        let id = format!("{}-c{index}", self.pod_uid);
        BundleSpec {
            container: &pod.spec.containers[index],
            pod: &pod.spec,
            rootfs: self.dir.join("rootfs"),
            image: ImageDefaults::default(),
            env: Vec::new(),
            mounts: Vec::new(),
            namespaces,
            cgroups_path: container_path(&self.pod_uid, &id),
            hostname: "p".into(),
            annotations: BTreeMap::new(),
            terminal: false,
        }
    }

    /// Writes the bundle and creates and starts a container whose output is discarded.
    fn start_detached(&self, pod: &Pod, index: usize, stdio: Stdio) -> (String, PathBuf, i32) {
        let id = format!("{}-c{index}", self.pod_uid);
        let bundle = self.dir.join(&id);
        let mut spec = self.bundle_spec(pod, index, NamespacePaths::default());
        spec.terminal = matches!(stdio, Stdio::Console(_));
        write_bundle(&bundle, &spec).unwrap();
        let pid = self
            .runtime
            .create(&id, &bundle, stdio, &bundle.join("pid"))
            .unwrap();
        self.runtime.start(&id).unwrap();
        (id, bundle, pid)
    }

    /// Writes the bundle, creates and starts the container, waits for its exit via the
    /// reaper, reads its output, checks the OOM counter and deletes it.
    fn run(&self, pod: &Pod, index: usize, namespaces: NamespacePaths) -> Ran {
        let id = format!("{}-c{index}", self.pod_uid);
        let bundle = self.dir.join(&id);
        let spec = self.bundle_spec(pod, index, namespaces);
        write_bundle(&bundle, &spec).unwrap();
        let (mut out_read, out_write) = pipe();
        let (mut err_read, err_write) = pipe();
        let stdio = Stdio::Fds {
            stdin: None,
            stdout: out_write,
            stderr: err_write,
        };
        let started = Instant::now();
        let pid = self
            .runtime
            .create(&id, &bundle, stdio, &bundle.join("pid"))
            .unwrap();
        let created = started.elapsed();
        assert_eq!(self.runtime.state(&id).unwrap().status, "created");
        assert!(
            self.runtime
                .list()
                .unwrap()
                .iter()
                .any(|s| s.id == id && s.pid == pid)
        );
        let before_start = Instant::now();
        self.runtime.start(&id).unwrap();
        eprintln!(
            "{id}: runtime create {created:?}, start {:?}",
            before_start.elapsed()
        );
        let exit = wait_for(pid);
        let (mut stdout, mut stderr) = (String::new(), String::new());
        out_read.read_to_string(&mut stdout).unwrap();
        err_read.read_to_string(&mut stderr).unwrap();
        assert_eq!(self.runtime.state(&id).unwrap().status, "stopped");
        let oom_kills = self.cgroups.oom_kills(&spec.cgroups_path).unwrap();
        self.runtime.delete(&id, false).unwrap();
        assert!(matches!(
            self.runtime.state(&id),
            Err(OciError::NotFound(_))
        ));
        assert!(
            !self.cgroups.exists(&spec.cgroups_path),
            "container cgroup left behind"
        );
        Ran {
            exit,
            stdout,
            stderr,
            oom_kills,
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for state in self.runtime.list().unwrap_or_default() {
            let _ = self.runtime.delete(&state.id, true);
        }
        let _ = self.cgroups.remove_pod(&self.pod_uid);
        let _ = namespaces::remove(&self.dir.join("run"), &self.pod_uid);
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn pipe() -> (fs::File, OwnedFd) {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
    (fs::File::from(read), write)
}

fn wait_for(pid: i32) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        // Only this pid: wait_any would also collect inits of other tests in this binary.
        if let Some(status) = reaper::wait_pid_nonblocking(pid) {
            return status;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("container init {pid} did not exit within 5 s");
}

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn exit_code_and_both_streams_come_back() {
    let _serial = serial();
    let Some(f) = fixture("stdio", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(r#"[{"name":"c","command":["sh","-c","echo out; echo err >&2; exit 3"]}]"#);
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(ran.exit, ExitStatus::Code(3));
    assert_eq!(
        (ran.stdout.as_str(), ran.stderr.as_str()),
        ("out\n", "err\n")
    );
    assert_eq!(ran.oom_kills, 0);
    assert!(
        f.runtime.version.starts_with("runc version"),
        "{}",
        f.runtime.version
    );
}

#[test]
fn memory_hog_is_oom_killed_and_detected() {
    let _serial = serial();
    let Some(f) = fixture("oom", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(
        r#"[{"name":"c","command":["sh","-c","a=xxxxxxxx; while true; do a=$a$a; done"],
            "resources":{"limits":{"memory":"8Mi"}}}]"#,
    );
    f.cgroups
        .create_pod(&f.pod_uid, &PodLimits::from_pod(&pod.spec))
        .unwrap();
    assert!(f.cgroups.pod_exists(&f.pod_uid));
    let pod_memory = PathBuf::from("/sys/fs/cgroup/memory")
        .join(crate::runtime::cgroups::pod_path(&f.pod_uid).trim_start_matches('/'));
    if f.cgroups.mode != CgroupMode::V2 {
        assert_eq!(
            fs::read_to_string(pod_memory.join("memory.limit_in_bytes"))
                .unwrap()
                .trim(),
            (8u64 << 20).to_string()
        );
    }
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(ran.exit, ExitStatus::Signal(9), "stderr: {}", ran.stderr);
    assert!(ran.oom_kills >= 1, "OOM kill not detected");
    f.cgroups.remove_pod(&f.pod_uid).unwrap();
    assert!(!f.cgroups.pod_exists(&f.pod_uid), "pod cgroup left behind");
}

#[test]
fn run_as_user_sets_the_uid() {
    let _serial = serial();
    let Some(f) = fixture("user", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(
        r#"[{"name":"c","command":["sh","-c","id -u; id -G"],"securityContext":{"runAsUser":1000,"runAsGroup":1001}}]"#,
    );
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(ran.exit, ExitStatus::Code(0), "{}", ran.stderr);
    assert_eq!(ran.stdout, "1000\n1001\n");
}

#[test]
fn read_only_root_filesystem_refuses_writes() {
    let _serial = serial();
    let Some(f) = fixture("rofs", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(
        r#"[{"name":"c","command":["sh","-c","touch /x"],"securityContext":{"readOnlyRootFilesystem":true}}]"#,
    );
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(ran.exit, ExitStatus::Code(1));
    assert!(
        ran.stderr.contains("Read-only file system"),
        "{}",
        ran.stderr
    );
    assert!(!f.dir.join("rootfs/x").exists());
}

#[test]
fn containers_of_a_pod_share_its_network_namespace() {
    let _serial = serial();
    let Some(f) = fixture("netns", RuntimeKind::Runc) else {
        return;
    };
    let run_dir = f.dir.join("run");
    let held = namespaces::create(&run_dir, &f.pod_uid).unwrap();
    assert_eq!(namespaces::list(&run_dir), vec![f.pod_uid.clone()]);
    let net_inode = namespaces::inode(&held.network).unwrap();
    assert_ne!(
        net_inode,
        namespaces::inode(Path::new("/proc/self/ns/net")).unwrap()
    );
    let script = r#"[{"name":"a","command":["sh","-c","readlink /proc/self/ns/net; cat /sys/class/net/lo/flags; hostname"]},
                     {"name":"b","command":["sh","-c","readlink /proc/self/ns/net"]}]"#;
    let pod = parse_pod(script);
    let first = f.run(&pod, 0, held.paths());
    let second = f.run(&pod, 1, held.paths());
    let expected = format!("net:[{net_inode}]");
    assert_eq!(
        first.stdout.lines().next(),
        Some(expected.as_str()),
        "{}",
        first.stderr
    );
    assert_eq!(second.stdout.trim(), expected);
    let flags = first.stdout.lines().nth(1).unwrap();
    assert_eq!(
        u32::from_str_radix(flags.trim_start_matches("0x"), 16).unwrap() & 1,
        1,
        "lo is down: {flags}"
    );
    assert_eq!(first.stdout.lines().nth(2), Some("p"));
    namespaces::remove(&run_dir, &f.pod_uid).unwrap();
    assert!(namespaces::list(&run_dir).is_empty());
    assert!(!held.network.exists() && !held.ipc.exists() && !held.uts.exists());
    f.cgroups.remove_pod(&f.pod_uid).unwrap();
    assert!(!f.cgroups.pod_exists(&f.pod_uid), "pod cgroup left behind");
}

#[test]
fn crun_runs_a_container_or_refuses_hybrid_cgroups() {
    let _serial = serial();
    if crate::preflight::cgroup_mode(&HostPaths::default()) == CgroupMode::Hybrid {
        let Some(crun) = find_in_path("crun") else {
            eprintln!("SKIP crun: not installed");
            return;
        };
        let err = OciRuntime::detect(
            Some(&crun),
            RuntimeKind::Crun,
            &std::env::temp_dir().join("wisp-crun-state"),
        )
        .unwrap_err();
        assert!(matches!(err, OciError::CrunOnHybridCgroups), "{err}");
        let fallback = OciRuntime::detect(
            None,
            RuntimeKind::Crun,
            &std::env::temp_dir().join("wisp-crun-state"),
        )
        .unwrap();
        assert_eq!(
            fallback.kind,
            RuntimeKind::Runc,
            "preferring crun on a hybrid host falls back to runc"
        );
        let _ = fs::remove_dir_all(std::env::temp_dir().join("wisp-crun-state"));
        eprintln!(
            "SKIP crun container run: crun refuses hybrid cgroups on this host (checked the typed error)"
        );
        return;
    }
    let Some(f) = fixture("crun", RuntimeKind::Crun) else {
        return;
    };
    let pod = parse_pod(r#"[{"name":"c","command":["sh","-c","echo crun; exit 4"]}]"#);
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(
        (ran.exit, ran.stdout.as_str()),
        (ExitStatus::Code(4), "crun\n")
    );
}

fn null_stdio() -> Stdio {
    let null = || OwnedFd::from(fs::File::create("/dev/null").unwrap());
    Stdio::Fds {
        stdin: None,
        stdout: null(),
        stderr: null(),
    }
}

#[test]
fn exec_runs_beside_the_init_and_kill_stops_it() {
    let _serial = serial();
    let Some(f) = fixture("exec", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(
        r#"[{"name":"c","command":["sh","-c","sleep 60"],"securityContext":{"runAsUser":1234}}]"#,
    );
    let (id, bundle, pid) = f.start_detached(&pod, 0, null_stdio());
    assert_eq!(f.runtime.state(&id).unwrap().status, "running");
    let stats = f.cgroups.stats(&container_path(&f.pod_uid, &id)).unwrap();
    assert!(
        stats.memory_usage_bytes > 0 && stats.memory_working_set_bytes <= stats.memory_usage_bytes,
        "{stats:?}"
    );
    assert!(stats.cpu_usage_ns > 0, "{stats:?}");
    let args = ["sh", "-c", "id -u; echo oops >&2; exit 5"].map(String::from);
    let process = exec_process_json(&bundle, &args, false).unwrap();
    let (mut out_read, out_write) = pipe();
    let (mut err_read, err_write) = pipe();
    let mut child = f
        .runtime
        .exec(
            &id,
            &process,
            Stdio::Fds {
                stdin: None,
                stdout: out_write,
                stderr: err_write,
            },
        )
        .unwrap();
    let status = child.wait().unwrap();
    reaper::release(child.id());
    let (mut stdout, mut stderr) = (String::new(), String::new());
    out_read.read_to_string(&mut stdout).unwrap();
    err_read.read_to_string(&mut stderr).unwrap();
    assert_eq!(
        (status.code(), stdout.as_str(), stderr.as_str()),
        (Some(5), "1234\n", "oops\n")
    );
    f.runtime.kill(&id, 9, true).unwrap();
    assert_eq!(wait_for(pid), ExitStatus::Signal(9));
    f.runtime.delete(&id, false).unwrap();
    assert!(f.runtime.list().unwrap().is_empty());
}

#[test]
fn a_tty_container_hands_its_pty_master_over_the_console_socket() {
    let _serial = serial();
    let Some(f) = fixture("tty", RuntimeKind::Runc) else {
        return;
    };
    fs::create_dir_all(&f.dir).unwrap();
    let console = ConsoleSocket::bind(&f.dir.join("console.sock")).unwrap();
    let pod = parse_pod(r#"[{"name":"c","command":["sh","-c","tty; echo hi"],"tty":true}]"#);
    let (id, _bundle, pid) =
        f.start_detached(&pod, 0, Stdio::Console(console.path().to_path_buf()));
    let mut master = fs::File::from(console.receive_master(Duration::from_secs(2)).unwrap());
    assert_eq!(wait_for(pid), ExitStatus::Code(0));
    let mut output = Vec::new();
    // Reading a pty master whose slave closed ends in EIO, after the buffered output.
    let _ = master.read_to_end(&mut output);
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.starts_with("/dev/pts/") && output.contains("hi\r\n"),
        "{output:?}"
    );
    f.runtime.delete(&id, false).unwrap();
}

#[test]
fn failures_come_back_typed_with_the_runtime_message() {
    let _serial = serial();
    let Some(f) = fixture("errors", RuntimeKind::Runc) else {
        return;
    };
    assert!(matches!(
        f.runtime.state("no-such-container"),
        Err(OciError::NotFound(_))
    ));
    assert!(matches!(
        f.runtime.kill("no-such-container", 9, false),
        Err(OciError::NotFound(_))
    ));
    let pod = parse_pod(r#"[{"name":"c","command":["/missing-binary"]}]"#);
    let bundle = f.dir.join("bad");
    write_bundle(&bundle, &f.bundle_spec(&pod, 0, NamespacePaths::default())).unwrap();
    let err = f
        .runtime
        .create("bad", &bundle, null_stdio(), &bundle.join("pid"))
        .unwrap_err();
    assert!(err.to_string().contains("/missing-binary"), "{err}");
    let _ = f.runtime.delete("bad", true);
}

#[test]
fn privileged_containers_see_host_devices_and_all_capabilities() {
    let _serial = serial();
    let Some(f) = fixture("privileged", RuntimeKind::Runc) else {
        return;
    };
    let Some(device) = ["/dev/kmsg", "/dev/loop0", "/dev/tty0"]
        .into_iter()
        .find(|d| Path::new(d).exists())
    else {
        eprintln!("SKIP privileged: no /dev/kmsg, /dev/loop0 or /dev/tty0 on this host");
        return;
    };
    let script = format!("test -e {device} && echo has-device; grep CapEff /proc/self/status");
    let pod = parse_pod(&format!(
        r#"[{{"name":"c","command":["sh","-c","{script}"],"securityContext":{{"privileged":true}}}}]"#
    ));
    let ran = f.run(&pod, 0, NamespacePaths::default());
    assert_eq!(ran.exit, ExitStatus::Code(0), "{}", ran.stderr);
    assert!(ran.stdout.starts_with("has-device\n"), "{}", ran.stdout);
    let host = fs::read_to_string("/proc/self/status").unwrap();
    let bounding = host
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .unwrap()
        .trim();
    assert!(
        ran.stdout.contains(&format!("CapEff:\t{bounding}")),
        "privileged lacks some of {bounding}: {}",
        ran.stdout
    );
    let plain = parse_pod(&format!(
        r#"[{{"name":"c","command":["sh","-c","test -e {device} || echo no-device"]}}]"#
    ));
    assert_eq!(
        f.run(&plain, 0, NamespacePaths::default()).stdout,
        "no-device\n"
    );
}

#[test]
fn runtime_default_seccomp_is_accepted_and_enforced() {
    let _serial = serial();
    let Some(f) = fixture("seccomp", RuntimeKind::Runc) else {
        return;
    };
    let script = r#"grep Seccomp: /proc/self/status; unshare -U true && echo userns-ok || echo userns-denied"#;
    let confined = parse_pod(&format!(
        r#"[{{"name":"c","command":["sh","-c","{script}"],"securityContext":{{"seccompProfile":{{"type":"RuntimeDefault"}}}}}}]"#
    ));
    let ran = f.run(&confined, 0, NamespacePaths::default());
    assert!(ran.stdout.starts_with("Seccomp:\t2\n"), "{}", ran.stdout);
    assert!(
        ran.stdout.ends_with("userns-denied\n"),
        "{} {}",
        ran.stdout,
        ran.stderr
    );
    let unconfined = parse_pod(&format!(
        r#"[{{"name":"c","command":["sh","-c","{script}"]}}]"#
    ));
    let ran = f.run(&unconfined, 0, NamespacePaths::default());
    assert!(ran.stdout.starts_with("Seccomp:\t0\n"), "{}", ran.stdout);
    assert!(
        ran.stdout.ends_with("userns-ok\n"),
        "unconfined control case: {} {}",
        ran.stdout,
        ran.stderr
    );
}

#[test]
fn exec_with_a_terminal_gets_its_own_pty() {
    let _serial = serial();
    let Some(f) = fixture("exectty", RuntimeKind::Runc) else {
        return;
    };
    let pod = parse_pod(r#"[{"name":"c","command":["sh","-c","sleep 60"]}]"#);
    let (id, bundle, pid) = f.start_detached(&pod, 0, null_stdio());
    let console = ConsoleSocket::bind(&f.dir.join("exec.sock")).unwrap();
    let args = ["sh", "-c", "tty; echo from-exec; exit 6"].map(String::from);
    let process = exec_process_json(&bundle, &args, true).unwrap();
    let refused = f
        .runtime
        .exec(&id, &process, Stdio::Console(console.path().to_path_buf()));
    assert!(
        refused.is_err(),
        "exec with a console must go through exec_tty"
    );
    let exec_pid = f
        .runtime
        .exec_tty(&id, &process, console.path(), &f.dir.join("exec.pid"))
        .unwrap();
    let mut master = fs::File::from(console.receive_master(Duration::from_secs(2)).unwrap());
    assert_eq!(wait_for(exec_pid), ExitStatus::Code(6));
    let mut output = Vec::new();
    let _ = master.read_to_end(&mut output);
    let output = String::from_utf8_lossy(&output);
    assert!(
        output.starts_with("/dev/pts/") && output.contains("from-exec\r\n"),
        "{output:?}"
    );
    f.runtime.kill(&id, 9, true).unwrap();
    assert_eq!(wait_for(pid), ExitStatus::Signal(9));
    f.runtime.delete(&id, false).unwrap();
}
