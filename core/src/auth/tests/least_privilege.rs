//! wisp's own components act with least privilege: each controller, the scheduler and the
//! node are allowed what their code sends and refused what they do not need, through the
//! real authorizers (RBAC with the component roles, the node authorizer, NodeRestriction).

use super::*;
use crate::auth::identities;

fn can(s: &ApiServer, who: &User, verb: &str, path: &str) -> bool {
    let req = ApiRequest {
        method: "GET".into(),
        path: path.into(),
        ..ApiRequest::default()
    };
    let Some(mut attrs) = crate::auth::Attributes::from_request(&req) else {
        panic!("no attributes for {path}");
    };
    attrs.verb = verb.to_owned();
    s.auth().decide(who, &attrs).allowed
}

/// (component, allowed (verb, path), refused (verb, path)).
type Case = (
    User,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static str)],
);

fn cases() -> Vec<Case> {
    vec![
        (
            identities::controller("deployment-controller"),
            &[
                (
                    "update",
                    "/apis/apps/v1/namespaces/default/deployments/d/status",
                ),
                ("patch", "/apis/apps/v1/namespaces/default/deployments/d"),
                ("create", "/apis/apps/v1/namespaces/default/replicasets"),
                ("delete", "/apis/apps/v1/namespaces/default/replicasets/r"),
                ("create", "/api/v1/namespaces/default/events"),
            ],
            &[
                ("get", "/api/v1/namespaces/default/secrets/s"),
                ("create", "/api/v1/namespaces/default/pods"),
                ("delete", "/api/v1/namespaces/default/pods/p"),
                (
                    "update",
                    "/apis/apps/v1/namespaces/default/replicasets/r/status",
                ),
            ],
        ),
        (
            identities::controller("replicaset-controller"),
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                ("patch", "/api/v1/namespaces/default/pods/p"),
                (
                    "update",
                    "/apis/apps/v1/namespaces/default/replicasets/r/status",
                ),
            ],
            &[
                ("get", "/api/v1/namespaces/default/secrets/s"),
                ("update", "/apis/apps/v1/namespaces/default/deployments/d"),
                ("update", "/api/v1/namespaces/default/pods/p/status"),
            ],
        ),
        (
            identities::controller("statefulset-controller"),
            &[
                (
                    "create",
                    "/api/v1/namespaces/default/persistentvolumeclaims",
                ),
                (
                    "update",
                    "/apis/apps/v1/namespaces/default/statefulsets/s/status",
                ),
            ],
            &[("get", "/api/v1/namespaces/default/secrets/s")],
        ),
        (
            identities::controller("daemon-set-controller"),
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                (
                    "update",
                    "/apis/apps/v1/namespaces/default/daemonsets/d/status",
                ),
            ],
            &[
                ("get", "/api/v1/namespaces/default/secrets/s"),
                ("update", "/api/v1/nodes/n"),
            ],
        ),
        (
            identities::controller("job-controller"),
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                ("update", "/apis/batch/v1/namespaces/default/jobs/j/status"),
            ],
            &[
                ("create", "/apis/batch/v1/namespaces/default/jobs"),
                ("get", "/api/v1/namespaces/default/secrets/s"),
            ],
        ),
        (
            identities::controller("cronjob-controller"),
            &[
                ("create", "/apis/batch/v1/namespaces/default/jobs"),
                (
                    "update",
                    "/apis/batch/v1/namespaces/default/cronjobs/c/status",
                ),
            ],
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                ("get", "/api/v1/namespaces/default/secrets/s"),
            ],
        ),
        (
            identities::controller("endpoint-controller"),
            &[
                ("create", "/api/v1/namespaces/default/endpoints"),
                (
                    "create",
                    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                ),
                (
                    "delete",
                    "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/e",
                ),
            ],
            &[
                ("update", "/api/v1/namespaces/default/services/s"),
                ("get", "/api/v1/namespaces/default/secrets/s"),
            ],
        ),
        (
            identities::controller("generic-garbage-collector"),
            &[
                ("delete", "/api/v1/namespaces/default/secrets/s"),
                ("patch", "/apis/apps/v1/namespaces/default/replicasets/r"),
            ],
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                (
                    "create",
                    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                ),
            ],
        ),
        (
            identities::controller("namespace-controller"),
            &[
                ("delete", "/api/v1/namespaces/default/secrets/s"),
                ("update", "/api/v1/namespaces/x/finalize"),
                ("update", "/api/v1/namespaces/x/status"),
            ],
            &[
                ("create", "/api/v1/namespaces/default/pods"),
                ("update", "/api/v1/namespaces/default/secrets/s"),
            ],
        ),
        (
            identities::controller("clusterrole-aggregation-controller"),
            &[
                (
                    "patch",
                    "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
                ),
                (
                    "escalate",
                    "/apis/rbac.authorization.k8s.io/v1/clusterroles/admin",
                ),
            ],
            &[
                (
                    "create",
                    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                ),
                ("get", "/api/v1/namespaces/default/secrets/s"),
            ],
        ),
        (
            identities::controller("service-account-controller"),
            &[("create", "/api/v1/namespaces/default/serviceaccounts")],
            &[
                ("create", "/api/v1/namespaces/default/configmaps"),
                (
                    "create",
                    "/api/v1/namespaces/default/serviceaccounts/default/token",
                ),
            ],
        ),
        (
            identities::controller("root-ca-cert-publisher"),
            &[("create", "/api/v1/namespaces/default/configmaps")],
            &[("get", "/api/v1/namespaces/default/secrets/s")],
        ),
        (
            identities::scheduler(),
            &[
                ("create", "/api/v1/namespaces/default/pods/p/binding"),
                ("update", "/api/v1/namespaces/default/pods/p/status"),
                ("list", "/api/v1/nodes"),
            ],
            &[
                ("get", "/api/v1/namespaces/default/secrets/s"),
                ("create", "/api/v1/namespaces/default/pods"),
                ("update", "/api/v1/nodes/n/status"),
            ],
        ),
        (
            User {
                name: crate::auth::component_policy::CRD_CONTROLLER.to_owned(),
                groups: vec!["system:authenticated".to_owned()],
            },
            &[
                (
                    "update",
                    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/c/status",
                ),
                (
                    "delete",
                    "/apis/example.com/v1/namespaces/default/widgets/w",
                ),
            ],
            &[
                ("get", "/api/v1/namespaces/default/secrets/s"),
                ("create", "/api/v1/namespaces/default/pods"),
            ],
        ),
        (
            identities::controller_manager(),
            &[("update", "/api/v1/namespaces/default/secrets/s")],
            &[("create", "/api/v1/namespaces/default/pods")],
        ),
    ]
}

#[test]
fn every_component_gets_what_it_sends_and_nothing_it_does_not_need() {
    let s = server();
    for (who, allowed, refused) in cases() {
        assert!(
            !who.groups.iter().any(|g| g == "system:masters"),
            "{} is an admin",
            who.name
        );
        for (verb, path) in allowed {
            assert!(
                can(&s, &who, verb, path),
                "{} cannot {verb} {path}",
                who.name
            );
        }
        for (verb, path) in refused {
            assert!(!can(&s, &who, verb, path), "{} can {verb} {path}", who.name);
        }
    }
}

#[test]
fn the_deployment_controller_cannot_read_secrets() {
    let s = server();
    let who = identities::controller("deployment-controller");
    let r = call(
        &s,
        Some(who),
        "GET",
        "/api/v1/namespaces/default/secrets/x",
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        message(&r),
        "secrets \"x\" is forbidden: User \"system:serviceaccount:kube-system:deployment-controller\" \
         cannot get resource \"secrets\" in API group \"\" in the namespace \"default\""
    );
}

#[test]
fn component_roles_are_stored_with_their_bindings() {
    let s = server();
    let r = call(
        &s,
        admin(),
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:controller:deployment-controller",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""kind":"ServiceAccount""#), "{}", r.body);
    assert!(
        r.body.contains(r#""name":"deployment-controller""#),
        "{}",
        r.body
    );
    let r = call(
        &s,
        admin(),
        "GET",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/system:node",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("subjects"), "{}", r.body);
}

fn pod_on(s: &ApiServer, name: &str, node: &str, secret: &str) {
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{"nodeName":"{node}",
        "containers":[{{"name":"c","image":"busybox","env":[{{"name":"E","valueFrom":{{"secretKeyRef":{{"name":"{secret}","key":"k"}}}}}}]}}]}}}}"#
    );
    let r = call(s, admin(), "POST", "/api/v1/namespaces/default/pods", &body);
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn a_node_reads_only_what_its_own_pods_use() {
    let s = server();
    pod_on(&s, "mine", "board", "used");
    pod_on(&s, "theirs", "other", "elsewhere");
    let node = identities::node("board");
    assert!(can(
        &s,
        &node,
        "get",
        "/api/v1/namespaces/default/secrets/used"
    ));
    assert!(!can(
        &s,
        &node,
        "get",
        "/api/v1/namespaces/default/secrets/elsewhere"
    ));
    assert!(!can(
        &s,
        &node,
        "list",
        "/api/v1/namespaces/default/secrets"
    ));
    assert!(can(
        &s,
        &node,
        "get",
        "/api/v1/namespaces/default/serviceaccounts/default"
    ));
    assert!(!can(
        &s,
        &node,
        "get",
        "/api/v1/namespaces/kube-system/serviceaccounts/default"
    ));
    assert!(!can(
        &s,
        &node,
        "delete",
        "/api/v1/namespaces/default/secrets/used"
    ));
    assert!(!can(
        &s,
        &node,
        "create",
        "/apis/apps/v1/namespaces/default/deployments"
    ));
    let r = call(
        &s,
        Some(node),
        "GET",
        "/api/v1/namespaces/default/secrets/elsewhere",
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        message(&r),
        "secrets \"elsewhere\" is forbidden: User \"system:node:board\" cannot get resource \
         \"secrets\" in API group \"\" in the namespace \"default\": no relationship found between \
         node 'board' and this object"
    );
}

#[test]
fn a_node_writes_only_its_own_node_and_pods() {
    let s = server();
    pod_on(&s, "mine", "board", "used");
    pod_on(&s, "theirs", "other", "elsewhere");
    let node = || Some(identities::node("board"));
    let status = r#"{"status":{"phase":"Running"}}"#;
    let patch = |path: &str| ApiRequest {
        user: node(),
        content_type: Some("application/merge-patch+json".into()),
        ..request("PATCH", path, status)
    };
    let r = call_with(&s, patch("/api/v1/namespaces/default/pods/mine/status"));
    assert_eq!(r.status, 200, "{}", r.body);
    let r = call_with(&s, patch("/api/v1/namespaces/default/pods/theirs/status"));
    assert_eq!(r.status, 403, "{}", r.body);
    assert_eq!(
        message(&r),
        "pods \"theirs\" is forbidden: node \"board\" can only update pod status for pods with \
         spec.nodeName set to itself"
    );
    let r = call(
        &s,
        node(),
        "DELETE",
        "/api/v1/namespaces/default/pods/theirs",
        "",
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let r = call(
        &s,
        node(),
        "DELETE",
        "/api/v1/namespaces/default/pods/mine",
        "",
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let own = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"board"}}"#;
    assert_eq!(call(&s, node(), "POST", "/api/v1/nodes", own).status, 201);
    let other = r#"{"apiVersion":"v1","kind":"Node","metadata":{"name":"other"}}"#;
    let r = call(&s, node(), "POST", "/api/v1/nodes", other);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        message(&r).ends_with("node \"board\" is not allowed to modify node \"other\""),
        "{}",
        r.body
    );
    let pod = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"nodeName":"board","containers":[{"name":"c","image":"busybox"}]}}"#;
    let r = call(&s, node(), "POST", "/api/v1/namespaces/default/pods", pod);
    assert_eq!(r.status, 403, "{}", r.body);
    assert!(
        message(&r).contains("can only create mirror pods"),
        "{}",
        r.body
    );
}
