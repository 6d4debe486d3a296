//! NetworkPolicy (networking.k8s.io/v1) for the node: the objects parsed from the JSON the
//! control plane forwards (`objects`, `selector`), and their compilation against the pods
//! and namespaces the node knows into per-pod allow rules (`compile`, `rules`). Pure: the
//! Service table's renderer (services/) puts the rules into nftables, the agent's proxy
//! feeds this module. docs/networking.md describes the data path.

mod compile;
mod objects;
mod rules;
mod selector;

#[cfg(test)]
mod tests;

pub use compile::{Cluster, compile};
pub use objects::{
    NamedPort, Peer, Policy, PolicyPod, PortRef, PortRule, Rule, parse_namespace_labels,
    parse_policy,
};
pub use rules::{Allow, IsolatedPod, PeerMatch, PolicyRules, PortMatch, contains};
pub use selector::{Labels, Selector};
