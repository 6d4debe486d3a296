//! Printers for networking kinds: Service, Endpoints, EndpointSlice, Ingress, IngressClass
//! and NetworkPolicy.

use miniserde::json::Value;

use super::cells::{age, format_labels, format_selector, join_limited, name, object_at, str_or};
use super::{AGE, Column, NAME, Printer, col, wide};
use crate::registry::json::{arr_at, int_at, path, s, str_at};

const SERVICE: &[Column] = &[
    NAME,
    col("Type", "string"),
    col("Cluster-IP", "string"),
    col("External-IP", "string"),
    col("Port(s)", "string"),
    AGE,
    wide("Selector", "string"),
];

fn strings(value: &Value, keys: &[&str]) -> Vec<String> {
    arr_at(value, keys)
        .iter()
        .filter_map(|v| match v {
            Value::String(text) => Some(text.clone()),
            _ => None,
        })
        .collect()
}

/// `ip` or `hostname` of each load-balancer ingress point.
fn load_balancer_points(object: &Value) -> Vec<String> {
    arr_at(object, &["status", "loadBalancer", "ingress"])
        .iter()
        .filter_map(|i| {
            let ip = str_or(i, &["ip"], "");
            let host = str_or(i, &["hostname"], "");
            let point = if ip.is_empty() { host } else { ip };
            (!point.is_empty()).then(|| point.to_string())
        })
        .collect()
}

fn external_ip(svc: &Value) -> String {
    let external = strings(svc, &["spec", "externalIPs"]);
    match str_or(svc, &["spec", "type"], "ClusterIP") {
        "ClusterIP" | "NodePort" if external.is_empty() => "<none>".into(),
        "ClusterIP" | "NodePort" => external.join(","),
        "LoadBalancer" => {
            let mut points = load_balancer_points(svc);
            points.extend(external);
            if points.is_empty() {
                "<pending>".into()
            } else {
                points.join(",")
            }
        }
        "ExternalName" => str_or(svc, &["spec", "externalName"], "").to_string(),
        _ => "<unknown>".into(),
    }
}

/// `80/TCP`, `80:30080/TCP`, joined by commas (upstream's makePortString).
pub fn service_ports(svc: &Value) -> String {
    let ports: Vec<String> = arr_at(svc, &["spec", "ports"])
        .iter()
        .map(|p| {
            let port = int_at(p, &["port"]).unwrap_or(0);
            let protocol = str_or(p, &["protocol"], "TCP");
            match int_at(p, &["nodePort"]).filter(|n| *n > 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".into()
    } else {
        ports.join(",")
    }
}

fn service(svc: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(svc)),
        s(str_or(svc, &["spec", "type"], "ClusterIP")),
        s(str_or(svc, &["spec", "clusterIP"], "<none>")),
        s(&external_ip(svc)),
        s(&service_ports(svc)),
        age(svc, now),
        s(&format_labels(object_at(svc, &["spec", "selector"]))),
    ]
}

const ENDPOINTS: &[Column] = &[NAME, col("Endpoints", "string"), AGE];

/// `ip:port` per address and port, three at most then ` + N more...`.
fn format_endpoints(ep: &Value) -> String {
    let mut list = Vec::new();
    for subset in arr_at(ep, &["subsets"]) {
        let ips: Vec<&str> = arr_at(subset, &["addresses"])
            .iter()
            .filter_map(|a| str_at(a, &["ip"]))
            .collect();
        let ports = arr_at(subset, &["ports"]);
        if ports.is_empty() {
            list.extend(ips.iter().map(|ip| ip.to_string()));
            continue;
        }
        for port in ports {
            let number = int_at(port, &["port"]).unwrap_or(0);
            for ip in &ips {
                list.push(join_host_port(ip, number));
            }
        }
    }
    if arr_at(ep, &["subsets"]).is_empty() {
        "<none>".into()
    } else {
        join_limited(&list, 3, ",")
    }
}

fn join_host_port(ip: &str, port: i64) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn endpoints(ep: &Value, now: i64) -> Vec<Value> {
    vec![s(name(ep)), s(&format_endpoints(ep)), age(ep, now)]
}

const ENDPOINT_SLICE: &[Column] = &[
    NAME,
    col("AddressType", "string"),
    col("Ports", "string"),
    col("Endpoints", "string"),
    AGE,
];

fn endpoint_slice(slice: &Value, now: i64) -> Vec<Value> {
    let ports: Vec<String> = arr_at(slice, &["ports"])
        .iter()
        .map(|p| match (int_at(p, &["port"]), str_at(p, &["name"])) {
            (Some(port), _) => port.to_string(),
            (None, Some(name)) => name.to_string(),
            (None, None) => "*".to_string(),
        })
        .collect();
    let ports = if ports.is_empty() {
        "<unset>".to_string()
    } else {
        join_limited(&ports, 3, ",")
    };
    let addresses: Vec<String> = arr_at(slice, &["endpoints"])
        .iter()
        .flat_map(|e| strings(e, &["addresses"]))
        .collect();
    let addresses = if addresses.is_empty() {
        "<unset>".into()
    } else {
        join_limited(&addresses, 3, ",")
    };
    vec![
        s(name(slice)),
        s(str_or(slice, &["addressType"], "")),
        s(&ports),
        s(&addresses),
        age(slice, now),
    ]
}

const INGRESS: &[Column] = &[
    NAME,
    col("Class", "string"),
    col("Hosts", "string"),
    col("Address", "string"),
    col("Ports", "string"),
    AGE,
];

fn ingress(ing: &Value, now: i64) -> Vec<Value> {
    let hosts = ingress_hosts(arr_at(ing, &["spec", "rules"]));
    let ports = if arr_at(ing, &["spec", "tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    vec![
        s(name(ing)),
        s(str_or(ing, &["spec", "ingressClassName"], "<none>")),
        s(&hosts),
        s(&load_balancer_points(ing).join(",")),
        s(ports),
        age(ing, now),
    ]
}

/// Up to three rule hosts then ` + N more...` (N counted over all rules, as upstream's
/// formatHosts does); `*` when no rule names a host.
fn ingress_hosts(rules: &[Value]) -> String {
    let mut hosts: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if hosts.len() == 3 {
            more = true;
            break;
        }
        match str_at(rule, &["host"]) {
            Some(host) if !host.is_empty() => hosts.push(host),
            _ => {}
        }
    }
    if hosts.is_empty() {
        return "*".into();
    }
    let joined = hosts.join(",");
    if more {
        format!("{joined} + {} more...", rules.len().saturating_sub(3))
    } else {
        joined
    }
}

const INGRESS_CLASS: &[Column] = &[
    NAME,
    col("Controller", "string"),
    col("Parameters", "string"),
    AGE,
];

fn ingress_class(class: &Value, now: i64) -> Vec<Value> {
    let parameters = match path(class, &["spec", "parameters"]) {
        Some(p @ Value::Object(_)) => {
            let kind = str_or(p, &["kind"], "");
            let pname = str_or(p, &["name"], "");
            match str_at(p, &["apiGroup"]).filter(|g| !g.is_empty()) {
                Some(group) => format!("{kind}.{group}/{pname}"),
                None => format!("{kind}/{pname}"),
            }
        }
        _ => "<none>".into(),
    };
    vec![
        s(name(class)),
        s(str_or(class, &["spec", "controller"], "")),
        s(&parameters),
        age(class, now),
    ]
}

const NETWORK_POLICY: &[Column] = &[NAME, col("Pod-Selector", "string"), AGE];

fn network_policy(np: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(np)),
        s(&format_selector(path(np, &["spec", "podSelector"]))),
        age(np, now),
    ]
}

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "",
        kind: "Service",
        columns: SERVICE,
        cells: service,
    },
    Printer {
        group: "",
        kind: "Endpoints",
        columns: ENDPOINTS,
        cells: endpoints,
    },
    Printer {
        group: "discovery.k8s.io",
        kind: "EndpointSlice",
        columns: ENDPOINT_SLICE,
        cells: endpoint_slice,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "Ingress",
        columns: INGRESS,
        cells: ingress,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "IngressClass",
        columns: INGRESS_CLASS,
        cells: ingress_class,
    },
    Printer {
        group: "networking.k8s.io",
        kind: "NetworkPolicy",
        columns: NETWORK_POLICY,
        cells: network_policy,
    },
];
