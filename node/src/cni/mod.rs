//! CNI: attaching pod network namespaces to the node network by running the standard CNI
//! plugins (bridge, host-local, portmap, loopback) as the CNI 1.0 spec describes.
//!
//! It owns the plugin protocol (environment, stdin config, results and error documents),
//! the default network configuration, the attachment cache that makes DEL work after a
//! restart, and the clean-up of attachments and address reservations a crash left behind.
//! It does not create or delete network namespaces (the agent does) and knows nothing of
//! Services (nftables) or DNS.

mod cache;
mod default_conflist;
mod error;
mod invoke;
mod ipnet;
mod masquerade;
mod network;
mod result;
mod stale;

#[cfg(test)]
pub(crate) mod test_net;
#[cfg(test)]
mod tests;

use std::path::Path;

use miniserde::json::{Object, Value};

pub use default_conflist::{CNI_VERSION, DefaultNetwork, write_default_conflist};
pub use error::CniError;
pub use ipnet::IpNet;
pub use network::CniConfig;
pub use result::{CniResult, Interface, PodIp};
pub use stale::StaleCleanup;

use crate::json::{array, obj, s, uint};
use cache::Cached;
use invoke::{Invocation, Op, Runner};
use network::{NetworkList, PluginConf};

/// The pod an attachment belongs to, passed to plugins as `K8S_POD_*` in `CNI_ARGS`.
#[derive(Clone, Debug, Default)]
pub struct PodArgs {
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// A `hostPort` mapping, given to plugins with the `portMappings` capability.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// "tcp", "udp" or "sctp".
    pub protocol: String,
    /// Empty for every host address.
    pub host_ip: String,
}

/// A loaded network configuration, ready to attach pods.
#[derive(Debug)]
pub struct Cni {
    cfg: CniConfig,
    list: NetworkList,
}

impl Cni {
    /// Reads and checks the configuration list named by `cfg.conflist`.
    pub fn load(cfg: CniConfig) -> Result<Self, CniError> {
        let list = NetworkList::load(&cfg.conflist)?;
        Ok(Cni { cfg, list })
    }

    /// The network's name from the configuration list.
    pub fn network_name(&self) -> &str {
        &self.list.name
    }

    /// Brings up `lo` and runs the plugin chain (ADD) for interface `ifname` of the pod
    /// namespace `netns`, caching the result. On failure the partial attachment is removed.
    pub fn add(
        &self,
        container_id: &str,
        netns: &Path,
        ifname: &str,
        pod: &PodArgs,
        port_mappings: &[PortMapping],
    ) -> Result<CniResult, CniError> {
        check_names(&self.cfg.conflist, container_id, ifname)?;
        let netns = netns.to_str().ok_or_else(|| {
            CniError::config(&self.cfg.conflist, "network namespace path is not utf-8")
        })?;
        let loopback = Invocation {
            op: Op::Add,
            container_id,
            netns,
            ifname: "lo",
            args: "",
        };
        if self.cfg.loopback_plugin {
            self.runner()
                .run("loopback", &loopback, &default_conflist::loopback_config())?;
        }
        let mut cached = Cached {
            container_id: container_id.to_owned(),
            ifname: ifname.to_owned(),
            network: self.list.name.clone(),
            cni_args: pod_args(pod, container_id),
            capability_args: capability_args(port_mappings),
            result: None,
        };
        let args = join_args(&cached.cni_args);
        let call = Invocation {
            op: Op::Add,
            container_id,
            netns,
            ifname,
            args: &args,
        };
        let attached = self
            .add_chain(&call, &cached.capability_args)
            .and_then(|result| {
                cached.result = Some(result.raw.clone());
                cached.store(&self.cfg.cache_dir, &self.list.raw)?;
                Ok(result)
            });
        if attached.is_err() {
            let undo = Invocation {
                op: Op::Del,
                ..call
            };
            let _ = self.run_chain(&undo, cached.result.as_ref(), &cached.capability_args);
        }
        attached
    }

    /// Removes the attachment (plugins in reverse order, with the cached ADD result).
    /// Idempotent: a missing namespace, cache entry or attachment is not an error.
    pub fn del(&self, container_id: &str, netns: &Path, ifname: &str) -> Result<(), CniError> {
        check_names(&self.cfg.conflist, container_id, ifname)?;
        let file = cache::path(&self.cfg.cache_dir, &self.list.name, container_id, ifname);
        // A corrupt entry must not make the attachment undeletable: DEL without prevResult
        // is allowed by the spec and the plugins clean up by container id.
        let cached = Cached::load(&file).ok().flatten();
        let netns = netns
            .to_str()
            .filter(|p| Path::new(p).exists())
            .unwrap_or("");
        self.del_attachment(container_id, netns, ifname, cached.as_ref())?;
        cache::remove(&file)
    }

    /// Asks every plugin whether the attachment is still as ADD left it (CNI 0.4.0+).
    pub fn check(&self, container_id: &str, netns: &Path, ifname: &str) -> Result<(), CniError> {
        check_names(&self.cfg.conflist, container_id, ifname)?;
        if matches!(self.list.cni_version.as_str(), "0.3.0" | "0.3.1") {
            let detail = "CHECK needs cniVersion 0.4.0 or later";
            return Err(CniError::config(&self.cfg.conflist, detail));
        }
        let file = cache::path(&self.cfg.cache_dir, &self.list.name, container_id, ifname);
        let cached = Cached::load(&file)?.ok_or_else(|| CniError::Cache {
            file: file.clone(),
            detail: "no cached attachment to check".to_owned(),
        })?;
        let netns = netns.to_str().unwrap_or("");
        let args = join_args(&cached.cni_args);
        let call = Invocation {
            op: Op::Check,
            container_id,
            netns,
            ifname,
            args: &args,
        };
        self.run_chain(&call, cached.result.as_ref(), &cached.capability_args)
    }

    fn del_attachment(
        &self,
        container_id: &str,
        netns: &str,
        ifname: &str,
        cached: Option<&Cached>,
    ) -> Result<(), CniError> {
        let args = match cached {
            Some(c) => join_args(&c.cni_args),
            None => format!("IgnoreUnknown=1;K8S_POD_INFRA_CONTAINER_ID={container_id}"),
        };
        let empty = Object::new();
        let caps = cached.map_or(&empty, |c| &c.capability_args);
        let result = cached.and_then(|c| c.result.as_ref());
        let call = Invocation {
            op: Op::Del,
            container_id,
            netns,
            ifname,
            args: &args,
        };
        self.run_chain(&call, result, caps)?;
        if !netns.is_empty() {
            let lo = Invocation {
                ifname: "lo",
                args: "",
                ..call
            };
            let loopback = default_conflist::loopback_config();
            return self.runner().run("loopback", &lo, &loopback).map(drop);
        }
        if self.list.plugins.iter().any(is_masquerading_bridge) {
            let cached = result.and_then(|r| CniResult::from_value(r.clone()).ok());
            let ips: Vec<IpNet> = cached
                .iter()
                .flat_map(|r| &r.ips)
                .map(|ip| ip.address)
                .collect();
            masquerade::teardown(&self.list.name, container_id, &ips)?;
        }
        Ok(())
    }

    /// ADD through every plugin, each getting the previous one's result.
    fn add_chain(&self, call: &Invocation<'_>, caps: &Object) -> Result<CniResult, CniError> {
        let mut prev: Option<CniResult> = None;
        for plugin in self.list.plugins.iter().filter(|p| !idle(p, caps)) {
            let conf = self.plugin_config(plugin, prev.as_ref().map(|r| &r.raw), caps);
            let out = self.runner().run(&plugin.kind, call, &conf)?;
            prev = Some(CniResult::parse_text(&plugin.kind, &out)?);
        }
        prev.ok_or_else(|| CniError::config(&self.cfg.conflist, "no plugins"))
    }

    /// DEL (reverse order) or CHECK (list order) with the same `prevResult` for all.
    fn run_chain(
        &self,
        call: &Invocation<'_>,
        prev: Option<&Value>,
        caps: &Object,
    ) -> Result<(), CniError> {
        let active = self.list.plugins.iter().filter(|p| !idle(p, caps));
        let plugins: Vec<&PluginConf> = match call.op {
            Op::Del => active.rev().collect(),
            _ => active.collect(),
        };
        for plugin in plugins {
            let conf = self.plugin_config(plugin, prev, caps);
            self.runner().run(&plugin.kind, call, &conf)?;
        }
        Ok(())
    }

    /// The stdin document for one plugin: its own object plus the list's name and version,
    /// the previous result, and the runtime config for the capabilities it declared.
    fn plugin_config(&self, plugin: &PluginConf, prev: Option<&Value>, caps: &Object) -> String {
        let mut conf = plugin.conf.clone();
        conf.insert("name".to_owned(), s(&self.list.name));
        conf.insert("cniVersion".to_owned(), s(&self.list.cni_version));
        if let Some(prev) = prev {
            conf.insert("prevResult".to_owned(), prev.clone());
        }
        let runtime: Object = caps
            .iter()
            .filter(|(cap, _)| plugin.has_capability(cap))
            .map(|(cap, v)| (cap.clone(), v.clone()))
            .collect();
        if !runtime.is_empty() {
            conf.insert("runtimeConfig".to_owned(), Value::Object(runtime));
        }
        miniserde::json::to_string(&conf)
    }

    fn runner(&self) -> Runner<'_> {
        Runner {
            bin_dirs: &self.cfg.bin_dirs,
            timeout: self.cfg.plugin_timeout,
        }
    }
}

fn is_masquerading_bridge(plugin: &PluginConf) -> bool {
    plugin.kind == "bridge" && matches!(plugin.conf.get("ipMasq"), Some(Value::Bool(true)))
}

/// Container ids and interface names end up in file names and plugin arguments.
fn check_names(conflist: &Path, container_id: &str, ifname: &str) -> Result<(), CniError> {
    let id_ok = !container_id.is_empty()
        && container_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    let if_ok = !ifname.is_empty()
        && ifname.len() <= 15
        && !ifname.contains(['/', ':', ' '])
        && ifname != "."
        && ifname != "..";
    match (id_ok, if_ok) {
        (true, true) => Ok(()),
        (false, _) => Err(CniError::config(
            conflist,
            format!("invalid container id {container_id:?}"),
        )),
        (_, false) => Err(CniError::config(
            conflist,
            format!("invalid interface name {ifname:?}"),
        )),
    }
}

fn pod_args(pod: &PodArgs, container_id: &str) -> Vec<(String, String)> {
    [
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", pod.namespace.as_str()),
        ("K8S_POD_NAME", pod.name.as_str()),
        ("K8S_POD_INFRA_CONTAINER_ID", container_id),
        ("K8S_POD_UID", pod.uid.as_str()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn join_args(args: &[(String, String)]) -> String {
    let pairs: Vec<String> = args.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(";")
}

/// portmap only acts on `portMappings`; for a pod without hostPorts it would be one more
/// process per ADD and DEL (it passes prevResult through unchanged), so it is not run.
fn idle(plugin: &PluginConf, caps: &Object) -> bool {
    plugin.kind == "portmap" && !caps.contains_key("portMappings")
}

fn capability_args(port_mappings: &[PortMapping]) -> Object {
    let mut caps = Object::new();
    if port_mappings.is_empty() {
        return caps;
    }
    let ports = port_mappings.iter().map(|p| {
        obj([
            ("hostPort", uint(u64::from(p.host_port))),
            ("containerPort", uint(u64::from(p.container_port))),
            ("protocol", s(&p.protocol)),
            ("hostIP", s(&p.host_ip)),
        ])
    });
    caps.insert("portMappings".to_owned(), array(ports));
    caps
}
