//! Snapshot of a running store, restore into an empty directory, check of a real directory.

use futures_lite::future::block_on;
use wisp_store::backup::{BackupError, check, restore_from, snapshot_to};
use wisp_store::{Options, Store, Value};

#[test]
fn snapshot_while_writing_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let store = Store::open(
        &src,
        Options {
            volatile_prefixes: vec![b"/v/".to_vec()],
            ..Options::default()
        },
    )
    .unwrap();
    for i in 0..50u32 {
        block_on(store.put(
            format!("/k/{i}").as_bytes(),
            Value::Bytes(vec![i as u8; 100]),
        ))
        .unwrap();
    }
    block_on(store.put(b"/v/lease", Value::Bytes(b"x".to_vec()))).unwrap();
    let writer = store.clone();
    let t = std::thread::spawn(move || {
        for i in 0..50u32 {
            block_on(writer.put(format!("/k/{i}").as_bytes(), Value::Bytes(vec![255; 100])))
                .unwrap();
        }
    });
    let file = dir.path().join("snap.wisp");
    let info = snapshot_to(&store, &file).unwrap();
    t.join().unwrap();
    assert_eq!(info.keys, 50);
    let dst = dir.path().join("dst");
    let restored = restore_from(&file, &dst).unwrap();
    assert_eq!(restored.keys, 50);
    assert!(matches!(
        restore_from(&file, &dst),
        Err(BackupError::NotEmpty { .. })
    ));
    let report = check(&dst).unwrap();
    assert_eq!((report.live_keys, report.problem.clone()), (50, None));
    let copy = Store::open(&dst, Options::default()).unwrap();
    assert!(copy.current_revision() >= info.revision);
    assert!(copy.get(b"/v/lease").is_none());
    // Consistent: every key is at a revision no later than the snapshot's.
    let all = copy.range(b"/k/", 0, None);
    assert_eq!(all.kvs.len(), 50);
    for kv in &all.kvs {
        assert!(kv.mod_revision <= info.revision);
        let first = kv.value[0];
        assert!(kv.value.iter().all(|&b| b == first));
    }
    // Damaged snapshots are refused.
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xFF;
    std::fs::write(&file, &bytes).unwrap();
    assert!(matches!(
        restore_from(&file, &dir.path().join("dst2")),
        Err(BackupError::Invalid { .. })
    ));
}
