//! How controllers write: through [`ApiServer::handle`] under their own identity, so their
//! writes pass the same admission, metadata stamping and watch events as a user's, and can
//! be authorized per controller once RBAC is in.

use std::fmt;
use std::rc::{Rc, Weak};

use async_executor::LocalExecutor;

use miniserde::json::Value;

use crate::api::response::Body;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::object::meta;
use crate::registry::Resource;

/// A failed request: the HTTP status and the Status message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientError {
    pub status: u16,
    pub message: String,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.status)
    }
}

impl std::error::Error for ClientError {}

impl ClientError {
    pub fn not_found(&self) -> bool {
        self.status == 404
    }

    pub fn conflict(&self) -> bool {
        self.status == 409
    }
}

/// One object for [`Client::delete_all`].
#[derive(Debug, Clone)]
pub struct DeleteTarget {
    pub resource: Resource,
    pub namespace: Option<String>,
    pub name: String,
    pub propagation: &'static str,
}

/// A controller's handle on the API.
#[derive(Clone)]
pub struct Client {
    server: Rc<ApiServer>,
    user: User,
    /// The field manager its writes record in managedFields.
    manager: &'static str,
    /// Where bulk deletes run their requests side by side (so the store commits them in
    /// shared batches).
    spawner: Weak<LocalExecutor<'static>>,
}

/// The URL path of an object (or of its subresource).
pub fn object_path(
    resource: &Resource,
    namespace: Option<&str>,
    name: &str,
    subresource: Option<&str>,
) -> String {
    let mut path = if resource.group.is_empty() {
        format!("/api/{}", resource.version)
    } else {
        format!("/apis/{}/{}", resource.group, resource.version)
    };
    if let Some(ns) = namespace.filter(|_| resource.namespaced()) {
        path.push_str("/namespaces/");
        path.push_str(ns);
    }
    path.push('/');
    path.push_str(&resource.plural);
    path.push('/');
    path.push_str(name);
    if let Some(sub) = subresource {
        path.push('/');
        path.push_str(sub);
    }
    path
}

impl Client {
    /// A client writing as `user` (see [`crate::auth::identities`]).
    pub fn new(
        server: Rc<ApiServer>,
        user: User,
        manager: &'static str,
        spawner: Weak<LocalExecutor<'static>>,
    ) -> Client {
        Client {
            server,
            manager,
            spawner,
            user,
        }
    }

    pub fn server(&self) -> &Rc<ApiServer> {
        &self.server
    }

    /// DELETE with a propagation policy and a UID precondition, as upstream's controllers
    /// send it (the UID guards against deleting a new object that took the name).
    pub async fn delete(
        &self,
        resource: &Resource,
        namespace: Option<&str>,
        name: &str,
        propagation: &str,
        uid: Option<&str>,
    ) -> Result<(), ClientError> {
        let preconditions = uid.map_or_else(String::new, |uid| {
            format!(
                r#","preconditions":{{"uid":{}}}"#,
                crate::status::json_str(uid)
            )
        });
        let body = format!(
            r#"{{"kind":"DeleteOptions","apiVersion":"v1","propagationPolicy":"{propagation}"{preconditions}}}"#
        );
        let path = object_path(resource, namespace, name, None);
        self.send("DELETE", path, body.into_bytes()).await.map(drop)
    }

    /// Deletes many objects with requests in flight side by side, `BATCH` at a time;
    /// returns the errors other than NotFound and Conflict (gone or changed meanwhile).
    pub async fn delete_all(&self, targets: Vec<DeleteTarget>) -> Vec<ClientError> {
        const BATCH: usize = 64;
        let Some(executor) = self.spawner.upgrade() else {
            return Vec::new();
        };
        let mut errors = Vec::new();
        let mut targets = targets.into_iter().peekable();
        while targets.peek().is_some() {
            let tasks: Vec<_> = targets
                .by_ref()
                .take(BATCH)
                .map(|t| {
                    let client = self.clone();
                    executor.spawn(async move {
                        client
                            .delete(
                                &t.resource,
                                t.namespace.as_deref(),
                                &t.name,
                                t.propagation,
                                None,
                            )
                            .await
                    })
                })
                .collect();
            for task in tasks {
                match task.await {
                    Err(e) if !e.not_found() && !e.conflict() => errors.push(e),
                    _ => {}
                }
            }
        }
        errors
    }

    /// PUT of a whole object (its resourceVersion makes it a compare-and-swap).
    pub async fn update(
        &self,
        resource: &Resource,
        object: &Value,
        subresource: Option<&str>,
    ) -> Result<Value, ClientError> {
        let name = meta::name(object).unwrap_or("").to_owned();
        let path = object_path(resource, meta::namespace(object), &name, subresource);
        self.send("PUT", path, meta::to_json_bytes(object)).await
    }

    async fn send(&self, method: &str, path: String, body: Vec<u8>) -> Result<Value, ClientError> {
        let request = ApiRequest {
            method: method.to_owned(),
            path,
            content_type: Some("application/json".to_owned()),
            accept: Some("application/json".to_owned()),
            body,
            query: vec![("fieldManager".to_owned(), self.manager.to_owned())],
            user: Some(self.user.clone()),
            ..ApiRequest::default()
        };
        let response = self.server.handle(request).await;
        let bytes: &[u8] = match &response.body {
            Body::Bytes(b) => b,
            Body::Shared(b) => b,
            Body::Stream(_) => &[],
        };
        let value = meta::from_json_bytes(bytes).unwrap_or(Value::Null);
        if (200..300).contains(&response.status) {
            return Ok(value);
        }
        Err(ClientError {
            status: response.status,
            message: meta::get_str(&value, &["message"])
                .unwrap_or("request failed")
                .to_owned(),
        })
    }
}
