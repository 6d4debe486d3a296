//! The review APIs, answered from the authenticator and the RBAC index and never stored:
//! SelfSubjectAccessReview (`kubectl auth can-i`), SubjectAccessReview,
//! LocalSubjectAccessReview, SelfSubjectRulesReview (`can-i --list`), TokenReview and
//! SelfSubjectReview (`kubectl auth whoami`). Each answers 201 with the request echoed and
//! `status` filled, as upstream does.

use miniserde::json::{Array, Object, Value};

use super::attributes::{Attributes, ResourceAttributes, Target};
use super::rules::PolicyRule;
use super::{Auth, Identity, authn, service_account, token};
use crate::api::response::ApiResponse;
use crate::api::server::{ApiRequest, User};
use crate::object::meta;
use crate::object::time::now_unix;
use crate::status::ApiError;

fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn strings(items: &[String]) -> Value {
    Value::Array(items.iter().map(|s| string(s)).collect::<Array>())
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
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

/// The request body echoed back with `status` set.
fn reply(mut body: Value, status: Object) -> ApiResponse {
    if let Some(o) = meta::as_object_mut(&mut body) {
        o.insert("status".into(), Value::Object(status));
    }
    ApiResponse::json(201, miniserde::json::to_string(&body).into_bytes())
}

/// The attributes a review's spec asks about.
fn spec_attributes(body: &Value) -> Result<Attributes, ApiError> {
    let s = |path: &[&str]| meta::get_str(body, path).unwrap_or("").to_owned();
    if meta::get_path(body, &["spec", "resourceAttributes"]).is_some() {
        let r = |k: &str| s(&["spec", "resourceAttributes", k]);
        return Ok(Attributes::resource(
            &r("verb"),
            ResourceAttributes {
                group: r("group"),
                namespace: r("namespace"),
                resource: r("resource"),
                subresource: r("subresource"),
                name: r("name"),
            },
        ));
    }
    if meta::get_path(body, &["spec", "nonResourceAttributes"]).is_some() {
        return Ok(Attributes {
            verb: s(&["spec", "nonResourceAttributes", "verb"]),
            target: Target::NonResource {
                path: s(&["spec", "nonResourceAttributes", "path"]),
            },
        });
    }
    Err(ApiError::bad_request(
        "spec: exactly one of nonResourceAttributes or resourceAttributes must be specified",
    ))
}

fn access_reply(auth: &Auth, body: Value, user: &User, attrs: &Attributes) -> ApiResponse {
    let decision = auth.decide(user, attrs);
    let mut status = Object::new();
    status.insert("allowed".into(), Value::Bool(decision.allowed));
    if !decision.reason.is_empty() {
        status.insert("reason".into(), string(&decision.reason));
    }
    reply(body, status)
}

/// SelfSubjectAccessReview: may the requester do this?
pub fn self_access(auth: &Auth, who: &Identity, body: Value) -> Result<ApiResponse, ApiError> {
    let attrs = spec_attributes(&body)?;
    Ok(access_reply(auth, body, &who.user, &attrs))
}

/// SubjectAccessReview, and LocalSubjectAccessReview when `namespace` is set (the spec's
/// namespace must then be the URL's).
pub fn subject_access(
    auth: &Auth,
    body: Value,
    namespace: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let mut attrs = spec_attributes(&body)?;
    if let Some(ns) = namespace {
        match &mut attrs.target {
            Target::Resource(r) if r.namespace.is_empty() || r.namespace == ns => {
                r.namespace = ns.to_owned();
            }
            Target::Resource(r) => {
                return Err(ApiError::bad_request(format!(
                    "spec.resourceAttributes.namespace must match namespace: {ns} (got {})",
                    r.namespace
                )));
            }
            Target::NonResource { .. } => {
                return Err(ApiError::bad_request(
                    "disallowed on this kind of request: spec.nonResourceAttributes",
                ));
            }
        }
    }
    let name = meta::get_str(&body, &["spec", "user"])
        .unwrap_or("")
        .to_owned();
    let groups = string_list(meta::get_path(&body, &["spec", "groups"]));
    if name.is_empty() && groups.is_empty() {
        return Err(ApiError::bad_request(
            "spec.user: Invalid value: \"\": at least one of user or group must be specified",
        ));
    }
    let user = User { name, groups };
    Ok(access_reply(auth, body, &user, &attrs))
}

/// SelfSubjectRulesReview: the requester's rules in spec.namespace.
pub fn self_rules(auth: &Auth, who: &Identity, body: Value) -> Result<ApiResponse, ApiError> {
    let namespace = meta::get_str(&body, &["spec", "namespace"])
        .unwrap_or("")
        .to_owned();
    let (rules, errors) = auth.rbac().index().rules_for(&who.user, &namespace);
    let mut resource_rules = Array::new();
    let mut non_resource_rules = Array::new();
    for r in &rules {
        if !r.resources.is_empty() {
            resource_rules.push(resource_rule(r));
        }
        if !r.non_resource_urls.is_empty() {
            let mut o = Object::new();
            o.insert("verbs".into(), strings(&r.verbs));
            o.insert("nonResourceURLs".into(), strings(&r.non_resource_urls));
            non_resource_rules.push(Value::Object(o));
        }
    }
    let mut status = Object::new();
    status.insert("resourceRules".into(), Value::Array(resource_rules));
    status.insert("nonResourceRules".into(), Value::Array(non_resource_rules));
    status.insert("incomplete".into(), Value::Bool(!errors.is_empty()));
    if !errors.is_empty() {
        status.insert("evaluationError".into(), string(&errors.join(", ")));
    }
    Ok(reply(body, status))
}

fn resource_rule(r: &PolicyRule) -> Value {
    let mut o = Object::new();
    o.insert("verbs".into(), strings(&r.verbs));
    o.insert("apiGroups".into(), strings(&r.api_groups));
    o.insert("resources".into(), strings(&r.resources));
    if !r.resource_names.is_empty() {
        o.insert("resourceNames".into(), strings(&r.resource_names));
    }
    Value::Object(o)
}

fn user_info(who: &Identity) -> Value {
    let mut info = Object::new();
    info.insert("username".into(), string(&who.user.name));
    if !who.uid.is_empty() {
        info.insert("uid".into(), string(&who.uid));
    }
    info.insert("groups".into(), strings(&who.user.groups));
    if !who.extra.is_empty() {
        let mut extra = Object::new();
        for (k, v) in &who.extra {
            extra.insert(k.clone(), strings(v));
        }
        info.insert("extra".into(), Value::Object(extra));
    }
    Value::Object(info)
}

/// TokenReview: who a token authenticates, for the audiences asked (default: the API's).
pub fn token_review(auth: &Auth, body: Value) -> Result<ApiResponse, ApiError> {
    let token_text = meta::get_str(&body, &["spec", "token"])
        .unwrap_or("")
        .to_owned();
    let mut audiences = string_list(meta::get_path(&body, &["spec", "audiences"]));
    if audiences.is_empty() {
        audiences.push(token::ISSUER.to_owned());
    }
    let outcome = match auth.key() {
        Some(key) => service_account::authenticate_token(
            auth.store(),
            &key,
            &token_text,
            &audiences,
            now_unix(),
        ),
        None => Err("the service account token key is not loaded".to_owned()),
    };
    let mut status = Object::new();
    match outcome {
        Ok((who, matched)) => {
            status.insert("authenticated".into(), Value::Bool(true));
            status.insert("user".into(), user_info(&who));
            status.insert("audiences".into(), strings(&matched));
        }
        Err(why) => {
            status.insert("authenticated".into(), Value::Bool(false));
            status.insert("user".into(), Value::Object(Object::new()));
            status.insert("error".into(), string(&why));
        }
    }
    Ok(reply(body, status))
}

/// SelfSubjectReview: the requester as authentication saw it (uid and extras too when a
/// ServiceAccount token made the request).
pub fn whoami(auth: &Auth, req: &ApiRequest, user: &User, body: Value) -> ApiResponse {
    let from_token = match (req.impersonate.is_empty(), auth.key()) {
        (true, Some(key)) => authn::bearer(req.authorization.as_deref()).and_then(|t| {
            let audiences = [token::ISSUER.to_owned()];
            service_account::authenticate_token(auth.store(), &key, t, &audiences, now_unix())
                .ok()
                .map(|(who, _)| who)
                .filter(|who| who.user.name == user.name)
        }),
        _ => None,
    };
    let who = from_token.unwrap_or_else(|| Identity::from_user(user.clone()));
    let mut status = Object::new();
    status.insert("userInfo".into(), user_info(&who));
    reply(body, status)
}
