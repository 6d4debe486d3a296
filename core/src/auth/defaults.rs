//! The bootstrap RBAC policy: upstream's default ClusterRoles (cluster-admin, the
//! aggregated admin/edit/view with their system:aggregate-to-* parts, system:discovery,
//! system:basic-user, system:public-info-viewer) and their default bindings, created at
//! start through the API like [`crate::bootstrap`] creates namespaces. The rules are
//! upstream's (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) restricted to
//! what wisp serves. Existing roles annotated autoupdate=true get missing rules added at
//! start; bindings and aggregated roles are left alone.

use miniserde::json::{Object, Value};

use super::escalation;
use super::rules::{PolicyRule, rules_of};
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::object::keys::object_key;
use crate::object::meta;
use crate::status::ApiError;

pub(super) const READ: &[&str] = &["get", "list", "watch"];
const WRITE: &[&str] = &["create", "delete", "deletecollection", "patch", "update"];
const READ_WRITE: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const AGGREGATE: &str = "rbac.authorization.k8s.io/aggregate-to-";

pub(super) fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
    PolicyRule {
        verbs: v(verbs),
        api_groups: v(groups),
        resources: v(resources),
        ..PolicyRule::default()
    }
}

fn urls(verbs: &[&str], paths: &[&str]) -> PolicyRule {
    let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
    PolicyRule {
        verbs: v(verbs),
        non_resource_urls: v(paths),
        ..PolicyRule::default()
    }
}

fn view_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods",
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/status",
                "endpoints",
                "persistentvolumeclaims",
                "persistentvolumeclaims/status",
                "configmaps",
            ],
        ),
        rule(
            READ,
            &[""],
            &[
                "limitranges",
                "resourcequotas",
                "bindings",
                "events",
                "pods/status",
                "resourcequotas/status",
                "namespaces/status",
                "replicationcontrollers/status",
                "pods/log",
            ],
        ),
        rule(READ, &[""], &["namespaces"]),
        rule(READ, &["discovery.k8s.io"], &["endpointslices"]),
        rule(
            READ,
            &["apps"],
            &[
                "controllerrevisions",
                "statefulsets",
                "statefulsets/status",
                "statefulsets/scale",
                "daemonsets",
                "daemonsets/status",
                "deployments",
                "deployments/status",
                "deployments/scale",
                "replicasets",
                "replicasets/status",
                "replicasets/scale",
            ],
        ),
        rule(
            READ,
            &["autoscaling"],
            &[
                "horizontalpodautoscalers",
                "horizontalpodautoscalers/status",
            ],
        ),
        rule(
            READ,
            &["batch"],
            &["jobs", "cronjobs", "cronjobs/status", "jobs/status"],
        ),
        rule(
            READ,
            &["policy"],
            &["poddisruptionbudgets", "poddisruptionbudgets/status"],
        ),
        rule(
            READ,
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses", "ingresses/status"],
        ),
    ]
}

fn edit_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            READ,
            &[""],
            &[
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
                "secrets",
                "services/proxy",
            ],
        ),
        rule(&["impersonate"], &[""], &["serviceaccounts"]),
        rule(
            WRITE,
            &[""],
            &[
                "pods",
                "pods/attach",
                "pods/proxy",
                "pods/exec",
                "pods/portforward",
            ],
        ),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(
            WRITE,
            &[""],
            &[
                "replicationcontrollers",
                "replicationcontrollers/scale",
                "serviceaccounts",
                "services",
                "services/proxy",
                "persistentvolumeclaims",
                "configmaps",
                "secrets",
                "events",
            ],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(
            WRITE,
            &["apps"],
            &[
                "statefulsets",
                "statefulsets/scale",
                "daemonsets",
                "deployments",
                "deployments/scale",
                "deployments/rollback",
                "replicasets",
                "replicasets/scale",
            ],
        ),
        rule(WRITE, &["autoscaling"], &["horizontalpodautoscalers"]),
        rule(WRITE, &["batch"], &["jobs", "cronjobs"]),
        rule(WRITE, &["policy"], &["poddisruptionbudgets"]),
        rule(
            WRITE,
            &["networking.k8s.io"],
            &["networkpolicies", "ingresses"],
        ),
        rule(READ_WRITE, &["coordination.k8s.io"], &["leases"]),
    ]
}

fn admin_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["localsubjectaccessreviews"],
        ),
        rule(
            READ_WRITE,
            &["rbac.authorization.k8s.io"],
            &["roles", "rolebindings"],
        ),
    ]
}

/// One ClusterRole: name, labels, rules, and the label it aggregates (if any).
pub(super) struct RoleSpec {
    pub(super) name: String,
    pub(super) labels: Vec<(String, &'static str)>,
    pub(super) rules: Vec<PolicyRule>,
    pub(super) aggregates: Option<&'static str>,
}

pub(super) fn role(name: &str, rules: Vec<PolicyRule>) -> RoleSpec {
    RoleSpec {
        name: name.to_owned(),
        labels: Vec::new(),
        rules,
        aggregates: None,
    }
}

fn label(to: &str) -> (String, &'static str) {
    (format!("{AGGREGATE}{to}"), "true")
}

fn cluster_roles() -> Vec<RoleSpec> {
    let discovery = [
        "/api",
        "/api/*",
        "/apis",
        "/apis/*",
        "/healthz",
        "/livez",
        "/openapi",
        "/openapi/*",
        "/readyz",
        "/version",
        "/version/",
    ];
    let public = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    vec![
        role(
            "cluster-admin",
            vec![rule(&["*"], &["*"], &["*"]), urls(&["*"], &["*"])],
        ),
        RoleSpec {
            aggregates: Some("admin"),
            ..role("admin", Vec::new())
        },
        RoleSpec {
            aggregates: Some("edit"),
            labels: vec![label("admin")],
            ..role("edit", Vec::new())
        },
        RoleSpec {
            aggregates: Some("view"),
            labels: vec![label("edit")],
            ..role("view", Vec::new())
        },
        RoleSpec {
            labels: vec![label("admin")],
            ..role("system:aggregate-to-admin", admin_rules())
        },
        RoleSpec {
            labels: vec![label("edit")],
            ..role("system:aggregate-to-edit", edit_rules())
        },
        RoleSpec {
            labels: vec![label("view")],
            ..role("system:aggregate-to-view", view_rules())
        },
        role("system:discovery", vec![urls(&["get"], &discovery)]),
        role("system:public-info-viewer", vec![urls(&["get"], &public)]),
        role(
            "system:basic-user",
            vec![
                rule(
                    &["create"],
                    &["authorization.k8s.io"],
                    &["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                ),
                rule(
                    &["create"],
                    &["authentication.k8s.io"],
                    &["selfsubjectreviews"],
                ),
            ],
        ),
    ]
}

/// (binding and role name, groups bound).
const CLUSTER_BINDINGS: &[(&str, &[&str])] = &[
    ("cluster-admin", &["system:masters"]),
    ("system:discovery", &["system:authenticated"]),
    ("system:basic-user", &["system:authenticated"]),
    (
        "system:public-info-viewer",
        &["system:authenticated", "system:unauthenticated"],
    ),
];

pub(super) fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

pub(super) fn bootstrap_metadata(name: &str, labels: &[(String, &str)]) -> Value {
    let mut l = Object::new();
    l.insert(
        "kubernetes.io/bootstrapping".into(),
        string("rbac-defaults"),
    );
    for (k, v) in labels {
        l.insert(k.clone(), string(v));
    }
    let mut a = Object::new();
    a.insert(
        "rbac.authorization.kubernetes.io/autoupdate".into(),
        string("true"),
    );
    let mut md = Object::new();
    md.insert("name".into(), string(name));
    md.insert("labels".into(), Value::Object(l));
    md.insert("annotations".into(), Value::Object(a));
    Value::Object(md)
}

pub(super) fn object(kind: &str, metadata: Value, fields: Vec<(&str, Value)>) -> String {
    let mut o = Object::new();
    o.insert("apiVersion".into(), string("rbac.authorization.k8s.io/v1"));
    o.insert("kind".into(), string(kind));
    o.insert("metadata".into(), metadata);
    for (k, v) in fields {
        o.insert(k.into(), v);
    }
    miniserde::json::to_string(&Value::Object(o))
}

pub(super) fn cluster_role_json(spec: &RoleSpec) -> String {
    let rules = Value::Array(spec.rules.iter().map(PolicyRule::to_json).collect());
    let mut fields = vec![("rules", rules)];
    if let Some(to) = spec.aggregates {
        let mut match_labels = Object::new();
        match_labels.insert(format!("{AGGREGATE}{to}"), string("true"));
        let mut selector = Object::new();
        selector.insert("matchLabels".into(), Value::Object(match_labels));
        let mut agg = Object::new();
        agg.insert(
            "clusterRoleSelectors".into(),
            Value::Array(vec![Value::Object(selector)].into_iter().collect()),
        );
        fields.push(("aggregationRule", Value::Object(agg)));
    }
    object(
        "ClusterRole",
        bootstrap_metadata(&spec.name, &spec.labels),
        fields,
    )
}

fn binding_json(name: &str, groups: &[&str]) -> String {
    let mut role_ref = Object::new();
    role_ref.insert("apiGroup".into(), string("rbac.authorization.k8s.io"));
    role_ref.insert("kind".into(), string("ClusterRole"));
    role_ref.insert("name".into(), string(name));
    let subjects = groups
        .iter()
        .map(|g| {
            let mut s = Object::new();
            s.insert("apiGroup".into(), string("rbac.authorization.k8s.io"));
            s.insert("kind".into(), string("Group"));
            s.insert("name".into(), string(g));
            Value::Object(s)
        })
        .collect();
    object(
        "ClusterRoleBinding",
        bootstrap_metadata(name, &[]),
        vec![
            ("roleRef", Value::Object(role_ref)),
            ("subjects", Value::Array(subjects)),
        ],
    )
}

/// The API server's own identity for in-process writes.
pub fn system_user() -> User {
    User {
        name: "system:apiserver".to_owned(),
        groups: vec![super::subjects::MASTERS.to_owned()],
    }
}

pub(super) async fn create_if_absent(
    server: &ApiServer,
    path: &str,
    body: String,
) -> Result<(), ApiError> {
    let req = ApiRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        content_type: Some("application/json".to_owned()),
        body: body.into_bytes(),
        user: Some(system_user()),
        ..ApiRequest::default()
    };
    match server.handle(req).await.status {
        201 | 409 => Ok(()),
        code => Err(ApiError::internal(format!(
            "bootstrap POST {path} answered {code}"
        ))),
    }
}

/// Adds the rules a default ClusterRole lacks (a newer wisp serving more), as upstream's
/// start-up reconciliation does for roles annotated autoupdate=true; extra rules stay.
pub(super) async fn reconcile_rules(server: &ApiServer, spec: &RoleSpec) -> Result<(), ApiError> {
    let key = object_key(
        "rbac.authorization.k8s.io",
        "clusterroles",
        None,
        &spec.name,
    );
    let Some(current) = server
        .store()
        .get(key.as_bytes())
        .and_then(|kv| meta::from_json_bytes(&kv.value))
    else {
        return Ok(());
    };
    let autoupdate = meta::get_str(
        &current,
        &[
            "metadata",
            "annotations",
            "rbac.authorization.kubernetes.io/autoupdate",
        ],
    );
    let mut rules = rules_of(&current);
    let missing: Vec<PolicyRule> = spec
        .rules
        .iter()
        .filter(|r| !escalation::uncovered(&rules, std::slice::from_ref(*r)).is_empty())
        .cloned()
        .collect();
    if autoupdate != Some("true") || missing.is_empty() {
        return Ok(());
    }
    rules.extend(missing);
    let mut patch = Object::new();
    patch.insert(
        "rules".into(),
        Value::Array(rules.iter().map(PolicyRule::to_json).collect()),
    );
    let req = ApiRequest {
        method: "PATCH".to_owned(),
        path: format!(
            "/apis/rbac.authorization.k8s.io/v1/clusterroles/{}",
            spec.name
        ),
        content_type: Some("application/merge-patch+json".to_owned()),
        body: miniserde::json::to_string(&Value::Object(patch)).into_bytes(),
        user: Some(system_user()),
        ..ApiRequest::default()
    };
    match server.handle(req).await.status {
        200 => Ok(()),
        code => Err(ApiError::internal(format!(
            "reconciling clusterrole {}: {code}",
            spec.name
        ))),
    }
}

/// Creates the default ClusterRoles and ClusterRoleBindings that are missing.
pub async fn ensure_default_policy(server: &ApiServer) -> Result<(), ApiError> {
    for spec in cluster_roles() {
        create_if_absent(
            server,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            cluster_role_json(&spec),
        )
        .await?;
        if spec.aggregates.is_none() {
            reconcile_rules(server, &spec).await?;
        }
    }
    for (name, groups) in CLUSTER_BINDINGS {
        create_if_absent(
            server,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            binding_json(name, groups),
        )
        .await?;
    }
    Ok(())
}
