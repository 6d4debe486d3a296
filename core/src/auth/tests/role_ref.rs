//! A binding's roleRef is immutable, with upstream's 422; its subjects are not.

use super::*;

#[test]
fn changing_a_bindings_role_ref_is_refused_and_subjects_may_change() {
    let s = server();
    create_ns(&s, "team");
    bind(&s, "team", "readers", "view", &user_subject("alice"));
    let path = "/apis/rbac.authorization.k8s.io/v1/namespaces/team/rolebindings/readers";
    let patch = |body: &str| ApiRequest {
        user: admin(),
        content_type: Some("application/merge-patch+json".into()),
        ..request("PATCH", path, body)
    };
    let r = call_with(
        &s,
        patch(
            r#"{"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"edit"}}"#,
        ),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert_eq!(
        message(&r),
        "RoleBinding.rbac.authorization.k8s.io \"readers\" is invalid: roleRef: Invalid value: \
         rbac.RoleRef{APIGroup:\"rbac.authorization.k8s.io\", Kind:\"ClusterRole\", \
         Name:\"edit\"}: cannot change roleRef"
    );
    let r = call_with(
        &s,
        patch(&format!(r#"{{"subjects":[{}]}}"#, user_subject("bob"))),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let cluster = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"b"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"view"},"subjects":[]}"#;
    let cpath = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings";
    assert_eq!(call(&s, admin(), "POST", cpath, cluster).status, 201);
    let r = call(
        &s,
        admin(),
        "PUT",
        &format!("{cpath}/b"),
        &cluster.replace("\"view\"", "\"admin\""),
    );
    assert_eq!(r.status, 422, "{}", r.body);
    assert!(message(&r).ends_with("cannot change roleRef"), "{}", r.body);
}
