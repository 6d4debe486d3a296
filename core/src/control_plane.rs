//! Starting the control plane: certificates and the admin kubeconfig, the API server over
//! the store, the objects every cluster has, and the HTTPS listener. This is where the HTTP
//! layer meets the API: [`ApiHandler`] turns an HTTP request into an [`ApiRequest`] and an
//! [`ApiResponse`] back into HTTP.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use wisp_store::Store;

use crate::api::response::{ApiResponse, Body};
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::api::streams::handshake::UpgradeOffer;
use crate::audit::{AuditEvent, AuditLog, Rotation};
use crate::bootstrap::{self, ApiEndpoint};
use crate::http::{self, LocalBoxFuture, Request, Response, ShutdownSignal};
use crate::{kubeconfig, pki};

/// What the control plane needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Extra names and addresses for the serving certificate.
    pub extra_sans: Vec<String>,
    /// The ClusterIP of the `kubernetes` Service.
    pub kubernetes_service_ip: String,
    /// The service CIDR (network address and prefix length) ClusterIPs come from.
    pub service_cidr: (std::net::IpAddr, u8),
    /// The cluster DNS Service's address, reserved in the service CIDR.
    pub cluster_dns: std::net::IpAddr,
    /// Write `<data_dir>/audit/audit.log` (crate::audit).
    pub audit_log: bool,
    /// Fires after the host's addresses changed (crate::address_follow).
    pub address_changes: Option<async_channel::Receiver<()>>,
}

#[derive(Debug)]
pub enum StartError {
    Pki(pki::PkiError),
    Kubeconfig(std::io::Error),
    Tls(http::TlsConfigError),
    Listen(SocketAddr, std::io::Error),
    Bootstrap(crate::status::ApiError),
    ServiceNetwork(String),
    TokenKey(crate::auth::token::TokenError),
    Audit(std::io::Error),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::Pki(e) => write!(f, "certificates: {e}"),
            StartError::Kubeconfig(e) => write!(f, "writing the admin kubeconfig: {e}"),
            StartError::Tls(e) => write!(f, "TLS configuration: {e}"),
            StartError::Listen(addr, e) => write!(f, "cannot listen on {addr}: {e}"),
            StartError::Bootstrap(e) => write!(f, "creating the built-in objects: {e}"),
            StartError::ServiceNetwork(e) => write!(f, "service network: {e}"),
            StartError::TokenKey(e) => write!(f, "{e}"),
            StartError::Audit(e) => write!(f, "cannot open the audit log: {e}"),
        }
    }
}

impl std::error::Error for StartError {}

/// What `wisp run` prints once the API answers.
#[derive(Debug, Clone)]
pub struct Ready {
    pub url: String,
    pub kubeconfig: PathBuf,
    pub startup_ms: u128,
}

/// The HTTP handler of the API server.
pub struct ApiHandler {
    server: Rc<ApiServer>,
    audit: Option<AuditLog>,
}

impl ApiHandler {
    /// A handler without an audit log.
    pub fn new(server: Rc<ApiServer>) -> ApiHandler {
        ApiHandler {
            server,
            audit: None,
        }
    }
}

impl http::Handler for ApiHandler {
    fn handle(&self, req: Request) -> LocalBoxFuture<'_, Response> {
        Box::pin(async move {
            let Some(audit) = &self.audit else {
                return to_http_response(self.server.handle(to_api_request(req)).await);
            };
            let started = Instant::now();
            let (method, path) = (req.method.as_str().to_owned(), req.path.clone());
            let api_req = to_api_request(req);
            let watch = api_req
                .query
                .iter()
                .any(|(k, v)| k == "watch" && (v == "true" || v == "1"));
            let (response, user) = self.server.handle_for_audit(api_req).await;
            audit.record(&AuditEvent {
                method: &method,
                path: &path,
                watch,
                user: user
                    .as_ref()
                    .map(|u| (u.name.as_str(), u.groups.as_slice())),
                code: response.status,
                latency: started.elapsed(),
                annotations: &response.audit_annotations,
            });
            to_http_response(response)
        })
    }
}

fn to_api_request(req: Request) -> ApiRequest {
    let query = http::Query::parse(&req.query);
    ApiRequest {
        method: req.method.as_str().to_owned(),
        path: req.path.clone(),
        query: query
            .iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        accept: req.headers.get("accept").map(str::to_owned),
        content_type: req.headers.get("content-type").map(str::to_owned),
        authorization: req.headers.get("authorization").map(str::to_owned),
        impersonate: req
            .headers
            .iter()
            .filter(|(n, _)| n.starts_with("impersonate-"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.to_owned()))
            .collect(),
        upgrade: upgrade_offer(&req.headers),
        body: req.body,
        user: req.identity.map(|id| User {
            name: id.user,
            groups: id.groups,
        }),
    }
}

/// The upgrade headers of a request that asks to switch protocols (exec, attach,
/// port-forward).
fn upgrade_offer(headers: &http::Headers) -> Option<UpgradeOffer> {
    if !headers.has_token("connection", "upgrade") {
        return None;
    }
    Some(UpgradeOffer {
        upgrade: headers.get("upgrade").unwrap_or("").trim().to_owned(),
        key: headers.get("sec-websocket-key").map(str::to_owned),
        version: headers.get("sec-websocket-version").map(str::to_owned),
        protocols: headers
            .get_all("sec-websocket-protocol")
            .flat_map(|v| v.split(','))
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect(),
    })
}

fn to_http_response(resp: ApiResponse) -> Response {
    if let Some(run) = resp.upgrade {
        return Response {
            status: resp.status,
            headers: resp.headers,
            body: http::Body::Upgrade(run),
        };
    }
    let mut headers = vec![("Content-Type".to_owned(), resp.content_type)];
    headers.extend(resp.headers);
    let body = match resp.body {
        Body::Bytes(bytes) => http::Body::Full(bytes),
        Body::Shared(bytes) => http::Body::Shared(bytes),
        Body::Stream(chunks) => http::Body::Stream(chunks),
    };
    Response {
        status: resp.status,
        headers,
        body,
    }
}

/// The control plane's ends of a node agent's link (wisp-proto frames).
pub struct NodeLinkEnds {
    pub reader: Box<dyn futures_lite::AsyncRead + Unpin>,
    pub writer: Box<dyn futures_lite::AsyncWrite + Unpin>,
    /// Logs, exec, attach and port-forward, served by the node agent.
    pub streams: Rc<dyn crate::api::streams::node::PodStreams>,
}

/// Loads or creates certificates, writes the kubeconfig, creates the built-in objects and
/// serves the API until `shutdown` fires. `on_ready` runs once the listener is bound. With
/// `node`, the node agent at the other end of the link is served too (crate::nodelink).
pub async fn run(
    store: Store,
    settings: Settings,
    shutdown: ShutdownSignal,
    on_ready: impl FnOnce(Ready),
    node: Option<NodeLinkEnds>,
) -> Result<(), StartError> {
    let started = Instant::now();
    let network = crate::admission::ServiceNetwork::new(
        settings.service_cidr.0,
        settings.service_cidr.1,
        settings.cluster_dns,
    )
    .map_err(StartError::ServiceNetwork)?;
    let pki_dir = settings.data_dir.join("pki");
    let sans = crate::address_follow::wanted_sans(&settings.extra_sans);
    let key_dir = pki_dir.clone();
    let follow_dir = pki_dir.clone();
    let certs = blocking::unblock(move || pki::ensure_pki(&pki_dir, &sans))
        .await
        .map_err(StartError::Pki)?;
    let data_dir = settings.data_dir.clone();
    let port = settings.listen.port();
    let admin = certs.admin;
    let kubeconfig =
        blocking::unblock(move || kubeconfig::write_kubeconfig(&data_dir, port, &admin))
            .await
            .map_err(StartError::Kubeconfig)?;
    let slot =
        http::CertSlot::new(certs.serving.chain, certs.serving.key).map_err(StartError::Tls)?;
    let tls =
        http::server_config_with_slot(Arc::clone(&slot), certs.ca_der).map_err(StartError::Tls)?;

    let host_ip = blocking::unblock(pki::primary_host_address)
        .await
        .to_string();
    let server =
        Rc::new(ApiServer::new(store, &format!("{host_ip}:{port}")).with_service_network(network));
    let endpoint = ApiEndpoint {
        service_ip: settings.kubernetes_service_ip.clone(),
        host_ip,
        port,
    };
    bootstrap::ensure_builtin_objects(&server, &endpoint)
        .await
        .map_err(StartError::Bootstrap)?;
    bootstrap::ensure_kubernetes_endpoints_address(&server, &endpoint)
        .await
        .map_err(StartError::Bootstrap)?;
    let follower = crate::address_follow::AddressFollower {
        pki_dir: follow_dir,
        extra_sans: settings.extra_sans.clone(),
        slot,
        server: Rc::clone(&server),
        endpoint: endpoint.clone(),
    };
    // Serves the CRDs already stored before /readyz turns ready.
    let controllers = crate::controllers::Controllers::start(&server);
    server.auth().install_root_ca(&certs.ca_pem);
    let auth_controllers = start_auth(&server, key_dir).await?;
    server.set_ready(true);

    let listener =
        http::bind_listener(settings.listen).map_err(|e| StartError::Listen(settings.listen, e))?;
    on_ready(Ready {
        url: format!("https://{}", settings.listen),
        kubeconfig,
        startup_ms: started.elapsed().as_millis(),
    });
    let audit_dir = settings.data_dir.clone();
    let enabled = settings.audit_log;
    let audit = blocking::unblock(move || AuditLog::open(enabled, &audit_dir, Rotation::default()))
        .await
        .map_err(StartError::Audit)?;
    // Workload controllers and the scheduler run on their own executor beside the server.
    let workers = Rc::new(async_executor::LocalExecutor::new());
    crate::workloads::spawn(&workers, &server);
    crate::scheduler::spawn(&workers, &server);
    crate::storage::spawn(&workers, &server, settings.data_dir.join("storage"));
    crate::quota::controller::spawn(&workers, &server);
    let node_links = crate::node_lifecycle::spawn(&workers, &server, node.is_some());
    if let Some(changes) = settings.address_changes.clone() {
        workers.spawn(follower.run(changes)).detach();
    }
    if let Some(ends) = node {
        server.set_pod_streams(Some(Rc::clone(&ends.streams)));
        let server = Rc::clone(&server);
        workers
            .spawn(async move {
                let served = crate::nodelink::serve_tracked(
                    server,
                    Some(node_links),
                    ends.reader,
                    ends.writer,
                );
                if let Err(e) = served.await {
                    eprintln!("wisp: {e}");
                }
            })
            .detach();
    }
    let handler: Rc<dyn http::Handler> = Rc::new(ApiHandler { server, audit });
    let serving = http::serve(
        listener,
        tls,
        handler,
        http::Limits::default(),
        shutdown.clone(),
    );
    let controllers = controllers.run(shutdown);
    let api = futures_lite::future::or(futures_lite::future::zip(serving, controllers), async {
        auth_controllers.await;
        Default::default()
    });
    futures_lite::future::or(api, async {
        workers.run(futures_lite::future::pending::<()>()).await;
        Default::default()
    })
    .await;
    Ok(())
}

/// The ServiceAccount token key, the default RBAC policy with its aggregated roles filled
/// in, and `default` ServiceAccounts; returns the auth controllers to run beside the server
/// (they end only when the store closes).
async fn start_auth(
    server: &Rc<ApiServer>,
    key_dir: PathBuf,
) -> Result<impl std::future::Future<Output = ()> + use<>, StartError> {
    use crate::auth::{TokenKey, controllers, defaults};
    let key = blocking::unblock(move || TokenKey::load_or_create(&key_dir))
        .await
        .map_err(StartError::TokenKey)?;
    server.auth().install_key(key);
    defaults::ensure_default_policy(server)
        .await
        .map_err(StartError::Bootstrap)?;
    controllers::aggregate_once(server)
        .await
        .map_err(StartError::Bootstrap)?;
    controllers::ensure_default_service_accounts(server).await;
    let (a, b, c) = (Rc::clone(server), Rc::clone(server), Rc::clone(server));
    Ok(async move {
        futures_lite::future::zip(
            futures_lite::future::zip(
                controllers::run_aggregation(a),
                controllers::run_service_accounts(b),
            ),
            crate::auth::legacy_tokens::run(c),
        )
        .await;
    })
}
