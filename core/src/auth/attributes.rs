//! What an authorizer decides on: the verb and either a resource (group, namespace,
//! resource, subresource, name) or a non-resource path, derived from a request the way
//! upstream's RequestInfoFactory does, and the 403 message upstream writes when the answer
//! is no (k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go).

use crate::api::route::{self, Route, Verb};
use crate::api::server::ApiRequest;
use crate::status::{ApiError, qualified_resource};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResourceAttributes {
    pub group: String,
    /// Empty for cluster-scoped requests and for lists across all namespaces.
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource(ResourceAttributes),
    NonResource { path: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attributes {
    pub verb: String,
    pub target: Target,
}

impl Attributes {
    pub fn resource(verb: &str, r: ResourceAttributes) -> Attributes {
        Attributes {
            verb: verb.to_owned(),
            target: Target::Resource(r),
        }
    }

    /// The request's namespace; empty for cluster scope and non-resource paths.
    pub fn namespace(&self) -> &str {
        match &self.target {
            Target::Resource(r) => &r.namespace,
            Target::NonResource { .. } => "",
        }
    }

    /// Derives the attributes of an HTTP request; None for resource paths with a method
    /// that has no verb (the handler answers those 405).
    pub fn from_request(req: &ApiRequest) -> Option<Attributes> {
        let Route::Resource(path) = route::parse(&req.path) else {
            return Some(non_resource(req));
        };
        let watch = query(req, "watch").is_some_and(parse_bool);
        let verb = Verb::from_request(&req.method, path.name.is_some(), watch)?;
        let mut name = path.name.unwrap_or("").to_owned();
        if matches!(verb, Verb::List | Verb::Watch) && name.is_empty() {
            // A single-object list or watch names its object through the field selector.
            if let Some(n) =
                query(req, "fieldSelector").and_then(|s| s.strip_prefix("metadata.name="))
                && !n.contains(',')
            {
                name = n.to_owned();
            }
        }
        // `/api/v1/namespaces/x` is the namespace x itself, and is inside x.
        let namespace = match (path.namespace, path.plural) {
            (Some(ns), _) => ns.to_owned(),
            (None, "namespaces") if path.name.is_some() => name.clone(),
            _ => String::new(),
        };
        Some(Attributes::resource(
            verb.as_str(),
            ResourceAttributes {
                group: path.group.to_owned(),
                namespace,
                resource: path.plural.to_owned(),
                subresource: path.subresource.unwrap_or("").to_owned(),
                name,
            },
        ))
    }

    /// 403 with upstream's message: `pods is forbidden: User "u" cannot list resource
    /// "pods" in API group "" in the namespace "ns"`, plus the authorizer's reason if any.
    pub fn forbidden(&self, user: &str, reason: &str) -> ApiError {
        let mut why = self.denial(user);
        if !reason.is_empty() {
            why = format!("{why}: {reason}");
        }
        match &self.target {
            Target::NonResource { .. } => {
                ApiError::forbidden("", "", "", format!("forbidden: {why}"))
            }
            Target::Resource(r) => forbidden_on(&r.group, &r.resource, &r.name, &why),
        }
    }

    fn denial(&self, user: &str) -> String {
        let verb = &self.verb;
        match &self.target {
            Target::NonResource { path } => format!("User {user:?} cannot {verb} path {path:?}"),
            Target::Resource(r) => {
                let mut resource = r.resource.clone();
                if !r.subresource.is_empty() {
                    resource = format!("{resource}/{}", r.subresource);
                }
                let group = &r.group;
                if r.namespace.is_empty() {
                    format!(
                        "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} at the cluster scope"
                    )
                } else {
                    let ns = &r.namespace;
                    format!(
                        "User {user:?} cannot {verb} resource {resource:?} in API group {group:?} in the namespace {ns:?}"
                    )
                }
            }
        }
    }
}

/// upstream's NewForbidden: `<resource>[ "<name>"] is forbidden: <why>`.
pub fn forbidden_on(group: &str, plural: &str, name: &str, why: &str) -> ApiError {
    let qualified = qualified_resource(plural, group);
    let message = if name.is_empty() {
        format!("{qualified} is forbidden: {why}")
    } else {
        format!("{qualified} {name:?} is forbidden: {why}")
    };
    ApiError::forbidden(group, plural, name, message)
}

fn non_resource(req: &ApiRequest) -> Attributes {
    Attributes {
        verb: req.method.to_ascii_lowercase(),
        target: Target::NonResource {
            path: req.path.clone(),
        },
    }
}

fn query<'a>(req: &'a ApiRequest, key: &str) -> Option<&'a str> {
    req.query
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Go's strconv.ParseBool, which upstream uses for `watch`.
fn parse_bool(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, path: &str, query: &[(&str, &str)]) -> ApiRequest {
        ApiRequest {
            method: method.into(),
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            ..ApiRequest::default()
        }
    }

    fn msg(r: &ApiRequest) -> String {
        Attributes::from_request(r)
            .unwrap()
            .forbidden("u", "")
            .message
    }

    #[test]
    fn messages_match_upstream() {
        assert_eq!(
            msg(&req("GET", "/api/v1/namespaces/ns/pods", &[])),
            r#"pods is forbidden: User "u" cannot list resource "pods" in API group "" in the namespace "ns""#
        );
        assert_eq!(
            msg(&req(
                "GET",
                "/apis/apps/v1/deployments",
                &[("watch", "true")]
            )),
            r#"deployments.apps is forbidden: User "u" cannot watch resource "deployments" in API group "apps" at the cluster scope"#
        );
        assert_eq!(
            msg(&req("GET", "/api/v1/namespaces/ns/pods/web/log", &[])),
            r#"pods "web" is forbidden: User "u" cannot get resource "pods/log" in API group "" in the namespace "ns""#
        );
        assert_eq!(
            msg(&req("GET", "/foo", &[])),
            r#"forbidden: User "u" cannot get path "/foo""#
        );
        assert_eq!(
            msg(&req("DELETE", "/api/v1/namespaces/demo", &[])),
            r#"namespaces "demo" is forbidden: User "u" cannot delete resource "namespaces" in API group "" in the namespace "demo""#
        );
    }

    #[test]
    fn single_object_lists_carry_the_name() {
        let a = Attributes::from_request(&req(
            "GET",
            "/api/v1/namespaces/ns/secrets",
            &[("fieldSelector", "metadata.name=s1")],
        ))
        .unwrap();
        let Target::Resource(r) = a.target else {
            panic!("resource")
        };
        assert_eq!((a.verb.as_str(), r.name.as_str()), ("list", "s1"));
    }
}
