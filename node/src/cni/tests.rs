//! Root tests against the real plugins from /usr/lib/cni, each inside its own throwaway
//! host namespace (see `test_net`).

use std::path::Path;

use std::time::Duration;

use super::test_net::*;
use super::*;

#[test]
fn two_pods_ping_each_other_and_del_releases_everything() {
    let Some(mut t) = TestNet::new("ping", false) else {
        return;
    };
    let (ns_a, ns_b) = (t.pod_netns("a"), t.pod_netns("b"));
    let cni = t.cni();
    let a = cni.add("ctr-a", &ns_a, "eth0", &pod("a"), &[]).unwrap();
    let b = cni.add("ctr-b", &ns_b, "eth0", &pod("b"), &[]).unwrap();
    let (ip_a, ip_b) = (a.pod_ips()[0], b.pod_ips()[0]);
    for ip in [&a.ips[0], &b.ips[0]] {
        assert!(ip.address.to_string().starts_with("10.99.0."), "{ip:?}");
        assert_eq!(ip.address.prefix, 24);
        assert_eq!(ip.gateway, "10.99.0.1".parse().ok());
    }
    assert_ne!(ip_a, ip_b);
    assert!(link_exists("wtest0"));
    let ping = t.exec_in(
        &ns_a,
        &[
            "/bin/busybox",
            "ping",
            "-c",
            "1",
            "-W",
            "3",
            &ip_b.to_string(),
        ],
    );
    assert!(
        ping.status.success(),
        "ping a->b: {}",
        String::from_utf8_lossy(&ping.stdout)
    );
    let lo = String::from_utf8_lossy(&t.exec_in(&ns_a, &["ip", "link", "show", "lo"]).stdout)
        .into_owned();
    assert!(lo.contains("UP"), "loopback not up: {lo}");
    cni.check("ctr-a", &ns_a, "eth0").unwrap();
    assert_eq!(t.reservations().len(), 2);
    assert!(
        !t.nat_rules_for("ctr-a").is_empty(),
        "ipMasq rules expected while attached"
    );

    let veth_a = host_veth(&a);
    cni.del("ctr-a", &ns_a, "eth0").unwrap();
    assert_eq!(t.reservations(), [ip_b.to_string()]);
    assert!(!link_exists(&veth_a), "host veth {veth_a} survived DEL");
    assert!(
        t.nat_rules_for("ctr-a").is_empty(),
        "{:?}",
        t.nat_rules_for("ctr-a")
    );
    cni.del("ctr-a", &ns_a, "eth0").unwrap();
    assert_eq!(t.cached_entries(), 1);

    // A restarted agent: a new instance that only has the cache to go on.
    drop(cni);
    let restarted = t.cni();
    let veth_b = host_veth(&b);
    restarted.del("ctr-b", &ns_b, "eth0").unwrap();
    assert!(t.reservations().is_empty());
    assert!(!link_exists(&veth_b));
    assert!(t.nat_rules_for("ctr-b").is_empty());
    assert_eq!(t.cached_entries(), 0);
    // DEL with the namespace already gone is fine too.
    restarted
        .del("ctr-b", Path::new("/run/netns/wcni-does-not-exist"), "eth0")
        .unwrap();
}

#[test]
fn cleanup_stale_detaches_dead_pods_and_frees_leaked_addresses() {
    let Some(mut t) = TestNet::new("stale", false) else {
        return;
    };
    let (ns_a, ns_b) = (t.pod_netns("a"), t.pod_netns("b"));
    let cni = t.cni();
    let a = cni.add("ctr-a", &ns_a, "eth0", &pod("a"), &[]).unwrap();
    let b = cni.add("ctr-b", &ns_b, "eth0", &pod("b"), &[]).unwrap();
    // A pod whose namespace vanished with the crash as well.
    let ns_c = t.pod_netns("c");
    cni.add("ctr-c", &ns_c, "eth0", &pod("c"), &[]).unwrap();
    run_ok(&[
        "ip",
        "netns",
        "del",
        ns_c.file_name().unwrap().to_str().unwrap(),
    ]);
    // A crash between host-local's reservation and the cache write leaves this behind.
    let leaked = t.net.ipam_dir.join("wtest/10.99.0.200");
    std::fs::write(&leaked, "ctr-ghost\r\neth0").unwrap();

    let mut done = t.cni().cleanup_stale(&["ctr-a"]).unwrap();
    done.detached.sort();
    assert_eq!(done.detached, ["ctr-b", "ctr-c"]);
    assert!(
        t.nat_rules_for("ctr-c").is_empty(),
        "{:?}",
        t.nat_rules_for("ctr-c")
    );
    assert_eq!(
        done.released,
        ["10.99.0.200".parse::<std::net::IpAddr>().unwrap()]
    );
    assert_eq!(t.reservations(), [a.pod_ips()[0].to_string()]);
    assert!(!link_exists(&host_veth(&b)), "stale pod's veth survived");
    assert!(t.nat_rules_for("ctr-b").is_empty());
    assert!(link_exists(&host_veth(&a)));
    assert_eq!(t.cached_entries(), 1);
    assert_eq!(
        t.cni().cleanup_stale(&["ctr-a"]).unwrap(),
        StaleCleanup::default()
    );
    cni.del("ctr-a", &ns_a, "eth0").unwrap();
}

#[test]
fn plugin_error_is_typed_and_the_failed_add_leaves_nothing() {
    let Some(mut t) = TestNet::new("err", false) else {
        return;
    };
    let ns = t.pod_netns("a");
    let broken = r#"{"cniVersion":"1.0.0","name":"wtest","plugins":[{"type":"bridge",
        "bridge":"wtest0","ipam":{"type":"host-local","ranges":[[{"subnet":"10.99.0.0/33"}]],
        "dataDir":"IPAM"}}]}"#;
    let ipam = t.net.ipam_dir.display().to_string();
    std::fs::write(&t.cfg.conflist, broken.replace("IPAM", &ipam)).unwrap();
    let err = t
        .cni()
        .add("ctr-a", &ns, "eth0", &pod("a"), &[])
        .unwrap_err();
    match &err {
        CniError::Plugin {
            plugin,
            command,
            msg,
            ..
        } => {
            assert_eq!((plugin.as_str(), *command), ("bridge", "ADD"));
            assert!(msg.contains("10.99.0.0/33"), "{msg}");
        }
        other => panic!("expected a plugin error, got {other:?}"),
    }
    assert!(
        err.to_string()
            .starts_with("cni plugin bridge ADD failed (code "),
        "{err}"
    );
    assert_eq!(t.cached_entries(), 0);
    assert!(t.reservations().is_empty());
}

#[test]
fn host_port_reaches_the_pod_until_del() {
    let Some(mut t) = TestNet::new("port", false) else {
        return;
    };
    let ns = t.pod_netns("a");
    let cni = t.cni();
    let mapping = PortMapping {
        host_port: 18080,
        container_port: 8080,
        protocol: "tcp".to_owned(),
        host_ip: String::new(),
    };
    cni.add("ctr-a", &ns, "eth0", &pod("a"), &[mapping])
        .unwrap();
    let mut server = serve(&ns, 8080, "hello from the pod");
    let answer = connect_until_answer("10.99.0.1", "18080", Duration::from_secs(5));
    if answer.trim() != "hello from the pod" {
        dump_network_state(&t, &ns);
    }
    assert_eq!(answer.trim(), "hello from the pod");
    let local = connect_until_answer("127.0.0.1", "18080", Duration::from_secs(2));
    assert_eq!(
        local.trim(),
        "hello from the pod",
        "hostPort on localhost (portmap snat)"
    );
    assert!(!t.nat_rules_for("ctr-a").is_empty());

    cni.del("ctr-a", &ns, "eth0").unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        t.nat_rules_for("ctr-a").is_empty(),
        "{:?}",
        t.nat_rules_for("ctr-a")
    );
    assert!(t.reservations().is_empty());
}

#[test]
fn dual_stack_pods_get_one_address_per_family() {
    let Some(mut t) = TestNet::new("dual", true) else {
        return;
    };
    let ns = t.pod_netns("a");
    let cni = t.cni();
    let result = cni.add("ctr-a", &ns, "eth0", &pod("a"), &[]).unwrap();
    let ips: Vec<String> = result.pod_ips().iter().map(ToString::to_string).collect();
    assert_eq!(ips.len(), 2, "{ips:?}");
    assert!(
        ips[0].starts_with("10.99.0.") && ips[1].starts_with("fd99::"),
        "{ips:?}"
    );
    let shown = t.exec_in(&ns, &["ip", "-6", "addr", "show", "eth0"]);
    assert!(String::from_utf8_lossy(&shown.stdout).contains(&ips[1]));
    cni.del("ctr-a", &ns, "eth0").unwrap();
    assert!(t.reservations().is_empty());
}

#[test]
fn del_after_the_namespace_is_gone_still_removes_the_nat_rules() {
    let Some(mut t) = TestNet::new("gone", false) else {
        return;
    };
    let ns = t.pod_netns("a");
    let cni = t.cni();
    let mapping = PortMapping {
        host_port: 18081,
        container_port: 80,
        protocol: "tcp".to_owned(),
        host_ip: String::new(),
    };
    cni.add("ctr-a", &ns, "eth0", &pod("a"), &[mapping])
        .unwrap();
    run_ok(&[
        "ip",
        "netns",
        "del",
        ns.file_name().unwrap().to_str().unwrap(),
    ]);
    cni.del("ctr-a", &ns, "eth0").unwrap();
    assert!(t.reservations().is_empty());
    assert!(
        t.nat_rules_for("ctr-a").is_empty(),
        "{:#?}",
        t.nat_rules_for("ctr-a")
    );
}
