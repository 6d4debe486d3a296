//! RBAC escalation prevention on writes of roles and bindings: nobody grants what they do
//! not hold (unless allowed `escalate` on the role) nor binds a role holding more than they
//! do (unless allowed `bind` on it). Coverage and the refusal text follow upstream
//! (pkg/registry/rbac/validation/policy_compact.go, policy_comparator.go, rule.go).

use std::collections::BTreeSet;

use miniserde::json::Value;

use super::attributes::{Attributes, ResourceAttributes, forbidden_on};
use super::rbac::RoleRef;
use super::rules::{ALL, PolicyRule, has_or_all, non_resource_url_matches, rules_of};
use super::subjects::MASTERS;
use super::{Auth, Identity};
use crate::object::meta;
use crate::status::ApiError;

pub const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// Checks a Role/ClusterRole or binding about to be written by `who`. `plural` is the
/// resource written, `namespace` its namespace (None for cluster-scoped kinds).
pub fn check_write(
    auth: &Auth,
    who: &Identity,
    plural: &str,
    namespace: Option<&str>,
    object: &Value,
) -> Result<(), ApiError> {
    if who.user.groups.iter().any(|g| g == MASTERS) {
        return Ok(());
    }
    let name = meta::name(object).unwrap_or("");
    let ns = namespace.unwrap_or("");
    match plural {
        "roles" | "clusterroles" => check_role(auth, who, plural, ns, name, object),
        "rolebindings" | "clusterrolebindings" => {
            check_binding(auth, who, plural, ns, name, object)
        }
        _ => Ok(()),
    }
}

fn allowed(auth: &Auth, who: &Identity, verb: &str, plural: &str, ns: &str, name: &str) -> bool {
    let attrs = Attributes::resource(
        verb,
        ResourceAttributes {
            group: RBAC_GROUP.to_owned(),
            namespace: ns.to_owned(),
            resource: plural.to_owned(),
            subresource: String::new(),
            name: name.to_owned(),
        },
    );
    auth.decide(&who.user, &attrs).allowed
}

fn check_role(
    auth: &Auth,
    who: &Identity,
    plural: &str,
    ns: &str,
    name: &str,
    object: &Value,
) -> Result<(), ApiError> {
    if allowed(auth, who, "escalate", plural, ns, name) {
        return Ok(());
    }
    confirm_no_escalation(auth, who, ns, &rules_of(object))
        .map_err(|why| forbidden_on(RBAC_GROUP, plural, name, &why))?;
    let aggregates =
        meta::get_path(object, &["aggregationRule"]).is_some_and(|v| !matches!(v, Value::Null));
    if aggregates && confirm_no_escalation(auth, who, ns, &[full_authority()]).is_err() {
        return Err(forbidden_on(
            RBAC_GROUP,
            plural,
            name,
            "must have cluster-admin privileges to use the aggregationRule",
        ));
    }
    Ok(())
}

fn check_binding(
    auth: &Auth,
    who: &Identity,
    plural: &str,
    ns: &str,
    name: &str,
    object: &Value,
) -> Result<(), ApiError> {
    let role_ref = RoleRef::from_binding(object)
        .ok_or_else(|| ApiError::bad_request("roleRef must name a Role or ClusterRole"))?;
    let (role_plural, role_ns) = if role_ref.cluster {
        ("clusterroles", "")
    } else {
        ("roles", ns)
    };
    // upstream asks `bind` in the binding's namespace, even for a ClusterRole.
    if allowed(auth, who, "bind", role_plural, ns, &role_ref.name) {
        return Ok(());
    }
    let rules = auth
        .rbac()
        .index()
        .role_rules(&role_ref, role_ns)
        .ok_or_else(|| ApiError::not_found(RBAC_GROUP, role_plural, &role_ref.name))?;
    confirm_no_escalation(auth, who, ns, &rules)
        .map_err(|why| forbidden_on(RBAC_GROUP, plural, name, &why))
}

fn full_authority() -> PolicyRule {
    PolicyRule {
        verbs: vec![ALL.into()],
        api_groups: vec![ALL.into()],
        resources: vec![ALL.into()],
        ..PolicyRule::default()
    }
}

/// upstream's ConfirmNoEscalation: the text of the refusal when `rules` are not all held.
fn confirm_no_escalation(
    auth: &Auth,
    who: &Identity,
    ns: &str,
    rules: &[PolicyRule],
) -> Result<(), String> {
    let (owner, errors) = auth.rbac().index().rules_for(&who.user, ns);
    let missing = uncovered(&owner, rules);
    if missing.is_empty() {
        return Ok(());
    }
    let lines: BTreeSet<String> = compact(missing).iter().map(compact_string).collect();
    let groups: Vec<String> = who.user.groups.iter().map(|g| format!("{g:?}")).collect();
    let mut msg = format!(
        "user {:?} (groups=[{}]) is attempting to grant RBAC permissions not currently held:\n{}",
        who.user.name,
        groups.join(" "),
        lines.into_iter().collect::<Vec<_>>().join("\n")
    );
    if !errors.is_empty() {
        msg = format!("{msg}; resolution errors: [{}]", errors.join(" "));
    }
    Err(msg)
}

/// The atomic rules of `wanted` that no rule of `owner` covers.
pub fn uncovered(owner: &[PolicyRule], wanted: &[PolicyRule]) -> Vec<PolicyRule> {
    wanted
        .iter()
        .flat_map(breakdown)
        .filter(|sub| !owner.iter().any(|o| covers(o, sub)))
        .collect()
}

fn one(s: &str) -> Vec<String> {
    vec![s.to_owned()]
}

/// One rule per (group, resource, verb[, name]) and per (URL, verb).
fn breakdown(rule: &PolicyRule) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    for group in &rule.api_groups {
        for resource in &rule.resources {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    verbs: one(verb),
                    api_groups: one(group),
                    resources: one(resource),
                    ..PolicyRule::default()
                };
                if rule.resource_names.is_empty() {
                    out.push(base);
                } else {
                    out.extend(rule.resource_names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in &rule.non_resource_urls {
        for verb in &rule.verbs {
            out.push(PolicyRule {
                verbs: one(verb),
                non_resource_urls: one(url),
                ..PolicyRule::default()
            });
        }
    }
    out
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| set.contains(w))
}

fn covers(owner: &PolicyRule, sub: &PolicyRule) -> bool {
    let verbs = sub.verbs.iter().all(|v| has_or_all(&owner.verbs, v));
    let groups = sub
        .api_groups
        .iter()
        .all(|g| has_or_all(&owner.api_groups, g));
    let resources = resources_covered(&owner.resources, &sub.resources);
    let urls = sub.non_resource_urls.iter().all(|u| {
        owner
            .non_resource_urls
            .iter()
            .any(|o| non_resource_url_matches(o, u))
    });
    let names = owner.resource_names.is_empty()
        || (!sub.resource_names.is_empty() && has_all(&owner.resource_names, &sub.resource_names));
    verbs && groups && resources && urls && names
}

fn resources_covered(owner: &[String], wanted: &[String]) -> bool {
    if owner.iter().any(|r| r == ALL) {
        return true;
    }
    wanted.iter().all(|w| {
        owner.contains(w)
            || w.split_once('/')
                .is_some_and(|(_, sub)| owner.iter().any(|o| o == &format!("*/{sub}")))
    })
}

/// Merges simple rules (one group, one resource, no names) differing only in verbs, as
/// upstream's CompactRules does before printing.
fn compact(rules: Vec<PolicyRule>) -> Vec<PolicyRule> {
    let mut out: Vec<PolicyRule> = Vec::new();
    for rule in rules {
        let simple = rule.api_groups.len() == 1
            && rule.resources.len() == 1
            && rule.resource_names.is_empty()
            && rule.non_resource_urls.is_empty();
        let existing = out.iter_mut().find(|r| {
            simple
                && r.api_groups == rule.api_groups
                && r.resources == rule.resources
                && r.resource_names.is_empty()
                && r.non_resource_urls.is_empty()
        });
        match existing {
            Some(r) => {
                for v in rule.verbs {
                    if !r.verbs.contains(&v) {
                        r.verbs.push(v);
                    }
                }
            }
            None => out.push(rule),
        }
    }
    out
}

fn quoted(items: &[String]) -> String {
    let q: Vec<String> = items.iter().map(|i| format!("{i:?}")).collect();
    format!("[{}]", q.join(" "))
}

/// upstream's CompactString: `{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}`.
pub fn compact_string(r: &PolicyRule) -> String {
    let parts: Vec<String> = [
        ("APIGroups", &r.api_groups),
        ("Resources", &r.resources),
        ("NonResourceURLs", &r.non_resource_urls),
        ("ResourceNames", &r.resource_names),
        ("Verbs", &r.verbs),
    ]
    .into_iter()
    .filter(|(_, items)| !items.is_empty())
    .map(|(label, items)| format!("{label}:{}", quoted(items)))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
        let v = |s: &[&str]| s.iter().map(|x| (*x).to_owned()).collect();
        PolicyRule {
            verbs: v(verbs),
            api_groups: v(groups),
            resources: v(resources),
            ..PolicyRule::default()
        }
    }

    #[test]
    fn coverage_follows_upstream() {
        let owner = [rule(&["get", "list"], &[""], &["pods", "pods/log"])];
        assert!(uncovered(&owner, &[rule(&["get"], &[""], &["pods"])]).is_empty());
        let missing = uncovered(
            &owner,
            &[rule(&["get", "delete"], &[""], &["pods", "secrets"])],
        );
        assert_eq!(missing.len(), 3);
        let owner = [rule(&["get"], &[""], &["*/status"])];
        assert!(uncovered(&owner, &[rule(&["get"], &[""], &["nodes/status"])]).is_empty());
        assert!(!uncovered(&owner, &[rule(&["get"], &[""], &["nodes"])]).is_empty());
        let mut named = rule(&["get"], &[""], &["secrets"]);
        named.resource_names = vec!["a".into()];
        assert!(uncovered(&[named.clone()], &[rule(&["get"], &[""], &["secrets"])]).len() == 1);
        assert!(uncovered(&[rule(&["get"], &[""], &["secrets"])], &[named]).is_empty());
    }

    #[test]
    fn refusal_text_is_compact() {
        let missing = uncovered(&[], &[rule(&["get", "list"], &[""], &["secrets"])]);
        let c = compact(missing);
        assert_eq!(c.len(), 1);
        assert_eq!(
            compact_string(&c[0]),
            r#"{APIGroups:[""], Resources:["secrets"], Verbs:["get" "list"]}"#
        );
        let url = PolicyRule {
            verbs: one("get"),
            non_resource_urls: one("/metrics"),
            ..PolicyRule::default()
        };
        assert_eq!(
            compact_string(&url),
            r#"{NonResourceURLs:["/metrics"], Verbs:["get"]}"#
        );
    }
}
