//! Damage on the media: torn tails cut at every byte offset of the final records (and the
//! same region zero-filled), and a bit flipped at every byte of the segment. Open must keep
//! every record before the damage, cut a torn tail, and refuse synced damage with the file
//! and offset; `check` and `repair` must agree.

use std::collections::BTreeMap;

use futures_lite::future::block_on;
use wisp_store::backup::{Problem, check_with, repair_with};
use wisp_store::codec::{HEADER_LEN, decode_record};
use wisp_store::sim_backend::SimBackend;
use wisp_store::{OpenError, Options, Store, Value};

use crate::{Expected, assert_matches, open_sim};

const SEGMENT: &str = "seg-0000000000000001.log";

/// Framed records of the segment: (start, end, revision if a write).
fn layout(bytes: &[u8]) -> Vec<(usize, usize, Option<u64>)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        let (record, len) = decode_record(&bytes[pos..]).expect("intact segment");
        out.push((pos, pos + len, record.revision()));
        pos += len;
    }
    out
}

/// A store with 24 writes (puts and deletes), one per batch; returns its segment bytes and
/// the model after each revision.
fn build() -> (Vec<u8>, BTreeMap<u64, BTreeMap<Vec<u8>, Expected>>) {
    let sim = SimBackend::new();
    let store = open_sim(&sim, Options::default());
    let mut model = BTreeMap::new();
    let mut history = BTreeMap::new();
    history.insert(0, model.clone());
    for i in 0..24u64 {
        let key = format!("/k/{}", i % 5).into_bytes();
        let revision = if i % 7 == 6 {
            let r = block_on(store.delete(&key)).unwrap().unwrap();
            model.remove(&key);
            r
        } else {
            let value = vec![b'a' + (i % 26) as u8; 10 + (i as usize * 13) % 90];
            let r = block_on(store.put(&key, Value::Bytes(value.clone()))).unwrap();
            let prev: Option<Expected> = model.get(&key).cloned();
            model.insert(
                key,
                Expected {
                    value,
                    create_revision: prev.as_ref().map_or(r, |p| p.create_revision),
                    mod_revision: r,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                },
            );
            r
        };
        history.insert(revision, model.clone());
    }
    drop(store);
    (sim.read_file(SEGMENT).unwrap(), history)
}

fn image(bytes: Vec<u8>) -> SimBackend {
    let sim = SimBackend::new();
    let base = open_sim(&sim, Options::default());
    drop(base);
    sim.damage(SEGMENT, |b| *b = bytes);
    sim
}

/// The model holding exactly the writes whose records end at or before `cut`.
fn model_before(
    layout: &[(usize, usize, Option<u64>)],
    history: &BTreeMap<u64, BTreeMap<Vec<u8>, Expected>>,
    cut: usize,
) -> BTreeMap<Vec<u8>, Expected> {
    let last = layout
        .iter()
        .filter(|(_, end, rev)| *end <= cut && rev.is_some())
        .filter_map(|r| r.2)
        .max()
        .unwrap_or(0);
    history[&last].clone()
}

#[test]
fn torn_tail_at_every_byte_of_the_final_records() {
    let (bytes, history) = build();
    let layout = layout(&bytes);
    let from = layout[layout.len() - 8].0;
    for cut in from..bytes.len() {
        for zero_fill in [false, true] {
            let mut damaged = bytes[..cut].to_vec();
            if zero_fill {
                damaged.resize(bytes.len(), 0);
            }
            let store = open_sim(&image(damaged), Options::default());
            let want = model_before(&layout, &history, cut);
            assert_matches(
                &store,
                &want,
                &format!("cut at {cut}, zero fill {zero_fill}"),
            );
            let boundary = layout.iter().any(|(s, _, _)| *s == cut);
            if cut < bytes.len() && (zero_fill || !boundary) {
                let (offset, dropped) = store.recovery().truncated.expect("truncation reported");
                assert!(offset as usize <= cut && dropped > 0);
            }
        }
    }
}

#[test]
fn flipped_bits_are_caught_everywhere() {
    let (bytes, history) = build();
    let layout = layout(&bytes);
    let last_batch_start = layout[layout.len() - 2].0;
    for pos in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[pos] ^= 1 << (pos % 8);
        let sim = image(damaged);
        let result = Store::open_with(std::sync::Arc::new(sim.clone()), Options::default());
        if pos < HEADER_LEN {
            assert!(
                matches!(result, Err(OpenError::BadHeader { .. })),
                "header flip at {pos}"
            );
            continue;
        }
        let &(start, _, _) = layout
            .iter()
            .find(|(s, e, _)| *s <= pos && pos < *e)
            .unwrap();
        let want = model_before(&layout, &history, start);
        if start < last_batch_start {
            match result {
                Err(OpenError::Corrupt { file, offset, .. }) => {
                    assert_eq!(offset as usize, start, "flip at {pos}");
                    assert!(file.contains(SEGMENT));
                }
                other => panic!(
                    "flip at {pos}: expected corruption error, got {:?}",
                    other.map(|_| ())
                ),
            }
            let report = check_with(&sim).unwrap();
            assert!(
                matches!(report.problem, Some(Problem::Corrupt { offset, .. }) if offset as usize == start)
            );
            let plan = repair_with(&sim).unwrap().expect("repair plan");
            assert_eq!(
                (plan.offset as usize, plan.bytes_dropped as usize),
                (start, bytes.len() - start)
            );
            let store = open_sim(&sim, Options::default());
            assert_matches(&store, &want, &format!("after repair of flip at {pos}"));
        } else {
            let store = result.unwrap_or_else(|e| panic!("flip in last batch at {pos}: {e}"));
            assert_matches(&store, &want, &format!("flip in last batch at {pos}"));
        }
    }
}
