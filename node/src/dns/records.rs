//! The cluster data DNS answers from: Services (ClusterIP or headless, named ports), the
//! ready endpoints of headless Services and the pods with their hostnames. The agent fills it
//! from the store's watch events; nothing here does I/O or knows the wire format.

use std::collections::BTreeMap;
use std::net::IpAddr;

/// Transport of a Service port, the `_proto` label of its SRV name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortProtocol {
    Tcp,
    Udp,
    Sctp,
}

impl PortProtocol {
    /// The SRV label without its underscore.
    pub fn label(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
            PortProtocol::Sctp => "sctp",
        }
    }
}

/// One port of a Service or of its endpoints; only named ports get SRV records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPort {
    pub name: String,
    pub protocol: PortProtocol,
    pub port: u16,
}

/// A Service as DNS sees it. `cluster_ips` empty means headless (`clusterIP: None`);
/// `external_name` set means type ExternalName (a CNAME, whatever the other fields say).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsService {
    pub namespace: String,
    pub name: String,
    pub cluster_ips: Vec<IpAddr>,
    pub ports: Vec<DnsPort>,
    pub external_name: Option<String>,
}

/// One address of a headless Service's endpoints. Only ready ones are answered (the agent
/// passes `ready: true` for not-ready ones too when `publishNotReadyAddresses` is set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsEndpoint {
    pub ip: IpAddr,
    /// `hostname` of the endpoint address (the pod's `spec.hostname` when its subdomain
    /// names this Service); without it the record name is the dashed IP.
    pub hostname: Option<String>,
    pub ready: bool,
}

/// The endpoints of one Service: addresses and the (target) ports they serve.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DnsEndpoints {
    pub addresses: Vec<DnsEndpoint>,
    pub ports: Vec<DnsPort>,
}

/// A pod as DNS sees it: its IPs and the optional `spec.hostname` / `spec.subdomain`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsPod {
    pub namespace: String,
    pub name: String,
    pub ips: Vec<IpAddr>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
}

type Key = (String, String);

/// Everything cluster DNS knows, keyed by (namespace, name). `serial` (the SOA serial)
/// moves on every change so secondary caches could tell versions apart.
#[derive(Clone, Debug)]
pub struct ClusterRecords {
    domain: String,
    services: BTreeMap<Key, DnsService>,
    endpoints: BTreeMap<Key, DnsEndpoints>,
    pods: BTreeMap<Key, DnsPod>,
    serial: u32,
}

impl ClusterRecords {
    /// Empty records for a cluster domain such as `cluster.local` (dots around are dropped).
    pub fn new(domain: &str) -> ClusterRecords {
        ClusterRecords {
            domain: domain.trim_matches('.').to_ascii_lowercase(),
            services: BTreeMap::new(),
            endpoints: BTreeMap::new(),
            pods: BTreeMap::new(),
            serial: 1,
        }
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    pub fn serial(&self) -> u32 {
        self.serial
    }

    pub fn upsert_service(&mut self, service: DnsService) {
        let key = (service.namespace.clone(), service.name.clone());
        self.services.insert(key, service);
        self.bump();
    }

    /// Removes a Service and its endpoints.
    pub fn remove_service(&mut self, namespace: &str, name: &str) {
        let key = (namespace.to_owned(), name.to_owned());
        self.services.remove(&key);
        self.endpoints.remove(&key);
        self.bump();
    }

    /// Replaces the endpoints of Service `namespace/name` (kept even before the Service is
    /// known, as watch events may arrive in either order).
    pub fn set_endpoints(&mut self, namespace: &str, name: &str, endpoints: DnsEndpoints) {
        let key = (namespace.to_owned(), name.to_owned());
        self.endpoints.insert(key, endpoints);
        self.bump();
    }

    pub fn upsert_pod(&mut self, pod: DnsPod) {
        let key = (pod.namespace.clone(), pod.name.clone());
        self.pods.insert(key, pod);
        self.bump();
    }

    pub fn remove_pod(&mut self, namespace: &str, name: &str) {
        self.pods.remove(&(namespace.to_owned(), name.to_owned()));
        self.bump();
    }

    /// Service `name` in `namespace`, matched without regard to case as DNS does.
    pub fn service(&self, namespace: &str, name: &str) -> Option<&DnsService> {
        self.services.values().find(|s| {
            s.namespace.eq_ignore_ascii_case(namespace) && s.name.eq_ignore_ascii_case(name)
        })
    }

    pub fn endpoints_of(&self, service: &DnsService) -> Option<&DnsEndpoints> {
        self.endpoints
            .get(&(service.namespace.clone(), service.name.clone()))
    }

    pub fn has_namespace(&self, namespace: &str) -> bool {
        let known = |ns: &String| ns.eq_ignore_ascii_case(namespace);
        self.services.keys().any(|(ns, _)| known(ns)) || self.pods.keys().any(|(ns, _)| known(ns))
    }

    pub fn services(&self) -> impl Iterator<Item = &DnsService> {
        self.services.values()
    }

    pub fn pods(&self) -> impl Iterator<Item = &DnsPod> {
        self.pods.values()
    }

    /// Ready addresses of a Service's endpoints.
    pub fn ready_endpoints(&self, service: &DnsService) -> impl Iterator<Item = &DnsEndpoint> {
        self.endpoints_of(service)
            .into_iter()
            .flat_map(|e| e.addresses.iter())
            .filter(|a| a.ready)
    }

    fn bump(&mut self) {
        self.serial = self.serial.wrapping_add(1).max(1);
    }
}
