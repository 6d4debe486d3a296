//! Files written by format version 1 keep opening: a segment checked into the tree
//! (tests/data/format-v1.log) is opened and its exact contents checked. Regenerate only
//! for a deliberate format change: WISP_STORE_WRITE_GOLDEN=1 cargo test -p wisp-store format

use futures_lite::future::block_on;
use wisp_store::sim_backend::SimBackend;
use wisp_store::{Options, Value};

use crate::open_sim;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/format-v1.log");
const NAME: &str = "seg-0000000000000001.log";

fn options() -> Options {
    Options {
        preallocate_bytes: 64,
        ..Options::default()
    }
}

#[test]
fn version_1_segment_still_opens() {
    if std::env::var("WISP_STORE_WRITE_GOLDEN").as_deref() == Ok("1") {
        let sim = SimBackend::new();
        let store = open_sim(&sim, options());
        block_on(async {
            store
                .put(b"/registry/a", Value::Bytes(b"{\"a\":1}".to_vec()))
                .await
                .unwrap();
            store
                .put(b"/registry/b", Value::Bytes(vec![0xFF; 300]))
                .await
                .unwrap();
            store
                .put(b"/registry/a", Value::Bytes(b"{\"a\":2}".to_vec()))
                .await
                .unwrap();
            store.delete(b"/registry/b").await.unwrap();
            store
                .put(b"/registry/c", Value::Bytes(Vec::new()))
                .await
                .unwrap();
        });
        drop(store);
        std::fs::write(GOLDEN, sim.read_file(NAME).unwrap()).unwrap();
    }
    let bytes = std::fs::read(GOLDEN).expect("golden file");
    let sim = SimBackend::new();
    drop(open_sim(&sim, options()));
    sim.damage(NAME, |b| *b = bytes);
    let store = open_sim(&sim, options());
    assert_eq!(store.current_revision(), 5);
    assert!(store.recovery().truncated.is_none());
    let a = store.get(b"/registry/a").unwrap();
    assert_eq!(
        (&*a.value, a.create_revision, a.mod_revision, a.version),
        (&b"{\"a\":2}"[..], 1, 3, 2)
    );
    assert!(store.get(b"/registry/b").is_none());
    let c = store.get(b"/registry/c").unwrap();
    assert_eq!(
        (c.value.len(), c.create_revision, c.mod_revision, c.version),
        (0, 5, 5, 1)
    );
    assert_eq!(store.len(), 2);
}
