//! kubectl 1.32 against the real `wisp run`: discovery, explain, health endpoints and
//! client-certificate authentication.

mod support;

use support::Wisp;

#[test]
fn discovery_version_api_resources_and_explain() {
    let wisp = Wisp::start("discovery");

    let version = wisp.ok(&["version", "-o", "json"]);
    assert!(version.contains("\"serverVersion\""), "{version}");
    assert!(version.contains("\"gitVersion\": \"v1.32"), "{version}");

    let resources = wisp.ok(&["api-resources"]);
    let deployments = line_starting(&resources, "deployments ");
    for column in ["deploy", "apps/v1", "true", "Deployment"] {
        assert!(deployments.contains(column), "{deployments}");
    }
    for (name, short) in [
        ("configmaps ", "cm"),
        ("namespaces ", "ns"),
        ("services ", "svc"),
        ("persistentvolumeclaims ", "pvc"),
        ("customresourcedefinitions ", "crd,crds"),
    ] {
        let line = line_starting(&resources, name);
        assert!(line.split_whitespace().nth(1) == Some(short), "{line}");
    }
    let cluster_scoped = wisp.ok(&["api-resources", "--namespaced=false", "-o", "name"]);
    assert!(
        cluster_scoped.lines().any(|l| l == "nodes"),
        "{cluster_scoped}"
    );
    assert!(
        !cluster_scoped.lines().any(|l| l == "pods"),
        "{cluster_scoped}"
    );

    let versions = wisp.ok(&["api-versions"]);
    for gv in [
        "v1",
        "apps/v1",
        "batch/v1",
        "rbac.authorization.k8s.io/v1",
        "apiextensions.k8s.io/v1",
    ] {
        assert!(
            versions.lines().any(|l| l == gv),
            "{gv} missing from\n{versions}"
        );
    }

    let explain = wisp.ok(&["explain", "deployment.spec"]);
    for header in [
        "GROUP:      apps",
        "KIND:       Deployment",
        "VERSION:    v1",
    ] {
        assert!(explain.contains(header), "{header} missing from\n{explain}");
    }
    assert!(
        explain.contains("FIELD: spec <DeploymentSpec>"),
        "{explain}"
    );
    for field in ["replicas", "selector", "strategy", "template"] {
        assert!(
            explain.contains(&format!("  {field}\t")),
            "{field} missing from\n{explain}"
        );
    }
    let replicas = wisp.ok(&["explain", "deployment.spec.replicas"]);
    assert!(replicas.contains("FIELD: replicas <integer>"), "{replicas}");

    wisp.stop();
}

#[test]
fn health_endpoints_are_open_and_everything_else_needs_a_client_certificate() {
    let wisp = Wisp::start("auth");
    let ca = wisp.pki("ca.crt");
    let base = format!("https://127.0.0.1:{}", wisp.port);

    for path in ["/readyz", "/healthz", "/livez"] {
        let (code, body) = curl(&[&format!("{base}{path}"), "--cacert", ca.to_str().unwrap()]);
        assert_eq!((code.as_str(), body.as_str()), ("200", "ok"), "{path}");
    }
    let (code, body) = curl(&[&format!("{base}/version"), "--cacert", ca.to_str().unwrap()]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"gitVersion\""), "{body}");

    // Trusting the CA but presenting no client certificate.
    let (code, body) = curl(&[
        &format!("{base}/api/v1/namespaces"),
        "--cacert",
        ca.to_str().unwrap(),
    ]);
    assert_eq!(code, "401", "{body}");
    assert!(body.contains("\"reason\":\"Unauthorized\""), "{body}");

    // The same request with the admin certificate succeeds.
    let (code, body) = curl(&[
        &format!("{base}/api/v1/namespaces"),
        "--cacert",
        ca.to_str().unwrap(),
        "--cert",
        wisp.pki("admin.crt").to_str().unwrap(),
        "--key",
        wisp.pki("admin.key").to_str().unwrap(),
    ]);
    assert_eq!(code, "200", "{body}");
    assert!(body.contains("\"kube-system\""), "{body}");

    // kubectl whose user has a token instead of a client certificate is refused the same
    // way (a user with no credentials at all would make kubectl prompt for a password).
    let anonymous = wisp.dir.join("anonymous.kubeconfig");
    let admin = std::fs::read_to_string(&wisp.kubeconfig).unwrap();
    let no_user: String = admin
        .lines()
        .filter(|l| !l.contains("client-certificate-data") && !l.contains("client-key-data"))
        .map(|l| match l {
            "  user:" => "  user:\n    token: not-a-valid-token\n".to_owned(),
            other => format!("{other}\n"),
        })
        .collect();
    std::fs::write(&anonymous, no_user).unwrap();
    let run = wisp
        .kubectl_command(&["get", "namespaces"])
        .env("KUBECONFIG", &anonymous)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(1), "{stderr}");
    // Discovery fails first; client-go words a 401 there like this against any cluster.
    assert!(
        stderr.contains("error: You must be logged in to the server"),
        "{stderr}"
    );

    wisp.stop();
}

fn line_starting<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in\n{text}"))
}

/// curl with the HTTP status written after the body; returns (status, body).
fn curl(args: &[&str]) -> (String, String) {
    let output = std::process::Command::new("curl")
        .args(["-sS", "--max-time", "20", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl is installed");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.to_owned(), body.to_owned())
}

/// The harness itself: a wisp that died during a test fails the teardown check.
#[test]
#[should_panic(expected = "wisp crashed during the test")]
fn teardown_fails_when_wisp_has_died() {
    let wisp = Wisp::start("crash");
    let pid = wisp.pid();
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -KILL {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
    std::thread::sleep(std::time::Duration::from_millis(200));
    wisp.stop();
}
