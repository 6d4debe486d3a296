//! Removes the bridge plugin's per-pod masquerade chain when DEL ran without the pod's
//! namespace: bridge 1.1 (Debian 12's) learns the pod addresses from inside the namespace and
//! so leaves `CNI-<hash>` and its POSTROUTING jump behind once the namespace is gone. Newer
//! plugins remove it themselves; then there is nothing left to find here.

use std::fmt::Write as _;
use std::process::Command;

use super::error::CniError;
use super::ipnet::IpNet;

/// Deletes the chain and the jump that the bridge plugin's `ipMasq` made for one container.
pub(crate) fn teardown(network: &str, container_id: &str, ips: &[IpNet]) -> Result<(), CniError> {
    let chain = chain_name(network, container_id);
    let comment = format!("name: \"{network}\" id: \"{container_id}\"");
    for family_v4 in [true, false] {
        let tool = if family_v4 { "iptables" } else { "ip6tables" };
        let addrs = ips.iter().filter(|ip| ip.addr.is_ipv4() == family_v4);
        let mut any = false;
        for ip in addrs {
            any = true;
            // Both the bare address and the prefixed form, as the plugin's own teardown does
            // for rules written by older versions.
            for source in [ip.addr.to_string(), format!("{}/{}", ip.addr, ip.prefix)] {
                let jump = [
                    "-t",
                    "nat",
                    "-D",
                    "POSTROUTING",
                    "-s",
                    &source,
                    "-j",
                    &chain,
                ];
                iptables(
                    tool,
                    &[&jump[..], &["-m", "comment", "--comment", &comment]].concat(),
                )?;
            }
        }
        if any {
            iptables(tool, &["-t", "nat", "-F", &chain])?;
            iptables(tool, &["-t", "nat", "-X", &chain])?;
        }
    }
    Ok(())
}

/// libcni's `FormatChainName`: "CNI-" and the first 24 hex digits of SHA-512(name + id).
fn chain_name(network: &str, container_id: &str) -> String {
    let input = format!("{network}{container_id}");
    let digest = ring::digest::digest(&ring::digest::SHA512, input.as_bytes());
    let mut name = String::from("CNI-");
    for byte in &digest.as_ref()[..12] {
        let _ = write!(name, "{byte:02x}");
    }
    name
}

/// Runs one iptables command; a rule or chain that is already gone is success.
fn iptables(tool: &str, args: &[&str]) -> Result<(), CniError> {
    let out = Command::new(tool)
        .args(args)
        .output()
        .map_err(|e| CniError::io(tool, e))?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let absent = [
        "No chain/target/match",
        "does not exist",
        "does a matching rule exist",
    ]
    .iter()
    .any(|m| stderr.contains(m));
    if out.status.success() || absent {
        return Ok(());
    }
    Err(CniError::Iptables {
        command: format!("{tool} {}", args.join(" ")),
        stderr: stderr.trim().to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_name_matches_libcni() {
        // `printf 'wtestctr-a' | sha512sum | cut -c1-24` and the chain bridge 1.1.1 created.
        assert_eq!(chain_name("wtest", "ctr-a"), "CNI-c3a6a20bb5e03a012f0cac46");
    }
}
