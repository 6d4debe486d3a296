//! One client connection after the TLS handshake: read a request (head within the
//! header timeout, body within the body timeout and size limit), run the handler, write
//! the response (full, streamed or upgraded), and repeat while keep-alive holds. Any I/O
//! error or timeout ends the connection quietly: the peer is gone or misbehaving.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Instant;

use async_io::Timer;
use futures_lite::StreamExt;
use futures_lite::future::or;
use futures_lite::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::chunked::{ChunkedDecoder, ChunkedError};
use super::error_reply::status_json;
use super::head::{BodyFraming, HeadError, RequestHead, find_head_end, parse_head};
use super::idle::{IdleConnections, Waiting};
use super::limits::Limits;
use super::request::{ClientIdentity, Method, Request};
use super::response::{Body, ChunkStream, Handler, Response, UpgradeFn, UpgradedStream};
use super::response_head::{
    CONTINUE, Framing, LAST_CHUNK, chunk_frame, encode_head, status_has_no_body,
};
use super::shutdown::ShutdownSignal;

/// What every connection of one server shares.
pub(crate) struct ConnContext {
    pub handler: Rc<dyn Handler>,
    pub limits: Limits,
    pub streams: Rc<Cell<usize>>,
    pub in_flight: Rc<Cell<usize>>,
    pub shutdown: ShutdownSignal,
    /// The connections waiting on their clients, closed oldest first at the cap.
    pub idle: Rc<IdleConnections>,
}

/// A held place among the concurrent streams (or requests in flight); released on drop.
pub(crate) struct Slot(Rc<Cell<usize>>);

impl Slot {
    /// Takes a place if fewer than `max` are held.
    pub(crate) fn try_take(count: &Rc<Cell<usize>>, max: usize) -> Option<Slot> {
        (count.get() < max).then(|| Slot::take(count))
    }

    /// Takes a place whatever the count (a connection closed for it leaves soon).
    pub(crate) fn take(count: &Rc<Cell<usize>>) -> Slot {
        count.set(count.get() + 1);
        Slot(count.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

enum Outcome {
    KeepAlive,
    Close,
    Upgrade(UpgradeFn, Slot),
}

enum StreamEnd {
    Finished,
    ClientGone,
}

struct Conn<S> {
    stream: S,
    /// Bytes read but not consumed yet (a partial or pipelined request).
    buf: Vec<u8>,
    peer: SocketAddr,
    identity: Option<ClientIdentity>,
    ctx: Rc<ConnContext>,
    /// Whether a request was answered on this connection yet.
    served: bool,
}

/// Serves requests on `stream` until the client leaves, a limit is hit or shutdown.
pub(crate) async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    identity: Option<ClientIdentity>,
    ctx: Rc<ConnContext>,
) where
    S: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let mut conn = Conn {
        stream,
        buf: Vec::new(),
        peer,
        identity,
        ctx,
        served: false,
    };
    loop {
        match conn.exchange().await {
            Ok(Outcome::KeepAlive) => {
                conn.served = true;
                conn.trim_buffer();
            }
            Ok(Outcome::Upgrade(run, slot)) => {
                let upgraded = UpgradedStream::new(conn.buf, Box::pin(conn.stream));
                run(upgraded).await;
                drop(slot);
                return;
            }
            Ok(Outcome::Close) => break,
            Err(_) => return,
        }
    }
    let deadline = Instant::now() + conn.ctx.limits.write_timeout;
    let _ = with_deadline(deadline, conn.stream.close()).await;
}

impl<S: AsyncRead + AsyncWrite + Unpin + 'static> Conn<S> {
    /// Gives back memory a large chunked body or pipelined burst left in the buffer:
    /// idle keep-alive connections should cost little.
    fn trim_buffer(&mut self) {
        if self.buf.capacity() > 2 * READ_SIZE {
            self.buf.shrink_to(READ_SIZE);
        }
    }

    /// One request and its response.
    async fn exchange(&mut self) -> io::Result<Outcome> {
        // Until its head is in, the connection may be closed for a newcomer at the cap.
        let idle = Rc::clone(&self.ctx.idle);
        let waiting = if self.served {
            Waiting::Served
        } else {
            Waiting::Fresh
        };
        let head = idle
            .enter(waiting)
            .wait(async {
                if !self.wait_for_request().await? {
                    return Ok(None);
                }
                self.read_head().await.map(Some)
            })
            .await;
        let head = match head {
            None | Some(Ok(None)) => return Ok(Outcome::Close),
            Some(Err(e)) => return Err(e),
            Some(Ok(Some(Ok(head)))) => head,
            Some(Ok(Some(Err(e)))) => return self.reject(e).await,
        };
        let keep_alive = head.minor_version >= 1 && !head.headers.has_token("connection", "close");
        let body = match self.read_body(&head).await? {
            Ok(body) => body,
            Err(e) => return self.reject(e).await,
        };
        let is_head = head.method == Method::Head;
        let request = Request {
            method: head.method,
            path: head.path,
            query: head.query,
            headers: head.headers,
            body,
            identity: self.identity.clone(),
            peer: self.peer,
        };
        let Some(in_flight) = Slot::try_take(&self.ctx.in_flight, self.ctx.limits.max_in_flight)
        else {
            let close = !keep_alive || self.ctx.shutdown.is_fired();
            return self.respond(too_many_requests(), is_head, close).await;
        };
        let handler = self.ctx.handler.clone();
        let response = handler.handle(request).await;
        let close = !keep_alive || self.ctx.shutdown.is_fired();
        if matches!(response.body, Body::Stream(_) | Body::Upgrade(_)) {
            drop(in_flight);
            return self.respond(response, is_head, close).await;
        }
        let outcome = self.respond(response, is_head, close).await;
        drop(in_flight);
        outcome
    }

    /// Waits for the first byte of the next request; false on idle timeout, end of
    /// stream or shutdown (an idle connection is simply closed then). Before the first
    /// request only the header timeout applies (as Go's ReadHeaderTimeout upstream), so
    /// clients that handshake and stay silent cannot hold connection slots for the
    /// whole idle timeout.
    async fn wait_for_request(&mut self) -> io::Result<bool> {
        if !self.buf.is_empty() {
            return Ok(true);
        }
        let wait = if self.served {
            self.ctx.limits.idle_timeout
        } else {
            self.ctx.limits.header_timeout
        };
        let deadline = Instant::now() + wait;
        let shutdown = self.ctx.shutdown.clone();
        let read = async {
            fill(&mut self.stream, &mut self.buf, deadline)
                .await
                .map(|n| n > 0)
        };
        let stop = async {
            shutdown.wait().await;
            Ok(false)
        };
        match or(read, stop).await {
            Err(e) if e.kind() == io::ErrorKind::TimedOut => Ok(false),
            other => other,
        }
    }

    async fn read_head(&mut self) -> io::Result<Result<RequestHead, HeadError>> {
        let limits = &self.ctx.limits;
        let deadline = Instant::now() + limits.header_timeout;
        let mut scanned = 0;
        loop {
            if let Some(end) = find_head_end(&self.buf, scanned) {
                if end > limits.max_head_bytes {
                    return Ok(Err(HeadError::too_large_head()));
                }
                let parsed =
                    parse_head(&self.buf[..end], limits.max_headers, limits.max_body_bytes);
                self.buf.drain(..end);
                return Ok(parsed);
            }
            if self.buf.len() >= limits.max_head_bytes {
                return Ok(Err(HeadError::too_large_head()));
            }
            scanned = self.buf.len();
            if fill(&mut self.stream, &mut self.buf, deadline).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    async fn read_body(&mut self, head: &RequestHead) -> io::Result<Result<Vec<u8>, HeadError>> {
        if head.framing == BodyFraming::None {
            return Ok(Ok(Vec::new()));
        }
        if head.minor_version >= 1
            && head.headers.has_token("expect", "100-continue")
            && self.buf.is_empty()
        {
            self.write(CONTINUE).await?;
        }
        let deadline = Instant::now() + self.ctx.limits.body_timeout;
        match head.framing {
            BodyFraming::Length(n) => self.read_exact_body(n, deadline).await.map(Ok),
            _ => self.read_chunked(deadline).await,
        }
    }

    /// Reads a Content-Length body straight into its own buffer, so the connection buffer
    /// never grows to the body's size.
    async fn read_exact_body(&mut self, n: usize, deadline: Instant) -> io::Result<Vec<u8>> {
        let buffered = n.min(self.buf.len());
        let mut body = Vec::with_capacity(n);
        body.extend(self.buf.drain(..buffered));
        body.resize(n, 0);
        let mut have = buffered;
        while have < n {
            let read = with_deadline(deadline, self.stream.read(&mut body[have..])).await?;
            if read == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            have += read;
        }
        Ok(body)
    }

    async fn read_chunked(&mut self, deadline: Instant) -> io::Result<Result<Vec<u8>, HeadError>> {
        let mut decoder = ChunkedDecoder::new();
        let mut body = Vec::new();
        loop {
            match decoder.decode(&self.buf, &mut body, self.ctx.limits.max_body_bytes) {
                Ok(progress) => {
                    self.buf.drain(..progress.consumed);
                    if progress.done {
                        return Ok(Ok(body));
                    }
                }
                Err(ChunkedError::TooLarge) => return Ok(Err(too_large())),
                Err(ChunkedError::Malformed) => return Ok(Err(bad_chunked())),
            }
            if fill(&mut self.stream, &mut self.buf, deadline).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
        }
    }

    /// Answers a request the server refused itself, then closes: after a framing error
    /// the rest of the input cannot be trusted.
    async fn reject(&mut self, e: HeadError) -> io::Result<Outcome> {
        let body = status_json(e.status, e.reason, &e.message);
        let mut bytes = encode_head(e.status, &json_type(), Framing::Length(body.len()), true);
        bytes.extend_from_slice(&body);
        self.write(&bytes).await?;
        self.linger().await;
        Ok(Outcome::Close)
    }

    /// Reads and discards what the client is still sending (bounded in bytes and time)
    /// before closing, so the kernel does not answer unread input with a reset that would
    /// destroy the rejection the client has not read yet.
    async fn linger(&mut self) {
        const MAX_DISCARD: usize = 256 * 1024;
        let deadline = Instant::now() + std::time::Duration::from_millis(500);
        let mut discarded = 0;
        while discarded < MAX_DISCARD {
            self.buf.clear();
            match fill(&mut self.stream, &mut self.buf, deadline).await {
                Ok(n) if n > 0 => discarded += n,
                _ => break,
            }
        }
        self.buf.clear();
    }

    async fn respond(
        &mut self,
        response: Response,
        is_head: bool,
        close: bool,
    ) -> io::Result<Outcome> {
        let streaming = matches!(response.body, Body::Stream(_) | Body::Upgrade(_));
        let slot = if streaming {
            Slot::try_take(&self.ctx.streams, self.ctx.limits.max_streams)
        } else {
            None
        };
        let (response, slot) = match slot {
            None if streaming => (too_many_streams(), None),
            slot => (response, slot),
        };
        let Response {
            status,
            headers,
            body,
        } = response;
        match body {
            Body::Shared(bytes) => {
                self.respond_full(status, &headers, &bytes, is_head, close)
                    .await
            }
            Body::Full(bytes) => {
                self.respond_full(status, &headers, &bytes, is_head, close)
                    .await
            }
            Body::Stream(rx) => {
                if is_head {
                    self.write(&encode_head(status, &headers, Framing::NoBody, close))
                        .await?;
                    return Ok(if close {
                        Outcome::Close
                    } else {
                        Outcome::KeepAlive
                    });
                }
                self.write(&encode_head(status, &headers, Framing::Chunked, close))
                    .await?;
                let end = self.pump(rx).await?;
                drop(slot);
                match end {
                    StreamEnd::ClientGone => Ok(Outcome::Close),
                    StreamEnd::Finished => {
                        self.write(LAST_CHUNK).await?;
                        let close = close || self.ctx.shutdown.is_fired();
                        Ok(if close {
                            Outcome::Close
                        } else {
                            Outcome::KeepAlive
                        })
                    }
                }
            }
            Body::Upgrade(run) => {
                self.write(&encode_head(status, &headers, Framing::NoBody, false))
                    .await?;
                let slot = slot.ok_or(io::ErrorKind::Other)?;
                Ok(Outcome::Upgrade(run, slot))
            }
        }
    }

    async fn respond_full(
        &mut self,
        status: u16,
        headers: &[(String, String)],
        bytes: &[u8],
        is_head: bool,
        close: bool,
    ) -> io::Result<Outcome> {
        let framing = if status_has_no_body(status) {
            Framing::NoBody
        } else {
            Framing::Length(bytes.len())
        };
        let head = encode_head(status, headers, framing, close);
        let send_body = !is_head && framing != Framing::NoBody;
        let body: &[u8] = if send_body { bytes } else { &[] };
        self.write_parts(&head, body).await?;
        Ok(if close {
            Outcome::Close
        } else {
            Outcome::KeepAlive
        })
    }

    /// Copies chunks to the client until the handler drops its sender, the client
    /// disconnects (detected by reading while waiting for the next chunk), or shutdown.
    async fn pump(&mut self, mut rx: ChunkStream) -> io::Result<StreamEnd> {
        enum Event {
            Chunk(Option<Vec<u8>>),
            Peer(io::Result<usize>),
            Shutdown,
        }
        let shutdown = self.ctx.shutdown.clone();
        loop {
            let event = {
                let chunk = async { Event::Chunk(rx.next().await) };
                let stop = async {
                    shutdown.wait().await;
                    Event::Shutdown
                };
                let stream = &mut self.stream;
                let buf = &mut self.buf;
                let peer = async {
                    let mut scratch = [0u8; 512];
                    let n = stream.read(&mut scratch).await;
                    if let Ok(n) = n {
                        buf.extend_from_slice(&scratch[..n]);
                    }
                    Event::Peer(n)
                };
                or(chunk, or(stop, peer)).await
            };
            match event {
                Event::Chunk(Some(data)) if data.is_empty() => continue,
                Event::Chunk(Some(data)) => self.write(&chunk_frame(&data)).await?,
                Event::Chunk(None) | Event::Shutdown => return Ok(StreamEnd::Finished),
                Event::Peer(Ok(0)) | Event::Peer(Err(_)) => return Ok(StreamEnd::ClientGone),
                // Pipelined bytes are kept for the next request, within the head limit.
                Event::Peer(Ok(_)) if self.buf.len() > self.ctx.limits.max_head_bytes => {
                    return Ok(StreamEnd::ClientGone);
                }
                Event::Peer(Ok(_)) => {}
            }
        }
    }

    /// Writes and flushes `bytes` within the write timeout.
    async fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.write_parts(bytes, &[]).await
    }

    /// Writes `head` then `body` (not copied together: list bodies can be megabytes) and
    /// flushes, all within the write timeout.
    async fn write_parts(&mut self, head: &[u8], body: &[u8]) -> io::Result<()> {
        let deadline = Instant::now() + self.ctx.limits.write_timeout;
        let stream = &mut self.stream;
        with_deadline(deadline, async {
            stream.write_all(head).await?;
            stream.write_all(body).await?;
            stream.flush().await
        })
        .await
    }
}

/// How much one read asks for: a TLS record's worth.
const READ_SIZE: usize = 16 * 1024;

/// Reads once into the spare end of `buf`; `Ok(0)` is end of stream.
async fn fill<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut Vec<u8>,
    deadline: Instant,
) -> io::Result<usize> {
    let old = buf.len();
    buf.resize(old + READ_SIZE, 0);
    let result = with_deadline(deadline, stream.read(&mut buf[old..])).await;
    buf.truncate(old + *result.as_ref().unwrap_or(&0));
    result
}

/// Runs `fut`, failing with `TimedOut` at `deadline`.
pub(crate) async fn with_deadline<T>(
    deadline: Instant,
    fut: impl Future<Output = io::Result<T>>,
) -> io::Result<T> {
    or(fut, async {
        Timer::at(deadline).await;
        Err(io::ErrorKind::TimedOut.into())
    })
    .await
}

fn json_type() -> Vec<(String, String)> {
    vec![("Content-Type".to_string(), "application/json".to_string())]
}

fn too_large() -> HeadError {
    HeadError {
        status: 413,
        reason: "RequestEntityTooLarge",
        message: "request entity too large".into(),
    }
}

fn bad_chunked() -> HeadError {
    HeadError {
        status: 400,
        reason: "BadRequest",
        message: "malformed chunked request body".into(),
    }
}

fn too_many_streams() -> Response {
    retry_later("too many concurrent streaming requests, please try again later")
}

fn too_many_requests() -> Response {
    // Upstream's max-in-flight filter answers with this message.
    retry_later("Too many requests, please try again later.")
}

fn retry_later(message: &str) -> Response {
    let mut response = Response::status_error(429, "TooManyRequests", message);
    response
        .headers
        .push(("Retry-After".to_string(), "1".to_string()));
    response
}
