//! The RBAC authorizer: an in-memory index of Roles, ClusterRoles and their bindings (by
//! subject), kept current from one store watch over the rbac.authorization.k8s.io prefix,
//! and the decision upstream's RBAC authorizer makes from it
//! (k8s.io/kubernetes/plugin/pkg/auth/authorizer/rbac). The watch is drained before every
//! decision, so a binding written by one request is seen by the next; nothing is scanned per
//! request: only the bindings that name the user or one of its groups are visited.

use std::cell::{RefCell, RefMut};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

use miniserde::json::Value;
use wisp_store::{EventKind, Store, Watcher};

use super::attributes::Attributes;
use super::rules::{PolicyRule, rules_of};
use super::subjects::{MASTERS, service_account_user};
use crate::api::server::User;
use crate::object::meta;

pub const PREFIX: &str = "/registry/rbac.authorization.k8s.io/";

/// Whether a request may proceed, and upstream's reason text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub reason: String,
}

/// What a binding grants to: a user name (service accounts included) or a group.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Subject {
    User(String),
    Group(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRef {
    pub cluster: bool,
    pub name: String,
}

impl RoleRef {
    pub fn from_binding(object: &Value) -> Option<RoleRef> {
        let name = meta::get_str(object, &["roleRef", "name"])?.to_owned();
        match meta::get_str(object, &["roleRef", "kind"])? {
            "ClusterRole" => Some(RoleRef {
                cluster: true,
                name,
            }),
            "Role" => Some(RoleRef {
                cluster: false,
                name,
            }),
            _ => None,
        }
    }

    fn kind(&self) -> &'static str {
        if self.cluster { "ClusterRole" } else { "Role" }
    }
}

#[derive(Debug)]
struct Binding {
    /// Empty for a ClusterRoleBinding.
    namespace: String,
    name: String,
    role_ref: RoleRef,
    /// Each subject with upstream's description of it (`User "alice"`).
    subjects: Vec<(Subject, String)>,
}

/// Roles and bindings as last seen in the store.
#[derive(Debug, Default)]
pub struct RbacIndex {
    roles: HashMap<String, Rc<[PolicyRule]>>,
    cluster_roles: HashMap<String, Rc<[PolicyRule]>>,
    bindings: HashMap<Rc<str>, Binding>,
    by_subject: HashMap<Subject, BTreeSet<Rc<str>>>,
}

impl RbacIndex {
    /// Applies one stored change under [`PREFIX`]; unknown keys and undecodable values are
    /// dropped (a broken object grants nothing).
    pub fn apply(&mut self, kind: EventKind, key: &str, value: &[u8]) {
        let Some(rest) = key.strip_prefix(PREFIX) else {
            return;
        };
        let object = match kind {
            EventKind::Put => meta::from_json_bytes(value),
            EventKind::Delete => None,
        };
        match rest.split_once('/') {
            Some(("roles", id)) => set_rules(&mut self.roles, id, object.as_ref()),
            Some(("clusterroles", id)) => set_rules(&mut self.cluster_roles, id, object.as_ref()),
            Some(("rolebindings" | "clusterrolebindings", _)) => {
                self.remove_binding(key);
                if let Some(b) = object.as_ref().and_then(binding_from) {
                    self.insert_binding(key, b);
                }
            }
            _ => {}
        }
    }

    fn remove_binding(&mut self, key: &str) {
        if let Some(old) = self.bindings.remove(key) {
            for (subject, _) in &old.subjects {
                if let Some(set) = self.by_subject.get_mut(subject) {
                    set.remove(key);
                    if set.is_empty() {
                        self.by_subject.remove(subject);
                    }
                }
            }
        }
    }

    fn insert_binding(&mut self, key: &str, binding: Binding) {
        let key: Rc<str> = Rc::from(key);
        for (subject, _) in &binding.subjects {
            self.by_subject
                .entry(subject.clone())
                .or_default()
                .insert(Rc::clone(&key));
        }
        self.bindings.insert(key, binding);
    }

    /// The rules a role reference resolves to; None when the role does not exist.
    pub fn role_rules(&self, role_ref: &RoleRef, namespace: &str) -> Option<Rc<[PolicyRule]>> {
        if role_ref.cluster {
            self.cluster_roles.get(&role_ref.name).cloned()
        } else {
            self.roles
                .get(&format!("{namespace}/{}", role_ref.name))
                .cloned()
        }
    }

    /// The bindings naming `user` that apply in `namespace` (cluster bindings first, as
    /// upstream visits them), each with the subject that matched.
    fn bindings_for<'a>(&'a self, user: &User, namespace: &str) -> Vec<(&'a Binding, &'a str)> {
        let wanted: Vec<Subject> = std::iter::once(Subject::User(user.name.clone()))
            .chain(user.groups.iter().cloned().map(Subject::Group))
            .collect();
        let mut keys: Vec<&Rc<str>> = wanted
            .iter()
            .filter_map(|s| self.by_subject.get(s))
            .flatten()
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.into_iter()
            .filter_map(|k| self.bindings.get(k))
            .filter(|b| {
                b.namespace.is_empty() || (!namespace.is_empty() && b.namespace == namespace)
            })
            .filter_map(|b| {
                let (_, how) = b.subjects.iter().find(|(s, _)| wanted.contains(s))?;
                Some((b, how.as_str()))
            })
            .collect()
    }

    /// upstream's Authorize: allowed by the first binding whose role has a matching rule.
    pub fn decide(&self, user: &User, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == MASTERS) {
            return Decision {
                allowed: true,
                reason: String::new(),
            };
        }
        let mut errors = Vec::new();
        // A role reached through several bindings is evaluated once.
        let mut refused: Vec<Rc<[PolicyRule]>> = Vec::new();
        for (binding, subject) in self.bindings_for(user, attrs.namespace()) {
            let Some(rules) = self.role_rules(&binding.role_ref, &binding.namespace) else {
                errors.push(role_not_found(&binding.role_ref));
                continue;
            };
            if refused.iter().any(|r| Rc::ptr_eq(r, &rules)) {
                continue;
            }
            if !rules.iter().any(|r| r.allows(attrs)) {
                refused.push(rules);
                continue;
            }
            return Decision {
                allowed: true,
                reason: format!("RBAC: allowed by {}", describe(binding, subject)),
            };
        }
        Decision {
            allowed: false,
            reason: rbac_errors(&errors),
        }
    }

    /// Every rule `user` holds in `namespace` (cluster-wide ones included), and the
    /// resolution errors upstream reports alongside (missing roles).
    pub fn rules_for(&self, user: &User, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (binding, _) in self.bindings_for(user, namespace) {
            match self.role_rules(&binding.role_ref, &binding.namespace) {
                Some(r) => rules.extend(r.iter().cloned()),
                None => errors.push(role_not_found(&binding.role_ref)),
            }
        }
        (rules, errors)
    }

    pub fn binding_count(&self) -> usize {
        self.bindings.len()
    }
}

fn set_rules(map: &mut HashMap<String, Rc<[PolicyRule]>>, id: &str, object: Option<&Value>) {
    match object {
        Some(o) => {
            map.insert(id.to_owned(), rules_of(o).into());
        }
        None => {
            map.remove(id);
        }
    }
}

fn binding_from(object: &Value) -> Option<Binding> {
    let namespace = meta::namespace(object).unwrap_or("").to_owned();
    let role_ref = RoleRef::from_binding(object)?;
    let subjects = match meta::get_path(object, &["subjects"]) {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|s| subject_from(s, &namespace))
            .collect(),
        _ => Vec::new(),
    };
    Some(Binding {
        name: meta::name(object)?.to_owned(),
        namespace,
        role_ref,
        subjects,
    })
}

fn subject_from(s: &Value, binding_namespace: &str) -> Option<(Subject, String)> {
    let name = meta::get_str(s, &["name"])?;
    match meta::get_str(s, &["kind"])? {
        "User" => Some((Subject::User(name.to_owned()), format!("User {name:?}"))),
        "Group" => Some((Subject::Group(name.to_owned()), format!("Group {name:?}"))),
        "ServiceAccount" => {
            let ns = meta::get_str(s, &["namespace"])
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            Some((
                Subject::User(service_account_user(ns, name)),
                format!("ServiceAccount {:?}", format!("{name}/{ns}")),
            ))
        }
        _ => None,
    }
}

fn describe(b: &Binding, subject: &str) -> String {
    let (kind, id) = if b.namespace.is_empty() {
        ("ClusterRoleBinding", b.name.clone())
    } else {
        ("RoleBinding", format!("{}/{}", b.name, b.namespace))
    };
    format!(
        "{kind} {id:?} of {} {:?} to {subject}",
        b.role_ref.kind(),
        b.role_ref.name
    )
}

fn role_not_found(r: &RoleRef) -> String {
    let resource = if r.cluster { "clusterrole" } else { "role" };
    format!(
        "{resource}.rbac.authorization.k8s.io {:?} not found",
        r.name
    )
}

/// upstream's `RBAC: <aggregate error>`: one error as is, several as `[a, b]`.
fn rbac_errors(errors: &[String]) -> String {
    match errors {
        [] => String::new(),
        [one] => format!("RBAC: {one}"),
        many => format!("RBAC: [{}]", many.join(", ")),
    }
}

/// The index behind a store watch, synced on every use.
pub struct Rbac {
    store: Store,
    state: RefCell<Synced>,
}

#[derive(Default)]
struct Synced {
    index: RbacIndex,
    watcher: Option<Watcher>,
}

impl Rbac {
    pub fn new(store: Store) -> Rbac {
        Rbac {
            store,
            state: RefCell::new(Synced::default()),
        }
    }

    /// The index with every committed change applied. The borrow must not be held across
    /// an await.
    pub fn index(&self) -> RefMut<'_, RbacIndex> {
        let mut state = self.state.borrow_mut();
        loop {
            if state.watcher.is_none() {
                let (index, watcher) = self.rebuild();
                state.index = index;
                state.watcher = watcher;
            }
            let Synced { index, watcher } = &mut *state;
            let Some(w) = watcher.as_mut() else { break };
            match drain(w, index) {
                Ok(()) => break,
                // History compacted past our cursor: start over from a fresh read.
                Err(()) => state.watcher = None,
            }
        }
        RefMut::map(state, |s| &mut s.index)
    }

    fn rebuild(&self) -> (RbacIndex, Option<Watcher>) {
        let mut index = RbacIndex::default();
        let mut after: Option<Vec<u8>> = None;
        let mut first_revision = None;
        loop {
            let page = self.store.range(PREFIX.as_bytes(), 512, after.as_deref());
            first_revision.get_or_insert(page.revision);
            for kv in &page.kvs {
                index.apply(EventKind::Put, &String::from_utf8_lossy(&kv.key), &kv.value);
            }
            after = page.kvs.last().map(|kv| kv.key.to_vec());
            if !page.more {
                break;
            }
        }
        // Events after the first page replay idempotently over later pages.
        let watcher = self
            .store
            .watch(PREFIX.as_bytes(), first_revision.unwrap_or(0))
            .ok();
        (index, watcher)
    }

    pub fn decide(&self, user: &User, attrs: &Attributes) -> Decision {
        self.index().decide(user, attrs)
    }
}

fn drain(watcher: &mut Watcher, index: &mut RbacIndex) -> Result<(), ()> {
    while let Some(event) = watcher.try_next() {
        let event = event.map_err(|_| ())?;
        let key = String::from_utf8_lossy(&event.kv.key);
        index.apply(event.kind, &key, &event.kv.value);
    }
    Ok(())
}
