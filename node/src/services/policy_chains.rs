//! NetworkPolicy in the Service table: a `forward` filter chain that lets replies of
//! accepted connections pass (conntrack), then sends a new connection through the egress
//! chain of its source pod and the ingress chain of its destination pod (verdict maps
//! keyed by pod address). Each pod chain returns on an allowed packet and drops the rest.
//!
//! Only forwarded packets are filtered: traffic from the host to its pods (the kubelet's
//! probes) and from pods to the host (cluster DNS on the host's `lo`, the API server)
//! passes, as upstream requires. Pod-to-pod traffic on one bridge reaches the forward hook
//! through br_netfilter (the agent turns on `bridge-nf-call-iptables`); Service traffic is
//! routed and filtered after its DNAT, on the endpoint's address and target port.

use crate::netpol::{Allow, IsolatedPod, PeerMatch, PolicyRules, PortMatch};
use std::fmt::Write as _;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn tag(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }

    /// The packet field holding the pod's own address, and the peer's.
    fn own_and_peer(self) -> (&'static str, &'static str) {
        match self {
            Direction::Ingress => ("daddr", "saddr"),
            Direction::Egress => ("saddr", "daddr"),
        }
    }
}

/// The maps, the hooked chain and one chain per isolated pod and direction; empty when no
/// pod is isolated.
pub fn render(rules: &PolicyRules) -> String {
    if rules.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let mut chains = String::new();
    for (direction, pods) in [
        (Direction::Egress, &rules.egress),
        (Direction::Ingress, &rules.ingress),
    ] {
        let mut elements: [Vec<String>; 2] = [Vec::new(), Vec::new()];
        // Two pods claiming one address (a stale status address meeting its new owner)
        // would make nft refuse the whole script: the first keeps it.
        let mut used = std::collections::HashSet::new();
        for (i, pod) in pods.iter().enumerate() {
            let chain = format!("policy_{}/{}/{i}", direction.tag(), chain_name(&pod.key));
            for ip in pod.ips.iter().filter(|ip| used.insert(**ip)) {
                elements[usize::from(ip.is_ipv6())].push(format!("{ip} : jump {chain}"));
            }
            chains.push_str(&pod_chain(&chain, pod, direction));
        }
        for (family, (addr, tag)) in [("ipv4_addr", "4"), ("ipv6_addr", "6")].iter().enumerate() {
            let _ = write!(
                out,
                "  map policy_{}{tag} {{\n    type {addr} : verdict\n",
                direction.tag()
            );
            if !elements[family].is_empty() {
                let _ = writeln!(
                    out,
                    "    elements = {{\n      {}\n    }}",
                    elements[family].join(",\n      ")
                );
            }
            out.push_str("  }\n");
        }
    }
    out.push_str(
        "  chain policy_forward {\n    type filter hook forward priority 0; policy accept;\n    ct state established,related accept\n",
    );
    for direction in [Direction::Egress, Direction::Ingress] {
        let own = direction.own_and_peer().0;
        let tag = direction.tag();
        let _ = writeln!(out, "    ip {own} vmap @policy_{tag}4");
        let _ = writeln!(out, "    ip6 {own} vmap @policy_{tag}6");
    }
    out.push_str("  }\n");
    out.push_str(&chains);
    out
}

fn pod_chain(name: &str, pod: &IsolatedPod, direction: Direction) -> String {
    let mut out = format!("  chain {name} {{\n");
    for allow in &pod.allow {
        for rule in allow_rules(allow, direction) {
            let _ = writeln!(out, "    {rule}return");
        }
    }
    out.push_str("    drop\n  }\n");
    out
}

/// The rules (each ending in a space, or empty for "everything") matching an `Allow`, one
/// per address family it can match.
fn allow_rules(allow: &Allow, direction: Direction) -> Vec<String> {
    let peer_field = direction.own_and_peer().1;
    let mut out = Vec::new();
    for v6 in [false, true] {
        let Some(peer) = peer_expr(&allow.peer, peer_field, v6) else {
            continue;
        };
        let Some(ports) = ports_expr(&allow.ports, v6) else {
            continue;
        };
        out.push(format!("{peer}{ports}"));
    }
    out
}

/// The peer match for one family: None when the peer has no address of it.
fn peer_expr(peer: &PeerMatch, field: &str, v6: bool) -> Option<String> {
    let family = if v6 { "ip6" } else { "ip" };
    match peer {
        PeerMatch::Any => Some(String::new()),
        PeerMatch::Addresses(ips) => {
            let mine: Vec<String> = ips
                .iter()
                .filter(|ip| ip.is_ipv6() == v6)
                .map(ToString::to_string)
                .collect();
            (!mine.is_empty()).then(|| format!("{family} {field} {{ {} }} ", mine.join(", ")))
        }
        PeerMatch::Block { cidr, except } => {
            if cidr.addr.is_ipv6() != v6 {
                return None;
            }
            let mut expr = format!("{family} {field} {} ", cidr.network());
            let except: Vec<String> = except
                .iter()
                .filter(|e| e.addr.is_ipv6() == v6)
                .map(|e| e.network().to_string())
                .collect();
            if !except.is_empty() {
                let _ = write!(expr, "{family} {field} != {{ {} }} ", except.join(", "));
            }
            Some(expr)
        }
    }
}

/// The port match for one family: None when it cannot match in that family.
fn ports_expr(ports: &PortMatch, v6: bool) -> Option<String> {
    match ports {
        PortMatch::Any => Some(String::new()),
        PortMatch::Protocol(p) => Some(format!("meta l4proto {p} ")),
        PortMatch::Range(p, first, last) if first == last => {
            Some(format!("meta l4proto {p} th dport {first} "))
        }
        PortMatch::Range(p, first, last) => {
            Some(format!("meta l4proto {p} th dport {first}-{last} "))
        }
        PortMatch::Destinations(p, pairs) => {
            let mine: Vec<String> = pairs
                .iter()
                .filter(|(ip, _)| ip.is_ipv6() == v6)
                .map(|(ip, port)| format!("{ip} . {port}"))
                .collect();
            let family = if v6 { "ip6" } else { "ip" };
            (!mine.is_empty()).then(|| {
                format!(
                    "meta l4proto {p} {family} daddr . th dport {{ {} }} ",
                    mine.join(", ")
                )
            })
        }
    }
}

/// Pod keys are `<namespace>/<name>` of DNS labels; anything else is replaced so a
/// malformed name cannot break the script. The index in the chain name keeps them unique.
fn chain_name(key: &str) -> String {
    let clean = |c: char| {
        if c.is_ascii_alphanumeric() || c == '-' || c == '/' {
            c
        } else {
            '_'
        }
    };
    key.chars().map(clean).collect()
}
