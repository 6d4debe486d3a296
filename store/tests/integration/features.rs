//! Feature tests: volatile prefixes, compaction and its disk bound, group commit, watches
//! on a single-threaded executor, the directory lock on a real filesystem.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures_lite::future::block_on;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{EventKind, OpenError, Options, Store, Value, WatchError};

use crate::open_sim;

fn volatile_options() -> Options {
    Options {
        volatile_prefixes: vec![b"/registry/leases/".to_vec()],
        volatile_revision_reserve: 1000,
        ..Options::default()
    }
}

#[test]
fn volatile_writes_touch_no_disk_and_revisions_never_go_back() {
    let sim = SimBackend::new();
    let store = open_sim(&sim, volatile_options());
    block_on(store.put(b"/registry/pods/a", Value::Bytes(b"pod".to_vec()))).unwrap();
    let (syncs, written) = (sim.sync_count(), sim.bytes_written());
    let mut last = 0;
    for i in 0..500 {
        last = block_on(store.put(
            b"/registry/leases/node",
            Value::Bytes(format!("renew {i}").into_bytes()),
        ))
        .unwrap();
    }
    assert_eq!(
        (sim.sync_count(), sim.bytes_written()),
        (syncs, written),
        "volatile writes hit the disk"
    );
    assert_eq!(
        &*store.get(b"/registry/leases/node").unwrap().value,
        b"renew 499"
    );
    drop(store);
    let store = open_sim(&sim.crash_image(0), volatile_options());
    assert!(
        store.get(b"/registry/leases/node").is_none(),
        "volatile keys do not survive"
    );
    assert!(store.get(b"/registry/pods/a").is_some());
    assert!(
        store.current_revision() >= last,
        "revision {} < {last}",
        store.current_revision()
    );
}

#[test]
fn volatile_writes_past_the_reservation_persist_a_floor() {
    let sim = SimBackend::new();
    let options = Options {
        volatile_revision_reserve: 10,
        ..volatile_options()
    };
    let store = open_sim(&sim, options.clone());
    let mut last = 0;
    for _ in 0..35 {
        last = block_on(store.put(b"/registry/leases/x", Value::Bytes(vec![1]))).unwrap();
    }
    let syncs = sim.sync_count();
    assert!(
        (3..=6).contains(&syncs),
        "{syncs} syncs for 35 volatile writes with a reserve of 10"
    );
    drop(store);
    let store = open_sim(&sim.crash_image(0), options);
    assert!(store.current_revision() >= last);
    assert!(block_on(store.put(b"/a", Value::Bytes(vec![]))).unwrap() > last);
}

#[test]
fn compaction_bounds_disk_and_keeps_data() {
    let sim = SimBackend::new();
    let options = Options {
        compaction_min_dead_bytes: 16 << 10,
        preallocate_bytes: 4096,
        ..Options::default()
    };
    let store = open_sim(&sim, options.clone());
    let live_keys = 20usize;
    for round in 0..60u32 {
        for k in 0..live_keys {
            let value = vec![(round % 250) as u8; 500];
            block_on(store.put(format!("/k/{k}").as_bytes(), Value::Bytes(value))).unwrap();
        }
        // One preallocation step of slack.
        let disk: usize = sim
            .names()
            .iter()
            .filter_map(|n| sim.read_file(n))
            .map(|b| b.len())
            .sum();
        let live = live_keys * 530;
        assert!(
            disk <= 2 * live + (16 << 10) + 2 * 4096,
            "round {round}: {disk} bytes on disk for {live} live"
        );
    }
    let segments: Vec<String> = sim
        .names()
        .into_iter()
        .filter(|n| n.starts_with("seg-"))
        .collect();
    assert_eq!(segments.len(), 1);
    assert_ne!(
        segments[0], "seg-0000000000000001.log",
        "no compaction happened"
    );
    let rev = store.current_revision();
    drop(store);
    let store = open_sim(&sim.crash_image(0), options);
    assert_eq!(store.current_revision(), rev);
    for k in 0..live_keys {
        let kv = store.get(format!("/k/{k}").as_bytes()).unwrap();
        assert_eq!((kv.value[0], kv.version), (59, 60));
    }
}

#[test]
fn compact_expires_old_watch_starts() {
    let sim = SimBackend::new();
    let store = open_sim(&sim, Options::default());
    for i in 0..10u8 {
        block_on(store.put(b"/w", Value::Bytes(vec![i]))).unwrap();
    }
    let mut lagging = store.watch(b"/w", 2).unwrap();
    block_on(store.compact(6)).unwrap();
    assert_eq!(
        store.watch(b"/w", 5).unwrap_err(),
        WatchError::Compacted {
            requested: 5,
            oldest: 6
        }
    );
    let mut ok = store.watch(b"/w", 6).unwrap();
    assert_eq!(ok.try_next().unwrap().unwrap().kv.mod_revision, 7);
    assert!(matches!(
        lagging.try_next(),
        Some(Err(WatchError::Compacted { .. }))
    ));
    assert!(block_on(store.compact(99)).is_err(), "future revision");
}

#[test]
fn watch_window_drops_old_events() {
    let sim = SimBackend::new();
    let store = open_sim(
        &sim,
        Options {
            watch_window: 5,
            ..Options::default()
        },
    );
    let mut w = store.watch(b"", 0).unwrap();
    for i in 0..20u8 {
        block_on(store.put(b"/x", Value::Bytes(vec![i]))).unwrap();
    }
    assert!(matches!(
        w.try_next(),
        Some(Err(WatchError::Compacted { .. }))
    ));
    assert!(store.watch(b"", 10).is_err());
    assert!(store.watch(b"", 16).is_ok());
}

#[test]
fn group_commit_shares_syncs() {
    let sim = SimBackend::new();
    sim.set_sync_delay(Duration::from_millis(3));
    let store = open_sim(
        &sim,
        Options {
            preallocate_bytes: 4096,
            ..Options::default()
        },
    );
    let before = sim.sync_count();
    let threads: Vec<_> = (0..16)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for i in 0..20 {
                    block_on(store.put(format!("/t{t}/{i}").as_bytes(), Value::Bytes(vec![0; 64])))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let syncs = sim.sync_count() - before;
    assert_eq!(store.len(), 320);
    assert!(syncs < 120, "{syncs} syncs for 320 concurrent writes");
}

#[test]
fn with_revision_closure_runs_once_and_its_bytes_are_served() {
    let sim = SimBackend::new();
    let store = open_sim(&sim, Options::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let value = Value::WithRevision(Box::new(move |rev| {
        c.fetch_add(1, Ordering::SeqCst);
        format!("{{\"resourceVersion\":\"{rev}\"}}").into_bytes()
    }));
    let rev = block_on(store.put(b"/obj", value)).unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(
        &*store.get(b"/obj").unwrap().value,
        format!("{{\"resourceVersion\":\"{rev}\"}}").as_bytes()
    );
}

#[test]
fn watchers_on_a_local_executor_see_concurrent_writes_in_order() {
    let sim = SimBackend::new();
    let store = open_sim(&sim, Options::default());
    let ex = smol::LocalExecutor::new();
    // The watch starts at the current revision, so it must exist before the writer runs:
    // under emulation the writer thread can finish writes before this thread reaches `watch`.
    let mut w = store.watch(b"/p/", 0).unwrap();
    let writer_store = store.clone();
    let writer = std::thread::spawn(move || {
        for i in 0..200u32 {
            let key = format!("/p/{}", i % 7);
            block_on(writer_store.put(key.as_bytes(), Value::Bytes(i.to_le_bytes().to_vec())))
                .unwrap();
            if i % 3 == 0 {
                block_on(writer_store.delete(key.as_bytes())).unwrap();
            }
        }
    });
    let events = block_on(ex.run(async {
        let mut seen = Vec::new();
        let mut puts = 0;
        while puts < 200 {
            let e = w.next().await.unwrap().unwrap();
            puts += usize::from(e.kind == EventKind::Put);
            seen.push(e);
        }
        seen
    }));
    writer.join().unwrap();
    assert!(
        events
            .windows(2)
            .all(|p| p[0].kv.mod_revision < p[1].kv.mod_revision)
    );
    for e in events.iter().filter(|e| e.kind == EventKind::Delete) {
        assert_eq!(
            e.prev.as_ref().unwrap().value,
            e.kv.value,
            "delete carries the last value"
        );
    }
    drop(store);
    assert!(block_on(async {
        while let Some(r) = w.next().await {
            r.unwrap();
        }
        true
    }));
}

#[test]
fn real_directory_is_locked_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), Options::default()).unwrap();
    block_on(store.put(b"/a", Value::Bytes(b"1".to_vec()))).unwrap();
    assert!(matches!(
        Store::open(dir.path(), Options::default()),
        Err(OpenError::Locked { .. })
    ));
    drop(store);
    let store = Store::open(dir.path(), Options::default()).unwrap();
    assert_eq!(&*store.get(b"/a").unwrap().value, b"1");
}

#[test]
fn concurrent_compare_and_swap_increments_lose_no_update() {
    use wisp_store::{Compare, Txn, TxnOp, TxnOutcome};
    let sim = SimBackend::new();
    sim.set_sync_delay(Duration::from_millis(2));
    let store = open_sim(
        &sim,
        Options {
            preallocate_bytes: 4096,
            ..Options::default()
        },
    );
    block_on(store.put(b"/counter", Value::Bytes(b"0".to_vec()))).unwrap();
    let conflicts = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (store, conflicts) = (store.clone(), conflicts.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                while done < 15 {
                    let kv = store.get(b"/counter").unwrap();
                    let n: u64 = std::str::from_utf8(&kv.value).unwrap().parse().unwrap();
                    let txn = Txn {
                        key: b"/counter".to_vec(),
                        compare: Compare::ModRevision(kv.mod_revision),
                        op: TxnOp::Put(Value::Bytes((n + 1).to_string().into_bytes())),
                    };
                    match block_on(store.txn(txn)).unwrap() {
                        TxnOutcome::Succeeded { .. } => done += 1,
                        TxnOutcome::Failed { .. } => {
                            conflicts.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let kv = store.get(b"/counter").unwrap();
    assert_eq!(&*kv.value, b"120");
    assert_eq!(kv.version, 121);
    assert!(
        conflicts.load(Ordering::Relaxed) > 0,
        "no conflict was exercised"
    );
}
