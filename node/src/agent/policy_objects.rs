//! What NetworkPolicy is enforced from on this node: the latest NetworkPolicies and
//! Namespace labels the control plane forwards, and the pods this node runs with their
//! labels, named ports and addresses (the address the agent gave the pod's sandbox, or the
//! pod's `status.podIP` until the agent has adopted it after a restart). `rules` compiles
//! them (`crate::netpol`) once both kinds have been listed.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use wisp_proto::{NetworkObjectKind, ToNode};

use crate::json;
use crate::netpol::{self, Labels, NamedPort, Policy, PolicyPod, PolicyRules};
use crate::runtime::podspec::Pod;
use crate::services::Protocol;

/// A pod this node runs, as policy sees it.
struct PodEntry {
    pod: PolicyPod,
    /// `status.podIP(s)` from the stored object.
    status_ips: Vec<IpAddr>,
    /// What the agent knows: `Some(ips)` once the sandbox was made or adopted (empty once
    /// released); None before.
    agent_ips: Option<Vec<IpAddr>>,
    /// Host-network and finished pods are not subject to (or selectable by) policies.
    excluded: bool,
}

#[derive(Default)]
pub struct PolicyObjects {
    policies: HashMap<String, Policy>,
    namespaces: HashMap<String, Labels>,
    policies_synced: bool,
    namespaces_synced: bool,
    pods: HashMap<String, PodEntry>,
}

impl PolicyObjects {
    /// Takes a NetworkPolicy or Namespace message; false for any other message.
    pub fn handle(&mut self, message: &ToNode) -> bool {
        match message {
            ToNode::NetworkObjectUpsert { kind, key, json } => self.upsert(*kind, key, json),
            ToNode::NetworkObjectRemoved { kind, key } => match kind {
                NetworkObjectKind::NetworkPolicy => drop(self.policies.remove(key)),
                NetworkObjectKind::Namespace => drop(self.namespaces.remove(key)),
            },
            ToNode::NetworkObjectsSynced { kind, keys } => self.synced(*kind, keys),
            _ => return false,
        }
        true
    }

    fn upsert(&mut self, kind: NetworkObjectKind, key: &str, json: &[u8]) {
        match kind {
            NetworkObjectKind::NetworkPolicy => match netpol::parse_policy(json) {
                Some(p) => drop(self.policies.insert(key.to_owned(), p)),
                None => {
                    // Unreadable: dropped rather than kept with stale rules (the API
                    // validated it, so this is not expected).
                    eprintln!("wisp: node: network policy {key}: not a NetworkPolicy object");
                    self.policies.remove(key);
                }
            },
            NetworkObjectKind::Namespace => match netpol::parse_namespace_labels(json) {
                Some(labels) => drop(self.namespaces.insert(key.to_owned(), labels)),
                None => drop(self.namespaces.remove(key)),
            },
        }
    }

    fn synced(&mut self, kind: NetworkObjectKind, keys: &[String]) {
        let listed: HashSet<&str> = keys.iter().map(String::as_str).collect();
        match kind {
            NetworkObjectKind::NetworkPolicy => {
                self.policies.retain(|k, _| listed.contains(k.as_str()));
                self.policies_synced = true;
            }
            NetworkObjectKind::Namespace => {
                self.namespaces.retain(|k, _| listed.contains(k.as_str()));
                self.namespaces_synced = true;
            }
        }
    }

    /// A pod bound to this node was sent (created or changed); true when what policies
    /// see of it changed.
    pub fn pod_upsert(&mut self, uid: &str, pod: &Pod, json: &[u8]) -> bool {
        let value = json::parse(&String::from_utf8_lossy(json));
        let status_ips = value.as_ref().map_or_else(Vec::new, |v| {
            let listed = json::get_array(v, &["status", "podIPs"]);
            let mut ips: Vec<IpAddr> = listed
                .iter()
                .filter_map(|i| json::get_str(i, &["ip"])?.parse().ok())
                .collect();
            if ips.is_empty() {
                ips.extend(
                    json::get_str(v, &["status", "podIP"]).and_then(|s| s.parse::<IpAddr>().ok()),
                );
            }
            ips
        });
        let phase = value
            .as_ref()
            .and_then(|v| json::get_str(v, &["status", "phase"]).map(str::to_owned));
        let finished = matches!(phase.as_deref(), Some("Succeeded" | "Failed"));
        let containers = pod.spec.init_containers.iter().chain(&pod.spec.containers);
        let ports = containers.flat_map(|c| &c.ports).filter_map(|p| {
            Some(NamedPort {
                name: p.name.clone()?,
                protocol: match p.protocol.as_str() {
                    "UDP" => Protocol::Udp,
                    "SCTP" => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
                port: u16::try_from(p.container_port).ok()?,
            })
        });
        let entry = self.pods.entry(uid.to_owned()).or_insert_with(|| PodEntry {
            pod: PolicyPod::default(),
            status_ips: Vec::new(),
            agent_ips: None,
            excluded: false,
        });
        let seen = PolicyPod {
            namespace: pod.namespace.clone(),
            name: pod.name.clone(),
            labels: pod.labels.clone(),
            ips: Vec::new(),
            ports: ports.collect(),
        };
        let excluded = pod.spec.host_network || finished;
        let changed =
            entry.pod != seen || entry.status_ips != status_ips || entry.excluded != excluded;
        entry.pod = seen;
        entry.status_ips = status_ips;
        entry.excluded = excluded;
        changed
    }

    /// The agent gave the pod's sandbox this address (None: released); true when that
    /// changed what policies see.
    pub fn pod_ip(&mut self, uid: &str, ip: Option<IpAddr>) -> bool {
        let Some(entry) = self.pods.get_mut(uid) else {
            return false;
        };
        let ips = Some(ip.into_iter().collect());
        let changed = entry.agent_ips != ips;
        entry.agent_ips = ips;
        changed
    }

    /// The pod's worker is done: it has no address any more. True when it was known.
    pub fn pod_gone(&mut self, uid: &str) -> bool {
        self.pods.remove(uid).is_some()
    }

    pub fn has_policies(&self) -> bool {
        !self.policies.is_empty()
    }

    /// Both kinds have been listed.
    pub fn ready(&self) -> bool {
        self.policies_synced && self.namespaces_synced
    }

    /// The policies compiled against the pods with addresses.
    pub fn rules(&self) -> PolicyRules {
        let mut pods: Vec<PolicyPod> = self
            .pods
            .values()
            .filter(|e| !e.excluded)
            .map(|e| PolicyPod {
                ips: e.agent_ips.clone().unwrap_or_else(|| e.status_ips.clone()),
                ..e.pod.clone()
            })
            .filter(|p| !p.ips.is_empty())
            .collect();
        // A stable order gives the same script for the same objects.
        pods.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        let mut policies: Vec<(&String, &Policy)> = self.policies.iter().collect();
        policies.sort_by_key(|(k, _)| *k);
        let policies: Vec<&Policy> = policies.into_iter().map(|(_, p)| p).collect();
        let cluster = netpol::Cluster {
            pods: &pods,
            namespaces: &self.namespaces,
        };
        netpol::compile(&policies, &cluster)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::podspec::PodSpec;

    const POD: &str = r#"{"metadata":{"name":"web","namespace":"d","uid":"u1","labels":{"app":"web"}},
        "spec":{"containers":[{"name":"c","image":"i","ports":[{"name":"http","containerPort":8080}]}]},
        "status":{"phase":"Running","podIP":"10.42.0.9"}}"#;

    fn deny_all() -> ToNode {
        ToNode::NetworkObjectUpsert {
            kind: NetworkObjectKind::NetworkPolicy,
            key: "d/deny".into(),
            json: br#"{"metadata":{"name":"deny","namespace":"d"},"spec":{"podSelector":{}}}"#
                .to_vec(),
        }
    }

    #[test]
    fn pods_use_the_status_address_until_the_agent_knows_better() {
        let mut objects = PolicyObjects::default();
        assert!(objects.handle(&deny_all()));
        assert!(!objects.ready());
        for kind in [
            NetworkObjectKind::NetworkPolicy,
            NetworkObjectKind::Namespace,
        ] {
            let keys = vec!["d/deny".to_owned()];
            objects.handle(&ToNode::NetworkObjectsSynced { kind, keys });
        }
        assert!(objects.ready());
        let pod = PodSpec::from_pod_json(POD.as_bytes()).unwrap();
        assert!(objects.pod_upsert("u1", &pod, POD.as_bytes()));
        assert!(
            !objects.pod_upsert("u1", &pod, POD.as_bytes()),
            "an unchanged pod (a status write coming back) changes nothing"
        );
        let rules = objects.rules();
        assert_eq!(
            rules.ingress[0].ips,
            vec!["10.42.0.9".parse::<IpAddr>().unwrap()]
        );
        assert!(objects.pod_ip("u1", Some("10.42.0.10".parse().unwrap())));
        assert!(!objects.pod_ip("u1", Some("10.42.0.10".parse().unwrap())));
        assert_eq!(objects.rules().ingress[0].ips[0].to_string(), "10.42.0.10");
        objects.pod_ip("u1", None);
        assert!(
            objects.rules().is_empty(),
            "a released sandbox has no address"
        );
        objects.pod_gone("u1");
        assert!(objects.pods.is_empty());
    }

    #[test]
    fn a_relisting_drops_policies_not_listed() {
        let mut objects = PolicyObjects::default();
        objects.handle(&deny_all());
        let pod = PodSpec::from_pod_json(POD.as_bytes()).unwrap();
        objects.pod_upsert("u1", &pod, POD.as_bytes());
        assert_eq!(objects.rules().ingress.len(), 1);
        objects.handle(&ToNode::NetworkObjectsSynced {
            kind: NetworkObjectKind::NetworkPolicy,
            keys: vec![],
        });
        assert!(objects.rules().is_empty());
    }
}
