//! Service and Endpoints objects as the proxy needs them: only the fields that shape the
//! rules are parsed from the JSON the control plane forwards, and [`build_model`] joins each
//! Service with its Endpoints (same namespace/name) into a `services::ServiceModel`.

use std::collections::HashMap;
use std::net::IpAddr;

use miniserde::json::Value;

use crate::cni::IpNet;
use crate::json;
use crate::services::{Endpoint, Protocol, Service, ServiceModel, ServicePort};

/// The parts of a Service the rules depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceObject {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub load_balancer: bool,
    pub cluster_ips: Vec<IpAddr>,
    pub external_ips: Vec<IpAddr>,
    /// `status.loadBalancer.ingress[].ip`.
    pub ingress_ips: Vec<IpAddr>,
    pub ports: Vec<PortSpec>,
    pub session_affinity_seconds: Option<u32>,
    pub external_traffic_local: bool,
    pub internal_traffic_local: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortSpec {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
    pub node_port: Option<u16>,
}

/// The ready addresses of an Endpoints object, per subset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointsObject {
    pub subsets: Vec<Subset>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Subset {
    /// Ready addresses with their `nodeName` (None when the address names no node).
    pub addresses: Vec<(IpAddr, Option<String>)>,
    pub ports: Vec<PortSpec>,
}

/// ClientIP affinity's default timeout (upstream's `timeoutSeconds` default: 3 hours).
const DEFAULT_AFFINITY_SECONDS: u32 = 10_800;

fn protocol(v: &Value) -> Option<Protocol> {
    match json::get_str(v, &["protocol"]).unwrap_or("TCP") {
        "TCP" => Some(Protocol::Tcp),
        "UDP" => Some(Protocol::Udp),
        "SCTP" => Some(Protocol::Sctp),
        _ => None,
    }
}

fn port_number(v: &Value, field: &str) -> Option<u16> {
    json::get_i64(v, &[field]).and_then(|n| u16::try_from(n).ok().filter(|&p| p > 0))
}

fn port_spec(v: &Value) -> Option<PortSpec> {
    Some(PortSpec {
        name: json::get_str(v, &["name"]).unwrap_or("").to_owned(),
        protocol: protocol(v)?,
        port: port_number(v, "port")?,
        node_port: port_number(v, "nodePort"),
    })
}

fn ips(values: &[Value]) -> Vec<IpAddr> {
    values
        .iter()
        .filter_map(|v| json::as_str(v)?.parse().ok())
        .collect()
}

/// Parses a Service; None when the JSON is not one.
pub fn parse_service(bytes: &[u8]) -> Option<ServiceObject> {
    let v = json::parse(std::str::from_utf8(bytes).ok()?)?;
    let spec = json::get(&v, &["spec"])?;
    let mut cluster_ips = ips(json::get_array(spec, &["clusterIPs"]));
    if cluster_ips.is_empty() {
        // Older objects carry only the singular field ("None" for headless parses to none).
        cluster_ips
            .extend(json::get_str(spec, &["clusterIP"]).and_then(|s| s.parse::<IpAddr>().ok()));
    }
    let ingress = json::get_array(&v, &["status", "loadBalancer", "ingress"]);
    let affinity = (json::get_str(spec, &["sessionAffinity"]) == Some("ClientIP")).then(|| {
        json::get_i64(
            spec,
            &["sessionAffinityConfig", "clientIP", "timeoutSeconds"],
        )
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(DEFAULT_AFFINITY_SECONDS)
    });
    Some(ServiceObject {
        namespace: json::get_str(&v, &["metadata", "namespace"])?.to_owned(),
        name: json::get_str(&v, &["metadata", "name"])?.to_owned(),
        uid: json::get_str(&v, &["metadata", "uid"])
            .unwrap_or("")
            .to_owned(),
        load_balancer: json::get_str(spec, &["type"]) == Some("LoadBalancer"),
        cluster_ips,
        external_ips: ips(json::get_array(spec, &["externalIPs"])),
        ingress_ips: ingress
            .iter()
            .filter_map(|i| json::get_str(i, &["ip"])?.parse().ok())
            .collect(),
        ports: json::get_array(spec, &["ports"])
            .iter()
            .filter_map(port_spec)
            .collect(),
        session_affinity_seconds: affinity,
        external_traffic_local: json::get_str(spec, &["externalTrafficPolicy"]) == Some("Local"),
        internal_traffic_local: json::get_str(spec, &["internalTrafficPolicy"]) == Some("Local"),
    })
}

/// Parses an Endpoints object (its ready `addresses`; `notReadyAddresses` get no traffic).
pub fn parse_endpoints(bytes: &[u8]) -> Option<EndpointsObject> {
    let v = json::parse(std::str::from_utf8(bytes).ok()?)?;
    let subsets = json::get_array(&v, &["subsets"]).iter().map(|subset| {
        let addresses = json::get_array(subset, &["addresses"])
            .iter()
            .filter_map(|a| {
                let ip = json::get_str(a, &["ip"])?.parse().ok()?;
                Some((ip, json::get_str(a, &["nodeName"]).map(str::to_owned)))
            });
        Subset {
            addresses: addresses.collect(),
            ports: json::get_array(subset, &["ports"])
                .iter()
                .filter_map(port_spec)
                .collect(),
        }
    });
    Some(EndpointsObject {
        subsets: subsets.collect(),
    })
}

/// What the model is built for: this node's name and addresses.
pub struct NodeView<'a> {
    pub node_name: &'a str,
    /// Addresses a LoadBalancer Service answers on besides its status ingress IPs.
    pub host_ips: &'a [IpAddr],
    pub cluster_cidrs: &'a [IpNet],
}

/// Joins every Service with its Endpoints (keyed `namespace/name`).
pub fn build_model(
    services: &HashMap<String, ServiceObject>,
    endpoints: &HashMap<String, EndpointsObject>,
    node: &NodeView<'_>,
) -> ServiceModel {
    let mut keys: Vec<&String> = services.keys().collect();
    // A stable order gives the same script for the same objects.
    keys.sort();
    let services = keys.into_iter().map(|key| {
        let service = &services[key];
        service_rules(service, endpoints.get(key), node)
    });
    ServiceModel {
        cluster_cidrs: node.cluster_cidrs.to_vec(),
        services: services.collect(),
        policy: crate::netpol::PolicyRules::default(),
    }
}

fn service_rules(
    service: &ServiceObject,
    endpoints: Option<&EndpointsObject>,
    node: &NodeView<'_>,
) -> Service {
    let mut load_balancer_ips = Vec::new();
    if service.load_balancer {
        load_balancer_ips.extend(&service.ingress_ips);
        load_balancer_ips.extend(
            node.host_ips
                .iter()
                .filter(|ip| !service.ingress_ips.contains(ip)),
        );
    }
    let ports = service.ports.iter().map(|port| ServicePort {
        protocol: port.protocol,
        port: port.port,
        node_port: port.node_port,
        endpoints: endpoints.map_or_else(Vec::new, |e| port_endpoints(port, e, node.node_name)),
    });
    Service {
        namespace: service.namespace.clone(),
        name: service.name.clone(),
        cluster_ips: service.cluster_ips.clone(),
        external_ips: service.external_ips.clone(),
        load_balancer_ips,
        ports: ports.collect(),
        session_affinity_seconds: service.session_affinity_seconds,
        external_traffic_local: service.external_traffic_local,
        internal_traffic_local: service.internal_traffic_local,
    }
}

/// The ready endpoints of one Service port: the subset ports with the same name (the
/// Endpoints controller names them after the Service's ports) and protocol.
fn port_endpoints(port: &PortSpec, endpoints: &EndpointsObject, node_name: &str) -> Vec<Endpoint> {
    let mut out: Vec<Endpoint> = Vec::new();
    for subset in &endpoints.subsets {
        let target = subset
            .ports
            .iter()
            .find(|p| p.name == port.name && p.protocol == port.protocol);
        let Some(target) = target else {
            continue;
        };
        for (ip, node) in &subset.addresses {
            let endpoint = Endpoint {
                ip: *ip,
                port: target.port,
                node_local: node.as_deref().is_none_or(|n| n == node_name),
            };
            if !out.contains(&endpoint) {
                out.push(endpoint);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SERVICE: &str = r#"{"apiVersion":"v1","kind":"Service",
        "metadata":{"name":"web","namespace":"default","uid":"u1"},
        "spec":{"type":"LoadBalancer","clusterIP":"10.43.0.20","clusterIPs":["10.43.0.20"],
          "externalIPs":["198.51.100.1"],"sessionAffinity":"ClientIP",
          "externalTrafficPolicy":"Local",
          "ports":[{"name":"http","port":80,"targetPort":8080,"nodePort":30080},
                   {"name":"dns","port":53,"protocol":"UDP"}]},
        "status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.2"}]}}}"#;

    const ENDPOINTS: &str = r#"{"apiVersion":"v1","kind":"Endpoints",
        "metadata":{"name":"web","namespace":"default"},
        "subsets":[{"addresses":[{"ip":"10.42.0.5","nodeName":"n1"},{"ip":"10.42.0.6","nodeName":"other"}],
          "notReadyAddresses":[{"ip":"10.42.0.7","nodeName":"n1"}],
          "ports":[{"name":"http","port":8080},{"name":"dns","port":5353,"protocol":"UDP"}]}]}"#;

    #[test]
    fn service_fields_are_parsed() {
        let s = parse_service(SERVICE.as_bytes()).unwrap();
        assert_eq!(s.uid, "u1");
        assert!(s.load_balancer && s.external_traffic_local && !s.internal_traffic_local);
        assert_eq!(s.cluster_ips, vec!["10.43.0.20".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.external_ips.len(), 1);
        assert_eq!(s.ingress_ips, vec!["192.0.2.2".parse::<IpAddr>().unwrap()]);
        assert_eq!(s.session_affinity_seconds, Some(DEFAULT_AFFINITY_SECONDS));
        assert_eq!(s.ports[0].node_port, Some(30080));
        assert_eq!(s.ports[1].protocol, Protocol::Udp);
        let headless = r#"{"metadata":{"name":"h","namespace":"d"},"spec":{"clusterIP":"None"}}"#;
        assert!(
            parse_service(headless.as_bytes())
                .unwrap()
                .cluster_ips
                .is_empty()
        );
        assert!(parse_service(b"[]").is_none());
    }

    #[test]
    fn model_joins_ready_addresses_by_port_name_and_marks_locality() {
        let key = "default/web".to_owned();
        let services = HashMap::from([(key.clone(), parse_service(SERVICE.as_bytes()).unwrap())]);
        let endpoints = HashMap::from([(key, parse_endpoints(ENDPOINTS.as_bytes()).unwrap())]);
        let host: Vec<IpAddr> = vec!["192.0.2.2".parse().unwrap(), "192.0.2.3".parse().unwrap()];
        let node = NodeView {
            node_name: "n1",
            host_ips: &host,
            cluster_cidrs: &[],
        };
        let model = build_model(&services, &endpoints, &node);
        let service = &model.services[0];
        // The status ingress IP once, then the other host address.
        assert_eq!(service.load_balancer_ips, host);
        let http = &service.ports[0];
        assert_eq!(http.port, 80);
        let got: Vec<(String, u16, bool)> = http
            .endpoints
            .iter()
            .map(|e| (e.ip.to_string(), e.port, e.node_local))
            .collect();
        assert_eq!(
            got,
            vec![
                ("10.42.0.5".to_owned(), 8080, true),
                ("10.42.0.6".to_owned(), 8080, false)
            ]
        );
        assert_eq!(service.ports[1].endpoints[0].port, 5353);
        // Without Endpoints a port has no endpoints (its traffic is rejected).
        let model = build_model(&services, &HashMap::new(), &node);
        assert!(model.services[0].ports[0].endpoints.is_empty());
    }
}
