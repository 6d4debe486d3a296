//! Who wisp's own components are when they write through [`crate::api::server::ApiServer::handle`]:
//! the names and groups upstream's components authenticate as, so the RBAC roles of
//! [`super::component_policy`] (and the node authorizer for nodes) decide what each may do.
//! A controller whose account has no role there yet is a cluster admin (system:masters) and
//! says so once on stderr: see docs/security.md for how a new controller gets its role.

use std::cell::RefCell;

use super::component_policy;
use super::subjects::{AUTHENTICATED, MASTERS, service_account_groups, service_account_user};
use crate::api::server::User;

pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_PREFIX: &str = "system:node:";
pub const SCHEDULER: &str = "system:kube-scheduler";
pub const CONTROLLER_MANAGER: &str = "system:kube-controller-manager";

/// `system:serviceaccount:kube-system:<account>`, the identity kube-controller-manager gives
/// each controller (--use-service-account-credentials).
pub fn controller(account: &str) -> User {
    let mut groups = service_account_groups("kube-system");
    groups.push(AUTHENTICATED.to_owned());
    if !component_policy::has_controller_role(account) {
        warn_unprivileged(account);
        groups.push(MASTERS.to_owned());
    }
    User {
        name: service_account_user("kube-system", account),
        groups,
    }
}

/// The scheduler's user, bound to ClusterRole system:kube-scheduler.
pub fn scheduler() -> User {
    User {
        name: SCHEDULER.to_owned(),
        groups: vec![AUTHENTICATED.to_owned()],
    }
}

/// kube-controller-manager's own user, for the work upstream does with its root
/// credentials (the tokens controller).
pub fn controller_manager() -> User {
    User {
        name: CONTROLLER_MANAGER.to_owned(),
        groups: vec![AUTHENTICATED.to_owned()],
    }
}

/// `system:node:<name>` in system:nodes, as a kubelet's client certificate says.
pub fn node(name: &str) -> User {
    User {
        name: format!("{NODE_PREFIX}{name}"),
        groups: vec![NODES_GROUP.to_owned(), AUTHENTICATED.to_owned()],
    }
}

/// The node a user is, when it is one: named system:node:<name> and in system:nodes.
pub fn node_name(user: &User) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

thread_local! {
    static WARNED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

fn warn_unprivileged(account: &str) {
    WARNED.with(|w| {
        let mut warned = w.borrow_mut();
        if !warned.iter().any(|a| a == account) {
            eprintln!(
                "wisp: controller {account} has no system:controller:{account} role; it acts as system:masters"
            );
            warned.push(account.to_owned());
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_controllers_are_not_masters() {
        let user = controller("deployment-controller");
        assert_eq!(
            user.name,
            "system:serviceaccount:kube-system:deployment-controller"
        );
        assert!(!user.groups.iter().any(|g| g == MASTERS));
        assert!(
            user.groups
                .iter()
                .any(|g| g == "system:serviceaccounts:kube-system")
        );
    }

    #[test]
    fn unknown_controllers_stay_admins() {
        let user = controller("made-up-controller");
        assert!(user.groups.iter().any(|g| g == MASTERS));
    }

    #[test]
    fn node_names() {
        assert_eq!(node_name(&node("board")), Some("board"));
        let mut impostor = node("board");
        impostor.groups.clear();
        assert_eq!(node_name(&impostor), None);
        assert_eq!(node_name(&scheduler()), None);
    }
}
