//! The node's end of the internal protocol: one writer task sends [`FromNode`] frames in
//! order; reads that expect an answer (objects, tokens) wait on a table of pending requests
//! that the reader fills when the control plane replies.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use async_channel::{Receiver, Sender};
use futures_lite::{AsyncWrite, AsyncWriteExt};
use wisp_proto::{FromNode, GrantedToken, ObjectKind};

/// A reply the control plane sends to a numbered request.
#[derive(Debug)]
pub enum Reply {
    Object(Option<Vec<u8>>),
    Token(Result<GrantedToken, String>),
}

/// The link is gone (wisp is shutting down).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkClosed;

impl std::fmt::Display for LinkClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the link to the control plane is closed")
    }
}

impl std::error::Error for LinkClosed {}

/// Cheap to clone: every pod worker holds one.
#[derive(Clone)]
pub struct Link {
    out: Sender<FromNode>,
    pending: Rc<RefCell<HashMap<u32, Sender<Reply>>>>,
    next_request: Rc<Cell<u32>>,
}

impl Link {
    /// The link and the receiver the writer task drains.
    pub fn new() -> (Link, Receiver<FromNode>) {
        let (out, rx) = async_channel::bounded(256);
        let link = Link {
            out,
            pending: Rc::default(),
            next_request: Rc::new(Cell::new(1)),
        };
        (link, rx)
    }

    pub async fn send(&self, message: FromNode) -> Result<(), LinkClosed> {
        self.out.send(message).await.map_err(|_| LinkClosed)
    }

    /// Reads a ConfigMap, Secret or ServiceAccount; `None` when it does not exist.
    pub async fn get(
        &self,
        kind: ObjectKind,
        namespace: &str,
        name: &str,
    ) -> Result<Option<Vec<u8>>, LinkClosed> {
        let reply = self
            .ask(|request| FromNode::Get {
                request,
                kind,
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
            .await?;
        match reply {
            Reply::Object(json) => Ok(json),
            Reply::Token(_) => Err(LinkClosed),
        }
    }

    /// A bound ServiceAccount token for a pod.
    pub async fn token(
        &self,
        req: TokenFor<'_>,
    ) -> Result<Result<GrantedToken, String>, LinkClosed> {
        let reply = self
            .ask(|request| FromNode::RequestToken {
                request,
                namespace: req.namespace.to_owned(),
                service_account: req.service_account.to_owned(),
                audience: req.audience.map(str::to_owned),
                expiration_seconds: req.expiration_seconds,
                pod_name: req.pod_name.to_owned(),
                pod_uid: req.pod_uid.to_owned(),
            })
            .await?;
        match reply {
            Reply::Token(result) => Ok(result),
            Reply::Object(_) => Err(LinkClosed),
        }
    }

    async fn ask(&self, message: impl FnOnce(u32) -> FromNode) -> Result<Reply, LinkClosed> {
        let request = self.next_request.get();
        self.next_request.set(request.wrapping_add(1).max(1));
        let (tx, rx) = async_channel::bounded(1);
        self.pending.borrow_mut().insert(request, tx);
        if self.send(message(request)).await.is_err() {
            self.pending.borrow_mut().remove(&request);
            return Err(LinkClosed);
        }
        rx.recv().await.map_err(|_| LinkClosed)
    }

    /// Hands a reply to whoever waits for `request` (ignored if nobody does any more).
    pub fn answer(&self, request: u32, reply: Reply) {
        if let Some(tx) = self.pending.borrow_mut().remove(&request) {
            let _gone = tx.try_send(reply);
        }
    }

    /// Fails every pending request (the link closed).
    pub fn close(&self) {
        self.pending.borrow_mut().clear();
        self.out.close();
    }
}

/// What [`Link::token`] asks for.
pub struct TokenFor<'a> {
    pub namespace: &'a str,
    pub service_account: &'a str,
    pub audience: Option<&'a str>,
    pub expiration_seconds: i64,
    pub pod_name: &'a str,
    pub pod_uid: &'a str,
}

/// Writes every queued message as a frame until the queue closes or the peer goes away.
pub async fn write_frames(
    rx: Receiver<FromNode>,
    mut writer: impl AsyncWrite + Unpin,
) -> std::io::Result<()> {
    while let Ok(message) = rx.recv().await {
        writer.write_all(&wisp_proto::encode(&message)).await?;
    }
    writer.flush().await
}
