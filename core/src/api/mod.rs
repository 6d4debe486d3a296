//! The API request path, top to bottom: route the URL, parse parameters, negotiate the
//! response form, then read (get, list), watch, write (create, update, patch, with
//! server-side apply) or delete against the store; the pod streams (logs, exec, attach,
//! port-forward) go to the node agent through [`streams`].

pub mod apply;
pub mod body;
pub mod continue_token;
pub mod delete;
pub mod metrics;
pub mod negotiate;
pub mod params;
pub mod read;
pub mod response;
pub mod route;
pub mod select;
pub mod server;
pub mod streams;
pub mod subresource;
pub mod watch;
pub mod write;
