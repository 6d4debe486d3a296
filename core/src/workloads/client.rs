//! Writes by in-process controllers, sent through [`ApiServer::handle`] under a system
//! identity so admission, metadata, managedFields and watch events are the same as for any
//! client; and reads straight from the store, which is the one copy of every object.

use std::fmt;
use std::rc::Rc;

use miniserde::json::Value;

use crate::api::response::Body;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::object::meta;

/// Why a controller's write failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The object changed since it was read (409 Conflict on update).
    Conflict,
    AlreadyExists,
    NotFound,
    Other {
        code: u16,
        message: String,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriteError::Conflict => write!(f, "the object was modified"),
            WriteError::AlreadyExists => write!(f, "the object already exists"),
            WriteError::NotFound => write!(f, "the object was not found"),
            WriteError::Other { code, message } => write!(f, "answered {code}: {message}"),
        }
    }
}

impl std::error::Error for WriteError {}

/// A controller's handle on the API: who it is and which field manager it writes as.
#[derive(Clone)]
pub struct Client {
    server: Rc<ApiServer>,
    user: User,
    manager: &'static str,
}

impl Client {
    /// `account` is the service account in kube-system the controller runs as upstream;
    /// RBAC role system:controller:<account> says what it may do.
    pub fn new(server: &Rc<ApiServer>, account: &str, manager: &'static str) -> Client {
        Client {
            server: Rc::clone(server),
            user: crate::auth::identities::controller(account),
            manager,
        }
    }

    /// A client acting as `user` (the node agent's link writes as `system:node:<name>`).
    pub fn for_user(server: &Rc<ApiServer>, user: User, manager: &'static str) -> Client {
        Client {
            server: Rc::clone(server),
            user,
            manager,
        }
    }

    pub fn server(&self) -> &Rc<ApiServer> {
        &self.server
    }

    /// Whom the client writes as.
    pub fn user(&self) -> &User {
        &self.user
    }

    /// The stored object at `key`, parsed.
    pub fn get(&self, key: &str) -> Option<Value> {
        let kv = self.server.store().get(key.as_bytes())?;
        meta::from_json_bytes(&kv.value)
    }

    /// Every stored object under `prefix`, parsed.
    pub fn list(&self, prefix: &str) -> Vec<Value> {
        let listing = self.server.store().range(prefix.as_bytes(), 0, None);
        listing
            .kvs
            .iter()
            .filter_map(|kv| meta::from_json_bytes(&kv.value))
            .collect()
    }

    pub async fn create(&self, path: &str, object: &Value) -> Result<Value, WriteError> {
        self.send("POST", path, "application/json", object).await
    }

    /// PUT: the object must carry the resourceVersion it was read at.
    pub async fn update(&self, path: &str, object: &Value) -> Result<Value, WriteError> {
        self.send("PUT", path, "application/json", object).await
    }

    pub async fn merge_patch(&self, path: &str, patch: &Value) -> Result<Value, WriteError> {
        self.send("PATCH", path, "application/merge-patch+json", patch)
            .await
    }

    pub async fn delete(&self, path: &str) -> Result<(), WriteError> {
        self.send("DELETE", path, "application/json", &Value::Null)
            .await
            .map(|_| ())
    }

    /// DELETE with a DeleteOptions body (grace period, preconditions).
    pub async fn delete_with(&self, path: &str, options: &Value) -> Result<(), WriteError> {
        self.send("DELETE", path, "application/json", options)
            .await
            .map(|_| ())
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &Value,
    ) -> Result<Value, WriteError> {
        let body = match body {
            Value::Null => Vec::new(),
            other => meta::to_json_bytes(other),
        };
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let mut query: Vec<(String, String)> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        if method != "DELETE" {
            query.push(("fieldManager".to_owned(), self.manager.to_owned()));
        }
        let req = ApiRequest {
            method: method.to_owned(),
            path: path.to_owned(),
            query,
            content_type: Some(content_type.to_owned()),
            body,
            user: Some(self.user.clone()),
            ..ApiRequest::default()
        };
        let resp = self.server.handle(req).await;
        let bytes: &[u8] = match &resp.body {
            Body::Bytes(b) => b,
            Body::Shared(b) => b,
            Body::Stream(_) => &[],
        };
        let value = meta::from_json_bytes(bytes).unwrap_or(Value::Null);
        match resp.status {
            200..=299 => Ok(value),
            404 => Err(WriteError::NotFound),
            409 if meta::get_str(&value, &["reason"]) == Some("AlreadyExists") => {
                Err(WriteError::AlreadyExists)
            }
            409 => Err(WriteError::Conflict),
            code => Err(WriteError::Other {
                code,
                message: meta::get_str(&value, &["message"]).unwrap_or("").to_owned(),
            }),
        }
    }
}

/// API paths of the objects the workload controllers write.
pub mod paths {
    pub fn pods(ns: &str) -> String {
        format!("/api/v1/namespaces/{ns}/pods")
    }
    pub fn pod(ns: &str, name: &str) -> String {
        format!("/api/v1/namespaces/{ns}/pods/{name}")
    }
    pub fn replica_sets(ns: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/replicasets")
    }
    pub fn replica_set(ns: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/replicasets/{name}")
    }
    pub fn deployment(ns: &str, name: &str) -> String {
        format!("/apis/apps/v1/namespaces/{ns}/deployments/{name}")
    }
    pub fn events(ns: &str) -> String {
        format!("/api/v1/namespaces/{ns}/events")
    }
}

/// Storage keys the controllers read.
pub mod keys {
    pub const PODS: &str = "/registry/core/pods/";
    pub const NODES: &str = "/registry/core/nodes/";
    pub const REPLICA_SETS: &str = "/registry/apps/replicasets/";
    pub const DEPLOYMENTS: &str = "/registry/apps/deployments/";
    pub const JOBS: &str = "/registry/batch/jobs/";

    /// `<prefix><ns>/` or `<prefix><ns>/<name>`.
    pub fn in_namespace(prefix: &str, ns: &str) -> String {
        format!("{prefix}{ns}/")
    }
    pub fn object(prefix: &str, ns: &str, name: &str) -> String {
        format!("{prefix}{ns}/{name}")
    }
}
