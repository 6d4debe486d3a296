//! A hostile client against the real `wisp run` on 127.0.0.1 (issue 5): 1,000 idle TLS
//! connections, then 10,000 idle TCP connections held open at once (wisp keeps its
//! connection cap by closing the oldest idle connection for each newcomer, and a new
//! client is served during both floods), then 1,000 watch requests (wisp streams up to its
//! cap and answers 429 beyond it), slowloris heads, oversized headers and bodies and
//! malformed chunked bodies, all at once. Meanwhile a normal client on its own keep-alive
//! connection keeps listing ConfigMaps: every answer must be 200, and wisp's resident memory
//! must stay within the boards' 32 MiB idle budget. Prints the figures (RSS, the normal
//! client's latencies).
//!
//! The 10,000 sockets need more descriptors than the usual soft limit of 1,024: the test
//! raises RLIMIT_NOFILE towards its hard limit (before wisp starts, so wisp inherits it
//! too) and, if the hard limit is too low, floods with as many as fit and says so.

#[path = "support/https_client.rs"]
mod https_client;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use https_client::{Connection, tls_config};
use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, StreamOwned};
use support::Wisp;

const IDLE_BUDGET: u64 = 32 << 20;
/// The numbers.
const IDLE_TCP: usize = 10_000;
const WATCHES: usize = 1_000;
/// wisp's default caps (core/src/http/limits.rs).
const MAX_CONNECTIONS: usize = 256;
const MAX_STREAMS: usize = 128;
/// Descriptors the test needs besides the flood (wisp's pipes, kubectl-free TLS clients,
/// slowloris, the normal client, the Rust test harness).
const SPARE_FDS: u64 = 1_024;
/// The longest the idle TCP flood may take, to keep the test near 30 s.
const FLOOD_TIME: Duration = Duration::from_secs(15);
const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

type Raw = StreamOwned<ClientConnection, TcpStream>;

/// A TLS connection that completed its handshake, or None if wisp closed it.
fn handshake(config: &Arc<ClientConfig>, port: u16) -> Option<Raw> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    tcp.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let name = ServerName::try_from("127.0.0.1").ok()?;
    let conn = ClientConnection::new(config.clone(), name).ok()?;
    let mut tls = StreamOwned::new(conn, tcp);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).ok()?;
    }
    // TLS 1.3: a refused client learns it on its first read, so probe without sending.
    alive(&mut tls).then_some(tls)
}

/// Whether wisp still keeps a TLS connection open: a read without sending would block
/// (session tickets are consumed by rustls) rather than see the end of the stream.
fn alive(tls: &mut Raw) -> bool {
    if tls.sock.set_nonblocking(true).is_err() {
        return false;
    }
    let mut probe = [0u8; 1];
    let alive = match tls.read(&mut probe) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    tls.sock.set_nonblocking(false).is_ok() && alive
}

/// Sends `bytes` and returns the status of the answer (0: closed without one).
fn status_of(config: &Arc<ClientConfig>, port: u16, bytes: &[u8]) -> u16 {
    let Some(mut tls) = handshake(config, port) else {
        return 0;
    };
    // wisp may answer and close before it read everything: later writes may fail.
    let _ = tls.write_all(bytes).and_then(|()| tls.flush());
    let mut head = [0u8; 12];
    match tls.read_exact(&mut head) {
        Ok(()) => std::str::from_utf8(&head[9..12])
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0),
        Err(_) => 0,
    }
}

fn rss(wisp: &Wisp) -> (u64, u64) {
    let (rss, hwm) = wisp.memory();
    (rss / 1024, hwm / 1024)
}

/// The normal client: lists ConfigMaps every 10 ms on one keep-alive connection until
/// `stop`, and returns each request's latency.
fn normal_client(mut conn: Connection, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut latencies = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        let t = Instant::now();
        let r = conn.get(CONFIGMAPS);
        latencies.push(t.elapsed());
        assert_eq!(r.status, 200, "the normal client was refused: {}", r.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    latencies
}

fn idle_flood(config: &Arc<ClientConfig>, port: u16, count: usize) -> (Vec<Raw>, usize) {
    let mut held = Vec::new();
    let mut refused = 0;
    for _ in 0..count {
        match handshake(config, port) {
            Some(tls) => held.push(tls),
            None => refused += 1,
        }
    }
    (held, refused)
}

/// Raises the soft RLIMIT_NOFILE so `IDLE_TCP` sockets fit; returns how many idle TCP
/// connections the flood may open.
fn raise_fd_limit() -> usize {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let want = IDLE_TCP as u64 + SPARE_FDS;
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum.unwrap_or(u64::MAX);
    let mut current = limit.current.unwrap_or(u64::MAX);
    let target = want.min(hard);
    if current < target {
        let raised = Rlimit {
            current: Some(target),
            maximum: limit.maximum,
        };
        match setrlimit(Resource::Nofile, raised) {
            Ok(()) => current = target,
            Err(e) => eprintln!("cannot raise RLIMIT_NOFILE from {current} to {target}: {e}"),
        }
    }
    let room = current.saturating_sub(SPARE_FDS).min(IDLE_TCP as u64);
    let room = usize::try_from(room).expect("at most IDLE_TCP");
    if room < IDLE_TCP {
        eprintln!(
            "RLIMIT_NOFILE {current} (hard {hard}) leaves room for {room} idle connections, \
             not {IDLE_TCP}"
        );
    }
    room
}

/// Opens up to `count` TCP connections that never send a byte and holds them all at once.
/// Stops early if the client runs out of sockets or after [`FLOOD_TIME`]: when wisp's one
/// thread is slow to accept (a debug build on a loaded machine) its listen backlog can
/// fill, and the kernel then drops SYNs and each such connect waits a 1 s retransmit. Both
/// are reported (the bursts are paced to avoid the drops); the caller asserts the flood
/// still went far beyond wisp's caps.
fn tcp_flood(port: u16, count: usize) -> Vec<TcpStream> {
    let start = Instant::now();
    let mut held = Vec::with_capacity(count);
    let mut stalls = 0;
    for i in 0..count {
        // Paced in bursts below the backlog, so the flood measures wisp holding 10,000
        // sockets rather than the kernel's SYN retransmit timer.
        if i % 64 == 63 {
            std::thread::sleep(Duration::from_millis(3));
        }
        if start.elapsed() > FLOOD_TIME {
            eprintln!(
                "idle TCP flood stopped after {FLOOD_TIME:?} at {} connections",
                held.len()
            );
            break;
        }
        let t = Instant::now();
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(tcp) => held.push(tcp),
            Err(e) => {
                eprintln!("idle TCP flood stopped at {} connections: {e}", held.len());
                break;
            }
        }
        stalls += usize::from(t.elapsed() > Duration::from_millis(500));
    }
    eprintln!("idle TCP flood: {stalls} connects waited for a SYN retransmit (backlog full)");
    held
}

fn request_bytes() -> String {
    format!("GET {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// How many of `conns` wisp still keeps open (a read would block rather than see EOF or
/// a TLS alert).
fn still_open(conns: &[&TcpStream]) -> usize {
    conns
        .iter()
        .filter(|tcp| {
            let mut tcp: &TcpStream = tcp;
            tcp.set_nonblocking(true).expect("nonblocking");
            let mut byte = [0u8; 1];
            matches!(tcp.read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
        })
        .count()
}

/// A fresh connection gets 200 again once a flood is gone (wisp freed its slots).
fn fresh_connection_served(config: &Arc<ClientConfig>, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        let request = format!("GET {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\n\r\n");
        if status_of(config, port, request.as_bytes()) == 200 {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

fn watches(config: &Arc<ClientConfig>, port: u16, count: usize) -> (Vec<Connection>, usize) {
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..count {
        let mut conn = Connection::open(config, port);
        match conn.start_stream(&format!("{CONFIGMAPS}?watch=true")) {
            200 => open.push(conn),
            429 => refused += 1,
            other => panic!("a watch got {other}"),
        }
    }
    (open, refused)
}

/// 50 clients sending their head one byte a second; wisp drops them at its header timeout.
fn slowloris(config: &Arc<ClientConfig>, port: u16, stop: Arc<AtomicBool>) -> usize {
    let mut conns: Vec<Raw> = (0..50).filter_map(|_| handshake(config, port)).collect();
    let head = b"GET /api HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    let mut i = 0;
    while !stop.load(Ordering::SeqCst) && !conns.is_empty() {
        let byte = [head.get(i).copied().unwrap_or(b'a')];
        conns.retain_mut(|c| c.write_all(&byte).and_then(|()| c.flush()).is_ok());
        i += 1;
        std::thread::sleep(Duration::from_millis(500));
    }
    conns.len()
}

fn malformed_requests(config: &Arc<ClientConfig>, port: u16) {
    let big_header = format!(
        "GET /api HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    let many_headers = format!(
        "GET /api HTTP/1.1\r\nHost: x\r\n{}\r\n",
        (0..200)
            .map(|i| format!("X-{i}: v\r\n"))
            .collect::<String>()
    );
    let huge_length =
        format!("POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n{{");
    let huge_chunk = format!(
        "POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n400000\r\n{}",
        "a".repeat(1024)
    );
    let bad_chunk = format!(
        "POST {CONFIGMAPS} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n"
    );
    let cases: [(&str, &[u8], &[u16]); 5] = [
        ("oversized header", big_header.as_bytes(), &[431]),
        ("too many headers", many_headers.as_bytes(), &[431]),
        ("oversized Content-Length", huge_length.as_bytes(), &[413]),
        ("oversized chunk", huge_chunk.as_bytes(), &[413]),
        ("malformed chunk size", bad_chunk.as_bytes(), &[400]),
    ];
    for _ in 0..20 {
        for (what, bytes, expected) in cases {
            let status = status_of(config, port, bytes);
            assert!(expected.contains(&status), "{what}: got {status}");
        }
    }
}

fn percentile(sorted: &[Duration], percent: usize) -> f64 {
    sorted[(sorted.len() - 1) * percent / 100].as_secs_f64() * 1e3
}

#[test]
fn hostile_clients_do_not_starve_a_normal_client_or_grow_memory() {
    let started = Instant::now();
    let idle_tcp = raise_fd_limit();
    let wisp = Wisp::start("hostile");
    let config = tls_config(&wisp.dir.join("pki"));
    let port = wisp.port;
    let mut warm = Connection::open(&config, port);
    for _ in 0..20 {
        assert_eq!(warm.get(CONFIGMAPS).status, 200);
    }
    let before = rss(&wisp);
    let stop = Arc::new(AtomicBool::new(false));
    let normal = {
        let stop = stop.clone();
        std::thread::spawn(move || normal_client(warm, stop))
    };

    let (mut held, refused) = idle_flood(&config, port, 1000);
    let during_flood = rss(&wisp);
    let kept = held.iter_mut().map(alive).filter(|open| *open).count();
    eprintln!(
        "idle TLS flood: {} handshakes completed, {refused} refused, {kept} still open on \
         wisp's side (the oldest idle ones are closed for newcomers at the cap)",
        held.len()
    );
    assert!(
        kept <= MAX_CONNECTIONS && kept + refused < 1000,
        "wisp kept {kept} of 1,000 idle connections"
    );
    let t = Instant::now();
    assert_eq!(
        status_of(&config, port, request_bytes().as_bytes()),
        200,
        "a new client was not served during the idle TLS flood"
    );
    eprintln!(
        "a new client during the idle TLS flood was served in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(held);
    std::thread::sleep(Duration::from_millis(300));

    let flood_start = Instant::now();
    let tcp = tcp_flood(port, idle_tcp);
    let flood_secs = flood_start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_millis(500));
    let during_tcp_flood = rss(&wisp);
    // Connects still in the kernel's listen queue look open too: let wisp drain it.
    let sockets: Vec<&TcpStream> = tcp.iter().collect();
    let settle = Instant::now() + Duration::from_secs(5);
    let mut tcp_open = still_open(&sockets);
    while tcp_open > MAX_CONNECTIONS && Instant::now() < settle {
        std::thread::sleep(Duration::from_millis(200));
        tcp_open = still_open(&sockets);
    }
    // The cap is full of connections that never start TLS: wisp closes the oldest of them
    // for each newcomer, so a new client is served at once.
    let t = Instant::now();
    let status = status_of(&config, port, request_bytes().as_bytes());
    eprintln!(
        "a new client during the idle TCP flood got status {status} in {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    assert_eq!(
        status, 200,
        "a new client was not served during the idle TCP flood"
    );
    eprintln!(
        "idle TCP flood: {} connections opened in {flood_secs:.1} s and held at once, \
         {tcp_open} still open on wisp's side, {} closed by wisp",
        tcp.len(),
        tcp.len() - tcp_open
    );
    assert!(
        tcp.len() >= idle_tcp.min(4 * MAX_CONNECTIONS),
        "the flood opened only {} connections, not far beyond the cap of {MAX_CONNECTIONS}",
        tcp.len()
    );
    assert!(
        tcp_open < MAX_CONNECTIONS,
        "wisp holds {tcp_open} idle connections, over its cap of {MAX_CONNECTIONS}"
    );
    drop(tcp);
    let recovery = Instant::now();
    assert!(
        fresh_connection_served(&config, port),
        "wisp did not serve a new connection after the idle TCP flood"
    );
    eprintln!(
        "a new client was served {:.0} ms after the idle TCP flood ended",
        recovery.elapsed().as_secs_f64() * 1e3
    );

    let slow = {
        let (config, stop) = (config.clone(), stop.clone());
        std::thread::spawn(move || slowloris(&config, port, stop))
    };
    let (open_watches, refused_watches) = watches(&config, port, WATCHES);
    let with_watches = rss(&wisp);
    eprintln!(
        "watches: {} streaming, {refused_watches} refused with 429",
        open_watches.len()
    );
    assert!(
        open_watches.len() <= MAX_STREAMS && open_watches.len() + refused_watches == WATCHES,
        "watches: {} open, {refused_watches} refused",
        open_watches.len()
    );
    malformed_requests(&config, port);
    std::thread::sleep(Duration::from_secs(11));
    let slow_left = slow.join().unwrap_or(usize::MAX);
    let after = rss(&wisp);
    stop.store(true, Ordering::SeqCst);
    let mut latencies = normal.join().expect("the normal client kept getting 200");
    drop(open_watches);

    latencies.sort_unstable();
    eprintln!(
        "wisp VmRSS KiB: before {} (peak {}), during TLS idle flood {}, during TCP idle flood \
         {}, with the watches open {}, after all {} (peak {}); test ran {:.1} s",
        before.0,
        before.1,
        during_flood.0,
        during_tcp_flood.0,
        with_watches.0,
        after.0,
        after.1,
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "normal client: {} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        percentile(&latencies, 100)
    );
    assert_eq!(
        slow_left, 0,
        "slowloris connections outlived the header timeout"
    );
    assert!(latencies.len() > 100, "the normal client was starved");
    // The kernel updates VmHWM lazily (when RSS is about to shrink), so it can lag a
    // VmRSS sampled earlier: the peak is the largest of everything seen.
    let peak = [
        during_flood.0,
        during_tcp_flood.0,
        with_watches.0,
        after.0,
        after.1,
    ]
    .into_iter()
    .max()
    .unwrap_or(0);
    assert!(
        peak * 1024 <= IDLE_BUDGET,
        "wisp's resident peak {peak} KiB is over the 32 MiB budget"
    );
    wisp.stop_with_budget(IDLE_BUDGET);
}
