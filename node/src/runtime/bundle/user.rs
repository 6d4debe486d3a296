//! Which uid, gid and extra groups the container process runs as.
//!
//! runAsUser/runAsGroup win over the image's USER; a user name is looked up in the rootfs's
//! own /etc/passwd and /etc/group, never the host's.

use std::fs;
use std::io;
use std::path::Path;

use super::BundleError;
use crate::runtime::podspec::{Container, PodSpec};

/// The resolved identity of the container's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessUser {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
}

pub(crate) fn resolve(
    container: &Container,
    pod: &PodSpec,
    image_user: &str,
    rootfs: &Path,
) -> Result<ProcessUser, BundleError> {
    let csc = &container.security_context;
    let psc = &pod.security_context;
    let uid_override = csc.run_as_user.or(psc.run_as_user);
    let gid_override = csc.run_as_group.or(psc.run_as_group);
    let non_root = csc.run_as_non_root.or(psc.run_as_non_root).unwrap_or(false);
    let passwd = read_in_rootfs(rootfs, "etc/passwd");
    let group = read_in_rootfs(rootfs, "etc/group");

    let (user_part, group_part) = image_user
        .split_once(':')
        .map_or((image_user, None), |(u, g)| (u, Some(g)));
    let (uid, name, passwd_gid) = match uid_override {
        Some(uid) => {
            let uid = id_u32(uid)?;
            let entry = passwd_by_uid(&passwd, uid);
            (uid, entry.as_ref().map(|e| e.0.clone()), entry.map(|e| e.2))
        }
        None if user_part.is_empty() => (0, Some("root".to_string()), Some(0)),
        None => resolve_image_user(user_part, &passwd, non_root)?,
    };
    if non_root && uid == 0 {
        return Err(BundleError::RunAsRoot);
    }
    let gid = match (gid_override, group_part) {
        (Some(gid), _) => id_u32(gid)?,
        (None, Some(g)) => {
            lookup_group(g, &group).ok_or_else(|| BundleError::UnknownGroup(g.to_string()))?
        }
        (None, None) => passwd_gid.unwrap_or(0),
    };
    let mut additional = name.map(|n| member_groups(&n, &group)).unwrap_or_default();
    for extra in psc.supplemental_groups.iter().chain(psc.fs_group.iter()) {
        additional.push(id_u32(*extra)?);
    }
    additional.sort_unstable();
    additional.dedup();
    additional.retain(|g| *g != gid);
    Ok(ProcessUser {
        uid,
        gid,
        additional_gids: additional,
    })
}

/// An image USER that is a number or a name from the rootfs's /etc/passwd.
fn resolve_image_user(
    user: &str,
    passwd: &str,
    non_root: bool,
) -> Result<(u32, Option<String>, Option<u32>), BundleError> {
    if let Ok(uid) = user.parse::<u32>() {
        let entry = passwd_by_uid(passwd, uid);
        return Ok((uid, entry.as_ref().map(|e| e.0.clone()), entry.map(|e| e.2)));
    }
    if non_root {
        // Upstream refuses: a name cannot be proven non-root before the container starts.
        return Err(BundleError::NonNumericUser(user.to_string()));
    }
    let (name, uid, gid) = passwd_entries(passwd)
        .find(|e| e.0 == user)
        .ok_or_else(|| BundleError::UnknownUser(user.to_string()))?;
    Ok((uid, Some(name), Some(gid)))
}

/// Reads a file of the image with symlinks resolved inside the rootfs, so an image whose
/// /etc/passwd points at /dev/zero or at a host file cannot hang or inform wisp; capped at
/// 1 MiB, and only regular files. An unreadable file reads as empty (no users).
fn read_in_rootfs(rootfs: &Path, relative: &str) -> String {
    use rustix::fs::{Mode, OFlags, ResolveFlags};
    const LIMIT: u64 = 1 << 20;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK;
    let Ok(root) = rustix::fs::open(
        rootfs,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return String::new();
    };
    let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    let fd = match rustix::fs::openat2(&root, relative, flags, Mode::empty(), resolve) {
        Ok(fd) => fd,
        // Kernels before 5.6 (older board BSPs): refuse any symlink on the way instead.
        Err(rustix::io::Errno::NOSYS) if !has_symlink_on_the_way(rootfs, relative) => {
            match rustix::fs::openat(&root, relative, flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(_) => return String::new(),
            }
        }
        Err(_) => return String::new(),
    };
    let file = fs::File::from(fd);
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return String::new();
    }
    let mut text = String::new();
    let _ = io::Read::read_to_string(&mut io::Read::take(file, LIMIT), &mut text);
    text
}

fn has_symlink_on_the_way(rootfs: &Path, relative: &str) -> bool {
    let mut path = rootfs.to_path_buf();
    relative.split('/').any(|part| {
        path.push(part);
        fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
    })
}

fn id_u32(id: i64) -> Result<u32, BundleError> {
    u32::try_from(id).map_err(|_| BundleError::BadId(id))
}

/// (name, uid, gid) of each well-formed /etc/passwd line.
fn passwd_entries(passwd: &str) -> impl Iterator<Item = (String, u32, u32)> + '_ {
    passwd.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        let uid = f.next()?.parse().ok()?;
        let gid = f.next()?.parse().ok()?;
        Some((name.to_string(), uid, gid))
    })
}

fn passwd_by_uid(passwd: &str, uid: u32) -> Option<(String, u32, u32)> {
    passwd_entries(passwd).find(|e| e.1 == uid)
}

/// (name, gid, members) of each well-formed /etc/group line.
fn group_entries(group: &str) -> impl Iterator<Item = (&str, u32, &str)> + '_ {
    group.lines().filter_map(|line| {
        let mut f = line.split(':');
        let name = f.next()?;
        let _password = f.next()?;
        let gid = f.next()?.parse().ok()?;
        Some((name, gid, f.next().unwrap_or("")))
    })
}

fn lookup_group(group: &str, groups: &str) -> Option<u32> {
    group
        .parse()
        .ok()
        .or_else(|| group_entries(groups).find(|e| e.0 == group).map(|e| e.1))
}

fn member_groups(user: &str, groups: &str) -> Vec<u32> {
    group_entries(groups)
        .filter(|e| e.2.split(',').any(|member| member == user))
        .map(|e| e.1)
        .collect()
}
