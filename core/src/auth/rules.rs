//! RBAC policy rules: reading them from stored Role/ClusterRole JSON, writing them back, and
//! matching one rule against one request, with upstream's semantics for `*`, `*/sub`
//! subresource wildcards, resourceNames and trailing-`*` non-resource URLs
//! (k8s.io/kubernetes/pkg/apis/rbac/v1/evaluation_helpers.go).

use miniserde::json::{Array, Object, Value};

use super::attributes::{Attributes, Target};
use crate::object::meta;

pub const ALL: &str = "*";

/// One entry of a role's `rules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyRule {
    pub verbs: Vec<String>,
    pub api_groups: Vec<String>,
    pub resources: Vec<String>,
    pub resource_names: Vec<String>,
    pub non_resource_urls: Vec<String>,
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match meta::get_path(v, &[key]) {
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

fn string_array(items: &[String]) -> Value {
    Value::Array(items.iter().cloned().map(Value::String).collect::<Array>())
}

impl PolicyRule {
    pub fn from_json(v: &Value) -> PolicyRule {
        PolicyRule {
            verbs: strings(v, "verbs"),
            api_groups: strings(v, "apiGroups"),
            resources: strings(v, "resources"),
            resource_names: strings(v, "resourceNames"),
            non_resource_urls: strings(v, "nonResourceURLs"),
        }
    }

    /// The rule as the API shows it: empty lists left out.
    pub fn to_json(&self) -> Value {
        let mut o = Object::new();
        for (key, items) in [
            ("verbs", &self.verbs),
            ("apiGroups", &self.api_groups),
            ("resources", &self.resources),
            ("resourceNames", &self.resource_names),
            ("nonResourceURLs", &self.non_resource_urls),
        ] {
            if !items.is_empty() || key == "verbs" {
                o.insert(key.to_owned(), string_array(items));
            }
        }
        Value::Object(o)
    }

    /// Whether this rule grants the request.
    pub fn allows(&self, attrs: &Attributes) -> bool {
        if !has_or_all(&self.verbs, &attrs.verb) {
            return false;
        }
        match &attrs.target {
            Target::NonResource { path } => self
                .non_resource_urls
                .iter()
                .any(|rule| non_resource_url_matches(rule, path)),
            Target::Resource(r) => {
                has_or_all(&self.api_groups, &r.group)
                    && resource_matches(&self.resources, &r.resource, &r.subresource)
                    && (self.resource_names.is_empty() || self.resource_names.contains(&r.name))
            }
        }
    }
}

/// The `rules` of a stored Role or ClusterRole.
pub fn rules_of(object: &Value) -> Vec<PolicyRule> {
    match meta::get_path(object, &["rules"]) {
        Some(Value::Array(items)) => items.iter().map(PolicyRule::from_json).collect(),
        _ => Vec::new(),
    }
}

pub fn has_or_all(set: &[String], wanted: &str) -> bool {
    set.iter().any(|s| s == ALL || s == wanted)
}

fn resource_matches(rules: &[String], resource: &str, subresource: &str) -> bool {
    rules.iter().any(|rule| {
        if rule == ALL {
            return true;
        }
        if subresource.is_empty() {
            return rule == resource;
        }
        // `pods/log` names the pair exactly; `*/log` names the subresource of anything.
        match rule.split_once('/') {
            Some((res, sub)) => sub == subresource && (res == resource || res == ALL),
            None => false,
        }
    })
}

pub fn non_resource_url_matches(rule: &str, path: &str) -> bool {
    if rule == ALL || rule == path {
        return true;
    }
    rule.strip_suffix('*')
        .is_some_and(|prefix| path.starts_with(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::attributes::ResourceAttributes;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..PolicyRule::default()
        }
    }

    fn res(verb: &str, resource: &str, sub: &str, name: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            target: Target::Resource(ResourceAttributes {
                group: String::new(),
                namespace: "ns".into(),
                resource: resource.into(),
                subresource: sub.into(),
                name: name.into(),
            }),
        }
    }

    #[test]
    fn subresources_need_their_own_grant() {
        let pods = rule(&["get"], &[""], &["pods"]);
        assert!(pods.allows(&res("get", "pods", "", "a")));
        assert!(!pods.allows(&res("get", "pods", "log", "a")));
        let logs = rule(&["get"], &[""], &["pods/log"]);
        assert!(logs.allows(&res("get", "pods", "log", "a")));
        assert!(!logs.allows(&res("get", "pods", "", "a")));
        let any_status = rule(&["get"], &[""], &["*/status"]);
        assert!(any_status.allows(&res("get", "nodes", "status", "n")));
        assert!(!any_status.allows(&res("get", "nodes", "", "n")));
    }

    #[test]
    fn resource_names_and_wildcards() {
        let mut r = rule(&["*"], &["*"], &["*"]);
        assert!(r.allows(&res("delete", "secrets", "", "x")));
        r.resource_names = vec!["only".into()];
        assert!(r.allows(&res("get", "secrets", "", "only")));
        assert!(!r.allows(&res("get", "secrets", "", "other")));
        assert!(!r.allows(&res("list", "secrets", "", "")));
    }

    #[test]
    fn non_resource_urls() {
        assert!(non_resource_url_matches("/apis/*", "/apis/apps/v1"));
        assert!(non_resource_url_matches("/healthz", "/healthz"));
        assert!(!non_resource_url_matches("/healthz", "/healthz/etcd"));
        assert!(non_resource_url_matches("*", "/anything"));
        let r = PolicyRule {
            verbs: vec!["get".into()],
            non_resource_urls: vec!["/version".into()],
            ..PolicyRule::default()
        };
        let get = |p: &str| Attributes {
            verb: "get".into(),
            target: Target::NonResource { path: p.into() },
        };
        assert!(r.allows(&get("/version")));
        assert!(!r.allows(&get("/metrics")));
        assert!(!rule(&["*"], &["*"], &["*"]).allows(&get("/version")));
    }

    #[test]
    fn json_round_trip() {
        let v = miniserde::json::from_str::<Value>(
            r#"{"verbs":["get"],"apiGroups":[""],"resources":["pods"],"resourceNames":["a"]}"#,
        )
        .unwrap();
        let r = PolicyRule::from_json(&v);
        assert_eq!(r.resource_names, vec!["a".to_owned()]);
        assert_eq!(PolicyRule::from_json(&r.to_json()), r);
    }
}
