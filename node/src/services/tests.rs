//! Rendering checks, then the real `nft` inside a throwaway network namespace (the host's
//! tables are never touched): every feature loads, traffic reaches pods made with the real
//! CNI plugins, and the time to replace 100 Services x 10 endpoints is measured.

use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::cni::test_net::{TestNet, run, run_ok, serve};
use crate::cni::{IpNet, PodArgs};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn endpoint(addr: &str, port: u16) -> Endpoint {
    Endpoint {
        ip: ip(addr),
        port,
        node_local: true,
    }
}

fn web(cluster_ips: &[&str], endpoints: Vec<Endpoint>) -> Service {
    Service {
        namespace: "default".to_owned(),
        name: "web".to_owned(),
        cluster_ips: cluster_ips.iter().map(|s| ip(s)).collect(),
        ports: vec![ServicePort {
            protocol: Protocol::Tcp,
            port: 80,
            node_port: None,
            endpoints,
        }],
        ..Service::default()
    }
}

fn model(services: Vec<Service>) -> ServiceModel {
    let cidrs: Vec<IpNet> = ["10.42.0.0/16", "fd42::/64"]
        .iter()
        .map(|c| c.parse().unwrap())
        .collect();
    ServiceModel {
        cluster_cidrs: cidrs,
        services,
        ..ServiceModel::default()
    }
}

#[test]
fn cluster_ip_dispatches_randomly_and_masquerades_outside_traffic() {
    let svc = web(
        &["10.43.0.50"],
        vec![endpoint("10.42.0.5", 8080), endpoint("10.42.0.6", 8080)],
    );
    let script = render(&model(vec![svc]));
    assert!(script.starts_with("add table inet wisp\ndelete table inet wisp\ntable inet wisp {"));
    assert!(script.contains("10.43.0.50 . tcp . 80 : goto svc4/default/web/tcp/80"));
    assert!(script.contains(
        "numgen random mod 2 vmap { 0 : goto ep4/default/web/tcp/80/0, 1 : goto ep4/default/web/tcp/80/1 }"
    ));
    assert!(script.contains("ip saddr != { 10.42.0.0/16 } meta mark set meta mark | 0x4000"));
    assert!(script.contains("ip saddr 10.42.0.6 meta mark set meta mark | 0x4000"));
    assert!(script.contains("meta l4proto tcp dnat ip to 10.42.0.6:8080"));
    assert!(
        !script.contains("svc6/"),
        "no IPv6 rules for an IPv4 Service"
    );
}

#[test]
fn headless_and_endpointless_services() {
    let headless = web(&[], vec![endpoint("10.42.0.5", 8080)]);
    let mut empty = web(&["10.43.0.51"], vec![]);
    empty.name = "empty".to_owned();
    empty.ports[0].node_port = Some(30051);
    let script = render(&model(vec![headless, empty]));
    assert!(
        !script.contains("default/web/"),
        "headless Service got rules"
    );
    assert!(script.contains("no_endpoints4 {\n    type ipv4_addr . inet_proto . inet_service\n    elements = {\n      10.43.0.51 . tcp . 80\n"));
    assert!(script.contains("      tcp . 30051\n"));
    assert!(!script.contains("svc4/default/empty"));
}

#[test]
fn dual_stack_affinity_and_local_external_policy() {
    let mut svc = web(
        &["10.43.0.50", "fd43::50"],
        vec![
            endpoint("10.42.0.5", 8080),
            endpoint("fd42::5", 8080),
            Endpoint {
                node_local: false,
                ..endpoint("10.42.0.6", 8080)
            },
        ],
    );
    svc.ports[0].node_port = Some(30080);
    svc.external_ips = vec![ip("192.0.2.10")];
    svc.session_affinity_seconds = Some(600);
    svc.external_traffic_local = true;
    let script = render(&model(vec![svc]));
    assert!(script.contains("fd43::50 . tcp . 80 : goto svc6/default/web/tcp/80"));
    assert!(script.contains("meta l4proto tcp dnat ip6 to [fd42::5]:8080"));
    assert!(script.contains("tcp . 30080 : goto ext4/default/web/tcp/80"));
    assert!(script.contains("192.0.2.10 . tcp . 80 : goto ext4/default/web/tcp/80"));
    assert!(script.contains("set aff4/default/web/tcp/80/1 {\n    type ipv4_addr\n    flags dynamic,timeout\n    timeout 600s"));
    assert!(script.contains("update @aff4/default/web/tcp/80/0 { ip saddr }"));
    // Local policy: only the node-local endpoint, and no masquerade mark in the dispatch.
    let ext = section(&script, "chain ext4/default/web/tcp/80 {");
    assert_eq!(
        ext,
        "    ip saddr @aff4/default/web/tcp/80/0 goto ep4/default/web/tcp/80/0\n    goto ep4/default/web/tcp/80/0\n"
    );
    let internal = section(&script, "chain svc4/default/web/tcp/80 {");
    assert!(internal.contains("numgen random mod 2"), "{internal}");
}

#[test]
fn duplicate_keys_are_dropped_not_fatal() {
    let a = web(&["10.43.0.50"], vec![endpoint("10.42.0.5", 8080)]);
    let mut b = a.clone();
    b.name = "copy".to_owned();
    let script = render(&model(vec![a, b]));
    assert_eq!(script.matches("10.43.0.50 . tcp . 80 :").count(), 1);
}

/// The body of a chain or set, up to its closing brace.
fn section<'a>(script: &'a str, header: &str) -> &'a str {
    let start = script
        .find(header)
        .unwrap_or_else(|| panic!("{header} missing"))
        + header.len()
        + 1;
    let end = script[start..].find("  }\n").unwrap() + start;
    &script[start..end]
}

/// Why nft tests cannot run here, if they cannot.
fn nft_missing() -> bool {
    let ok = Command::new("nft")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        eprintln!("skipping nft test: nft missing");
    }
    !ok
}

fn every_feature() -> ServiceModel {
    let mut svc = web(
        &["10.43.0.50", "fd43::50"],
        vec![endpoint("10.42.0.5", 8080), endpoint("fd42::5", 8080)],
    );
    svc.ports[0].node_port = Some(30080);
    svc.ports.push(ServicePort {
        protocol: Protocol::Udp,
        port: 53,
        node_port: None,
        endpoints: vec![endpoint("10.42.0.5", 5353)],
    });
    svc.ports.push(ServicePort {
        protocol: Protocol::Sctp,
        port: 9,
        node_port: Some(30009),
        endpoints: vec![],
    });
    svc.external_ips = vec![ip("192.0.2.10")];
    svc.load_balancer_ips = vec![ip("198.51.100.7"), ip("2001:db8::7")];
    svc.session_affinity_seconds = Some(10800);
    let mut local = web(&["10.43.0.60"], vec![endpoint("10.42.0.6", 80)]);
    local.name = "local".to_owned();
    local.external_traffic_local = true;
    local.internal_traffic_local = true;
    ServiceModel {
        services: vec![svc, local],
        ..model(vec![])
    }
}

#[test]
fn every_feature_loads_into_nft_and_replaces_atomically() {
    let Some(_net) = TestNet::new("nftload", false) else {
        return;
    };
    if nft_missing() {
        return;
    }
    let script = render(&every_feature());
    apply(&script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    let listed = run_ok(&["nft", "list", "table", "inet", "wisp"]);
    assert!(listed.contains("chain svc6/default/web/tcp/80"), "{listed}");
    assert!(listed.contains("sctp . 30009"), "{listed}");
    apply(&render(&model(vec![]))).unwrap();
    let listed = run_ok(&["nft", "list", "table", "inet", "wisp"]);
    assert!(
        !listed.contains("svc4/"),
        "old chains survived the swap: {listed}"
    );
    // A script nft rejects leaves the table as it was.
    apply(&script).unwrap();
    let err = apply(
        "add table inet wisp\ndelete table inet wisp\ntable inet wisp { chain x { bogus } }\n",
    );
    assert!(matches!(err, Err(NftError::Rejected { .. })), "{err:?}");
    assert!(run_ok(&["nft", "list", "table", "inet", "wisp"]).contains("svc4/default/web"));
    remove().unwrap();
    assert!(
        !run(&["nft", "list", "table", "inet", "wisp"])
            .status
            .success()
    );
    remove().unwrap();
}

/// One connection's answer ("" when refused or silent), from the host or from a pod.
fn ask(from: Option<&Path>, host: &str, port: u16) -> String {
    let port = port.to_string();
    let mut args = vec!["/bin/busybox", "nc", "-w", "2", host, &port];
    let ns;
    if let Some(netns) = from {
        ns = netns.file_name().unwrap().to_str().unwrap().to_owned();
        args.splice(0..0, ["ip", "netns", "exec", ns.as_str()]);
    }
    String::from_utf8_lossy(&run(&args).stdout)
        .trim()
        .to_owned()
}

fn ask_until_answer(host: &str, port: u16) -> String {
    let start = Instant::now();
    loop {
        let answer = ask(None, host, port);
        if !answer.is_empty() || start.elapsed() > Duration::from_secs(5) {
            return answer;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn traffic_reaches_pods_through_cluster_ip_node_port_and_affinity() {
    let Some(mut t) = TestNet::new("svcnet", false) else {
        return;
    };
    if nft_missing() {
        return;
    }
    let (ns_a, ns_b) = (t.pod_netns("a"), t.pod_netns("b"));
    let cni = t.cni();
    let pod = |n: &str| PodArgs {
        namespace: "default".into(),
        name: n.into(),
        uid: n.into(),
    };
    let a = cni
        .add("ctr-a", &ns_a, "eth0", &pod("a"), &[])
        .unwrap()
        .pod_ips()[0];
    let b = cni
        .add("ctr-b", &ns_b, "eth0", &pod("b"), &[])
        .unwrap()
        .pod_ips()[0];
    let mut servers = [serve(&ns_a, 8080, "a"), serve(&ns_b, 8080, "b")];
    // Host-originated packets need a route before the output hook can DNAT them.
    run_ok(&["ip", "route", "add", "10.43.0.0/16", "dev", "wtest0"]);
    let endpoints = vec![
        Endpoint {
            ip: a,
            port: 8080,
            node_local: true,
        },
        Endpoint {
            ip: b,
            port: 8080,
            node_local: true,
        },
    ];
    let mut svc = web(&["10.43.0.50"], endpoints);
    svc.ports[0].node_port = Some(30080);
    let mut empty = web(&["10.43.0.51"], vec![]);
    empty.name = "empty".to_owned();
    let mut m = ServiceModel {
        cluster_cidrs: vec!["10.99.0.0/24".parse().unwrap()],
        services: vec![svc, empty],
        ..ServiceModel::default()
    };
    apply(&render(&m)).unwrap();

    assert!(!ask_until_answer("10.43.0.50", 80).is_empty());
    let answers: Vec<String> = (0..20).map(|_| ask(None, "10.43.0.50", 80)).collect();
    assert!(
        answers.iter().any(|x| x == "a") && answers.iter().any(|x| x == "b"),
        "{answers:?}"
    );
    assert_eq!(ask(None, "10.99.0.1", 30080).len(), 1, "node port");
    for _ in 0..4 {
        let hairpin = ask(Some(&ns_a), "10.43.0.50", 80);
        assert!(hairpin == "a" || hairpin == "b", "from pod a: {hairpin:?}");
    }
    let started = Instant::now();
    assert_eq!(ask(None, "10.43.0.51", 80), "");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "no-endpoint Service not rejected"
    );

    m.services[0].session_affinity_seconds = Some(60);
    apply(&render(&m)).unwrap();
    let pinned: Vec<String> = (0..10).map(|_| ask(None, "10.43.0.50", 80)).collect();
    assert!(
        pinned.iter().all(|x| x == &pinned[0]) && !pinned[0].is_empty(),
        "{pinned:?}"
    );

    remove().unwrap();
    for server in &mut servers {
        let _ = server.kill();
        let _ = server.wait();
    }
    cni.del("ctr-a", &ns_a, "eth0").unwrap();
    cni.del("ctr-b", &ns_b, "eth0").unwrap();
}

/// 100 Services x 10 endpoints: render and replace times, printed for the report.
#[test]
fn hundred_services_with_ten_endpoints_update_time() {
    let Some(_net) = TestNet::new("nftbench", false) else {
        return;
    };
    if nft_missing() {
        return;
    }
    let services: Vec<Service> = (0..100u16)
        .map(|s| {
            let endpoints = (0..10u16)
                .map(|e| endpoint(&format!("10.42.{s}.{}", e + 2), 8080))
                .collect();
            let mut svc = web(&[&format!("10.43.1.{s}")], endpoints);
            svc.name = format!("svc-{s}");
            svc.ports[0].node_port = Some(30000 + s);
            svc
        })
        .collect();
    let mut m = model(services);
    let started = Instant::now();
    let script = render(&m);
    let render_time = started.elapsed();
    let started = Instant::now();
    apply(&script).unwrap();
    let first = started.elapsed();
    m.services[0].ports[0].endpoints.pop();
    let started = Instant::now();
    apply(&render(&m)).unwrap();
    let update = started.elapsed();
    eprintln!(
        "services bench: 100 services x 10 endpoints: script {} bytes, render {render_time:?}, first apply {first:?}, update (render+apply) {update:?}",
        script.len()
    );
    assert!(update < Duration::from_secs(10), "update took {update:?}");
    remove().unwrap();
}

/// NetworkPolicy in the kernel: pods on one bridge (their direct traffic is bridged, seen by
/// the forward hook through br_netfilter) and through a ClusterIP (routed after DNAT).
#[test]
fn network_policy_blocks_bridged_and_service_traffic_and_lets_replies_and_the_host_through() {
    use crate::netpol::{Cluster, PolicyPod, compile, parse_policy};

    let Some(mut t) = TestNet::new("netpol", false) else {
        return;
    };
    if nft_missing() {
        return;
    }
    let bridged = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables");
    if bridged.as_deref().map(str::trim).ok() != Some("1") {
        eprintln!("skipping: br_netfilter is off in a new network namespace ({bridged:?})");
        return;
    }
    let names = ["a", "b", "c"];
    let netns: Vec<_> = names.iter().map(|n| t.pod_netns(n)).collect();
    let cni = t.cni();
    let mut pods = Vec::new();
    for (name, ns) in names.iter().zip(&netns) {
        let args = PodArgs {
            namespace: "default".into(),
            name: (*name).into(),
            uid: (*name).into(),
        };
        let result = cni
            .add(&format!("ctr-{name}"), ns, "eth0", &args, &[])
            .unwrap();
        pods.push(PolicyPod {
            namespace: "default".into(),
            name: (*name).into(),
            labels: [("app".to_owned(), (*name).to_owned())].into(),
            ips: result.pod_ips(),
            ports: Vec::new(),
        });
    }
    let addr = |i: usize| pods[i].ips[0].to_string();
    let _servers = Servers(
        netns
            .iter()
            .zip(names)
            .map(|(ns, n)| serve(ns, 8080, n))
            .collect(),
    );
    let mut svc = web(
        &["10.43.0.50"],
        vec![Endpoint {
            ip: pods[1].ips[0],
            port: 8080,
            node_local: true,
        }],
    );
    svc.ports[0].node_port = None;
    let namespaces = std::collections::HashMap::new();
    let with = |policies: &[&str]| {
        let parsed: Vec<_> = policies
            .iter()
            .map(|p| parse_policy(p.as_bytes()).unwrap())
            .collect();
        let refs: Vec<_> = parsed.iter().collect();
        let policy = compile(
            &refs,
            &Cluster {
                pods: &pods,
                namespaces: &namespaces,
            },
        );
        ServiceModel {
            cluster_cidrs: vec!["10.99.0.0/24".parse().unwrap()],
            services: vec![svc.clone()],
            policy,
        }
    };
    let from = |i: usize, host: &str, port: u16| ask(Some(&netns[i]), host, port);
    apply(&render(&with(&[]))).unwrap();
    let start = Instant::now();
    while from(0, &addr(1), 8080) != "b" && start.elapsed() < Duration::from_secs(5) {}
    assert_eq!(from(0, &addr(1), 8080), "b", "open before any policy");
    assert_eq!(from(0, "10.43.0.50", 80), "b");

    let deny_b = r#"{"metadata":{"name":"deny","namespace":"default"},"spec":{"podSelector":{"matchLabels":{"app":"b"}}}}"#;
    let script = render(&with(&[deny_b]));
    apply(&script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    assert_eq!(
        from(0, &addr(1), 8080),
        "",
        "bridged pod-to-pod not blocked\n{script}"
    );
    assert_eq!(from(0, "10.43.0.50", 80), "", "ClusterIP not blocked");
    assert_eq!(ask(None, &addr(1), 8080), "b", "the host reaches its pods");
    assert_eq!(
        from(1, &addr(2), 8080),
        "c",
        "b's egress and the replies pass"
    );

    let allow_a = r#"{"metadata":{"name":"allow","namespace":"default"},"spec":{"podSelector":{"matchLabels":{"app":"b"}},
        "ingress":[{"from":[{"podSelector":{"matchLabels":{"app":"a"}}}],"ports":[{"port":8080}]}]}}"#;
    apply(&render(&with(&[deny_b, allow_a]))).unwrap();
    assert_eq!(from(0, &addr(1), 8080), "b", "allowed by label");
    assert_eq!(
        from(0, "10.43.0.50", 80),
        "b",
        "allowed through the ClusterIP (target port)"
    );
    assert_eq!(from(2, &addr(1), 8080), "", "c is not allowed");

    let egress_a = r#"{"metadata":{"name":"egress","namespace":"default"},"spec":{"podSelector":{"matchLabels":{"app":"a"}},
        "policyTypes":["Egress"],"egress":[{"to":[{"ipBlock":{"cidr":"10.99.0.0/24","except":["ADDR/32"]}}]}]}}"#
        .replace("ADDR", &addr(2));
    apply(&render(&with(&[deny_b, allow_a, &egress_a]))).unwrap();
    assert_eq!(from(0, &addr(2), 8080), "", "egress to c is excepted");
    assert_eq!(from(0, &addr(1), 8080), "b", "egress to b is in the block");

    apply(&render(&with(&[]))).unwrap();
    assert_eq!(from(2, &addr(1), 8080), "b", "open again");
    assert_eq!(from(0, &addr(2), 8080), "c");
    remove().unwrap();
    for (name, ns) in names.iter().zip(&netns) {
        cni.del(&format!("ctr-{name}"), ns, "eth0").unwrap();
    }
}

/// Servers killed even when the test fails (they would hold the test's output open).
struct Servers(Vec<std::process::Child>);

impl Drop for Servers {
    fn drop(&mut self) {
        for server in &mut self.0 {
            let _ = server.kill();
            let _ = server.wait();
        }
    }
}

/// Every NetworkPolicy construct in both families loads into nft (syntax the kernel
/// accepts: concatenated address . port sets, blocks with excepts, ranges, SCTP).
#[test]
fn every_policy_construct_loads_into_nft_in_both_families() {
    use crate::netpol::{Allow, IsolatedPod, PeerMatch, PolicyRules, PortMatch};

    let Some(_net) = TestNet::new("polload", false) else {
        return;
    };
    if nft_missing() {
        return;
    }
    let allow = vec![
        Allow {
            peer: PeerMatch::Addresses(vec![ip("10.42.0.6"), ip("fd42::6")]),
            ports: PortMatch::Any,
        },
        Allow {
            peer: PeerMatch::Block {
                cidr: "10.0.0.0/8".parse().unwrap(),
                except: vec!["10.1.0.0/16".parse().unwrap(), "fd00::/8".parse().unwrap()],
            },
            ports: PortMatch::Range(Protocol::Tcp, 8000, 8080),
        },
        Allow {
            peer: PeerMatch::Block {
                cidr: "fd42::/64".parse().unwrap(),
                except: vec![],
            },
            ports: PortMatch::Protocol(Protocol::Sctp),
        },
        Allow {
            peer: PeerMatch::Any,
            ports: PortMatch::Destinations(
                Protocol::Udp,
                vec![(ip("10.42.0.7"), 53), (ip("fd42::7"), 5353)],
            ),
        },
    ];
    let pod = |key: &str| IsolatedPod {
        key: key.to_owned(),
        ips: vec![ip("10.42.0.5"), ip("fd42::5")],
        allow: allow.clone(),
    };
    let m = ServiceModel {
        policy: PolicyRules {
            ingress: vec![pod("default/web")],
            egress: vec![
                pod("default/web"),
                IsolatedPod {
                    allow: vec![],
                    ..pod("x/deny")
                },
            ],
        },
        ..every_feature()
    };
    let script = render(&m);
    apply(&script).unwrap_or_else(|e| panic!("{e}\n{script}"));
    let listed = run_ok(&["nft", "list", "table", "inet", "wisp"]);
    assert!(
        listed.contains("chain policy_ingress/default/web/0"),
        "{listed}"
    );
    assert!(listed.contains("fd42::7 . 5353"), "{listed}");
    assert!(
        listed.contains("ct state established,related accept"),
        "{listed}"
    );
    // Without isolated pods nothing of NetworkPolicy is rendered.
    assert!(!render(&every_feature()).contains("policy_"));
    remove().unwrap();
}
