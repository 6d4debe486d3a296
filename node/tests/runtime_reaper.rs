//! The subreaper end to end, in its own test process: a container started with runc
//! `create` + `start` is reparented to this process, and `reaper::wait_any_nonblocking`
//! collects its exit code while a plain child of this process is left to its own `wait`.
//! Needs root, runc and /bin/busybox; skips with a message otherwise.

use std::collections::BTreeMap;
use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use wisp_node::runtime::bundle::{BundleSpec, ImageDefaults, NamespacePaths, write_bundle};
use wisp_node::runtime::cgroups::{Cgroups, container_path};
use wisp_node::runtime::oci::{OciRuntime, RuntimeKind, Stdio};
use wisp_node::runtime::podspec::PodSpec;
use wisp_node::runtime::reaper::{self, ExitStatus};

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn devnull() -> OwnedFd {
    OwnedFd::from(fs::File::create("/dev/null").unwrap())
}

#[test]
fn adopted_container_init_is_reaped_and_own_children_are_not() {
    if !rustix::process::getuid().is_root() || !Path::new("/bin/busybox").exists() {
        eprintln!("SKIP runtime_reaper: needs root and /bin/busybox");
        return;
    }
    let dir = TempDir(std::env::temp_dir().join(format!("wisp-reaper-{}", std::process::id())));
    let runtime = match OciRuntime::detect(None, RuntimeKind::Runc, &dir.0.join("state")) {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("SKIP runtime_reaper: {e}");
            return;
        }
    };
    let rootfs = dir.0.join("rootfs");
    fs::create_dir_all(rootfs.join("bin")).unwrap();
    fs::copy("/bin/busybox", rootfs.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", rootfs.join("bin/sh")).unwrap();
    if let Err(e) = reaper::become_subreaper() {
        // qemu-user (the ARM test runner) does not emulate PR_SET_CHILD_SUBREAPER.
        eprintln!("SKIP runtime_reaper: cannot become a child subreaper ({e}); emulated?");
        return;
    }

    let pod_uid = format!("reaper-{}", std::process::id());
    let id = format!("{pod_uid}-c");
    let doc = br#"{"metadata":{"name":"p","uid":"u"},"spec":{"containers":[{"name":"c","command":["sh","-c","sleep 0.2; exit 7"]}]}}"#;
    let pod = PodSpec::from_pod_json(doc).unwrap();
    let bundle = dir.0.join("bundle");
    let spec = BundleSpec {
        container: &pod.spec.containers[0],
        pod: &pod.spec,
        rootfs,
        image: ImageDefaults::default(),
        env: Vec::new(),
        mounts: Vec::new(),
        namespaces: NamespacePaths::default(),
        cgroups_path: container_path(&pod_uid, &id),
        hostname: "p".into(),
        annotations: BTreeMap::new(),
        terminal: false,
    };
    write_bundle(&bundle, &spec).unwrap();
    let stdio = Stdio::Fds {
        stdin: None,
        stdout: devnull(),
        stderr: devnull(),
    };
    let pid = runtime
        .create(&id, &bundle, stdio, &bundle.join("pid"))
        .unwrap();
    runtime.start(&id).unwrap();
    let mut own_child = std::process::Command::new("/bin/busybox")
        .arg("true")
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(5);
    let mut exit = None;
    while exit.is_none() && Instant::now() < deadline {
        for (reaped, status) in reaper::wait_any_nonblocking() {
            assert_ne!(
                reaped,
                i32::try_from(own_child.id()).unwrap(),
                "reaped a child of wisp's own session"
            );
            if reaped == pid {
                exit = Some(status);
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(exit, Some(ExitStatus::Code(7)));
    assert!(own_child.wait().unwrap().success());
    runtime.delete(&id, true).unwrap();
    Cgroups::detect().unwrap().remove_pod(&pod_uid).unwrap();
}
