//! The accept loop: TLS handshakes (bounded by the header timeout), the connection cap
//! (at which the oldest connection waiting on its client is closed for the newcomer), and
//! graceful shutdown. It runs its own `LocalExecutor` inside the returned future, so
//! the caller just awaits `serve` on its single-threaded executor; dropping the future
//! drops every connection.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::Timer;
use async_net::{TcpListener, TcpStream};
use futures_lite::future::or;
use futures_rustls::TlsAcceptor;

use super::connection::{ConnContext, Slot, serve_connection, with_deadline};
use super::idle::{IdleConnections, IdleTicket, Waiting};
use super::limits::Limits;
use super::response::Handler;
use super::shutdown::ShutdownSignal;
use super::tls::{ClientAuthenticator, ServerTls};

/// Serves HTTPS on `listener` until `shutdown` fires, then stops accepting, lets open
/// requests finish (idle keep-alive connections close at once) and returns once all
/// connections are gone or `limits.shutdown_grace` has passed.
pub async fn serve(
    listener: TcpListener,
    tls: ServerTls,
    handler: Rc<dyn Handler>,
    limits: Limits,
    shutdown: ShutdownSignal,
) {
    let executor = Rc::new(LocalExecutor::new());
    let ctx = Rc::new(ConnContext {
        handler,
        limits,
        streams: Rc::new(Cell::new(0)),
        in_flight: Rc::new(Cell::new(0)),
        shutdown,
        idle: IdleConnections::new(),
    });
    let acceptor = TlsAcceptor::from(tls.config);
    executor
        .run(accept_loop(
            executor.clone(),
            listener,
            acceptor,
            tls.clients,
            ctx,
        ))
        .await;
}

async fn accept_loop(
    executor: Rc<LocalExecutor<'static>>,
    listener: TcpListener,
    acceptor: TlsAcceptor,
    clients: Arc<ClientAuthenticator>,
    ctx: Rc<ConnContext>,
) {
    // Every connection task holds a sender; when all are dropped, `recv` fails: the
    // cheapest "all connections finished" signal on one thread.
    let (alive_tx, alive_rx) = async_channel::bounded::<()>(1);
    let open = Rc::new(Cell::new(0usize));
    loop {
        let accept = async { Some(listener.accept().await) };
        let stop = async {
            ctx.shutdown.wait().await;
            None
        };
        let Some(accepted) = or(stop, accept).await else {
            break;
        };
        let (tcp, peer) = match accepted {
            Ok(pair) => pair,
            Err(_) => {
                // Usually EMFILE: back off instead of spinning on a full descriptor table.
                Timer::after(Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match Slot::try_take(&open, ctx.limits.max_connections) {
            Some(slot) => slot,
            // At the cap: the oldest connection waiting on its client makes room.
            None if ctx.idle.evict_oldest() => {
                // Lets the closed connection's task end and give back its slot and
                // descriptor before the next accept.
                futures_lite::future::yield_now().await;
                Slot::take(&open)
            }
            None => {
                drop(tcp);
                continue;
            }
        };
        // Queued now, before its task runs: the next newcomer may close it already.
        let accepted = Accepted {
            tcp,
            peer,
            waiting: ctx.idle.enter(Waiting::Fresh),
            slot,
        };
        let task = handle_tcp(
            accepted,
            acceptor.clone(),
            clients.clone(),
            ctx.clone(),
            alive_tx.clone(),
        );
        executor.spawn(task).detach();
    }
    drop(listener);
    drop(alive_tx);
    let all_closed = async {
        let _ = alive_rx.recv().await;
    };
    let grace = async {
        Timer::after(ctx.limits.shutdown_grace).await;
    };
    or(all_closed, grace).await;
}

/// A connection just accepted, with its place among the waiting ones and its slot.
struct Accepted {
    tcp: TcpStream,
    peer: SocketAddr,
    waiting: IdleTicket,
    slot: Slot,
}

async fn handle_tcp(
    accepted: Accepted,
    acceptor: TlsAcceptor,
    clients: Arc<ClientAuthenticator>,
    ctx: Rc<ConnContext>,
    _alive: async_channel::Sender<()>,
) {
    let Accepted {
        tcp,
        peer,
        waiting,
        slot: _slot,
    } = accepted;
    let _ = tcp.set_nodelay(true);
    let deadline = Instant::now() + ctx.limits.header_timeout;
    let handshake = with_deadline(deadline, acceptor.accept(tcp));
    let Some(Ok(tls)) = waiting.wait(handshake).await else {
        return;
    };
    let identity = clients.identify(tls.get_ref().1.peer_certificates());
    serve_connection(tls, peer, identity, ctx).await;
}
