//! kubectl 1.32 against the real `wisp run`: the node's Lease in kube-node-lease renewed
//! every 10 s by the node agent, and the taints the node lifecycle controller keeps: not-ready
//! while Ready=False (until the agent corrects its status), unschedulable while cordoned,
//! and, for a node whose Lease stops being renewed, Ready=Unknown with the unreachable
//! taints until it is renewed again.

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::{Wisp, at, json, write_file};

fn prerequisites() -> Result<(), String> {
    if !rustix::process::geteuid().is_root() {
        return Err("not root".into());
    }
    if Command::new("runc").arg("--version").output().is_err() {
        return Err("runc is not installed".into());
    }
    Ok(())
}

fn wait_for(wisp: &Wisp, timeout: Duration, what: &str, ok: impl Fn(&Wisp) -> bool) {
    let start = Instant::now();
    while !ok(wisp) {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn taints(wisp: &Wisp, node: &str) -> String {
    wisp.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={range .spec.taints[*]}{.key}:{.effect} {end}",
    ])
}

fn ready(wisp: &Wisp, node: &str) -> String {
    wisp.ok(&[
        "get",
        "node",
        node,
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
    ])
}

#[test]
fn the_agent_renews_its_lease_and_condition_taints_follow_the_node() {
    if let Err(why) = prerequisites() {
        eprintln!("skipping: {why}");
        return;
    }
    let node = "lifecycle-node";
    let wisp = Wisp::start_with("lifecycle", |dir| {
        format!(
            "network:\n  podCIDR: 10.151.0.0/16\n  bridge: wtest151\n  nftTable: wtest151\nnode:\n  name: {node}\n  runDir: {run}\n  podLogsDir: {logs}\n  evictionHard:\n    nodefs.available: 0%\n",
            run = dir.join("run").display(),
            logs = dir.join("logs").display(),
        )
    });
    let renew_time = |w: &Wisp| {
        w.kubectl(&[
            "get",
            "lease",
            "-n",
            "kube-node-lease",
            node,
            "-o",
            "jsonpath={.spec.renewTime}",
        ])
        .stdout
    };
    wait_for(&wisp, Duration::from_secs(30), "the node's Lease", |w| {
        !renew_time(w).is_empty()
    });
    let lease = json(&wisp.ok(&["get", "lease", "-n", "kube-node-lease", node, "-o", "json"]));
    assert_eq!(at(&lease, "spec.holderIdentity").as_deref(), Some(node));
    assert_eq!(
        at(&lease, "spec.leaseDurationSeconds").as_deref(),
        Some("40")
    );
    assert_eq!(
        at(&lease, "metadata.ownerReferences.0.kind").as_deref(),
        Some("Node")
    );
    let listed = wisp.ok(&["get", "lease", "-n", "kube-node-lease"]);
    assert!(listed.contains(node), "{listed}");
    let first = renew_time(&wisp);
    wait_for(&wisp, Duration::from_secs(15), "a renewal", |w| {
        renew_time(w) != first
    });
    assert_eq!(ready(&wisp, node), "True");
    assert_eq!(taints(&wisp, node), "");

    // Ready=False taints the node until the agent's next heartbeat corrects its status.
    wisp.ok(&[
        "patch",
        "node",
        node,
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"False","reason":"Test"}]}}"#,
    ]);
    wait_for(&wisp, Duration::from_secs(5), "not-ready taints", |w| {
        taints(w, node).contains("node.kubernetes.io/not-ready:NoExecute")
    });
    wait_for(
        &wisp,
        Duration::from_secs(15),
        "the agent's correction",
        |w| ready(w, node) == "True" && taints(w, node).is_empty(),
    );

    wisp.ok(&["cordon", node]);
    wait_for(
        &wisp,
        Duration::from_secs(5),
        "the unschedulable taint",
        |w| taints(w, node).trim() == "node.kubernetes.io/unschedulable:NoSchedule",
    );
    wisp.ok(&["uncordon", node]);
    wait_for(&wisp, Duration::from_secs(5), "no taints", |w| {
        taints(w, node).is_empty()
    });
}

const GHOST: &str = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"ghost"}}"#;

fn ghost_lease(renew_time: &str) -> String {
    format!(
        r#"{{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{{"name":"ghost","namespace":"kube-node-lease"}},"spec":{{"holderIdentity":"ghost","leaseDurationSeconds":40,"renewTime":"{renew_time}"}}}}"#
    )
}

fn now_micro() -> String {
    let out = Command::new("date")
        .args(["-u", "+%Y-%m-%dT%H:%M:%S.000000Z"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn a_node_whose_lease_lapses_becomes_unknown_and_unreachable_until_renewed() {
    let wisp = Wisp::start("lifecycle-ghost");
    let node = write_file(&wisp.dir, "ghost.json", GHOST);
    wisp.ok(&["create", "-f", node.to_str().unwrap()]);
    let status =
        r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}}"#;
    let patch_status = |w: &Wisp| {
        w.ok(&[
            "patch",
            "node",
            "ghost",
            "--subresource=status",
            "--type=merge",
            "-p",
            status,
        ])
    };
    patch_status(&wisp);
    let lease = write_file(&wisp.dir, "lease.json", &ghost_lease(&now_micro()));
    wisp.ok(&["create", "-f", lease.to_str().unwrap()]);
    let started = Instant::now();
    wait_for(&wisp, Duration::from_secs(60), "Ready=Unknown", |w| {
        ready(w, "ghost") == "Unknown"
    });
    assert!(
        started.elapsed() >= Duration::from_secs(35),
        "lost after {:?}, before the grace period",
        started.elapsed()
    );
    let got = json(&wisp.ok(&["get", "node", "ghost", "-o", "json"]));
    let message = wisp.ok(&[
        "get",
        "node",
        "ghost",
        "-o",
        "jsonpath={.status.conditions[?(@.type==\"Ready\")].message}",
    ]);
    assert_eq!(message, "Kubelet stopped posting node status.", "{got:?}");
    wait_for(&wisp, Duration::from_secs(5), "unreachable taints", |w| {
        taints(w, "ghost").trim()
            == "node.kubernetes.io/unreachable:NoSchedule node.kubernetes.io/unreachable:NoExecute"
    });

    // The kubelet comes back: a renewal and a fresh status.
    let renewed = write_file(&wisp.dir, "lease2.json", &ghost_lease(&now_micro()));
    wisp.ok(&["replace", "-f", renewed.to_str().unwrap()]);
    patch_status(&wisp);
    wait_for(&wisp, Duration::from_secs(5), "the taints to go", |w| {
        ready(w, "ghost") == "True" && taints(w, "ghost").is_empty()
    });
}
