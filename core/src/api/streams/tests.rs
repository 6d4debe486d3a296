//! The stream subresources end to end: the real API server (store, authentication, RBAC,
//! routing) behind the real HTTPS server on 127.0.0.1, driven by a blocking rustls client
//! that speaks WebSocket through tungstenite's client role. The node side is a FAKE
//! [`PodStreams`] (`FakeNode` below): it plays scripted containers, since no container
//! runtime is involved at this layer.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use async_executor::LocalExecutor;
use async_io::Timer;
use futures_lite::future::block_on;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tungstenite::Message;
use tungstenite::protocol::{Role, WebSocket};

use super::node::*;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::control_plane::ApiHandler;
use crate::http::{self, ChunkStream, LocalBoxFuture, ShutdownTrigger};

/// Scripted containers. `exec` understands: `cat` (echo stdin until EOF), `fail N`
/// (prints to both streams, exits N), `broken` (runtime error). Port 80 answers with
/// the bytes it got in upper case; every other port refuses.
struct FakeNode {
    spawner: Rc<LocalExecutor<'static>>,
    log_calls: RefCell<Vec<(StreamTarget, LogOptions)>>,
}

impl PodStreams for FakeNode {
    fn logs(
        &self,
        target: StreamTarget,
        options: LogOptions,
    ) -> LocalBoxFuture<'_, Result<ChunkStream, StreamError>> {
        Box::pin(async move {
            if target.container == "waiting" {
                return Err(StreamError::BadRequest(format!(
                    "container \"waiting\" in pod \"{}\" is waiting to start: ContainerCreating",
                    target.pod
                )));
            }
            let follow = options.follow;
            self.log_calls.borrow_mut().push((target.clone(), options));
            let (tx, rx) = async_channel::bounded(1);
            self.spawner
                .spawn(async move {
                    let _ = tx
                        .send(format!("{} line 1\n", target.container).into_bytes())
                        .await;
                    if follow {
                        Timer::after(Duration::from_millis(50)).await;
                        let _ = tx.send(b"line 2\n".to_vec()).await;
                    }
                })
                .detach();
            let stream: ChunkStream = Box::pin(rx);
            Ok(stream)
        })
    }

    fn exec(
        &self,
        target: StreamTarget,
        options: ExecOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>> {
        Box::pin(async move {
            match options.command.first().map(String::as_str) {
                Some("broken") => Err(StreamError::Internal(format!(
                    "container {} is not running",
                    target.container
                ))),
                Some("fail") => {
                    let code = options.command[1].parse().unwrap();
                    Ok(self.scripted(code))
                }
                _ => Ok(self.cat(options.tty)),
            }
        })
    }

    fn attach(
        &self,
        _target: StreamTarget,
        options: AttachOptions,
    ) -> LocalBoxFuture<'_, Result<ExecSession, StreamError>> {
        Box::pin(async move { Ok(self.cat(options.tty)) })
    }

    fn port_forward(
        &self,
        _pod: PodRef,
        port: u16,
    ) -> LocalBoxFuture<'_, Result<Duplex, StreamError>> {
        Box::pin(async move {
            if port != 80 {
                return Err(StreamError::Internal(format!(
                    "failed to connect to localhost:{port}: connection refused"
                )));
            }
            let (to_pod, from_client) = async_channel::bounded::<Vec<u8>>(4);
            let (to_client, from_pod) = async_channel::bounded(4);
            self.spawner
                .spawn(async move {
                    while let Ok(data) = from_client.recv().await {
                        let _ = to_client.send(data.to_ascii_uppercase()).await;
                    }
                })
                .detach();
            Ok(Duplex { to_pod, from_pod })
        })
    }
}

impl FakeNode {
    fn scripted(&self, code: i32) -> ExecSession {
        let (out_tx, out_rx) = async_channel::bounded(4);
        let (err_tx, err_rx) = async_channel::bounded(4);
        let (exit_tx, exit_rx) = async_channel::bounded(1);
        self.spawner
            .spawn(async move {
                let _ = out_tx.send(b"to stdout\n".to_vec()).await;
                let _ = err_tx.send(b"to stderr\n".to_vec()).await;
                drop((out_tx, err_tx));
                let _ = exit_tx.send(ExitStatus::Code(code)).await;
            })
            .detach();
        ExecSession {
            stdin: None,
            stdout: Some(out_rx),
            stderr: Some(err_rx),
            resize: None,
            exit: Box::pin(async move { exit_rx.recv().await.unwrap_or(ExitStatus::Code(-1)) }),
        }
    }

    /// Echoes stdin; with a tty, reports every resize on stdout too. Ends at end of
    /// input, as a real `cat` would.
    fn cat(&self, tty: bool) -> ExecSession {
        let (in_tx, in_rx) = async_channel::bounded::<Vec<u8>>(4);
        let (out_tx, out_rx) = async_channel::bounded(4);
        let (resize_tx, resize_rx) = async_channel::bounded::<TerminalSize>(4);
        let (exit_tx, exit_rx) = async_channel::bounded(1);
        self.spawner
            .spawn(async move {
                loop {
                    let input = async { Some(in_rx.recv().await.ok()) };
                    let resize = async {
                        match resize_rx.recv().await {
                            Ok(size) => {
                                let line = format!("resize {}x{}\n", size.width, size.height);
                                Some(Some(line.into_bytes()))
                            }
                            Err(_) => std::future::pending().await,
                        }
                    };
                    match futures_lite::future::or(input, resize).await {
                        Some(Some(data)) => {
                            let _ = out_tx.send(data).await;
                        }
                        _ => break,
                    }
                }
                let _ = out_tx.send(b"stdin closed\n".to_vec()).await;
                drop(out_tx);
                let _ = exit_tx.send(ExitStatus::Code(0)).await;
            })
            .detach();
        ExecSession {
            stdin: Some(in_tx),
            stdout: Some(out_rx),
            stderr: None,
            resize: tty.then_some(resize_tx),
            exit: Box::pin(async move { exit_rx.recv().await.unwrap_or(ExitStatus::Code(-1)) }),
        }
    }
}

struct Harness {
    addr: SocketAddr,
    dir: PathBuf,
    trigger: Option<ShutdownTrigger>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Some(t) = self.trigger.take() {
            t.fire();
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const PODS: &str = "/api/v1/namespaces/default/pods";

fn start(with_node: bool) -> Harness {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("wisp-streams-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let sans = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let pki = crate::pki::ensure_pki(&dir.join("pki"), &sans).unwrap();
    let tls = http::server_config(pki.serving.chain, pki.serving.key, pki.ca_der).unwrap();
    let (trigger, signal) = http::shutdown_pair();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let store_dir = dir.join("store");
    let thread = std::thread::spawn(move || {
        let ex = Rc::new(LocalExecutor::new());
        let store = wisp_store::Store::open(&store_dir, wisp_store::Options::default()).unwrap();
        let server = ApiServer::new(store, "127.0.0.1:6443");
        seed(&server);
        if with_node {
            server.set_pod_streams(Some(Rc::new(FakeNode {
                spawner: ex.clone(),
                log_calls: RefCell::new(Vec::new()),
            })));
        }
        let listener = block_on(async_net::TcpListener::bind("127.0.0.1:0")).unwrap();
        addr_tx.send(listener.local_addr().unwrap()).unwrap();
        let handler = Rc::new(ApiHandler::new(Rc::new(server)));
        let serve = http::serve(listener, tls, handler, http::Limits::default(), signal);
        block_on(ex.run(serve));
    });
    Harness {
        addr: addr_rx.recv().unwrap(),
        dir,
        trigger: Some(trigger),
        thread: Some(thread),
    }
}

/// The namespace, its ServiceAccount and the pods the tests use.
fn seed(server: &ApiServer) {
    let objects = [
        ("/api/v1/namespaces", r#"{"metadata":{"name":"default"}}"#.to_owned()),
        (
            "/api/v1/namespaces/default/serviceaccounts",
            r#"{"metadata":{"name":"default"}}"#.to_owned(),
        ),
        (PODS, pod("one", r#"[{"name":"main","image":"busybox"}]"#, true)),
        (
            PODS,
            pod(
                "two",
                r#"[{"name":"a","image":"busybox"},{"name":"waiting","image":"busybox"}]"#,
                true,
            ),
        ),
        (PODS, pod("pending", r#"[{"name":"main","image":"busybox"}]"#, false)),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles",
            r#"{"metadata":{"name":"exec-get"},"rules":[{"apiGroups":[""],"resources":["pods/exec"],"verbs":["get"]}]}"#.to_owned(),
        ),
        (
            "/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings",
            r#"{"metadata":{"name":"carol"},"roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"Role","name":"exec-get"},"subjects":[{"kind":"User","apiGroup":"rbac.authorization.k8s.io","name":"carol"}]}"#.to_owned(),
        ),
    ];
    for (path, body) in objects {
        let response = block_on(server.handle(ApiRequest {
            method: "POST".to_owned(),
            path: path.to_owned(),
            content_type: Some("application/json".to_owned()),
            body: body.into_bytes(),
            user: Some(User {
                name: "admin".to_owned(),
                groups: vec!["system:masters".to_owned()],
            }),
            ..ApiRequest::default()
        }));
        assert_eq!(response.status, 201, "seeding {path}");
    }
    // kubectl refuses exec and port-forward unless the pod is Running.
    let response = block_on(server.handle(ApiRequest {
        method: "PATCH".to_owned(),
        path: format!("{PODS}/one/status"),
        content_type: Some("application/merge-patch+json".to_owned()),
        body: br#"{"status":{"phase":"Running"}}"#.to_vec(),
        user: Some(User {
            name: "admin".to_owned(),
            groups: vec!["system:masters".to_owned()],
        }),
        ..ApiRequest::default()
    }));
    assert_eq!(response.status, 200, "pod status");
}

fn pod(name: &str, containers: &str, bound: bool) -> String {
    let node = if bound { r#""nodeName":"node1","# } else { "" };
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}"}},"spec":{{{node}"containers":{containers}}}}}"#
    )
}

type Tls = rustls::StreamOwned<rustls::ClientConnection, TcpStream>;

fn connect(h: &Harness) -> Tls {
    let pki = h.dir.join("pki");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(pki.join("ca.crt")).unwrap())
        .unwrap();
    let cert = CertificateDer::from_pem_file(pki.join("admin.crt")).unwrap();
    let key = PrivateKeyDer::from_pem_file(pki.join("admin.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(vec![cert], key)
        .unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
    let tcp = TcpStream::connect(h.addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    rustls::StreamOwned::new(conn, tcp)
}

/// Sends a request and reads the head byte by byte (so nothing after it is consumed),
/// then the body: by Content-Length, chunked to the end, or none for 101.
fn request(
    tls: &mut Tls,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    tls.write_all(head.as_bytes()).unwrap();
    tls.flush().unwrap();
    let mut raw = Vec::new();
    while !raw.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        tls.read_exact(&mut byte).unwrap();
        raw.push(byte[0]);
    }
    let head = String::from_utf8(raw).unwrap();
    let status: u16 = head[9..12].parse().unwrap();
    let lower = head.to_ascii_lowercase();
    let body = if status == 101 {
        Vec::new()
    } else if let Some(len) = header_value(&lower, "content-length") {
        let mut body = vec![0u8; len.parse().unwrap()];
        tls.read_exact(&mut body).unwrap();
        body
    } else {
        read_chunked(tls)
    };
    (status, head, String::from_utf8(body).unwrap())
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

fn read_chunked(tls: &mut Tls) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        while !line.ends_with(b"\r\n") {
            let mut byte = [0u8; 1];
            tls.read_exact(&mut byte).unwrap();
            line.push(byte[0]);
        }
        let size = usize::from_str_radix(std::str::from_utf8(&line).unwrap().trim(), 16).unwrap();
        let mut chunk = vec![0u8; size + 2];
        tls.read_exact(&mut chunk).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunk[..size]);
    }
}

const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn upgrade_headers(protocols: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("Connection", "Upgrade"),
        ("Upgrade", "websocket"),
        ("Sec-WebSocket-Version", "13"),
        ("Sec-WebSocket-Key", KEY),
        ("Sec-WebSocket-Protocol", protocols),
    ]
}

/// Opens a WebSocket on `target`; panics unless the server answers 101 with `protocol`.
fn open_ws(h: &Harness, target: &str, protocols: &'static str, expect: &str) -> WebSocket<Tls> {
    let mut tls = connect(h);
    let (status, head, body) = request(&mut tls, "GET", target, &upgrade_headers(protocols));
    assert_eq!(status, 101, "{head}{body}");
    let lower = head.to_ascii_lowercase();
    assert_eq!(header_value(&lower, "sec-websocket-protocol"), Some(expect));
    assert_eq!(
        header_value(&head, "Sec-WebSocket-Accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    WebSocket::from_raw_socket(tls, Role::Client, None)
}

/// Reads messages until the server closes; returns (stdout, stderr, status JSON).
fn drain(ws: &mut WebSocket<Tls>) -> (String, String, String) {
    let (mut out, mut err, mut status) = (String::new(), String::new(), String::new());
    loop {
        match ws.read() {
            Ok(Message::Binary(data)) => {
                let text = String::from_utf8_lossy(&data[1..]).into_owned();
                match data[0] {
                    1 => out.push_str(&text),
                    2 => err.push_str(&text),
                    3 => status.push_str(&text),
                    other => panic!("unexpected channel {other}"),
                }
            }
            Ok(Message::Close(frame)) => {
                assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
                return (out, err, status);
            }
            Ok(_) => {}
            Err(e) => panic!("websocket read: {e} (so far {out:?} {err:?} {status:?})"),
        }
    }
}

fn send(ws: &mut WebSocket<Tls>, channel: u8, data: &[u8]) {
    let mut message = vec![channel];
    message.extend_from_slice(data);
    ws.send(Message::Binary(message.into())).unwrap();
}

#[test]
fn exec_returns_output_streams_and_the_exit_code() {
    let h = start(true);
    let target = format!("{PODS}/one/exec?command=fail&command=3&stdout=true&stderr=true");
    let mut ws = open_ws(
        &h,
        &target,
        "v5.channel.k8s.io, v4.channel.k8s.io",
        "v5.channel.k8s.io",
    );
    let (out, err, status) = drain(&mut ws);
    assert_eq!((out.as_str(), err.as_str()), ("to stdout\n", "to stderr\n"));
    assert!(status.contains(r#""reason":"NonZeroExitCode""#), "{status}");
    assert!(
        status.contains(r#"{"reason":"ExitCode","message":"3"}"#),
        "{status}"
    );

    let target = format!("{PODS}/one/exec?command=fail&command=0&stdout=true&stderr=true");
    let mut ws = open_ws(&h, &target, "v4.channel.k8s.io", "v4.channel.k8s.io");
    let (_, _, status) = drain(&mut ws);
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
}

#[test]
fn exec_stdin_is_forwarded_and_v5_close_ends_it() {
    let h = start(true);
    let target = format!("{PODS}/one/exec?command=cat&stdin=true&stdout=true&stderr=true");
    let mut ws = open_ws(&h, &target, "v5.channel.k8s.io", "v5.channel.k8s.io");
    send(&mut ws, 0, b"hello\n");
    ws.send(Message::Ping(b"p".to_vec().into())).unwrap();
    send(&mut ws, 255, &[0]);
    let (out, err, status) = drain(&mut ws);
    assert_eq!(out, "hello\nstdin closed\n");
    assert_eq!(err, "");
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
}

#[test]
fn attach_with_tty_forwards_resizes() {
    let h = start(true);
    let target = format!("{PODS}/one/attach?container=main&stdin=true&stdout=true&tty=true");
    let mut ws = open_ws(&h, &target, "v5.channel.k8s.io", "v5.channel.k8s.io");
    send(&mut ws, 4, br#"{"Width":120,"Height":40}"#);
    // Give the resize a head start so the order on stdout is fixed.
    std::thread::sleep(Duration::from_millis(100));
    send(&mut ws, 0, b"x");
    send(&mut ws, 255, &[0]);
    let (out, _, status) = drain(&mut ws);
    assert_eq!(out, "resize 120x40\nxstdin closed\n");
    assert_eq!(status, r#"{"metadata":{},"status":"Success"}"#);
}

#[test]
fn exec_errors_before_the_upgrade_are_statuses() {
    let h = start(true);
    let mut tls = connect(&h);
    let ws = upgrade_headers("v5.channel.k8s.io");
    let two = format!("{PODS}/two/exec?command=ls&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &two, &ws);
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("a container name must be specified for pod two, choose one of: [a waiting]"),
        "{body}"
    );
    let unknown = format!("{PODS}/two/exec?command=ls&container=x&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &unknown, &ws);
    assert_eq!(status, 400);
    assert!(
        body.contains("container x is not valid for pod two"),
        "{body}"
    );
    let pending = format!("{PODS}/pending/exec?command=ls&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &pending, &ws);
    assert_eq!(status, 400);
    assert!(
        body.contains("pod pending does not have a host assigned"),
        "{body}"
    );
    let missing = format!("{PODS}/nope/exec?command=ls&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &missing, &ws);
    assert_eq!(status, 404);
    assert!(body.contains(r#"pods \"nope\" not found"#), "{body}");
    let broken = format!("{PODS}/one/exec?command=broken&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &broken, &ws);
    assert_eq!(status, 500);
    assert!(body.contains("container main is not running"), "{body}");
    let v1 = upgrade_headers("channel.k8s.io");
    let one = format!("{PODS}/one/exec?command=ls&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &one, &v1);
    assert_eq!(status, 400, "{body}");
    let (status, _, body) = request(&mut tls, "GET", &one, &[]);
    assert_eq!(status, 400);
    assert!(body.contains("Upgrade request required"), "{body}");
}

#[test]
fn without_a_node_agent_streams_are_unavailable() {
    let h = start(false);
    let mut tls = connect(&h);
    let (status, _, body) = request(&mut tls, "GET", &format!("{PODS}/one/log"), &[]);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("error dialing backend"), "{body}");
    let ws = upgrade_headers("v5.channel.k8s.io");
    let exec = format!("{PODS}/one/exec?command=ls&stdout=true");
    assert_eq!(request(&mut tls, "GET", &exec, &ws).0, 503);
}

#[test]
fn logs_stream_text_with_options() {
    let h = start(true);
    let mut tls = connect(&h);
    let target = format!("{PODS}/one/log?follow=true&tailLines=5&timestamps=true");
    let (status, head, body) = request(&mut tls, "GET", &target, &[]);
    assert_eq!(status, 200, "{body}");
    assert!(head.contains("Content-Type: text/plain"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{head}"
    );
    assert_eq!(body, "main line 1\nline 2\n");
    let (status, _, body) = request(&mut tls, "GET", &format!("{PODS}/two/log"), &[]);
    assert_eq!(status, 400);
    assert!(body.contains("choose one of: [a waiting]"), "{body}");
    let (status, _, body) = request(&mut tls, "GET", &format!("{PODS}/two/log?container=a"), &[]);
    assert_eq!((status, body.as_str()), (200, "a line 1\n"));
    let (status, _, body) = request(
        &mut tls,
        "GET",
        &format!("{PODS}/two/log?container=waiting"),
        &[],
    );
    assert_eq!(status, 400);
    assert!(
        body.contains("is waiting to start: ContainerCreating"),
        "{body}"
    );
    let (status, _, body) = request(
        &mut tls,
        "GET",
        &format!("{PODS}/one/log?tailLines=-1"),
        &[],
    );
    assert_eq!(status, 422);
    assert!(
        body.contains("must be greater than or equal to 0"),
        "{body}"
    );
    // Not on a node yet: empty, as upstream.
    let (status, _, body) = request(&mut tls, "GET", &format!("{PODS}/pending/log"), &[]);
    assert_eq!((status, body.as_str()), (200, ""));
}

#[test]
fn exec_needs_create_as_well_as_get() {
    let h = start(true);
    let mut tls = connect(&h);
    let mut headers = upgrade_headers("v5.channel.k8s.io");
    headers.push(("Impersonate-User", "bob"));
    let exec = format!("{PODS}/one/exec?command=ls&stdout=true");
    let (status, _, body) = request(&mut tls, "GET", &exec, &headers);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"pods \"one\" is forbidden: User \"bob\" cannot get resource \"pods/exec\" in API group \"\" in the namespace \"default\""#),
        "{body}"
    );
    // get alone (the verb of the GET) is not enough for a session: create is needed too.
    let mut headers = upgrade_headers("v5.channel.k8s.io");
    headers.push(("Impersonate-User", "carol"));
    let (status, _, body) = request(&mut tls, "GET", &exec, &headers);
    assert_eq!(status, 403, "{body}");
    assert!(
        body.contains(r#"pods \"one\" is forbidden: User \"carol\" cannot create resource \"pods/exec\" in API group \"\" in the namespace \"default\""#),
        "{body}"
    );
}

#[test]
fn portforward_tunnels_spdy_streams_to_pod_ports() {
    let h = start(true);
    let mut ws = open_ws(
        &h,
        &format!("{PODS}/one/portforward"),
        "SPDY/3.1+portforward.k8s.io",
        "spdy/3.1+portforward.k8s.io",
    );
    spdy_client_round_trip(&mut ws);
}

/// kubectl's side of port-forward, frame by frame: an error+data stream pair per
/// connection, data echoed (upper-cased) by the fake pod, a refused port reported on the
/// error stream, PING echoed, a malformed stream reset.
fn spdy_client_round_trip(ws: &mut WebSocket<Tls>) {
    use super::spdy::frame::{self, FLAG_FIN, Frame};
    use super::spdy::headers::{HeaderDecoder, HeaderEncoder};

    let mut encoder = HeaderEncoder::default();
    let mut syn = |id: u32, kind: &str, port: &str, request: &str| {
        let header_block =
            encoder.encode(&[("streamtype", kind), ("port", port), ("requestid", request)]);
        Frame::SynStream {
            stream_id: id,
            associated: 0,
            priority: 0,
            flags: 0,
            header_block,
        }
    };
    let data = |id: u32, flags: u8, bytes: &[u8]| Frame::Data {
        stream_id: id,
        flags,
        data: bytes.to_vec(),
    };
    let frames = [
        syn(1, "error", "80", "0"),
        data(1, FLAG_FIN, b""),
        syn(3, "data", "80", "0"),
        data(3, 0, b"hello"),
        Frame::Ping { id: 1 },
        syn(5, "error", "81", "1"),
        data(5, FLAG_FIN, b""),
        syn(7, "data", "81", "1"),
        syn(9, "bogus", "80", "2"),
    ];
    let mut bytes = Vec::new();
    for f in &frames {
        frame::encode(f, &mut bytes);
    }
    // Split the byte stream at an odd place: messages carry a stream, not frames.
    let (a, b) = bytes.split_at(13);
    ws.send(Message::Binary(a.to_vec().into())).unwrap();
    ws.send(Message::Binary(b.to_vec().into())).unwrap();

    let mut decoder = HeaderDecoder::default();
    let mut buf = Vec::new();
    let mut replies = Vec::new();
    let mut received: std::collections::HashMap<u32, Vec<u8>> = Default::default();
    let mut finished = Vec::new();
    let (mut pinged, mut reset, mut upload_closed) = (false, false, false);
    while !(pinged && reset && finished.len() == 4) {
        let Message::Binary(message) = ws.read().unwrap() else {
            continue;
        };
        buf.extend_from_slice(&message);
        while let Some((f, used)) = frame::decode(&buf).unwrap() {
            buf.drain(..used);
            match f {
                Frame::SynReply {
                    stream_id,
                    header_block,
                    ..
                } => {
                    assert!(decoder.decode(&header_block).unwrap().is_empty());
                    replies.push(stream_id);
                }
                Frame::Ping { id } => pinged = id == 1,
                Frame::RstStream { stream_id, .. } => reset = stream_id == 9,
                Frame::Data {
                    stream_id,
                    flags,
                    data: bytes,
                } => {
                    received
                        .entry(stream_id)
                        .or_default()
                        .extend_from_slice(&bytes);
                    if flags & FLAG_FIN != 0 {
                        finished.push(stream_id);
                    }
                    if stream_id == 3 && received[&3] == b"HELLO" && !upload_closed {
                        // The local connection closed: half-close the data stream.
                        let mut fin = Vec::new();
                        frame::encode(&data(3, FLAG_FIN, b""), &mut fin);
                        ws.send(Message::Binary(fin.into())).unwrap();
                        upload_closed = true;
                    }
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
    assert_eq!(replies, [1, 3, 5, 7]);
    assert_eq!(received[&3], b"HELLO");
    let refused = String::from_utf8(received[&5].clone()).unwrap();
    assert!(
        refused.starts_with("error forwarding port 81 to pod one_default, uid "),
        "{refused}"
    );
    assert!(refused.ends_with(": failed to connect to localhost:81: connection refused"));
    finished.sort_unstable();
    assert_eq!(finished, [1, 3, 5, 7]);
}

fn kubeconfig(h: &Harness) -> PathBuf {
    let pki = h.dir.join("pki");
    let path = h.dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://{}\n    certificate-authority: {}\nusers:\n- name: u\n  user:\n    client-certificate: {}\n    client-key: {}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n    namespace: default\ncurrent-context: x\n",
        h.addr,
        pki.join("ca.crt").display(),
        pki.join("admin.crt").display(),
        pki.join("admin.key").display()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn kubectl(config: &PathBuf, args: &[&str], stdin: &str) -> (i32, String, String) {
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The real client: kubectl 1.32 exec (exit code carried through), exec -i (stdin and its
/// end), logs, and port-forward through its SPDY-in-WebSocket tunnel.
#[test]
fn kubectl_exec_logs_and_port_forward() {
    if std::process::Command::new("kubectl")
        .arg("version")
        .arg("--client")
        .output()
        .is_err()
    {
        eprintln!("SKIP kubectl_exec_logs_and_port_forward: kubectl is not installed");
        return;
    }
    let h = start(true);
    let config = kubeconfig(&h);
    let (code, out, err) = kubectl(&config, &["exec", "one", "--", "fail", "3"], "");
    assert_eq!(code, 3, "stdout {out:?} stderr {err:?}");
    assert_eq!(out, "to stdout\n");
    assert!(err.contains("to stderr"), "{err}");
    let (code, out, err) = kubectl(&config, &["exec", "-i", "one", "--", "cat"], "hello\n");
    assert_eq!((code, out.as_str()), (0, "hello\nstdin closed\n"), "{err}");
    let (code, out, err) = kubectl(&config, &["logs", "one"], "");
    assert_eq!((code, out.as_str()), (0, "main line 1\n"), "{err}");
    // kubectl picks the first container itself; the server's 400 is for other clients.
    let (code, out, err) = kubectl(&config, &["logs", "two"], "");
    assert_eq!((code, out.as_str()), (0, "a line 1\n"), "{err}");
    let (code, _, err) = kubectl(&config, &["logs", "two", "-c", "waiting"], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("is waiting to start: ContainerCreating"),
        "{err}"
    );
    port_forward(&config);
}

fn port_forward(config: &PathBuf) {
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    let mut child = Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(config)
        .args(["port-forward", "pod/one", ":80", ":81"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut local = Vec::new();
    while local.len() < 2 {
        let line = lines.next().unwrap().unwrap();
        // "Forwarding from 127.0.0.1:40123 -> 80"
        if let Some(rest) = line.strip_prefix("Forwarding from 127.0.0.1:") {
            let port: u16 = rest.split(' ').next().unwrap().parse().unwrap();
            local.push(port);
        }
    }
    let mut conn = TcpStream::connect(("127.0.0.1", local[0])).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    conn.write_all(b"hello").unwrap();
    let mut got = [0u8; 5];
    if let Err(e) = conn.read_exact(&mut got) {
        child.kill().unwrap();
        let output = child.wait_with_output().unwrap();
        panic!(
            "{e}: kubectl said {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert_eq!(&got, b"HELLO");
    conn.shutdown(std::net::Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    conn.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // A refused port: kubectl closes the local connection and logs the node's error.
    let mut refused = TcpStream::connect(("127.0.0.1", local[1])).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = refused.write_all(b"x");
    let mut rest = Vec::new();
    let _ = refused.read_to_end(&mut rest);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error forwarding port 81 to pod one_default"),
        "{stderr}"
    );
}

#[test]
fn oversized_websocket_messages_end_the_session() {
    let h = start(true);
    let target = format!("{PODS}/one/exec?command=cat&stdin=true&stdout=true");
    let mut ws = open_ws(&h, &target, "v5.channel.k8s.io", "v5.channel.k8s.io");
    let mut huge = vec![0u8; 2 * 1024 * 1024];
    huge[0] = 0;
    // The server may already be gone while this is still being written.
    let _ = ws.send(Message::Binary(huge.into()));
    loop {
        match ws.read() {
            Ok(Message::Close(_)) | Err(_) => break,
            Ok(Message::Binary(data)) => assert_ne!(data[0], 1, "no output expected"),
            Ok(_) => {}
        }
    }
}

#[test]
fn spdy_garbage_gets_goaway() {
    use super::spdy::frame::{self, Frame};
    let h = start(true);
    let mut ws = open_ws(
        &h,
        &format!("{PODS}/one/portforward"),
        "SPDY/3.1+portforward.k8s.io",
        "spdy/3.1+portforward.k8s.io",
    );
    // A SYN_STREAM whose header block is not zlib.
    let mut bytes = Vec::new();
    frame::encode(
        &Frame::SynStream {
            stream_id: 1,
            associated: 0,
            priority: 0,
            flags: 0,
            header_block: b"not zlib".to_vec(),
        },
        &mut bytes,
    );
    ws.send(Message::Binary(bytes.into())).unwrap();
    let Message::Binary(reply) = ws.read().unwrap() else {
        panic!("expected a binary message");
    };
    let (goaway, _) = frame::decode(&reply).unwrap().unwrap();
    assert_eq!(
        goaway,
        Frame::GoAway {
            last_good: 0,
            status: 1
        }
    );
}
