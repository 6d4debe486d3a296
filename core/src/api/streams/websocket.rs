//! WebSocket framing after the 101, on tungstenite's sans-I/O `WebSocketContext`: the
//! upgraded TLS stream is split so one task can wait for client frames while another
//! writes output, and the context (which both halves need: reading a ping queues a pong)
//! is shared behind a `RefCell` that is never held across an await. Every frame is
//! buffered in memory, so tungstenite never sees a blocked socket except as "no more
//! input yet".

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::time::Duration;

use async_io::Timer;
use futures_lite::future::or;
use futures_lite::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, Role, WebSocketConfig, WebSocketContext};

use crate::http::UpgradedStream;

/// Client messages and frames beyond this are a protocol error: stdin chunks and tunnelled
/// SPDY frames are far smaller, and a small board should not buffer more for one client.
const MAX_MESSAGE: usize = 1024 * 1024;
/// A write the client does not drain within this ends the session.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
const READ_CHUNK: usize = 16 * 1024;
/// A client silent this long is taken for gone (kubelet's default
/// streaming-connection-idle-timeout); kubectl pings every few seconds.
const IDLE_TIMEOUT: Duration = Duration::from_secs(4 * 60 * 60);

/// In-memory bytes between tungstenite and the socket.
#[derive(Default)]
struct Wire {
    input: Vec<u8>,
    read_pos: usize,
    output: Vec<u8>,
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let rest = &self.input[self.read_pos..];
        if rest.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.read_pos += n;
        if self.read_pos == self.input.len() {
            self.input.clear();
            self.read_pos = 0;
        }
        Ok(n)
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.output.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

struct Shared {
    ctx: WebSocketContext,
    wire: Wire,
}

type SharedRef = Rc<RefCell<Shared>>;

/// Splits an upgraded connection into a frame reader and a frame writer (server role).
/// `pending` wakes the writer when the reader queued a control frame (pong, close reply).
pub fn split(stream: UpgradedStream) -> (WsReader, WsWriter) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let shared = Rc::new(RefCell::new(Shared {
        ctx: WebSocketContext::new(Role::Server, Some(config)),
        wire: Wire::default(),
    }));
    let (read, write) = futures_lite::io::split(stream);
    let (kick_tx, kick_rx) = async_channel::bounded(1);
    let reader = WsReader {
        io: read,
        shared: shared.clone(),
        kick: kick_tx,
    };
    let writer = WsWriter {
        io: write,
        shared,
        kicked: kick_rx,
    };
    (reader, writer)
}

/// The receiving half: yields binary messages.
pub struct WsReader {
    io: ReadHalf<UpgradedStream>,
    shared: SharedRef,
    kick: async_channel::Sender<()>,
}

impl WsReader {
    /// The next binary (or text) message's payload; None once the client closed, the
    /// connection broke or the client broke the protocol.
    pub async fn next(&mut self) -> Option<Vec<u8>> {
        loop {
            let result = {
                let mut shared = self.shared.borrow_mut();
                let Shared { ctx, wire } = &mut *shared;
                let result = ctx.read(wire);
                if !wire.output.is_empty() {
                    let _ = self.kick.try_send(());
                }
                result
            };
            match result {
                Ok(Message::Binary(data)) => return Some(data.to_vec()),
                Ok(Message::Text(text)) => return Some(text.as_bytes().to_vec()),
                Ok(Message::Close(_)) => return None,
                Ok(_) => continue,
                Err(tungstenite::Error::Io(e)) if e.kind() == io::ErrorKind::WouldBlock => {
                    if !self.fill().await {
                        return None;
                    }
                }
                Err(_) => return None,
            }
        }
    }

    async fn fill(&mut self) -> bool {
        let mut chunk = vec![0u8; READ_CHUNK];
        let read = async { self.io.read(&mut chunk).await };
        let idle = async {
            Timer::after(IDLE_TIMEOUT).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        match or(read, idle).await {
            Ok(n) if n > 0 => {
                self.shared
                    .borrow_mut()
                    .wire
                    .input
                    .extend_from_slice(&chunk[..n]);
                true
            }
            _ => false,
        }
    }
}

/// The sending half.
pub struct WsWriter {
    io: WriteHalf<UpgradedStream>,
    shared: SharedRef,
    kicked: async_channel::Receiver<()>,
}

impl WsWriter {
    /// Sends one binary message.
    pub async fn send(&mut self, payload: Vec<u8>) -> io::Result<()> {
        self.queue(Message::Binary(payload.into()))?;
        self.flush().await
    }

    /// Resolves when the reader queued control frames; call [`WsWriter::flush`] then.
    /// Pending forever once the reader is gone.
    pub async fn control_pending(&self) {
        if self.kicked.recv().await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Sends a normal close (1000) and flushes.
    pub async fn close(&mut self) -> io::Result<()> {
        {
            let mut shared = self.shared.borrow_mut();
            let Shared { ctx, wire } = &mut *shared;
            let frame = CloseFrame {
                code: CloseCode::Normal,
                reason: "".into(),
            };
            // Already closed by the peer is fine: the reply is queued by the reader.
            let _ = ctx.close(wire, Some(frame));
        }
        self.flush().await?;
        self.io.close().await
    }

    fn queue(&mut self, message: Message) -> io::Result<()> {
        let mut shared = self.shared.borrow_mut();
        let Shared { ctx, wire } = &mut *shared;
        ctx.write(wire, message).map_err(io::Error::other)?;
        ctx.flush(wire).map_err(io::Error::other)
    }

    /// Writes everything queued (data and control frames) to the socket.
    pub async fn flush(&mut self) -> io::Result<()> {
        let bytes = std::mem::take(&mut self.shared.borrow_mut().wire.output);
        if bytes.is_empty() {
            return Ok(());
        }
        let io = &mut self.io;
        let write = async {
            io.write_all(&bytes).await?;
            io.flush().await
        };
        let timeout = async {
            Timer::after(WRITE_TIMEOUT).await;
            Err(io::ErrorKind::TimedOut.into())
        };
        or(write, timeout).await
    }
}
