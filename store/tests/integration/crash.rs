//! Crash tests through the simulating backend: the power goes out at the n-th sync, for
//! every n the workload reaches; the durable image (plus a torn part of unsynced bytes) is
//! reopened and must hold every acknowledged write and no partial unacknowledged one.

use std::collections::BTreeMap;

use futures_lite::future::block_on;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{Compare, Options, Revision, Store, Txn, TxnOp, Value};

use crate::{Expected, Rng, assert_matches, open_sim};

fn options() -> Options {
    Options {
        volatile_prefixes: vec![b"/v/".to_vec()],
        compaction_min_dead_bytes: 400,
        compaction_dead_ratio: 0.4,
        volatile_revision_reserve: 3,
        preallocate_bytes: 256,
        ..Options::default()
    }
}

enum Step {
    Put(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
}

fn workload(seed: u64, len: usize) -> Vec<Step> {
    let mut rng = Rng::new(seed);
    (0..len)
        .map(|i| {
            let k = rng.below(6);
            let key = if k == 5 {
                format!("/v/{}", rng.below(2))
            } else {
                format!("/d/{k}")
            }
            .into_bytes();
            if rng.below(5) == 0 {
                Step::Delete(key)
            } else {
                let mut v = format!("{i}:").into_bytes();
                v.resize(v.len() + rng.below(120) as usize, b'x');
                Step::Put(key, v)
            }
        })
        .collect()
}

type Model = BTreeMap<Vec<u8>, Expected>;

fn apply(model: &mut Model, step: &Step, revision: Revision) {
    match step {
        Step::Put(k, v) => {
            let prev = model.get(k).cloned();
            model.insert(
                k.clone(),
                Expected {
                    value: v.clone(),
                    create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
                    mod_revision: revision,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                },
            );
        }
        Step::Delete(k) => {
            model.remove(k);
        }
    }
}

/// Runs steps until a write fails; returns the model of acknowledged writes, the model with
/// the failed write applied too (it may have reached the disk whole), and the last revision.
fn run_until_failure(store: &Store, steps: &[Step]) -> (Model, Option<Model>, Revision) {
    let mut model = Model::new();
    let mut last = 0;
    for step in steps {
        let result = match step {
            Step::Put(k, v) => block_on(store.put(k, Value::Bytes(v.clone()))).map(Some),
            Step::Delete(k) => block_on(store.txn(Txn {
                key: k.clone(),
                compare: Compare::Any,
                op: TxnOp::Delete,
            }))
            .map(|o| match o {
                wisp_store::TxnOutcome::Succeeded { revision, .. } => Some(revision),
                wisp_store::TxnOutcome::Failed { .. } => None,
            }),
        };
        match result {
            Ok(Some(revision)) => {
                apply(&mut model, step, revision);
                last = revision;
            }
            Ok(None) => {}
            Err(_) => {
                let mut maybe = model.clone();
                // Its revision would have been the next one.
                apply(&mut maybe, step, 0);
                return (model, Some(maybe), last);
            }
        }
    }
    (model, None, last)
}

fn durable_only(model: &Model) -> Model {
    model
        .iter()
        .filter(|(k, _)| !k.starts_with(b"/v/"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn same_ignoring_unknown_revision(got: &Store, maybe: &Model) -> bool {
    let all = got.range(b"", 0, None);
    let got: BTreeMap<Vec<u8>, Vec<u8>> = all
        .kvs
        .iter()
        .map(|kv| (kv.key.to_vec(), kv.value.to_vec()))
        .collect();
    let want: BTreeMap<Vec<u8>, Vec<u8>> = maybe
        .iter()
        .map(|(k, e)| (k.clone(), e.value.clone()))
        .collect();
    got == want
}

#[test]
fn every_sync_can_be_the_last() {
    let steps = workload(7, 120);
    let total_syncs = {
        let sim = SimBackend::new();
        let store = open_sim(&sim, options());
        let (_, failed, _) = run_until_failure(&store, &steps);
        assert!(failed.is_none());
        drop(store);
        sim.sync_count()
    };
    assert!(total_syncs > 60, "workload too small: {total_syncs} syncs");
    for n in 1..=total_syncs + 1 {
        let sim = SimBackend::new();
        sim.freeze_at_sync(n);
        let Ok(store) = Store::open_with(std::sync::Arc::new(sim.clone()), options()) else {
            continue; // the power went out while creating the first segment
        };
        let (acked, maybe, last) = run_until_failure(&store, &steps);
        drop(store);
        for torn in [0usize, 7, 100, 100_000] {
            let image = sim.crash_image(torn);
            let reopened = open_sim(&image, options());
            assert!(
                reopened.current_revision() >= last,
                "sync {n}: revision went backwards"
            );
            let acked = durable_only(&acked);
            let whole_failed_write = maybe
                .as_ref()
                .map(durable_only)
                .is_some_and(|m| same_ignoring_unknown_revision(&reopened, &m));
            if !whole_failed_write {
                assert_matches(
                    &reopened,
                    &acked,
                    &format!("crash at sync {n}, torn {torn}"),
                );
            }
            // The reopened store takes writes again.
            let r = block_on(reopened.put(b"/d/after", Value::Bytes(b"x".to_vec()))).unwrap();
            assert!(r > last);
        }
    }
}
