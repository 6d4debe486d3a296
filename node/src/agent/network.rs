//! Pod networking through CNI (crate::cni): the default bridge conflist is written at
//! first start under the node's data dir; each pod's network namespace is attached with
//! the pod uid as the container id (so DEL works after a restart from the CNI cache), and
//! its hostPorts go to the portmap plugin.

use std::collections::HashSet;
use std::path::Path;

use super::host::PodNetwork;
use crate::cni::{Cni, CniConfig, DefaultNetwork, PodArgs, PortMapping, write_default_conflist};
use crate::runtime::podspec::Pod;

pub struct CniNetwork {
    cni: Cni,
}

impl CniNetwork {
    /// Writes the default conflist if none exists and loads it. `bin_dir` overrides the
    /// plugin search path; `pod_cidr` is the IPv4 range of the default bridge network.
    pub fn open(
        data_dir: &Path,
        bin_dir: Option<&Path>,
        pod_cidr: &str,
        bridge: &str,
    ) -> Result<CniNetwork, String> {
        let mut cfg = CniConfig::for_data_dir(data_dir);
        // runtime::namespaces brings `lo` up when it creates the pod's namespace.
        cfg.loopback_plugin = false;
        if let Some(dir) = bin_dir {
            cfg.bin_dirs = vec![dir.to_owned()];
        }
        if !cfg.bin_dirs.iter().any(|d| d.join("bridge").is_file()) {
            return Err(format!(
                "no CNI bridge plugin in {} (install containernetworking-plugins or set node.cniBinDir)",
                cfg.bin_dirs
                    .iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut net = DefaultNetwork::for_data_dir(data_dir);
        net.bridge = bridge.to_owned();
        net.ipv4 = Some(
            pod_cidr
                .parse()
                .map_err(|_| format!("network.podCIDR {pod_cidr:?} is not a CIDR"))?,
        );
        write_default_conflist(&cfg.conflist, &net).map_err(|e| e.to_string())?;
        let cni = Cni::load(cfg).map_err(|e| e.to_string())?;
        Ok(CniNetwork { cni })
    }
}

fn port_mappings(pod: &Pod) -> Vec<PortMapping> {
    pod.spec
        .containers
        .iter()
        .flat_map(|c| &c.ports)
        .filter_map(|p| {
            Some(PortMapping {
                host_port: u16::try_from(p.host_port?).ok().filter(|&h| h > 0)?,
                container_port: u16::try_from(p.container_port).ok()?,
                protocol: p.protocol.to_ascii_lowercase(),
                host_ip: p.host_ip.clone().unwrap_or_default(),
            })
        })
        .collect()
}

impl PodNetwork for CniNetwork {
    fn add(&self, pod: &Pod, netns: &Path) -> Result<Option<String>, String> {
        let args = PodArgs {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            uid: pod.uid.clone(),
        };
        let result = self
            .cni
            .add(&pod.uid, netns, "eth0", &args, &port_mappings(pod))
            .map_err(|e| e.to_string())?;
        Ok(result.pod_ips().first().map(ToString::to_string))
    }

    fn del(&self, pod: &Pod, netns: &Path) {
        if let Err(e) = self.cni.del(&pod.uid, netns, "eth0") {
            eprintln!(
                "wisp: node: detaching pod {}/{}: {e}",
                pod.namespace, pod.name
            );
        }
    }

    fn cleanup(&self, live: &HashSet<String>) {
        let live: Vec<&str> = live.iter().map(String::as_str).collect();
        if let Err(e) = self.cni.cleanup_stale(&live) {
            eprintln!("wisp: node: cleaning stale pod network attachments: {e}");
        }
    }
}
