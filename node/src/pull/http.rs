//! One HTTP/1.1 exchange over a fresh blocking connection (plain TCP or rustls): write the
//! request, parse the response head with httparse, and hand back the body as a reader
//! (framing in `body`). Connections are not reused (`Connection: close`): a pull makes a
//! handful of requests, each mostly a large body, so keep-alive would save little and cost
//! state.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};

use super::body::{self, Framing};
use super::url::Url;

const MAX_HEAD_BYTES: usize = 64 * 1024;

/// Why an exchange failed below HTTP semantics.
#[derive(Debug)]
pub enum TransportError {
    Connect { addr: String, source: io::Error },
    Tls { addr: String, detail: String },
    Io { addr: String, source: io::Error },
    Malformed { addr: String, detail: String },
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect { addr, source } => write!(f, "cannot connect to {addr}: {source}"),
            Self::Tls { addr, detail } => write!(f, "tls with {addr} failed: {detail}"),
            Self::Io { addr, source } => write!(f, "i/o with {addr} failed: {source}"),
            Self::Malformed { addr, detail } => {
                write!(f, "bad http response from {addr}: {detail}")
            }
        }
    }
}

/// A request to send; `tls` is used for https URLs.
pub struct Request<'a> {
    pub method: &'a str,
    pub url: &'a Url,
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
    pub tls: &'a Arc<ClientConfig>,
    pub timeout: Duration,
}

/// A response head and its body stream.
pub struct Response {
    pub status: u16,
    headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    /// A header by case-insensitive name (the first if repeated).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// Every value of a repeated header.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> {
        self.headers
            .iter()
            .filter(move |(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body's first `limit` bytes, for error messages and small documents.
    pub fn read_to_limit(&mut self, limit: u64) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        (&mut self.body).take(limit).read_to_end(&mut out)?;
        Ok(out)
    }
}

/// Sends `req` and reads the response head.
pub fn exchange(req: &Request<'_>) -> Result<Response, TransportError> {
    let addr = req.url.host_port();
    // Targets come from redirects and header values from token servers: neither may
    // smuggle a line break into the request.
    let bad = |text: &str| text.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0);
    if bad(&req.url.target)
        || req.url.target.contains(' ')
        || req.headers.iter().any(|(_, value)| bad(value))
    {
        return Err(TransportError::Malformed {
            addr,
            detail: "line break in request target or header".into(),
        });
    }
    let tcp = connect(req.url, req.timeout)?;
    let conn = if req.url.https {
        Conn::Tls(Box::new(handshake(req, tcp)?))
    } else {
        Conn::Plain(tcp)
    };
    let mut reader = BufReader::with_capacity(32 * 1024, conn);
    let io_err = |source| TransportError::Io {
        addr: addr.clone(),
        source,
    };
    reader
        .get_mut()
        .write_all(&request_bytes(req))
        .and_then(|()| reader.get_mut().flush())
        .map_err(io_err)?;
    let head = read_head(&mut reader, &addr)?;
    let framing = framing(req.method, &head);
    Ok(Response {
        status: head.status,
        headers: head.headers,
        body: Body { reader, framing },
    })
}

fn connect(url: &Url, timeout: Duration) -> Result<TcpStream, TransportError> {
    let addr = url.host_port();
    let fail = |source| TransportError::Connect {
        addr: addr.clone(),
        source,
    };
    let candidates = (url.bare_host(), url.port)
        .to_socket_addrs()
        .map_err(fail)?;
    let mut last = io::Error::new(io::ErrorKind::NotFound, "host has no address");
    for candidate in candidates {
        match TcpStream::connect_timeout(&candidate, timeout) {
            Ok(tcp) => {
                tcp.set_read_timeout(Some(timeout)).map_err(fail)?;
                tcp.set_write_timeout(Some(timeout)).map_err(fail)?;
                tcp.set_nodelay(true).map_err(fail)?;
                return Ok(tcp);
            }
            Err(e) => last = e,
        }
    }
    Err(fail(last))
}

type TlsStream = StreamOwned<ClientConnection, TcpStream>;

fn handshake(req: &Request<'_>, mut tcp: TcpStream) -> Result<TlsStream, TransportError> {
    let addr = req.url.host_port();
    let tls_err = |detail: String| TransportError::Tls {
        addr: addr.clone(),
        detail,
    };
    let name = ServerName::try_from(req.url.bare_host().to_owned())
        .map_err(|e| tls_err(format!("bad server name: {e}")))?;
    let mut conn =
        ClientConnection::new(Arc::clone(req.tls), name).map_err(|e| tls_err(e.to_string()))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut tcp)
            .map_err(|e| classify_tls_io(&addr, e))?;
    }
    Ok(StreamOwned::new(conn, tcp))
}

/// rustls reports protocol failures as `io::Error`s that wrap a `rustls::Error`.
fn classify_tls_io(addr: &str, e: io::Error) -> TransportError {
    let tls = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    match tls {
        Some(tls) => TransportError::Tls {
            addr: addr.to_owned(),
            detail: tls.to_string(),
        },
        None if e.kind() == io::ErrorKind::UnexpectedEof => TransportError::Tls {
            addr: addr.to_owned(),
            detail: "server closed the connection during the handshake".into(),
        },
        None => TransportError::Io {
            addr: addr.to_owned(),
            source: e,
        },
    }
}

fn request_bytes(req: &Request<'_>) -> Vec<u8> {
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: wisp\r\nConnection: close\r\n",
        req.method,
        req.url.target,
        req.url.authority()
    );
    for (name, value) in req.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !req.body.is_empty() || req.method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(req.body);
    bytes
}

struct Head {
    status: u16,
    headers: Vec<(String, String)>,
}

fn read_head(reader: &mut BufReader<Conn>, addr: &str) -> Result<Head, TransportError> {
    loop {
        let raw = read_head_bytes(reader, addr)?;
        let head = parse_head(&raw).map_err(|detail| TransportError::Malformed {
            addr: addr.to_owned(),
            detail,
        })?;
        // 1xx interim responses (100 Continue) precede the real one.
        if !(100..200).contains(&head.status) {
            return Ok(head);
        }
    }
}

fn read_head_bytes(reader: &mut BufReader<Conn>, addr: &str) -> Result<Vec<u8>, TransportError> {
    let mut head = Vec::new();
    loop {
        let buf = reader.fill_buf().map_err(|source| TransportError::Io {
            addr: addr.to_owned(),
            source,
        })?;
        if buf.is_empty() {
            return Err(TransportError::Malformed {
                addr: addr.to_owned(),
                detail: "connection closed before the response head".into(),
            });
        }
        let searched = head.len().saturating_sub(3);
        head.extend_from_slice(buf);
        let taken = buf.len();
        if let Some(end) = find_head_end(&head[searched..]) {
            let end = searched + end;
            reader.consume(taken - (head.len() - end));
            head.truncate(end);
            return Ok(head);
        }
        reader.consume(taken);
        if head.len() > MAX_HEAD_BYTES {
            return Err(TransportError::Malformed {
                addr: addr.to_owned(),
                detail: "response head too large".into(),
            });
        }
    }
}

/// Index just past the blank line that ends a head.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let mut slots = [httparse::EMPTY_HEADER; 96];
    let mut response = httparse::Response::new(&mut slots);
    match response.parse(raw) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Err("incomplete response head".into()),
        Err(e) => return Err(e.to_string()),
    }
    let status = response.code.ok_or("no status code")?;
    let headers = response
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).trim().to_owned();
            (h.name.to_owned(), value)
        })
        .collect();
    Ok(Head { status, headers })
}

fn framing(method: &str, head: &Head) -> Framing {
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    };
    if method == "HEAD" || head.status == 204 || head.status == 304 {
        return Framing::Length(0);
    }
    if header("transfer-encoding").is_some_and(|te| te.to_ascii_lowercase().contains("chunked")) {
        return Framing::Chunked {
            remaining: 0,
            done: false,
        };
    }
    match header("content-length").and_then(|len| len.parse().ok()) {
        Some(len) => Framing::Length(len),
        None => Framing::UntilClose,
    }
}

enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

/// A response body; a body cut short reads as an `UnexpectedEof` error, never as a clean end.
pub struct Body {
    reader: BufReader<Conn>,
    framing: Framing,
}

impl Body {
    /// The declared length, when the response has one.
    pub fn content_length(&self) -> Option<u64> {
        match self.framing {
            Framing::Length(len) => Some(len),
            _ => None,
        }
    }
}

impl Read for Body {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        body::read_framed(&mut self.reader, &mut self.framing, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_never_reach_the_wire() {
        let tls = crate::pull::tls::verified_config(&[]).unwrap();
        let smuggling = Url::parse("http://127.0.0.1:9/x\r\nX-Evil: 1").unwrap();
        let clean = Url::parse("http://127.0.0.1:9/x").unwrap();
        let cases: [(&Url, &[(&str, &str)]); 2] = [
            (&smuggling, &[]),
            (&clean, &[("Authorization", "Bearer t\r\nX-Evil: 1")]),
        ];
        for (url, headers) in cases {
            let req = Request {
                method: "GET",
                url,
                headers,
                body: b"",
                tls: &tls,
                timeout: Duration::from_secs(1),
            };
            let err = exchange(&req).err().expect("refused");
            assert!(matches!(err, TransportError::Malformed { .. }), "{err}");
        }
    }

    #[test]
    fn response_heads_parse() {
        let raw = b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"r\"\r\nContent-Length: 3\r\n\r\n";
        assert_eq!(find_head_end(raw), Some(raw.len()));
        let head = parse_head(raw).unwrap();
        assert_eq!(head.status, 401);
        assert!(matches!(framing("GET", &head), Framing::Length(3)));
        assert!(matches!(framing("HEAD", &head), Framing::Length(0)));
        assert!(parse_head(b"garbage\r\n\r\n").is_err());
    }
}
