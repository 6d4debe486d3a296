//! The DNS server: one UDP socket and one TCP listener on the same address, served on the
//! caller's single-threaded executor. Cluster names are answered inline; forwarded names run
//! as tasks of a local executor (bounded in number) so a slow upstream blocks nobody.

use std::cell::{Cell, RefCell};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::{Async, Timer};
use futures_lite::{AsyncWriteExt, future};

use super::answer::{Forward, Outcome, Transport, answer};
use super::cache::ReplyCache;
use super::error::DnsError;
use super::records::ClusterRecords;
use super::relay;
use super::upstream::{Upstreams, read_framed};

/// Forwarded queries in flight at once; more are dropped (the client retries).
const MAX_IN_FLIGHT: usize = 256;
/// Open TCP connections at once; more are closed at accept.
const MAX_TCP_CONNECTIONS: usize = 64;
/// A TCP client idle this long is disconnected (RFC 7766 suggests seconds).
const TCP_IDLE: Duration = Duration::from_secs(10);
const CACHE_ENTRIES: usize = 1024;

pub struct DnsServer {
    udp: Async<UdpSocket>,
    tcp: Async<TcpListener>,
}

/// State shared by the tasks of one `run`.
struct Shared {
    records: Rc<RefCell<ClusterRecords>>,
    upstreams: Upstreams,
    cache: RefCell<ReplyCache>,
    in_flight: Cell<usize>,
    connections: Cell<usize>,
}

impl DnsServer {
    /// Binds UDP and TCP on `addr` (port 0: one free port for both).
    pub fn bind(addr: SocketAddr) -> Result<DnsServer, DnsError> {
        let udp = Async::<UdpSocket>::bind(addr).map_err(|e| DnsError::Bind(addr, e))?;
        let bound = udp
            .get_ref()
            .local_addr()
            .map_err(|e| DnsError::Bind(addr, e))?;
        let tcp = Async::<TcpListener>::bind(bound).map_err(|e| DnsError::Bind(bound, e))?;
        Ok(DnsServer { udp, tcp })
    }

    pub fn local_addr(&self) -> Result<SocketAddr, DnsError> {
        self.udp.get_ref().local_addr().map_err(DnsError::Socket)
    }

    /// Serves until a socket fails. `records` is read per query, so the agent's updates
    /// apply to the next one; `upstreams` minus our own address resolve the rest.
    pub async fn run(
        &self,
        records: Rc<RefCell<ClusterRecords>>,
        upstreams: Upstreams,
    ) -> DnsError {
        let upstreams = match self.local_addr() {
            Ok(own) => upstreams.without(own),
            Err(e) => return e,
        };
        let shared = Shared {
            records,
            upstreams,
            cache: RefCell::new(ReplyCache::new(CACHE_ENTRIES)),
            in_flight: Cell::new(0),
            connections: Cell::new(0),
        };
        let tasks = LocalExecutor::new();
        tasks
            .run(future::or(
                self.serve_udp(&tasks, &shared),
                self.serve_tcp(&tasks, &shared),
            ))
            .await
    }

    async fn serve_udp<'a>(&'a self, tasks: &LocalExecutor<'a>, shared: &'a Shared) -> DnsError {
        let mut buf = vec![0u8; 65_535];
        loop {
            let (n, peer) = match self.udp.recv_from(&mut buf).await {
                Ok(got) => got,
                Err(e) => return DnsError::Socket(e),
            };
            let outcome = answer(&shared.records.borrow(), &buf[..n], Transport::Udp);
            match outcome {
                Outcome::Reply(reply) => {
                    let _ = self.udp.send_to(&reply, peer).await;
                }
                Outcome::Forward(forward) if shared.in_flight.get() < MAX_IN_FLIGHT => {
                    shared.in_flight.set(shared.in_flight.get() + 1);
                    tasks
                        .spawn(async move {
                            let reply = resolve(shared, &forward).await;
                            let _ = self.udp.send_to(&reply, peer).await;
                            shared.in_flight.set(shared.in_flight.get() - 1);
                        })
                        .detach();
                }
                Outcome::Forward(_) | Outcome::Ignore => {}
            }
        }
    }

    async fn serve_tcp<'a>(&'a self, tasks: &LocalExecutor<'a>, shared: &'a Shared) -> DnsError {
        loop {
            let stream = match self.tcp.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => return DnsError::Socket(e),
            };
            if shared.connections.get() >= MAX_TCP_CONNECTIONS {
                continue;
            }
            shared.connections.set(shared.connections.get() + 1);
            tasks
                .spawn(async move {
                    serve_connection(shared, stream).await;
                    shared.connections.set(shared.connections.get() - 1);
                })
                .detach();
        }
    }
}

/// Answers length-prefixed queries on one connection until EOF, error or idleness.
async fn serve_connection(shared: &Shared, mut stream: Async<TcpStream>) {
    loop {
        let idle = async {
            Timer::after(TCP_IDLE).await;
            Err(std::io::ErrorKind::TimedOut.into())
        };
        let Ok(query) = future::or(read_framed(&mut stream), idle).await else {
            return;
        };
        let outcome = answer(&shared.records.borrow(), &query, Transport::Tcp);
        let reply = match outcome {
            Outcome::Reply(reply) => reply,
            Outcome::Forward(forward) => resolve(shared, &forward).await,
            Outcome::Ignore => return,
        };
        let Ok(len) = u16::try_from(reply.len()) else {
            return;
        };
        let mut framed = len.to_be_bytes().to_vec();
        framed.extend_from_slice(&reply);
        if stream.write_all(&framed).await.is_err() {
            return;
        }
    }
}

/// The client's reply for a forwarded name: from the cache, else from an upstream (then
/// cached), else SERVFAIL (or REFUSED with no upstream at all).
async fn resolve(shared: &Shared, forward: &Forward) -> Vec<u8> {
    if let Some(reply) = cached(shared, forward) {
        return reply;
    }
    if shared.upstreams.servers.is_empty() {
        return relay::refused(forward);
    }
    let Ok(upstream) = shared.upstreams.exchange(forward).await else {
        return relay::server_failure(forward);
    };
    if let Some(ttl) = relay::cache_ttl(&upstream) {
        let key = forward.key.clone();
        shared
            .cache
            .borrow_mut()
            .insert(key, upstream.clone(), ttl, Instant::now());
    }
    relay::client_reply(forward, &upstream, 0).unwrap_or_else(|| relay::server_failure(forward))
}

fn cached(shared: &Shared, forward: &Forward) -> Option<Vec<u8>> {
    let cache = shared.cache.borrow();
    let (reply, age) = cache.get(&forward.key, Instant::now())?;
    relay::client_reply(forward, reply, age)
}
