//! `wisp cleanup`: what the node agent leaves on the host on purpose (the nftables table
//! and the service route, so Services survive a restart; running containers, so pods
//! survive a restart) or by accident, removed for an uninstall. The caller makes sure no
//! `wisp run` uses the data dir. Every step is attempted; the report says what was done
//! and what failed.

use std::collections::HashSet;
use std::process::Command;

use super::{AgentConfig, launch, open_host};

/// One line per step: what was removed, or why it could not be.
pub fn cleanup(config: &AgentConfig) -> Vec<String> {
    let mut report = Vec::new();
    let quiet = AgentConfig {
        images_dir: None,
        ..config.clone()
    };
    match open_host(&quiet) {
        Ok(host) => {
            // No pod is live: every container, CNI attachment (and its host-local
            // address), namespace mount, pod volume, cgroup and state file is an orphan.
            launch::clean_orphans(&host, &HashSet::new());
            report.push(
                "removed the containers, CNI attachments, pod namespaces and pod state".into(),
            );
        }
        Err(e) => report.push(format!(
            "pods not cleaned ({e}); the network is cleaned anyway"
        )),
    }
    let table_present = Command::new("nft")
        .args(["list", "table", "inet", &config.nft_table])
        .output()
        .is_ok_and(|o| o.status.success());
    if table_present {
        report.push(match crate::services::remove_table(&config.nft_table) {
            Ok(()) => format!("removed nftables table inet {}", config.nft_table),
            Err(e) => format!("nftables table inet {}: {e}", config.nft_table),
        });
    }
    report.extend(ip_step(
        &["link", "show", &config.bridge],
        &["link", "delete", &config.bridge],
        &format!("bridge {}", config.bridge),
    ));
    if config.serve_cluster_dns {
        let address = format!("{}/32", config.cluster_dns);
        let on_lo = Command::new("ip")
            .args(["-o", "addr", "show", "dev", "lo"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains(&format!(" {address} ")));
        if on_lo {
            report.extend(ip_step(
                &["addr", "show", "dev", "lo"],
                &["addr", "del", &address, "dev", "lo"],
                &format!("cluster DNS address {address} on lo"),
            ));
        }
    }
    if let Some(cidr) = &config.service_cidr {
        report.extend(ip_step(
            &["route", "show", cidr, "dev", "lo"],
            &["route", "del", cidr, "dev", "lo"],
            &format!("route {cidr} via lo"),
        ));
    }
    report
}

/// Runs `remove` when `probe` succeeds with output; None when there was nothing to remove.
fn ip_step(probe: &[&str], remove: &[&str], what: &str) -> Option<String> {
    let present = Command::new("ip")
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty());
    if !present {
        return None;
    }
    Some(match Command::new("ip").args(remove).output() {
        Ok(o) if o.status.success() => format!("removed {what}"),
        Ok(o) => format!("{what}: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!("{what}: running ip: {e}"),
    })
}
