//! Authentication and authorization: who sent a request (client certificate, ServiceAccount
//! token, impersonation) and whether the Node authorizer and RBAC let them do it. The API
//! server calls [`Auth::gate`] on every request past the health endpoints and
//! [`intercept`] once a resource request is routed (access reviews, TokenRequest, RBAC
//! escalation checks); [`defaults`] creates the bootstrap roles and [`component_policy`]
//! the roles of wisp's own components (whose users are in [`identities`]), [`controllers`]
//! keeps aggregated ClusterRoles and the per-namespace `default` ServiceAccount and
//! kube-root-ca.crt current, [`legacy_tokens`] fills token Secrets, [`token_volume`] is the
//! ServiceAccount admission of pods and [`pod_security`] the Pod Security admission.

pub mod attributes;
pub mod authn;
pub mod binding_update;
pub mod component_policy;
pub mod controllers;
pub mod defaults;
pub mod escalation;
pub mod identities;
pub mod impersonation;
pub mod intercept;
pub mod legacy_tokens;
pub mod node_authorizer;
pub mod node_restriction;
pub mod pod_security;
pub mod pod_security_modes;
pub mod rbac;
pub mod review;
pub mod rules;
pub mod service_account;
pub mod subjects;
pub mod token;
pub mod token_volume;

#[cfg(test)]
mod tests;

use std::cell::RefCell;
use std::rc::Rc;

use wisp_store::Store;

pub use attributes::{Attributes, ResourceAttributes, Target};
pub use intercept::intercept;
pub use rbac::Decision;
pub use token::TokenKey;

use crate::api::server::{ApiRequest, User};
use crate::status::ApiError;

/// An authenticated user with what only some authenticators know (a ServiceAccount's uid,
/// the pod a token is bound to).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: User,
    pub uid: String,
    pub extra: Vec<(String, Vec<String>)>,
}

impl Identity {
    pub fn from_user(user: User) -> Identity {
        Identity {
            user,
            uid: String::new(),
            extra: Vec::new(),
        }
    }
}

/// The API server's authenticator and authorizer.
pub struct Auth {
    store: Store,
    rbac: rbac::Rbac,
    key: RefCell<Option<Rc<TokenKey>>>,
    root_ca: RefCell<Option<Rc<str>>>,
}

impl Auth {
    pub fn new(store: Store) -> Auth {
        Auth {
            rbac: rbac::Rbac::new(store.clone()),
            store,
            key: RefCell::new(None),
            root_ca: RefCell::new(None),
        }
    }

    /// Installs the ServiceAccount token key; until then bearer tokens are refused and
    /// TokenRequest answers 500.
    pub fn install_key(&self, key: TokenKey) {
        *self.key.borrow_mut() = Some(Rc::new(key));
    }

    pub fn key(&self) -> Option<Rc<TokenKey>> {
        self.key.borrow().clone()
    }

    /// The cluster CA (PEM) published as ConfigMap kube-root-ca.crt in every namespace.
    pub fn install_root_ca(&self, pem: &str) {
        *self.root_ca.borrow_mut() = Some(Rc::from(pem));
    }

    pub fn root_ca(&self) -> Option<Rc<str>> {
        self.root_ca.borrow().clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn rbac(&self) -> &rbac::Rbac {
        &self.rbac
    }

    /// The Node authorizer, then RBAC (upstream's --authorization-mode=Node,RBAC).
    pub fn decide(&self, user: &User, attrs: &Attributes) -> Decision {
        use node_authorizer::NodeVerdict;
        match node_authorizer::authorize(&self.store, user, attrs) {
            NodeVerdict::NotNode => self.rbac.decide(user, attrs),
            NodeVerdict::Allow => Decision {
                allowed: true,
                reason: String::new(),
            },
            NodeVerdict::NoOpinion(reason) => {
                let mut decision = self.rbac.decide(user, attrs);
                if !decision.allowed && !reason.is_empty() {
                    decision.reason = if decision.reason.is_empty() {
                        reason
                    } else {
                        format!("{reason}, {}", decision.reason)
                    };
                }
                decision
            }
        }
    }

    /// Authenticates, applies impersonation and authorizes `req`; returns the identity the
    /// request acts as. 401 when nobody is authenticated, 403 with upstream's message when
    /// RBAC says no.
    pub fn gate(&self, req: &ApiRequest) -> Result<Identity, ApiError> {
        let requester = authn::authenticate(self, req)?;
        let identity = impersonation::impersonate(self, requester, &req.impersonate)?;
        if let Some(attrs) = Attributes::from_request(req) {
            let decision = self.decide(&identity.user, &attrs);
            if !decision.allowed {
                return Err(attrs.forbidden(&identity.user.name, &decision.reason));
            }
            node_restriction::admit(self, &identity.user, req, &attrs)?;
        }
        Ok(identity)
    }
}
