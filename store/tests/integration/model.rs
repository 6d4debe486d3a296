//! Model-based property test: random operations and reopenings against a BTreeMap model,
//! with txn conflicts and a watcher that must see every event once, in order.

use std::collections::BTreeMap;

use futures_lite::future::block_on;
use proptest::prelude::*;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{
    Compare, EventKind, Options, Revision, Store, Txn, TxnOp, TxnOutcome, Value, WatchError,
    Watcher,
};

use crate::{Expected, assert_matches, open_sim};

#[derive(Debug, Clone)]
enum Op {
    Put(u8, u8),
    Delete(u8),
    /// Txn on the key's mod revision; `stale` uses a wrong one.
    CasPut(u8, u8, bool),
    CasDelete(u8, bool),
    CreateIfAbsent(u8, u8),
    Range(u8, usize),
    Compact,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..10u8, any::<u8>()).prop_map(|(k, v)| Op::Put(k, v)),
        2 => (0..10u8).prop_map(Op::Delete),
        3 => (0..10u8, any::<u8>(), any::<bool>()).prop_map(|(k, v, s)| Op::CasPut(k, v, s)),
        2 => (0..10u8, any::<bool>()).prop_map(|(k, s)| Op::CasDelete(k, s)),
        2 => (0..10u8, any::<u8>()).prop_map(|(k, v)| Op::CreateIfAbsent(k, v)),
        1 => (0..3u8, 0..4usize).prop_map(|(p, l)| Op::Range(p, l)),
        1 => Just(Op::Compact),
        1 => Just(Op::Reopen),
    ]
}

/// Keys 0-3 under /a/, 4-7 under /b/, 8-9 under the volatile /v/.
fn key(k: u8) -> Vec<u8> {
    let prefix = match k {
        0..=3 => "/a/",
        4..=7 => "/b/",
        _ => "/v/",
    };
    format!("{prefix}{k}").into_bytes()
}

fn value(k: u8, v: u8, len_hint: u8) -> Vec<u8> {
    let mut out = format!("{k}:{v}:").into_bytes();
    out.resize(out.len() + usize::from(len_hint % 64) * 8, v);
    out
}

fn options() -> Options {
    Options {
        volatile_prefixes: vec![b"/v/".to_vec()],
        cache_bytes: 600,
        compaction_min_dead_bytes: 300,
        compaction_dead_ratio: 0.3,
        watch_window: 1000,
        volatile_revision_reserve: 5,
        preallocate_bytes: 512,
        ..Options::default()
    }
}

struct Harness {
    sim: SimBackend,
    store: Store,
    watcher: Watcher,
    model: BTreeMap<Vec<u8>, Expected>,
    /// Events the watcher must deliver next, in order.
    pending: Vec<(EventKind, Vec<u8>, Revision, Option<Vec<u8>>)>,
    last_revision: Revision,
}

impl Harness {
    fn new() -> Harness {
        let sim = SimBackend::new();
        let store = open_sim(&sim, options());
        let watcher = store.watch(b"", 0).unwrap();
        Harness {
            sim,
            store,
            watcher,
            model: BTreeMap::new(),
            pending: Vec::new(),
            last_revision: 0,
        }
    }

    fn check_revision(&mut self, revision: Revision) {
        assert!(
            revision > self.last_revision,
            "revision {revision} after {}",
            self.last_revision
        );
        self.last_revision = revision;
    }

    fn record_put(&mut self, k: &[u8], v: Vec<u8>, revision: Revision) {
        self.check_revision(revision);
        let prev = self.model.get(k).cloned();
        let e = Expected {
            value: v,
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
        };
        self.pending
            .push((EventKind::Put, k.to_vec(), revision, prev.map(|p| p.value)));
        self.model.insert(k.to_vec(), e);
    }

    fn record_delete(&mut self, k: &[u8], revision: Revision) {
        self.check_revision(revision);
        let prev = self.model.remove(k).expect("deleted key was in the model");
        self.pending
            .push((EventKind::Delete, k.to_vec(), revision, Some(prev.value)));
    }

    fn run(&mut self, op: Op) {
        match op {
            Op::Put(k, v) => {
                let val = value(k, v, v);
                let r = block_on(self.store.put(&key(k), Value::Bytes(val.clone()))).unwrap();
                self.record_put(&key(k), val, r);
            }
            Op::Delete(k) => match block_on(self.store.delete(&key(k))).unwrap() {
                Some(r) => self.record_delete(&key(k), r),
                None => assert!(!self.model.contains_key(&key(k))),
            },
            Op::CasPut(k, v, stale) => self.cas(
                k,
                stale,
                TxnOp::Put(Value::WithRevision(Box::new(move |r| {
                    format!("{k}@{r}:{v}").into_bytes()
                }))),
            ),
            Op::CasDelete(k, stale) => self.cas(k, stale, TxnOp::Delete),
            Op::CreateIfAbsent(k, v) => {
                let val = value(k, v, 3);
                let txn = Txn {
                    key: key(k),
                    compare: Compare::Absent,
                    op: TxnOp::Put(Value::Bytes(val.clone())),
                };
                match block_on(self.store.txn(txn)).unwrap() {
                    TxnOutcome::Succeeded { revision, prev } => {
                        assert!(prev.is_none() && !self.model.contains_key(&key(k)));
                        self.record_put(&key(k), val, revision);
                    }
                    TxnOutcome::Failed { current } => {
                        assert_eq!(
                            current.map(|c| c.value.to_vec()),
                            self.model.get(&key(k)).map(|e| e.value.clone())
                        );
                    }
                }
            }
            Op::Range(p, limit) => self.range(p, limit),
            Op::Compact => {
                let rev = self.store.current_revision();
                block_on(self.store.compact(rev)).unwrap();
                self.drain_watcher();
                if rev > 1 {
                    let old = self.store.watch(b"", rev - 1).err();
                    assert!(
                        matches!(old, Some(WatchError::Compacted { .. })),
                        "watch before compaction point: {old:?}"
                    );
                }
            }
            Op::Reopen => self.reopen(),
        }
        self.drain_watcher();
        assert_matches(&self.store, &self.model, "after op");
    }

    fn cas(&mut self, k: u8, stale: bool, op: TxnOp) {
        let current = self.model.get(&key(k)).map(|e| e.mod_revision);
        let expect_ok = current.is_some() && !stale;
        let compare = Compare::ModRevision(current.map_or(1, |r| if stale { r + 1000 } else { r }));
        let is_delete = matches!(op, TxnOp::Delete);
        match block_on(self.store.txn(Txn {
            key: key(k),
            compare,
            op,
        }))
        .unwrap()
        {
            TxnOutcome::Succeeded { revision, prev } => {
                assert!(expect_ok, "txn on {k} should have failed");
                assert_eq!(prev.map(|p| p.mod_revision), current);
                if is_delete {
                    self.record_delete(&key(k), revision);
                } else {
                    let v = self.store.get(&key(k)).unwrap().value.to_vec();
                    assert!(
                        v.starts_with(format!("{k}@{revision}:").as_bytes()),
                        "WithRevision bytes"
                    );
                    self.record_put(&key(k), v, revision);
                }
            }
            TxnOutcome::Failed { current: c } => {
                assert!(!expect_ok, "txn on {k} should have succeeded");
                assert_eq!(c.map(|c| c.mod_revision), current);
            }
        }
    }

    fn range(&self, p: u8, limit: usize) {
        let prefix: &[u8] = [&b"/a/"[..], b"/b/", b""][usize::from(p)];
        let expected: Vec<&Vec<u8>> = self
            .model
            .keys()
            .filter(|k| k.starts_with(prefix))
            .collect();
        let mut got = Vec::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.store.range(prefix, limit, after.as_deref());
            got.extend(page.kvs.iter().map(|kv| kv.key.to_vec()));
            if !page.more || limit == 0 {
                assert!(!page.more);
                break;
            }
            after = page.kvs.last().map(|kv| kv.key.to_vec());
        }
        assert_eq!(
            got.iter().collect::<Vec<_>>(),
            expected,
            "paged range {prefix:?} limit {limit}"
        );
    }

    fn drain_watcher(&mut self) {
        for (kind, k, revision, prev) in std::mem::take(&mut self.pending) {
            let e = self
                .watcher
                .try_next()
                .expect("event pending")
                .expect("no watch error");
            assert_eq!(
                (e.kind, e.kv.key.to_vec(), e.kv.mod_revision),
                (kind, k, revision)
            );
            assert_eq!(e.prev.map(|p| p.value.to_vec()), prev);
        }
        assert!(self.watcher.try_next().is_none(), "no extra events");
    }

    fn reopen(&mut self) {
        self.drain_watcher();
        let image = self.sim.crash_image(0);
        let old = std::mem::replace(&mut self.store, open_sim(&image, options()));
        drop(old);
        assert!(
            block_on(self.watcher.next()).is_none(),
            "old watcher ends when its store closes"
        );
        self.sim = image;
        self.model.retain(|k, _| !k.starts_with(b"/v/"));
        assert!(
            self.store.current_revision() >= self.last_revision,
            "revision went backwards"
        );
        self.watcher = self.store.watch(b"", 0).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]
    #[test]
    fn store_matches_model(ops in proptest::collection::vec(op(), 1..80)) {
        let mut h = Harness::new();
        for op in ops {
            h.run(op);
        }
        h.reopen();
        assert_matches(&h.store, &h.model, "final reopen");
    }
}
