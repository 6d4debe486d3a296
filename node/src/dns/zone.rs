//! Answers for names under the cluster domain and for reverse names of cluster IPs, as the
//! Kubernetes DNS specification and CoreDNS's kubernetes plugin give them: Services,
//! headless endpoints, pod hostnames, SRV for named ports, PTR. Works on lowercase labels and
//! plain record data; the wire format is elsewhere.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::records::{ClusterRecords, DnsEndpoint, DnsPort, DnsService};

pub(super) const TYPE_A: u16 = 1;
pub(super) const TYPE_CNAME: u16 = 5;
pub(super) const TYPE_SOA: u16 = 6;
pub(super) const TYPE_PTR: u16 = 12;
pub(super) const TYPE_AAAA: u16 = 28;
pub(super) const TYPE_SRV: u16 = 33;
pub(super) const TYPE_ANY: u16 = 255;

/// Record data of a cluster answer; the owner is the question's name unless an `Rr` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Data {
    Ip(IpAddr),
    Srv {
        weight: u16,
        port: u16,
        target: String,
    },
    Ptr(String),
    Cname(String),
    Soa,
}

impl Data {
    fn type_code(&self) -> u16 {
        match self {
            Data::Ip(IpAddr::V4(_)) => TYPE_A,
            Data::Ip(IpAddr::V6(_)) => TYPE_AAAA,
            Data::Srv { .. } => TYPE_SRV,
            Data::Ptr(_) => TYPE_PTR,
            Data::Cname(_) => TYPE_CNAME,
            Data::Soa => TYPE_SOA,
        }
    }
}

/// A record with its own owner name (additional section: addresses of SRV targets).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rr {
    pub owner: String,
    pub data: Data,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// Not a cluster name: forward it upstream.
    Outside,
    /// The name exists; `answers` may be empty (NODATA).
    Found {
        answers: Vec<Data>,
        additional: Vec<Rr>,
    },
    NxDomain,
}

/// Looks `labels` (lowercase, most specific first) up for `qtype`.
pub(super) fn lookup(records: &ClusterRecords, labels: &[String], qtype: u16) -> Lookup {
    let all = if let Some(rest) = strip_suffix(labels, records.domain()) {
        match cluster_name(records, rest) {
            Some(data) => data,
            None => return Lookup::NxDomain,
        }
    } else if let Some(ip) = reverse_ip(labels) {
        match reverse_name(records, ip) {
            Some(target) => vec![Data::Ptr(target)],
            None => return Lookup::Outside,
        }
    } else {
        return Lookup::Outside;
    };
    let answers: Vec<Data> = all
        .into_iter()
        .filter(|d| qtype == TYPE_ANY || d.type_code() == qtype || matches!(d, Data::Cname(_)))
        .collect();
    let additional = srv_target_addresses(records, &answers);
    Lookup::Found {
        answers,
        additional,
    }
}

/// Whether `labels` lie under the cluster domain (for REFUSED and SOA decisions).
pub(super) fn in_zone(records: &ClusterRecords, labels: &[String]) -> bool {
    strip_suffix(labels, records.domain()).is_some()
}

fn strip_suffix<'a>(labels: &'a [String], domain: &str) -> Option<&'a [String]> {
    let suffix: Vec<&str> = domain.split('.').filter(|l| !l.is_empty()).collect();
    let cut = labels.len().checked_sub(suffix.len())?;
    let tail = &labels[cut..];
    tail.iter()
        .zip(&suffix)
        .all(|(a, b)| a == b)
        .then_some(&labels[..cut])
}

/// All records of a name under the zone; `None` is NXDOMAIN.
fn cluster_name(records: &ClusterRecords, rest: &[String]) -> Option<Vec<Data>> {
    let rest: Vec<&str> = rest.iter().map(String::as_str).collect();
    match rest.as_slice() {
        [] => Some(vec![Data::Soa]),
        ["svc"] | ["pod"] => Some(Vec::new()),
        [ns, "svc"] => records.has_namespace(ns).then(Vec::new),
        [svc, ns, "svc"] => records.service(ns, svc).map(|s| service_ips(records, s)),
        [port, proto, svc, ns, "svc"] if port.starts_with('_') && proto.starts_with('_') => {
            srv_records(records, records.service(ns, svc)?, &port[1..], &proto[1..])
        }
        [host, svc, ns, "svc"] => endpoint_ips(records, ns, svc, host),
        [dashed, ns, "pod"] => pod_by_dashed_ip(records, ns, dashed),
        _ => None,
    }
}

/// Addresses of a Service, or the CNAME of an ExternalName one (any query type gets the
/// CNAME; the client follows it, as with CoreDNS).
fn service_ips(records: &ClusterRecords, service: &DnsService) -> Vec<Data> {
    if let Some(target) = &service.external_name {
        vec![Data::Cname(target.trim_end_matches('.').to_owned())]
    } else if service.cluster_ips.is_empty() {
        records
            .ready_endpoints(service)
            .map(|e| Data::Ip(e.ip))
            .collect()
    } else {
        service.cluster_ips.iter().map(|ip| Data::Ip(*ip)).collect()
    }
}

/// `host.svc.ns.svc.<zone>`: a ready endpoint of a headless Service named by hostname or
/// dashed IP, or a pod whose hostname and subdomain name it.
fn endpoint_ips(records: &ClusterRecords, ns: &str, svc: &str, host: &str) -> Option<Vec<Data>> {
    let service = records
        .service(ns, svc)
        .filter(|s| s.cluster_ips.is_empty())?;
    let mut ips: Vec<Data> = records
        .ready_endpoints(service)
        .filter(|e| endpoint_label(e).eq_ignore_ascii_case(host))
        .map(|e| Data::Ip(e.ip))
        .collect();
    for pod in records.pods() {
        let names_it = pod.namespace.eq_ignore_ascii_case(ns)
            && pod
                .subdomain
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case(svc))
            && pod
                .hostname
                .as_deref()
                .is_some_and(|h| h.eq_ignore_ascii_case(host));
        if names_it {
            ips.extend(pod.ips.iter().map(|ip| Data::Ip(*ip)));
        }
    }
    ips.dedup();
    (!ips.is_empty()).then_some(ips)
}

/// `_port._proto.svc.ns.svc.<zone>`; an unknown port or protocol is NXDOMAIN as in CoreDNS.
fn srv_records(
    records: &ClusterRecords,
    service: &DnsService,
    port: &str,
    proto: &str,
) -> Option<Vec<Data>> {
    let zone = records.domain();
    let named = |p: &&DnsPort| p.name.eq_ignore_ascii_case(port) && p.protocol.label() == proto;
    let own_name = format!("{}.{}.svc.{zone}", service.name, service.namespace);
    let found: Vec<(u16, String)> = if service.cluster_ips.is_empty() {
        let target_port = records
            .endpoints_of(service)?
            .ports
            .iter()
            .find(named)?
            .port;
        records
            .ready_endpoints(service)
            .map(|e| (target_port, format!("{}.{own_name}", endpoint_label(e))))
            .collect()
    } else {
        vec![(service.ports.iter().find(named)?.port, own_name)]
    };
    let weight = u16::try_from(100 / found.len().max(1)).unwrap_or(1).max(1);
    let srv = found.into_iter().map(|(port, target)| Data::Srv {
        weight,
        port,
        target,
    });
    Some(srv.collect())
}

fn pod_by_dashed_ip(records: &ClusterRecords, ns: &str, dashed: &str) -> Option<Vec<Data>> {
    let ip = parse_dashed(dashed)?;
    let known = records
        .pods()
        .any(|p| p.namespace.eq_ignore_ascii_case(ns) && p.ips.contains(&ip));
    known.then(|| vec![Data::Ip(ip)])
}

/// The A/AAAA records of SRV targets, for the additional section.
fn srv_target_addresses(records: &ClusterRecords, answers: &[Data]) -> Vec<Rr> {
    let mut out = Vec::new();
    for data in answers {
        let Data::Srv { target, .. } = data else {
            continue;
        };
        let labels: Vec<String> = target.split('.').map(str::to_owned).collect();
        if let Some(ips) =
            strip_suffix(&labels, records.domain()).and_then(|r| cluster_name(records, r))
        {
            let addresses = ips.into_iter().filter(|d| matches!(d, Data::Ip(_)));
            out.extend(addresses.map(|data| Rr {
                owner: target.clone(),
                data,
            }));
        }
    }
    out
}

/// The first label of an endpoint's name: its hostname, or its IP with dashes.
pub(super) fn endpoint_label(endpoint: &DnsEndpoint) -> String {
    match &endpoint.hostname {
        Some(h) if !h.is_empty() => h.clone(),
        _ => dashed(endpoint.ip),
    }
}

fn dashed(ip: IpAddr) -> String {
    ip.to_string().replace(['.', ':'], "-")
}

fn parse_dashed(label: &str) -> Option<IpAddr> {
    if let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>() {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// The IP of a complete `in-addr.arpa` or `ip6.arpa` name.
fn reverse_ip(labels: &[String]) -> Option<IpAddr> {
    match labels {
        [d, c, b, a, arpa, top] if arpa == "in-addr" && top == "arpa" => {
            let octet = |s: &String| s.parse::<u8>().ok().filter(|_| s.len() <= 3);
            Some(IpAddr::V4(Ipv4Addr::new(
                octet(a)?,
                octet(b)?,
                octet(c)?,
                octet(d)?,
            )))
        }
        [nibbles @ .., ip6, top] if nibbles.len() == 32 && ip6 == "ip6" && top == "arpa" => {
            let mut value: u128 = 0;
            for nibble in nibbles.iter().rev() {
                let digit = u32::from_str_radix(nibble, 16)
                    .ok()
                    .filter(|_| nibble.len() == 1)?;
                value = (value << 4) | u128::from(digit);
            }
            Some(IpAddr::V6(Ipv6Addr::from(value)))
        }
        _ => None,
    }
}

/// The name a cluster IP points back to: a Service, a headless endpoint or a pod.
fn reverse_name(records: &ClusterRecords, ip: IpAddr) -> Option<String> {
    let zone = records.domain();
    for service in records.services() {
        let own = format!("{}.{}.svc.{zone}", service.name, service.namespace);
        if service.cluster_ips.contains(&ip) {
            return Some(own);
        }
        if service.cluster_ips.is_empty()
            && let Some(e) = records.ready_endpoints(service).find(|e| e.ip == ip)
        {
            return Some(format!("{}.{own}", endpoint_label(e)));
        }
    }
    let pod = records.pods().find(|p| p.ips.contains(&ip))?;
    Some(format!("{}.{}.pod.{zone}", dashed(ip), pod.namespace))
}
