//! ServiceAccount tokens against the store: TokenRequest (`kubectl create token`) issues a
//! token bound to the ServiceAccount and optionally a Pod or Secret, and authentication
//! accepts a token only while every object it names still exists with the same uid and is
//! not being deleted (upstream's bound-token validator, pkg/serviceaccount/claims.go).

use miniserde::json::{Number, Object, Value};
use wisp_store::Store;

use super::subjects::{service_account_groups, service_account_user, with_authenticated};
use super::token::{Claims, ISSUER, ObjectRef, TokenKey};
use super::{Auth, Identity};
use crate::api::response::ApiResponse;
use crate::api::server::{ApiRequest, User};
use crate::object::keys::object_key;
use crate::object::time::{format_rfc3339, now_unix};
use crate::object::{meta, uid};
use crate::status::ApiError;

/// upstream's default and minimum TokenRequest lifetimes.
const DEFAULT_EXPIRATION_SECS: i64 = 3600;
const MIN_EXPIRATION_SECS: i64 = 600;
const MAX_EXPIRATION_SECS: i64 = 1 << 32;
const EXTRA_POD_NAME: &str = "authentication.kubernetes.io/pod-name";
const EXTRA_POD_UID: &str = "authentication.kubernetes.io/pod-uid";
const EXTRA_CREDENTIAL_ID: &str = "authentication.kubernetes.io/credential-id";

fn stored(store: &Store, plural: &str, ns: &str, name: &str) -> Option<Value> {
    let kv = store.get(object_key("", plural, Some(ns), name).as_bytes())?;
    meta::from_json_bytes(&kv.value)
}

/// Why a bound object no longer vouches for a token.
fn check_bound(store: &Store, plural: &str, ns: &str, r: &ObjectRef) -> Result<(), String> {
    let object = stored(store, plural, ns, &r.name)
        .ok_or_else(|| format!("{plural} {:?} not found", r.name))?;
    if meta::uid(&object).unwrap_or("") != r.uid {
        return Err(format!("{plural} {:?} uid does not match", r.name));
    }
    if meta::deletion_timestamp(&object).is_some() {
        return Err(format!("{plural} {:?} is being deleted", r.name));
    }
    Ok(())
}

/// Validates a bearer token and returns who it authenticates and the accepted audiences it
/// carries; the error says why not (TokenReview reports it).
pub fn authenticate_token(
    store: &Store,
    key: &TokenKey,
    token: &str,
    audiences: &[String],
    now: i64,
) -> Result<(Identity, Vec<String>), String> {
    let claims = key.verify(token).map_err(|e| e.to_string())?;
    let matched = claims.validate(now, audiences).map_err(|e| e.to_string())?;
    let ns = claims.namespace.as_str();
    let expected_subject = service_account_user(ns, &claims.service_account.name);
    if claims.subject != expected_subject {
        return Err("token subject does not match its service account".into());
    }
    check_bound(store, "serviceaccounts", ns, &claims.service_account)?;
    let mut extra = Vec::new();
    if let Some(pod) = &claims.pod {
        check_bound(store, "pods", ns, pod)?;
        extra.push((EXTRA_POD_NAME.to_owned(), vec![pod.name.clone()]));
        extra.push((EXTRA_POD_UID.to_owned(), vec![pod.uid.clone()]));
    }
    if let Some(secret) = &claims.secret {
        check_bound(store, "secrets", ns, secret)?;
    }
    if !claims.id.is_empty() {
        extra.push((
            EXTRA_CREDENTIAL_ID.to_owned(),
            vec![format!("JTI={}", claims.id)],
        ));
    }
    let identity = Identity {
        user: User {
            name: expected_subject,
            groups: with_authenticated(service_account_groups(ns)),
        },
        uid: claims.service_account.uid.clone(),
        extra,
    };
    Ok((identity, matched))
}

/// POST serviceaccounts/NAME/token: a bound token for the ServiceAccount.
pub fn token_request(
    auth: &Auth,
    req: &ApiRequest,
    namespace: &str,
    name: &str,
) -> Result<ApiResponse, ApiError> {
    let body = crate::api::body::decode_object(req.content_type.as_deref(), &req.body)?;
    let key = auth
        .key()
        .ok_or_else(|| ApiError::internal("the service account token key is not loaded"))?;
    let sa = stored(auth.store(), "serviceaccounts", namespace, name)
        .ok_or_else(|| ApiError::not_found("", "serviceaccounts", name))?;
    let expiration =
        meta::get_i64(&body, &["spec", "expirationSeconds"]).unwrap_or(DEFAULT_EXPIRATION_SECS);
    validate_expiration(name, expiration)?;
    let mut audiences = string_list(&body, &["spec", "audiences"]);
    if audiences.is_empty() {
        audiences.push(ISSUER.to_owned());
    }
    let now = now_unix();
    let mut claims = Claims {
        issuer: ISSUER.to_owned(),
        audiences: audiences.clone(),
        subject: service_account_user(namespace, name),
        issued_at: now,
        not_before: now,
        expires: now + expiration,
        id: uid::new_uid(),
        namespace: namespace.to_owned(),
        service_account: ObjectRef {
            name: name.to_owned(),
            uid: meta::uid(&sa).unwrap_or("").to_owned(),
        },
        pod: None,
        secret: None,
    };
    if let Some(bound) =
        meta::get_path(&body, &["spec", "boundObjectRef"]).filter(|v| !matches!(v, Value::Null))
    {
        bind_object(auth.store(), &mut claims, bound, name)?;
    }
    let token = key
        .sign(&claims)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let reply = token_reply(
        &body,
        namespace,
        name,
        &audiences,
        expiration,
        &token,
        claims.expires,
    );
    Ok(ApiResponse::json(201, reply.into_bytes()))
}

fn validate_expiration(name: &str, secs: i64) -> Result<(), ApiError> {
    let detail = if secs < MIN_EXPIRATION_SECS {
        "may not specify a duration less than 10 minutes"
    } else if secs > MAX_EXPIRATION_SECS {
        "may not specify a duration larger than 2^32 seconds"
    } else {
        return Ok(());
    };
    Err(ApiError::invalid(
        "authentication.k8s.io",
        "TokenRequest",
        name,
        vec![crate::status::field::invalid(
            "spec.expirationSeconds",
            &secs.to_string(),
            detail,
        )],
    ))
}

/// Binds the token to a Pod or Secret that must exist (and match a given uid).
fn bind_object(
    store: &Store,
    claims: &mut Claims,
    bound: &Value,
    sa_name: &str,
) -> Result<(), ApiError> {
    let kind = meta::get_str(bound, &["kind"]).unwrap_or("");
    let name = meta::get_str(bound, &["name"]).unwrap_or("");
    let want_uid = meta::get_str(bound, &["uid"]).unwrap_or("");
    let plural = match kind {
        "Pod" => "pods",
        "Secret" => "secrets",
        other => {
            return Err(ApiError::bad_request(format!(
                "cannot bind token object to kind {other:?}: only Pod and Secret are supported"
            )));
        }
    };
    let object = stored(store, plural, &claims.namespace, name)
        .ok_or_else(|| ApiError::not_found("", plural, name))?;
    let uid = meta::uid(&object).unwrap_or("").to_owned();
    if !want_uid.is_empty() && want_uid != uid {
        return Err(ApiError::conflict(
            "",
            kind,
            name,
            &format!(
                "the UID in the bound object reference ({want_uid}) does not match the UID in record. The object might have been deleted and then recreated"
            ),
        ));
    }
    if kind == "Pod" {
        let pod_sa = meta::get_str(&object, &["spec", "serviceAccountName"]).unwrap_or("default");
        if pod_sa != sa_name {
            return Err(ApiError::bad_request(format!(
                "cannot bind token for serviceaccount {sa_name:?} to pod running with different serviceaccount name."
            )));
        }
    }
    let r = Some(ObjectRef {
        name: name.to_owned(),
        uid,
    });
    if kind == "Pod" {
        claims.pod = r;
    } else {
        claims.secret = r;
    }
    Ok(())
}

fn string_list(v: &Value, path: &[&str]) -> Vec<String> {
    match meta::get_path(v, path) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|i| match i {
                Value::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn token_reply(
    body: &Value,
    namespace: &str,
    name: &str,
    audiences: &[String],
    expiration: i64,
    token: &str,
    expires: i64,
) -> String {
    let mut reply = body.clone();
    let md = meta::metadata_mut(&mut reply);
    meta::set_str(md, "name", name);
    meta::set_str(md, "namespace", namespace);
    md.insert(
        "creationTimestamp".into(),
        Value::String(format_rfc3339(now_unix())),
    );
    if let Some(o) = meta::as_object_mut(&mut reply) {
        o.insert("kind".into(), Value::String("TokenRequest".into()));
        o.insert(
            "apiVersion".into(),
            Value::String("authentication.k8s.io/v1".into()),
        );
    }
    let spec = meta::ensure_object(&mut reply, &["spec"]);
    spec.insert(
        "audiences".into(),
        Value::Array(audiences.iter().cloned().map(Value::String).collect()),
    );
    spec.insert(
        "expirationSeconds".into(),
        Value::Number(Number::I64(expiration)),
    );
    let mut status = Object::new();
    status.insert("token".into(), Value::String(token.to_owned()));
    status.insert(
        "expirationTimestamp".into(),
        Value::String(format_rfc3339(expires)),
    );
    if let Some(o) = meta::as_object_mut(&mut reply) {
        o.insert("status".into(), Value::Object(status));
    }
    miniserde::json::to_string(&reply)
}
