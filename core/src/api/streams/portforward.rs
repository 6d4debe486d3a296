//! Port forwarding as kubectl 1.32 does it: a WebSocket with subprotocol
//! `SPDY/3.1+portforward.k8s.io` whose binary messages carry a SPDY/3.1 byte stream.
//! Per forwarded connection kubectl opens two SPDY streams with the same `requestid`
//! header: `streamtype: error` (half-closed by kubectl at once) and `streamtype: data`,
//! both with `port`. Every stream gets a SYN_REPLY; once a pair is complete the node
//! dials the port and bytes are piped both ways; a failure is written as text on the
//! error stream (kubelet's message), and both streams are then finished (FIN). PINGs
//! are echoed. SPDY flow control is not used by spdystream, so WINDOW_UPDATE and
//! SETTINGS are ignored.

use std::collections::HashMap;
use std::rc::Rc;

use async_executor::LocalExecutor;
use futures_lite::future::or;

use super::node::{PodRef, PodStreams};
use super::spdy::frame::{self, FLAG_FIN, Frame, RST_CANCEL, RST_PROTOCOL_ERROR};
use super::spdy::headers::{HeaderDecoder, HeaderEncoder, Headers};
use super::websocket::{WsReader, WsWriter, split};
use crate::http::UpgradedStream;

pub const PROTOCOLS: &[&str] = &["SPDY/3.1+portforward.k8s.io"];

/// Pod-bound data is chunked to this (kubectl's own copy buffer).
const DATA_CHUNK: usize = 32 * 1024;
/// Streams one connection may hold open; past it new streams are refused.
const MAX_STREAMS: usize = 256;

type Out = async_channel::Sender<Frame>;

/// Serves one port-forward connection until the client leaves or sends GOAWAY.
pub async fn serve(
    stream: UpgradedStream,
    node: Rc<dyn PodStreams>,
    pod: PodRef,
    _ports: Vec<u16>,
) {
    let (reader, writer) = split(stream);
    let executor = Rc::new(LocalExecutor::new());
    let (out_tx, out_rx) = async_channel::bounded(64);
    let session = Session {
        node,
        pod,
        out: out_tx,
        executor: executor.clone(),
        streams: HashMap::new(),
        pairs: HashMap::new(),
        headers: HeaderDecoder::default(),
        last_id: 0,
    };
    let mut frames = FrameWriter {
        ws: writer,
        headers: HeaderEncoder::default(),
    };
    let run = async {
        let reading = async { Some(session.read_frames(reader).await) };
        let writing = async {
            frames.run(&out_rx).await;
            None
        };
        if or(reading, writing).await == Some(End::GoAway) {
            // Send what is queued (the GOAWAY last), then close; bounded by the
            // writer's own timeout.
            while let Ok(frame) = out_rx.try_recv() {
                if frames.send(frame).await.is_err() {
                    return;
                }
            }
            let _ = frames.ws.close().await;
        }
    };
    executor.run(run).await;
}

/// How the client side of a session ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    /// The client left (or sent GOAWAY itself): nothing more to say.
    ClientGone,
    /// This side sent GOAWAY: flush it before closing.
    GoAway,
}

/// Encodes frames for the client, one WebSocket message each.
struct FrameWriter {
    ws: WsWriter,
    headers: HeaderEncoder,
}

impl FrameWriter {
    /// Writes queued frames and answers WebSocket pings until the queue or the client
    /// is gone.
    async fn run(&mut self, frames: &async_channel::Receiver<Frame>) {
        loop {
            let next = async { Some(frames.recv().await) };
            let control = async {
                self.ws.control_pending().await;
                None
            };
            let result = match or(next, control).await {
                None => self.ws.flush().await,
                Some(Err(_)) => return,
                Some(Ok(frame)) => self.send(frame).await,
            };
            if result.is_err() {
                return;
            }
        }
    }

    /// SYN_REPLY header blocks are encoded here, in sending order, because the header
    /// compression stream is one per direction.
    async fn send(&mut self, frame: Frame) -> std::io::Result<()> {
        let frame = match frame {
            Frame::SynReply {
                stream_id, flags, ..
            } => Frame::SynReply {
                stream_id,
                flags,
                header_block: self.headers.encode(&[]),
            },
            other => other,
        };
        let mut bytes = Vec::new();
        frame::encode(&frame, &mut bytes);
        self.ws.send(bytes).await
    }
}

/// A client stream: where its DATA goes (until the client's FIN).
struct ClientStream {
    to_node: Option<async_channel::Sender<Vec<u8>>>,
}

/// Half of a forwarded connection waiting for its partner.
#[derive(Default)]
struct Pair {
    data: Option<(u32, String, async_channel::Receiver<Vec<u8>>)>,
    error: Option<u32>,
}

struct Session {
    node: Rc<dyn PodStreams>,
    pod: PodRef,
    out: Out,
    executor: Rc<LocalExecutor<'static>>,
    streams: HashMap<u32, ClientStream>,
    pairs: HashMap<String, Pair>,
    headers: HeaderDecoder,
    last_id: u32,
}

impl Session {
    async fn read_frames(mut self, mut reader: WsReader) -> End {
        let mut buf = Vec::new();
        while let Some(message) = reader.next().await {
            buf.extend_from_slice(&message);
            loop {
                match frame::decode(&buf) {
                    Ok(Some((frame, used))) => {
                        buf.drain(..used);
                        if let Some(end) = self.on_frame(frame).await {
                            return end;
                        }
                    }
                    Ok(None) => break,
                    Err(_) => return self.go_away().await,
                }
            }
        }
        End::ClientGone
    }

    /// Refuses the rest of the connection (protocol error), as spdystream does.
    async fn go_away(&self) -> End {
        let _ = self.out.send(go_away(self.last_id, 1)).await;
        End::GoAway
    }

    /// Handles one client frame; Some ends the session.
    async fn on_frame(&mut self, frame: Frame) -> Option<End> {
        match frame {
            Frame::SynStream {
                stream_id,
                flags,
                header_block,
                ..
            } => {
                let Ok(headers) = self.headers.decode(&header_block) else {
                    // The header zlib stream is out of step: nothing after can be read.
                    return Some(self.go_away().await);
                };
                self.open(stream_id, flags, &headers).await;
            }
            Frame::Data {
                stream_id,
                flags,
                data,
            } => self.data(stream_id, flags, data).await,
            Frame::RstStream { stream_id, .. } => {
                self.streams.remove(&stream_id);
            }
            Frame::Ping { id } => {
                let _ = self.out.send(Frame::Ping { id }).await;
            }
            Frame::GoAway { .. } => return Some(End::ClientGone),
            _ => {}
        }
        None
    }

    /// A new client stream: checked, answered with SYN_REPLY, then paired.
    async fn open(&mut self, id: u32, flags: u8, headers: &Headers) {
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map_or("", |(_, v)| v.as_str())
        };
        // Client streams are odd and increasing (SPDY/3 section 2.3.2).
        if id.is_multiple_of(2) || id <= self.last_id {
            let _ = self.out.send(reset(id, RST_PROTOCOL_ERROR)).await;
            return;
        }
        self.last_id = id;
        let (kind, port, request) = (header("streamtype"), header("port"), header("requestid"));
        let full = self.streams.len() >= MAX_STREAMS || self.pairs.len() >= MAX_STREAMS;
        if !matches!(kind, "data" | "error") || port.is_empty() || full {
            // As kubelet's stream handler refuses a stream it cannot use.
            let _ = self.out.send(reset(id, RST_CANCEL)).await;
            return;
        }
        let (tx, rx) = async_channel::bounded(16);
        if flags & FLAG_FIN == 0 {
            self.streams.insert(id, ClientStream { to_node: Some(tx) });
        }
        let reply = Frame::SynReply {
            stream_id: id,
            flags: 0,
            header_block: Vec::new(),
        };
        let _ = self.out.send(reply).await;
        // Without requestid (very old clients) a pair is the stream and the one before.
        let key = match (request, kind) {
            ("", "error") => id.to_string(),
            ("", _) => id.saturating_sub(2).to_string(),
            (request, _) => request.to_owned(),
        };
        let pair = self.pairs.entry(key.clone()).or_default();
        if kind == "data" {
            pair.data = Some((id, port.to_owned(), rx));
        } else {
            pair.error = Some(id);
        }
        self.start_if_paired(&key);
    }

    /// Starts forwarding once both streams of `key` are open.
    fn start_if_paired(&mut self, key: &str) {
        let complete = self
            .pairs
            .get(key)
            .is_some_and(|p| p.data.is_some() && p.error.is_some());
        if !complete {
            return;
        }
        let Some(Pair {
            data: Some((data_id, port, from_client)),
            error: Some(error_id),
        }) = self.pairs.remove(key)
        else {
            return;
        };
        let forward = Forward {
            node: self.node.clone(),
            pod: self.pod.clone(),
            out: self.out.clone(),
            data_id,
            error_id,
        };
        self.executor.spawn(forward.run(port, from_client)).detach();
    }

    async fn data(&mut self, id: u32, flags: u8, data: Vec<u8>) {
        let Some(stream) = self.streams.get_mut(&id) else {
            return;
        };
        if let Some(tx) = &stream.to_node
            && !data.is_empty()
            && tx.send(data).await.is_err()
        {
            stream.to_node = None;
        }
        if flags & FLAG_FIN != 0 || stream.to_node.is_none() {
            // The client is done sending; dropping the sender tells the forwarder.
            self.streams.remove(&id);
        }
    }
}

/// One forwarded connection: dial, then copy both ways.
struct Forward {
    node: Rc<dyn PodStreams>,
    pod: PodRef,
    out: Out,
    data_id: u32,
    error_id: u32,
}

impl Forward {
    async fn run(self, port: String, from_client: async_channel::Receiver<Vec<u8>>) {
        let dialed = match port.parse::<u16>() {
            Ok(p) if p > 0 => self
                .node
                .port_forward(self.pod.clone(), p)
                .await
                .map_err(|e| e.to_string()),
            _ => Err(format!("invalid port {port:?}")),
        };
        match dialed {
            Ok(duplex) => {
                let to_pod = duplex.to_pod;
                let upload = async move {
                    while let Ok(chunk) = from_client.recv().await {
                        if to_pod.send(chunk).await.is_err() {
                            break;
                        }
                    }
                    // Dropping to_pod half-closes the pod connection.
                };
                let download = async {
                    while let Ok(chunk) = duplex.from_pod.recv().await {
                        for piece in chunk.chunks(DATA_CHUNK) {
                            if self
                                .out
                                .send(data(self.data_id, 0, piece.to_vec()))
                                .await
                                .is_err()
                            {
                                return;
                            }
                        }
                    }
                    // The pod closed its side: so does the data stream.
                    let _ = self
                        .out
                        .send(data(self.data_id, FLAG_FIN, Vec::new()))
                        .await;
                };
                futures_lite::future::zip(upload, download).await;
            }
            Err(why) => {
                let (ns, name, uid) = (&self.pod.namespace, &self.pod.pod, &self.pod.uid);
                let message =
                    format!("error forwarding port {port} to pod {name}_{ns}, uid {uid}: {why}");
                let _ = self
                    .out
                    .send(data(self.error_id, 0, message.into_bytes()))
                    .await;
                let _ = self
                    .out
                    .send(data(self.data_id, FLAG_FIN, Vec::new()))
                    .await;
            }
        }
        let _ = self
            .out
            .send(data(self.error_id, FLAG_FIN, Vec::new()))
            .await;
    }
}

fn data(stream_id: u32, flags: u8, data: Vec<u8>) -> Frame {
    Frame::Data {
        stream_id,
        flags,
        data,
    }
}

fn reset(stream_id: u32, status: u32) -> Frame {
    Frame::RstStream { stream_id, status }
}

fn go_away(last_good: u32, status: u32) -> Frame {
    Frame::GoAway { last_good, status }
}
