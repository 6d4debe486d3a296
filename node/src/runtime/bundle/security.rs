//! Capabilities, masked and read-only paths and the default mounts, as containerd sets them.

use super::Mount;
use crate::runtime::podspec::Capabilities;

/// The capabilities a container gets when its spec says nothing (containerd's default set).
pub const DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Every capability the kernel headers of runc 1.1 know, in kernel bit order; privileged
/// containers get all that wisp's own bounding set holds.
pub const ALL_CAPABILITIES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Drops capabilities wisp itself lacks (a board's init or an outer container may have
/// removed some): asking runc for them fails the whole container.
pub fn within_bounding_set(capabilities: &mut Vec<String>, bounding: u64) {
    capabilities.retain(|cap| match ALL_CAPABILITIES.iter().position(|c| c == cap) {
        Some(bit) => bounding & (1u64 << bit) != 0,
        None => false,
    });
}

/// wisp's CapBnd from /proc/self/status (all bits when unreadable).
pub fn own_bounding_set() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| u64::from_str_radix(l.strip_prefix("CapBnd:")?.trim(), 16).ok())
        .unwrap_or(u64::MAX)
}

pub const MASKED_PATHS: [&str; 11] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The default set plus `add` minus `drop`; "ALL" works on either side, as upstream.
pub fn effective_capabilities(caps: &Capabilities, privileged: bool) -> Vec<String> {
    if privileged {
        return ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect();
    }
    let normal = |name: &str| {
        let upper = name.to_ascii_uppercase();
        if upper.starts_with("CAP_") {
            upper
        } else {
            format!("CAP_{upper}")
        }
    };
    let adds_all = caps.add.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let drops_all = caps.drop.iter().any(|c| c.eq_ignore_ascii_case("ALL"));
    let mut set: Vec<String> = match (adds_all, drops_all) {
        (true, _) => ALL_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        (false, true) => Vec::new(),
        (false, false) => DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
    };
    if !adds_all {
        for add in caps.add.iter().map(|c| normal(c)) {
            if !set.contains(&add) {
                set.push(add);
            }
        }
    }
    if !drops_all || adds_all {
        let dropped: Vec<String> = caps
            .drop
            .iter()
            .filter(|c| !c.eq_ignore_ascii_case("ALL"))
            .map(|c| normal(c))
            .collect();
        set.retain(|c| !dropped.contains(c));
    }
    set
}

/// /proc, /dev, /dev/pts, /dev/shm, /dev/mqueue, /sys and the container's cgroup.
pub fn default_mounts(privileged: bool) -> Vec<Mount> {
    let m = |destination: &str, kind: &str, source: &str, options: &[&str]| Mount {
        destination: destination.to_string(),
        source: source.to_string(),
        kind: kind.to_string(),
        options: options.iter().map(|o| o.to_string()).collect(),
    };
    let sys_mode = if privileged { "rw" } else { "ro" };
    vec![
        m("/proc", "proc", "proc", &["nosuid", "noexec", "nodev"]),
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        ),
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
                "gid=5",
            ],
        ),
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        ),
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        ),
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", sys_mode],
        ),
        m(
            "/sys/fs/cgroup",
            "cgroup",
            "cgroup",
            &["nosuid", "noexec", "nodev", "relatime", sys_mode],
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(add: &[&str], drop: &[&str]) -> Capabilities {
        Capabilities {
            add: add.iter().map(|c| c.to_string()).collect(),
            drop: drop.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn default_set_plus_add_minus_drop() {
        let set = effective_capabilities(&caps(&["NET_ADMIN"], &["NET_RAW", "CAP_KILL"]), false);
        assert!(set.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!set.contains(&"CAP_NET_RAW".to_string()));
        assert!(!set.contains(&"CAP_KILL".to_string()));
        assert_eq!(set.len(), DEFAULT_CAPABILITIES.len() - 1);
    }

    #[test]
    fn drop_all_keeps_only_the_added_ones() {
        assert_eq!(
            effective_capabilities(&caps(&["NET_BIND_SERVICE"], &["ALL"]), false),
            vec!["CAP_NET_BIND_SERVICE"]
        );
        assert!(effective_capabilities(&caps(&[], &["all"]), false).is_empty());
    }

    #[test]
    fn capabilities_outside_the_bounding_set_are_dropped() {
        let mut set = effective_capabilities(&caps(&[], &[]), true);
        within_bounding_set(&mut set, 0x01ff_feff_ffff);
        assert_eq!(set.len(), ALL_CAPABILITIES.len() - 1);
        assert!(!set.contains(&"CAP_SYS_RESOURCE".to_string()));
        let mut set = vec!["CAP_CHOWN".to_string(), "CAP_BOGUS".to_string()];
        within_bounding_set(&mut set, 1);
        assert_eq!(set, vec!["CAP_CHOWN"]);
        assert_ne!(own_bounding_set(), 0);
    }

    #[test]
    fn add_all_and_privileged_give_everything() {
        assert_eq!(
            effective_capabilities(&caps(&["ALL"], &[]), false).len(),
            ALL_CAPABILITIES.len()
        );
        assert_eq!(
            effective_capabilities(&caps(&["ALL"], &["SYS_ADMIN"]), false).len(),
            ALL_CAPABILITIES.len() - 1
        );
        assert_eq!(
            effective_capabilities(&caps(&[], &["ALL"]), true).len(),
            ALL_CAPABILITIES.len()
        );
    }
}
