//! Pod Security admission's warn and audit modes, and the warnings of a stricter enforce
//! level (k8s.io/pod-security-admission/admission). A pod created, or a pod template of a
//! workload created or updated, in a namespace labelled
//! `pod-security.kubernetes.io/warn: <level>` gets a `Warning` (`would violate PodSecurity
//! "restricted:latest": ...`), and with `.../audit: <level>` an audit annotation
//! `pod-security.kubernetes.io/audit-violations` with the same text. Raising a namespace's
//! enforce level answers with warnings naming the existing pods that break it. The
//! `-version` labels are shown as given; every version is evaluated as the checks wisp has
//! (v1.32), as for enforce.

use miniserde::json::Value;
use wisp_store::Store;

use super::pod_security::{Level, check, forbidden_detail, forbidden_reason};
use crate::api::response::{ApiResponse, Body};
use crate::api::route::Verb;
use crate::object::keys::object_key;
use crate::object::meta;
use crate::registry::Resource;

const PREFIX: &str = "pod-security.kubernetes.io/";
pub const AUDIT_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";

/// A level and the version it is written as (`latest` when unlabelled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LevelVersion {
    pub level: Level,
    pub version: String,
}

impl LevelVersion {
    fn text(&self) -> String {
        let level = match self.level {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        };
        format!("{level}:{}", self.version)
    }
}

/// The policy of `mode` (enforce, warn, audit) a namespace's labels set.
pub fn policy(namespace: &Value, mode: &str) -> LevelVersion {
    let label = |key: String| meta::get_str(namespace, &["metadata", "labels", &key]);
    let level = match label(format!("{PREFIX}{mode}")) {
        None | Some("privileged") => Level::Privileged,
        Some("baseline") => Level::Baseline,
        // upstream evaluates an invalid level as restricted.
        Some(_) => Level::Restricted,
    };
    let version = label(format!("{PREFIX}{mode}-version")).unwrap_or("latest");
    LevelVersion {
        level,
        version: version.to_owned(),
    }
}

/// What warn and audit say about a pod or template.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub warnings: Vec<String>,
    pub audit: Option<String>,
}

/// The pod (or pod-like `{metadata, spec}` template) a written object carries, for the
/// kinds Pod Security looks at.
pub fn pod_like<'a>(group: &str, plural: &str, object: &'a Value) -> Option<&'a Value> {
    let path: &[&str] = match (group, plural) {
        ("", "pods") => return Some(object),
        ("", "replicationcontrollers" | "podtemplates") | ("apps", _) | ("batch", "jobs") => {
            if plural == "podtemplates" {
                &["template"]
            } else {
                &["spec", "template"]
            }
        }
        ("batch", "cronjobs") => &["spec", "jobTemplate", "spec", "template"],
        _ => return None,
    };
    meta::get_path(object, path)
}

/// Whether any Pod Security mode other than enforce is set on `namespace`.
pub fn watched(store: &Store, namespace: &str) -> Option<Value> {
    let key = object_key("", "namespaces", None, namespace);
    let ns = meta::from_json_bytes(&store.get(key.as_bytes())?.value)?;
    let has = |mode: &str| policy(&ns, mode).level != Level::Privileged;
    (has("warn") || has("audit")).then_some(ns)
}

/// Evaluates warn and audit of `namespace` (the stored Namespace) for `pod`.
pub fn evaluate(namespace: &Value, pod: &Value) -> Outcome {
    let text = |p: &LevelVersion| {
        if p.level == Level::Privileged {
            return None;
        }
        let violations = check(p.level, pod);
        (!violations.is_empty()).then(|| {
            format!(
                "would violate PodSecurity {:?}: {}",
                p.text(),
                forbidden_detail(&violations)
            )
        })
    };
    Outcome {
        warnings: text(&policy(namespace, "warn")).into_iter().collect(),
        audit: text(&policy(namespace, "audit")),
    }
}

/// The warnings for a namespace whose enforce policy goes from `old` to `new`: none
/// unless it got stricter (or changed version); then one per distinct set of reasons,
/// naming the lexically first pod and how many others share it, as upstream.
pub fn stricter_enforce_warnings(store: &Store, old: &Value, new: &Value) -> Vec<String> {
    let (before, after) = (policy(old, "enforce"), policy(new, "enforce"));
    let relaxed = after.version == before.version && after.level <= before.level;
    if before == after || after.level == Level::Privileged || relaxed {
        return Vec::new();
    }
    let name = meta::name(new).unwrap_or("");
    let prefix = format!("/registry/core/pods/{name}/");
    // (reasons, first pod name, pod count), in first-seen order.
    let mut groups: Vec<(String, String, usize)> = Vec::new();
    for kv in store.range(prefix.as_bytes(), 0, None).kvs.iter() {
        let Some(pod) = meta::from_json_bytes(&kv.value) else {
            continue;
        };
        let violations = check(after.level, &pod);
        if violations.is_empty() {
            continue;
        }
        let reasons = forbidden_reason(&violations);
        let pod_name = meta::name(&pod).unwrap_or("").to_owned();
        match groups.iter_mut().find(|(r, _, _)| *r == reasons) {
            Some((_, first, count)) => {
                *count += 1;
                if pod_name < *first {
                    *first = pod_name;
                }
            }
            None => groups.push((reasons, pod_name, 1)),
        }
    }
    if groups.is_empty() {
        return Vec::new();
    }
    let mut per_pod: Vec<String> = groups
        .into_iter()
        .map(|(reasons, first, count)| match count {
            1 => format!("{first}: {reasons}"),
            2 => format!("{first} (and 1 other pod): {reasons}"),
            n => format!("{first} (and {} other pods): {reasons}", n - 1),
        })
        .collect();
    per_pod.sort();
    let mut warnings = vec![format!(
        "existing pods in namespace {name:?} violate the new PodSecurity enforce level {:?}",
        after.text()
    )];
    warnings.extend(per_pod);
    warnings
}

/// The stored Namespace a write is about to change, when that write may raise its
/// enforce level (read before the write, for [`annotate`]).
pub fn namespace_before(
    store: &Store,
    resource: &Resource,
    verb: Verb,
    name: Option<&str>,
) -> Option<Value> {
    let update = matches!(verb, Verb::Update | Verb::Patch);
    if !(update && resource.group.is_empty() && resource.plural == "namespaces") {
        return None;
    }
    let key = object_key("", "namespaces", None, name?);
    meta::from_json_bytes(&store.get(key.as_bytes())?.value)
}

fn written_object(response: &ApiResponse) -> Option<Value> {
    match &response.body {
        Body::Bytes(b) => meta::from_json_bytes(b),
        Body::Shared(b) => meta::from_json_bytes(b),
        Body::Stream(_) => None,
    }
}

/// Adds the warn-mode `Warning`s and the audit annotation to a successful write of a pod
/// or workload, and the existing-pod warnings to a Namespace update that raised enforce.
pub fn annotate(
    store: &Store,
    resource: &Resource,
    namespace: Option<&str>,
    verb: Verb,
    before: Option<&Value>,
    response: ApiResponse,
) -> ApiResponse {
    if !matches!(response.status, 200 | 201) {
        return response;
    }
    if let Some(old) = before {
        let Some(new) = written_object(&response) else {
            return response;
        };
        let warnings = stricter_enforce_warnings(store, old, &new);
        return response.with_warnings(&warnings);
    }
    let pods = resource.group.is_empty() && resource.plural == "pods";
    let wanted = if pods {
        verb == Verb::Create
    } else {
        matches!(verb, Verb::Create | Verb::Update | Verb::Patch)
    };
    let Some(ns) = namespace.filter(|_| wanted).and_then(|n| watched(store, n)) else {
        return response;
    };
    let Some(object) = written_object(&response) else {
        return response;
    };
    let Some(pod) = pod_like(&resource.group, &resource.plural, &object) else {
        return response;
    };
    let outcome = evaluate(&ns, pod);
    let mut response = response.with_warnings(&outcome.warnings);
    if let Some(audit) = outcome.audit {
        response
            .audit_annotations
            .push((AUDIT_ANNOTATION.to_owned(), audit));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(s: &str) -> Value {
        meta::from_json_bytes(s.as_bytes()).unwrap()
    }

    fn ns(labels: &str) -> Value {
        json(&format!(
            r#"{{"metadata":{{"name":"team","labels":{{{labels}}}}}}}"#
        ))
    }

    const PLAIN: &str =
        r#"{"metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;

    #[test]
    fn warn_and_audit_say_what_restricted_would_refuse() {
        let namespace = ns(
            r#""pod-security.kubernetes.io/warn":"restricted","pod-security.kubernetes.io/audit":"restricted","pod-security.kubernetes.io/audit-version":"v1.30""#,
        );
        let out = evaluate(&namespace, &json(PLAIN));
        assert_eq!(
            out.warnings,
            vec![
                "would violate PodSecurity \"restricted:latest\": allowPrivilegeEscalation != false \
                 (container \"c\" must set securityContext.allowPrivilegeEscalation=false), \
                 unrestricted capabilities (container \"c\" must set \
                 securityContext.capabilities.drop=[\"ALL\"]), runAsNonRoot != true (pod or \
                 container \"c\" must set securityContext.runAsNonRoot=true), seccompProfile (pod \
                 or container \"c\" must set securityContext.seccompProfile.type to \
                 \"RuntimeDefault\" or \"Localhost\")"
                    .to_owned()
            ]
        );
        let audit = out.audit.unwrap();
        assert!(
            audit.starts_with(
                "would violate PodSecurity \"restricted:v1.30\": allowPrivilegeEscalation"
            ),
            "{audit}"
        );
    }

    #[test]
    fn nothing_without_labels_or_violations() {
        assert_eq!(evaluate(&ns(""), &json(PLAIN)), Outcome::default());
        let namespace = ns(r#""pod-security.kubernetes.io/warn":"baseline""#);
        assert_eq!(evaluate(&namespace, &json(PLAIN)), Outcome::default());
    }

    #[test]
    fn templates_are_found_in_every_workload() {
        let d = json(r#"{"spec":{"template":{"spec":{"containers":[]}}}}"#);
        assert!(pod_like("apps", "deployments", &d).is_some());
        let cj = json(r#"{"spec":{"jobTemplate":{"spec":{"template":{"spec":{}}}}}}"#);
        assert!(pod_like("batch", "cronjobs", &cj).is_some());
        assert!(pod_like("", "configmaps", &d).is_none());
    }
}
