//! Integration tests of wisp-store: model-based property test, crash simulation at every
//! sync, torn tails, byte flips, a real SIGKILL loop, and the feature tests (volatile
//! prefixes, compaction, group commit, backup). One binary to keep link time down.

#![allow(clippy::cast_possible_truncation, clippy::type_complexity)]

mod backup;
mod crash;
mod damage;
mod features;
mod format;
mod kill;
mod model;

use std::collections::BTreeMap;
use std::sync::Arc;

use wisp_store::sim_backend::SimBackend;
use wisp_store::{Options, Revision, Store};

/// Opens a store on a simulated directory.
pub fn open_sim(sim: &SimBackend, options: Options) -> Store {
    Store::open_with(Arc::new(sim.clone()), options).expect("open")
}

/// A key's expected state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pub value: Vec<u8>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: u64,
}

/// Asserts the store holds exactly `model` (all keys, via range).
pub fn assert_matches(store: &Store, model: &BTreeMap<Vec<u8>, Expected>, context: &str) {
    let all = store.range(b"", 0, None);
    let got: BTreeMap<Vec<u8>, Expected> = all
        .kvs
        .iter()
        .map(|kv| {
            let e = Expected {
                value: kv.value.to_vec(),
                create_revision: kv.create_revision,
                mod_revision: kv.mod_revision,
                version: kv.version,
            };
            (kv.key.to_vec(), e)
        })
        .collect();
    assert_eq!(&got, model, "{context}");
    for (k, e) in model {
        let kv = store
            .get(k)
            .unwrap_or_else(|| panic!("{context}: get {k:?} missing"));
        assert_eq!(&*kv.value, &e.value[..], "{context}: get {k:?}");
    }
}

/// Small deterministic PRNG (xorshift64*), so failures replay from the printed seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
