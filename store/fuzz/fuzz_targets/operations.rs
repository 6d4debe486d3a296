//! Fuzzes operation sequences against a BTreeMap model on the crash-simulating backend:
//! puts, deletes, compare-and-swap, compaction, clean reopen, and power cuts at the next
//! sync with a torn tail. After every step the store must equal the model.

#![no_main]

use std::collections::BTreeMap;
use std::sync::Arc;

use futures_lite::future::block_on;
use libfuzzer_sys::fuzz_target;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{Compare, Options, Store, Txn, TxnOp, TxnOutcome, Value};

type Model = BTreeMap<Vec<u8>, (Vec<u8>, u64)>;

fn options() -> Options {
    Options {
        volatile_prefixes: vec![b"v".to_vec()],
        compaction_min_dead_bytes: 200,
        compaction_dead_ratio: 0.3,
        preallocate_bytes: 128,
        volatile_revision_reserve: 4,
        ..Options::default()
    }
}

fn open(sim: &SimBackend) -> Store {
    Store::open_with(Arc::new(sim.clone()), options()).expect("reopen after a crash must work")
}

fn same(store: &Store, model: &Model) -> bool {
    let all = store.range(b"", 0, None);
    all.kvs.len() == model.len()
        && all.kvs.iter().all(|kv| model.get(&*kv.key).is_some_and(|(v, r)| **v == *kv.value && *r == kv.mod_revision))
}

fuzz_target!(|data: &[u8]| {
    let mut sim = SimBackend::new();
    let mut store = open(&sim);
    let mut model = Model::new();
    for op in data.chunks_exact(3) {
        let key = vec![if op[1] & 8 != 0 { b'v' } else { b'd' }, b'0' + op[1] % 8];
        let value = vec![op[2]; usize::from(op[2] % 40)];
        match op[0] % 6 {
            0 => {
                let r = block_on(store.put(&key, Value::Bytes(value.clone()))).unwrap();
                model.insert(key, (value, r));
            }
            1 => {
                let r = block_on(store.delete(&key)).unwrap();
                assert_eq!(r.is_some(), model.remove(&key).is_some());
            }
            2 => {
                let expected = model.get(&key).map_or(0, |e| e.1);
                let compare = Compare::ModRevision(expected + u64::from(op[2] & 1));
                let txn = Txn { key: key.clone(), compare, op: TxnOp::Put(Value::Bytes(value.clone())) };
                match block_on(store.txn(txn)).unwrap() {
                    TxnOutcome::Succeeded { revision, .. } => {
                        assert!(expected != 0 && op[2] & 1 == 0);
                        model.insert(key, (value, revision));
                    }
                    TxnOutcome::Failed { .. } => assert!(expected == 0 || op[2] & 1 == 1),
                }
            }
            3 => block_on(store.compact(store.current_revision())).unwrap(),
            4 => {
                drop(store);
                sim = sim.crash_image(0);
                store = open(&sim);
                model.retain(|k, _| k[0] != b'v');
            }
            _ => {
                // Power cut at the next sync, during a durable put; torn bytes from op[2].
                sim.freeze_at_sync(sim.sync_count() + 1);
                let failed = block_on(store.put(b"dX", Value::Bytes(value.clone()))).is_err();
                assert!(failed);
                drop(store);
                sim = sim.crash_image(usize::from(op[2]) * 3);
                store = open(&sim);
                model.retain(|k, _| k[0] != b'v');
                if !same(&store, &model) {
                    // The failed write may have reached the disk whole, never in part.
                    let kv = store.get(b"dX").expect("only the failed write may differ");
                    assert_eq!(&*kv.value, &value[..]);
                    model.insert(b"dX".to_vec(), (value, kv.mod_revision));
                }
            }
        }
        assert!(same(&store, &model), "store differs from model after op {op:?}");
    }
});
