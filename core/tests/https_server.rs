//! End-to-end tests of the HTTPS server: a real server on 127.0.0.1:0 in a LocalExecutor on
//! its own thread, with the PKI this crate generates, driven by a blocking rustls client
//! (and curl, when installed). No mocks.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;
use async_io::Timer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use wisp_core::http::{self, Limits, Request, Response, ShutdownTrigger};
use wisp_core::pki;

struct Server {
    addr: SocketAddr,
    dir: PathBuf,
    slot: Arc<http::CertSlot>,
    trigger: Option<ShutdownTrigger>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set by the streaming handler when its send failed (the client went away).
    producer_stopped: Arc<AtomicBool>,
    /// Releases the second chunk of /stream.
    go: async_channel::Sender<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(t) = self.trigger.take() {
            t.fire();
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn describe(req: &Request) -> String {
    let (user, groups) = match &req.identity {
        Some(id) => (id.user.clone(), id.groups.join(",")),
        None => ("-".to_string(), "-".to_string()),
    };
    format!(
        "user={user} groups={groups} path={} query={} body={}",
        req.path,
        req.query,
        req.body.len()
    )
}

fn start(tag: &str, limits: Limits) -> Server {
    let dir = std::env::temp_dir().join(format!("wisp-https-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let pki = pki::ensure_pki(&dir, &sans).unwrap();
    let slot = http::CertSlot::new(pki.serving.chain, pki.serving.key).unwrap();
    let tls = http::server_config_with_slot(slot.clone(), pki.ca_der).unwrap();
    let (trigger, signal) = http::shutdown_pair();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let producer_stopped = Arc::new(AtomicBool::new(false));
    let stopped = producer_stopped.clone();
    let (go, go_rx) = async_channel::unbounded::<()>();
    let thread = std::thread::spawn(move || {
        let ex = Rc::new(LocalExecutor::new());
        let listener = async_io::block_on(async_net::TcpListener::bind("127.0.0.1:0")).unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let spawner = ex.clone();
        let handler = move |req: Request| {
            let spawner = spawner.clone();
            let stopped = stopped.clone();
            let go_rx = go_rx.clone();
            async move {
                if req.path == "/sleep" {
                    Timer::after(Duration::from_millis(400)).await;
                }
                route(req, &spawner, stopped, go_rx)
            }
        };
        let serve = http::serve(listener, tls, Rc::new(handler), limits, signal);
        async_io::block_on(ex.run(serve));
    });
    let addr = addr_rx.recv().unwrap();
    Server {
        addr,
        dir,
        slot,
        trigger: Some(trigger),
        thread: Some(thread),
        producer_stopped,
        go,
    }
}

fn route(
    req: Request,
    spawner: &Rc<LocalExecutor<'static>>,
    stopped: Arc<AtomicBool>,
    go: async_channel::Receiver<()>,
) -> Response {
    match req.path.as_str() {
        "/private" if req.identity.is_none() => {
            Response::status_error(401, "Unauthorized", "Unauthorized")
        }
        "/stream" => {
            let (response, tx) = Response::stream(200, "application/json", 1);
            spawner
                .spawn(async move {
                    let _ = tx.send(b"first\n".to_vec()).await;
                    let _ = go.recv().await;
                    let _ = tx.send(b"second\n".to_vec()).await;
                })
                .detach();
            response
        }
        "/endless" => {
            let (response, tx) = Response::stream(200, "text/plain", 1);
            spawner
                .spawn(async move {
                    while tx.send(b"tick\n".to_vec()).await.is_ok() {
                        Timer::after(Duration::from_millis(20)).await;
                    }
                    stopped.store(true, Ordering::SeqCst);
                })
                .detach();
            response
        }
        "/upgrade" => Response::upgrade(
            vec![
                ("Connection".to_string(), "Upgrade".to_string()),
                ("Upgrade".to_string(), "echo".to_string()),
            ],
            |mut stream| async move {
                use futures_lite::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = [0u8; 64];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                    let _ = stream.flush().await;
                }
            },
        ),
        _ => Response::full(200, "text/plain", describe(&req)),
    }
}

fn client_config(dir: &Path, with_cert: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(dir.join("ca.crt")).unwrap())
        .unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    let mut config = if with_cert {
        let cert = CertificateDer::from_pem_file(dir.join("admin.crt")).unwrap();
        let key = PrivateKeyDer::from_pem_file(dir.join("admin.key")).unwrap();
        builder.with_client_auth_cert(vec![cert], key).unwrap()
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(server: &Server, with_cert: bool) -> Tls {
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(client_config(&server.dir, with_cert), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    tls
}

/// Reads one response with a Content-Length body; returns (status, head, body).
fn read_response(tls: &mut Tls) -> (u16, String, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = tls.read(&mut byte).unwrap();
        assert_eq!(
            n,
            1,
            "connection closed inside a head: {:?}",
            String::from_utf8_lossy(&raw)
        );
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status = head[9..12].parse().unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .map(|v| v.trim().parse().unwrap())
        .unwrap_or(0);
    let mut body = vec![0; length];
    tls.read_exact(&mut body).unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

fn get(tls: &mut Tls, path: &str) -> (u16, String, String) {
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").unwrap();
    tls.flush().unwrap();
    read_response(tls)
}

fn is_closed(tls: &mut Tls) -> bool {
    let mut buf = [0u8; 64];
    matches!(tls.read(&mut buf), Ok(0) | Err(_))
}

#[test]
fn identity_from_client_cert_and_keep_alive() {
    let server = start("identity", Limits::default());
    let mut tls = connect(&server, true);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (status, _, body) = get(&mut tls, "/api?x=1");
    assert_eq!(status, 200);
    assert_eq!(
        body,
        "user=system:admin groups=system:masters path=/api query=x=1 body=0"
    );
    let (status, _, body) = get(&mut tls, "/second");
    assert_eq!(status, 200, "second request on the same connection");
    assert!(body.contains("path=/second"));
}

#[test]
fn no_client_cert_reaches_handler_without_identity() {
    let server = start("anonymous", Limits::default());
    let mut tls = connect(&server, false);
    let (status, _, body) = get(&mut tls, "/healthz");
    assert_eq!(status, 200);
    assert_eq!(body, "user=- groups=- path=/healthz query= body=0");
}

#[test]
fn bodies_by_length_and_chunked() {
    let server = start("bodies", Limits::default());
    let mut tls = connect(&server, true);
    tls.write_all(b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    assert!(read_response(&mut tls).2.ends_with("body=5"));
    tls.write_all(b"POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4;x=y\r\ndefg\r\n0\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut tls).2.ends_with("body=7"));
    tls.write_all(b"POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
        .unwrap();
    let (status, head, body) = read_response(&mut tls);
    assert_eq!(status, 400);
    assert!(head.contains("Connection: close"));
    assert!(body.contains("\"reason\":\"BadRequest\""));
    assert!(is_closed(&mut tls));
}

#[test]
fn oversized_head_gets_431_and_body_413() {
    let server = start("oversize", Limits::default());
    let mut tls = connect(&server, true);
    let big = "x".repeat(70 * 1024);
    write!(tls, "GET / HTTP/1.1\r\nX-Big: {big}\r\n\r\n").unwrap();
    let (status, _, body) = read_response(&mut tls);
    assert_eq!(status, 431);
    assert!(body.contains("\"code\":431"));

    let mut tls = connect(&server, true);
    write!(
        tls,
        "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
        4 << 20
    )
    .unwrap();
    let (status, _, body) = read_response(&mut tls);
    assert_eq!(status, 413);
    assert!(body.contains("\"reason\":\"RequestEntityTooLarge\""));

    let mut tls = connect(&server, true);
    // Just over the 3 MiB limit: the server refuses while the rest (under its 256 KiB
    // discard window) is still arriving, drains it and closes cleanly. A client that keeps
    // writing far past the limit can lose the 413 to a TCP reset on a loaded machine.
    let chunk = vec![b'a'; 1 << 20];
    tls.write_all(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    for size in [1 << 20, 1 << 20, 1 << 20, 1024] {
        tls.write_all(format!("{size:x}\r\n").as_bytes()).unwrap();
        tls.write_all(&chunk[..size]).unwrap();
        tls.write_all(b"\r\n").unwrap();
    }
    tls.write_all(b"0\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut tls).0, 413);
}

#[test]
fn streamed_chunks_arrive_incrementally_and_stop_on_disconnect() {
    let server = start("stream", Limits::default());
    let mut tls = connect(&server, true);
    tls.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("first\n\r\n") {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.contains("Transfer-Encoding: chunked"));
    assert!(
        !text.contains("second"),
        "second chunk is held back until released"
    );
    server.go.send_blocking(()).unwrap();
    while !String::from_utf8_lossy(&seen).ends_with("second\n\r\n0\r\n\r\n") {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0);
        seen.extend_from_slice(&buf[..n]);
    }
    let (status, _, _) = get(&mut tls, "/after-stream");
    assert_eq!(status, 200, "keep-alive after a finished stream");

    let mut tls = connect(&server, true);
    tls.write_all(b"GET /endless HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let n = tls.read(&mut buf).unwrap();
    assert!(n > 0);
    drop(tls);
    let deadline = Instant::now() + Duration::from_secs(3);
    while !server.producer_stopped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "producer never saw the disconnect"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn stream_cap_answers_429() {
    let limits = Limits {
        max_streams: 1,
        ..Limits::default()
    };
    let server = start("streamcap", limits);
    let mut first = connect(&server, true);
    first.write_all(b"GET /endless HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(first.read(&mut buf).unwrap() > 0);
    let mut second = connect(&server, true);
    let (status, head, _) = get(&mut second, "/endless");
    assert_eq!(status, 429);
    assert!(head.contains("Retry-After: 1"));
}

#[test]
fn in_flight_cap_answers_429_and_frees_its_place() {
    let limits = Limits {
        max_in_flight: 1,
        ..Limits::default()
    };
    let server = start("inflightcap", limits);
    let mut watcher = connect(&server, true);
    watcher.write_all(b"GET /endless HTTP/1.1\r\n\r\n").unwrap();
    let mut buf = [0u8; 64];
    assert!(watcher.read(&mut buf).unwrap() > 0);
    let mut slow = connect(&server, true);
    slow.write_all(b"GET /sleep HTTP/1.1\r\n\r\n").unwrap();
    slow.flush().unwrap();
    std::thread::sleep(Duration::from_millis(100));
    let mut other = connect(&server, true);
    let (status, head, body) = get(&mut other, "/x");
    assert_eq!(status, 429, "a second request while one sleeps: {body}");
    assert!(head.contains("Retry-After: 1"));
    assert!(body.contains("Too many requests, please try again later."));
    let (status, _, _) = read_response(&mut slow);
    assert_eq!(status, 200);
    let (status, _, _) = get(&mut other, "/x");
    assert_eq!(
        status, 200,
        "the place is free again; a watch does not hold it"
    );
}

#[test]
fn slowloris_is_disconnected() {
    let limits = Limits {
        header_timeout: Duration::from_millis(400),
        ..Limits::default()
    };
    let server = start("slowloris", limits);
    let mut tls = connect(&server, true);
    let started = Instant::now();
    let mut closed = false;
    for byte in b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1\r\n\r\n" {
        if tls.write_all(&[*byte]).and_then(|_| tls.flush()).is_err() {
            closed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
        if started.elapsed() > Duration::from_millis(700) {
            break;
        }
    }
    closed = closed || is_closed(&mut tls);
    assert!(closed, "server kept a trickling client");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn at_the_connection_cap_the_oldest_waiting_connection_makes_room() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let server = start("conncap", limits);
    let mut a = connect(&server, true);
    assert_eq!(get(&mut a, "/a").0, 200);
    // A connection that never starts TLS holds the second slot.
    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    // A newcomer is served: the silent connection, never served, is closed for it; the
    // kept-alive one stays.
    let mut c = connect(&server, true);
    assert_eq!(get(&mut c, "/c").0, 200, "the newcomer was refused");
    let mut byte = [0u8; 1];
    assert!(
        matches!(silent.read(&mut byte), Ok(0) | Err(_)),
        "the silent connection was kept"
    );
    assert_eq!(
        get(&mut a, "/a").0,
        200,
        "the kept-alive connection was closed"
    );
    // With only kept-alive connections waiting, the oldest of them makes room.
    let mut d = connect(&server, true);
    assert_eq!(get(&mut d, "/d").0, 200);
    assert!(
        is_closed(&mut c),
        "the oldest kept-alive connection stayed open"
    );
    assert_eq!(get(&mut a, "/a").0, 200);
}

#[test]
fn graceful_shutdown_closes_idle_connections_and_returns() {
    let mut server = start("shutdown", Limits::default());
    let mut tls = connect(&server, true);
    assert_eq!(get(&mut tls, "/x").0, 200);
    let started = Instant::now();
    server.trigger.take().unwrap().fire();
    server.thread.take().unwrap().join().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "idle connection delayed shutdown"
    );
    assert!(is_closed(&mut tls));
    assert!(
        TcpStream::connect(server.addr).is_err(),
        "listener still open"
    );
}

#[test]
fn curl_with_and_without_client_cert() -> io::Result<()> {
    if !Path::new("/usr/bin/curl").exists() {
        eprintln!("curl not installed: skipped");
        return Ok(());
    }
    let server = start("curl", Limits::default());
    let url = format!("https://127.0.0.1:{}/version?a=b", server.addr.port());
    let dir = &server.dir;
    let out = std::process::Command::new("/usr/bin/curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg("--cert")
        .arg(dir.join("admin.crt"))
        .arg("--key")
        .arg(dir.join("admin.key"))
        .args([
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            "hello world",
            &url,
            &url,
        ])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        text,
        "user=system:admin groups=system:masters path=/version query=a=b body=11".repeat(2)
    );
    let out = std::process::Command::new("/usr/bin/curl")
        .args(["-sS", "--cacert"])
        .arg(dir.join("ca.crt"))
        .arg(&url)
        .output()?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "user=- groups=- path=/version query=a=b body=0"
    );
    Ok(())
}

#[test]
fn upgrade_hands_over_the_stream_with_buffered_bytes() {
    let server = start("upgrade", Limits::default());
    let mut tls = connect(&server, true);
    tls.write_all(b"GET /upgrade HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly")
        .unwrap();
    let (status, head, _) = read_response(&mut tls);
    assert_eq!(status, 101);
    assert!(head.contains("Connection: Upgrade\r\nUpgrade: echo\r\n"));
    assert!(!head.contains("Content-Length"));
    let mut buf = [0u8; 5];
    tls.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"early", "bytes sent with the head reach the upgrade");
    tls.write_all(b"later").unwrap();
    tls.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"later");
}

#[test]
fn pipelining_head_requests_continue_and_http10() {
    let server = start("misc", Limits::default());
    let mut tls = connect(&server, true);
    tls.write_all(b"GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\n\r\n")
        .unwrap();
    assert!(read_response(&mut tls).2.contains("path=/one"));
    assert!(read_response(&mut tls).2.contains("path=/two"));

    tls.write_all(b"HEAD /h HTTP/1.1\r\n\r\n").unwrap();
    let (status, head, _) = {
        let mut raw = Vec::new();
        let mut byte = [0u8; 1];
        while !raw.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut byte).unwrap();
            raw.push(byte[0]);
        }
        let head = String::from_utf8(raw).unwrap();
        (head[9..12].parse::<u16>().unwrap(), head, ())
    };
    assert_eq!(status, 200);
    assert!(head.contains("Content-Length: "), "HEAD keeps the length");
    assert!(
        get(&mut tls, "/after-head").2.contains("path=/after-head"),
        "no body was sent for HEAD"
    );

    tls.write_all(b"POST /c HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .unwrap();
    let mut interim = [0u8; 25];
    tls.read_exact(&mut interim).unwrap();
    assert_eq!(&interim, b"HTTP/1.1 100 Continue\r\n\r\n");
    tls.write_all(b"abc").unwrap();
    assert!(read_response(&mut tls).2.ends_with("body=3"));

    tls.write_all(b"GET /old HTTP/1.0\r\n\r\n").unwrap();
    let (status, head, _) = read_response(&mut tls);
    assert_eq!(status, 200);
    assert!(head.contains("Connection: close"));
    assert!(is_closed(&mut tls));
}

#[test]
fn shutdown_lets_in_flight_request_finish() {
    let mut server = start("inflight", Limits::default());
    let mut tls = connect(&server, true);
    tls.write_all(b"GET /sleep HTTP/1.1\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.trigger.take().unwrap().fire();
    let (status, head, body) = read_response(&mut tls);
    assert_eq!(status, 200);
    assert!(
        head.contains("Connection: close"),
        "last response announces the close"
    );
    assert!(body.contains("path=/sleep"));
    assert!(is_closed(&mut tls));
    server.thread.take().unwrap().join().unwrap();
}

#[test]
fn serving_cert_swaps_without_restart() {
    let server = start("swap", Limits::default());
    let mut before = connect(&server, true);
    let old_leaf = before.conn.peer_certificates().unwrap()[0].clone();
    let sans = vec!["localhost".to_string(), "192.0.2.99".to_string()];
    let renewed = pki::ensure_serving_cert(&server.dir, &sans).unwrap();
    assert!(renewed.reissued);
    server
        .slot
        .replace(renewed.chain.clone(), renewed.key)
        .unwrap();
    let mut after = connect(&server, true);
    assert_eq!(after.conn.peer_certificates().unwrap()[0], renewed.chain[0]);
    assert_ne!(renewed.chain[0], old_leaf);
    assert_eq!(get(&mut after, "/x").0, 200);
    assert_eq!(
        get(&mut before, "/y").0,
        200,
        "open connections keep working"
    );
}

/// A client presenting `cert`/`key` (PEM): the handshake must complete.
fn connect_with(server: &Server, cert_pem: &str, key_pem: &str) -> Tls {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(server.dir.join("ca.crt")).unwrap())
        .unwrap();
    let cert = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .unwrap();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = TcpStream::connect(server.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn
            .complete_io(&mut tls.sock)
            .expect("handshake completes even for a certificate that fails verification");
    }
    tls
}

/// A client certificate for `user` signed by the CA in `ca_dir`, valid from `not_before`
/// to `not_after` (seconds relative to now).
fn issue_client_cert(
    ca_dir: &Path,
    user: &str,
    not_before: i64,
    not_after: i64,
) -> (String, String) {
    use rcgen::{
        CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
        KeyUsagePurpose, PKCS_ECDSA_P256_SHA256,
    };
    let ca_der = CertificateDer::from_pem_file(ca_dir.join("ca.crt")).unwrap();
    let ca_cn = pki::inspect_cert(&ca_der).unwrap().common_names[0].clone();
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(ca_dir.join("ca.key")).unwrap()).unwrap();
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = DistinguishedName::new();
    ca_params.distinguished_name.push(DnType::CommonName, ca_cn);
    let issuer = Issuer::new(ca_params, ca_key);
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "system:masters");
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now + time::Duration::seconds(not_before);
    params.not_after = now + time::Duration::seconds(not_after);
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn client_cert_from_another_ca_gets_401_after_handshake() {
    let server = start("foreign", Limits::default());
    let foreign =
        std::env::temp_dir().join(format!("wisp-https-foreign-ca-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&foreign);
    pki::ensure_admin_cert(&foreign).unwrap();
    let cert = std::fs::read_to_string(foreign.join("admin.crt")).unwrap();
    let key = std::fs::read_to_string(foreign.join("admin.key")).unwrap();
    let mut tls = connect_with(&server, &cert, &key);
    let (status, _, body) = get(&mut tls, "/api");
    assert_eq!(status, 200, "the handler decides, not the handshake");
    assert!(
        body.starts_with("user=- groups=-"),
        "foreign CA gave {body}"
    );
    std::fs::remove_dir_all(&foreign).unwrap();
}

#[test]
fn expired_and_not_yet_valid_client_certs_get_401_after_handshake() {
    let server = start("expired", Limits::default());
    let (cert, key) = issue_client_cert(&server.dir, "late", -7200, -3600);
    let (status, _, body) = get(&mut connect_with(&server, &cert, &key), "/api");
    assert_eq!(status, 200);
    assert!(
        body.starts_with("user=- groups=-"),
        "expired cert gave {body}"
    );
    let (cert, key) = issue_client_cert(&server.dir, "early", 3600, 7200);
    let (_, _, body) = get(&mut connect_with(&server, &cert, &key), "/api");
    assert!(
        body.starts_with("user=- groups=-"),
        "future cert gave {body}"
    );
    let (cert, key) = issue_client_cert(&server.dir, "current", -60, 3600);
    let (_, _, body) = get(&mut connect_with(&server, &cert, &key), "/api");
    assert!(
        body.starts_with("user=current groups=system:masters"),
        "valid cert gave {body}"
    );
}

#[test]
fn silent_client_after_handshake_gets_the_header_timeout_not_the_idle_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_secs(30),
        ..Limits::default()
    };
    let server = start("silentfirst", limits);
    let mut silent = connect(&server, true);
    let started = Instant::now();
    assert!(is_closed(&mut silent));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "a connection that never sent a request held its slot"
    );
    let mut kept = connect(&server, true);
    assert_eq!(get(&mut kept, "/x").0, 200);
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(
        get(&mut kept, "/x").0,
        200,
        "served connections get the idle timeout"
    );
}

#[test]
fn silent_handshake_idle_connection_and_trickled_body_time_out() {
    let limits = Limits {
        header_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let server = start("timeouts", limits);

    let mut silent = TcpStream::connect(server.addr).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let started = Instant::now();
    let mut buf = [0u8; 16];
    assert!(matches!(silent.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "handshake wait unbounded"
    );

    let mut idle = connect(&server, true);
    assert_eq!(get(&mut idle, "/x").0, 200);
    let started = Instant::now();
    assert!(is_closed(&mut idle));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "idle keep-alive not closed"
    );

    let mut trickle = connect(&server, true);
    trickle
        .write_all(b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\nab")
        .unwrap();
    let started = Instant::now();
    assert!(is_closed(&mut trickle));
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "slow body not cut off"
    );
}
