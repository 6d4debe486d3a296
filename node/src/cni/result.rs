//! The result of attaching a pod to the network: the addresses, gateways and interfaces a
//! plugin chain reports (CNI result format 0.3.0 to 1.0.0).

use std::net::IpAddr;

use miniserde::json::{self, Value};

use super::error::CniError;
use super::ipnet::IpNet;
use crate::json::{as_array, as_object, as_u64, str_field};

/// One address given to the pod.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PodIp {
    pub address: IpNet,
    pub gateway: Option<IpAddr>,
    /// Index into `CniResult::interfaces`.
    pub interface: Option<usize>,
}

/// One interface a plugin created or configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    /// The namespace path for interfaces inside the pod, empty on the host.
    pub sandbox: String,
}

/// What ADD returned for one attachment.
#[derive(Clone, Debug)]
pub struct CniResult {
    pub ips: Vec<PodIp>,
    pub interfaces: Vec<Interface>,
    /// The document as the last plugin printed it (the next plugin's `prevResult`).
    pub(crate) raw: Value,
}

impl CniResult {
    /// The first address of each family, IPv4 first, as a pod's `status.podIPs` lists them.
    pub fn pod_ips(&self) -> Vec<IpAddr> {
        let v4 = self.ips.iter().find(|ip| ip.address.addr.is_ipv4());
        let v6 = self.ips.iter().find(|ip| ip.address.addr.is_ipv6());
        v4.into_iter().chain(v6).map(|ip| ip.address.addr).collect()
    }

    /// The gateway of the first address that has one.
    pub fn gateway(&self) -> Option<IpAddr> {
        self.ips.iter().find_map(|ip| ip.gateway)
    }

    pub(crate) fn parse_text(plugin: &str, text: &str) -> Result<Self, CniError> {
        let raw: Value = json::from_str(text.trim()).map_err(|_| CniError::BadResult {
            plugin: plugin.to_owned(),
            detail: "not valid JSON".to_owned(),
        })?;
        Self::from_value(raw).map_err(|detail| CniError::BadResult {
            plugin: plugin.to_owned(),
            detail,
        })
    }

    pub(crate) fn from_value(raw: Value) -> Result<Self, String> {
        let top = as_object(&raw).ok_or("result is not an object")?;
        let empty = miniserde::json::Array::new();
        let ips = top.get("ips").and_then(as_array).unwrap_or(&empty);
        let ips = ips
            .iter()
            .enumerate()
            .map(|(i, v)| parse_ip(i, v))
            .collect::<Result<_, _>>()?;
        let ifaces = top.get("interfaces").and_then(as_array).unwrap_or(&empty);
        let interfaces = ifaces.iter().filter_map(as_object).map(|o| Interface {
            name: str_field(o, "name").unwrap_or_default().to_owned(),
            mac: str_field(o, "mac").unwrap_or_default().to_owned(),
            sandbox: str_field(o, "sandbox").unwrap_or_default().to_owned(),
        });
        Ok(CniResult {
            ips,
            interfaces: interfaces.collect(),
            raw,
        })
    }
}

fn parse_ip(i: usize, v: &Value) -> Result<PodIp, String> {
    let o = as_object(v).ok_or_else(|| format!("ips[{i}] is not an object"))?;
    let address = str_field(o, "address").ok_or_else(|| format!("ips[{i}].address missing"))?;
    let address: IpNet = address
        .parse()
        .map_err(|e| format!("ips[{i}].address: {e}"))?;
    let gateway = match str_field(o, "gateway") {
        Some(g) => Some(
            g.parse()
                .map_err(|_| format!("ips[{i}].gateway {g:?} invalid"))?,
        ),
        None => None,
    };
    let interface = o
        .get("interface")
        .and_then(as_u64)
        .and_then(|n| usize::try_from(n).ok());
    Ok(PodIp {
        address,
        gateway,
        interface,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_dual_stack_bridge_result() {
        let text = r#"{"cniVersion":"1.0.0","interfaces":[{"name":"wt0","mac":"aa"},
            {"name":"eth0","mac":"bb","sandbox":"/run/netns/p"}],
            "ips":[{"interface":1,"address":"10.9.0.2/24","gateway":"10.9.0.1"},
                   {"interface":1,"address":"fd09::2/64","gateway":"fd09::1"}],
            "dns":{}}"#;
        let r = CniResult::parse_text("bridge", text).unwrap();
        assert_eq!(r.interfaces[1].sandbox, "/run/netns/p");
        assert_eq!(r.ips[0].address.to_string(), "10.9.0.2/24");
        assert_eq!(r.ips[1].interface, Some(1));
        assert_eq!(r.gateway(), "10.9.0.1".parse().ok());
        let ips: Vec<String> = r.pod_ips().iter().map(ToString::to_string).collect();
        assert_eq!(ips, ["10.9.0.2", "fd09::2"]);
    }

    #[test]
    fn rejects_a_broken_address() {
        let e = CniResult::parse_text("x", r#"{"ips":[{"address":"10.0.0.1"}]}"#).unwrap_err();
        assert!(e.to_string().contains("ips[0].address"), "{e}");
        assert!(CniResult::parse_text("x", "garbage").is_err());
    }
}
