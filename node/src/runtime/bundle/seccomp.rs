//! The RuntimeDefault seccomp profile: everything allowed except the syscalls containerd's
//! default profile keeps from unprivileged containers.
//!
//! containerd writes this as an allow-list of ~350 names; a deny-list of the dangerous ones
//! with the same capability exceptions is a fraction of the size and blocks the same escapes.
//! New user namespaces are refused through `clone`'s flag argument, and `clone3` (whose flags
//! seccomp cannot read) answers ENOSYS so libc falls back to `clone`.

use miniserde::json::Value;

use crate::json::{array, int, s, sparse_obj, strs};

const EPERM: i64 = 1;
const ENOSYS: i64 = 38;
const CLONE_NEWUSER: i64 = 0x1000_0000;

/// Syscalls denied unless the container holds the capability next to them.
const GUARDED: [(&str, &[&str]); 9] = [
    (
        "CAP_SYS_ADMIN",
        &[
            "mount",
            "umount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "quotactl",
            "lookup_dcookie",
            "bpf",
            "perf_event_open",
            "swapon",
            "swapoff",
            "sethostname",
            "setdomainname",
            "fanotify_init",
            "syslog",
            "vm86",
            "vm86old",
        ],
    ),
    (
        "CAP_SYS_PTRACE",
        &[
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
        ],
    ),
    (
        "CAP_SYS_MODULE",
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "query_module",
            "get_kernel_syms",
        ],
    ),
    (
        "CAP_SYS_TIME",
        &[
            "settimeofday",
            "stime",
            "clock_settime",
            "clock_settime64",
            "clock_adjtime",
            "clock_adjtime64",
        ],
    ),
    ("CAP_SYS_BOOT", &["reboot", "kexec_load", "kexec_file_load"]),
    ("CAP_SYS_PACCT", &["acct"]),
    ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
    (
        "CAP_DAC_READ_SEARCH",
        &["open_by_handle_at", "name_to_handle_at"],
    ),
    ("CAP_SYS_NICE", &["move_pages", "mbind", "set_mempolicy"]),
];

/// Denied whatever the capabilities (no namespacing for them in the kernel).
const ALWAYS_DENIED: [&str; 9] = [
    "add_key",
    "keyctl",
    "request_key",
    "userfaultfd",
    "uselib",
    "ustat",
    "sysfs",
    "_sysctl",
    "nfsservctl",
];

/// The profile as the `linux.seccomp` object of config.json.
pub fn runtime_default(capabilities: &[String]) -> Value {
    let has = |cap: &str| capabilities.iter().any(|c| c == cap);
    let mut denied: Vec<&str> = ALWAYS_DENIED.to_vec();
    for (cap, calls) in GUARDED {
        if !has(cap) {
            denied.extend_from_slice(calls);
        }
    }
    let mut syscalls = vec![
        sparse_obj([
            ("names", strs(&denied)),
            ("action", s("SCMP_ACT_ERRNO")),
            ("errnoRet", int(EPERM)),
        ]),
        sparse_obj([
            ("names", strs(["clone3"])),
            ("action", s("SCMP_ACT_ERRNO")),
            ("errnoRet", int(ENOSYS)),
        ]),
    ];
    if !has("CAP_SYS_ADMIN") {
        let newuser = sparse_obj([
            ("index", int(0)),
            ("value", int(CLONE_NEWUSER)),
            ("valueTwo", int(CLONE_NEWUSER)),
            ("op", s("SCMP_CMP_MASKED_EQ")),
        ]);
        syscalls.push(sparse_obj([
            ("names", strs(["clone"])),
            ("action", s("SCMP_ACT_ERRNO")),
            ("errnoRet", int(EPERM)),
            ("args", array([newuser])),
        ]));
    }
    sparse_obj([
        ("defaultAction", s("SCMP_ACT_ALLOW")),
        ("architectures", strs(architectures())),
        ("syscalls", array(syscalls)),
    ])
}

/// The native ABI and its 32-bit companion, so a 32-bit binary cannot dodge the filter.
fn architectures() -> &'static [&'static str] {
    if cfg!(target_arch = "x86_64") {
        &["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    } else if cfg!(target_arch = "aarch64") {
        &["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    } else if cfg!(target_arch = "arm") {
        &["SCMP_ARCH_ARM"]
    } else if cfg!(target_arch = "riscv64") {
        &["SCMP_ARCH_RISCV64"]
    } else {
        &[]
    }
}
