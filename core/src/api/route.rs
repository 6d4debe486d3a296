//! Turns a request path into what it addresses: a discovery or health endpoint, or a
//! resource (group, version, namespace, plural, name, subresource). Whether the plural
//! exists is the registry's question, asked later; this module only reads the path's shape,
//! the way upstream's RequestInfoFactory does (k8s.io/apiserver/pkg/endpoints/request).

/// What a path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route<'a> {
    Healthz,
    Livez,
    Readyz,
    Version,
    /// `/api`: the legacy group's versions.
    LegacyRoot,
    /// `/apis`: every named group.
    GroupsRoot,
    /// `/apis/{group}`.
    Group(&'a str),
    /// `/api/v1` or `/apis/{group}/{version}`: the APIResourceList.
    GroupVersion {
        group: &'a str,
        version: &'a str,
    },
    OpenApiV2,
    OpenApiV3Root,
    /// `/openapi/v3/api/v1` or `/openapi/v3/apis/{group}/{version}`.
    OpenApiV3 {
        group: &'a str,
        version: &'a str,
    },
    Resource(ResourcePath<'a>),
    NotFound,
}

/// A path under a group/version that names a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath<'a> {
    pub group: &'a str,
    pub version: &'a str,
    /// `Some` for `/namespaces/{ns}/{plural}...` paths.
    pub namespace: Option<&'a str>,
    pub plural: &'a str,
    pub name: Option<&'a str>,
    pub subresource: Option<&'a str>,
}

/// Subresources of a Namespace object itself (`/api/v1/namespaces/{name}/status`), which
/// would otherwise read as a namespaced plural.
const NAMESPACE_SUBRESOURCES: [&str; 2] = ["status", "finalize"];

pub fn parse(path: &str) -> Route<'_> {
    let path = path.strip_suffix('/').unwrap_or(path);
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["healthz", ..] => Route::Healthz,
        ["livez", ..] => Route::Livez,
        ["readyz", ..] => Route::Readyz,
        ["version"] => Route::Version,
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", "api", version] => Route::OpenApiV3 { group: "", version },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiV3 { group, version },
        ["api"] => Route::LegacyRoot,
        ["api", version] => Route::GroupVersion { group: "", version },
        ["api", version, rest @ ..] => resource("", version, rest),
        ["apis"] => Route::GroupsRoot,
        ["apis", group] => Route::Group(group),
        ["apis", group, version] => Route::GroupVersion { group, version },
        ["apis", group, version, rest @ ..] => resource(group, version, rest),
        _ => Route::NotFound,
    }
}

fn resource<'a>(group: &'a str, version: &'a str, rest: &[&'a str]) -> Route<'a> {
    if rest.iter().any(|s| s.is_empty()) {
        return Route::NotFound;
    }
    let namespaced =
        matches!(rest, ["namespaces", _, third, ..] if !NAMESPACE_SUBRESOURCES.contains(third));
    let (namespace, rest) = if namespaced {
        (Some(rest[1]), &rest[2..])
    } else {
        (None, rest)
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(*name), None),
        [plural, name, sub] => (*plural, Some(*name), Some(*sub)),
        _ => return Route::NotFound,
    };
    Route::Resource(ResourcePath {
        group,
        version,
        namespace,
        plural,
        name,
        subresource,
    })
}

/// The Kubernetes verb of a request on a resource path (what RBAC and audit see).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Get,
    List,
    Watch,
    Create,
    Update,
    Patch,
    Delete,
    DeleteCollection,
}

impl Verb {
    pub fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "get",
            Verb::List => "list",
            Verb::Watch => "watch",
            Verb::Create => "create",
            Verb::Update => "update",
            Verb::Patch => "patch",
            Verb::Delete => "delete",
            Verb::DeleteCollection => "deletecollection",
        }
    }

    /// Derives the verb as upstream does: GET of a collection is list (or watch with
    /// `watch=true`), POST is create, DELETE of a collection is deletecollection. Returns
    /// None for methods a resource path does not accept.
    pub fn from_request(method: &str, has_name: bool, watch: bool) -> Option<Verb> {
        Some(match (method, has_name) {
            ("GET" | "HEAD", _) if watch => Verb::Watch,
            ("GET" | "HEAD", true) => Verb::Get,
            ("GET" | "HEAD", false) => Verb::List,
            ("POST", _) => Verb::Create,
            ("PUT", true) => Verb::Update,
            ("PATCH", true) => Verb::Patch,
            ("DELETE", true) => Verb::Delete,
            ("DELETE", false) => Verb::DeleteCollection,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath<'_> {
        match parse(path) {
            Route::Resource(r) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn discovery_paths() {
        assert_eq!(parse("/api"), Route::LegacyRoot);
        assert_eq!(parse("/api/"), Route::LegacyRoot);
        assert_eq!(
            parse("/api/v1"),
            Route::GroupVersion {
                group: "",
                version: "v1"
            }
        );
        assert_eq!(parse("/apis"), Route::GroupsRoot);
        assert_eq!(parse("/apis/apps"), Route::Group("apps"));
        assert_eq!(
            parse("/apis/apps/v1"),
            Route::GroupVersion {
                group: "apps",
                version: "v1"
            }
        );
        assert_eq!(
            parse("/openapi/v3/apis/apps/v1"),
            Route::OpenApiV3 {
                group: "apps",
                version: "v1"
            }
        );
        assert_eq!(
            parse("/openapi/v3/api/v1"),
            Route::OpenApiV3 {
                group: "",
                version: "v1"
            }
        );
        assert_eq!(parse("/readyz/ping"), Route::Readyz);
        assert_eq!(parse("/nope"), Route::NotFound);
    }

    #[test]
    fn namespaced_and_cluster_paths() {
        let r = res("/api/v1/namespaces/default/pods/web-1/log");
        assert_eq!(
            r,
            ResourcePath {
                group: "",
                version: "v1",
                namespace: Some("default"),
                plural: "pods",
                name: Some("web-1"),
                subresource: Some("log")
            }
        );
        let r = res("/apis/apps/v1/namespaces/ns/deployments");
        assert_eq!(
            (r.namespace, r.plural, r.name),
            (Some("ns"), "deployments", None)
        );
        let r = res("/apis/apps/v1/deployments");
        assert_eq!((r.namespace, r.plural), (None, "deployments"));
        let r = res("/api/v1/nodes/n1/status");
        assert_eq!(
            (r.plural, r.name, r.subresource),
            ("nodes", Some("n1"), Some("status"))
        );
    }

    #[test]
    fn namespace_objects_and_their_subresources() {
        let r = res("/api/v1/namespaces");
        assert_eq!((r.namespace, r.plural, r.name), (None, "namespaces", None));
        let r = res("/api/v1/namespaces/kube-system");
        assert_eq!(
            (r.namespace, r.plural, r.name),
            (None, "namespaces", Some("kube-system"))
        );
        let r = res("/api/v1/namespaces/foo/status");
        assert_eq!(
            (r.plural, r.name, r.subresource),
            ("namespaces", Some("foo"), Some("status"))
        );
        let r = res("/api/v1/namespaces/foo/finalize");
        assert_eq!(r.subresource, Some("finalize"));
    }

    #[test]
    fn malformed_resource_paths_are_not_found() {
        assert_eq!(parse("/api/v1/namespaces/ns/pods/a/b/c"), Route::NotFound);
        assert_eq!(parse("/api/v1/namespaces//pods"), Route::NotFound);
        assert_eq!(
            parse("/apis/apps/v1/deployments/a/scale/x"),
            Route::NotFound
        );
    }

    #[test]
    fn verbs_follow_upstream() {
        assert_eq!(Verb::from_request("GET", false, false), Some(Verb::List));
        assert_eq!(Verb::from_request("GET", false, true), Some(Verb::Watch));
        assert_eq!(Verb::from_request("GET", true, true), Some(Verb::Watch));
        assert_eq!(Verb::from_request("GET", true, false), Some(Verb::Get));
        assert_eq!(
            Verb::from_request("DELETE", false, false),
            Some(Verb::DeleteCollection)
        );
        assert_eq!(Verb::from_request("PUT", false, false), None);
        assert_eq!(Verb::from_request("PATCH", true, false), Some(Verb::Patch));
    }
}
