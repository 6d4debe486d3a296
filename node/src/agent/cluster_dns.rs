//! Cluster DNS served by the agent itself (crate::dns) on the cluster DNS address: the
//! address is added to the host's `lo` (a /32, so pods reach it through their default route
//! and the host answers locally), the server answers from Services and Endpoints as the
//! control plane sends them (the same messages the Service rules use) and forwards other
//! names to the host's resolvers.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::rc::Rc;

use async_executor::LocalExecutor;
use miniserde::json::Value;
use wisp_proto::ToNode;

use crate::dns::{
    ClusterRecords, DnsEndpoint, DnsEndpoints, DnsPort, DnsServer, DnsService, HOST_RESOLV_CONF,
    PortProtocol, Upstreams,
};
use crate::json;

pub struct ClusterDns {
    records: Rc<RefCell<ClusterRecords>>,
}

impl ClusterDns {
    /// Puts `address` on `lo`, binds port 53 there and serves; None (after saying why)
    /// when that is not possible, e.g. another wisp on this host already serves it.
    pub fn start(
        address: IpAddr,
        domain: &str,
        executor: &LocalExecutor<'static>,
    ) -> Option<ClusterDns> {
        let prefix = if address.is_ipv4() { 32 } else { 128 };
        let added = std::process::Command::new("ip")
            .args([
                "addr",
                "replace",
                &format!("{address}/{prefix}"),
                "dev",
                "lo",
            ])
            .output();
        if !added.is_ok_and(|o| o.status.success()) {
            eprintln!(
                "wisp: node: cannot add the cluster DNS address {address} to lo; cluster DNS is off"
            );
            return None;
        }
        let listen = SocketAddr::new(address, 53);
        let server = match DnsServer::bind(listen) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("wisp: node: cluster DNS on {listen}: {e}; cluster DNS is off");
                return None;
            }
        };
        let upstreams = Upstreams::from_resolv_conf(Path::new(HOST_RESOLV_CONF))
            .unwrap_or_else(|_| Upstreams::new(Vec::new()))
            .without(listen);
        let records = Rc::new(RefCell::new(ClusterRecords::new(domain)));
        let serving = Rc::clone(&records);
        executor
            .spawn(async move {
                let e = server.run(serving, upstreams).await;
                eprintln!("wisp: node: cluster DNS stopped: {e}");
            })
            .detach();
        Some(ClusterDns { records })
    }

    /// Takes Service and Endpoints messages into the records.
    pub fn handle(&self, message: &ToNode) {
        let mut records = self.records.borrow_mut();
        match message {
            ToNode::ServiceUpsert { key, json } => match service(json) {
                Some(s) => records.upsert_service(s),
                None => remove(&mut records, key),
            },
            ToNode::ServiceRemoved { key } => remove(&mut records, key),
            ToNode::EndpointsUpsert { key, json } => {
                if let (Some((ns, name)), Some(e)) = (key.split_once('/'), endpoints(json)) {
                    records.set_endpoints(ns, name, e);
                }
            }
            ToNode::EndpointsRemoved { key } => {
                if let Some((ns, name)) = key.split_once('/') {
                    records.set_endpoints(ns, name, DnsEndpoints::default());
                }
            }
            _ => {}
        }
    }
}

fn remove(records: &mut ClusterRecords, key: &str) {
    if let Some((ns, name)) = key.split_once('/') {
        records.remove_service(ns, name);
    }
}

fn parse(bytes: &[u8]) -> Option<Value> {
    json::parse(std::str::from_utf8(bytes).ok()?)
}

fn ports(values: &[Value]) -> Vec<DnsPort> {
    values
        .iter()
        .filter_map(|p| {
            Some(DnsPort {
                name: json::get_str(p, &["name"]).unwrap_or("").to_owned(),
                protocol: match json::get_str(p, &["protocol"]).unwrap_or("TCP") {
                    "UDP" => PortProtocol::Udp,
                    "SCTP" => PortProtocol::Sctp,
                    _ => PortProtocol::Tcp,
                },
                port: u16::try_from(json::get_i64(p, &["port"])?).ok()?,
            })
        })
        .collect()
}

fn service(bytes: &[u8]) -> Option<DnsService> {
    let v = parse(bytes)?;
    let ips: Vec<IpAddr> = json::get_array(&v, &["spec", "clusterIPs"])
        .iter()
        .chain(json::get(&v, &["spec", "clusterIP"]))
        .filter_map(|ip| json::as_str(ip)?.parse().ok())
        .fold(Vec::new(), |mut acc, ip| {
            if !acc.contains(&ip) {
                acc.push(ip);
            }
            acc
        });
    let external_name = (json::get_str(&v, &["spec", "type"]) == Some("ExternalName"))
        .then(|| json::get_str(&v, &["spec", "externalName"]).map(str::to_owned))
        .flatten();
    Some(DnsService {
        namespace: json::get_str(&v, &["metadata", "namespace"])?.to_owned(),
        name: json::get_str(&v, &["metadata", "name"])?.to_owned(),
        cluster_ips: ips,
        ports: ports(json::get_array(&v, &["spec", "ports"])),
        external_name,
    })
}

fn endpoints(bytes: &[u8]) -> Option<DnsEndpoints> {
    let v = parse(bytes)?;
    let mut out = DnsEndpoints::default();
    for subset in json::get_array(&v, &["subsets"]) {
        for (field, ready) in [("addresses", true), ("notReadyAddresses", false)] {
            for a in json::get_array(subset, &[field]) {
                let Some(ip) = json::get_str(a, &["ip"]).and_then(|ip| ip.parse().ok()) else {
                    continue;
                };
                out.addresses.push(DnsEndpoint {
                    ip,
                    hostname: json::get_str(a, &["hostname"]).map(str::to_owned),
                    ready,
                });
            }
        }
        for p in ports(json::get_array(subset, &["ports"])) {
            if !out.ports.contains(&p) {
                out.ports.push(p);
            }
        }
    }
    Some(out)
}
