//! Assembles a board's guest image: an initramfs holding busybox, the cross-built static
//! wisp, runc and the CNI plugins with the shared libraries their ELF headers name, nftables
//! and iptables, the kernel modules wisp needs, a busybox container image in the images dir,
//! and the init scripts in guest/. The kernel comes beside it from the same packages.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::Compression;
use flate2::write::GzEncoder;
use wisp_node::image::Platform;
use wisp_node::image::testimage::write_busybox_archive_for;
use wisp_targets::Board;

use crate::cpio::{CpioWriter, Member};
use crate::error::{Error, command_output};
use crate::modules;
use crate::packages::Unpacked;

const INIT: &str = include_str!("guest/init.sh");
const CONSOLE: &str = include_str!("guest/console.sh");
const CONFIG: &str = include_str!("guest/config.yaml");

/// The image every board test imports at boot (from the images dir: no network pull).
pub const TEST_IMAGE: &str = "wisp.test/busybox:1.0";

/// Executables copied from the packages, with the shared libraries they need.
const EXECUTABLES: &[&str] = &[
    "usr/sbin/runc",
    "usr/sbin/nft",
    "usr/sbin/xtables-nft-multi",
    "usr/lib/cni/bridge",
    "usr/lib/cni/host-local",
    "usr/lib/cni/portmap",
    "usr/lib/cni/loopback",
];

/// The names Debian's iptables package gives xtables-nft-multi through update-alternatives.
const IPTABLES_NAMES: &[&str] = &[
    "iptables",
    "iptables-save",
    "iptables-restore",
    "ip6tables",
    "ip6tables-save",
    "ip6tables-restore",
];

enum Node {
    Dir,
    File { mode: u32, data: Vec<u8> },
    Symlink(String),
}

/// The guest's files by path (relative, no leading slash).
#[derive(Default)]
struct Tree {
    nodes: BTreeMap<String, Node>,
}

impl Tree {
    fn dir(&mut self, path: &str) {
        let mut prefix = String::new();
        for part in path.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            self.nodes.entry(prefix.clone()).or_insert(Node::Dir);
        }
    }

    fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.nodes
            .insert(path.to_owned(), Node::File { mode, data });
    }

    fn copy(&mut self, path: &str, from: &Path, mode: u32) -> Result<(), Error> {
        let data = fs::read(from).map_err(|e| Error::io(from, e))?;
        self.file(path, mode, data);
        Ok(())
    }

    fn symlink(&mut self, path: &str, target: &str) {
        if let Some((parent, _)) = path.rsplit_once('/') {
            self.dir(parent);
        }
        self.nodes
            .insert(path.to_owned(), Node::Symlink(target.to_owned()));
    }

    fn write_initramfs(&self, out: &Path) -> Result<(), Error> {
        let file = File::create(out).map_err(|e| Error::io(out, e))?;
        let gz = GzEncoder::new(BufWriter::new(file), Compression::fast());
        let mut cpio = CpioWriter::new(gz);
        for (path, node) in &self.nodes {
            let member = match node {
                Node::Dir => Member::Dir { mode: 0o755 },
                Node::File { mode, data } => Member::File { mode: *mode, data },
                Node::Symlink(target) => Member::Symlink { target },
            };
            cpio.append(path, &member).map_err(|e| Error::io(out, e))?;
        }
        let gz = cpio.finish().map_err(|e| Error::io(out, e))?;
        gz.finish()
            .and_then(|w| w.into_inner().map_err(|e| e.into_error()))
            .map_err(|e| Error::io(out, e))?;
        Ok(())
    }
}

/// Builds `<work>/initramfs.cpio.gz` for `board`; returns its path.
pub fn build(
    board: &Board,
    unpacked: &Unpacked,
    wisp: &Path,
    work: &Path,
) -> Result<PathBuf, Error> {
    let mut tree = Tree::default();
    for dir in [
        "dev",
        "proc",
        "sys",
        "run",
        "tmp",
        "newroot",
        "root",
        "etc/wisp",
        "var/lib/wisp",
        "var/log",
        "usr/bin",
        "sbin",
        "bin",
    ] {
        tree.dir(dir);
    }
    tree.copy("bin/busybox", &unpacked.root.join("bin/busybox"), 0o755)?;
    tree.symlink("bin/sh", "busybox");
    tree.symlink("sbin/modprobe", "/bin/busybox");
    tree.file(
        "init",
        0o755,
        INIT.replace("@BOARD@", &board.name).into_bytes(),
    );
    tree.file("etc/board-console.sh", 0o755, CONSOLE.as_bytes().to_vec());
    tree.file(
        "etc/wisp/config.yaml",
        0o644,
        CONFIG.replace("@BOARD@", &board.name).into_bytes(),
    );
    tree.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n".to_vec(),
    );
    tree.file("etc/group", 0o644, b"root:x:0:\n".to_vec());
    tree.file(
        "etc/hosts",
        0o644,
        format!("127.0.0.1 localhost {}\n", board.name).into_bytes(),
    );
    tree.file("etc/resolv.conf", 0o644, b"nameserver 10.0.2.3\n".to_vec());
    tree.copy("usr/bin/wisp", wisp, 0o755)?;
    add_executables(&mut tree, &unpacked.root)?;
    add_modules(&mut tree, unpacked)?;
    add_test_image(&mut tree, board, unpacked, work)?;
    let out = work.join("initramfs.cpio.gz");
    tree.write_initramfs(&out)?;
    Ok(out)
}

fn add_executables(tree: &mut Tree, root: &Path) -> Result<(), Error> {
    let mut elves: Vec<String> = EXECUTABLES.iter().map(|p| (*p).to_owned()).collect();
    for exe in EXECUTABLES {
        tree.copy(exe, &root.join(exe), 0o755)?;
    }
    for name in IPTABLES_NAMES {
        tree.symlink(&format!("usr/sbin/{name}"), "xtables-nft-multi");
    }
    // iptables loads its match and target extensions with dlopen at run time.
    let triplet = multiarch_triplet(root)?;
    let xtables = format!("usr/lib/{triplet}/xtables");
    for entry in fs::read_dir(root.join(&xtables))
        .map_err(|e| Error::io(&root.join(&xtables), e))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{xtables}/{name}");
        tree.copy(&path, &entry.path(), 0o644)?;
        elves.push(path);
    }
    add_shared_libraries(tree, root, &triplet, &elves)
}

/// The multiarch directory name of the unpacked libc (aarch64-linux-gnu, arm-linux-gnueabihf).
fn multiarch_triplet(root: &Path) -> Result<String, Error> {
    let lib = root.join("usr/lib");
    fs::read_dir(&lib)
        .map_err(|e| Error::io(&lib, e))?
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .find(|name| name.ends_with("-linux-gnu") || name.ends_with("-linux-gnueabihf"))
        .ok_or_else(|| Error::Image(format!("no multiarch directory under {}", lib.display())))
}

/// Copies every library the ELF files name (NEEDED, recursively) and their interpreter;
/// fails naming the library when the packages do not hold it.
fn add_shared_libraries(
    tree: &mut Tree,
    root: &Path,
    triplet: &str,
    elves: &[String],
) -> Result<(), Error> {
    let search = [
        format!("lib/{triplet}"),
        format!("usr/lib/{triplet}"),
        "lib".to_owned(),
        "usr/lib".to_owned(),
    ];
    let mut pending: Vec<PathBuf> = elves.iter().map(|e| root.join(e)).collect();
    let mut copied = BTreeSet::new();
    while let Some(elf) = pending.pop() {
        let (needed, interpreter) = dynamic_section(&elf)?;
        if let Some(interp) = interpreter {
            let relative = interp.trim_start_matches('/').to_owned();
            if copied.insert(relative.clone()) {
                tree.copy(&relative, &resolve_in(root, &relative)?, 0o755)?;
            }
        }
        for soname in needed {
            let found = search
                .iter()
                .map(|dir| format!("{dir}/{soname}"))
                .find(|p| root.join(p).exists());
            let Some(relative) = found else {
                return Err(Error::Image(format!(
                    "{} needs {soname}, which no package of the image provides (add it to packages::PACKAGES)",
                    elf.display()
                )));
            };
            if copied.insert(relative.clone()) {
                let path = resolve_in(root, &relative)?;
                tree.copy(&relative, &path, 0o755)?;
                pending.push(path);
            }
        }
    }
    Ok(())
}

/// Follows symlinks inside the unpacked tree (absolute targets are relative to `root`).
fn resolve_in(root: &Path, relative: &str) -> Result<PathBuf, Error> {
    let mut path = root.join(relative);
    for _ in 0..16 {
        match fs::read_link(&path) {
            Ok(target) if target.is_absolute() => {
                path = root.join(target.strip_prefix("/").unwrap_or(&target));
            }
            Ok(target) => path = path.parent().unwrap_or(root).join(target),
            Err(_) => return Ok(path),
        }
    }
    Err(Error::Image(format!("symlink loop at {}", path.display())))
}

/// NEEDED entries and the program interpreter of an ELF file, through binutils' readelf
/// (which reads any architecture's ELF).
fn dynamic_section(elf: &Path) -> Result<(Vec<String>, Option<String>), Error> {
    let text = command_output(Command::new("readelf").arg("-dlW").arg(elf))?;
    let bracketed = |line: &str| {
        let start = line.find('[')? + 1;
        let end = line[start..].find(']')? + start;
        Some(line[start..end].to_owned())
    };
    let needed = text
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(bracketed)
        .collect();
    let interpreter = text
        .lines()
        .find(|l| l.contains("Requesting program interpreter"))
        .and_then(bracketed)
        .map(|s| {
            s.trim_start_matches("Requesting program interpreter: ")
                .to_owned()
        });
    Ok((needed, interpreter))
}

fn add_modules(tree: &mut Tree, unpacked: &Unpacked) -> Result<(), Error> {
    let dir = unpacked.modules();
    let base = format!("lib/modules/{}", unpacked.kernel_release);
    let wanted = modules::closure(&dir)?;
    for module in &wanted {
        let relative = module.relative.to_string_lossy();
        tree.copy(
            &format!("{base}/{relative}"),
            &dir.join(&module.relative),
            0o644,
        )?;
    }
    for meta in ["modules.builtin", "modules.order"] {
        if dir.join(meta).exists() {
            tree.copy(&format!("{base}/{meta}"), &dir.join(meta), 0o644)?;
        }
    }
    let names: Vec<&str> = wanted.iter().map(|m| m.name.as_str()).collect();
    tree.file(
        "etc/wisp-modules",
        0o644,
        (names.join("\n") + "\n").into_bytes(),
    );
    Ok(())
}

fn add_test_image(
    tree: &mut Tree,
    board: &Board,
    unpacked: &Unpacked,
    work: &Path,
) -> Result<(), Error> {
    let platform = match board.qemu_system.debian_arch.as_str() {
        "arm64" => Platform::new("linux", "arm64", Some("v8")),
        "armhf" => Platform::new("linux", "arm", Some("v7")),
        other => {
            return Err(Error::Profile(format!(
                "{}: no OCI platform for Debian architecture {other}",
                board.name
            )));
        }
    };
    let archive = work.join("busybox-image.tar");
    write_busybox_archive_for(
        &archive,
        TEST_IMAGE,
        &unpacked.root.join("bin/busybox"),
        &platform,
    )
    .map_err(|e| Error::io(&archive, e))?;
    tree.copy("usr/share/wisp/images/busybox.tar", &archive, 0o644)
}
