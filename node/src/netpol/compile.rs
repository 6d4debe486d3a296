//! NetworkPolicy semantics (upstream's): a pod selected by any policy of a type is
//! isolated for that type, and a connection passes when any of those policies allows it,
//! both at the sender (egress) and at the receiver (ingress). This module resolves the
//! selectors and named ports against the pods and namespaces the node knows and produces
//! [`PolicyRules`]; replies and host traffic are the renderer's business.

use std::collections::HashMap;

use super::objects::{Peer, Policy, PolicyPod, PortRef, PortRule, Rule};
use super::rules::{Allow, IsolatedPod, PeerMatch, PolicyRules, PortMatch};
use super::selector::Labels;

/// Which side of a connection a rule is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Direction {
    Ingress,
    Egress,
}

/// The pods and namespaces policies are resolved against.
pub struct Cluster<'a> {
    /// Pods with at least one address (host-network pods are left out: policies do not
    /// apply to them).
    pub pods: &'a [PolicyPod],
    /// Namespace name -> labels.
    pub namespaces: &'a HashMap<String, Labels>,
}

/// Compiles every policy against the cluster; pods appear in `pods`' order.
pub fn compile(policies: &[&Policy], cluster: &Cluster<'_>) -> PolicyRules {
    let mut rules = PolicyRules::default();
    for pod in cluster.pods.iter().filter(|p| !p.ips.is_empty()) {
        let selecting = policies
            .iter()
            .filter(|p| p.namespace == pod.namespace && p.pod_selector.matches(&pod.labels));
        let (mut ingress, mut egress) = (None::<Vec<Allow>>, None::<Vec<Allow>>);
        for policy in selecting {
            if policy.isolates_ingress {
                let allow = ingress.get_or_insert_with(Vec::new);
                for rule in &policy.ingress {
                    allow.extend(rule_allows(rule, policy, pod, Direction::Ingress, cluster));
                }
            }
            if policy.isolates_egress {
                let allow = egress.get_or_insert_with(Vec::new);
                for rule in &policy.egress {
                    allow.extend(rule_allows(rule, policy, pod, Direction::Egress, cluster));
                }
            }
        }
        let isolated = |mut allow: Vec<Allow>| {
            // Upstream's exception: a pod cannot block traffic to itself (such as through
            // its own Service, which the hairpin sends through the forward hook).
            let own = Allow {
                peer: PeerMatch::Addresses(pod.ips.clone()),
                ports: PortMatch::Any,
            };
            allow.insert(0, own);
            IsolatedPod {
                key: format!("{}/{}", pod.namespace, pod.name),
                ips: pod.ips.clone(),
                allow: dedup(allow),
            }
        };
        rules.ingress.extend(ingress.map(isolated));
        rules.egress.extend(egress.map(isolated));
    }
    rules
}

fn dedup(allow: Vec<Allow>) -> Vec<Allow> {
    let mut out: Vec<Allow> = Vec::with_capacity(allow.len());
    for a in allow {
        if !out.contains(&a) {
            out.push(a);
        }
    }
    out
}

/// One rule: every peer times every port entry.
fn rule_allows(
    rule: &Rule,
    policy: &Policy,
    pod: &PolicyPod,
    direction: Direction,
    cluster: &Cluster<'_>,
) -> Vec<Allow> {
    let peers: Vec<PeerMatch> = if rule.peers.is_empty() {
        vec![PeerMatch::Any]
    } else {
        let matched = rule
            .peers
            .iter()
            .filter_map(|p| peer_match(p, policy, cluster));
        matched.collect()
    };
    let ports: Vec<PortMatch> = if rule.ports.is_empty() {
        vec![PortMatch::Any]
    } else {
        let matched = rule
            .ports
            .iter()
            .filter_map(|p| port_match(p, pod, direction, cluster));
        matched.collect()
    };
    let mut out = Vec::with_capacity(peers.len() * ports.len());
    for peer in &peers {
        for ports in &ports {
            out.push(Allow {
                peer: peer.clone(),
                ports: ports.clone(),
            });
        }
    }
    out
}

/// The addresses or block a peer names; None when it can match nothing.
fn peer_match(peer: &Peer, policy: &Policy, cluster: &Cluster<'_>) -> Option<PeerMatch> {
    match peer {
        Peer::Nothing => None,
        Peer::Block { cidr, except } => Some(PeerMatch::Block {
            cidr: *cidr,
            except: except.clone(),
        }),
        Peer::Pods { pods, namespaces } => {
            let in_namespace = |pod: &PolicyPod| match namespaces {
                None => pod.namespace == policy.namespace,
                Some(selector) => match cluster.namespaces.get(&pod.namespace) {
                    Some(labels) => selector.matches(labels),
                    None => selector.matches(&name_label(&pod.namespace)),
                },
            };
            let selected = cluster.pods.iter().filter(|pod| {
                in_namespace(pod) && pods.as_ref().is_none_or(|s| s.matches(&pod.labels))
            });
            let mut ips: Vec<_> = selected.flat_map(|p| p.ips.iter().copied()).collect();
            ips.sort();
            ips.dedup();
            (!ips.is_empty()).then_some(PeerMatch::Addresses(ips))
        }
    }
}

/// The labels every namespace has even before wisp has seen its object.
fn name_label(namespace: &str) -> Labels {
    Labels::from([(
        "kubernetes.io/metadata.name".to_owned(),
        namespace.to_owned(),
    )])
}

/// A port entry; named ports resolve against the receiving pod (ingress) or every pod that
/// could receive (egress). None when it can match nothing.
fn port_match(
    rule: &PortRule,
    pod: &PolicyPod,
    direction: Direction,
    cluster: &Cluster<'_>,
) -> Option<PortMatch> {
    let protocol = rule.protocol;
    match &rule.port {
        None => Some(PortMatch::Protocol(protocol)),
        Some(PortRef::Number(first)) => {
            let last = rule.end_port.unwrap_or(*first);
            (last >= *first).then_some(PortMatch::Range(protocol, *first, last))
        }
        Some(PortRef::Name(name)) => match direction {
            Direction::Ingress => {
                let port = pod.named_port(name, protocol)?;
                Some(PortMatch::Range(protocol, port, port))
            }
            Direction::Egress => {
                let mut pairs: Vec<_> = cluster
                    .pods
                    .iter()
                    .filter_map(|p| Some((p, p.named_port(name, protocol)?)))
                    .flat_map(|(p, port)| p.ips.iter().map(move |ip| (*ip, port)))
                    .collect();
                pairs.sort();
                pairs.dedup();
                (!pairs.is_empty()).then_some(PortMatch::Destinations(protocol, pairs))
            }
        },
    }
}
