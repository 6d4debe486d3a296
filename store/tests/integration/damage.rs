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

fn options() -> Options {
    Options {
        preallocate_bytes: 256,
        ..Options::default()
    }
}

const SEGMENT: &str = "seg-0000000000000001.log";

/// Framed records of the segment: (start, end, revision if a write).
fn layout(bytes: &[u8]) -> Vec<(usize, usize, Option<u64>)> {
    let mut out = Vec::new();
    let mut pos = HEADER_LEN;
    while pos < bytes.len() {
        if bytes[pos..].iter().all(|&b| b == 0) {
            break; // preallocated space
        }
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
    let store = open_sim(&sim, options());
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
    let base = open_sim(&sim, options());
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
            let store = open_sim(&image(damaged), options());
            let want = model_before(&layout, &history, cut);
            assert_matches(
                &store,
                &want,
                &format!("cut at {cut}, zero fill {zero_fill}"),
            );
            // Bytes after the last whole record: zeros are preallocated space, anything else
            // is a torn write that must be cut off and reported.
            let whole_end = layout
                .iter()
                .map(|r| r.1)
                .filter(|&e| e <= cut)
                .max()
                .unwrap_or(HEADER_LEN);
            let damaged_len = if zero_fill { bytes.len() } else { cut };
            let leftover_nonzero = bytes[whole_end..cut].iter().any(|&b| b != 0);
            match store.recovery().truncated {
                Some((offset, dropped)) => {
                    assert!(leftover_nonzero, "cut at {cut}: needless truncation");
                    assert_eq!(
                        (offset as usize, dropped as usize),
                        (whole_end, damaged_len - whole_end)
                    );
                }
                None => assert!(!leftover_nonzero, "cut at {cut}: torn tail not reported"),
            }
        }
    }
}

#[test]
fn flipped_bits_are_caught_everywhere() {
    let (bytes, history) = build();
    let layout = layout(&bytes);
    let last_batch_start = layout[layout.len() - 2].0;
    let records_end = layout.last().unwrap().1;
    assert!(
        records_end < bytes.len(),
        "the segment has a preallocated tail"
    );
    for pos in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[pos] ^= 1 << (pos % 8);
        let sim = image(damaged);
        let result = Store::open_with(std::sync::Arc::new(sim.clone()), options());
        if pos < HEADER_LEN {
            assert!(
                matches!(result, Err(OpenError::BadHeader { .. })),
                "header flip at {pos}"
            );
            continue;
        }
        let start = layout
            .iter()
            .find(|(s, e, _)| *s <= pos && pos < *e)
            .map_or(records_end, |r| r.0);
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
            let store = open_sim(&sim, options());
            assert_matches(&store, &want, &format!("after repair of flip at {pos}"));
        } else {
            let store = result.unwrap_or_else(|e| panic!("flip in last batch at {pos}: {e}"));
            assert_matches(&store, &want, &format!("flip in last batch at {pos}"));
        }
    }
}
