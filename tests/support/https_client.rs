//! A small blocking HTTPS/1.1 client for the benchmarks: rustls (ring) with wisp's CA and
//! the admin client certificate, keep-alive, Content-Length and chunked bodies, and a
//! chunk reader for watch streams. Not a general client: it knows what wisp answers.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// TLS settings shared by every connection of a run.
pub fn tls_config(pki: &Path) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.join("ca.crt")).expect("ca.crt") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a usable CA");
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.join("admin.crt"))
        .expect("admin.crt")
        .map(|c| c.expect("an admin certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.join("admin.key")).expect("admin.key");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .expect("client certificate");
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// One keep-alive connection.
pub struct Connection {
    stream: BufReader<StreamOwned<ClientConnection, TcpStream>>,
}

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Response {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

impl Connection {
    pub fn open(config: &Arc<ClientConfig>, port: u16) -> Connection {
        let tcp = TcpStream::connect(("127.0.0.1", port)).expect("connect to wisp");
        tcp.set_nodelay(true).expect("nodelay");
        let name = ServerName::try_from("127.0.0.1").expect("server name");
        let tls = ClientConnection::new(config.clone(), name).expect("TLS client");
        Connection {
            stream: BufReader::new(StreamOwned::new(tls, tcp)),
        }
    }

    /// Sends one request and reads the whole response.
    pub fn request(
        &mut self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
    ) -> Response {
        self.send(method, path, content_type, body);
        let (status, chunked, length) = self.read_head();
        let body = if chunked {
            let mut body = Vec::new();
            while let Some(chunk) = self.read_chunk() {
                body.extend_from_slice(&chunk);
            }
            body
        } else {
            let mut body = vec![0; length];
            self.stream.read_exact(&mut body).expect("response body");
            body
        };
        Response { status, body }
    }

    pub fn get(&mut self, path: &str) -> Response {
        self.request("GET", path, "", b"")
    }

    /// Starts a watch (or any streamed response): sends the request and reads the head.
    pub fn start_stream(&mut self, path: &str) -> u16 {
        self.send("GET", path, "", b"");
        let (status, chunked, _) = self.read_head();
        assert!(chunked || status != 200, "a 200 stream is chunked");
        status
    }

    /// The next chunk of a chunked body; None at its end.
    pub fn read_chunk(&mut self) -> Option<Vec<u8>> {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("chunk size");
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
            .unwrap_or_else(|_| panic!("bad chunk size line {line:?}"));
        let mut chunk = vec![0; size + 2];
        self.stream.read_exact(&mut chunk).expect("chunk");
        chunk.truncate(size);
        (size > 0).then_some(chunk)
    }

    fn send(&mut self, method: &str, path: &str, content_type: &str, body: &[u8]) {
        let mut head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if !content_type.is_empty() {
            head.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        head.push_str("\r\n");
        let stream = self.stream.get_mut();
        stream.write_all(head.as_bytes()).expect("request head");
        stream.write_all(body).expect("request body");
        stream.flush().expect("flush");
    }

    /// Status, chunked or not, Content-Length.
    fn read_head(&mut self) -> (u16, bool, usize) {
        let mut line = String::new();
        self.stream.read_line(&mut line).expect("status line");
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let (mut chunked, mut length) = (false, 0);
        loop {
            line.clear();
            self.stream.read_line(&mut line).expect("header line");
            let header = line.trim_end();
            if header.is_empty() {
                return (status, chunked, length);
            }
            let (name, value) = header.split_once(':').expect("a header");
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = value.parse().expect("Content-Length");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = value.eq_ignore_ascii_case("chunked");
            }
        }
    }
}
