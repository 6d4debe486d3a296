//! Renders a `ServiceModel` into one nft script that replaces table `inet wisp` in a single
//! transaction (`add table` + `delete table` + the new table), so packets see either the old
//! or the new rules, never a half-written set.
//!
//! Layout: verdict maps from (address, protocol, port) and (protocol, node port) to one
//! dispatch chain per Service port and family (`svc4/...` for ClusterIPs, `ext4/...` for
//! node ports, external and load-balancer IPs); dispatch picks an endpoint chain with
//! `numgen random` (or a session-affinity set), and the endpoint chain DNATs. Ports without
//! usable endpoints land in sets whose traffic is rejected.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::net::IpAddr;

use super::model::{Endpoint, Service, ServiceModel, ServicePort};

/// The nftables table wisp owns by default (`network.nftTable` names another, so that
/// several wisps on one host, such as parallel tests, keep their own rules).
pub const TABLE: &str = "inet wisp";

/// The default name of the table (in family `inet`).
pub const DEFAULT_TABLE_NAME: &str = "wisp";

/// Whether `name` can name an nftables table in a script (nft's identifier syntax, kept to
/// the safe subset).
pub fn valid_table_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// The packet mark that asks postrouting to masquerade (kube-proxy's bit).
const MARK_MASQ: &str = "meta mark set meta mark | 0x4000";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    V4,
    V6,
}

impl Family {
    fn of(ip: &IpAddr) -> Self {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }

    fn index(self) -> usize {
        self as usize
    }

    fn tag(self) -> &'static str {
        ["4", "6"][self.index()]
    }

    /// The payload keyword: `ip` or `ip6`.
    fn kw(self) -> &'static str {
        ["ip", "ip6"][self.index()]
    }

    fn addr_type(self) -> &'static str {
        ["ipv4_addr", "ipv6_addr"][self.index()]
    }

    fn loopback(self) -> &'static str {
        ["127.0.0.0/8", "::1"][self.index()]
    }
}

/// Map and set elements of one family.
#[derive(Default)]
struct FamilyElements {
    service_ips: Vec<String>,
    node_ports: Vec<String>,
    no_endpoints: Vec<String>,
    no_endpoint_node_ports: Vec<String>,
    /// Keys already used: a duplicate would make nft refuse the whole script.
    keys: HashSet<String>,
}

#[derive(Default)]
struct Script {
    families: [FamilyElements; 2],
    sets: String,
    chains: String,
    /// NetworkPolicy maps and chains.
    policy: String,
}

/// The complete script for `nft -f -` for table `inet wisp`.
pub fn render(model: &ServiceModel) -> String {
    render_table(model, DEFAULT_TABLE_NAME)
}

/// The complete script for table `inet <table_name>` (a [`valid_table_name`]).
pub fn render_table(model: &ServiceModel, table_name: &str) -> String {
    let mut script = Script::default();
    for service in &model.services {
        for port in &service.ports {
            for family in [Family::V4, Family::V6] {
                PortRules::new(model, service, port, family).add_to(&mut script);
            }
        }
    }
    script.policy = super::policy_chains::render(&model.policy);
    script.finish(&format!("inet {table_name}"))
}

/// The script that removes table `inet <table_name>` (and succeeds when it is absent).
pub fn render_removal(table_name: &str) -> String {
    format!("add table inet {table_name}\ndelete table inet {table_name}\n")
}

/// The rules of one Service port for one address family.
struct PortRules<'a> {
    model: &'a ServiceModel,
    service: &'a Service,
    port: &'a ServicePort,
    family: Family,
    /// `<namespace>/<name>/<protocol>/<port>`, the common part of chain and set names.
    base: String,
    endpoints: Vec<&'a Endpoint>,
}

impl<'a> PortRules<'a> {
    fn new(
        model: &'a ServiceModel,
        service: &'a Service,
        port: &'a ServicePort,
        family: Family,
    ) -> Self {
        let base = format!(
            "{}/{}/{}/{}",
            identifier(&service.namespace),
            identifier(&service.name),
            port.protocol,
            port.port
        );
        let endpoints = port
            .endpoints
            .iter()
            .filter(|e| Family::of(&e.ip) == family)
            .collect();
        PortRules {
            model,
            service,
            port,
            family,
            base,
            endpoints,
        }
    }

    fn add_to(&self, script: &mut Script) {
        let cluster_ips = self.addresses(&self.service.cluster_ips);
        let mut external_ips = self.addresses(&self.service.external_ips);
        external_ips.extend(self.addresses(&self.service.load_balancer_ips));
        // Node ports follow the Service's families, which its cluster IPs name.
        let node_port = self.port.node_port.filter(|_| !cluster_ips.is_empty());
        if cluster_ips.is_empty() && external_ips.is_empty() {
            return;
        }
        self.add_endpoint_chains(script);
        let internal = self.usable(self.service.internal_traffic_local);
        if !cluster_ips.is_empty() {
            let chain = format!("svc{}/{}", self.family.tag(), self.base);
            self.add_keys(script, &cluster_ips, None, &chain, internal.is_empty());
            if !internal.is_empty() {
                let masq = self.outside_cluster_rule();
                script
                    .chains
                    .push_str(&self.dispatch_chain(&chain, masq, &internal));
            }
        }
        if external_ips.is_empty() && node_port.is_none() {
            return;
        }
        let external = self.usable(self.service.external_traffic_local);
        let chain = format!("ext{}/{}", self.family.tag(), self.base);
        self.add_keys(
            script,
            &external_ips,
            node_port,
            &chain,
            external.is_empty(),
        );
        if !external.is_empty() {
            // Cluster policy may send the packet to any endpoint, so the reply must come
            // back through this node; Local keeps the client's address.
            let masq = (!self.service.external_traffic_local).then(|| MARK_MASQ.to_owned());
            script
                .chains
                .push_str(&self.dispatch_chain(&chain, masq, &external));
        }
    }

    fn addresses(&self, ips: &[IpAddr]) -> Vec<IpAddr> {
        ips.iter()
            .copied()
            .filter(|ip| Family::of(ip) == self.family)
            .collect()
    }

    /// Indices of the endpoints a policy allows (`local`: node-local ones only).
    fn usable(&self, local: bool) -> Vec<usize> {
        let allowed = self
            .endpoints
            .iter()
            .enumerate()
            .filter(|(_, e)| !local || e.node_local);
        allowed.map(|(i, _)| i).collect()
    }

    /// Map elements sending the addresses (and node port) to `chain`, or reject-set
    /// elements when no endpoint may serve them.
    fn add_keys(
        &self,
        script: &mut Script,
        ips: &[IpAddr],
        node_port: Option<u16>,
        chain: &str,
        reject: bool,
    ) {
        let elements = &mut script.families[self.family.index()];
        let proto = self.port.protocol;
        for ip in ips {
            let key = format!("{ip} . {proto} . {}", self.port.port);
            if elements.keys.insert(key.clone()) {
                let target = if reject {
                    &mut elements.no_endpoints
                } else {
                    &mut elements.service_ips
                };
                target.push(if reject {
                    key
                } else {
                    format!("{key} : goto {chain}")
                });
            }
        }
        if let Some(node_port) = node_port {
            let key = format!("{proto} . {node_port}");
            if elements.keys.insert(key.clone()) {
                let target = if reject {
                    &mut elements.no_endpoint_node_ports
                } else {
                    &mut elements.node_ports
                };
                target.push(if reject {
                    key
                } else {
                    format!("{key} : goto {chain}")
                });
            }
        }
    }

    /// Traffic to a ClusterIP from outside the pod network is masqueraded so the reply
    /// returns through this node.
    fn outside_cluster_rule(&self) -> Option<String> {
        let cidrs = self
            .model
            .cluster_cidrs
            .iter()
            .filter(|c| Family::of(&c.addr) == self.family);
        let cidrs: Vec<String> = cidrs.map(|c| c.network().to_string()).collect();
        if cidrs.is_empty() {
            return None;
        }
        Some(format!(
            "{} saddr != {{ {} }} {MARK_MASQ}",
            self.family.kw(),
            cidrs.join(", ")
        ))
    }

    fn dispatch_chain(&self, name: &str, first: Option<String>, targets: &[usize]) -> String {
        let tag = self.family.tag();
        let endpoint = |i: &usize| format!("ep{tag}/{}/{i}", self.base);
        let mut rules: Vec<String> = first.into_iter().collect();
        if self.service.session_affinity_seconds.is_some() {
            for i in targets {
                let set = format!("aff{tag}/{}/{i}", self.base);
                rules.push(format!(
                    "{} saddr @{set} goto {}",
                    self.family.kw(),
                    endpoint(i)
                ));
            }
        }
        if let [only] = targets {
            rules.push(format!("goto {}", endpoint(only)));
        } else {
            let arms: Vec<String> = targets
                .iter()
                .enumerate()
                .map(|(k, i)| format!("{k} : goto {}", endpoint(i)))
                .collect();
            rules.push(format!(
                "numgen random mod {} vmap {{ {} }}",
                targets.len(),
                arms.join(", ")
            ));
        }
        chain_block(name, &rules)
    }

    fn add_endpoint_chains(&self, script: &mut Script) {
        let (tag, kw) = (self.family.tag(), self.family.kw());
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            // A pod reaching itself through the Service (hairpin) must be masqueraded, or
            // it would answer itself from its own address and drop the reply.
            let mut rules = vec![format!("{kw} saddr {} {MARK_MASQ}", endpoint.ip)];
            if let Some(timeout) = self.service.session_affinity_seconds {
                let set = format!("aff{tag}/{}/{i}", self.base);
                rules.push(format!("update @{set} {{ {kw} saddr }}"));
                let _ = write!(
                    script.sets,
                    "  set {set} {{\n    type {}\n    flags dynamic,timeout\n    timeout {timeout}s\n  }}\n",
                    self.family.addr_type()
                );
            }
            let target = match endpoint.ip {
                IpAddr::V4(ip) => format!("{ip}:{}", endpoint.port),
                IpAddr::V6(ip) => format!("[{ip}]:{}", endpoint.port),
            };
            rules.push(format!(
                "meta l4proto {} dnat {kw} to {target}",
                self.port.protocol
            ));
            script
                .chains
                .push_str(&chain_block(&format!("ep{tag}/{}/{i}", self.base), &rules));
        }
    }
}

impl Script {
    fn finish(self, table: &str) -> String {
        let mut out = format!("add table {table}\ndelete table {table}\ntable {table} {{\n");
        for family in [Family::V4, Family::V6] {
            let elements = &self.families[family.index()];
            let (tag, addr) = (family.tag(), family.addr_type());
            let ip_key = format!("{addr} . inet_proto . inet_service");
            out.push_str(&collection(
                "map",
                &format!("service_ips{tag}"),
                &format!("{ip_key} : verdict"),
                &elements.service_ips,
            ));
            out.push_str(&collection(
                "map",
                &format!("node_ports{tag}"),
                "inet_proto . inet_service : verdict",
                &elements.node_ports,
            ));
            out.push_str(&collection(
                "set",
                &format!("no_endpoints{tag}"),
                &ip_key,
                &elements.no_endpoints,
            ));
            out.push_str(&collection(
                "set",
                &format!("no_endpoint_node_ports{tag}"),
                "inet_proto . inet_service",
                &elements.no_endpoint_node_ports,
            ));
        }
        out.push_str(&self.sets);
        out.push_str(&base_chains());
        out.push_str(&self.chains);
        out.push_str(&self.policy);
        out.push_str("}\n");
        out
    }
}

/// The hooked chains and the two lookup chains every table has.
fn base_chains() -> String {
    let mut out = String::new();
    for (name, hook) in [("nat_prerouting", "prerouting"), ("nat_output", "output")] {
        let rules = [
            format!("type nat hook {hook} priority -100; policy accept;"),
            "jump services".to_owned(),
        ];
        out.push_str(&chain_block(name, &rules));
    }
    let masquerade = [
        "type nat hook postrouting priority 100; policy accept;",
        "meta mark & 0x4000 == 0x4000 masquerade",
    ];
    out.push_str(&chain_block(
        "nat_postrouting",
        &masquerade.map(str::to_owned),
    ));
    for hook in ["input", "forward", "output"] {
        let rules = [
            format!("type filter hook {hook} priority -10; policy accept;"),
            "ct state new jump no_endpoints".to_owned(),
        ];
        out.push_str(&chain_block(&format!("filter_{hook}"), &rules));
    }
    let mut services = Vec::new();
    let mut rejects = Vec::new();
    for family in [Family::V4, Family::V6] {
        let (tag, kw, lo) = (family.tag(), family.kw(), family.loopback());
        let node_local = format!("{kw} daddr != {lo} fib daddr type local meta l4proto . th dport");
        services.push(format!(
            "{kw} daddr . meta l4proto . th dport vmap @service_ips{tag}"
        ));
        services.push(format!("{node_local} vmap @node_ports{tag}"));
        rejects.push(format!(
            "{kw} daddr . meta l4proto . th dport @no_endpoints{tag} reject"
        ));
        rejects.push(format!("{node_local} @no_endpoint_node_ports{tag} reject"));
    }
    out.push_str(&chain_block("services", &services));
    out.push_str(&chain_block("no_endpoints", &rejects));
    out
}

fn collection(kind: &str, name: &str, key_type: &str, elements: &[String]) -> String {
    let mut out = format!("  {kind} {name} {{\n    type {key_type}\n");
    if !elements.is_empty() {
        let _ = writeln!(
            out,
            "    elements = {{\n      {}\n    }}",
            elements.join(",\n      ")
        );
    }
    out.push_str("  }\n");
    out
}

fn chain_block(name: &str, rules: &[String]) -> String {
    let mut out = format!("  chain {name} {{\n");
    for rule in rules {
        let _ = writeln!(out, "    {rule}");
    }
    out.push_str("  }\n");
    out
}

/// Kubernetes names are DNS labels already; anything else is replaced so a malformed name
/// cannot break the script's syntax.
fn identifier(name: &str) -> String {
    let clean = |c: char| {
        if c.is_ascii_alphanumeric() || c == '-' {
            c
        } else {
            '_'
        }
    };
    name.chars().map(clean).collect()
}
