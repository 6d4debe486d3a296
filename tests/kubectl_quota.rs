//! ResourceQuota and LimitRange through kubectl against the real `wisp run` (control plane
//! only: the pods stay Pending, which still counts against a quota): `kubectl create
//! quota`, a create over quota refused with upstream's message, `kubectl describe quota`
//! showing what is used, and a LimitRange defaulting and refusing pods.

mod support;

use std::time::{Duration, Instant};

use support::{Wisp, at, json};

fn pod(name: &str, cpu: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n  containers:\n  - name: c\n    image: busybox\n    resources:\n      requests:\n        cpu: {cpu}\n        memory: 32Mi\n"
    )
}

fn wait_for(w: &Wisp, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!(
        "timed out waiting for {what}; wisp said: {}",
        w.stderr_tail()
    );
}

#[test]
fn quota_refuses_creates_over_it_and_describe_shows_used() {
    let w = Wisp::start("quota");
    w.ok(&[
        "create",
        "quota",
        "compute",
        "--hard=pods=2,requests.cpu=1,configmaps=3",
    ]);
    w.ok_stdin(&["apply", "-f", "-"], &pod("a", "500m"));
    w.ok_stdin(&["apply", "-f", "-"], &pod("b", "250m"));
    let refused = w
        .kubectl_stdin(&["apply", "-f", "-"], &pod("c", "500m"))
        .failure(1);
    assert!(
        refused.contains(
            "pods \"c\" is forbidden: exceeded quota: compute, requested: pods=1,requests.cpu=500m, used: pods=2,requests.cpu=750m, limited: pods=2,requests.cpu=1"
        ),
        "{refused}"
    );
    wait_for(&w, "status.used", || {
        let path = "jsonpath={.status.used.requests\\.cpu}";
        w.ok(&["get", "quota", "compute", "-o", path]).trim() == "750m"
    });
    let described = w.ok(&["describe", "quota", "compute"]);
    let line = |name: &str| {
        described
            .lines()
            .find(|l| l.starts_with(name))
            .map(|l| l.split_whitespace().collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert_eq!(line("pods"), ["pods", "2", "2"], "{described}");
    assert_eq!(
        line("requests.cpu"),
        ["requests.cpu", "750m", "1"],
        "{described}"
    );
    assert_eq!(line("configmaps"), ["configmaps", "1", "3"], "{described}");
    w.ok(&["delete", "pod", "a", "--wait=true"]);
    wait_for(&w, "the freed share", || {
        let described = w.ok(&["describe", "quota", "compute"]);
        described
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["requests.cpu", "250m", "1"])
    });
    w.ok_stdin(&["apply", "-f", "-"], &pod("c", "500m"));
    w.stop();
}

#[test]
fn a_limit_range_defaults_and_refuses_pods() {
    let w = Wisp::start("limits");
    w.ok_stdin(
        &["apply", "-f", "-"],
        "apiVersion: v1\nkind: LimitRange\nmetadata:\n  name: lr\nspec:\n  limits:\n  - type: Container\n    max:\n      cpu: \"1\"\n    min:\n      cpu: 100m\n    defaultRequest:\n      cpu: 200m\n",
    );
    w.ok(&["run", "plain", "--image=busybox", "--restart=Never"]);
    let p = json(&w.ok(&["get", "pod", "plain", "-o", "json"]));
    assert_eq!(
        at(&p, "spec.containers.0.resources.requests.cpu").as_deref(),
        Some("200m")
    );
    assert_eq!(
        at(&p, "spec.containers.0.resources.limits.cpu").as_deref(),
        Some("1")
    );
    let refused = w
        .kubectl_stdin(&["apply", "-f", "-"], &pod("tiny", "50m"))
        .failure(1);
    assert!(
        refused.contains(
            "pods \"tiny\" is forbidden: minimum cpu usage per Container is 100m, but request is 50m"
        ),
        "{refused}"
    );
    let described = w.ok(&["describe", "limitrange", "lr"]);
    assert!(
        described.lines().any(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words.starts_with(&["Container", "cpu", "100m", "1", "200m", "1"])
        }),
        "{described}"
    );
    w.stop();
}
