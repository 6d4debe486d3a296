//! What NetworkPolicy compiles to, in the terms the nftables table speaks: for each pod
//! isolated for ingress (or egress), its addresses and the traffic some policy allows,
//! as peer addresses or blocks times ports. The renderer (services/policy_chains.rs) turns
//! each isolated pod into one chain that returns on an allowed packet and drops the rest.

use std::net::IpAddr;

use crate::cni::IpNet;
use crate::services::Protocol;

/// Every isolated pod, both directions. Empty when no policy selects a pod.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyRules {
    /// Pods isolated for ingress: the peer is the packet's source.
    pub ingress: Vec<IsolatedPod>,
    /// Pods isolated for egress: the peer is the packet's destination.
    pub egress: Vec<IsolatedPod>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IsolatedPod {
    /// `<namespace>/<name>`.
    pub key: String,
    pub ips: Vec<IpAddr>,
    /// Traffic allowed when any entry matches; nothing else passes.
    pub allow: Vec<Allow>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allow {
    pub peer: PeerMatch,
    pub ports: PortMatch,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerMatch {
    Any,
    /// Pod addresses (never empty: a selector selecting no pod yields no `Allow`).
    Addresses(Vec<IpAddr>),
    Block {
        cidr: IpNet,
        except: Vec<IpNet>,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortMatch {
    Any,
    /// Every port of one protocol.
    Protocol(Protocol),
    /// Destination ports `first..=last` of one protocol.
    Range(Protocol, u16, u16),
    /// An egress named port: the (destination address, port) pairs of the pods that name
    /// it (never empty).
    Destinations(Protocol, Vec<(IpAddr, u16)>),
}

impl PolicyRules {
    pub fn is_empty(&self) -> bool {
        self.ingress.is_empty() && self.egress.is_empty()
    }
}

/// Whether `net` contains `ip` (same family, prefix bits equal).
pub fn contains(net: &IpNet, ip: &IpAddr) -> bool {
    match (net.addr, ip) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            IpNet {
                addr: *ip,
                prefix: net.prefix,
            }
            .network()
                == net.network()
        }
        _ => false,
    }
}

/// The decision the rendered chains make for a new connection, evaluated in Rust: the
/// model the unit tests compare against upstream's semantics.
#[cfg(test)]
impl PolicyRules {
    pub fn allows(&self, src: IpAddr, dst: IpAddr, protocol: Protocol, port: u16) -> bool {
        let egress_ok = self
            .egress
            .iter()
            .filter(|p| p.ips.contains(&src))
            .all(|p| p.allow.iter().any(|a| a.matches(dst, dst, protocol, port)));
        let ingress_ok = self
            .ingress
            .iter()
            .filter(|p| p.ips.contains(&dst))
            .all(|p| p.allow.iter().any(|a| a.matches(src, dst, protocol, port)));
        egress_ok && ingress_ok
    }
}

#[cfg(test)]
impl Allow {
    fn matches(&self, peer: IpAddr, dst: IpAddr, protocol: Protocol, port: u16) -> bool {
        let peer_ok = match &self.peer {
            PeerMatch::Any => true,
            PeerMatch::Addresses(ips) => ips.contains(&peer),
            PeerMatch::Block { cidr, except } => {
                contains(cidr, &peer) && !except.iter().any(|e| contains(e, &peer))
            }
        };
        let port_ok = match &self.ports {
            PortMatch::Any => true,
            PortMatch::Protocol(p) => *p == protocol,
            PortMatch::Range(p, first, last) => *p == protocol && (*first..=*last).contains(&port),
            PortMatch::Destinations(p, pairs) => *p == protocol && pairs.contains(&(dst, port)),
        };
        peer_ok && port_ok
    }
}
