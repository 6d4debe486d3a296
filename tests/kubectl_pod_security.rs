//! Pod Security admission's warn and audit modes and the warnings of a stricter enforce
//! level, driven with kubectl against the real binary (control plane only).

mod support;

use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use support::Wisp;

const PRIVILEGED_POD: &str = r#"apiVersion: v1
kind: Pod
metadata:
  name: priv
  namespace: team
spec:
  containers:
  - name: priv
    image: busybox
    securityContext:
      privileged: true
"#;

const RESTRICTED_PLAIN: &str = "allowPrivilegeEscalation != false, unrestricted capabilities, \
     runAsNonRoot != true, seccompProfile";

fn warnings(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("Warning: "))
        .collect()
}

/// The audit lines of requests whose annotations mention `needle`, waiting for the writer
/// thread.
fn audit_lines_with(dir: &Path, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(dir.join("audit/audit.log")).unwrap_or_default();
        let found: Vec<String> = text
            .lines()
            .filter(|l| l.contains("\"annotations\"") && l.contains(needle))
            .map(str::to_owned)
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_pods(wisp: &Wisp, selector: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = wisp.ok(&["get", "pods", "-n", "team", "-l", selector, "-o", "name"]);
        if out.lines().count() >= n {
            return;
        }
        assert!(Instant::now() < deadline, "no pods for {selector}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn warn_audit_and_a_stricter_enforce_level_speak_upstreams_words() {
    let data_dir = RefCell::new(PathBuf::new());
    let wisp = Wisp::start_with("pod-security", |dir| {
        *data_dir.borrow_mut() = dir.to_owned();
        "node:\n  enabled: false\naudit:\n  enabled: true\n".to_owned()
    });
    wisp.ok(&["create", "namespace", "team"]);
    wisp.ok(&[
        "label",
        "namespace",
        "team",
        "pod-security.kubernetes.io/warn=restricted",
        "pod-security.kubernetes.io/audit=baseline",
        "pod-security.kubernetes.io/audit-version=v1.30",
    ]);

    // warn: the pod is created, kubectl prints upstream's warning.
    let run = wisp.kubectl(&["run", "plain", "-n", "team", "--image=busybox"]);
    assert!(run.status_ok(), "{run}");
    assert_eq!(
        warnings(&run.stderr),
        vec![
            "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false \
             (container \"plain\" must set securityContext.allowPrivilegeEscalation=false), \
             unrestricted capabilities (container \"plain\" must set \
             securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or \
             container \"plain\" must set securityContext.runAsNonRoot=true), seccompProfile \
             (pod or container \"plain\" must set securityContext.seccompProfile.type to \
             \"RuntimeDefault\" or \"Localhost\")"
        ],
        "{run}"
    );

    // audit: a baseline violation is annotated in the audit log, not refused.
    let run = wisp.kubectl_stdin(&["apply", "-f", "-"], PRIVILEGED_POD);
    assert!(run.status_ok(), "{run}");
    let audited = audit_lines_with(&data_dir.borrow(), "baseline:v1.30");
    assert_eq!(audited.len(), 1, "{audited:?}");
    assert!(
        audited[0].contains("pod-security.kubernetes.io/audit-violations"),
        "{}",
        audited[0]
    );
    assert!(
        audited[0].contains(
            r#"would violate PodSecurity \"baseline:v1.30\": privileged (container \"priv\" must not set securityContext.privileged=true)"#
        ),
        "{}",
        audited[0]
    );

    // Workloads are warned about their pod template.
    let run = wisp.kubectl(&[
        "create",
        "deployment",
        "web",
        "-n",
        "team",
        "--image=busybox",
    ]);
    assert!(run.status_ok(), "{run}");
    let w = warnings(&run.stderr);
    assert_eq!(w.len(), 1, "{run}");
    assert!(
        w[0].starts_with("would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false (container \"busybox\""),
        "{run}"
    );
    wait_for_pods(&wisp, "app=web", 1);

    // A stricter enforce level, dry run: the existing pods that break it, nothing changed.
    let run = wisp.kubectl(&[
        "label",
        "--dry-run=server",
        "--overwrite",
        "namespace",
        "team",
        "pod-security.kubernetes.io/enforce=baseline",
    ]);
    assert!(run.status_ok(), "{run}");
    assert_eq!(
        warnings(&run.stderr),
        vec![
            "existing pods in namespace \"team\" violate the new PodSecurity enforce level \"baseline:latest\"",
            "priv: privileged",
        ],
        "{run}"
    );
    let labels = wisp.ok(&[
        "get",
        "namespace",
        "team",
        "-o",
        "jsonpath={.metadata.labels}",
    ]);
    assert!(!labels.contains("enforce"), "{labels}");

    // For real, at restricted: pods sharing their reasons are counted together.
    let run = wisp.kubectl(&[
        "label",
        "namespace",
        "team",
        "pod-security.kubernetes.io/enforce=restricted",
    ]);
    assert!(run.status_ok(), "{run}");
    let w = warnings(&run.stderr);
    assert_eq!(w.len(), 3, "{run}");
    assert_eq!(
        w[0],
        "existing pods in namespace \"team\" violate the new PodSecurity enforce level \"restricted:latest\""
    );
    assert_eq!(w[1], format!("plain (and 1 other pod): {RESTRICTED_PLAIN}"));
    assert!(
        w[2].starts_with("priv: ") && w[2].contains("privileged"),
        "{run}"
    );

    // Relaxing it says nothing.
    let run = wisp.kubectl(&[
        "label",
        "--overwrite",
        "namespace",
        "team",
        "pod-security.kubernetes.io/enforce=baseline",
    ]);
    assert!(run.status_ok(), "{run}");
    assert!(warnings(&run.stderr).is_empty(), "{run}");
    wisp.stop();
}
