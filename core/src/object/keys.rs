//! Storage keys. Every object lives at `/registry/<group>/<plural>/<namespace>/<name>`
//! (cluster-scoped: `/registry/<group>/<plural>/<name>`), with `core` standing for the
//! legacy group, so that a prefix range lists a resource in one namespace or in all.

/// The key prefix of a resource, across namespaces: `/registry/apps/deployments/`.
pub fn resource_prefix(group: &str, plural: &str) -> String {
    let group = if group.is_empty() { "core" } else { group };
    format!("/registry/{group}/{plural}/")
}

/// The key prefix of a resource in one namespace: `/registry/core/pods/default/`.
pub fn namespace_prefix(group: &str, plural: &str, namespace: &str) -> String {
    format!("{}{namespace}/", resource_prefix(group, plural))
}

/// The key of one object.
pub fn object_key(group: &str, plural: &str, namespace: Option<&str>, name: &str) -> String {
    match namespace {
        Some(ns) => format!("{}{name}", namespace_prefix(group, plural, ns)),
        None => format!("{}{name}", resource_prefix(group, plural)),
    }
}

/// Splits a stored key back into (namespace, name) for a resource prefix.
pub fn split_key<'a>(
    prefix: &str,
    key: &'a str,
    namespaced: bool,
) -> Option<(Option<&'a str>, &'a str)> {
    let rest = key.strip_prefix(prefix)?;
    if namespaced {
        let (ns, name) = rest.split_once('/')?;
        Some((Some(ns), name))
    } else {
        Some((None, rest))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_nest_namespace_under_resource() {
        assert_eq!(
            object_key("", "pods", Some("default"), "web"),
            "/registry/core/pods/default/web"
        );
        assert_eq!(
            object_key("apps", "deployments", Some("a"), "b"),
            "/registry/apps/deployments/a/b"
        );
        assert_eq!(
            object_key("", "nodes", None, "n1"),
            "/registry/core/nodes/n1"
        );
        let ns_prefix = namespace_prefix("", "pods", "default");
        assert!(object_key("", "pods", Some("default"), "x").starts_with(&ns_prefix));
        // "default" must not match "default2".
        assert!(!object_key("", "pods", Some("default2"), "x").starts_with(&ns_prefix));
    }

    #[test]
    fn split_round_trips() {
        let p = resource_prefix("", "pods");
        assert_eq!(
            split_key(&p, "/registry/core/pods/ns/n", true),
            Some((Some("ns"), "n"))
        );
        assert_eq!(
            split_key(
                &resource_prefix("", "nodes"),
                "/registry/core/nodes/n",
                false
            ),
            Some((None, "n"))
        );
        assert_eq!(split_key(&p, "/registry/core/other/x", true), None);
    }
}
