//! Upstream resolvers: the `nameserver` lines of a resolv.conf, and one exchange with them
//! over UDP (a fresh socket per query, so a random source port as well as a random id) that
//! falls back to TCP when the reply is truncated, each attempt bounded by a timeout.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use async_io::{Async, Timer};
use futures_lite::{AsyncReadExt, AsyncWriteExt, future};

use super::answer::Forward;
use super::error::DnsError;
use super::relay;

/// The host's resolver configuration, the default source of upstreams.
pub const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";

/// At most this many nameservers are used, as glibc's resolver (MAXNS).
const MAX_SERVERS: usize = 3;
const UDP_REPLY_MAX: usize = 4096;

/// Where to forward names outside the cluster, and how long to wait for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstreams {
    pub servers: Vec<SocketAddr>,
    /// Per attempt (one server, one transport).
    pub timeout: Duration,
}

impl Upstreams {
    pub fn new(servers: Vec<SocketAddr>) -> Upstreams {
        Upstreams {
            servers,
            timeout: Duration::from_secs(2),
        }
    }

    /// The nameservers of a resolv.conf (`/etc/resolv.conf` on the host by default).
    pub fn from_resolv_conf(path: &Path) -> Result<Upstreams, DnsError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| DnsError::ResolvConf(path.to_owned(), e))?;
        Ok(Upstreams::new(parse_resolv_conf(&text)))
    }

    /// Drops `own` (our listening address) so a host whose resolv.conf names cluster DNS
    /// does not make us forward to ourselves.
    pub fn without(mut self, own: SocketAddr) -> Upstreams {
        self.servers.retain(|s| *s != own);
        self
    }

    /// Resolves `forward` with the first server that answers; the reply's id is ours.
    pub async fn exchange(&self, forward: &Forward) -> Result<Vec<u8>, DnsError> {
        let mut last = DnsError::NoUpstreamReply;
        for server in &self.servers {
            match self.ask(*server, forward).await {
                Ok(reply) => return Ok(reply),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn ask(&self, server: SocketAddr, forward: &Forward) -> Result<Vec<u8>, DnsError> {
        let id = random_id();
        let query = relay::upstream_query(forward, id).ok_or(DnsError::NoUpstreamReply)?;
        let udp = within(self.timeout, server, over_udp(server, &query, forward, id)).await?;
        if !truncated(&udp) {
            return Ok(udp);
        }
        within(self.timeout, server, over_tcp(server, &query, forward, id)).await
    }
}

/// `nameserver` addresses in file order, port 53, at most three; IPv6 zone ids are skipped.
pub fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            (words.next()? == "nameserver")
                .then(|| words.next())
                .flatten()
        })
        .filter_map(|word| word.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 53))
        .take(MAX_SERVERS)
        .collect()
}

async fn within<T>(
    limit: Duration,
    server: SocketAddr,
    work: impl Future<Output = Result<T, DnsError>>,
) -> Result<T, DnsError> {
    let expire = async {
        Timer::after(limit).await;
        Err(DnsError::UpstreamTimeout(server))
    };
    future::or(work, expire).await
}

async fn over_udp(
    server: SocketAddr,
    query: &[u8],
    forward: &Forward,
    id: u16,
) -> Result<Vec<u8>, DnsError> {
    let fail = |e| DnsError::Upstream(server, e);
    let local = match server {
        SocketAddr::V4(_) => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0),
        SocketAddr::V6(_) => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), 0),
    };
    let socket = Async::<UdpSocket>::bind(local).map_err(fail)?;
    socket.get_ref().connect(server).map_err(fail)?;
    socket.send(query).await.map_err(fail)?;
    let mut buf = vec![0u8; UDP_REPLY_MAX];
    loop {
        let n = socket.recv(&mut buf).await.map_err(fail)?;
        if relay::matches(forward, id, &buf[..n]) {
            buf.truncate(n);
            return Ok(buf);
        }
    }
}

async fn over_tcp(
    server: SocketAddr,
    query: &[u8],
    forward: &Forward,
    id: u16,
) -> Result<Vec<u8>, DnsError> {
    let fail = |e| DnsError::Upstream(server, e);
    let mut stream = Async::<TcpStream>::connect(server).await.map_err(fail)?;
    let len = u16::try_from(query.len()).map_err(|_| fail(io::ErrorKind::InvalidInput.into()))?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(query);
    stream.write_all(&framed).await.map_err(fail)?;
    let reply = read_framed(&mut stream).await.map_err(fail)?;
    if relay::matches(forward, id, &reply) {
        Ok(reply)
    } else {
        Err(fail(io::Error::new(
            io::ErrorKind::InvalidData,
            "reply does not match the query",
        )))
    }
}

/// One length-prefixed DNS message from a TCP stream (RFC 1035 4.2.2).
pub async fn read_framed(stream: &mut Async<TcpStream>) -> io::Result<Vec<u8>> {
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).await?;
    let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut message).await?;
    Ok(message)
}

fn truncated(reply: &[u8]) -> bool {
    reply.get(2).is_some_and(|flags| flags & 0x02 != 0)
}

/// A query id nobody off the path can guess (RFC 5452).
fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    let rng = ring::rand::SystemRandom::new();
    if ring::rand::SecureRandom::fill(&rng, &mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        return u16::try_from(nanos.subsec_nanos() & 0xFFFF).unwrap_or(0);
    }
    u16::from_be_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf_gives_nameservers_in_order_on_port_53() {
        let text = "# comment\nsearch example.org\nnameserver 192.0.2.1\nnameserver  2001:db8::1 \n\
                    nameserver fe80::1%eth0\nnameserver 192.0.2.2\nnameserver 192.0.2.3\noptions ndots:5\n";
        let servers = parse_resolv_conf(text);
        let expected: Vec<SocketAddr> = ["192.0.2.1:53", "[2001:db8::1]:53", "192.0.2.2:53"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(servers, expected);
    }

    #[test]
    fn our_own_address_is_never_an_upstream() {
        let own: SocketAddr = "10.43.0.10:53".parse().unwrap();
        let upstreams = Upstreams::new(vec![own, "192.0.2.1:53".parse().unwrap()]).without(own);
        assert_eq!(
            upstreams.servers,
            vec!["192.0.2.1:53".parse::<SocketAddr>().unwrap()]
        );
    }

    #[test]
    fn truncation_is_read_from_the_tc_bit() {
        assert!(truncated(&[0, 0, 0x82, 0]));
        assert!(!truncated(&[0, 0, 0x81, 0x80]));
        assert!(!truncated(&[0]));
    }
}
