//! Debian packages of the guest's architecture, fetched with the distribution's own tools
//! (`apt-get download`) into a cache and unpacked with `dpkg-deb -x`. Nothing prebuilt is
//! committed: the cache is filled on first use and reused after.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, command_output};

/// What the guest image is assembled from, beside the kernel: busybox, the OCI runtime and
/// what its binaries need, CNI plugins, and nftables (wisp's Services) plus iptables (the
/// CNI bridge plugin's masquerading and portmap).
pub const PACKAGES: &[&str] = &[
    "busybox-static",
    "runc",
    "libc6",
    "libseccomp2",
    "containernetworking-plugins",
    "nftables",
    "libnftables1",
    "libnftnl11",
    "libmnl0",
    "libjansson4",
    "libgmp10",
    "libedit2",
    "libbsd0",
    "libmd0",
    "libtinfo6",
    "iptables",
    "libxtables12",
    "libip4tc2",
    "libip6tc2",
    "libnetfilter-conntrack3",
    "libnfnetlink0",
];

/// The unpacked packages of one architecture.
pub struct Unpacked {
    /// A directory holding every package's files, as dpkg would install them.
    pub root: PathBuf,
    /// The kernel's release (the directory name under lib/modules).
    pub kernel_release: String,
}

impl Unpacked {
    pub fn kernel(&self) -> PathBuf {
        self.root
            .join(format!("boot/vmlinuz-{}", self.kernel_release))
    }

    pub fn modules(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.kernel_release)
    }
}

/// Downloads (once) and unpacks the kernel `linux-image-<flavour>` and [`PACKAGES`] for
/// `arch` (a Debian architecture: arm64, armhf) under `cache/<arch>`.
pub fn prepare(cache: &Path, arch: &str, flavour: &str) -> Result<Unpacked, Error> {
    let kernel_package = resolve_kernel_package(arch, flavour)?;
    let debs = cache.join(arch).join("debs");
    fs::create_dir_all(&debs).map_err(|e| Error::io(&debs, e))?;
    let mut wanted = vec![kernel_package.clone()];
    wanted.extend(PACKAGES.iter().map(|p| (*p).to_owned()));
    let missing: Vec<&String> = wanted
        .iter()
        .filter(|name| find_deb(&debs, name, arch).is_none())
        .collect();
    if !missing.is_empty() {
        let mut download = Command::new("apt-get");
        download.current_dir(&debs).arg("download").arg("-q");
        download.args(missing.iter().map(|name| format!("{name}:{arch}")));
        command_output(&mut download).map_err(|e| Error::Packages {
            arch: arch.to_owned(),
            reason: format!(
                "{e} (the architecture must be known to apt: `dpkg --add-architecture {arch} && apt-get update`)"
            ),
        })?;
    }
    let root = cache.join(arch).join(format!("root-{kernel_package}"));
    let stamp = root.join(".unpacked");
    if !stamp.exists() {
        if root.exists() {
            fs::remove_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        }
        fs::create_dir_all(&root).map_err(|e| Error::io(&root, e))?;
        for name in &wanted {
            let deb = find_deb(&debs, name, arch).ok_or_else(|| Error::Packages {
                arch: arch.to_owned(),
                reason: format!(
                    "{name}: apt-get download left no .deb in {}",
                    debs.display()
                ),
            })?;
            command_output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        }
        fs::write(&stamp, wanted.join("\n")).map_err(|e| Error::io(&stamp, e))?;
    }
    let kernel_release = kernel_release(&root)?;
    Ok(Unpacked {
        root,
        kernel_release,
    })
}

/// `linux-image-arm64` is a metapackage; the kernel itself is the versioned package it
/// depends on (linux-image-6.1.0-NN-arm64).
fn resolve_kernel_package(arch: &str, flavour: &str) -> Result<String, Error> {
    let meta = format!("linux-image-{flavour}:{arch}");
    let text = command_output(Command::new("apt-cache").args(["depends", &meta]))?;
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("Depends: "))
        .map(|dep| dep.split(':').next().unwrap_or(dep).trim())
        .find(|dep| dep.starts_with("linux-image-") && dep.ends_with(flavour))
        .map(str::to_owned)
        .ok_or_else(|| Error::Packages {
            arch: arch.to_owned(),
            reason: format!("apt-cache depends {meta} names no kernel package (is `dpkg --add-architecture {arch}` done and `apt-get update` run?)"),
        })
}

fn find_deb(dir: &Path, name: &str, arch: &str) -> Option<PathBuf> {
    let prefix = format!("{name}_");
    let suffix = format!("_{arch}.deb");
    fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(&suffix))
        })
}

fn kernel_release(root: &Path) -> Result<String, Error> {
    let modules = root.join("lib/modules");
    let mut releases: Vec<String> = fs::read_dir(&modules)
        .map_err(|e| Error::io(&modules, e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    releases.sort();
    releases.pop().ok_or_else(|| Error::Packages {
        arch: String::new(),
        reason: format!("no kernel modules under {}", modules.display()),
    })
}
