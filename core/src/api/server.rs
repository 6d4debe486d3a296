//! The API server's request handler: routes a request to health, discovery, OpenAPI or a
//! resource verb, after the authentication check, and turns every error into a Status.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use wisp_store::Store;

use super::delete::{self, DeleteOptions};
use super::negotiate;
use super::params::Params;
use super::read;
use super::response::ApiResponse;
use super::route::{self, ResourcePath, Route, Verb};
use super::select::Selection;
use super::watch;
use super::write::{self, WriteRequest};
use crate::discovery::{self, DiscoveryCache, Root};
use crate::openapi::{Catalog, OpenApiDocs};
use crate::registry::{Registry, Resource};
use crate::status::ApiError;

/// Who made a request, as authentication established it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// A request as the HTTP layer hands it over: query pairs already percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct ApiRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub accept: Option<String>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub user: Option<User>,
    /// The `Authorization` header (bearer tokens), read by [`crate::auth`].
    pub authorization: Option<String>,
    /// `Impersonate-*` headers as (lowercase name, value), read by [`crate::auth`].
    pub impersonate: Vec<(String, String)>,
    /// Present when the request asks to switch protocols (exec, attach, port-forward).
    pub upgrade: Option<super::streams::handshake::UpgradeOffer>,
}

impl ApiRequest {
    fn query_value(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

pub struct ApiServer {
    store: Store,
    registry: RefCell<Registry>,
    discovery: RefCell<DiscoveryCache>,
    /// Schemas (built-ins and CRDs), shared with in-flight writes; replaced, not mutated,
    /// when a CRD changes, so no RefCell borrow is held across an await.
    catalog: RefCell<Rc<Catalog>>,
    openapi: RefCell<OpenApiDocs>,
    ready: Cell<bool>,
    /// Service ClusterIP and NodePort pools.
    allocators: crate::admission::Allocators,
    auth: crate::auth::Auth,
    /// The node agent's side of logs, exec, attach and port-forward.
    pod_streams: RefCell<Option<Rc<dyn super::streams::node::PodStreams>>>,
}

impl ApiServer {
    /// `server_address` (`host:port`) is what legacy /api discovery advertises.
    pub fn new(store: Store, server_address: &str) -> ApiServer {
        let registry = Registry::new();
        let discovery = DiscoveryCache::new(&registry, server_address);
        ApiServer {
            store: store.clone(),
            registry: RefCell::new(registry),
            discovery: RefCell::new(discovery),
            catalog: RefCell::new(Rc::new(Catalog::new())),
            openapi: RefCell::new(OpenApiDocs::new()),
            ready: Cell::new(false),
            allocators: crate::admission::Allocators::new(
                crate::admission::ServiceNetwork::default(),
            ),
            auth: crate::auth::Auth::new(store),
            pod_streams: RefCell::new(None),
        }
    }

    /// Uses the configured service network instead of the default 10.43.0.0/16.
    pub fn with_service_network(mut self, network: crate::admission::ServiceNetwork) -> ApiServer {
        self.allocators = crate::admission::Allocators::new(network);
        self
    }

    /// Serves pods/{log,exec,attach,portforward} through `streams` (the node agent);
    /// without it those requests get 503.
    pub fn with_pod_streams(self, streams: Rc<dyn super::streams::node::PodStreams>) -> ApiServer {
        self.set_pod_streams(Some(streams));
        self
    }

    /// Installs (or with None removes) the node agent's streams on a running server: the
    /// agent usually starts after the API server.
    pub fn set_pod_streams(&self, streams: Option<Rc<dyn super::streams::node::PodStreams>>) {
        *self.pod_streams.borrow_mut() = streams;
    }

    pub fn allocators(&self) -> &crate::admission::Allocators {
        &self.allocators
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn auth(&self) -> &crate::auth::Auth {
        &self.auth
    }

    pub fn registry(&self) -> &RefCell<Registry> {
        &self.registry
    }

    /// Swaps in a catalog derived from the current one (a CRD's schemas changed). Writes in
    /// flight keep the catalog they started with.
    pub fn update_catalog(&self, change: impl FnOnce(&mut Catalog)) {
        let mut next = Catalog::clone(&self.catalog.borrow());
        change(&mut next);
        *self.catalog.borrow_mut() = Rc::new(next);
    }

    /// /readyz answers ok once start-up (bootstrap objects, CRDs) is done.
    pub fn set_ready(&self, ready: bool) {
        self.ready.set(ready);
    }

    pub async fn handle(&self, req: ApiRequest) -> ApiResponse {
        self.handle_for_audit(req).await.0
    }

    /// Like [`ApiServer::handle`], and also says whom the request was authenticated as
    /// (what the audit log records).
    pub async fn handle_for_audit(&self, mut req: ApiRequest) -> (ApiResponse, Option<User>) {
        // Authentication and authorization (crate::auth) for all but the health endpoints.
        if !is_public(&req.path) {
            match self.auth.gate(&req) {
                Ok(identity) => req.user = Some(identity.user),
                Err(e) => return (ApiResponse::error(&e), req.user),
            }
        }
        let response = match self.dispatch(&req).await {
            Ok(response) => response,
            Err(e) => ApiResponse::error(&e),
        };
        (response, req.user)
    }

    async fn dispatch(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let route = route::parse(&req.path);
        match route {
            Route::Healthz | Route::Livez => return Ok(ApiResponse::text(200, "ok")),
            Route::Readyz if self.ready.get() => return Ok(ApiResponse::text(200, "ok")),
            Route::Readyz => {
                return Ok(ApiResponse::text(
                    500,
                    "[-]startup failed: not finished\nreadyz check failed",
                ));
            }
            Route::Version => {
                let body = miniserde::json::to_string(&discovery::version_info());
                return Ok(ApiResponse::json(200, body.into_bytes()));
            }
            _ => {}
        }
        if req.user.is_none() {
            return Err(ApiError::unauthorized());
        }
        match route {
            Route::Resource(path) => self.resource(req, &path).await,
            Route::NotFound => Err(ApiError::path_not_found()),
            other => self.discovery(req, &other),
        }
    }

    fn discovery(&self, req: &ApiRequest, route: &Route<'_>) -> Result<ApiResponse, ApiError> {
        let registry = self.registry.borrow();
        let mut cache = self.discovery.borrow_mut();
        cache.refresh(&registry);
        let (content_type, body) = match route {
            Route::LegacyRoot => cache.root(Root::Api, discovery::negotiate(req.accept.as_deref())),
            Route::GroupsRoot => {
                cache.root(Root::Apis, discovery::negotiate(req.accept.as_deref()))
            }
            Route::GroupVersion { group, version } => {
                let body = cache
                    .group_version(group, version)
                    .ok_or_else(ApiError::path_not_found)?;
                (discovery::CONTENT_TYPE_JSON, body)
            }
            Route::Group(group) => {
                let body =
                    discovery::api_group(&registry, group).ok_or_else(ApiError::path_not_found)?;
                return Ok(ApiResponse::json(
                    200,
                    miniserde::json::to_string(&body).into_bytes(),
                ));
            }
            Route::OpenApiV3Root | Route::OpenApiV3 { .. } | Route::OpenApiV2 => {
                drop(cache);
                return self.openapi(req, &registry, route);
            }
            _ => return Err(ApiError::path_not_found()),
        };
        let mut response = ApiResponse::json(200, body.as_bytes().to_vec());
        response.content_type = content_type.to_owned();
        Ok(response)
    }

    /// /openapi/v3 and its documents; /openapi/v2 is not served (kubectl 1.32 needs only
    /// v3 when v3 is complete: see the openapi module).
    fn openapi(
        &self,
        req: &ApiRequest,
        registry: &Registry,
        route: &Route<'_>,
    ) -> Result<ApiResponse, ApiError> {
        let catalog = Rc::clone(&self.catalog.borrow());
        let mut docs = self.openapi.borrow_mut();
        match route {
            Route::OpenApiV3Root => Ok(ApiResponse::json(
                200,
                docs.root(registry, &catalog).as_bytes().to_vec(),
            )),
            Route::OpenApiV3 { group, version } => {
                let key = crate::openapi::document_key(group, version);
                let (hash, body) = docs
                    .document(registry, &catalog, &key)
                    .ok_or_else(ApiError::path_not_found)?;
                let cache = if req.query_value("hash") == Some(hash.as_str()) {
                    "public, immutable"
                } else {
                    "no-cache, private"
                };
                Ok(ApiResponse::json(200, body.into_bytes())
                    .with_header("Cache-Control", cache.to_owned())
                    .with_header("Etag", format!("\"{hash}\"")))
            }
            _ => Err(ApiError::path_not_found()),
        }
    }

    async fn resource(
        &self,
        req: &ApiRequest,
        path: &ResourcePath<'_>,
    ) -> Result<ApiResponse, ApiError> {
        // Clone the entry so no RefCell borrow is held across an await.
        let resource: Resource = self
            .registry
            .borrow()
            .get(path.group, path.version, path.plural)
            .cloned()
            .ok_or_else(ApiError::path_not_found)?;
        let params = Params::parse(req.query.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let verb = Verb::from_request(&req.method, path.name.is_some(), params.watch).ok_or_else(
            || {
                ApiError::method_not_allowed(
                    "the server does not allow this method on the requested resource".to_string(),
                )
            },
        )?;
        if let Some(sub) = path.subresource {
            let allowed = resource
                .subresource(sub)
                .is_some_and(|s| s.verbs.allows(verb.as_str()) || sub_allows_post(sub, verb));
            if !allowed {
                return Err(ApiError::path_not_found());
            }
        } else if !resource.verbs.allows(verb.as_str()) {
            return Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource".to_string(),
            ));
        }
        if resource.namespaced() && path.namespace.is_none() && path.name.is_some() {
            return Err(ApiError::path_not_found());
        }
        let namespace = if resource.namespaced() {
            path.namespace
        } else {
            None
        };
        let user = req.user.as_ref().map_or("", |u| u.name.as_str());
        let store = &self.store;
        let catalog = Rc::clone(&self.catalog.borrow());
        // Pod Security compares a Namespace's enforce level before and after the write.
        let namespace_before =
            crate::auth::pod_security_modes::namespace_before(store, &resource, verb, path.name);
        // Reviews and TokenRequest are answered by auth; RBAC writes pass its escalation check.
        let routed = crate::auth::intercept::Routed {
            resource: &resource,
            path,
            namespace,
            verb,
            params: &params,
            catalog: &catalog,
        };
        if let Some(response) = crate::auth::intercept(self, req, &routed).await? {
            return Ok(response);
        }
        if resource.group == super::metrics::GROUP {
            let node = self.pod_streams.borrow().clone();
            let request = super::metrics::MetricsRequest {
                plural: &resource.plural,
                namespace,
                name: path.name,
            };
            return super::metrics::handle(&request, node).await;
        }
        if let (Some(sub), Some(name), Some(ns)) = (path.subresource, path.name, namespace)
            && super::streams::handles(&resource, sub)
        {
            self.authorize_session(req, &resource, ns, name, sub)?;
            let node = self.pod_streams.borrow().clone();
            return super::streams::handle(super::streams::StreamRequest {
                store,
                resource: &resource,
                namespace: ns,
                name,
                sub,
                query: &req.query,
                upgrade: req.upgrade.as_ref(),
                node,
            })
            .await;
        }
        if let (Some(sub), Some(name)) = (path.subresource, path.name)
            && super::subresource::handles(&resource, sub)
        {
            let parent = WriteRequest {
                store,
                catalog: &catalog,
                resource: &resource,
                namespace,
                subresource: None,
                params: &params,
                user,
                allocators: &self.allocators,
            };
            let sub_req = super::subresource::SubresourceRequest {
                parent: &parent,
                name,
                verb,
                content_type: req.content_type.as_deref(),
                body: &req.body,
            };
            return super::subresource::handle(sub, &sub_req).await;
        }
        let result = match (verb, path.name) {
            (Verb::Get, Some(name)) => {
                let form = negotiate::negotiate(req.accept.as_deref())?;
                let include = negotiate::include_object(req.query_value("includeObject"))?;
                read::get(store, &resource, namespace, name, form, include)
            }
            (Verb::List, _) => {
                let form = negotiate::negotiate(req.accept.as_deref())?;
                let include = negotiate::include_object(req.query_value("includeObject"))?;
                let selection = Selection::from_params(&resource, &params)?;
                read::list(
                    store, &resource, namespace, &params, &selection, form, include,
                )
            }
            (Verb::Watch, name) => {
                let form = negotiate::negotiate(req.accept.as_deref())?;
                let mut params = params.clone();
                if let Some(name) = name {
                    params.field_selector = Some(format!("metadata.name={name}"));
                }
                let selection = Selection::from_params(&resource, &params)?;
                watch::watch(store, &resource, namespace, &params, selection, form)
            }
            (Verb::Create, _) => {
                let object = super::body::decode_object(req.content_type.as_deref(), &req.body)?;
                let wr = WriteRequest {
                    store,
                    catalog: &catalog,
                    resource: &resource,
                    namespace,
                    subresource: path.subresource,
                    params: &params,
                    user,
                    allocators: &self.allocators,
                };
                write::create(&wr, object).await
            }
            (Verb::Update, Some(name)) => {
                let object = super::body::decode_object(req.content_type.as_deref(), &req.body)?;
                let wr = WriteRequest {
                    store,
                    catalog: &catalog,
                    resource: &resource,
                    namespace,
                    subresource: path.subresource,
                    params: &params,
                    user,
                    allocators: &self.allocators,
                };
                write::update(&wr, name, object).await
            }
            (Verb::Patch, Some(name)) => {
                let ct = super::body::essence(req.content_type.as_deref());
                let wr = WriteRequest {
                    store,
                    catalog: &catalog,
                    resource: &resource,
                    namespace,
                    subresource: path.subresource,
                    params: &params,
                    user,
                    allocators: &self.allocators,
                };
                write::patch(&wr, name, &ct, &req.body).await
            }
            (Verb::Delete, Some(name)) => {
                let opts = DeleteOptions::parse(&req.body, &params)?;
                delete::delete(store, &resource, namespace, name, &opts).await
            }
            (Verb::DeleteCollection, _) => {
                let opts = DeleteOptions::parse(&req.body, &params)?;
                let selection = Selection::from_params(&resource, &params)?;
                delete::delete_collection(store, &resource, namespace, &params, &selection, &opts)
                    .await
            }
            _ => Err(ApiError::method_not_allowed(
                "the server does not allow this method on the requested resource",
            )),
        };
        result.map(|response| {
            crate::auth::pod_security_modes::annotate(
                store,
                &resource,
                namespace,
                verb,
                namespace_before.as_ref(),
                response,
            )
        })
    }
}

impl ApiServer {
    /// The extra `create` check upstream makes before a WebSocket GET opens an exec,
    /// attach or port-forward session (the gate already checked `get`).
    fn authorize_session(
        &self,
        req: &ApiRequest,
        resource: &Resource,
        namespace: &str,
        name: &str,
        sub: &str,
    ) -> Result<(), ApiError> {
        let Some(user) = req.user.as_ref() else {
            return Ok(());
        };
        if !super::streams::needs_create_check(sub, &req.method) {
            return Ok(());
        }
        let attrs = crate::auth::Attributes::resource(
            "create",
            crate::auth::ResourceAttributes {
                group: resource.group.to_string(),
                namespace: namespace.to_owned(),
                resource: resource.plural.to_string(),
                subresource: sub.to_owned(),
                name: name.to_owned(),
            },
        );
        let decision = self.auth.decide(user, &attrs);
        if decision.allowed {
            Ok(())
        } else {
            Err(attrs.forbidden(&user.name, &decision.reason))
        }
    }
}

/// Paths served without authentication (upstream grants them to everyone through
/// system:public-info-viewer).
fn is_public(path: &str) -> bool {
    matches!(
        route::parse(path),
        Route::Healthz | Route::Livez | Route::Readyz | Route::Version
    )
}

/// Streaming and action subresources (binding, eviction, exec, token) take POST.
fn sub_allows_post(sub: &str, verb: Verb) -> bool {
    verb == Verb::Create
        && matches!(
            sub,
            "binding" | "eviction" | "exec" | "attach" | "portforward" | "token"
        )
}
