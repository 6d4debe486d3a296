//! Store benchmark, side by side with etcd 3.4 in one run (docs/budgets.md, "Store").
//!
//! `cargo bench -p wisp-store --bench store_bench -- [--seconds N] [--keys N] [--no-etcd]`
//!
//! wisp is driven in-process through its async API: N writer tasks on one smol LocalExecutor
//! thread, as the API server uses it. etcd (`/usr/bin/etcd`, default durable settings, loopback, temp data dir) is
//! driven through its JSON gRPC gateway over keep-alive HTTP/1.1, one connection per writer
//! thread: etcd's figures include HTTP, JSON/base64 and the gateway's internal gRPC hop, which
//! is real client-visible overhead but more than a native gRPC client would pay.

#![allow(clippy::cast_possible_truncation)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::future::block_on;
use wisp_store::{Options, Store, Value};

const VALUE_LEN: usize = 1024;
const WRITERS: [usize; 3] = [1, 16, 64];

struct Config {
    seconds: f64,
    keys: usize,
    etcd: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("rss-child") {
        rss_child(Path::new(&args[2]));
        return;
    }
    let mut config = Config {
        seconds: 5.0,
        keys: 100_000,
        etcd: true,
    };
    let mut it = args.iter().skip(1);
    while let Some(a) = it.next() {
        match a.as_str() {
            "--seconds" => config.seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(5.0),
            "--keys" => config.keys = it.next().and_then(|s| s.parse().ok()).unwrap_or(100_000),
            "--no-etcd" => config.etcd = false,
            _ => {}
        }
    }
    let root = tempfile::Builder::new()
        .prefix("wisp-bench")
        .tempdir_in(bench_dir())
        .expect("temp dir");
    println!(
        "bench dir {} (same filesystem for both), value {VALUE_LEN} B, {} s per put run, {} keys",
        root.path().display(),
        config.seconds,
        config.keys
    );
    let mut wisp = Results::default();
    let mut etcd = Results::default();
    for writers in WRITERS {
        compare_puts(root.path(), &config, writers, &mut wisp, &mut etcd);
    }
    wisp_load(root.path(), &config, &mut wisp);
    if config.etcd {
        etcd_load(root.path(), &config, &mut etcd);
    }
    print_table(&wisp, config.etcd.then_some(&etcd), &config);
}

fn bench_dir() -> PathBuf {
    std::env::var_os("WISP_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir)
}

#[derive(Default, Debug)]
struct Results {
    /// (writers, puts/s, p50 ms, p99 ms)
    puts: Vec<(usize, f64, f64, f64)>,
    /// Device bytes written per logical (key + value) byte, 1 writer and 16 writers.
    write_amp: Vec<(usize, f64)>,
    gets_per_s: f64,
    range_1000_ms: f64,
    open_ms: f64,
    rss_kib: u64,
    load_s: f64,
}

// ---------------------------------------------------------------- measurement helpers

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Runs `writers` threads calling `op(i)` until `seconds` pass; returns every latency.
fn timed_writers<F>(writers: usize, seconds: f64, make_op: impl Fn(usize) -> F) -> Vec<Duration>
where
    F: FnMut(usize) + Send + 'static,
{
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let threads: Vec<_> = (0..writers)
        .map(|t| {
            let mut op = make_op(t);
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    op(i);
                    lat.push(t0.elapsed());
                    i += 1;
                }
                lat
            })
        })
        .collect();
    threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect()
}

fn proc_field(path: &str, field: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn value(seed: usize) -> Vec<u8> {
    (0..VALUE_LEN)
        .map(|i| b'a' + ((i * 31 + seed) % 26) as u8)
        .collect()
}

// ---------------------------------------------------------------- wisp

/// Latencies, wall time and device bytes of some put runs.
#[derive(Default)]
struct Sample {
    lat: Vec<Duration>,
    elapsed: f64,
    device: u64,
}

impl Sample {
    fn report(mut self, name: &str, writers: usize, r: &mut Results) {
        self.lat.sort_unstable();
        let ops = self.lat.len() as f64 / self.elapsed;
        let (p50, p99) = (percentile(&self.lat, 0.5), percentile(&self.lat, 0.99));
        if writers != 64 {
            let logical = self.lat.len() as f64 * (VALUE_LEN + 20) as f64;
            r.write_amp.push((writers, self.device as f64 / logical));
        }
        println!(
            "{name}  puts  {writers:>2} writers: {ops:>9.0}/s  p50 {p50:.2} ms  p99 {p99:.2} ms"
        );
        r.puts.push((writers, ops, p50, p99));
    }
}

/// Slices of wisp and etcd put runs, alternating, so that load on the shared disk from
/// elsewhere hits both alike.
fn compare_puts(
    root: &Path,
    config: &Config,
    writers: usize,
    wisp: &mut Results,
    etcd: &mut Results,
) {
    const SLICES: usize = 5;
    let slice = config.seconds / SLICES as f64;
    let dir = root.join(format!("wisp-puts-{writers}"));
    let store = Store::open(&dir, Options::default()).unwrap();
    let server = config
        .etcd
        .then(|| start_etcd(&root.join(format!("etcd-puts-{writers}"))));
    let (mut ws, mut es) = (Sample::default(), Sample::default());
    for round in 0..SLICES {
        wisp_slice(&store, writers, slice, round, &mut ws);
        if let Some(server) = &server {
            etcd_slice(server, writers, slice, round, &mut es);
        }
    }
    ws.report("wisp", writers, wisp);
    if server.is_some() {
        es.report("etcd", writers, etcd);
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `writers` concurrent tasks on one smol LocalExecutor thread, as wisp's API server runs.
fn wisp_slice(store: &Store, writers: usize, seconds: f64, round: usize, sample: &mut Sample) {
    let io_before = proc_field("/proc/self/io", "write_bytes:");
    let ex = smol::LocalExecutor::new();
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|t| {
            let store = store.clone();
            ex.spawn(async move {
                let mut lat = Vec::new();
                let mut i = 0;
                while Instant::now() < deadline {
                    let t0 = Instant::now();
                    let key = format!("/bench/r{round}/w{t}/{i:08}");
                    store
                        .put(key.as_bytes(), Value::Bytes(value(i)))
                        .await
                        .unwrap();
                    lat.push(t0.elapsed());
                    i += 1;
                }
                lat
            })
        })
        .collect();
    block_on(ex.run(async {
        for t in tasks {
            sample.lat.extend(t.await);
        }
    }));
    sample.elapsed += start.elapsed().as_secs_f64();
    sample.device += proc_field("/proc/self/io", "write_bytes:") - io_before;
}

fn wisp_load(root: &Path, config: &Config, r: &mut Results) {
    let dir = root.join("wisp-load");
    let store = Store::open(&dir, Options::default()).unwrap();
    let t0 = Instant::now();
    load(config.keys, |i| {
        block_on(store.put(format!("/load/{i:08}").as_bytes(), Value::Bytes(value(i)))).unwrap();
    });
    r.load_s = t0.elapsed().as_secs_f64();
    r.gets_per_s = {
        let t0 = Instant::now();
        let mut n = 0usize;
        while t0.elapsed() < Duration::from_secs(1) {
            let k = (n * 7919) % config.keys;
            assert!(store.get(format!("/load/{k:08}").as_bytes()).is_some());
            n += 1;
        }
        n as f64 / t0.elapsed().as_secs_f64()
    };
    r.range_1000_ms = {
        let t0 = Instant::now();
        let mut n = 0usize;
        while t0.elapsed() < Duration::from_secs(1) {
            let start = format!("/load/{:08}", (n * 7919) % (config.keys - 1000));
            let page = store.range(b"/load/", 1000, Some(start.as_bytes()));
            assert_eq!(page.kvs.len(), 1000);
            n += 1;
        }
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64
    };
    rewrite_all(&store, &dir, config.keys);
    drop(store);
    let child = Command::new(std::env::current_exe().unwrap())
        .arg("rss-child")
        .arg(&dir)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&child.stdout);
    let mut parts = out.split_whitespace();
    r.open_ms = parts
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(f64::NAN);
    r.rss_kib = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    println!(
        "wisp  {} keys loaded in {:.1} s; gets {:.0}/s; range 1000 {:.2} ms; open {:.0} ms; RSS {} KiB",
        config.keys, r.load_s, r.gets_per_s, r.range_1000_ms, r.open_ms, r.rss_kib
    );
}

/// Overwrites every key once (the dead bytes then pass the threshold, so a compaction of the
/// whole live set runs on the committer thread meanwhile) and prints the longest put stall
/// and the disk use afterwards.
fn rewrite_all(store: &Store, dir: &Path, keys: usize) {
    let worst = std::sync::Mutex::new(Duration::ZERO);
    let t0 = Instant::now();
    load(keys, |i| {
        let t = Instant::now();
        block_on(store.put(
            format!("/load/{i:08}").as_bytes(),
            Value::Bytes(value(i + 1)),
        ))
        .unwrap();
        let mut w = worst.lock().unwrap();
        *w = (*w).max(t.elapsed());
    });
    let disk: u64 = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let live = keys as u64 * (VALUE_LEN as u64 + 30);
    println!(
        "wisp  rewrite of {keys} keys in {:.1} s; longest put {:.0} ms; disk {:.1} MiB for {:.1} MiB live",
        t0.elapsed().as_secs_f64(),
        worst.lock().unwrap().as_secs_f64() * 1000.0,
        disk as f64 / 1048576.0,
        live as f64 / 1048576.0
    );
}

/// Writes keys 0..n from 64 threads.
fn load(n: usize, put: impl Fn(usize) + Sync) {
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..64 {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    put(i);
                }
            });
        }
    });
}

/// Opens the store, reads 1,000 keys, prints "open_ms rss_kib".
fn rss_child(dir: &Path) {
    let t0 = Instant::now();
    let store = Store::open(dir, Options::default()).unwrap();
    let open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    let keys = store.len();
    for i in 0..1000 {
        let _ = store.get(format!("/load/{:08}", (i * 7919) % keys.max(1)).as_bytes());
    }
    println!("{open_ms:.1} {}", proc_field("/proc/self/status", "VmRSS:"));
}

// ---------------------------------------------------------------- etcd

struct Etcd {
    child: Child,
    port: u16,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_etcd(dir: &Path) -> Etcd {
    let (client, peer) = (23790u16, 23800u16);
    let child = Command::new("/usr/bin/etcd")
        .arg("--data-dir")
        .arg(dir)
        .arg("--name")
        .arg("bench")
        .arg("--listen-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--advertise-client-urls")
        .arg(format!("http://127.0.0.1:{client}"))
        .arg("--listen-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-advertise-peer-urls")
        .arg(format!("http://127.0.0.1:{peer}"))
        .arg("--initial-cluster")
        .arg(format!("bench=http://127.0.0.1:{peer}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start /usr/bin/etcd");
    let etcd = Etcd {
        child,
        port: client,
    };
    let t0 = Instant::now();
    loop {
        if let Ok(mut c) = HttpClient::connect(client)
            && c.post("/v3/kv/range", "{\"key\":\"AA==\"}").is_ok()
        {
            return etcd;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "etcd did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `writers` threads, one keep-alive connection each.
fn etcd_slice(etcd: &Etcd, writers: usize, seconds: f64, round: usize, sample: &mut Sample) {
    let io = format!("/proc/{}/io", etcd.child.id());
    let io_before = proc_field(&io, "write_bytes:");
    let port = etcd.port;
    let start = Instant::now();
    let lat = timed_writers(writers, seconds, |t| {
        let mut c = HttpClient::connect(port).unwrap();
        move |i| {
            let body = put_body(&format!("/bench/r{round}/w{t}/{i:08}"), &value(i));
            c.post("/v3/kv/put", &body).unwrap();
        }
    });
    sample.elapsed += start.elapsed().as_secs_f64();
    sample.lat.extend(lat);
    sample.device += proc_field(&io, "write_bytes:") - io_before;
}

fn etcd_load(root: &Path, config: &Config, r: &mut Results) {
    let etcd = start_etcd(&root.join("etcd-load"));
    let port = etcd.port;
    let t0 = Instant::now();
    let clients: Vec<std::sync::Mutex<HttpClient>> = (0..64)
        .map(|_| std::sync::Mutex::new(HttpClient::connect(port).unwrap()))
        .collect();
    let clients = Arc::new(clients);
    let slot = std::sync::atomic::AtomicUsize::new(0);
    thread_local!(static SLOT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) });
    load(config.keys, |i| {
        let s = SLOT.with(|c| {
            if c.get() == usize::MAX {
                c.set(slot.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
            }
            c.get()
        });
        let body = put_body(&format!("/load/{i:08}"), &value(i));
        clients[s]
            .lock()
            .unwrap()
            .post("/v3/kv/put", &body)
            .unwrap();
    });
    r.load_s = t0.elapsed().as_secs_f64();
    let mut c = HttpClient::connect(port).unwrap();
    r.gets_per_s = {
        let t0 = Instant::now();
        let mut n = 0usize;
        while t0.elapsed() < Duration::from_secs(1) {
            let k = format!("/load/{:08}", (n * 7919) % config.keys);
            c.post(
                "/v3/kv/range",
                &format!("{{\"key\":\"{}\"}}", b64(k.as_bytes())),
            )
            .unwrap();
            n += 1;
        }
        n as f64 / t0.elapsed().as_secs_f64()
    };
    r.range_1000_ms = {
        let t0 = Instant::now();
        let mut n = 0usize;
        while t0.elapsed() < Duration::from_secs(1) {
            let start = format!("/load/{:08}", (n * 7919) % (config.keys - 1000));
            let body = format!(
                "{{\"key\":\"{}\",\"range_end\":\"{}\",\"limit\":1000}}",
                b64(start.as_bytes()),
                b64(b"/load0")
            );
            let resp = c.post("/v3/kv/range", &body).unwrap();
            assert!(resp.len() > 1000 * VALUE_LEN, "short range response");
            n += 1;
        }
        t0.elapsed().as_secs_f64() * 1000.0 / n as f64
    };
    r.rss_kib = proc_field(&format!("/proc/{}/status", etcd.child.id()), "VmRSS:");
    drop(c);
    drop(etcd);
    // Restart time: until the first successful request.
    let t0 = Instant::now();
    let etcd = start_etcd(&root.join("etcd-load"));
    r.open_ms = t0.elapsed().as_secs_f64() * 1000.0;
    drop(etcd);
    println!(
        "etcd  {} keys loaded in {:.1} s; gets {:.0}/s; range 1000 {:.2} ms; restart {:.0} ms; RSS {} KiB",
        config.keys, r.load_s, r.gets_per_s, r.range_1000_ms, r.open_ms, r.rss_kib
    );
}

fn put_body(key: &str, value: &[u8]) -> String {
    format!(
        "{{\"key\":\"{}\",\"value\":\"{}\"}}",
        b64(key.as_bytes()),
        b64(value)
    )
}

fn b64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            out.push(if i <= c.len() {
                A[((n >> shift) & 63) as usize] as char
            } else {
                '='
            });
        }
    }
    out
}

/// Minimal keep-alive HTTP/1.1 client for etcd's JSON gateway.
struct HttpClient {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl HttpClient {
    fn connect(port: u16) -> std::io::Result<HttpClient> {
        let s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_nodelay(true)?;
        Ok(HttpClient {
            reader: BufReader::new(s.try_clone()?),
            writer: s,
        })
    }

    fn post(&mut self, path: &str, body: &str) -> std::io::Result<Vec<u8>> {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        self.writer.write_all(req.as_bytes())?;
        let mut status = String::new();
        self.reader.read_line(&mut status)?;
        if !status.starts_with("HTTP/1.1 200") {
            return Err(std::io::Error::other(format!("etcd answered {status:?}")));
        }
        let (mut len, mut chunked) = (0usize, false);
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line)?;
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap_or(0);
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let mut body = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                self.reader.read_line(&mut size)?;
                let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
                let mut chunk = vec![0; n + 2];
                self.reader.read_exact(&mut chunk)?;
                if n == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..n]);
            }
        } else {
            body.resize(len, 0);
            self.reader.read_exact(&mut body)?;
        }
        Ok(body)
    }
}

// ---------------------------------------------------------------- report

fn print_table(w: &Results, e: Option<&Results>, config: &Config) {
    println!();
    println!("| figure | wisp | etcd 3.4 | wisp / etcd |");
    println!("|---|---|---|---|");
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.1}x", a / b)
        } else {
            "-".into()
        }
    };
    for (i, &(writers, ops, _, p99)) in w.puts.iter().enumerate() {
        let (eops, ep99) = e.map_or((0.0, 0.0), |e| (e.puts[i].1, e.puts[i].3));
        println!(
            "| durable 1 KiB puts/s, {writers} writers | {ops:.0} | {eops:.0} | {} |",
            ratio(ops, eops)
        );
        println!(
            "| put p99 latency, {writers} writers | {p99:.2} ms | {ep99:.2} ms | {} |",
            ratio(p99, ep99)
        );
    }
    for (i, &(writers, amp)) in w.write_amp.iter().enumerate() {
        let eamp = e.map_or(0.0, |e| e.write_amp[i].1);
        println!(
            "| device bytes written per logical byte, {writers} writers | {amp:.2} | {eamp:.2} | {} |",
            ratio(amp, eamp)
        );
    }
    let keys = config.keys;
    let row = |name: &str, a: f64, b: f64, unit: &str| {
        println!("| {name} | {a:.2}{unit} | {b:.2}{unit} | {} |", ratio(a, b))
    };
    let get = |f: fn(&Results) -> f64| e.map_or(0.0, f);
    row(
        &format!("load {keys} keys, 64 writers"),
        w.load_s,
        get(|e| e.load_s),
        " s",
    );
    row("gets/s, 1 reader", w.gets_per_s, get(|e| e.gets_per_s), "");
    row(
        "range of 1,000 keys",
        w.range_1000_ms,
        get(|e| e.range_1000_ms),
        " ms",
    );
    row(
        &format!("open / restart with {keys} keys"),
        w.open_ms,
        get(|e| e.open_ms),
        " ms",
    );
    row(
        &format!("RSS with {keys} keys"),
        w.rss_kib as f64 / 1024.0,
        get(|e| e.rss_kib as f64) / 1024.0,
        " MiB",
    );
}
