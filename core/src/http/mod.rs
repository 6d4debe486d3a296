//! The API server's HTTPS front end: TLS (rustls, client certificates optional), HTTP/1.1
//! framing on httparse with keep-alive, bounded heads and bodies, timeouts against slow
//! clients, caps on connections and streams, chunked streaming responses, upgrades, and
//! graceful shutdown. It knows nothing of Kubernetes beyond the `Status` body of its own
//! rejections: routing, authentication decisions and the API live above it, behind
//! [`Handler`].

mod chunked;
mod connection;
mod error_reply;
mod head;
mod limits;
pub mod query;
mod request;
mod response;
mod response_head;
mod server;
mod shutdown;
mod tls;

pub use chunked::{ChunkedDecoder, ChunkedError, Decoded};
pub use error_reply::status_json;
pub use limits::Limits;
pub use query::Query;
pub use request::{ClientIdentity, Headers, Method, Request};
pub use response::{Body, Handler, LocalBoxFuture, ReadWrite, Response, UpgradeFn, UpgradedStream};
pub use server::serve;
pub use shutdown::{ShutdownSignal, ShutdownTrigger, shutdown_pair};
pub use tls::{
    CertSlot, TlsConfigError, client_identity, narrow_provider, server_config,
    server_config_with_slot,
};
