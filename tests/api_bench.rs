//! API server benchmarks (issue 4): figures, not pass/fail timings. Ignored by default; run
//! them on a quiet machine with the release build:
//!
//! ```sh
//! cargo test --release --test api_bench -- --ignored --nocapture --test-threads=1
//! ```
//!
//! Each benchmark starts the real `wisp run` (durable store on the temp dir's file system)
//! and talks HTTPS to it with rustls and the admin client certificate over keep-alive
//! connections, as kubectl and controllers do. Results are printed as a table.

#[path = "support/https_client.rs"]
mod https_client;
mod support;

use std::sync::{Arc, Barrier, mpsc};
use std::time::{Duration, Instant};

use https_client::{Connection, tls_config};
use support::Wisp;

const CONFIGMAPS: &str = "/api/v1/namespaces/default/configmaps";

/// A ConfigMap of about 400 bytes of JSON: three labels and a few data keys.
fn configmap(name: &str) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","labels":{{"app":"bench","tier":"backend","team":"platform"}}}},"data":{{"mode":"fast","level":"3","endpoint":"https://service.example.internal:8443/v1/things","note":"benchmark object with a little realistic payload in it"}}}}"#
    )
    .into_bytes()
}

fn create(conn: &mut Connection, name: &str) {
    let r = conn.request("POST", CONFIGMAPS, "application/json", &configmap(name));
    assert_eq!(r.status, 201, "{}", r.text());
}

fn update(conn: &mut Connection, name: &str, n: usize) {
    let patch = format!(r#"{{"data":{{"level":"{n}"}}}}"#);
    let r = conn.request(
        "PATCH",
        &format!("{CONFIGMAPS}/{name}"),
        "application/merge-patch+json",
        patch.as_bytes(),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Latency percentiles of a sample, in microseconds.
struct Percentiles {
    p50: f64,
    p99: f64,
    max: f64,
}

fn percentiles(mut samples: Vec<Duration>) -> Percentiles {
    samples.sort_unstable();
    // Nearest rank: the sample below which `percent` of the samples lie.
    let at = |percent: usize| {
        let i = (samples.len() - 1) * percent / 100;
        samples[i].as_secs_f64() * 1e6
    };
    Percentiles {
        p50: at(50),
        p99: at(99),
        max: at(100),
    }
}

fn timed(mut op: impl FnMut(usize), count: usize) -> (Vec<Duration>, Duration) {
    let start = Instant::now();
    let samples = (0..count)
        .map(|i| {
            let t = Instant::now();
            op(i);
            t.elapsed()
        })
        .collect();
    (samples, start.elapsed())
}

fn row(name: &str, count: usize, samples: Vec<Duration>, total: Duration) {
    let p = percentiles(samples);
    println!(
        "| {name} | {count} | {:.0} | {:.0} | {:.0} | {:.0} |",
        p.p50,
        p.p99,
        p.max,
        count as f64 / total.as_secs_f64()
    );
}

fn header() {
    println!("| operation | requests | p50 µs | p99 µs | max µs | per second |");
    println!("|---|---:|---:|---:|---:|---:|");
}

#[test]
#[ignore = "benchmark: cargo test --release --test api_bench -- --ignored --nocapture"]
fn read_and_write_latency_and_throughput() {
    let wisp = Wisp::start("bench-rw");
    let config = tls_config(&wisp.dir.join("pki"));
    let mut conn = Connection::open(&config, wisp.port);
    header();

    let (samples, total) = timed(|i| create(&mut conn, &format!("cm-{i:04}")), 1000);
    row("create, sequential (durable)", 1000, samples, total);
    let (samples, total) = timed(
        |i| update(&mut conn, &format!("cm-{:04}", i % 1000), i),
        1000,
    );
    row(
        "update (merge patch), sequential (durable)",
        1000,
        samples,
        total,
    );

    let (samples, total) = timed(
        |i| {
            let r = conn.get(&format!("{CONFIGMAPS}/cm-{:04}", (i * 7919) % 1000));
            assert_eq!(r.status, 200);
        },
        2000,
    );
    row("GET one ConfigMap", 2000, samples, total);

    let mut size = 0;
    let (samples, total) = timed(
        |_| {
            let r = conn.get(CONFIGMAPS);
            assert_eq!(r.status, 200);
            size = r.body.len();
        },
        50,
    );
    row(
        &format!("LIST 1,000 ConfigMaps ({size} B)"),
        50,
        samples,
        total,
    );
    let (samples, total) = timed(
        |_| {
            let r = conn.get(&format!("{CONFIGMAPS}?limit=500"));
            assert_eq!(r.status, 200);
        },
        50,
    );
    row("LIST first page of 500 (limit=500)", 50, samples, total);

    for (label, op) in [("create", 0), ("update (merge patch)", 1)] {
        let (samples, total) = concurrently(&config, wisp.port, 16, 100, op);
        row(
            &format!("{label}, 16 connections (durable)"),
            1600,
            samples,
            total,
        );
    }
    let (rss, hwm) = wisp.memory();
    println!(
        "\nwisp after 2,600 ConfigMaps: VmRSS {} KiB, VmHWM {} KiB",
        rss / 1024,
        hwm / 1024
    );
    wisp.stop_with_budget(256 << 20);
}

/// `per_connection` creates (op 0) or updates (op 1) on each of `connections` connections
/// at once; returns every request's latency and the wall time.
fn concurrently(
    config: &Arc<rustls::ClientConfig>,
    port: u16,
    connections: usize,
    per_connection: usize,
    op: u8,
) -> (Vec<Duration>, Duration) {
    let barrier = Arc::new(Barrier::new(connections + 1));
    let (tx, rx) = mpsc::channel();
    for c in 0..connections {
        let (config, barrier, tx) = (config.clone(), barrier.clone(), tx.clone());
        std::thread::spawn(move || {
            let mut conn = Connection::open(&config, port);
            barrier.wait();
            let (samples, _) = timed(
                |i| {
                    let name = format!("par-{c:02}-{i:03}");
                    if op == 0 {
                        create(&mut conn, &name);
                    } else {
                        update(&mut conn, &name, i);
                    }
                },
                per_connection,
            );
            tx.send(samples).expect("collector");
        });
    }
    drop(tx);
    barrier.wait();
    let start = Instant::now();
    let samples: Vec<Duration> = rx.iter().flatten().collect();
    let total = start.elapsed();
    assert_eq!(samples.len(), connections * per_connection);
    (samples, total)
}

#[test]
#[ignore = "benchmark: cargo test --release --test api_bench -- --ignored --nocapture"]
fn watch_fan_out_to_100_watchers() {
    const WATCHERS: usize = 100;
    const ROUNDS: usize = 10;
    let wisp = Wisp::start("bench-watch");
    let config = tls_config(&wisp.dir.join("pki"));
    let mut conn = Connection::open(&config, wisp.port);
    create(&mut conn, "fan");
    let (tx, rx) = mpsc::channel::<(usize, Instant)>();
    let ready = Arc::new(Barrier::new(WATCHERS + 1));
    for w in 0..WATCHERS {
        let (config, tx, ready) = (config.clone(), tx.clone(), ready.clone());
        let port = wisp.port;
        std::thread::spawn(move || {
            let mut watch = Connection::open(&config, port);
            let status = watch.start_stream(&format!(
                "{CONFIGMAPS}?watch=true&fieldSelector=metadata.name%3Dfan&resourceVersion=0"
            ));
            assert_eq!(status, 200, "watcher {w}");
            // The synthetic ADDED for resourceVersion=0 shows the watch is live.
            let first = watch.read_chunk().expect("ADDED");
            assert!(String::from_utf8_lossy(&first).contains("\"ADDED\""));
            ready.wait();
            while let Some(chunk) = watch.read_chunk() {
                if String::from_utf8_lossy(&chunk).contains("\"MODIFIED\"") {
                    let _ = tx.send((w, Instant::now()));
                }
            }
        });
    }
    drop(tx);
    ready.wait();
    println!("| round | first watcher µs | median µs | last watcher µs |");
    println!("|---:|---:|---:|---:|");
    let mut lasts = Vec::new();
    for round in 0..ROUNDS {
        let start = Instant::now();
        update(&mut conn, "fan", round);
        let mut seen: Vec<Duration> = (0..WATCHERS)
            .map(|_| {
                let (_, at) = rx
                    .recv_timeout(Duration::from_secs(30))
                    .expect("every watcher sees the update");
                at - start
            })
            .collect();
        seen.sort_unstable();
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        println!(
            "| {round} | {:.0} | {:.0} | {:.0} |",
            us(seen[0]),
            us(seen[WATCHERS / 2]),
            us(seen[WATCHERS - 1])
        );
        lasts.push(seen[WATCHERS - 1]);
        std::thread::sleep(Duration::from_millis(50));
    }
    let p = percentiles(lasts);
    println!(
        "\n{WATCHERS} watchers, update to last delivery: median {:.0} µs, worst {:.0} µs over {ROUNDS} rounds",
        p.p50, p.max
    );
    let (rss, hwm) = wisp.memory();
    println!(
        "wisp with {WATCHERS} watches open: VmRSS {} KiB, VmHWM {} KiB",
        rss / 1024,
        hwm / 1024
    );
    // The watcher threads block in reads until wisp goes away.
    wisp.stop_with_budget(256 << 20);
}

#[test]
#[ignore = "benchmark: cargo test --release --test api_bench -- --ignored --nocapture"]
fn resident_memory_with_2000_objects() {
    let wisp = Wisp::start("bench-rss");
    std::thread::sleep(Duration::from_secs(2));
    let (idle_rss, _) = wisp.memory();
    let config = tls_config(&wisp.dir.join("pki"));
    let mut conn = Connection::open(&config, wisp.port);
    for i in 0..2000 {
        create(&mut conn, &format!("obj-{i:04}"));
    }
    drop(conn);
    std::thread::sleep(Duration::from_secs(5));
    let (rss, hwm) = wisp.memory();
    // A LIST of everything, as an informer's initial sync would do.
    let mut conn = Connection::open(&config, wisp.port);
    assert_eq!(conn.get(CONFIGMAPS).status, 200);
    drop(conn);
    std::thread::sleep(Duration::from_secs(2));
    let (rss_after_list, hwm_after_list) = wisp.memory();
    println!("| state | VmRSS KiB | VmHWM KiB |");
    println!("|---|---:|---:|");
    println!("| idle (fresh data dir) | {} | - |", idle_rss / 1024);
    println!(
        "| 2,000 ConfigMaps created, settled 5 s | {} | {} |",
        rss / 1024,
        hwm / 1024
    );
    println!(
        "| after one LIST of all 2,000 | {} | {} |",
        rss_after_list / 1024,
        hwm_after_list / 1024
    );
    wisp.stop_with_budget(96 << 20);
}
