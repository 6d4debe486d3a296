//! The control plane's end of the internal protocol (wisp-proto): it tells the node agent
//! which pods are bound to its node, every Service with its Endpoints and every
//! NetworkPolicy and Namespace, answers its reads (ConfigMaps, Secrets, tokens) and
//! writes what it reports (Node status, pod status, Events, the final delete of a stopped
//! pod) through the API server, so those writes pass admission and reach watchers like any
//! client's. It runs on the control plane's executor over any byte stream; `wisp run`
//! connects it to the agent with in-process pipes.

mod incoming;
mod network_objects;
mod object_feed;
mod pods;
mod services;

use std::rc::Rc;

use async_executor::LocalExecutor;
use futures_lite::{AsyncRead, AsyncWrite, AsyncWriteExt};
use wisp_proto::{FrameReader, FromNode, ToNode, VERSION};

use crate::api::server::ApiServer;
use crate::node_lifecycle::NodeLinks;
use crate::workloads::client::Client;

/// Why the link ended.
#[derive(Debug)]
pub enum LinkError {
    Frame(wisp_proto::FrameError),
    /// The first frame was not `Hello` or named another protocol version.
    Handshake(String),
    Write(std::io::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Frame(e) => write!(f, "node link: {e}"),
            LinkError::Handshake(m) => write!(f, "node link handshake: {m}"),
            LinkError::Write(e) => write!(f, "node link: writing: {e}"),
        }
    }
}

impl std::error::Error for LinkError {}

/// Serves one node agent until it disconnects or the store closes.
pub async fn serve(
    server: Rc<ApiServer>,
    reader: impl AsyncRead + Unpin,
    writer: impl AsyncWrite + Unpin,
) -> Result<(), LinkError> {
    serve_tracked(server, None, reader, writer).await
}

/// [`serve`], reporting the link's connection and loss to the node lifecycle controller.
pub async fn serve_tracked(
    server: Rc<ApiServer>,
    links: Option<Rc<NodeLinks>>,
    reader: impl AsyncRead + Unpin,
    writer: impl AsyncWrite + Unpin,
) -> Result<(), LinkError> {
    let mut frames = FrameReader::new(reader);
    let node_name = handshake(&mut frames).await?;
    if let Some(l) = &links {
        l.connected(&node_name);
    }
    let result = run_link(server, node_name.clone(), frames, writer).await;
    if let Some(l) = &links {
        l.disconnected(&node_name);
    }
    result
}

async fn handshake<R: AsyncRead + Unpin>(frames: &mut FrameReader<R>) -> Result<String, LinkError> {
    match frames.next::<FromNode>().await.map_err(LinkError::Frame)? {
        Some(FromNode::Hello { version, node_name }) if version == VERSION => Ok(node_name),
        Some(FromNode::Hello { version, .. }) => Err(LinkError::Handshake(format!(
            "node speaks protocol version {version}, the control plane {VERSION}"
        ))),
        other => Err(LinkError::Handshake(format!(
            "expected Hello, got {other:?}"
        ))),
    }
}

async fn run_link<R: AsyncRead + Unpin>(
    server: Rc<ApiServer>,
    node_name: String,
    mut frames: FrameReader<R>,
    mut writer: impl AsyncWrite + Unpin,
) -> Result<(), LinkError> {
    let (out_tx, out_rx) = async_channel::bounded::<ToNode>(256);
    let client = node_client(&server, &node_name);
    let tasks = Rc::new(LocalExecutor::new());
    tasks
        .spawn(pods::follow(
            Rc::clone(&server),
            node_name.clone(),
            out_tx.clone(),
        ))
        .detach();
    tasks
        .spawn(pods::follow_config(Rc::clone(&server), out_tx.clone()))
        .detach();
    tasks
        .spawn(services::follow(Rc::clone(&server), out_tx.clone()))
        .detach();
    tasks
        .spawn(network_objects::follow(Rc::clone(&server), out_tx.clone()))
        .detach();
    let send = async {
        writer
            .write_all(&wisp_proto::encode(&ToNode::Hello { version: VERSION }))
            .await
            .map_err(LinkError::Write)?;
        while let Ok(message) = out_rx.recv().await {
            writer
                .write_all(&wisp_proto::encode(&message))
                .await
                .map_err(LinkError::Write)?;
        }
        Ok(())
    };
    let handler = incoming::Handler::new(client, node_name, out_tx, Rc::clone(&tasks));
    let receive = async {
        while let Some(message) = frames.next::<FromNode>().await.map_err(LinkError::Frame)? {
            handler.handle(message).await;
        }
        Ok(())
    };
    tasks.run(futures_lite::future::or(receive, send)).await
}

/// The node's identity: `system:node:<name>` in `system:nodes`, as the kubelet's; the
/// node authorizer and NodeRestriction (crate::auth) keep it to its own node and pods.
fn node_client(server: &Rc<ApiServer>, node_name: &str) -> Client {
    Client::for_user(
        server,
        crate::auth::identities::node(node_name),
        "wisp-node",
    )
}

#[cfg(test)]
mod tests;
