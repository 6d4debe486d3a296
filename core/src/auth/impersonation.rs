//! Impersonation (`kubectl --as`, `--as-group`): the Impersonate-User, Impersonate-Group,
//! Impersonate-Uid and Impersonate-Extra-* headers, each allowed only if the requester may
//! `impersonate` users (or serviceaccounts), groups, uids and userextras, as upstream's
//! impersonation filter checks (k8s.io/apiserver/pkg/endpoints/filters/impersonation.go).

use super::attributes::{Attributes, ResourceAttributes};
use super::subjects::{service_account_groups, split_service_account, with_authenticated};
use super::{Auth, Identity};
use crate::api::server::User;
use crate::status::ApiError;

const ANONYMOUS: &str = "system:anonymous";
const AUTHN_GROUP: &str = "authentication.k8s.io";

/// The identity the request acts as: `requester` itself without impersonation headers.
/// `headers` are (lowercase name, value) pairs.
pub fn impersonate(
    auth: &Auth,
    requester: Identity,
    headers: &[(String, String)],
) -> Result<Identity, ApiError> {
    let mut user: Option<&str> = None;
    let mut groups: Vec<String> = Vec::new();
    let mut uid = String::new();
    let mut extra: Vec<(String, Vec<String>)> = Vec::new();
    let mut checks: Vec<Attributes> = Vec::new();
    for (name, value) in headers {
        match name.as_str() {
            "impersonate-user" => {
                user = Some(value);
                checks.push(user_check(value));
            }
            "impersonate-group" => {
                groups.push(value.clone());
                checks.push(check("", "", "groups", "", value));
            }
            "impersonate-uid" => {
                uid = value.clone();
                checks.push(check(AUTHN_GROUP, "", "uids", "", value));
            }
            other => {
                if let Some(key) = other.strip_prefix("impersonate-extra-") {
                    add_extra(&mut extra, key, value);
                    checks.push(check(AUTHN_GROUP, "", "userextras", key, value));
                }
            }
        }
    }
    if checks.is_empty() {
        return Ok(requester);
    }
    let Some(name) = user else {
        return Err(ApiError::bad_request(
            "impersonating groups, uids or extras requires impersonating a user",
        ));
    };
    for attrs in &checks {
        let decision = auth.decide(&requester.user, attrs);
        if !decision.allowed {
            return Err(attrs.forbidden(&requester.user.name, &decision.reason));
        }
    }
    if groups.is_empty()
        && let Some((ns, _)) = split_service_account(name)
    {
        groups = service_account_groups(ns);
    }
    if name != ANONYMOUS {
        groups = with_authenticated(groups);
    }
    Ok(Identity {
        user: User {
            name: name.to_owned(),
            groups,
        },
        uid,
        extra,
    })
}

fn user_check(name: &str) -> Attributes {
    match split_service_account(name) {
        Some((ns, sa)) => check("", ns, "serviceaccounts", "", sa),
        None => check("", "", "users", "", name),
    }
}

fn check(group: &str, namespace: &str, resource: &str, sub: &str, name: &str) -> Attributes {
    Attributes::resource(
        "impersonate",
        ResourceAttributes {
            group: group.to_owned(),
            namespace: namespace.to_owned(),
            resource: resource.to_owned(),
            subresource: sub.to_owned(),
            name: name.to_owned(),
        },
    )
}

fn add_extra(extra: &mut Vec<(String, Vec<String>)>, key: &str, value: &str) {
    match extra.iter_mut().find(|(k, _)| k == key) {
        Some((_, values)) => values.push(value.to_owned()),
        None => extra.push((key.to_owned(), vec![value.to_owned()])),
    }
}
