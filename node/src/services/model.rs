//! What the Service rules are computed from: the Services of the cluster with their
//! addresses, ports and policies, and for each port the ready endpoints. The agent fills it
//! from Service and EndpointSlice objects; nothing here reads the API.

use std::fmt;
use std::net::IpAddr;

use crate::cni::IpNet;
use crate::netpol::PolicyRules;

/// Everything the `inet wisp` table is rendered from.
#[derive(Clone, Debug, Default)]
pub struct ServiceModel {
    /// The pod CIDRs: traffic to a ClusterIP from outside them is masqueraded, as
    /// kube-proxy does with `--cluster-cidr`.
    pub cluster_cidrs: Vec<IpNet>,
    pub services: Vec<Service>,
    /// NetworkPolicy, compiled against the node's pods (rendered in the same table).
    pub policy: PolicyRules,
}

/// One Service. A Service without cluster IPs (headless, ExternalName) gets no rules.
#[derive(Clone, Debug, Default)]
pub struct Service {
    pub namespace: String,
    pub name: String,
    /// `spec.clusterIPs` (one per family).
    pub cluster_ips: Vec<IpAddr>,
    /// `spec.externalIPs`.
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub load_balancer_ips: Vec<IpAddr>,
    pub ports: Vec<ServicePort>,
    /// `sessionAffinity: ClientIP` with its timeout in seconds.
    pub session_affinity_seconds: Option<u32>,
    /// `externalTrafficPolicy: Local`: keep the client address, node-local endpoints only.
    pub external_traffic_local: bool,
    /// `internalTrafficPolicy: Local`: ClusterIP traffic to node-local endpoints only.
    pub internal_traffic_local: bool,
}

/// One port of a Service with the ready endpoints serving it.
#[derive(Clone, Debug)]
pub struct ServicePort {
    pub protocol: Protocol,
    pub port: u16,
    /// For NodePort and LoadBalancer Services.
    pub node_port: Option<u16>,
    pub endpoints: Vec<Endpoint>,
}

/// A ready endpoint address and the target port resolved for this Service port.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub ip: IpAddr,
    pub port: u16,
    /// Whether the endpoint runs on this node (always true on a single node; kept so that
    /// the traffic policies mean what they say).
    pub node_local: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        })
    }
}
