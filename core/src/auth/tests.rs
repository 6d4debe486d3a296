//! End-to-end checks of authentication and authorization through [`ApiServer::handle`] on a
//! real store (in-memory backend): the default policy, bindings made through the API, the
//! RBAC decisions and their upstream messages, escalation refusals and ServiceAccount
//! tokens. No mocks.

use std::rc::Rc;
use std::sync::Arc;

use futures_lite::future::block_on;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{Options, Store};

use super::token::{Claims, ISSUER, ObjectRef, TokenKey};
use super::{controllers, defaults};
use crate::api::response::{ApiResponse, Body};
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::bootstrap::{self, ApiEndpoint};
use crate::object::time::now_unix;

fn server() -> Rc<ApiServer> {
    let store = Store::open_with(Arc::new(SimBackend::new()), Options::default()).unwrap();
    let server = Rc::new(ApiServer::new(store, "127.0.0.1:6443"));
    let endpoint = ApiEndpoint {
        service_ip: "10.43.0.1".into(),
        host_ip: "127.0.0.1".into(),
        port: 6443,
    };
    block_on(async {
        bootstrap::ensure_builtin_objects(&server, &endpoint)
            .await
            .unwrap();
        server.auth().install_key(TokenKey::generate().unwrap().0);
        server
            .auth()
            .install_root_ca("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n");
        defaults::ensure_default_policy(&server).await.unwrap();
        controllers::aggregate_once(&server).await.unwrap();
        controllers::ensure_default_service_accounts(&server).await;
    });
    server
}

fn user(name: &str) -> Option<User> {
    Some(User {
        name: name.into(),
        groups: Vec::new(),
    })
}

fn admin() -> Option<User> {
    Some(defaults::system_user())
}

struct Reply {
    status: u16,
    body: String,
}

fn text(r: ApiResponse) -> Reply {
    let body = match r.body {
        Body::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        Body::Shared(b) => String::from_utf8_lossy(&b).into_owned(),
        Body::Stream(_) => String::new(),
    };
    Reply {
        status: r.status,
        body,
    }
}

fn call(s: &ApiServer, who: Option<User>, method: &str, path: &str, body: &str) -> Reply {
    call_with(
        s,
        ApiRequest {
            user: who,
            ..request(method, path, body)
        },
    )
}

fn request(method: &str, path: &str, body: &str) -> ApiRequest {
    ApiRequest {
        method: method.into(),
        path: path.into(),
        content_type: Some("application/json".into()),
        body: body.as_bytes().to_vec(),
        ..ApiRequest::default()
    }
}

fn call_with(s: &ApiServer, req: ApiRequest) -> Reply {
    text(block_on(s.handle(req)))
}

fn message(r: &Reply) -> String {
    let v = crate::object::meta::from_json_bytes(r.body.as_bytes()).unwrap();
    crate::object::meta::get_str(&v, &["message"])
        .unwrap_or("")
        .to_owned()
}

fn create_ns(s: &ApiServer, ns: &str) {
    let body = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}"}}}}"#);
    assert_eq!(
        call(s, admin(), "POST", "/api/v1/namespaces", &body).status,
        201
    );
}

fn bind(s: &ApiServer, ns: &str, name: &str, role: &str, subject: &str) {
    let body = format!(
        r#"{{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{{"name":"{name}","namespace":"{ns}"}},
        "roleRef":{{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"{role}"}},"subjects":[{subject}]}}"#
    );
    let path = format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings");
    let r = call(s, admin(), "POST", &path, &body);
    assert_eq!(r.status, 201, "{}", r.body);
}

fn user_subject(name: &str) -> String {
    format!(r#"{{"apiGroup":"rbac.authorization.k8s.io","kind":"User","name":"{name}"}}"#)
}

fn demo() -> Rc<ApiServer> {
    let s = server();
    create_ns(&s, "demo");
    block_on(controllers::ensure_default_service_accounts(&s));
    bind(&s, "demo", "alice-view", "view", &user_subject("alice"));
    bind(&s, "demo", "bob-edit", "edit", &user_subject("bob"));
    bind(&s, "demo", "carol-admin", "admin", &user_subject("carol"));
    s
}

const POD: &str = r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}"#;

#[test]
fn nobody_is_anonymous_and_health_stays_open() {
    let s = server();
    assert_eq!(call(&s, None, "GET", "/api/v1/pods", "").status, 401);
    assert_eq!(call(&s, None, "GET", "/healthz", "").status, 200);
    let r = call(
        &s,
        user("alice"),
        "GET",
        "/api/v1/namespaces/default/pods",
        "",
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        message(&r),
        r#"pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default""#
    );
    assert_eq!(call(&s, user("alice"), "GET", "/apis", "").status, 200);
    let r = call(&s, user("alice"), "GET", "/metrics", "");
    assert_eq!(
        message(&r),
        r#"forbidden: User "alice" cannot get path "/metrics""#
    );
}

#[test]
fn view_reads_but_not_secrets_nor_exec() {
    let s = demo();
    assert_eq!(
        call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", POD).status,
        201
    );
    assert_eq!(
        call(&s, user("alice"), "GET", "/api/v1/namespaces/demo/pods", "").status,
        200
    );
    assert_eq!(
        call(
            &s,
            user("alice"),
            "GET",
            "/api/v1/namespaces/demo/pods/p1",
            ""
        )
        .status,
        200
    );
    let r = call(
        &s,
        user("alice"),
        "GET",
        "/api/v1/namespaces/demo/secrets/s",
        "",
    );
    assert_eq!(
        message(&r),
        r#"secrets "s" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "demo""#
    );
    let r = call(
        &s,
        user("alice"),
        "POST",
        "/api/v1/namespaces/demo/pods/p1/exec",
        "",
    );
    assert_eq!(r.status, 403);
    assert!(message(&r).contains(r#"cannot create resource "pods/exec""#));
    let r = call(
        &s,
        user("alice"),
        "GET",
        "/api/v1/namespaces/default/pods",
        "",
    );
    assert_eq!(r.status, 403, "view in demo only");
    let r = call(
        &s,
        user("alice"),
        "POST",
        "/api/v1/namespaces/demo/pods",
        POD,
    );
    assert_eq!(r.status, 403);
}

#[test]
fn edit_cannot_touch_rbac_and_admin_stays_in_its_namespace() {
    let s = demo();
    let role = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}"#;
    let r = call(
        &s,
        user("bob"),
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
        role,
    );
    assert_eq!(
        message(&r),
        r#"roles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "roles" in API group "rbac.authorization.k8s.io" in the namespace "demo""#
    );
    assert_eq!(
        call(&s, user("bob"), "POST", "/api/v1/namespaces/demo/pods", POD).status,
        201
    );
    let r = call(
        &s,
        user("carol"),
        "GET",
        "/api/v1/namespaces/default/secrets",
        "",
    );
    assert_eq!(r.status, 403);
    let r = call(&s, user("carol"), "DELETE", "/api/v1/namespaces/demo", "");
    assert_eq!(r.status, 403, "admin may not delete its namespace");
    let r = call(
        &s,
        user("carol"),
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
        role,
    );
    assert_eq!(r.status, 201, "{}", r.body);
}

#[test]
fn escalation_is_refused_with_upstreams_message() {
    let s = demo();
    let nodes = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"n"},"rules":[{"apiGroups":[""],"resources":["nodes"],"verbs":["get","list"]}]}"#;
    let r = call(
        &s,
        user("carol"),
        "POST",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
        nodes,
    );
    assert_eq!(r.status, 403);
    assert_eq!(
        message(&r),
        "roles.rbac.authorization.k8s.io \"n\" is forbidden: user \"carol\" (groups=[\"system:authenticated\"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[\"\"], Resources:[\"nodes\"], Verbs:[\"get\" \"list\"]}"
    );
    let binding = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"b"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"cluster-admin"},
        "subjects":[{"kind":"User","name":"carol"}]}"#;
    let path = "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/rolebindings";
    let r = call(&s, user("carol"), "POST", path, binding);
    assert_eq!(r.status, 403);
    assert!(
        message(&r).starts_with(
            r#"rolebindings.rbac.authorization.k8s.io "b" is forbidden: user "carol""#
        )
    );
    // Binding what one holds is fine; so is binding more once granted `bind` on it.
    let edit = binding
        .replace("cluster-admin", "edit")
        .replace(r#""name":"b""#, r#""name":"b2""#);
    assert_eq!(call(&s, user("carol"), "POST", path, &edit).status, 201);
    let grant = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"binder"},"rules":[{"apiGroups":["rbac.authorization.k8s.io"],"resources":["clusterroles"],"verbs":["bind"],"resourceNames":["cluster-admin"]}]}"#;
    assert_eq!(
        call(
            &s,
            admin(),
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles",
            grant
        )
        .status,
        201
    );
    let rb = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"RoleBinding","metadata":{"name":"carol-binder"},
        "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"binder"},"subjects":[{"kind":"User","name":"carol"}]}"#;
    assert_eq!(call(&s, admin(), "POST", path, rb).status, 201);
    assert_eq!(call(&s, user("carol"), "POST", path, binding).status, 201);
}

#[test]
fn escalation_through_patch_is_refused() {
    let s = demo();
    let role = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"Role","metadata":{"name":"r"},"rules":[{"apiGroups":[""],"resources":["pods"],"verbs":["get"]}]}"#;
    let base = "/apis/rbac.authorization.k8s.io/v1/namespaces/demo/roles";
    assert_eq!(call(&s, user("carol"), "POST", base, role).status, 201);
    let patch = r#"{"rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["*"]}]}"#;
    let req = ApiRequest {
        user: user("carol"),
        content_type: Some("application/merge-patch+json".into()),
        ..request("PATCH", &format!("{base}/r"), patch)
    };
    let r = call_with(&s, req);
    assert_eq!(r.status, 403, "{}", r.body);
    let stored = call(&s, admin(), "GET", &format!("{base}/r"), "");
    assert!(
        stored.body.contains(r#""resources":["pods"]"#),
        "{}",
        stored.body
    );
}

#[test]
fn impersonation_needs_the_impersonate_verb() {
    let s = demo();
    let mut req = request("GET", "/api/v1/namespaces/demo/pods", "");
    req.user = user("bob");
    req.impersonate = vec![("impersonate-user".into(), "alice".into())];
    let r = call_with(&s, req.clone());
    assert_eq!(
        message(&r),
        r#"users "alice" is forbidden: User "bob" cannot impersonate resource "users" in API group "" at the cluster scope"#
    );
    req.user = admin();
    assert_eq!(
        call_with(&s, req.clone()).status,
        200,
        "admin acts as alice"
    );
    req.path = "/api/v1/namespaces/demo/secrets".into();
    assert_eq!(call_with(&s, req).status, 403, "as alice, no secrets");
}

fn token_for(s: &ApiServer, ns: &str, sa: &str, body: &str) -> String {
    let path = format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token");
    let r = call(s, admin(), "POST", &path, body);
    assert_eq!(r.status, 201, "{}", r.body);
    let v = crate::object::meta::from_json_bytes(r.body.as_bytes()).unwrap();
    crate::object::meta::get_str(&v, &["status", "token"])
        .unwrap()
        .to_owned()
}

fn with_token(s: &ApiServer, token: &str, path: &str) -> u16 {
    let mut req = request("GET", path, "");
    req.authorization = Some(format!("Bearer {token}"));
    call_with(s, req).status
}

const TOKEN_REQUEST: &str =
    r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{}}"#;

#[test]
fn service_account_tokens_carry_their_bindings_and_die_with_the_account() {
    let s = demo();
    let token = token_for(&s, "demo", "default", TOKEN_REQUEST);
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 403);
    let sa = r#"{"kind":"ServiceAccount","name":"default","namespace":"demo"}"#;
    bind(&s, "demo", "sa-view", "view", sa);
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 200);
    assert_eq!(
        with_token(&s, &token, "/api/v1/namespaces/default/pods"),
        403
    );
    assert_eq!(
        call(
            &s,
            admin(),
            "DELETE",
            "/api/v1/namespaces/demo/serviceaccounts/default",
            ""
        )
        .status,
        200
    );
    assert_eq!(
        with_token(&s, &token, "/api/v1/namespaces/demo/pods"),
        401,
        "deleted account"
    );
}

#[test]
fn pod_bound_tokens_die_with_the_pod() {
    let s = demo();
    bind(
        &s,
        "demo",
        "sa-view",
        "view",
        r#"{"kind":"ServiceAccount","name":"default"}"#,
    );
    assert_eq!(
        call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", POD).status,
        201
    );
    let body = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"boundObjectRef":{"kind":"Pod","apiVersion":"v1","name":"p1"}}}"#;
    let token = token_for(&s, "demo", "default", body);
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 200);
    let del = r#"{"gracePeriodSeconds":0}"#;
    call(
        &s,
        admin(),
        "DELETE",
        "/api/v1/namespaces/demo/pods/p1",
        del,
    );
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 401);
}

#[test]
fn foreign_expired_and_misaddressed_tokens_are_refused() {
    let s = demo();
    bind(
        &s,
        "demo",
        "sa-view",
        "view",
        r#"{"kind":"ServiceAccount","name":"default"}"#,
    );
    let vault = r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["vault"]}}"#;
    let token = token_for(&s, "demo", "default", vault);
    assert_eq!(
        with_token(&s, &token, "/api/v1/namespaces/demo/pods"),
        401,
        "wrong audience"
    );
    let sa = crate::object::meta::from_json_bytes(
        call(
            &s,
            admin(),
            "GET",
            "/api/v1/namespaces/demo/serviceaccounts/default",
            "",
        )
        .body
        .as_bytes(),
    )
    .unwrap();
    let now = now_unix();
    let claims = Claims {
        issuer: ISSUER.into(),
        audiences: vec![ISSUER.into()],
        subject: "system:serviceaccount:demo:default".into(),
        issued_at: now - 7200,
        not_before: now - 7200,
        expires: now - 3600,
        id: "x".into(),
        namespace: "demo".into(),
        service_account: ObjectRef {
            name: "default".into(),
            uid: crate::object::meta::uid(&sa).unwrap().into(),
        },
        pod: None,
        secret: None,
    };
    let ours = s.auth().key().unwrap();
    let expired = ours.sign(&claims).unwrap();
    assert_eq!(
        with_token(&s, &expired, "/api/v1/namespaces/demo/pods"),
        401,
        "expired"
    );
    let fresh = Claims {
        expires: now + 600,
        ..claims
    };
    assert_eq!(
        with_token(
            &s,
            &ours.sign(&fresh).unwrap(),
            "/api/v1/namespaces/demo/pods"
        ),
        200
    );
    let (foreign, _) = TokenKey::generate().unwrap();
    let forged = foreign.sign(&fresh).unwrap();
    assert_eq!(
        with_token(&s, &forged, "/api/v1/namespaces/demo/pods"),
        401,
        "foreign key"
    );
}

#[test]
fn access_reviews_answer_for_the_asker_or_the_subject() {
    let s = demo();
    let ssar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{"resourceAttributes":{"namespace":"demo","verb":"list","resource":"pods"}}}"#;
    let path = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    assert!(
        call(&s, user("alice"), "POST", path, ssar)
            .body
            .contains(r#""allowed":true"#)
    );
    assert!(
        call(&s, user("dave"), "POST", path, ssar)
            .body
            .contains(r#""allowed":false"#)
    );
    let sar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"alice","resourceAttributes":{"namespace":"demo","verb":"get","resource":"secrets"}}}"#;
    let sar_path = "/apis/authorization.k8s.io/v1/subjectaccessreviews";
    assert_eq!(call(&s, user("alice"), "POST", sar_path, sar).status, 403);
    assert!(
        call(&s, admin(), "POST", sar_path, sar)
            .body
            .contains(r#""allowed":false"#)
    );
    let rules = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectRulesReview","spec":{"namespace":"demo"}}"#;
    let r = call(
        &s,
        user("alice"),
        "POST",
        "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
        rules,
    );
    assert!(r.body.contains(r#""pods/log""#), "{}", r.body);
    let lsar = sar.replace("SubjectAccessReview", "LocalSubjectAccessReview");
    let lpath = "/apis/authorization.k8s.io/v1/namespaces/demo/localsubjectaccessreviews";
    assert_eq!(
        call(&s, user("carol"), "POST", lpath, &lsar).status,
        201,
        "admin may ask in its namespace"
    );
}

#[test]
fn aggregation_follows_labelled_cluster_roles() {
    let s = server();
    let extra = r#"{"apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"widgets","labels":{"rbac.authorization.k8s.io/aggregate-to-view":"true"}},"rules":[{"apiGroups":["example.com"],"resources":["widgets"],"verbs":["get"]}]}"#;
    assert_eq!(
        call(
            &s,
            admin(),
            "POST",
            "/apis/rbac.authorization.k8s.io/v1/clusterroles",
            extra
        )
        .status,
        201
    );
    block_on(controllers::aggregate_once(&s)).unwrap();
    for role in ["view", "edit", "admin"] {
        let r = call(
            &s,
            admin(),
            "GET",
            &format!("/apis/rbac.authorization.k8s.io/v1/clusterroles/{role}"),
            "",
        );
        assert!(r.body.contains("widgets"), "{role}: {}", r.body);
    }
}

#[test]
fn new_namespaces_get_a_default_service_account() {
    let s = server();
    let controller = controllers::run_service_accounts(Rc::clone(&s));
    let check = async {
        create_ns(&s, "fresh");
        for _ in 0..200 {
            let r = call(
                &s,
                admin(),
                "GET",
                "/api/v1/namespaces/fresh/serviceaccounts/default",
                "",
            );
            if r.status == 200 {
                return true;
            }
            async_io::Timer::after(std::time::Duration::from_millis(10)).await;
        }
        false
    };
    let created = block_on(futures_lite::future::or(check, async {
        controller.await;
        false
    }));
    assert!(created);
}

#[test]
fn pods_get_the_token_volume_unless_automount_is_off() {
    let s = demo();
    let r = call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", POD);
    assert!(r.body.contains("kube-api-access-"), "{}", r.body);
    assert!(r.body.contains(super::token_volume::MOUNT_PATH));
    let off = POD
        .replace(
            r#""spec":{"#,
            r#""spec":{"automountServiceAccountToken":false,"#,
        )
        .replace("p1", "p2");
    let r = call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", &off);
    assert_eq!(r.status, 201, "{}", r.body);
    assert!(!r.body.contains("kube-api-access-"), "{}", r.body);
    let ghost = POD
        .replace(r#""spec":{"#, r#""spec":{"serviceAccountName":"ghost","#)
        .replace("p1", "p3");
    let r = call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", &ghost);
    assert_eq!(
        message(&r),
        r#"pods "p3" is forbidden: error looking up service account demo/ghost: serviceaccount "ghost" not found"#
    );
    let cm = call(
        &s,
        admin(),
        "GET",
        "/api/v1/namespaces/demo/configmaps/kube-root-ca.crt",
        "",
    );
    assert!(cm.body.contains("BEGIN CERTIFICATE"), "{}", cm.body);
}

#[test]
fn token_secrets_get_a_token_that_dies_with_the_secret() {
    use base64::Engine;
    let s = demo();
    bind(
        &s,
        "demo",
        "sa-view",
        "view",
        r#"{"kind":"ServiceAccount","name":"default"}"#,
    );
    let secret = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"t","annotations":{"kubernetes.io/service-account.name":"default"}},"type":"kubernetes.io/service-account-token"}"#;
    assert_eq!(
        call(
            &s,
            admin(),
            "POST",
            "/api/v1/namespaces/demo/secrets",
            secret
        )
        .status,
        201
    );
    block_on(super::legacy_tokens::fill_all(&s));
    let r = call(&s, admin(), "GET", "/api/v1/namespaces/demo/secrets/t", "");
    let v = crate::object::meta::from_json_bytes(r.body.as_bytes()).unwrap();
    let encoded = crate::object::meta::get_str(&v, &["data", "token"]).expect("token filled");
    let token = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let token = String::from_utf8(token).unwrap();
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 200);
    assert_eq!(
        call(
            &s,
            admin(),
            "DELETE",
            "/api/v1/namespaces/demo/secrets/t",
            ""
        )
        .status,
        200
    );
    assert_eq!(with_token(&s, &token, "/api/v1/namespaces/demo/pods"), 401);
}

#[test]
fn a_baseline_namespace_refuses_privileged_pods() {
    let s = demo();
    let label = r#"{"metadata":{"labels":{"pod-security.kubernetes.io/enforce":"baseline"}}}"#;
    let req = ApiRequest {
        user: admin(),
        content_type: Some("application/merge-patch+json".into()),
        ..request("PATCH", "/api/v1/namespaces/demo", label)
    };
    assert_eq!(call_with(&s, req).status, 200);
    let privileged = POD.replace(
        r#""image":"busybox""#,
        r#""image":"busybox","securityContext":{"privileged":true}"#,
    );
    let r = call(
        &s,
        admin(),
        "POST",
        "/api/v1/namespaces/demo/pods",
        &privileged,
    );
    assert_eq!(
        message(&r),
        r#"pods "p1" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
    );
    assert_eq!(
        call(&s, admin(), "POST", "/api/v1/namespaces/demo/pods", POD).status,
        201
    );
}

#[test]
fn default_roles_regain_missing_rules_at_start() {
    let s = server();
    let path = "/apis/rbac.authorization.k8s.io/v1/clusterroles/system:basic-user";
    let shrink = r#"{"rules":[{"apiGroups":["authentication.k8s.io"],"resources":["selfsubjectreviews"],"verbs":["create"]}]}"#;
    let req = ApiRequest {
        user: admin(),
        content_type: Some("application/merge-patch+json".into()),
        ..request("PATCH", path, shrink)
    };
    assert_eq!(call_with(&s, req).status, 200);
    block_on(defaults::ensure_default_policy(&s)).unwrap();
    let r = call(&s, admin(), "GET", path, "");
    assert!(r.body.contains("selfsubjectaccessreviews"), "{}", r.body);
}

/// Run by hand: `cargo test --release -p wisp-core auth::tests::authorization_cost -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement, not a check"]
fn authorization_cost() {
    use super::attributes::{Attributes, ResourceAttributes};
    let s = server();
    create_ns(&s, "demo");
    for n in [10usize, 100, 1000] {
        for i in 0..n {
            bind(
                &s,
                "demo",
                &format!("b{n}-{i}"),
                "view",
                &user_subject(&format!("u{n}-{i}")),
            );
        }
        let who = User {
            name: "u10-7".into(),
            groups: vec!["system:authenticated".into()],
        };
        let attrs = Attributes::resource(
            "get",
            ResourceAttributes {
                namespace: "demo".into(),
                resource: "secrets".into(),
                name: "x".into(),
                ..ResourceAttributes::default()
            },
        );
        let rounds = 20_000u32;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            assert!(!s.auth().decide(&who, &attrs).allowed);
        }
        let per = started.elapsed() / rounds;
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            drop(s.auth().rbac().index());
        }
        let sync = started.elapsed() / rounds;
        let index = s.auth().rbac().index();
        let started = std::time::Instant::now();
        for _ in 0..rounds {
            assert!(!index.decide(&who, &attrs).allowed);
        }
        let decide = started.elapsed() / rounds;
        drop(index);
        println!("sync {sync:?}, decide {decide:?}");
        let bindings = s.auth().rbac().index().binding_count();
        println!("{bindings} bindings: {per:?} per denied check");
    }
}

mod least_privilege;

mod role_ref;
