//! Errors of cluster DNS: binding its sockets, reading resolv.conf, talking to upstreams.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug)]
pub enum DnsError {
    Bind(SocketAddr, io::Error),
    ResolvConf(PathBuf, io::Error),
    Socket(io::Error),
    UpstreamTimeout(SocketAddr),
    Upstream(SocketAddr, io::Error),
    NoUpstreamReply,
}

impl fmt::Display for DnsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DnsError::Bind(addr, e) => write!(f, "binding dns server on {addr}: {e}"),
            DnsError::ResolvConf(path, e) => write!(f, "reading {}: {e}", path.display()),
            DnsError::Socket(e) => write!(f, "dns server socket: {e}"),
            DnsError::UpstreamTimeout(addr) => write!(f, "upstream {addr} did not answer in time"),
            DnsError::Upstream(addr, e) => write!(f, "upstream {addr}: {e}"),
            DnsError::NoUpstreamReply => write!(f, "no upstream resolver answered"),
        }
    }
}

impl std::error::Error for DnsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            DnsError::Bind(_, e)
            | DnsError::ResolvConf(_, e)
            | DnsError::Socket(e)
            | DnsError::Upstream(_, e) => Some(e),
            DnsError::UpstreamTimeout(_) | DnsError::NoUpstreamReply => None,
        }
    }
}
