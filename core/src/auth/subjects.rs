//! The well-known user and group names of Kubernetes authentication
//! (k8s.io/apiserver/pkg/authentication/user and serviceaccount/util.go), and how a
//! ServiceAccount maps to a user name and groups.

pub const MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
const SA_PREFIX: &str = "system:serviceaccount:";

/// `system:serviceaccount:<ns>:<name>`.
pub fn service_account_user(namespace: &str, name: &str) -> String {
    format!("{SA_PREFIX}{namespace}:{name}")
}

/// `(namespace, name)` of a ServiceAccount user name.
pub fn split_service_account(user: &str) -> Option<(&str, &str)> {
    let (ns, name) = user.strip_prefix(SA_PREFIX)?.split_once(':')?;
    (!ns.is_empty() && !name.is_empty() && !name.contains(':')).then_some((ns, name))
}

/// The groups of every ServiceAccount in `namespace`.
pub fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        SERVICE_ACCOUNTS.to_owned(),
        format!("{SERVICE_ACCOUNTS}:{namespace}"),
    ]
}

/// Adds system:authenticated unless the groups already say (un)authenticated, as upstream's
/// authenticated-group adder and impersonation filter do.
pub fn with_authenticated(mut groups: Vec<String>) -> Vec<String> {
    if !groups
        .iter()
        .any(|g| g == AUTHENTICATED || g == UNAUTHENTICATED)
    {
        groups.push(AUTHENTICATED.to_owned());
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_account_names() {
        let u = service_account_user("demo", "default");
        assert_eq!(u, "system:serviceaccount:demo:default");
        assert_eq!(split_service_account(&u), Some(("demo", "default")));
        assert_eq!(split_service_account("system:serviceaccount:demo"), None);
        assert_eq!(split_service_account("alice"), None);
        assert_eq!(
            with_authenticated(vec!["a".into()]),
            vec!["a".to_owned(), AUTHENTICATED.to_owned()]
        );
        assert_eq!(with_authenticated(vec![AUTHENTICATED.into()]).len(), 1);
    }
}
