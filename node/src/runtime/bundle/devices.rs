//! The host's device nodes for privileged containers (what containerd's WithHostDevices
//! does), so a privileged pod on a board sees its GPIO, I2C, video and GPU devices.

use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use miniserde::json::Value;

use crate::json::{int, s, sparse_obj};

/// Directories under /dev that a container gets its own copy of, or that are not devices.
const SKIPPED: [&str; 6] = ["pts", "shm", "mqueue", "fd", ".lxcfs", ".udev"];

/// `linux.devices` entries for every character and block device under `root`.
pub fn host_devices(root: &Path) -> Vec<Value> {
    let mut devices = Vec::new();
    collect(root, 0, &mut devices);
    devices
}

fn collect(dir: &Path, depth: u32, out: &mut Vec<Value>) {
    // /dev is shallow; the bound stops a symlink loop from recursing forever.
    if depth > 4 {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = fs::symlink_metadata(&path) else {
            continue;
        };
        let kind = meta.file_type();
        if kind.is_dir() {
            if !SKIPPED.iter().any(|skip| entry.file_name() == *skip) {
                collect(&path, depth + 1, out);
            }
            continue;
        }
        let type_letter = if kind.is_char_device() {
            "c"
        } else if kind.is_block_device() {
            "b"
        } else {
            continue;
        };
        if path == Path::new("/dev/console") {
            continue;
        }
        let dev = meta.rdev();
        out.push(sparse_obj([
            ("path", s(path.to_string_lossy())),
            ("type", s(type_letter)),
            ("major", int(i64::from(rustix::fs::major(dev)))),
            ("minor", int(i64::from(rustix::fs::minor(dev)))),
            ("fileMode", int(i64::from(meta.mode() & 0o7777))),
            ("uid", int(i64::from(meta.uid()))),
            ("gid", int(i64::from(meta.gid()))),
        ]));
    }
}
