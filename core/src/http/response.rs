//! What a handler returns, and the handler trait itself. A body is either complete
//! (sent with Content-Length), a stream of chunks (sent chunked, each chunk flushed, for
//! watch and logs), or an upgrade (the head is sent, then the raw connection is handed to
//! a function: WebSocket and SPDY).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use super::request::Request;

/// A boxed future that need not be `Send` (everything runs on one thread).
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// The function an upgrade response runs once the 101 head is sent.
pub type UpgradeFn = Box<dyn FnOnce(UpgradedStream) -> LocalBoxFuture<'static, ()>>;

/// A stream of body chunks, driven by the connection task.
pub type ChunkStream = Pin<Box<dyn futures_lite::Stream<Item = Vec<u8>>>>;

/// A response body.
pub enum Body {
    /// Sent with Content-Length.
    Full(Vec<u8>),
    /// Sent with Content-Length from a shared buffer (a stored object's bytes), no copy.
    Shared(std::sync::Arc<[u8]>),
    /// Sent chunked: every item is one chunk, flushed at once; the stream ends (0 chunk)
    /// when it yields None. When the client goes away the stream is dropped, which ends
    /// the producer (a channel receiver's sender sees its `send` fail).
    Stream(ChunkStream),
    /// The head is sent as given (normally 101 with Upgrade headers), then the function
    /// owns the connection.
    Upgrade(UpgradeFn),
}

impl std::fmt::Debug for Body {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Body::Full(bytes) => write!(f, "Full({} bytes)", bytes.len()),
            Body::Shared(bytes) => write!(f, "Shared({} bytes)", bytes.len()),
            Body::Stream(_) => f.write_str("Stream"),
            Body::Upgrade(_) => f.write_str("Upgrade"),
        }
    }
}

/// A response. The server adds the framing headers (Content-Length, Transfer-Encoding,
/// Connection); handlers must not set those.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// A complete response with a Content-Type.
    pub fn full(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Full(body.into()),
        }
    }

    /// A chunked stream and the sender that feeds it (capacity: chunks buffered before
    /// `send` waits, which is how a slow client slows the producer down).
    pub fn stream(
        status: u16,
        content_type: &str,
        capacity: usize,
    ) -> (Response, async_channel::Sender<Vec<u8>>) {
        let (tx, rx) = async_channel::bounded(capacity.max(1));
        let response = Response {
            status,
            headers: vec![("Content-Type".into(), content_type.into())],
            body: Body::Stream(Box::pin(rx)),
        };
        (response, tx)
    }

    /// A `101 Switching Protocols` response that hands the connection to `run`.
    pub fn upgrade<F, Fut>(headers: Vec<(String, String)>, run: F) -> Response
    where
        F: FnOnce(UpgradedStream) -> Fut + 'static,
        Fut: Future<Output = ()> + 'static,
    {
        Response {
            status: 101,
            headers,
            body: Body::Upgrade(Box::new(move |stream| Box::pin(run(stream)))),
        }
    }

    /// A Kubernetes `metav1.Status` failure, as the API server sends for every error.
    pub fn status_error(code: u16, reason: &str, message: &str) -> Response {
        Response::full(
            code,
            "application/json",
            super::error_reply::status_json(code, reason, message),
        )
    }
}

/// The application side of the server. Implemented for any
/// `Fn(Request) -> impl Future<Output = Response>`.
pub trait Handler {
    fn handle(&self, req: Request) -> LocalBoxFuture<'_, Response>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Request) -> Fut,
    Fut: Future<Output = Response> + 'static,
{
    fn handle(&self, req: Request) -> LocalBoxFuture<'_, Response> {
        Box::pin(self(req))
    }
}

/// Both halves of a byte stream; the server's TLS stream after an upgrade.
pub trait ReadWrite: AsyncRead + AsyncWrite {}
impl<T: AsyncRead + AsyncWrite> ReadWrite for T {}

/// The raw connection after a 101: bytes the client sent after the request head (already
/// buffered by the server) are read first.
pub struct UpgradedStream {
    leftover: Vec<u8>,
    pos: usize,
    inner: Pin<Box<dyn ReadWrite>>,
}

impl UpgradedStream {
    pub(crate) fn new(leftover: Vec<u8>, inner: Pin<Box<dyn ReadWrite>>) -> UpgradedStream {
        UpgradedStream {
            leftover,
            pos: 0,
            inner,
        }
    }
}

impl AsyncRead for UpgradedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.pos < this.leftover.len() {
            let n = buf.len().min(this.leftover.len() - this.pos);
            buf[..n].copy_from_slice(&this.leftover[this.pos..this.pos + n]);
            this.pos += n;
            return Poll::Ready(Ok(n));
        }
        this.inner.as_mut().poll_read(cx, buf)
    }
}

impl AsyncWrite for UpgradedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.inner.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.inner.as_mut().poll_close(cx)
    }
}
