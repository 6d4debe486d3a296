//! The API server's HTTPS front end: TLS (rustls, client certificates optional), HTTP/1.1
//! framing on httparse with keep-alive, bounded heads and bodies, timeouts against slow
//! clients, caps on connections and streams, chunked streaming responses, upgrades, and
//! graceful shutdown. It knows nothing of Kubernetes beyond the `Status` body of its own
//! rejections: routing, authentication decisions and the API live above it, behind
//! [`Handler`].
//!
//! ```no_run
//! use std::rc::Rc;
//! use wisp_core::http::{self, Limits, Request, Response};
//! use wisp_core::pki;
//!
//! let dir = std::path::Path::new("/var/lib/wisp/pki");
//! let pki = pki::ensure_pki(dir, &pki::default_serving_sans("wisp.local")).unwrap();
//! let slot = http::CertSlot::new(pki.serving.chain, pki.serving.key).unwrap();
//! let tls = http::server_config_with_slot(slot, pki.ca_der).unwrap();
//! let (trigger, signal) = http::shutdown_pair();
//! let handler = |req: Request| async move {
//!     match (&req.identity, req.path.as_str()) {
//!         (_, "/healthz") => Response::full(200, "text/plain", "ok"),
//!         (None, _) => Response::status_error(401, "Unauthorized", "Unauthorized"),
//!         (Some(who), _) => Response::full(200, "text/plain", who.user.clone()),
//!     }
//! };
//! let executor = async_executor::LocalExecutor::new();
//! async_io::block_on(executor.run(async {
//!     let listener = async_net::TcpListener::bind("0.0.0.0:6443").await.unwrap();
//!     http::serve(listener, tls, Rc::new(handler), Limits::default(), signal).await;
//! }));
//! drop(trigger);
//! ```

mod chunked;
mod connection;
mod error_reply;
mod head;
mod idle;
mod limits;
mod listener;
pub mod query;
mod request;
mod response;
mod response_head;
mod server;
mod shutdown;
mod tls;

pub use chunked::{ChunkedDecoder, ChunkedError, Decoded};
pub use error_reply::status_json;
pub use head::{BodyFraming, HeadError, RequestHead, find_head_end, parse_head};
pub use limits::Limits;
pub use listener::{LISTEN_BACKLOG, bind_listener};
pub use query::Query;
pub use request::{ClientIdentity, Headers, Method, Request};
pub use response::{
    Body, ChunkStream, Handler, LocalBoxFuture, ReadWrite, Response, UpgradeFn, UpgradedStream,
};
pub use server::serve;
pub use shutdown::{ShutdownSignal, ShutdownTrigger, shutdown_pair};
pub use tls::{
    CertSlot, ClientAuthenticator, ServerTls, TlsConfigError, client_identity, narrow_provider,
    server_config, server_config_with_slot,
};
