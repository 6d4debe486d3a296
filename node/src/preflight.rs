//! Preflight checks of the host (`wisp check`): does this kernel and userland have what the
//! node agent needs? Each check reads the host without changing it and, when it fails,
//! says how to fix it.

use std::fs;
use std::path::{Path, PathBuf};

/// How much a failed check matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// wisp cannot run pods without it.
    Required,
    /// A feature is degraded without it.
    Optional,
}

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    pub name: &'static str,
    pub passed: bool,
    pub severity: Severity,
    /// What was found (a version, a path, a mode).
    pub detail: String,
    /// How to fix it when it failed; empty when it passed.
    pub fix: String,
}

/// Where the checks look; the defaults are the real host paths, tests point them elsewhere.
#[derive(Debug, Clone)]
pub struct HostPaths {
    pub proc_dir: PathBuf,
    pub sys_fs_cgroup: PathBuf,
    pub cni_bin_dirs: Vec<PathBuf>,
    pub path_env: String,
}

impl Default for HostPaths {
    fn default() -> Self {
        HostPaths {
            proc_dir: PathBuf::from("/proc"),
            sys_fs_cgroup: PathBuf::from("/sys/fs/cgroup"),
            cni_bin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            path_env: std::env::var("PATH").unwrap_or_default(),
        }
    }
}

/// The cgroup layout of the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CgroupMode {
    /// Only cgroup v1 hierarchies.
    V1,
    /// v1 controllers with a v2 hierarchy at /sys/fs/cgroup/unified (crun refuses this).
    Hybrid,
    /// The unified v2 hierarchy at /sys/fs/cgroup.
    V2,
    /// No cgroup filesystem found.
    None,
}

impl CgroupMode {
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::V1 => "v1",
            CgroupMode::Hybrid => "hybrid (v1 controllers + v2 at unified/)",
            CgroupMode::V2 => "v2 (unified)",
            CgroupMode::None => "none",
        }
    }
}

/// Runs every check against the host.
pub fn run_all(paths: &HostPaths) -> Vec<CheckResult> {
    vec![
        check_kernel(),
        check_cgroups(paths),
        check_overlayfs(paths),
        check_namespaces(paths),
        check_nftables(paths),
        check_oci_runtime(paths),
        check_cni_plugins(paths),
    ]
}

fn result(
    name: &'static str,
    passed: bool,
    severity: Severity,
    detail: String,
    fix: &str,
) -> CheckResult {
    CheckResult {
        name,
        passed,
        severity,
        detail,
        fix: if passed {
            String::new()
        } else {
            fix.to_owned()
        },
    }
}

/// Kernel 4.18 or newer: overlayfs with redirect_dir, cgroup v2 controllers, nftables.
fn check_kernel() -> CheckResult {
    let uname = rustix::system::uname();
    let release = uname.release().to_string_lossy().into_owned();
    let passed = kernel_at_least(&release, 4, 18);
    result(
        "kernel",
        passed,
        Severity::Required,
        format!("Linux {release}"),
        "use a kernel 4.18 or newer (the board vendor's BSP kernel usually is)",
    )
}

/// Parses "6.1.0-18-arm64" style releases and compares major.minor.
pub fn kernel_at_least(release: &str, major: u32, minor: u32) -> bool {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<u32>().unwrap_or(0));
    let found = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    found >= (major, minor)
}

/// Tells v1, hybrid and v2 apart from what /proc/self/mounts says about the cgroup mounts.
pub fn cgroup_mode(paths: &HostPaths) -> CgroupMode {
    let mounts = fs::read_to_string(paths.proc_dir.join("self/mounts")).unwrap_or_default();
    cgroup_mode_from_mounts(&mounts, &paths.sys_fs_cgroup)
}

pub fn cgroup_mode_from_mounts(mounts: &str, root: &Path) -> CgroupMode {
    let root = root.to_string_lossy();
    let mut v1 = false;
    let mut unified_v2 = false;
    for line in mounts.lines() {
        let mut fields = line.split_whitespace();
        let (_dev, Some(mount_point), Some(fstype)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        match fstype {
            "cgroup2" if mount_point == root => return CgroupMode::V2,
            "cgroup2" if mount_point.starts_with(root.as_ref()) => unified_v2 = true,
            "cgroup" => v1 = true,
            _ => {}
        }
    }
    match (v1, unified_v2) {
        (true, true) => CgroupMode::Hybrid,
        (true, false) => CgroupMode::V1,
        (false, true) => CgroupMode::Hybrid,
        (false, false) => CgroupMode::None,
    }
}

fn check_cgroups(paths: &HostPaths) -> CheckResult {
    let mode = cgroup_mode(paths);
    result(
        "cgroups",
        mode != CgroupMode::None,
        Severity::Required,
        mode.as_str().to_owned(),
        "mount cgroup2 at /sys/fs/cgroup (kernel: CONFIG_CGROUPS, CONFIG_MEMCG, CONFIG_CGROUP_PIDS)",
    )
}

fn check_overlayfs(paths: &HostPaths) -> CheckResult {
    let filesystems = fs::read_to_string(paths.proc_dir.join("filesystems")).unwrap_or_default();
    let found = filesystems
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    result(
        "overlayfs",
        found,
        Severity::Required,
        if found {
            "overlay listed in /proc/filesystems"
        } else {
            "overlay not in /proc/filesystems"
        }
        .to_owned(),
        "`modprobe overlay`, or build the kernel with CONFIG_OVERLAY_FS",
    )
}

fn check_namespaces(paths: &HostPaths) -> CheckResult {
    let wanted = ["mnt", "pid", "net", "ipc", "uts", "cgroup"];
    let ns_dir = paths.proc_dir.join("self/ns");
    let missing: Vec<&str> = wanted
        .iter()
        .copied()
        .filter(|ns| !ns_dir.join(ns).exists())
        .collect();
    result(
        "namespaces",
        missing.is_empty(),
        Severity::Required,
        if missing.is_empty() {
            wanted.join(",")
        } else {
            format!("missing: {}", missing.join(","))
        },
        "build the kernel with CONFIG_NAMESPACES and the *_NS options for the missing ones",
    )
}

fn find_on_path(path_env: &str, program: &str) -> Option<PathBuf> {
    path_env
        .split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

fn check_nftables(paths: &HostPaths) -> CheckResult {
    let module = Path::new("/sys/module/nf_tables").exists();
    let nft = find_on_path(&paths.path_env, "nft");
    let detail = match (&nft, module) {
        (Some(p), true) => format!("{} and nf_tables loaded", p.display()),
        (Some(p), false) => format!("{} (nf_tables not loaded yet; nft loads it)", p.display()),
        (None, _) => "nft not on PATH".to_owned(),
    };
    result(
        "nftables",
        nft.is_some(),
        Severity::Optional,
        detail,
        "install nftables (Debian: apt-get install nftables); kernel: CONFIG_NF_TABLES; needed for Services",
    )
}

fn check_oci_runtime(paths: &HostPaths) -> CheckResult {
    let found: Vec<String> = ["runc", "crun"]
        .iter()
        .filter_map(|r| find_on_path(&paths.path_env, r))
        .map(|p| p.display().to_string())
        .collect();
    result(
        "oci-runtime",
        !found.is_empty(),
        Severity::Required,
        if found.is_empty() {
            "neither runc nor crun on PATH".to_owned()
        } else {
            found.join(", ")
        },
        "install runc or crun (Debian: apt-get install runc); crun needs cgroup v1 or v2, not hybrid",
    )
}

fn check_cni_plugins(paths: &HostPaths) -> CheckResult {
    let wanted = ["bridge", "host-local", "loopback", "portmap"];
    let dir = paths
        .cni_bin_dirs
        .iter()
        .find(|d| wanted.iter().all(|p| is_executable(&d.join(p))));
    result(
        "cni-plugins",
        dir.is_some(),
        Severity::Required,
        match dir {
            Some(d) => format!("{} ({})", d.display(), wanted.join(", ")),
            None => format!(
                "{} not all found in {}",
                wanted.join(", "),
                paths
                    .cni_bin_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        },
        "install containernetworking-plugins (Debian), or set node.cniBinDir in the config",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_versions_compare_numerically() {
        assert!(kernel_at_least("6.1.0-18-arm64", 4, 18));
        assert!(kernel_at_least("4.18.0", 4, 18));
        assert!(!kernel_at_least("4.9.253-tegra", 4, 18));
        assert!(kernel_at_least("5.10.120-tegra", 4, 18));
        assert!(!kernel_at_least("garbage", 4, 18));
    }

    #[test]
    fn cgroup_modes_are_told_apart() {
        let root = Path::new("/sys/fs/cgroup");
        let v2 = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
        assert_eq!(cgroup_mode_from_mounts(v2, root), CgroupMode::V2);
        let hybrid = "tmpfs /sys/fs/cgroup tmpfs rw 0 0\n\
                      cgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n\
                      cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
        assert_eq!(cgroup_mode_from_mounts(hybrid, root), CgroupMode::Hybrid);
        let v1 = "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\n";
        assert_eq!(cgroup_mode_from_mounts(v1, root), CgroupMode::V1);
        assert_eq!(cgroup_mode_from_mounts("", root), CgroupMode::None);
    }

    #[test]
    fn missing_cni_dir_fails_with_a_fix() {
        let paths = HostPaths {
            cni_bin_dirs: vec![PathBuf::from("/nonexistent/cni")],
            ..HostPaths::default()
        };
        let r = check_cni_plugins(&paths);
        assert!(!r.passed);
        assert!(r.fix.contains("containernetworking-plugins"));
        assert!(r.detail.contains("/nonexistent/cni"));
    }
}
