//! The RBAC policy of wisp's own components: upstream's `system:controller:<account>`
//! ClusterRoles bound to ServiceAccount kube-system/<account>, system:kube-scheduler and
//! system:kube-controller-manager bound to their users, and system:node (bound to nobody:
//! the node authorizer, [`super::node_authorizer`], evaluates its rules). Rules are
//! upstream's (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/controller_policy.go and
//! policy.go) for what wisp serves; where a wisp controller sends a verb upstream's does
//! not, the extra verb is marked `wisp:` below. Created at start like [`super::defaults`].

use miniserde::json::{Object, Value};

use super::defaults::{
    READ, RoleSpec, bootstrap_metadata, cluster_role_json, create_if_absent, object,
    reconcile_rules, role, rule, string,
};
use super::identities::{CONTROLLER_MANAGER, SCHEDULER};
use super::rules::PolicyRule;
use crate::api::server::ApiServer;
use crate::status::ApiError;

/// The user the CRD controller writes as (an API-server loop upstream).
pub const CRD_CONTROLLER: &str = "system:wisp:customresourcedefinition-controller";
const CONTROLLER_PREFIX: &str = "system:controller:";
const RBAC: &str = "rbac.authorization.k8s.io";

/// Who a component ClusterRole is bound to.
#[derive(Clone, Copy)]
enum BoundTo {
    /// A ServiceAccount in kube-system.
    Account(&'static str),
    Accounts(&'static [&'static str]),
    User(&'static str),
    /// Nobody (upstream's empty system:node binding).
    Nobody,
}

fn events() -> PolicyRule {
    rule(
        &["create", "update", "patch"],
        &["", "events.k8s.io"],
        &["events"],
    )
}

/// (account, rules) of every controller role.
fn controller_roles() -> Vec<(&'static str, Vec<PolicyRule>)> {
    let apps = &["apps", "extensions"][..];
    vec![
        (
            "clusterrole-aggregation-controller",
            vec![rule(
                &["escalate", "get", "list", "watch", "update", "patch"],
                &[RBAC],
                &["clusterroles"],
            )],
        ),
        (
            "cronjob-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update"],
                    &["batch"],
                    &["cronjobs"],
                ),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "delete", "patch",
                    ],
                    &["batch"],
                    &["jobs"],
                ),
                rule(
                    &["update"],
                    &["batch"],
                    &["cronjobs/status", "cronjobs/finalizers"],
                ),
                rule(&["list", "watch", "delete"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "daemon-set-controller",
            vec![
                rule(READ, apps, &["daemonsets"]),
                rule(
                    &["update"],
                    apps,
                    &["daemonsets/status", "daemonsets/finalizers"],
                ),
                rule(&["list", "watch"], &[""], &["nodes"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[""],
                    &["pods"],
                ),
                rule(&["create"], &[""], &["pods/binding"]),
                rule(
                    &[
                        "get", "list", "watch", "create", "delete", "update", "patch",
                    ],
                    &["apps"],
                    &["controllerrevisions"],
                ),
                events(),
            ],
        ),
        (
            "deployment-controller",
            vec![
                // wisp: patch (the revision annotation is merge-patched).
                rule(
                    &["get", "list", "watch", "update", "patch"],
                    apps,
                    &["deployments"],
                ),
                rule(
                    &["update"],
                    apps,
                    &["deployments/status", "deployments/finalizers"],
                ),
                rule(
                    &[
                        "get", "list", "watch", "create", "update", "patch", "delete",
                    ],
                    apps,
                    &["replicasets"],
                ),
                rule(&["get", "list", "watch", "update"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "disruption-controller",
            vec![
                rule(READ, apps, &["deployments", "replicasets"]),
                rule(READ, &[""], &["replicationcontrollers"]),
                rule(READ, &["policy"], &["poddisruptionbudgets"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(&["update"], &["policy"], &["poddisruptionbudgets/status"]),
                rule(&["patch", "update"], &[""], &["pods/status"]),
                rule(&["get"], &["*"], &["*/scale"]),
                events(),
            ],
        ),
        (
            "endpoint-controller",
            vec![
                rule(READ, &[""], &["services", "pods"]),
                rule(
                    &["get", "list", "watch", "create", "update", "delete"],
                    &[""],
                    &["endpoints"],
                ),
                rule(&["create"], &[""], &["endpoints/restricted"]),
                events(),
            ],
        ),
        (
            "endpointslice-controller",
            vec![
                rule(READ, &[""], &["services", "pods", "nodes"]),
                rule(&["update"], &[""], &["services/finalizers"]),
                rule(
                    &["get", "list", "watch", "create", "update", "delete"],
                    &["discovery.k8s.io"],
                    &["endpointslices"],
                ),
                events(),
            ],
        ),
        (
            "generic-garbage-collector",
            vec![
                rule(
                    &["get", "list", "watch", "patch", "update", "delete"],
                    &["*"],
                    &["*"],
                ),
                events(),
            ],
        ),
        (
            "job-controller",
            vec![
                // wisp: delete (the job controller also deletes Jobs after their
                // ttlSecondsAfterFinished, upstream's ttl-after-finished-controller).
                rule(
                    &["get", "list", "watch", "update", "patch", "delete"],
                    &["batch"],
                    &["jobs"],
                ),
                rule(&["update"], &["batch"], &["jobs/status", "jobs/finalizers"]),
                rule(
                    &["list", "watch", "create", "delete", "patch"],
                    &[""],
                    &["pods"],
                ),
                events(),
            ],
        ),
        (
            "namespace-controller",
            vec![
                rule(&["get", "list", "watch", "delete"], &[""], &["namespaces"]),
                rule(
                    &["update"],
                    &[""],
                    &["namespaces/finalize", "namespaces/status"],
                ),
                rule(
                    &["get", "list", "watch", "delete", "deletecollection"],
                    &["*"],
                    &["*"],
                ),
            ],
        ),
        (
            "node-controller",
            vec![
                rule(
                    &["get", "list", "watch", "update", "delete", "patch"],
                    &[""],
                    &["nodes"],
                ),
                rule(
                    &["patch", "update"],
                    &[""],
                    &["nodes/status", "pods/status"],
                ),
                rule(&["list", "watch", "get", "delete"], &[""], &["pods"]),
                events(),
            ],
        ),
        (
            "resourcequota-controller",
            vec![
                rule(&["list", "watch"], &["*"], &["*"]),
                rule(&["update"], &[""], &["resourcequotas/status"]),
                events(),
            ],
        ),
        (
            "persistent-volume-binder",
            vec![
                rule(
                    &["get", "list", "watch", "update", "create", "delete"],
                    &[""],
                    &["persistentvolumes"],
                ),
                rule(&["update"], &[""], &["persistentvolumes/status"]),
                rule(
                    &["get", "list", "watch", "update"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[""], &["persistentvolumeclaims/status"]),
                rule(
                    &["list", "watch", "get", "create", "delete"],
                    &[""],
                    &["pods"],
                ),
                rule(READ, &["storage.k8s.io"], &["storageclasses"]),
                rule(&["list", "watch"], &[""], &["nodes"]),
                events(),
                rule(&["watch"], &[""], &["events"]),
                rule(&["get"], &[""], &["services"]),
            ],
        ),
        (
            "pod-garbage-collector",
            vec![
                rule(&["list", "watch", "delete"], &[""], &["pods"]),
                rule(READ, &[""], &["nodes"]),
                rule(&["patch"], &[""], &["pods/status"]),
            ],
        ),
        (
            "replicaset-controller",
            vec![
                rule(&["get", "list", "watch", "update"], apps, &["replicasets"]),
                rule(
                    &["update"],
                    apps,
                    &["replicasets/status", "replicasets/finalizers"],
                ),
                rule(
                    &["list", "watch", "patch", "create", "delete"],
                    &[""],
                    &["pods"],
                ),
                events(),
            ],
        ),
        (
            "root-ca-cert-publisher",
            vec![
                rule(&["create", "update"], &[""], &["configmaps"]),
                events(),
            ],
        ),
        (
            "service-account-controller",
            vec![rule(&["create"], &[""], &["serviceaccounts"]), events()],
        ),
        (
            "statefulset-controller",
            vec![
                rule(&["list", "watch"], &[""], &["pods"]),
                rule(READ, &["apps"], &["statefulsets"]),
                rule(
                    &["update"],
                    &["apps"],
                    &["statefulsets/status", "statefulsets/finalizers"],
                ),
                rule(
                    &["get", "create", "delete", "update", "patch"],
                    &[""],
                    &["pods"],
                ),
                rule(
                    &[
                        "get", "create", "delete", "update", "patch", "list", "watch",
                    ],
                    &["apps"],
                    &["controllerrevisions"],
                ),
                rule(
                    &["get", "create", "list", "watch", "update", "delete"],
                    &[""],
                    &["persistentvolumeclaims"],
                ),
                rule(&["update"], &[""], &["pods/finalizers"]),
                events(),
            ],
        ),
        (
            "ttl-after-finished-controller",
            vec![
                rule(&["get", "list", "watch", "delete"], &["batch"], &["jobs"]),
                events(),
            ],
        ),
    ]
}

/// Whether `account` (in kube-system) has a system:controller:<account> role.
pub fn has_controller_role(account: &str) -> bool {
    controller_roles().iter().any(|(a, _)| *a == account)
}

fn scheduler_rules() -> Vec<PolicyRule> {
    vec![
        events(),
        rule(&["create"], &["coordination.k8s.io"], &["leases"]),
        named(
            rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]),
            "kube-scheduler",
        ),
        rule(READ, &[""], &["nodes"]),
        rule(&["get", "list", "watch", "delete"], &[""], &["pods"]),
        rule(&["create"], &[""], &["pods/binding", "bindings"]),
        rule(&["patch", "update"], &[""], &["pods/status"]),
        rule(READ, &[""], &["services", "replicationcontrollers"]),
        rule(READ, &["apps", "extensions"], &["replicasets"]),
        rule(READ, &["apps"], &["statefulsets"]),
        rule(READ, &["policy"], &["poddisruptionbudgets"]),
        rule(
            READ,
            &[""],
            &["persistentvolumeclaims", "persistentvolumes"],
        ),
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
        ),
        rule(READ, &["storage.k8s.io"], &["csinodes", "storageclasses"]),
    ]
}

fn volume_scheduler_rules() -> Vec<PolicyRule> {
    let verbs = &["get", "list", "patch", "update", "watch"];
    vec![
        rule(verbs, &[""], &["persistentvolumes"]),
        rule(verbs, &[""], &["persistentvolumeclaims"]),
        rule(READ, &["storage.k8s.io"], &["storageclasses"]),
    ]
}

fn controller_manager_rules() -> Vec<PolicyRule> {
    vec![
        events(),
        rule(&["create"], &["coordination.k8s.io"], &["leases"]),
        named(
            rule(&["get", "update"], &["coordination.k8s.io"], &["leases"]),
            "kube-controller-manager",
        ),
        rule(&["create"], &[""], &["secrets", "serviceaccounts"]),
        rule(&["delete"], &[""], &["secrets"]),
        rule(
            &["get"],
            &[""],
            &["namespaces", "secrets", "serviceaccounts", "configmaps"],
        ),
        rule(&["update"], &[""], &["secrets", "serviceaccounts"]),
        // wisp: patch (the tokens controller merge-patches the token into its Secret).
        rule(&["patch"], &[""], &["secrets"]),
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews"],
        ),
        rule(&["list", "watch"], &["*"], &["*"]),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
    ]
}

/// The rules of ClusterRole system:node; the node authorizer evaluates them for every
/// node, narrowed to the node's own objects.
pub fn node_rules() -> Vec<PolicyRule> {
    vec![
        rule(&["create"], &["authentication.k8s.io"], &["tokenreviews"]),
        rule(
            &["create"],
            &["authorization.k8s.io"],
            &["subjectaccessreviews", "localsubjectaccessreviews"],
        ),
        rule(READ, &[""], &["services"]),
        rule(&["create", "get", "list", "watch"], &[""], &["nodes"]),
        rule(&["update", "patch"], &[""], &["nodes/status", "nodes"]),
        rule(&["create", "update", "patch"], &[""], &["events"]),
        rule(READ, &[""], &["pods"]),
        rule(&["create", "delete"], &[""], &["pods"]),
        rule(&["update", "patch"], &[""], &["pods/status"]),
        rule(&["create"], &[""], &["pods/eviction"]),
        rule(READ, &[""], &["secrets", "configmaps"]),
        rule(
            &["get"],
            &[""],
            &["persistentvolumeclaims", "persistentvolumes", "endpoints"],
        ),
        rule(
            &["create", "get", "list", "watch"],
            &["certificates.k8s.io"],
            &["certificatesigningrequests"],
        ),
        rule(
            &["get", "create", "update", "patch", "delete"],
            &["coordination.k8s.io"],
            &["leases"],
        ),
        rule(
            &["get", "update", "patch"],
            &[""],
            &["persistentvolumeclaims/status"],
        ),
        rule(&["create"], &[""], &["serviceaccounts/token"]),
        rule(READ, &["node.k8s.io"], &["runtimeclasses"]),
        // wisp: the node agent publishes LoadBalancer ingress (its service load balancer).
        rule(&["patch", "update"], &[""], &["services/status"]),
    ]
}

fn crd_controller_rules() -> Vec<PolicyRule> {
    vec![
        rule(
            &["get", "list", "watch", "update", "patch"],
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions"],
        ),
        rule(
            &["update", "patch"],
            &["apiextensions.k8s.io"],
            &["customresourcedefinitions/status"],
        ),
        // Removing a CRD deletes its custom resources, whatever their group.
        rule(&["list", "delete", "deletecollection"], &["*"], &["*"]),
        events(),
    ]
}

fn named(mut r: PolicyRule, name: &str) -> PolicyRule {
    r.resource_names = vec![name.to_owned()];
    r
}

/// Every component role with whom it is bound to.
fn component_roles() -> Vec<(RoleSpec, BoundTo)> {
    let mut roles: Vec<(RoleSpec, BoundTo)> = controller_roles()
        .into_iter()
        .map(|(account, rules)| {
            let bound = match account {
                // wisp's endpoint controller writes the EndpointSlices as well.
                "endpointslice-controller" => {
                    BoundTo::Accounts(&["endpointslice-controller", "endpoint-controller"])
                }
                _ => BoundTo::Account(account),
            };
            (role(&format!("{CONTROLLER_PREFIX}{account}"), rules), bound)
        })
        .collect();
    roles.push((role(SCHEDULER, scheduler_rules()), BoundTo::User(SCHEDULER)));
    // Upstream's volume binding in the scheduler writes the selected node into claims
    // through this role (bound to system:kube-scheduler), not through the scheduler's own.
    roles.push((
        role("system:volume-scheduler", volume_scheduler_rules()),
        BoundTo::User(SCHEDULER),
    ));
    roles.push((
        role(CONTROLLER_MANAGER, controller_manager_rules()),
        BoundTo::User(CONTROLLER_MANAGER),
    ));
    roles.push((role("system:node", node_rules()), BoundTo::Nobody));
    roles.push((
        role(CRD_CONTROLLER, crd_controller_rules()),
        BoundTo::User(CRD_CONTROLLER),
    ));
    roles
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Value {
    let mut s = Object::new();
    s.insert("kind".into(), string(kind));
    s.insert("name".into(), string(name));
    match namespace {
        Some(ns) => s.insert("namespace".into(), string(ns)),
        None => s.insert("apiGroup".into(), string(RBAC)),
    };
    Value::Object(s)
}

fn binding_json(name: &str, bound: BoundTo) -> String {
    let subjects: Vec<Value> = match bound {
        BoundTo::Account(account) => vec![subject("ServiceAccount", account, Some("kube-system"))],
        BoundTo::Accounts(accounts) => accounts
            .iter()
            .map(|a| subject("ServiceAccount", a, Some("kube-system")))
            .collect(),
        BoundTo::User(user) => vec![subject("User", user, None)],
        BoundTo::Nobody => Vec::new(),
    };
    let mut role_ref = Object::new();
    role_ref.insert("apiGroup".into(), string(RBAC));
    role_ref.insert("kind".into(), string("ClusterRole"));
    role_ref.insert("name".into(), string(name));
    let mut fields = vec![("roleRef", Value::Object(role_ref))];
    if !subjects.is_empty() {
        fields.push(("subjects", Value::Array(subjects.into_iter().collect())));
    }
    object("ClusterRoleBinding", bootstrap_metadata(name, &[]), fields)
}

/// Creates the component ClusterRoles and bindings that are missing, and adds rules a
/// newer wisp needs to roles still marked autoupdate=true.
pub async fn ensure_component_policy(server: &ApiServer) -> Result<(), ApiError> {
    for (spec, bound) in component_roles() {
        create_if_absent(
            server,
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            cluster_role_json(&spec),
        )
        .await?;
        reconcile_rules(server, &spec).await?;
        create_if_absent(
            server,
            "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            binding_json(&spec.name, bound),
        )
        .await?;
    }
    Ok(())
}
