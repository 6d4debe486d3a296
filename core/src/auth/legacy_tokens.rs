//! Long-lived ServiceAccount tokens, only where asked for: a Secret of type
//! `kubernetes.io/service-account-token` annotated `kubernetes.io/service-account.name`
//! gets `data.token`, `data.ca.crt` and `data.namespace` filled in (upstream's token
//! controller). The token is bound to the Secret and the ServiceAccount, so deleting either
//! revokes it; it carries no practical expiry. Driven by a watch on Secrets.

use std::rc::Rc;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use miniserde::json::{Object, Value};

use super::controllers::{Batch, next_batch, send};
use super::subjects::service_account_user;
use super::token::{Claims, ISSUER, ObjectRef};
use crate::api::server::ApiServer;
use crate::object::keys::{object_key, resource_prefix};
use crate::object::time::now_unix;
use crate::object::{meta, uid};

pub const SECRET_TYPE: &str = "kubernetes.io/service-account-token";
const SA_NAME: &str = "kubernetes.io/service-account.name";
const SA_UID: &str = "kubernetes.io/service-account.uid";
/// "Never" in practice: a hundred years.
const LIFETIME_SECS: i64 = 100 * 365 * 24 * 3600;

/// The data patch a Secret needs, or None when it is not a token Secret, is already
/// filled, or names a ServiceAccount that does not exist.
pub fn token_patch(server: &ApiServer, secret: &Value) -> Option<String> {
    if meta::get_str(secret, &["type"]) != Some(SECRET_TYPE)
        || meta::get_str(secret, &["data", "token"]).is_some()
        || meta::deletion_timestamp(secret).is_some()
    {
        return None;
    }
    let ns = meta::namespace(secret)?;
    let sa_name = meta::get_str(secret, &["metadata", "annotations", SA_NAME])?;
    let key = object_key("", "serviceaccounts", Some(ns), sa_name);
    let sa = meta::from_json_bytes(&server.store().get(key.as_bytes())?.value)?;
    let sa_uid = meta::uid(&sa).unwrap_or("").to_owned();
    let now = now_unix();
    let claims = Claims {
        issuer: ISSUER.to_owned(),
        audiences: vec![ISSUER.to_owned()],
        subject: service_account_user(ns, sa_name),
        issued_at: now,
        not_before: now,
        expires: now + LIFETIME_SECS,
        id: uid::new_uid(),
        namespace: ns.to_owned(),
        service_account: ObjectRef {
            name: sa_name.to_owned(),
            uid: sa_uid.clone(),
        },
        pod: None,
        secret: Some(ObjectRef {
            name: meta::name(secret)?.to_owned(),
            uid: meta::uid(secret)?.to_owned(),
        }),
    };
    let token = server.auth().key()?.sign(&claims).ok()?;
    let ca = server
        .auth()
        .root_ca()
        .map(|c| c.to_string())
        .unwrap_or_default();
    let mut data = Object::new();
    for (k, v) in [
        ("token", token.as_str()),
        ("ca.crt", ca.as_str()),
        ("namespace", ns),
    ] {
        data.insert(k.to_owned(), Value::String(STANDARD.encode(v)));
    }
    let mut annotations = Object::new();
    annotations.insert(SA_UID.to_owned(), Value::String(sa_uid));
    let mut md = Object::new();
    md.insert("annotations".into(), Value::Object(annotations));
    let mut patch = Object::new();
    patch.insert("metadata".into(), Value::Object(md));
    patch.insert("data".into(), Value::Object(data));
    Some(miniserde::json::to_string(&Value::Object(patch)))
}

async fn fill(server: &ApiServer, secret: &Value) {
    let Some(patch) = token_patch(server, secret) else {
        return;
    };
    let (ns, name) = (
        meta::namespace(secret).unwrap_or(""),
        meta::name(secret).unwrap_or(""),
    );
    let path = format!("/api/v1/namespaces/{ns}/secrets/{name}");
    // Upstream's tokens controller uses kube-controller-manager's own credentials.
    let user = super::identities::controller_manager();
    let status = send(
        server,
        user,
        "PATCH",
        path,
        "application/merge-patch+json",
        patch,
    )
    .await;
    if !matches!(status, 200 | 404) {
        eprintln!("wisp: filling token secret {ns}/{name}: {status}");
    }
}

/// One pass over every Secret.
pub async fn fill_all(server: &ApiServer) {
    let prefix = resource_prefix("", "secrets");
    let (secrets, _) = super::controllers::read_all(server.store(), &prefix);
    for s in &secrets {
        fill(server, s).await;
    }
}

/// Fills token Secrets as they are written, until the store closes.
pub async fn run(server: Rc<ApiServer>) {
    let prefix = resource_prefix("", "secrets");
    loop {
        let from = server.store().current_revision();
        let Ok(mut watcher) = server.store().watch(prefix.as_bytes(), from) else {
            return;
        };
        fill_all(&server).await;
        loop {
            match next_batch(&mut watcher).await {
                Batch::Events(events) => {
                    for e in events
                        .iter()
                        .filter(|e| e.kind == wisp_store::EventKind::Put)
                    {
                        if let Some(secret) = meta::from_json_bytes(&e.kv.value) {
                            fill(&server, &secret).await;
                        }
                    }
                }
                Batch::Compacted => break,
                Batch::Closed => return,
            }
        }
    }
}
