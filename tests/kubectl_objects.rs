//! kubectl 1.32 against the real `wisp run`: typed creates (protobuf bodies), client-side
//! and server-side apply, diff, edit, the three patch types, label, annotate, replace with a
//! stale resourceVersion, and the errors kubectl shows for invalid objects.

mod support;

use support::{Wisp, at, json, len_at, write_file};

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
    tier: front
spec:
  replicas: 1
  selector:
    matchLabels:
      app: web
  template:
    metadata:
      labels:
        app: web
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
";

/// The deployment with replicas 3, a new image and the `tier` label dropped.
fn changed_deployment() -> String {
    DEPLOYMENT
        .replace("replicas: 1", "replicas: 3")
        .replace("nginx:1.27", "nginx:1.28")
        .replace("    tier: front\n", "")
}

fn deployment(wisp: &Wisp, name: &str) -> miniserde::json::Value {
    json(&wisp.ok(&[
        "get",
        "deployment",
        name,
        "-o",
        "json",
        "--show-managed-fields",
    ]))
}

#[test]
fn typed_creates_send_protobuf_and_round_trip() {
    let wisp = Wisp::start("create");
    let out = wisp.ok(&["create", "namespace", "team-a"]);
    assert_eq!(out.trim(), "namespace/team-a created");
    let ns = json(&wisp.ok(&["get", "namespace", "team-a", "-o", "json"]));
    assert_eq!(at(&ns, "status.phase").as_deref(), Some("Active"));

    let out = wisp.ok(&[
        "create",
        "configmap",
        "settings",
        "-n",
        "team-a",
        "--from-literal=mode=fast",
        "--from-literal=level=3",
    ]);
    assert_eq!(out.trim(), "configmap/settings created");
    let cm = json(&wisp.ok(&["get", "configmap", "settings", "-n", "team-a", "-o", "json"]));
    assert_eq!(at(&cm, "data.mode").as_deref(), Some("fast"));
    assert_eq!(at(&cm, "data.level").as_deref(), Some("3"));
    assert_eq!(at(&cm, "metadata.namespace").as_deref(), Some("team-a"));
    assert!(
        at(&cm, "metadata.uid").is_some_and(|u| u.len() == 36),
        "{cm:?}"
    );

    let out = wisp.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "-n",
        "team-a",
        "--from-literal=password=s3cret",
    ]);
    assert_eq!(out.trim(), "secret/creds created");
    let secret = json(&wisp.ok(&["get", "secret", "creds", "-n", "team-a", "-o", "json"]));
    assert_eq!(at(&secret, "data.password").as_deref(), Some("czNjcmV0"));

    let out = wisp.ok(&[
        "create",
        "deployment",
        "api",
        "-n",
        "team-a",
        "--image=nginx:1.27",
    ]);
    assert_eq!(out.trim(), "deployment.apps/api created");
    let d = json(&wisp.ok(&["get", "deployment", "api", "-n", "team-a", "-o", "json"]));
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.image").as_deref(),
        Some("nginx:1.27")
    );
    assert_eq!(
        at(&d, "spec.selector.matchLabels.app").as_deref(),
        Some("api")
    );

    let out = wisp.ok(&["create", "serviceaccount", "robot", "-n", "team-a"]);
    assert_eq!(out.trim(), "serviceaccount/robot created");

    // Creating it twice is AlreadyExists, worded as upstream.
    let err = wisp.kubectl(&["create", "namespace", "team-a"]).failure(1);
    assert!(
        err.contains(r#"Error from server (AlreadyExists): namespaces "team-a" already exists"#),
        "{err}"
    );
    // A namespaced object in a namespace that does not exist.
    let err = wisp
        .kubectl(&[
            "create",
            "configmap",
            "x",
            "-n",
            "nowhere",
            "--from-literal=a=b",
        ])
        .failure(1);
    assert!(err.contains(r#"namespaces "nowhere" not found"#), "{err}");
    wisp.stop();
}

#[test]
fn client_side_apply_converges_and_diff_reports_changes() {
    let wisp = Wisp::start("apply");
    let file = write_file(&wisp.dir, "web.yaml", DEPLOYMENT);
    let file = file.to_str().unwrap();
    assert_eq!(
        wisp.ok(&["apply", "-f", file]).trim(),
        "deployment.apps/web created"
    );
    let first = deployment(&wisp, "web");
    assert_eq!(at(&first, "metadata.generation").as_deref(), Some("1"));
    // The last-applied annotation holds the file as applied.
    let last_applied = wisp.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        r"jsonpath={.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}",
    ]);
    assert!(
        last_applied.contains(r#""replicas":1"#) && last_applied.contains(r#""tier":"front""#),
        "{last_applied}"
    );

    // Same file again: nothing to do.
    assert_eq!(
        wisp.ok(&["apply", "-f", file]).trim(),
        "deployment.apps/web unchanged"
    );
    assert_eq!(wisp.ok(&["diff", "-f", file]), "");

    // Changed file: diff exits 1 and shows the change; apply converges to it.
    std::fs::write(file, changed_deployment()).unwrap();
    let diff = wisp.kubectl(&["diff", "-f", file]);
    assert_eq!(diff.status, Some(1), "{diff}");
    assert!(diff.stdout.contains("-  replicas: 1"), "{diff}");
    assert!(diff.stdout.contains("+  replicas: 3"), "{diff}");
    assert!(diff.stdout.contains("+      - image: nginx:1.28"), "{diff}");
    // Nothing but what changed (a dry run keeps the stored resourceVersion).
    assert!(!diff.stdout.contains("-  resourceVersion"), "{diff}");
    assert!(diff.stdout.contains("-    tier: front"), "{diff}");
    // diff is a dry run: nothing changed on the server.
    assert_eq!(
        at(&deployment(&wisp, "web"), "spec.replicas").as_deref(),
        Some("1")
    );

    assert_eq!(
        wisp.ok(&["apply", "-f", file]).trim(),
        "deployment.apps/web configured"
    );
    let second = deployment(&wisp, "web");
    assert_eq!(at(&second, "metadata.generation").as_deref(), Some("2"));
    assert_eq!(at(&second, "spec.replicas").as_deref(), Some("3"));
    assert_eq!(
        at(&second, "spec.template.spec.containers.0.image").as_deref(),
        Some("nginx:1.28")
    );
    // The label dropped from the file is removed (three-way merge with last-applied).
    assert_eq!(at(&second, "metadata.labels.tier"), None, "{second:?}");
    assert_eq!(at(&second, "metadata.labels.app").as_deref(), Some("web"));
    assert_eq!(wisp.ok(&["diff", "-f", file]), "");
    assert_eq!(
        wisp.ok(&["apply", "-f", file]).trim(),
        "deployment.apps/web unchanged"
    );
    wisp.stop();
}

#[test]
fn server_side_apply_detects_conflicts_and_force_takes_ownership() {
    let wisp = Wisp::start("ssa");
    let file = write_file(&wisp.dir, "web.yaml", DEPLOYMENT);
    let file = file.to_str().unwrap();
    let out = wisp.ok(&[
        "apply",
        "--server-side",
        "--field-manager=alice",
        "-f",
        file,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let d = deployment(&wisp, "web");
    assert_eq!(
        at(&d, "metadata.managedFields.0.manager").as_deref(),
        Some("alice")
    );
    assert_eq!(
        at(&d, "metadata.managedFields.0.operation").as_deref(),
        Some("Apply")
    );

    // Another manager setting a field alice owns to another value conflicts.
    std::fs::write(file, changed_deployment()).unwrap();
    let err = wisp
        .kubectl(&["apply", "--server-side", "--field-manager=bob", "-f", file])
        .failure(1);
    assert!(err.contains("Apply failed with"), "{err}");
    assert!(err.contains(r#"with "alice""#), "{err}");
    assert!(err.contains(".spec.replicas"), "{err}");
    assert!(err.contains("--force-conflicts"), "{err}");
    assert_eq!(
        at(&deployment(&wisp, "web"), "spec.replicas").as_deref(),
        Some("1")
    );

    let out = wisp.ok(&[
        "apply",
        "--server-side",
        "--field-manager=bob",
        "--force-conflicts",
        "-f",
        file,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web serverside-applied");
    let d = deployment(&wisp, "web");
    assert_eq!(at(&d, "spec.replicas").as_deref(), Some("3"));
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.image").as_deref(),
        Some("nginx:1.28")
    );
    assert_eq!(at(&d, "metadata.generation").as_deref(), Some("2"));
    let managers = at(&d, "metadata.managedFields").unwrap();
    assert!(
        managers.contains("\"bob\"") && managers.contains("f:replicas"),
        "{managers}"
    );

    // Moving from client-side to server-side apply: changing a field in the first
    // server-side apply conflicts with the client-side manager (as upstream); applying the
    // same values succeeds, and kubectl then hands the client-side ownership to `kubectl`
    // (a JSON patch of managedFields), after which changes apply without conflict.
    let api = DEPLOYMENT.replace("name: web", "name: api");
    let other = write_file(&wisp.dir, "api.yaml", &api);
    let other = other.to_str().unwrap();
    wisp.ok(&["apply", "-f", other]);
    std::fs::write(other, api.replace("replicas: 1", "replicas: 2")).unwrap();
    let err = wisp
        .kubectl(&["apply", "--server-side", "-f", other])
        .failure(1);
    assert!(
        err.contains(
            r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#
        ),
        "{err}"
    );
    std::fs::write(other, &api).unwrap();
    let out = wisp.ok(&["apply", "--server-side", "-f", other]);
    assert_eq!(out.trim(), "deployment.apps/api serverside-applied");
    let managers = at(&deployment(&wisp, "api"), "metadata.managedFields").unwrap();
    assert!(
        !managers.contains("kubectl-client-side-apply"),
        "{managers}"
    );
    std::fs::write(other, api.replace("replicas: 1", "replicas: 2")).unwrap();
    let out = wisp.ok(&["apply", "--server-side", "-f", other]);
    assert_eq!(out.trim(), "deployment.apps/api serverside-applied");
    assert_eq!(
        at(&deployment(&wisp, "api"), "spec.replicas").as_deref(),
        Some("2")
    );
    wisp.stop();
}

#[test]
fn edit_patch_label_annotate_and_stale_replace() {
    let wisp = Wisp::start("patch");
    let file = write_file(&wisp.dir, "web.yaml", DEPLOYMENT);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);

    // edit: the editor is a script that rewrites the file kubectl hands it.
    let editor = write_file(
        &wisp.dir,
        "editor.sh",
        "#!/bin/sh\nsed -i 's/replicas: 1/replicas: 4/' \"$1\"\n",
    );
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let run = wisp
        .kubectl_command(&["edit", "deployment", "web"])
        .env("EDITOR", &editor)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout.trim(), "deployment.apps/web edited");
    let d = deployment(&wisp, "web");
    assert_eq!(at(&d, "spec.replicas").as_deref(), Some("4"));
    assert_eq!(at(&d, "metadata.generation").as_deref(), Some("2"));

    // JSON patch.
    let out = wisp.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    ]);
    assert_eq!(out.trim(), "deployment.apps/web patched");
    assert_eq!(
        at(&deployment(&wisp, "web"), "spec.replicas").as_deref(),
        Some("2")
    );
    let err = wisp
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type=json",
            "-p",
            r#"[{"op":"test","path":"/spec/replicas","value":7}]"#,
        ])
        .failure(1);
    assert!(err.contains("test failed"), "{err}");

    // Merge patch: lists are replaced whole.
    wisp.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"team":"blue"}},"spec":{"minReadySeconds":5}}"#,
    ]);
    let d = deployment(&wisp, "web");
    assert_eq!(at(&d, "metadata.labels.team").as_deref(), Some("blue"));
    assert_eq!(at(&d, "metadata.labels.app").as_deref(), Some("web"));
    assert_eq!(at(&d, "spec.minReadySeconds").as_deref(), Some("5"));

    // Strategic merge patch: containers merge by name.
    wisp.ok(&[
        "patch", "deployment", "web", "--type=strategic",
        "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"sidecar","image":"busybox:1.36"}]}}}}"#,
    ]);
    wisp.ok(&[
        "patch",
        "deployment",
        "web",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"nginx:1.29"}]}}}}"#,
    ]);
    let images = wisp.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        r#"jsonpath={range .spec.template.spec.containers[*]}{.name}={.image} {end}"#,
    ]);
    let mut images: Vec<&str> = images.split_whitespace().collect();
    images.sort_unstable();
    assert_eq!(images, ["sidecar=busybox:1.36", "web=nginx:1.29"]);
    // ... and a merge patch of the same list replaces it.
    wisp.ok(&[
        "patch",
        "deployment",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"only","image":"nginx:1.30"}]}}}}"#,
    ]);
    let d = deployment(&wisp, "web");
    assert_eq!(len_at(&d, "spec.template.spec.containers"), 1);
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.name").as_deref(),
        Some("only")
    );

    // label and annotate, with and without --overwrite, and removal.
    assert_eq!(
        wisp.ok(&["label", "deployment", "web", "env=prod"]).trim(),
        "deployment.apps/web labeled"
    );
    let err = wisp
        .kubectl(&["label", "deployment", "web", "env=dev"])
        .failure(1);
    assert!(err.contains("'env' already has a value (prod)"), "{err}");
    wisp.ok(&["label", "deployment", "web", "env=dev", "--overwrite"]);
    assert_eq!(
        wisp.ok(&["get", "deployment", "-l", "env=dev", "-o", "name"])
            .trim(),
        "deployment.apps/web"
    );
    wisp.ok(&["label", "deployment", "web", "env-"]);
    assert_eq!(at(&deployment(&wisp, "web"), "metadata.labels.env"), None);
    assert_eq!(
        wisp.ok(&["annotate", "deployment", "web", "owner=ops@example.com"])
            .trim(),
        "deployment.apps/web annotated"
    );
    let owner = wisp.ok(&[
        "get",
        "deployment",
        "web",
        "-o",
        "jsonpath={.metadata.annotations.owner}",
    ]);
    assert_eq!(owner, "ops@example.com");

    // replace with a stale resourceVersion: Conflict.
    let stale = wisp.ok(&["get", "deployment", "web", "-o", "yaml"]);
    wisp.ok(&["annotate", "deployment", "web", "touched=yes"]);
    let stale_file = write_file(
        &wisp.dir,
        "stale.yaml",
        &stale.replace("replicas: 2", "replicas: 9"),
    );
    let err = wisp
        .kubectl(&["replace", "-f", stale_file.to_str().unwrap()])
        .failure(1);
    assert!(
        err.contains(
            r#"Error from server (Conflict): error when replacing "#
        ) && err.contains(
            r#"Operation cannot be fulfilled on deployments.apps "web": the object has been modified; please apply your changes to the latest version and try again"#
        ),
        "{err}"
    );
    assert_eq!(
        at(&deployment(&wisp, "web"), "spec.replicas").as_deref(),
        Some("2")
    );
    // A fresh copy replaces fine.
    let fresh = wisp.ok(&["get", "deployment", "web", "-o", "yaml"]);
    let fresh_file = write_file(
        &wisp.dir,
        "fresh.yaml",
        &fresh.replace("replicas: 2", "replicas: 6"),
    );
    assert_eq!(
        wisp.ok(&["replace", "-f", fresh_file.to_str().unwrap()])
            .trim(),
        "deployment.apps/web replaced"
    );
    assert_eq!(
        at(&deployment(&wisp, "web"), "spec.replicas").as_deref(),
        Some("6")
    );
    wisp.stop();
}

#[test]
fn invalid_objects_and_unknown_fields_are_rejected_with_upstream_messages() {
    let wisp = Wisp::start("invalid");
    let bad_name = write_file(
        &wisp.dir,
        "bad.yaml",
        &DEPLOYMENT.replace("name: web\n", "name: Web_1\n"),
    );
    let err = wisp
        .kubectl(&["apply", "-f", bad_name.to_str().unwrap()])
        .failure(1);
    assert!(
        err.contains(r#"The Deployment "Web_1" is invalid"#),
        "{err}"
    );
    assert!(
        err.contains(r#"metadata.name: Invalid value: "Web_1""#),
        "{err}"
    );

    // Strict field validation (kubectl's default --validate=strict).
    let unknown = write_file(
        &wisp.dir,
        "unknown.yaml",
        &DEPLOYMENT.replace("  replicas: 1", "  replicaz: 1"),
    );
    let unknown = unknown.to_str().unwrap();
    let err = wisp.kubectl(&["apply", "-f", unknown]).failure(1);
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.replicaz""#),
        "{err}"
    );
    assert!(wisp.kubectl(&["get", "deployment", "web"]).status == Some(1));
    // --validate=warn creates it and warns.
    let run = wisp.kubectl(&["apply", "--validate=warn", "-f", unknown]);
    assert_eq!(run.status, Some(0), "{run}");
    assert!(
        run.stderr.contains(r#"unknown field "spec.replicaz""#),
        "{run}"
    );
    // The unknown field is dropped, not stored.
    let d = deployment(&wisp, "web");
    assert_eq!(at(&d, "spec.replicaz"), None, "{d:?}");
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.name").as_deref(),
        Some("web")
    );

    // The same checks when the object exists: client-side apply is then a patch.
    let typo = write_file(
        &wisp.dir,
        "typo.yaml",
        &DEPLOYMENT.replace("  replicas: 1", "  replicas: 1\n  minReadySecond: 3"),
    );
    let typo = typo.to_str().unwrap();
    let err = wisp.kubectl(&["apply", "-f", typo]).failure(1);
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.minReadySecond""#),
        "{err}"
    );
    let run = wisp.kubectl(&["apply", "--validate=warn", "-f", typo]);
    assert_eq!(run.status, Some(0), "{run}");
    assert!(
        run.stderr
            .contains(r#"unknown field "spec.minReadySecond""#),
        "{run}"
    );
    let d = deployment(&wisp, "web");
    assert_eq!(at(&d, "spec.minReadySecond"), None, "{d:?}");
    assert_eq!(at(&d, "spec.replicas").as_deref(), Some("1"));
    wisp.stop();
}

/// Per-kind defaulting and validation as upstream does it: what kubectl users see for the
/// kinds they write most.
#[test]
fn kind_defaults_and_validation_match_upstream() {
    let wisp = Wisp::start("kinds");
    wisp.ok(&[
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=password=s3cret",
    ]);
    let secret = json(&wisp.ok(&["get", "secret", "creds", "-o", "json"]));
    assert_eq!(at(&secret, "type").as_deref(), Some("Opaque"));

    wisp.ok(&["create", "deployment", "api", "--image=nginx:1.27"]);
    let d = deployment(&wisp, "api");
    assert_eq!(at(&d, "spec.replicas").as_deref(), Some("1"));
    assert_eq!(at(&d, "spec.revisionHistoryLimit").as_deref(), Some("10"));
    assert_eq!(
        at(&d, "spec.progressDeadlineSeconds").as_deref(),
        Some("600")
    );
    assert_eq!(
        at(&d, "spec.strategy.type").as_deref(),
        Some("RollingUpdate")
    );
    assert_eq!(
        at(&d, "spec.template.spec.containers.0.imagePullPolicy").as_deref(),
        Some("IfNotPresent")
    );
    assert_eq!(
        at(&d, "spec.template.spec.restartPolicy").as_deref(),
        Some("Always")
    );

    let mismatch = write_file(
        &wisp.dir,
        "mismatch.yaml",
        &DEPLOYMENT.replace(
            "      labels:\n        app: web\n",
            "      labels:\n        app: other\n",
        ),
    );
    let err = wisp
        .kubectl(&["create", "-f", mismatch.to_str().unwrap()])
        .failure(1);
    assert!(err.contains(r#"The Deployment "web" is invalid"#), "{err}");
    assert!(err.contains("spec.template.metadata.labels"), "{err}");

    let no_containers = write_file(
        &wisp.dir,
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: empty\nspec:\n  containers: []\n",
    );
    let err = wisp
        .kubectl(&["create", "-f", no_containers.to_str().unwrap()])
        .failure(1);
    assert!(err.contains(r#"The Pod "empty" is invalid"#), "{err}");
    assert!(err.contains("spec.containers: Required value"), "{err}");

    let file = write_file(&wisp.dir, "web.yaml", DEPLOYMENT);
    wisp.ok(&["apply", "-f", file.to_str().unwrap()]);
    // An immutable field stays immutable.
    let err = wisp
        .kubectl(&[
            "patch",
            "deployment",
            "web",
            "--type=merge",
            "-p",
            r#"{"spec":{"selector":{"matchLabels":{"app":"changed"}}}}"#,
        ])
        .failure(1);
    assert!(
        err.contains("is invalid") && err.contains("spec.selector"),
        "{err}"
    );
    wisp.stop();
}

#[test]
fn network_policies_are_accepted_without_a_warning() {
    let wisp = Wisp::start("netpol");
    let policy = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: deny-all\nspec:\n  podSelector: {}\n  policyTypes: [Ingress]\n";
    let run = wisp.kubectl_stdin(&["apply", "-f", "-"], policy);
    assert_eq!(run.status, Some(0), "{run}");
    // The node agent enforces them (tests/kubectl_services.rs), so nothing to warn about.
    assert!(!run.stderr.contains("Warning"), "{run}");
    wisp.stop();
}
