//! Overlay mounts of image layers: the container rootfs is the image's unpacked layers as
//! read-only lower directories plus a per-container upper and work directory.
//!
//! mount(2) takes the options as one page (4096 bytes including the NUL), which a deep
//! image with long layer paths can exceed. Instead of chdir (process-wide, unsafe in the
//! multi-threaded agent), long option strings are rebuilt from /proc/self/fd/N paths of
//! O_PATH descriptors held open for the duration of the call.

use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::mount::{MountFlags, UnmountFlags};

use super::error::ImageError;

/// The kernel copies at most one page of mount data; keep room for the NUL.
const MAX_OPTIONS: usize = 4095;

/// Mounts an overlay of `lowers` (top layer first) with `upper`/`work` at `target`.
pub fn mount(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), ImageError> {
    if lowers.is_empty() {
        return Err(ImageError::Mount(
            "an overlay needs at least one lower directory".into(),
        ));
    }
    same_filesystem(upper, work)?;
    let mut paths: Vec<String> = lowers.iter().map(|p| p.display().to_string()).collect();
    paths.push(upper.display().to_string());
    paths.push(work.display().to_string());
    let mut held = Vec::new();
    let mut options = options_for(&paths);
    if options.len() > MAX_OPTIONS || paths.iter().any(|p| p.contains([',', ':', '\\'])) {
        held = open_paths(lowers.iter().map(PathBuf::as_path).chain([upper, work]))?;
        let short: Vec<String> = held
            .iter()
            .map(|fd| format!("/proc/self/fd/{}", fd.as_raw_fd()))
            .collect();
        options = options_for(&short);
        if options.len() > MAX_OPTIONS {
            return Err(ImageError::Mount(format!(
                "{} layers do not fit in one mount call",
                lowers.len()
            )));
        }
    }
    let data =
        CString::new(options).map_err(|_| ImageError::Mount("NUL in a layer path".into()))?;
    let result = rustix::mount::mount(
        "overlay",
        target,
        "overlay",
        MountFlags::empty(),
        data.as_c_str(),
    );
    drop(held);
    result.map_err(|e| ImageError::Mount(format!("mount at {}: {e}", target.display())))
}

/// Unmounts `target`; a busy mount is detached lazily, a path that is not mounted is fine.
pub fn unmount(target: &Path) -> Result<(), ImageError> {
    match rustix::mount::unmount(target, UnmountFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(rustix::io::Errno::BUSY) => rustix::mount::unmount(target, UnmountFlags::DETACH)
            .map_err(|e| ImageError::Mount(format!("unmount {}: {e}", target.display()))),
        Err(e) => Err(ImageError::Mount(format!(
            "unmount {}: {e}",
            target.display()
        ))),
    }
}

/// "lowerdir=l1:l2,upperdir=u,workdir=w" from [l1, l2, u, w].
fn options_for(paths: &[String]) -> String {
    let (dirs, rest) = paths.split_at(paths.len() - 2);
    format!(
        "lowerdir={},upperdir={},workdir={}",
        dirs.join(":"),
        rest[0],
        rest[1]
    )
}

fn open_paths<'a>(paths: impl Iterator<Item = &'a Path>) -> Result<Vec<OwnedFd>, ImageError> {
    paths
        .map(|p| {
            rustix::fs::open(
                p,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| ImageError::Mount(format!("open {}: {e}", p.display())))
        })
        .collect()
}

fn same_filesystem(upper: &Path, work: &Path) -> Result<(), ImageError> {
    let dev = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| m.dev())
            .map_err(|e| ImageError::Mount(format!("{}: {e}", p.display())))
    };
    if dev(upper)? != dev(work)? {
        return Err(ImageError::Mount(format!(
            "upper {} and work {} must be on the same filesystem",
            upper.display(),
            work.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_string_shape() {
        let paths = ["/l/a", "/l/b", "/u", "/w"].map(String::from);
        assert_eq!(
            options_for(&paths),
            "lowerdir=/l/a:/l/b,upperdir=/u,workdir=/w"
        );
    }
}
