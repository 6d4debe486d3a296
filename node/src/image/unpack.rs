//! Unpacking one layer tar into a directory that overlayfs can use as a lower layer.
//!
//! The tar comes from outside, so every entry is placed by our code rather than by the tar
//! crate: paths are normalized lexically inside the layer ("/a" lands at layer/a, a ".."
//! that would climb above the layer is refused), no existing symlink is ever followed
//! (a parent that is a symlink is refused, a final component is replaced, never written
//! through), hard links must point inside the layer, and only harmless xattrs are copied.
//! Whiteouts become what overlayfs reads: `.wh.NAME` a 0/0 character device, `.wh..wh..opq`
//! the trusted.overlay.opaque="y" xattr on the directory.

use std::fs::{self, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps, XattrFlags};
use tar::{Entry, EntryType};

use super::error::ImageError;

const WHITEOUT: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Unpacks the tar stream `reader` into the existing, empty directory `dest`.
pub fn unpack(reader: &mut dyn Read, dest: &Path) -> Result<(), ImageError> {
    let mut archive = tar::Archive::new(reader);
    let as_root = rustix::process::geteuid().is_root();
    let mut directories = Vec::new();
    let entries = archive
        .entries()
        .map_err(ImageError::io("read layer tar"))?;
    for entry in entries {
        let mut entry = entry.map_err(ImageError::io("read layer tar"))?;
        let raw = entry
            .path()
            .map_err(ImageError::io("layer entry path"))?
            .into_owned();
        let Some(rel) = normalize(&raw)? else {
            continue;
        };
        let placed = place(&mut entry, dest, &rel)?;
        if let Some(path) = placed {
            apply_metadata(&mut entry, &path, as_root)?;
            if entry.header().entry_type() == EntryType::Directory {
                directories.push((path, mtime_of(&entry)));
            }
        }
    }
    // Directory times last: creating their children changed them.
    for (path, mtime) in directories.iter().rev() {
        set_mtime(path, *mtime)?;
    }
    Ok(())
}

/// Lexical normalization inside the layer; None for the layer root itself.
pub fn normalize(raw: &Path) -> Result<Option<PathBuf>, ImageError> {
    let mut out = PathBuf::new();
    for component in raw.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::ParentDir if out.pop() => {}
            Component::ParentDir => return Err(ImageError::PathEscape(raw.display().to_string())),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    Ok((!out.as_os_str().is_empty()).then_some(out))
}

/// Creates the entry's file; returns its path, or None when nothing carries metadata.
fn place(
    entry: &mut Entry<'_, &mut dyn Read>,
    dest: &Path,
    rel: &Path,
) -> Result<Option<PathBuf>, ImageError> {
    let name = rel.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let parent_rel = rel.parent().unwrap_or(Path::new(""));
    if name == OPAQUE {
        let dir = ensure_dirs(dest, parent_rel)?;
        set_xattr(&dir, "trusted.overlay.opaque", b"y")?;
        return Ok(None);
    }
    if name.starts_with(".wh..wh.") {
        return Ok(None); // aufs bookkeeping (.wh..wh.plnk and friends): nothing for overlay
    }
    let parent = ensure_dirs(dest, parent_rel)?;
    if let Some(hidden) = name.strip_prefix(WHITEOUT) {
        let path = parent.join(hidden);
        remove_existing(&path)?;
        make_node(
            &path,
            FileType::CharacterDevice,
            0o000,
            rustix::fs::makedev(0, 0),
        )?;
        return Ok(None);
    }
    let path = parent.join(name);
    let kind = entry.header().entry_type();
    if kind == EntryType::Directory {
        if !fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir()) {
            remove_existing(&path)?;
            fs::create_dir(&path).map_err(ImageError::io(format!("create {}", path.display())))?;
        }
        return Ok(Some(path));
    }
    remove_existing(&path)?;
    create_non_directory(entry, dest, &path, kind)
}

fn create_non_directory(
    entry: &mut Entry<'_, &mut dyn Read>,
    dest: &Path,
    path: &Path,
    kind: EntryType,
) -> Result<Option<PathBuf>, ImageError> {
    let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
    let dev = || {
        let major = entry.header().device_major().ok().flatten().unwrap_or(0);
        let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
        rustix::fs::makedev(major, minor)
    };
    match kind {
        EntryType::Regular | EntryType::Continuous => write_file(entry, path)?,
        EntryType::Symlink => {
            let target = link_name(entry)?;
            std::os::unix::fs::symlink(&target, path)
                .map_err(ImageError::io(format!("symlink {}", path.display())))?;
        }
        EntryType::Link => {
            let target = link_name(entry)?;
            let rel = normalize(&target)?
                .ok_or_else(|| ImageError::PathEscape(target.display().to_string()))?;
            let source = existing_inside(dest, &rel)?;
            fs::hard_link(&source, path)
                .map_err(ImageError::io(format!("hard link {}", path.display())))?;
        }
        EntryType::Char => make_node(path, FileType::CharacterDevice, mode, dev())?,
        EntryType::Block => make_node(path, FileType::BlockDevice, mode, dev())?,
        EntryType::Fifo => make_node(path, FileType::Fifo, mode, 0)?,
        _ => return Ok(None), // pax globals, sparse and vendor types: nothing to place
    }
    Ok(Some(path.to_path_buf()))
}

fn write_file(entry: &mut Entry<'_, &mut dyn Read>, path: &Path) -> Result<(), ImageError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .mode(0o600)
        .open(path)
        .map_err(ImageError::io(format!("create {}", path.display())))?;
    io::copy(entry, &mut file).map_err(ImageError::io(format!("write {}", path.display())))?;
    Ok(())
}

fn link_name(entry: &Entry<'_, &mut dyn Read>) -> Result<PathBuf, ImageError> {
    entry
        .link_name()
        .map_err(ImageError::io("layer link name"))?
        .map(|p| p.into_owned())
        .ok_or_else(|| ImageError::Format("link entry without target".into()))
}

/// Walks `rel` under `dest`, creating missing directories, refusing symlinked parents.
fn ensure_dirs(dest: &Path, rel: &Path) -> Result<PathBuf, ImageError> {
    let mut path = dest.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(ImageError::PathEscape(format!(
                    "{} (through a symlink)",
                    rel.display()
                )));
            }
            Ok(_) => {
                return Err(ImageError::Format(format!(
                    "{} is not a directory",
                    rel.display()
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&path)
                    .map_err(ImageError::io(format!("create {}", path.display())))?;
            }
            Err(e) => {
                return Err(ImageError::Io {
                    what: format!("stat {}", path.display()),
                    source: e,
                });
            }
        }
    }
    Ok(path)
}

/// A hard link source: must exist in the layer, reached without following symlinks.
fn existing_inside(dest: &Path, rel: &Path) -> Result<PathBuf, ImageError> {
    let mut path = dest.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        path.push(part);
        let meta = fs::symlink_metadata(&path)
            .map_err(|_| ImageError::Format(format!("hard link to missing {}", rel.display())))?;
        if i + 1 < parts.len() && !meta.is_dir() {
            return Err(ImageError::PathEscape(format!(
                "{} (through a symlink)",
                rel.display()
            )));
        }
    }
    Ok(path)
}

fn remove_existing(path: &Path) -> Result<(), ImageError> {
    let result = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    result.map_err(ImageError::io(format!("replace {}", path.display())))
}

fn make_node(path: &Path, kind: FileType, mode: u32, dev: u64) -> Result<(), ImageError> {
    rustix::fs::mknodat(CWD, path, kind, Mode::from_raw_mode(mode), dev).map_err(|e| {
        let hint = if e == rustix::io::Errno::PERM {
            " (device nodes and whiteouts need root)"
        } else {
            ""
        };
        ImageError::Io {
            what: format!("mknod {}{hint}", path.display()),
            source: e.into(),
        }
    })
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), ImageError> {
    rustix::fs::lsetxattr(path, name, value, XattrFlags::empty()).map_err(|e| ImageError::Io {
        what: format!(
            "set {name} on {} (overlay xattrs need root)",
            path.display()
        ),
        source: e.into(),
    })
}

fn apply_metadata(
    entry: &mut Entry<'_, &mut dyn Read>,
    path: &Path,
    as_root: bool,
) -> Result<(), ImageError> {
    let header = entry.header();
    let is_symlink = header.entry_type() == EntryType::Symlink;
    if header.entry_type() == EntryType::Link {
        return Ok(()); // shares the inode (and metadata) of its source
    }
    if as_root {
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let (uid, gid) = (
            u32::try_from(uid).unwrap_or(0),
            u32::try_from(gid).unwrap_or(0),
        );
        rustix::fs::chownat(
            CWD,
            path,
            Some(rustix::fs::Uid::from_raw(uid)),
            Some(rustix::fs::Gid::from_raw(gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ImageError::Io {
            what: format!("chown {}", path.display()),
            source: e.into(),
        })?;
    }
    if !is_symlink {
        // After chown, which clears set-uid bits.
        let mode = header.mode().unwrap_or(0o644) & 0o7777;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(ImageError::io(format!("chmod {}", path.display())))?;
    }
    copy_xattrs(entry, path)?;
    set_mtime(path, mtime_of(entry))
}

/// Only file capabilities and user xattrs: trusted.* and security.* others would let a
/// layer steer overlayfs or the LSM.
fn copy_xattrs(entry: &mut Entry<'_, &mut dyn Read>, path: &Path) -> Result<(), ImageError> {
    let Ok(Some(extensions)) = entry.pax_extensions() else {
        return Ok(());
    };
    for extension in extensions.flatten() {
        let Some(name) = extension
            .key()
            .ok()
            .and_then(|k| k.strip_prefix("SCHILY.xattr."))
        else {
            continue;
        };
        if name == "security.capability" || name.starts_with("user.") {
            set_xattr(path, name, extension.value_bytes())?;
        }
    }
    Ok(())
}

fn mtime_of(entry: &Entry<'_, &mut dyn Read>) -> i64 {
    entry
        .header()
        .mtime()
        .ok()
        .and_then(|t| i64::try_from(t).ok())
        .unwrap_or(0)
}

fn set_mtime(path: &Path, mtime: i64) -> Result<(), ImageError> {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| {
        ImageError::Io {
            what: format!("set times of {}", path.display()),
            source: e.into(),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::testdir::TestDir;
    use std::os::unix::fs::FileTypeExt;
    use tar::Header;

    /// A tar entry written with raw name bytes: tar::Builder refuses ".." (as it should),
    /// but a hostile layer is not written by tar::Builder.
    fn raw_entry(out: &mut Vec<u8>, name: &str, kind: EntryType, link: &str, content: &[u8]) {
        let mut h = Header::new_old();
        h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(content.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(content);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn finish(mut tar: Vec<u8>) -> Vec<u8> {
        tar.extend_from_slice(&[0; 1024]);
        tar
    }

    fn unpack_bytes(tar: &[u8], dest: &Path) -> Result<(), ImageError> {
        unpack(&mut &tar[..], dest)
    }

    #[test]
    fn parent_dir_escape_is_refused() {
        let dir = TestDir::new("escape");
        let layer = dir.path().join("layer");
        fs::create_dir(&layer).unwrap();
        let mut tar = Vec::new();
        raw_entry(&mut tar, "a/../../escaped", EntryType::Regular, "", b"x");
        let err = unpack_bytes(&finish(tar), &layer).unwrap_err();
        assert!(matches!(err, ImageError::PathEscape(_)), "{err}");
        assert!(!dir.path().join("escaped").exists());
    }

    #[test]
    fn absolute_paths_stay_inside() {
        let dir = TestDir::new("absolute");
        let mut tar = Vec::new();
        raw_entry(&mut tar, "/etc/abs", EntryType::Regular, "", b"inside");
        unpack_bytes(&finish(tar), dir.path()).unwrap();
        assert_eq!(fs::read(dir.path().join("etc/abs")).unwrap(), b"inside");
    }

    #[test]
    fn symlinks_are_never_followed() {
        let dir = TestDir::new("symlink");
        let layer = dir.path().join("layer");
        let outside = dir.path().join("outside");
        fs::create_dir(&layer).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("victim"), b"original").unwrap();
        let target = outside.to_str().unwrap();
        // Writing through a symlinked parent is refused.
        let mut tar = Vec::new();
        raw_entry(&mut tar, "evil", EntryType::Symlink, target, b"");
        raw_entry(&mut tar, "evil/victim", EntryType::Regular, "", b"pwned");
        let err = unpack_bytes(&finish(tar), &layer).unwrap_err();
        assert!(matches!(err, ImageError::PathEscape(_)), "{err}");
        // A file entry over a symlink replaces the link instead of writing its target.
        let mut tar = Vec::new();
        let victim = outside.join("victim");
        raw_entry(
            &mut tar,
            "link",
            EntryType::Symlink,
            victim.to_str().unwrap(),
            b"",
        );
        raw_entry(&mut tar, "link", EntryType::Regular, "", b"pwned");
        unpack_bytes(&finish(tar), &layer).unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"original");
        assert_eq!(fs::read(layer.join("link")).unwrap(), b"pwned");
        // Absolute symlink targets are kept verbatim: they resolve inside the container.
        let mut tar = Vec::new();
        raw_entry(&mut tar, "abs", EntryType::Symlink, "/etc/passwd", b"");
        unpack_bytes(&finish(tar), &layer).unwrap();
        assert_eq!(
            fs::read_link(layer.join("abs")).unwrap(),
            Path::new("/etc/passwd")
        );
    }

    #[test]
    fn hard_links_must_stay_inside() {
        let dir = TestDir::new("hardlink");
        let layer = dir.path().join("layer");
        fs::create_dir(&layer).unwrap();
        fs::write(dir.path().join("secret"), b"s").unwrap();
        let mut tar = Vec::new();
        raw_entry(&mut tar, "steal", EntryType::Link, "../secret", b"");
        assert!(matches!(
            unpack_bytes(&finish(tar), &layer),
            Err(ImageError::PathEscape(_))
        ));
        let mut tar = Vec::new();
        raw_entry(
            &mut tar,
            "out",
            EntryType::Symlink,
            dir.path().to_str().unwrap(),
            b"",
        );
        raw_entry(&mut tar, "steal", EntryType::Link, "out/secret", b"");
        assert!(matches!(
            unpack_bytes(&finish(tar), &layer),
            Err(ImageError::PathEscape(_))
        ));
        assert!(!layer.join("steal").exists());
        let mut tar = Vec::new();
        raw_entry(&mut tar, "a", EntryType::Regular, "", b"shared");
        raw_entry(&mut tar, "b", EntryType::Link, "/a", b"");
        unpack_bytes(&finish(tar), &layer).unwrap();
        assert_eq!(fs::read(layer.join("b")).unwrap(), b"shared");
    }

    #[test]
    fn whiteouts_become_overlay_markers() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("SKIP whiteouts_become_overlay_markers: needs root (mknod, trusted xattrs)");
            return;
        }
        let dir = TestDir::new("whiteout");
        let mut tar = Vec::new();
        raw_entry(&mut tar, "etc/.wh.gone", EntryType::Regular, "", b"");
        raw_entry(
            &mut tar,
            "etc/opaque/.wh..wh..opq",
            EntryType::Regular,
            "",
            b"",
        );
        raw_entry(&mut tar, "etc/.wh..wh.plnk", EntryType::Regular, "", b"");
        unpack_bytes(&finish(tar), dir.path()).unwrap();
        let gone = fs::symlink_metadata(dir.path().join("etc/gone")).unwrap();
        assert!(gone.file_type().is_char_device());
        assert_eq!(std::os::unix::fs::MetadataExt::rdev(&gone), 0);
        let mut value = [0u8; 4];
        let n = rustix::fs::lgetxattr(
            dir.path().join("etc/opaque"),
            "trusted.overlay.opaque",
            &mut value,
        )
        .unwrap();
        assert_eq!(&value[..n], b"y");
        assert!(!dir.path().join("etc/.wh..wh.plnk").exists());
        assert!(!dir.path().join("etc/plnk").exists());
    }

    #[test]
    fn modes_and_ownership_are_applied() {
        let dir = TestDir::new("modes");
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = Header::new_gnu();
        h.set_entry_type(EntryType::Regular);
        h.set_mode(0o4755);
        h.set_uid(1234);
        h.set_gid(5678);
        h.set_size(2);
        h.set_mtime(1_000_000);
        tar.append_data(&mut h, "bin/tool", &b"hi"[..]).unwrap();
        let bytes = tar.into_inner().unwrap();
        unpack_bytes(&bytes, dir.path()).unwrap();
        let meta = fs::metadata(dir.path().join("bin/tool")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o4755);
        assert_eq!(std::os::unix::fs::MetadataExt::mtime(&meta), 1_000_000);
        if rustix::process::geteuid().is_root() {
            assert_eq!(std::os::unix::fs::MetadataExt::uid(&meta), 1234);
            assert_eq!(std::os::unix::fs::MetadataExt::gid(&meta), 5678);
        }
    }
}
