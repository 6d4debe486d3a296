//! The compiler against upstream's semantics written out directly: hand-picked cases for
//! each feature, then many generated policy sets where the compiled rules (evaluated as the
//! nftables chains decide) must agree with the reference on every pod pair and port.

use std::collections::HashMap;
use std::net::IpAddr;

use super::*;
use crate::services::Protocol;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pod(ns: &str, name: &str, addr: &str, labels: &[(&str, &str)]) -> PolicyPod {
    PolicyPod {
        namespace: ns.to_owned(),
        name: name.to_owned(),
        labels: labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ips: vec![ip(addr)],
        ports: vec![NamedPort {
            name: "http".to_owned(),
            protocol: Protocol::Tcp,
            port: 8080,
        }],
    }
}

fn policy(ns: &str, spec: &str) -> Policy {
    let text = format!(r#"{{"metadata":{{"name":"p","namespace":"{ns}"}},"spec":{spec}}}"#);
    parse_policy(text.as_bytes()).unwrap_or_else(|| panic!("{text}"))
}

// ---- the reference: upstream's rules read straight from the objects ----

/// A connection end: a pod (index into the pods) or an address outside the cluster.
#[derive(Clone, Copy, Debug)]
enum End {
    Pod(usize),
    Outside(IpAddr),
}

struct World {
    pods: Vec<PolicyPod>,
    namespaces: HashMap<String, Labels>,
    policies: Vec<Policy>,
}

impl World {
    fn ip(&self, end: End) -> IpAddr {
        match end {
            End::Pod(i) => self.pods[i].ips[0],
            End::Outside(ip) => ip,
        }
    }

    fn ns_labels(&self, ns: &str) -> Labels {
        self.namespaces.get(ns).cloned().unwrap_or_else(|| {
            Labels::from([("kubernetes.io/metadata.name".to_owned(), ns.to_owned())])
        })
    }

    fn peer_is(&self, peer: &Peer, policy: &Policy, end: End) -> bool {
        match (peer, end) {
            (Peer::Nothing, _) => false,
            (Peer::Block { cidr, except }, e) => {
                let a = self.ip(e);
                contains(cidr, &a) && !except.iter().any(|x| contains(x, &a))
            }
            (Peer::Pods { .. }, End::Outside(_)) => false,
            (Peer::Pods { pods, namespaces }, End::Pod(i)) => {
                let p = &self.pods[i];
                let ns_ok = match namespaces {
                    None => p.namespace == policy.namespace,
                    Some(s) => s.matches(&self.ns_labels(&p.namespace)),
                };
                ns_ok && pods.as_ref().is_none_or(|s| s.matches(&p.labels))
            }
        }
    }

    /// `dst` receives the connection; named ports resolve against it.
    fn port_is(&self, entry: &PortRule, dst: End, protocol: Protocol, port: u16) -> bool {
        if entry.protocol != protocol {
            return false;
        }
        match &entry.port {
            None => true,
            Some(PortRef::Number(n)) => (*n..=entry.end_port.unwrap_or(*n)).contains(&port),
            Some(PortRef::Name(name)) => match dst {
                End::Pod(i) => self.pods[i].named_port(name, protocol) == Some(port),
                End::Outside(_) => false,
            },
        }
    }

    fn rule_allows(
        &self,
        rule: &Rule,
        policy: &Policy,
        peer: End,
        dst: End,
        pr: Protocol,
        port: u16,
    ) -> bool {
        let peer_ok =
            rule.peers.is_empty() || rule.peers.iter().any(|p| self.peer_is(p, policy, peer));
        let port_ok =
            rule.ports.is_empty() || rule.ports.iter().any(|e| self.port_is(e, dst, pr, port));
        peer_ok && port_ok
    }

    fn allows(&self, src: End, dst: End, pr: Protocol, port: u16) -> bool {
        if let (End::Pod(s), End::Pod(d)) = (src, dst)
            && s == d
        {
            return true; // a pod cannot block itself
        }
        let selecting = |i: usize| {
            let p = &self.pods[i];
            self.policies.iter().filter(move |pol| {
                pol.namespace == p.namespace && pol.pod_selector.matches(&p.labels)
            })
        };
        if let End::Pod(s) = src {
            let mut isolating = selecting(s).filter(|p| p.isolates_egress).peekable();
            if isolating.peek().is_some()
                && !isolating.any(|pol| {
                    pol.egress
                        .iter()
                        .any(|r| self.rule_allows(r, pol, dst, dst, pr, port))
                })
            {
                return false;
            }
        }
        if let End::Pod(d) = dst {
            let mut isolating = selecting(d).filter(|p| p.isolates_ingress).peekable();
            if isolating.peek().is_some()
                && !isolating.any(|pol| {
                    pol.ingress
                        .iter()
                        .any(|r| self.rule_allows(r, pol, src, dst, pr, port))
                })
            {
                return false;
            }
        }
        true
    }

    fn compiled(&self) -> PolicyRules {
        let refs: Vec<&Policy> = self.policies.iter().collect();
        compile(
            &refs,
            &Cluster {
                pods: &self.pods,
                namespaces: &self.namespaces,
            },
        )
    }

    fn ends(&self) -> Vec<End> {
        let mut ends: Vec<End> = (0..self.pods.len()).map(End::Pod).collect();
        ends.push(End::Outside(ip("192.0.2.7")));
        ends.push(End::Outside(ip("10.42.200.1")));
        ends
    }

    /// Every pair, protocol and port the generated policies talk about: compiled and
    /// reference must agree.
    fn assert_agree(&self, case: &str) -> [usize; 2] {
        let rules = self.compiled();
        let mut outcomes = [0, 0];
        let probes = [
            (Protocol::Tcp, 80),
            (Protocol::Tcp, 8080),
            (Protocol::Tcp, 8085),
            (Protocol::Tcp, 9090),
            (Protocol::Udp, 53),
            (Protocol::Udp, 8080),
            (Protocol::Sctp, 80),
        ];
        for src in self.ends() {
            for dst in self.ends() {
                if matches!((src, dst), (End::Outside(_), End::Outside(_))) {
                    continue;
                }
                for (pr, port) in probes {
                    let want = self.allows(src, dst, pr, port);
                    let got = rules.allows(self.ip(src), self.ip(dst), pr, port);
                    outcomes[usize::from(got)] += 1;
                    assert_eq!(
                        got, want,
                        "{case}: {src:?} -> {dst:?} {pr} {port}\npolicies: {:#?}\nrules: {rules:#?}",
                        self.policies
                    );
                }
            }
        }
        outcomes
    }
}

fn world(policies: Vec<Policy>) -> World {
    let pods = vec![
        pod("a", "web", "10.42.0.2", &[("app", "web")]),
        pod("a", "db", "10.42.0.3", &[("app", "db")]),
        pod("b", "web", "10.42.0.4", &[("app", "web"), ("tier", "x")]),
        pod("b", "client", "10.42.0.5", &[("app", "client")]),
        pod("c", "other", "10.42.0.6", &[]),
    ];
    let namespaces = HashMap::from([
        (
            "a".to_owned(),
            Labels::from([("team".to_owned(), "red".to_owned())]),
        ),
        (
            "b".to_owned(),
            Labels::from([("team".to_owned(), "blue".to_owned())]),
        ),
    ]);
    World {
        pods,
        namespaces,
        policies,
    }
}

// ---- hand-picked cases ----

#[test]
fn deny_all_ingress_isolates_only_the_selected_namespace() {
    let w = world(vec![policy("a", r#"{"podSelector":{}}"#)]);
    let r = w.compiled();
    assert_eq!(r.ingress.len(), 2, "both pods of a: {r:#?}");
    assert!(r.egress.is_empty());
    assert!(!r.allows(ip("10.42.0.5"), ip("10.42.0.2"), Protocol::Tcp, 80));
    assert!(
        r.allows(ip("10.42.0.2"), ip("10.42.0.5"), Protocol::Tcp, 80),
        "egress untouched"
    );
    let _ = w.assert_agree("deny all");
}

#[test]
fn allow_by_pod_selector_and_by_namespace_selector_combined() {
    let w = world(vec![
        policy("a", r#"{"podSelector":{"matchLabels":{"app":"db"}}}"#),
        policy(
            "a",
            r#"{"podSelector":{"matchLabels":{"app":"db"}},"ingress":[{"from":[
                {"podSelector":{"matchLabels":{"app":"web"}}},
                {"namespaceSelector":{"matchLabels":{"team":"blue"}},"podSelector":{"matchLabels":{"app":"client"}}}]}]}"#,
        ),
    ]);
    let r = w.compiled();
    let db = ip("10.42.0.3");
    assert!(
        r.allows(ip("10.42.0.2"), db, Protocol::Tcp, 5432),
        "web of a"
    );
    assert!(
        !r.allows(ip("10.42.0.4"), db, Protocol::Tcp, 5432),
        "web of b: other namespace"
    );
    assert!(
        r.allows(ip("10.42.0.5"), db, Protocol::Tcp, 5432),
        "client of b"
    );
    assert!(!r.allows(ip("10.42.0.6"), db, Protocol::Tcp, 5432));
    let _ = w.assert_agree("selectors");
}

#[test]
fn ip_blocks_with_except_and_ports_with_ranges_and_names() {
    let w = world(vec![policy(
        "a",
        r#"{"podSelector":{"matchLabels":{"app":"web"}},"policyTypes":["Ingress","Egress"],
            "ingress":[{"from":[{"ipBlock":{"cidr":"10.42.0.0/16","except":["10.42.0.4/31"]}}],
                        "ports":[{"port":"http"},{"port":8000,"endPort":8085,"protocol":"TCP"}]}],
            "egress":[{"to":[{"namespaceSelector":{}}],"ports":[{"port":"http"}]},
                      {"ports":[{"port":53,"protocol":"UDP"}]}]}"#,
    )]);
    let r = w.compiled();
    let web = ip("10.42.0.2");
    assert!(r.allows(ip("10.42.0.3"), web, Protocol::Tcp, 8080));
    assert!(
        !r.allows(ip("10.42.0.5"), web, Protocol::Tcp, 8080),
        "in the except"
    );
    assert!(
        r.allows(ip("10.42.0.6"), web, Protocol::Tcp, 8001),
        "endPort range"
    );
    assert!(!r.allows(ip("10.42.0.6"), web, Protocol::Tcp, 8086));
    assert!(
        r.allows(web, ip("10.42.0.5"), Protocol::Tcp, 8080),
        "egress named port"
    );
    assert!(
        !r.allows(web, ip("192.0.2.7"), Protocol::Tcp, 8080),
        "not a pod"
    );
    assert!(r.allows(web, ip("192.0.2.7"), Protocol::Udp, 53));
    let _ = w.assert_agree("blocks and ports");
}

#[test]
fn a_selector_matching_no_pod_allows_nothing() {
    let w = world(vec![policy(
        "a",
        r#"{"podSelector":{},"ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"nobody"}}}]}]}"#,
    )]);
    let r = w.compiled();
    // Only each pod's own address (a pod cannot block itself).
    assert!(r.ingress.iter().all(|p| p.allow.len() == 1), "{r:#?}");
    let _ = w.assert_agree("empty peer");
}

// ---- generated cases ----

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let n = items.len() as u64;
        items[usize::try_from(self.next() % n).unwrap()]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

fn random_selector(rng: &mut Rng, keys: &[&str], values: &[&str]) -> String {
    match rng.next() % 5 {
        0 => "{}".to_owned(),
        1 | 2 => format!(
            r#"{{"matchLabels":{{"{}":"{}"}}}}"#,
            rng.pick(keys),
            rng.pick(values)
        ),
        3 => {
            let op = rng.pick(&["In", "NotIn"]);
            format!(
                r#"{{"matchExpressions":[{{"key":"{}","operator":"{op}","values":["{}","{}"]}}]}}"#,
                rng.pick(keys),
                rng.pick(values),
                rng.pick(values)
            )
        }
        _ => {
            let op = rng.pick(&["Exists", "DoesNotExist"]);
            format!(
                r#"{{"matchExpressions":[{{"key":"{}","operator":"{op}"}}]}}"#,
                rng.pick(keys)
            )
        }
    }
}

fn random_peer(rng: &mut Rng) -> String {
    let pods =
        |rng: &mut Rng| random_selector(rng, &["app", "tier"], &["web", "db", "client", "x"]);
    let namespaces = |rng: &mut Rng| {
        random_selector(
            rng,
            &["team", "kubernetes.io/metadata.name"],
            &["red", "blue", "a", "c"],
        )
    };
    match rng.next() % 4 {
        0 => format!(r#"{{"podSelector":{}}}"#, pods(rng)),
        1 => format!(r#"{{"namespaceSelector":{}}}"#, namespaces(rng)),
        2 => format!(
            r#"{{"namespaceSelector":{},"podSelector":{}}}"#,
            namespaces(rng),
            pods(rng)
        ),
        _ => {
            let cidr = rng.pick(&["10.42.0.0/16", "10.42.0.0/30", "0.0.0.0/0", "192.0.2.0/24"]);
            let except = if rng.chance(50) {
                format!(
                    r#""{}""#,
                    rng.pick(&["10.42.0.4/32", "10.42.0.2/31", "192.0.2.7/32"])
                )
            } else {
                String::new()
            };
            format!(r#"{{"ipBlock":{{"cidr":"{cidr}","except":[{except}]}}}}"#)
        }
    }
}

fn random_port(rng: &mut Rng) -> String {
    let protocol = rng.pick(&["TCP", "TCP", "UDP", "SCTP"]);
    match rng.next() % 5 {
        0 => format!(r#"{{"protocol":"{protocol}"}}"#),
        1 => format!(
            r#"{{"protocol":"{protocol}","port":{}}}"#,
            rng.pick(&["80", "53", "8080"])
        ),
        2 => format!(r#"{{"protocol":"{protocol}","port":8000,"endPort":8085}}"#),
        3 => format!(r#"{{"protocol":"{protocol}","port":"http"}}"#),
        _ => r#"{"port":"nonexistent"}"#.to_owned(),
    }
}

fn random_rules(rng: &mut Rng, peers_field: &str) -> String {
    let count = rng.next() % 3;
    let rules: Vec<String> = (0..count)
        .map(|_| {
            let peers: Vec<String> = (0..rng.next() % 3).map(|_| random_peer(rng)).collect();
            let ports: Vec<String> = (0..rng.next() % 3).map(|_| random_port(rng)).collect();
            format!(
                r#"{{"{peers_field}":[{}],"ports":[{}]}}"#,
                peers.join(","),
                ports.join(",")
            )
        })
        .collect();
    rules.join(",")
}

fn random_policy(rng: &mut Rng) -> Policy {
    let ns = rng.pick(&["a", "b", "c"]);
    let selector = random_selector(rng, &["app", "tier"], &["web", "db", "client", "x"]);
    let types = rng.pick(&[
        "",
        r#""policyTypes":["Ingress"],"#,
        r#""policyTypes":["Egress"],"#,
        r#""policyTypes":["Ingress","Egress"],"#,
    ]);
    let mut spec = format!(r#"{{{types}"podSelector":{selector}"#);
    if rng.chance(70) {
        spec.push_str(&format!(r#","ingress":[{}]"#, random_rules(rng, "from")));
    }
    if rng.chance(60) {
        spec.push_str(&format!(r#","egress":[{}]"#, random_rules(rng, "to")));
    }
    spec.push('}');
    policy(ns, &spec)
}

#[test]
fn generated_policy_sets_agree_with_the_reference() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut outcomes = [0, 0];
    for case in 0..400 {
        let count = 1 + rng.next() % 3;
        let policies = (0..count).map(|_| random_policy(&mut rng)).collect();
        let mut w = world(policies);
        // Namespace c has no object yet: only its name label selects it.
        w.namespaces.remove("c");
        let [denied, allowed] = w.assert_agree(&format!("case {case}"));
        outcomes[0] += denied;
        outcomes[1] += allowed;
    }
    // The generator must produce both answers in quantity, or the comparison proves little.
    let [denied, allowed] = outcomes;
    eprintln!("generated cases: {denied} denied, {allowed} allowed");
    assert!(
        denied > allowed / 10 && allowed > denied / 10,
        "{outcomes:?}"
    );
}
