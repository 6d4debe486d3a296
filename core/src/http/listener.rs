//! The listening socket, with a listen backlog sized for bursts of connects: the standard
//! library's 128 overflows when many clients connect while the one control-plane thread
//! is busy, and the kernel then drops SYNs, which costs each such client a 1 s retransmit.
//! The kernel caps the value at net.core.somaxconn.

use std::io;
use std::net::SocketAddr;

use rustix::net::{AddressFamily, SocketFlags, SocketType, bind, listen, socket_with, sockopt};

/// Pending connections the kernel queues before wisp accepts them.
pub const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking listener on `addr` with [`LISTEN_BACKLOG`] (SO_REUSEADDR set, as the
/// standard library does, so a restart can bind while old connections linger).
pub fn bind_listener(addr: SocketAddr) -> io::Result<async_net::TcpListener> {
    let family = if addr.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let socket = socket_with(family, SocketType::STREAM, SocketFlags::CLOEXEC, None)?;
    sockopt::set_socket_reuseaddr(&socket, true)?;
    bind(&socket, &addr)?;
    listen(&socket, LISTEN_BACKLOG)?;
    async_net::TcpListener::try_from(std::net::TcpListener::from(socket))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_a_loopback_port_that_accepts() {
        let listener = bind_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let (_served, peer) = futures_lite::future::block_on(listener.accept()).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
    }
}
