//! A real kill test: the test binary re-executes itself as a child that writes continuously
//! and prints each acknowledged revision; the parent SIGKILLs it at random moments, reopens
//! the store and checks every acknowledged write. Skipped under emulation (WISP_EMULATED=1).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_lite::future::block_on;
use wisp_store::{Options, Store, Value};

use crate::Rng;

const CHILD_DIR: &str = "WISP_STORE_KILL_CHILD_DIR";
const CHILD_ROUND: &str = "WISP_STORE_KILL_CHILD_ROUND";
const ROUNDS: u32 = 30;

fn options() -> Options {
    Options {
        compaction_min_dead_bytes: 64 << 10,
        volatile_prefixes: vec![b"/v/".to_vec()],
        ..Options::default()
    }
}

fn value_for(key: &str, revision: u64) -> Vec<u8> {
    let mut v = format!("{key}@{revision}").into_bytes();
    v.resize(300, b'.');
    v
}

/// The child's body; a no-op when run as an ordinary test.
#[test]
fn kill_child_entry() {
    let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) else {
        return;
    };
    let store = Store::open(Path::new(&dir), options()).expect("child open");
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            let round = round.clone();
            std::thread::spawn(move || {
                for i in 0.. {
                    let key = if i % 2 == 0 {
                        format!("/r{round}/t{t}/{i}")
                    } else {
                        format!("/r{round}/shared{t}")
                    };
                    let k = key.clone();
                    let rev = block_on(store.put(
                        key.as_bytes(),
                        Value::WithRevision(Box::new(move |r| value_for(&k, r))),
                    ))
                    .unwrap();
                    if i % 5 == 0 {
                        block_on(store.put(b"/v/lease", Value::Bytes(vec![1]))).unwrap();
                    }
                    println!("ack {key} {rev}");
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

#[test]
fn sigkill_at_random_points_loses_no_acknowledged_write() {
    if std::env::var(CHILD_DIR).is_ok() {
        return;
    }
    if std::env::var("WISP_EMULATED").as_deref() == Ok("1") {
        println!(
            "skipped: WISP_EMULATED=1 (re-executing the test binary under qemu-user is too slow)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    println!("kill test seed {seed}");
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let mut total_acks = 0;
    let mut last_revision = 0;
    for round in 0..ROUNDS {
        let life = Duration::from_millis(40 + rng.below(200));
        let Some(acks) = run_child(dir.path(), round, life) else {
            println!("skipped: this binary cannot re-execute itself here (no binfmt for it)");
            return;
        };
        let store = Store::open(dir.path(), options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        assert!(
            store.current_revision() >= last_revision,
            "round {round}: revision went backwards"
        );
        for (key, revision) in &acks {
            let kv = store
                .get(key.as_bytes())
                .unwrap_or_else(|| panic!("round {round}: acknowledged {key}@{revision} lost"));
            assert!(
                kv.mod_revision >= *revision,
                "round {round}: {key} at {} < acknowledged {revision}",
                kv.mod_revision
            );
            assert_eq!(
                &*kv.value,
                &value_for(key, kv.mod_revision)[..],
                "round {round}: {key} value"
            );
            last_revision = last_revision.max(*revision);
        }
        assert!(store.current_revision() >= last_revision);
        total_acks += acks.len();
    }
    println!(
        "{ROUNDS} kills, {total_acks} acknowledged writes checked in {:?}",
        started.elapsed()
    );
    assert!(
        total_acks > ROUNDS as usize * 5,
        "children acknowledged too little: {total_acks}"
    );
}

/// Runs one child for `life`, SIGKILLs it, and returns the writes it acknowledged.
fn run_child(dir: &Path, round: u32, life: Duration) -> Option<Vec<(String, u64)>> {
    let spawned = Command::new(std::env::current_exe().unwrap())
        .args([
            "kill::kill_child_entry",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_DIR, dir)
        .env(CHILD_ROUND, round.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn();
    let mut child = match spawned {
        Err(e) if e.raw_os_error() == Some(8) => return None, // ENOEXEC: foreign binary
        other => other.expect("spawn child"),
    };
    let stdout = child.stdout.take().unwrap();
    let (first_ack_tx, first_ack) = std::sync::mpsc::channel::<()>();
    let reader = std::thread::spawn(move || {
        let mut first_ack_tx = Some(first_ack_tx);
        let mut acks = Vec::new();
        let mut stdout = BufReader::new(stdout);
        let mut line = Vec::new();
        // A line cut by the kill has no newline and is not counted.
        while stdout.read_until(b'\n', &mut line).unwrap_or(0) > 0 && line.ends_with(b"\n") {
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let mut parts = text.split(' ');
            if let (Some("ack"), Some(key), Some(rev)) = (parts.next(), parts.next(), parts.next())
                && let Ok(rev) = rev.parse()
            {
                acks.push((key.to_string(), rev));
                if let Some(tx) = first_ack_tx.take() {
                    let _ = tx.send(());
                }
            }
            line.clear();
        }
        acks
    });
    // The random life counts from the child's first acknowledged write, so a loaded machine
    // (slow child start-up) still kills children mid-stream rather than before they write.
    let _ = first_ack.recv_timeout(Duration::from_secs(30));
    std::thread::sleep(life);
    child.kill().expect("SIGKILL");
    child.wait().unwrap();
    Some(reader.join().unwrap())
}
