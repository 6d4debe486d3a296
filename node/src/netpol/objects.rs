//! NetworkPolicy (networking.k8s.io/v1), Namespace labels and pods as the policy compiler
//! needs them: parsed from the JSON the control plane forwards, with upstream's defaults
//! (policyTypes from the rules present, protocol TCP). Nothing here decides traffic.

use std::net::IpAddr;

use miniserde::json::Value;

use super::selector::{Labels, Selector};
use crate::cni::IpNet;
use crate::json;
use crate::services::Protocol;

/// One NetworkPolicy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Policy {
    pub namespace: String,
    pub name: String,
    /// The pods of `namespace` the policy applies to.
    pub pod_selector: Selector,
    /// Whether the selected pods are isolated for ingress (`policyTypes` has Ingress).
    pub isolates_ingress: bool,
    pub isolates_egress: bool,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
}

/// One ingress (`from`) or egress (`to`) rule: traffic matching any peer on any port.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rule {
    /// Empty: every peer.
    pub peers: Vec<Peer>,
    /// Empty: every port and protocol.
    pub ports: Vec<PortRule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector`: without a namespace selector the pods are
    /// those of the policy's own namespace; without a pod selector, every pod of the
    /// selected namespaces.
    Pods {
        pods: Option<Selector>,
        namespaces: Option<Selector>,
    },
    /// `ipBlock`.
    Block { cidr: IpNet, except: Vec<IpNet> },
    /// A peer wisp cannot read (neither selectors nor a valid ipBlock): matches nothing.
    Nothing,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortRule {
    pub protocol: Protocol,
    pub port: Option<PortRef>,
    /// `endPort`: the range `port..=end_port` (numeric `port` only).
    pub end_port: Option<u16>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    /// A container port name, resolved per destination pod.
    Name(String),
}

/// A pod as NetworkPolicy sees it: where it is, its labels, its addresses and named ports.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicyPod {
    pub namespace: String,
    pub name: String,
    pub labels: Labels,
    pub ips: Vec<IpAddr>,
    pub ports: Vec<NamedPort>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedPort {
    pub name: String,
    pub protocol: Protocol,
    pub port: u16,
}

impl PolicyPod {
    /// The number of the container port named `name` with `protocol`.
    pub fn named_port(&self, name: &str, protocol: Protocol) -> Option<u16> {
        let found = self
            .ports
            .iter()
            .find(|p| p.name == name && p.protocol == protocol);
        found.map(|p| p.port)
    }
}

/// `metadata.labels` of a Namespace; None when the JSON is not an object with a name.
pub fn parse_namespace_labels(bytes: &[u8]) -> Option<Labels> {
    let v = json::parse(std::str::from_utf8(bytes).ok()?)?;
    let name = json::get_str(&v, &["metadata", "name"])?;
    let mut labels: Labels = json::string_map(&v, &["metadata", "labels"])
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    // Set by upstream's admission on every namespace; old objects may lack it.
    labels
        .entry("kubernetes.io/metadata.name".to_owned())
        .or_insert_with(|| name.to_owned());
    Some(labels)
}

/// Parses a NetworkPolicy; None when the JSON is not one.
pub fn parse_policy(bytes: &[u8]) -> Option<Policy> {
    let v = json::parse(std::str::from_utf8(bytes).ok()?)?;
    let spec = json::get(&v, &["spec"])?;
    let ingress: Vec<Rule> = json::get_array(spec, &["ingress"])
        .iter()
        .map(|r| rule(r, "from"))
        .collect();
    let egress: Vec<Rule> = json::get_array(spec, &["egress"])
        .iter()
        .map(|r| rule(r, "to"))
        .collect();
    let types: Vec<&str> = json::get_array(spec, &["policyTypes"])
        .iter()
        .filter_map(json::as_str)
        .collect();
    // Upstream's default: Ingress always, Egress when the policy has egress rules.
    let (isolates_ingress, isolates_egress) = if types.is_empty() {
        (true, !egress.is_empty())
    } else {
        (types.contains(&"Ingress"), types.contains(&"Egress"))
    };
    Some(Policy {
        namespace: json::get_str(&v, &["metadata", "namespace"])?.to_owned(),
        name: json::get_str(&v, &["metadata", "name"])?.to_owned(),
        pod_selector: json::get(spec, &["podSelector"])
            .map_or_else(Selector::default, Selector::parse),
        isolates_ingress,
        isolates_egress,
        ingress,
        egress,
    })
}

fn rule(v: &Value, peers_field: &str) -> Rule {
    Rule {
        peers: json::get_array(v, &[peers_field])
            .iter()
            .map(peer)
            .collect(),
        ports: json::get_array(v, &["ports"])
            .iter()
            .map(|p| {
                port_rule(p).unwrap_or(PortRule {
                    // An unreadable port entry must not widen the rule: a port that cannot
                    // match.
                    protocol: Protocol::Tcp,
                    port: Some(PortRef::Name(String::new())),
                    end_port: None,
                })
            })
            .collect(),
    }
}

fn peer(v: &Value) -> Peer {
    if let Some(block) = json::get(v, &["ipBlock"]) {
        let cidr = json::get_str(block, &["cidr"]).and_then(|c| c.parse::<IpNet>().ok());
        let except: Option<Vec<IpNet>> = json::get_array(block, &["except"])
            .iter()
            .map(|e| json::as_str(e)?.parse().ok())
            .collect();
        return match (cidr, except) {
            (Some(cidr), Some(except)) => Peer::Block { cidr, except },
            _ => Peer::Nothing,
        };
    }
    let pods = json::get(v, &["podSelector"]).map(Selector::parse);
    let namespaces = json::get(v, &["namespaceSelector"]).map(Selector::parse);
    if pods.is_none() && namespaces.is_none() {
        return Peer::Nothing;
    }
    Peer::Pods { pods, namespaces }
}

fn port_rule(v: &Value) -> Option<PortRule> {
    let protocol = match json::get_str(v, &["protocol"]).unwrap_or("TCP") {
        "TCP" => Protocol::Tcp,
        "UDP" => Protocol::Udp,
        "SCTP" => Protocol::Sctp,
        _ => return None,
    };
    let port = match json::get(v, &["port"]) {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(PortRef::Name(name.clone())),
        Some(_) => {
            let n = json::get_i64(v, &["port"])?;
            Some(PortRef::Number(u16::try_from(n).ok().filter(|&p| p > 0)?))
        }
    };
    let end_port = match json::get_i64(v, &["endPort"]) {
        None => None,
        Some(n) => Some(u16::try_from(n).ok()?),
    };
    Some(PortRule {
        protocol,
        port,
        end_port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_types_default_from_the_rules() {
        let ingress_only =
            br#"{"metadata":{"name":"p","namespace":"d"},"spec":{"podSelector":{}}}"#;
        let p = parse_policy(ingress_only).unwrap();
        assert!(p.isolates_ingress && !p.isolates_egress);
        assert!(p.ingress.is_empty(), "no rules: deny all ingress");
        let with_egress = br#"{"metadata":{"name":"p","namespace":"d"},
            "spec":{"podSelector":{},"egress":[{}]}}"#;
        let p = parse_policy(with_egress).unwrap();
        assert!(p.isolates_ingress && p.isolates_egress);
        assert_eq!(p.egress, vec![Rule::default()], "an empty rule allows all");
        let egress_only = br#"{"metadata":{"name":"p","namespace":"d"},
            "spec":{"podSelector":{},"policyTypes":["Egress"]}}"#;
        let p = parse_policy(egress_only).unwrap();
        assert!(!p.isolates_ingress && p.isolates_egress);
    }

    #[test]
    fn peers_and_ports() {
        let text = br#"{"metadata":{"name":"p","namespace":"d"},"spec":{"podSelector":{"matchLabels":{"app":"db"}},
            "ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"web"}}},
                                {"namespaceSelector":{},"podSelector":{}},
                                {"ipBlock":{"cidr":"10.0.0.0/8","except":["10.1.0.0/16"]}},
                                {"ipBlock":{"cidr":"nonsense"}},
                                {}],
                        "ports":[{"port":5432},{"port":"metrics","protocol":"UDP"},
                                 {"port":8000,"endPort":8080},{"protocol":"SCTP"},{"protocol":"ICMP"}]}]}}"#;
        let p = parse_policy(text).unwrap();
        let rule = &p.ingress[0];
        assert!(matches!(
            &rule.peers[0],
            Peer::Pods {
                pods: Some(_),
                namespaces: None
            }
        ));
        assert!(matches!(
            &rule.peers[1],
            Peer::Pods {
                pods: Some(_),
                namespaces: Some(_)
            }
        ));
        assert_eq!(
            rule.peers[2],
            Peer::Block {
                cidr: "10.0.0.0/8".parse().unwrap(),
                except: vec!["10.1.0.0/16".parse().unwrap()]
            }
        );
        assert_eq!(rule.peers[3], Peer::Nothing);
        assert_eq!(rule.peers[4], Peer::Nothing);
        assert_eq!(rule.ports[0].port, Some(PortRef::Number(5432)));
        assert_eq!(rule.ports[1].port, Some(PortRef::Name("metrics".into())));
        assert_eq!(rule.ports[1].protocol, Protocol::Udp);
        assert_eq!(rule.ports[2].end_port, Some(8080));
        assert_eq!(
            (rule.ports[3].protocol, &rule.ports[3].port),
            (Protocol::Sctp, &None)
        );
        // An unknown protocol becomes a port that cannot match, not "any port".
        assert_eq!(rule.ports[4].port, Some(PortRef::Name(String::new())));
    }

    #[test]
    fn namespace_labels_include_the_name_label() {
        let labels =
            parse_namespace_labels(br#"{"metadata":{"name":"team-a","labels":{"env":"dev"}}}"#)
                .unwrap();
        assert_eq!(labels.get("env").map(String::as_str), Some("dev"));
        assert_eq!(
            labels
                .get("kubernetes.io/metadata.name")
                .map(String::as_str),
            Some("team-a")
        );
    }
}
