//! The kernel modules the guest loads at boot: the devices QEMU's `virt` machine gives
//! (virtio disk and network), and what wisp needs on any board (overlayfs for container
//! root filesystems, bridge and veth for pod networking, nf_tables for Services, the
//! iptables-over-nftables matches the CNI plugins use). Each is taken with the modules it
//! depends on (the `depends=` entry of its .modinfo), in an order that loads dependencies
//! first. The same list is what an integrator's kernel must provide (docs/boards.md).

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::Error;

/// Modules loaded at boot, by name. Built-in ones (modules.builtin) are skipped.
pub const WANTED: &[&str] = &[
    "virtio_mmio",
    "virtio_pci",
    "virtio_blk",
    "virtio_net",
    "crc32c_generic",
    "ext4",
    "overlay",
    "bridge",
    "br_netfilter",
    "veth",
    "nf_tables",
    "nf_conntrack",
    "nf_nat",
    "nft_chain_nat",
    "nft_ct",
    "nft_nat",
    "nft_masq",
    "nft_redir",
    "nft_numgen",
    "nft_compat",
    "nft_fib_inet",
    "nft_fib_ipv4",
    "nft_fib_ipv6",
    "nft_reject_inet",
    "nft_limit",
    "xt_MASQUERADE",
    "xt_comment",
    "xt_addrtype",
    "xt_mark",
    "xt_conntrack",
    "xt_multiport",
    "xt_nat",
    "xt_tcpudp",
];

/// A module to put in the image: its path relative to lib/modules/<release>.
pub struct Module {
    pub name: String,
    pub relative: PathBuf,
}

/// The closure of [`WANTED`] over `depends=`, dependencies before dependents.
pub fn closure(modules_dir: &Path) -> Result<Vec<Module>, Error> {
    let index = index_modules(modules_dir)?;
    let builtin = builtin_names(modules_dir);
    let mut ordered = Vec::new();
    let mut seen = BTreeSet::new();
    for name in WANTED {
        let name = normalise(name);
        if !index.contains_key(&name) {
            if builtin.contains(&name) {
                continue;
            }
            return Err(Error::Image(format!(
                "kernel module {name} is neither built in nor under {}",
                modules_dir.display()
            )));
        }
        visit(&name, &index, &mut seen, &mut ordered, modules_dir)?;
    }
    Ok(ordered)
}

fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    seen: &mut BTreeSet<String>,
    ordered: &mut Vec<Module>,
    modules_dir: &Path,
) -> Result<(), Error> {
    if !seen.insert(name.to_owned()) {
        return Ok(());
    }
    let Some(relative) = index.get(name) else {
        // A dependency that is not a file is built in.
        return Ok(());
    };
    let path = modules_dir.join(relative);
    let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
    for dependency in depends(&bytes) {
        visit(&dependency, index, seen, ordered, modules_dir)?;
    }
    ordered.push(Module {
        name: name.to_owned(),
        relative: relative.clone(),
    });
    Ok(())
}

/// The names in a module's `depends=` modinfo string.
pub fn depends(module: &[u8]) -> Vec<String> {
    const KEY: &[u8] = b"\0depends=";
    let Some(start) = module.windows(KEY.len()).position(|w| w == KEY) else {
        return Vec::new();
    };
    let value = &module[start + KEY.len()..];
    let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
    String::from_utf8_lossy(&value[..end])
        .split(',')
        .filter(|d| !d.is_empty())
        .map(normalise)
        .collect()
}

fn normalise(name: &str) -> String {
    name.replace('-', "_")
}

/// Module name -> path relative to the modules dir, for every .ko under kernel/.
fn index_modules(modules_dir: &Path) -> Result<BTreeMap<String, PathBuf>, Error> {
    let mut index = BTreeMap::new();
    let mut pending = vec![PathBuf::from("kernel")];
    while let Some(relative) = pending.pop() {
        let dir = modules_dir.join(&relative);
        for entry in fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = relative.join(&name);
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(child);
            } else if let Some(stem) = name.strip_suffix(".ko") {
                index.insert(normalise(stem), child);
            }
        }
    }
    Ok(index)
}

fn builtin_names(modules_dir: &Path) -> BTreeSet<String> {
    fs::read_to_string(modules_dir.join("modules.builtin"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| line.rsplit('/').next()?.strip_suffix(".ko"))
        .map(normalise)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_are_read_from_modinfo() {
        let bytes = b"\x7fELF...\0license=GPL\0depends=nf_tables,nf-nat\0retpoline=Y\0";
        assert_eq!(depends(bytes), ["nf_tables", "nf_nat"]);
        assert!(depends(b"\0depends=\0name=x\0").is_empty());
        assert!(depends(b"no modinfo").is_empty());
    }
}
