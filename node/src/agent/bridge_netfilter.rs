//! Pods on the CNI bridge reach each other through the bridge, not through the host's
//! routing, so nftables' `inet` hooks see their packets only with br_netfilter and
//! `net.bridge.bridge-nf-call-iptables` (and `-ip6tables`) on. Without it NetworkPolicy
//! cannot filter pod-to-pod traffic and a Service's replies between two pods on the bridge
//! skip conntrack's reverse NAT (the connection breaks; measured in
//! services/tests.rs). The agent turns it on at start, as kubeadm's preflight and k3s
//! require; the setting is per network namespace.

use std::path::Path;
use std::process::Command;

const SYSCTLS: [&str; 2] = [
    "/proc/sys/net/bridge/bridge-nf-call-iptables",
    "/proc/sys/net/bridge/bridge-nf-call-ip6tables",
];

/// What [`ensure`] had to do.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    AlreadyOn,
    /// The module was loaded and/or the sysctls written.
    TurnedOn,
}

/// Loads br_netfilter when its sysctls are missing and turns them on.
pub fn ensure() -> Result<Outcome, String> {
    let mut changed = false;
    if !Path::new(SYSCTLS[0]).exists() {
        let loaded = Command::new("modprobe").arg("br_netfilter").output();
        match loaded {
            Ok(out) if out.status.success() => changed = true,
            Ok(out) => {
                return Err(format!(
                    "modprobe br_netfilter: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Err(e) => return Err(format!("modprobe br_netfilter: {e}")),
        }
    }
    for sysctl in SYSCTLS {
        let value = std::fs::read_to_string(sysctl).map_err(|e| format!("{sysctl}: {e}"))?;
        if value.trim() != "1" {
            std::fs::write(sysctl, "1").map_err(|e| format!("{sysctl}: {e}"))?;
            changed = true;
        }
    }
    Ok(if changed {
        Outcome::TurnedOn
    } else {
        Outcome::AlreadyOn
    })
}
