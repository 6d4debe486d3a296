//! The pod streaming subresources: `log` (a chunked text stream), `exec` and `attach`
//! (WebSocket, channel protocol v5/v4) and `portforward` (SPDY/3.1 tunnelled in a
//! WebSocket, as kubectl 1.32 does it). This module checks the request, resolves the pod
//! and container, and moves bytes; the bytes themselves come from the node agent through
//! the [`node::PodStreams`] trait. Authorization happened before (the request's verb on
//! `pods/<sub>`); [`needs_create_check`] says when upstream also wants `create`.

pub mod handshake;
mod logs;
pub mod node;
pub mod options;
mod portforward;
pub mod remotecommand;
pub mod spdy;
pub mod target;
pub mod websocket;

use std::rc::Rc;

use wisp_store::Store;

use self::handshake::UpgradeOffer;
use self::node::{PodStreams, StreamError};
use self::target::Pod;
use crate::api::read::{fetch, parse_stored};
use crate::api::response::ApiResponse;
use crate::registry::Resource;
use crate::status::ApiError;

/// Whether this module serves `sub` of `resource`.
pub fn handles(resource: &Resource, sub: &str) -> bool {
    resource.group.is_empty()
        && resource.plural == "pods"
        && matches!(sub, "log" | "exec" | "attach" | "portforward")
}

/// Upstream (AuthorizePodWebsocketUpgradeCreatePermission) also requires `create` on the
/// subresource when a WebSocket GET opens an interactive session, so that `get` alone
/// does not grant exec.
pub fn needs_create_check(sub: &str, method: &str) -> bool {
    method == "GET" && matches!(sub, "exec" | "attach" | "portforward")
}

/// One stream request, routed and authorized.
pub struct StreamRequest<'a> {
    pub store: &'a Store,
    pub resource: &'a Resource,
    pub namespace: &'a str,
    pub name: &'a str,
    pub sub: &'a str,
    pub query: &'a [(String, String)],
    pub upgrade: Option<&'a UpgradeOffer>,
    pub node: Option<Rc<dyn PodStreams>>,
}

pub async fn handle(req: StreamRequest<'_>) -> Result<ApiResponse, ApiError> {
    let stored = fetch(req.store, req.resource, Some(req.namespace), req.name)?;
    let pod = Pod {
        value: parse_stored(&stored)?,
        namespace: req.namespace.to_owned(),
        name: req.name.to_owned(),
    };
    match req.sub {
        "log" => logs::serve(&pod, req.query, req.node).await,
        "exec" | "attach" => exec_or_attach(&req, &pod).await,
        _ => portforward_session(&req, &pod).await,
    }
}

async fn exec_or_attach(req: &StreamRequest<'_>, pod: &Pod) -> Result<ApiResponse, ApiError> {
    let exec = req.sub == "exec";
    let exec_opts = if exec {
        Some(options::exec_options(req.query)?)
    } else {
        None
    };
    let attach_opts = options::attach_options(req.query)?;
    let target = pod.target(options::container(req.query))?;
    pod.require_node()?;
    let accepted = handshake::accept(websocket_offer(req.upgrade)?, remotecommand::PROTOCOLS)?;
    let node = req.node.clone().ok_or_else(unavailable)?;
    let session = match exec_opts {
        Some(opts) => node.exec(target, opts).await,
        None => node.attach(target, attach_opts).await,
    }
    .map_err(node_error)?;
    let protocol = accepted.protocol;
    Ok(ApiResponse::upgrade(accepted.headers, move |stream| {
        remotecommand::serve(stream, protocol, session)
    }))
}

async fn portforward_session(req: &StreamRequest<'_>, pod: &Pod) -> Result<ApiResponse, ApiError> {
    let allowed = options::ports(req.query)?;
    pod.require_node()?;
    let accepted = handshake::accept(websocket_offer(req.upgrade)?, portforward::PROTOCOLS)?;
    let node = req.node.clone().ok_or_else(unavailable)?;
    let reference = pod.reference();
    Ok(ApiResponse::upgrade(accepted.headers, move |stream| {
        portforward::serve(stream, node, reference, allowed)
    }))
}

/// The WebSocket upgrade of a request. kubectl 1.32 tries a WebSocket first; its SPDY
/// fallback (a POST with `Upgrade: SPDY/3.1`) is not served.
fn websocket_offer(offer: Option<&UpgradeOffer>) -> Result<&UpgradeOffer, ApiError> {
    match offer {
        Some(offer) if offer.is_websocket() => Ok(offer),
        Some(offer) if offer.is_spdy() => Err(ApiError::bad_request(
            "unable to upgrade connection: SPDY/3.1 upgrades are not served, use a WebSocket client (kubectl 1.31 or newer)",
        )),
        _ => Err(ApiError::bad_request("Upgrade request required")),
    }
}

/// No node agent installed: what upstream answers when the kubelet cannot be reached.
fn unavailable() -> ApiError {
    ApiError::service_unavailable("error dialing backend: no node agent is serving pod streams")
}

fn node_error(e: StreamError) -> ApiError {
    match e {
        StreamError::BadRequest(m) => ApiError::bad_request(m),
        StreamError::NotFound(m) => ApiError::not_found_message(m),
        StreamError::Internal(m) => ApiError::internal(m),
    }
}

#[cfg(test)]
mod tests;
