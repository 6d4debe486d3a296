//! Pod cgroups for runc's cgroupfs driver: the layout, pod-level limits, stats and OOM kills.
//!
//! Each pod gets `/wisp/pod<uid>` and each container `/wisp/pod<uid>/<container id>`, absolute
//! paths so they do not depend on the cgroup wisp itself was started in. On a hybrid host runc
//! uses the v1 controllers (and mirrors the tree into the v2 `unified` hierarchy), so every
//! mounted hierarchy is handled, and every one is cleaned when the pod goes.

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::preflight::CgroupMode;
use crate::runtime::bundle::{CPU_PERIOD_US, cpu_quota, cpu_shares};
use crate::runtime::podspec::{Container, PodSpec};

/// One mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub mount_point: PathBuf,
    /// v1: the controllers bound to it ("cpu", "memory", "name=systemd"); v2: empty.
    pub controllers: Vec<String>,
    pub unified: bool,
}

/// The host's cgroup hierarchies.
#[derive(Debug, Clone)]
pub struct Cgroups {
    pub mode: CgroupMode,
    pub hierarchies: Vec<Hierarchy>,
}

/// Limits of the pod as a whole (the kubelet's pod cgroup).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodLimits {
    pub cpu_shares: i64,
    pub cpu_quota_us: Option<i64>,
    pub memory_bytes: Option<i64>,
}

/// What the metrics endpoints report for a cgroup.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CgroupStats {
    pub memory_usage_bytes: u64,
    /// Usage minus inactive file cache, what the kubelet calls the working set.
    pub memory_working_set_bytes: u64,
    pub cpu_usage_ns: u64,
}

#[derive(Debug)]
pub enum CgroupError {
    NoCgroups,
    /// The cgroup still has processes (or child cgroups that do).
    Busy(PathBuf),
    MissingController(&'static str),
    /// A pod uid that would step outside /wisp (contains '/' or starts with '.').
    BadName(String),
    Io(PathBuf, io::Error),
}

impl fmt::Display for CgroupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CgroupError::NoCgroups => write!(f, "no cgroup filesystem mounted"),
            CgroupError::Busy(p) => write!(f, "cgroup {} still has processes", p.display()),
            CgroupError::MissingController(c) => write!(f, "cgroup controller {c} is not mounted"),
            CgroupError::BadName(n) => write!(f, "pod uid {n:?} cannot name a cgroup"),
            CgroupError::Io(p, e) => write!(f, "cgroup {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for CgroupError {}

/// The pod's cgroup path, relative to every hierarchy's root.
pub fn pod_path(pod_uid: &str) -> String {
    format!("/wisp/pod{pod_uid}")
}

/// The `linux.cgroupsPath` of a container of the pod.
pub fn container_path(pod_uid: &str, container_id: &str) -> String {
    format!("{}/{container_id}", pod_path(pod_uid))
}

impl PodLimits {
    /// Sums of the containers' requests and limits; a limit only when every container has
    /// one. Init containers run alone, so the largest of them counts if it is bigger.
    pub fn from_pod(spec: &PodSpec) -> PodLimits {
        let sum = |pick: fn(&Container) -> Option<i64>, all: bool| -> Option<i64> {
            let values: Vec<Option<i64>> = spec.containers.iter().map(pick).collect();
            if all && values.iter().any(Option::is_none) {
                return None;
            }
            let total: i64 = values.iter().flatten().sum();
            let init_max = spec
                .init_containers
                .iter()
                .filter_map(pick)
                .max()
                .unwrap_or(0);
            Some(total.max(init_max))
        };
        let cpu_request = sum(|c| c.resources.requests.cpu_millis, false);
        PodLimits {
            cpu_shares: cpu_shares(cpu_request),
            cpu_quota_us: sum(|c| c.resources.limits.cpu_millis, true)
                .filter(|m| *m > 0)
                .map(cpu_quota),
            memory_bytes: sum(|c| c.resources.limits.memory_bytes, true).filter(|m| *m > 0),
        }
    }
}

impl Cgroups {
    /// Reads the hierarchies from /proc/self/mounts.
    pub fn detect() -> Result<Cgroups, CgroupError> {
        let mounts = fs::read_to_string("/proc/self/mounts")
            .map_err(|e| CgroupError::Io("/proc/self/mounts".into(), e))?;
        Cgroups::from_mounts(&mounts)
    }

    pub fn from_mounts(mounts: &str) -> Result<Cgroups, CgroupError> {
        let mut hierarchies = Vec::new();
        for line in mounts.lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let [_, mount_point, fstype, options, ..] = fields[..] else {
                continue;
            };
            let unified = match fstype {
                "cgroup2" => true,
                "cgroup" => false,
                _ => continue,
            };
            let controllers = if unified {
                Vec::new()
            } else {
                options
                    .split(',')
                    .filter(|o| is_controller(o))
                    .map(str::to_string)
                    .collect()
            };
            hierarchies.push(Hierarchy {
                mount_point: PathBuf::from(mount_point),
                controllers,
                unified,
            });
        }
        let mode = crate::preflight::cgroup_mode_from_mounts(mounts, Path::new("/sys/fs/cgroup"));
        if hierarchies.is_empty() {
            return Err(CgroupError::NoCgroups);
        }
        Ok(Cgroups { mode, hierarchies })
    }

    /// Where `controller` lives: its v1 hierarchy, or the unified one on a pure v2 host.
    fn hierarchy_for(&self, controller: &'static str) -> Result<&Hierarchy, CgroupError> {
        let wanted = |h: &&Hierarchy| {
            if self.mode == CgroupMode::V2 {
                h.unified
            } else {
                h.controllers.iter().any(|c| c == controller)
            }
        };
        self.hierarchies
            .iter()
            .find(wanted)
            .ok_or(CgroupError::MissingController(controller))
    }

    fn dir(&self, controller: &'static str, cgroup: &str) -> Result<PathBuf, CgroupError> {
        Ok(self
            .hierarchy_for(controller)?
            .mount_point
            .join(cgroup.trim_start_matches('/')))
    }

    /// Creates the pod's cgroup and applies its limits.
    pub fn create_pod(&self, pod_uid: &str, limits: &PodLimits) -> Result<(), CgroupError> {
        check_name(pod_uid)?;
        let cgroup = pod_path(pod_uid);
        if self.mode == CgroupMode::V2 {
            return self.create_pod_v2(&cgroup, limits);
        }
        let memory = self.dir("memory", &cgroup)?;
        mkdir(&memory)?;
        if let Some(bytes) = limits.memory_bytes {
            write(&memory, "memory.limit_in_bytes", &bytes.to_string())?;
            if memory.join("memory.memsw.limit_in_bytes").exists() {
                write(&memory, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
            }
        }
        let cpu = self.dir("cpu", &cgroup)?;
        mkdir(&cpu)?;
        write(&cpu, "cpu.shares", &limits.cpu_shares.to_string())?;
        if let Some(quota) = limits.cpu_quota_us {
            write(&cpu, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write(&cpu, "cpu.cfs_quota_us", &quota.to_string())?;
        }
        Ok(())
    }

    fn create_pod_v2(&self, cgroup: &str, limits: &PodLimits) -> Result<(), CgroupError> {
        let root = self.hierarchy_for("memory")?.mount_point.clone();
        let pod = root.join(cgroup.trim_start_matches('/'));
        mkdir(&pod)?;
        let available = fs::read_to_string(root.join("cgroup.controllers")).unwrap_or_default();
        let enable: Vec<String> = ["cpu", "memory", "pids", "io", "cpuset"]
            .iter()
            .filter(|c| available.split_whitespace().any(|a| a == **c))
            .map(|c| format!("+{c}"))
            .collect();
        // Controllers must be enabled in every ancestor's subtree_control to reach the pod.
        let mut dir = root.clone();
        for part in std::iter::once("").chain(cgroup.trim_start_matches('/').split('/')) {
            dir = if part.is_empty() { dir } else { dir.join(part) };
            write(&dir, "cgroup.subtree_control", &enable.join(" "))?;
        }
        let has = |controller: &str| enable.iter().any(|e| e[1..] == *controller);
        if has("cpu") {
            let weight = 1 + ((limits.cpu_shares - 2) * 9999) / 262_142;
            write(&pod, "cpu.weight", &weight.to_string())?;
            if let Some(quota) = limits.cpu_quota_us {
                write(&pod, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
            }
        }
        if let (true, Some(bytes)) = (has("memory"), limits.memory_bytes) {
            write(&pod, "memory.max", &bytes.to_string())?;
            // Absent when the kernel does no swap accounting.
            if pod.join("memory.swap.max").exists() {
                write(&pod, "memory.swap.max", "0")?;
            }
        }
        Ok(())
    }

    /// Removes the pod's cgroup (and leftover container cgroups) from every hierarchy.
    pub fn remove_pod(&self, pod_uid: &str) -> Result<(), CgroupError> {
        check_name(pod_uid)?;
        let cgroup = pod_path(pod_uid);
        for hierarchy in &self.hierarchies {
            remove_tree(&hierarchy.mount_point.join(cgroup.trim_start_matches('/')))?;
        }
        Ok(())
    }

    /// Whether the pod's cgroup exists in any hierarchy.
    pub fn pod_exists(&self, pod_uid: &str) -> bool {
        self.exists(&pod_path(pod_uid))
    }

    /// Whether a cgroup exists in any hierarchy.
    pub fn exists(&self, cgroup: &str) -> bool {
        self.hierarchies
            .iter()
            .any(|h| h.mount_point.join(cgroup.trim_start_matches('/')).exists())
    }

    /// Memory and CPU usage of a pod or container cgroup.
    pub fn stats(&self, cgroup: &str) -> Result<CgroupStats, CgroupError> {
        let memory = self.dir("memory", cgroup)?;
        let v2 = self.mode == CgroupMode::V2;
        let (usage_file, inactive_key) = if v2 {
            ("memory.current", "inactive_file")
        } else {
            ("memory.usage_in_bytes", "total_inactive_file")
        };
        let usage = read_u64(&memory, usage_file)?;
        let inactive = stat_value(&read(&memory, "memory.stat")?, inactive_key).unwrap_or(0);
        let cpu_usage_ns = if v2 {
            stat_value(&read(&self.dir("cpu", cgroup)?, "cpu.stat")?, "usage_usec")
                .unwrap_or(0)
                .saturating_mul(1000)
        } else {
            read_u64(&self.dir("cpuacct", cgroup)?, "cpuacct.usage")?
        };
        Ok(CgroupStats {
            memory_usage_bytes: usage,
            memory_working_set_bytes: usage.saturating_sub(inactive),
            cpu_usage_ns,
        })
    }

    /// How many processes the kernel OOM-killed in the cgroup; read before `runtime delete`.
    pub fn oom_kills(&self, cgroup: &str) -> Result<u64, CgroupError> {
        let memory = self.dir("memory", cgroup)?;
        let file = if self.mode == CgroupMode::V2 {
            "memory.events"
        } else {
            "memory.oom_control"
        };
        Ok(stat_value(&read(&memory, file)?, "oom_kill").unwrap_or(0))
    }
}

fn check_name(pod_uid: &str) -> Result<(), CgroupError> {
    if pod_uid.is_empty() || pod_uid.contains('/') || pod_uid.starts_with('.') {
        return Err(CgroupError::BadName(pod_uid.to_string()));
    }
    Ok(())
}

fn is_controller(option: &str) -> bool {
    const NOT_CONTROLLERS: [&str; 10] = [
        "rw",
        "ro",
        "relatime",
        "noatime",
        "nosuid",
        "nodev",
        "noexec",
        "clone_children",
        "nsdelegate",
        "xattr",
    ];
    !NOT_CONTROLLERS.contains(&option) && !option.starts_with("release_agent=")
}

fn mkdir(dir: &Path) -> Result<(), CgroupError> {
    fs::create_dir_all(dir).map_err(|e| CgroupError::Io(dir.to_path_buf(), e))
}

fn write(dir: &Path, file: &str, value: &str) -> Result<(), CgroupError> {
    let path = dir.join(file);
    fs::write(&path, value).map_err(|e| CgroupError::Io(path, e))
}

fn read(dir: &Path, file: &str) -> Result<String, CgroupError> {
    let path = dir.join(file);
    fs::read_to_string(&path).map_err(|e| CgroupError::Io(path, e))
}

fn read_u64(dir: &Path, file: &str) -> Result<u64, CgroupError> {
    let text = read(dir, file)?;
    text.trim().parse().map_err(|_| {
        CgroupError::Io(
            dir.join(file),
            io::Error::new(io::ErrorKind::InvalidData, "not a number"),
        )
    })
}

/// The value of `key` in a "key value" per line file (memory.stat, memory.events, cpu.stat).
fn stat_value(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        line.strip_prefix(key)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

/// rmdir bottom-up; cgroup directories hold only kernel files, so rmdir is the whole job.
fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(CgroupError::Io(dir.to_path_buf(), e)),
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            remove_tree(&entry.path())?;
        }
    }
    match fs::remove_dir(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            Err(CgroupError::Busy(dir.to_path_buf()))
        }
        Err(e) => Err(CgroupError::Io(dir.to_path_buf(), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::podspec::PodSpec;

    const HYBRID: &str = "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0
cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,xattr,release_agent=/x,name=systemd 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
";

    #[test]
    fn hybrid_mount_table_is_parsed() {
        let cgroups = Cgroups::from_mounts(HYBRID).unwrap();
        assert_eq!(cgroups.mode, CgroupMode::Hybrid);
        assert_eq!(cgroups.hierarchies.len(), 5);
        assert_eq!(cgroups.hierarchies[2].controllers, vec!["memory"]);
        assert_eq!(cgroups.hierarchies[3].controllers, vec!["name=systemd"]);
        assert!(cgroups.hierarchies[4].unified);
        assert_eq!(
            cgroups.dir("memory", "/wisp/podx/c").unwrap(),
            PathBuf::from("/sys/fs/cgroup/memory/wisp/podx/c")
        );
        assert!(matches!(
            cgroups.dir("pids", "/x"),
            Err(CgroupError::MissingController("pids"))
        ));
        assert!(matches!(
            cgroups.remove_pod("../../memory"),
            Err(CgroupError::BadName(_))
        ));
        assert!(matches!(
            cgroups.create_pod("", &PodLimits::default()),
            Err(CgroupError::BadName(_))
        ));
        let v2 =
            Cgroups::from_mounts("cgroup2 /sys/fs/cgroup cgroup2 rw,nsdelegate 0 0\n").unwrap();
        assert_eq!(v2.mode, CgroupMode::V2);
        assert_eq!(
            v2.dir("memory", "/wisp/podx").unwrap(),
            PathBuf::from("/sys/fs/cgroup/wisp/podx")
        );
    }

    #[test]
    fn pod_limits_need_every_container_limited() {
        let pod = |containers: &str| {
            let doc = format!(r#"{{"metadata":{{}},"spec":{{"containers":{containers}}}}}"#);
            PodSpec::from_pod_json(doc.as_bytes()).unwrap().spec
        };
        let both = pod(
            r#"[{"name":"a","resources":{"limits":{"cpu":"500m","memory":"64Mi"}}},
            {"name":"b","resources":{"limits":{"cpu":"250m","memory":"32Mi"}}}]"#,
        );
        assert_eq!(
            PodLimits::from_pod(&both),
            PodLimits {
                cpu_shares: 768,
                cpu_quota_us: Some(75_000),
                memory_bytes: Some(96 << 20)
            }
        );
        let one = pod(r#"[{"name":"a","resources":{"limits":{"memory":"64Mi"}}},{"name":"b"}]"#);
        assert_eq!(
            PodLimits::from_pod(&one),
            PodLimits {
                cpu_shares: 2,
                cpu_quota_us: None,
                memory_bytes: None
            }
        );
    }

    /// A plain directory stands in for a v2 cgroupfs here (no v2 host in CI); it checks which
    /// files get written, not that the kernel accepts them.
    #[test]
    fn v2_pod_limits_are_written_with_controllers_enabled_on_the_way() {
        let root = std::env::temp_dir().join(format!("wisp-cgroup-v2-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("cgroup.controllers"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        let cgroups = Cgroups {
            mode: CgroupMode::V2,
            hierarchies: vec![Hierarchy {
                mount_point: root.clone(),
                controllers: vec![],
                unified: true,
            }],
        };
        let limits = PodLimits {
            cpu_shares: 1024,
            cpu_quota_us: Some(50_000),
            memory_bytes: Some(64 << 20),
        };
        cgroups.create_pod("abc", &limits).unwrap();
        let pod = root.join("wisp/podabc");
        let read = |p: &Path| fs::read_to_string(p).unwrap();
        assert_eq!(
            read(&root.join("cgroup.subtree_control")),
            "+cpu +memory +pids +io +cpuset"
        );
        assert_eq!(
            read(&root.join("wisp/cgroup.subtree_control")),
            "+cpu +memory +pids +io +cpuset"
        );
        assert_eq!(read(&pod.join("cpu.weight")), "39");
        assert_eq!(read(&pod.join("cpu.max")), "50000 100000");
        assert_eq!(read(&pod.join("memory.max")), (64u64 << 20).to_string());
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn stat_values_are_found_by_whole_key() {
        let stat = "cache 5\ntotal_inactive_file 4096\ninactive_file 7\n";
        assert_eq!(stat_value(stat, "inactive_file"), Some(7));
        assert_eq!(stat_value(stat, "total_inactive_file"), Some(4096));
        assert_eq!(
            stat_value("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n", "oom_kill"),
            Some(2)
        );
    }
}
