//! The `Store` handle: open, reads from the index and cache, and writes handed to the
//! committer thread.
//!
//! Reads never wait for the committer: they lock the shared state briefly and, on a cache
//! miss, `pread` the record outside the lock. Writes travel over a channel to the committer
//! (`committer.rs`), which acknowledges them after fdatasync.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::backend::{Backend, BackendFile, FsBackend};
use crate::cache::Cache;
use crate::codec::{Record, Revision};
use crate::committer::{self, Request, WriteOp};
use crate::error::{OpenError, WatchError, WriteError};
use crate::history::History;
use crate::index::{Entry, Index, Location};
use crate::options::Options;
use crate::recovery::{self, RecoveryReport};
use crate::segment;
use crate::types::{Compare, KeyValue, RangeResult, Txn, TxnOp, TxnOutcome, Value};
use crate::watch::Watcher;

/// State shared by the handle, the committer and watchers.
pub(crate) struct Shared {
    pub state: Mutex<State>,
    /// Notified after each batch is published and when the store closes.
    pub published: event_listener::Event,
    pub options: Options,
    pub backend: Arc<dyn Backend>,
    /// Values that could not be read back (I/O error or damage found after open).
    pub read_errors: std::sync::atomic::AtomicU64,
}

pub(crate) struct State {
    pub index: Index,
    /// Last published revision.
    pub revision: Revision,
    /// Highest revision the disk guarantees the counter will start above after a restart.
    pub floor: Revision,
    pub segment: Arc<dyn BackendFile>,
    pub cache: Cache,
    pub history: History,
    pub closed: bool,
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

struct Handle {
    shared: Arc<Shared>,
    requests: Option<async_channel::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
    report: RecoveryReport,
}

impl Drop for Handle {
    fn drop(&mut self) {
        // Closing the channel ends the committer after its current batch; joining releases
        // the directory lock before a reopen in the same process.
        self.requests.take();
        if let Some(t) = self.thread.take()
            && t.thread().id() != std::thread::current().id()
        {
            let _ = t.join();
        }
    }
}

/// A cheap, cloneable handle to an open store.
#[derive(Clone)]
pub struct Store {
    handle: Arc<Handle>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store(revision {})", self.current_revision())
    }
}

impl Store {
    /// Opens (creating when needed) the store in `dir`. Blocks for recovery.
    pub fn open(dir: &Path, options: Options) -> Result<Store, OpenError> {
        let backend = FsBackend::new(dir).map_err(|error| OpenError::Io {
            file: dir.display().to_string(),
            error,
        })?;
        Store::open_with(Arc::new(backend), options)
    }

    /// Opens the store kept by `backend` (tests pass a `SimBackend`).
    pub fn open_with(backend: Arc<dyn Backend>, options: Options) -> Result<Store, OpenError> {
        let rec = recovery::recover(&*backend, &options)?;
        let state = State {
            index: rec.index,
            revision: rec.revision,
            floor: rec.revision,
            segment: rec.file.clone(),
            cache: Cache::new(options.cache_bytes),
            history: History::new(rec.revision, options.watch_window, options.history_bytes),
            closed: false,
        };
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            published: event_listener::Event::new(),
            options,
            backend,
            read_errors: std::sync::atomic::AtomicU64::new(0),
        });
        let (tx, rx) = async_channel::unbounded();
        let committer = committer::Committer::new(
            shared.clone(),
            rx,
            rec.lock,
            rec.file,
            rec.sequence,
            rec.end,
            rec.allocated,
            rec.revision,
            rec.live_bytes,
        );
        let thread = std::thread::Builder::new()
            .name("wisp-store-commit".into())
            .spawn(move || committer.run())
            .map_err(|error| OpenError::Io {
                file: "committer thread".into(),
                error,
            })?;
        let handle = Handle {
            shared,
            requests: Some(tx),
            thread: Some(thread),
            report: rec.report,
        };
        Ok(Store {
            handle: Arc::new(handle),
        })
    }

    /// What recovery found and did when this store was opened.
    pub fn recovery(&self) -> &RecoveryReport {
        &self.handle.report
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.handle.shared
    }

    pub fn current_revision(&self) -> Revision {
        self.shared().lock().revision
    }

    /// The key's current state; a cache miss costs one `pread`. A value that cannot be read
    /// back (I/O error, damage after open) reads as absent and counts in `read_errors`.
    pub fn get(&self, key: &[u8]) -> Option<KeyValue> {
        let (k, entry, file) = {
            let state = self.shared().lock();
            let (k, entry) = state.index.get_key_value(key)?;
            (k.clone(), entry.clone(), state.segment.clone())
        };
        self.materialize(k, entry, &file)
    }

    /// Keys under `prefix` in order, after `continue_after`, at most `limit` (0 = all).
    pub fn range(&self, prefix: &[u8], limit: usize, continue_after: Option<&[u8]>) -> RangeResult {
        let limit = if limit == 0 { usize::MAX } else { limit };
        let (entries, more, revision, file) = {
            let state = self.shared().lock();
            let mut iter = state.index.range(prefix, continue_after);
            let entries: Vec<(Arc<[u8]>, Entry)> = iter
                .by_ref()
                .take(limit)
                .map(|(k, e)| (k.clone(), e.clone()))
                .collect();
            let more = iter.next().is_some();
            (entries, more, state.revision, state.segment.clone())
        };
        let kvs = entries
            .into_iter()
            .filter_map(|(k, e)| self.materialize(k, e, &file))
            .collect();
        RangeResult {
            kvs,
            more,
            revision,
        }
    }

    /// Builds the key-value, reading and caching the value when it is not in memory.
    fn materialize(
        &self,
        key: Arc<[u8]>,
        entry: Entry,
        file: &Arc<dyn BackendFile>,
    ) -> Option<KeyValue> {
        let value = match (&entry.value, &entry.location) {
            (Some(v), _) => v.clone(),
            (None, Location::Disk { offset, len }) => {
                let Ok(value) = read_value(&**file, *offset, *len) else {
                    self.shared()
                        .read_errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    return None;
                };
                let mut state = self.shared().lock();
                let state = &mut *state;
                state
                    .cache
                    .insert(&mut state.index, &key, entry.mod_revision, &value);
                value
            }
            (None, Location::Memory) => return None,
        };
        Some(KeyValue {
            key,
            value,
            create_revision: entry.create_revision,
            mod_revision: entry.mod_revision,
            version: entry.version,
        })
    }

    pub async fn put(&self, key: &[u8], value: Value) -> Result<Revision, WriteError> {
        let txn = Txn {
            key: key.to_vec(),
            compare: Compare::Any,
            op: TxnOp::Put(value),
        };
        match self.txn(txn).await? {
            TxnOutcome::Succeeded { revision, .. } => Ok(revision),
            TxnOutcome::Failed { .. } => Err(WriteError::Failed("unconditional put failed".into())),
        }
    }

    /// Deletes `key`; `None` when it did not exist (no revision is used then).
    pub async fn delete(&self, key: &[u8]) -> Result<Option<Revision>, WriteError> {
        let txn = Txn {
            key: key.to_vec(),
            compare: Compare::Exists,
            op: TxnOp::Delete,
        };
        match self.txn(txn).await? {
            TxnOutcome::Succeeded { revision, .. } => Ok(Some(revision)),
            TxnOutcome::Failed { .. } => Ok(None),
        }
    }

    /// Compares, then writes, atomically; acknowledged after fdatasync.
    pub async fn txn(&self, txn: Txn) -> Result<TxnOutcome, WriteError> {
        let (reply, rx) = async_channel::bounded(1);
        let op = match txn.op {
            TxnOp::Put(v) => WriteOp::Put(v),
            TxnOp::Delete => WriteOp::Delete,
        };
        let request = Request::Write {
            key: txn.key,
            compare: txn.compare,
            op,
            reply,
        };
        self.send(request).await?;
        rx.recv().await.map_err(|_| WriteError::Closed)?
    }

    /// Drops watch history up to `revision` and rewrites the segment without dead records.
    pub async fn compact(&self, revision: Revision) -> Result<(), WriteError> {
        let (reply, rx) = async_channel::bounded(1);
        self.send(Request::Compact { revision, reply }).await?;
        rx.recv().await.map_err(|_| WriteError::Closed)?
    }

    async fn send(&self, request: Request) -> Result<(), WriteError> {
        let tx = self.handle.requests.as_ref().ok_or(WriteError::Closed)?;
        tx.send(request).await.map_err(|_| WriteError::Closed)
    }

    /// Events under `prefix` with revision above `from_revision` (0 = from now on).
    pub fn watch(&self, prefix: &[u8], from_revision: Revision) -> Result<Watcher, WatchError> {
        let state = self.shared().lock();
        let cursor = if from_revision == 0 {
            state.revision
        } else {
            from_revision
        };
        if cursor < state.history.start() {
            return Err(WatchError::Compacted {
                requested: from_revision,
                oldest: state.history.start(),
            });
        }
        Ok(Watcher::new(self.shared().clone(), prefix.to_vec(), cursor))
    }

    /// Number of live keys (durable and volatile).
    pub fn len(&self) -> usize {
        self.shared().lock().index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Values that could not be read back since open; nonzero means the disk is failing.
    pub fn read_errors(&self) -> u64 {
        self.shared()
            .read_errors
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Bytes of values currently cached.
    pub fn cached_bytes(&self) -> usize {
        self.shared().lock().cache.bytes()
    }
}

/// Reads the value of the `Put` record at `offset` into one shared buffer.
pub(crate) fn read_value(
    file: &dyn BackendFile,
    offset: u64,
    len: u32,
) -> std::io::Result<Arc<[u8]>> {
    let bytes = segment::read_record(file, offset, len)?;
    match crate::codec::decode_record(&bytes) {
        Ok((Record::Put { value, .. }, _)) => Ok(Arc::from(value.0)),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("no put record at offset {offset}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim_backend::SimBackend;
    use crate::types::EventKind;
    use futures_lite::future::block_on;

    fn open(sim: &SimBackend, options: Options) -> Store {
        Store::open_with(Arc::new(sim.clone()), options).unwrap()
    }

    #[test]
    fn put_get_delete_range_and_reopen() {
        let sim = SimBackend::new();
        let store = open(&sim, Options::default());
        block_on(async {
            assert_eq!(store.put(b"/a/1", b"one"[..].into()).await, Ok(1));
            assert_eq!(store.put(b"/a/2", b"two"[..].into()).await, Ok(2));
            assert_eq!(
                store
                    .put(
                        b"/a/1",
                        Value::WithRevision(Box::new(|r| format!("rv={r}").into_bytes()))
                    )
                    .await,
                Ok(3)
            );
            assert_eq!(store.delete(b"/a/2").await, Ok(Some(4)));
            assert_eq!(store.delete(b"/a/2").await, Ok(None));
        });
        let kv = store.get(b"/a/1").unwrap();
        assert_eq!(
            (&*kv.value, kv.create_revision, kv.mod_revision, kv.version),
            (&b"rv=3"[..], 1, 3, 2)
        );
        assert!(store.get(b"/a/2").is_none());
        let r = store.range(b"/a/", 0, None);
        assert_eq!((r.kvs.len(), r.more, r.revision), (1, false, 4));
        drop(store);
        let store = open(&sim.crash_image(0), Options::default());
        assert_eq!(store.current_revision(), 4);
        let kv = store.get(b"/a/1").unwrap();
        assert_eq!(
            (&*kv.value, kv.create_revision, kv.mod_revision, kv.version),
            (&b"rv=3"[..], 1, 3, 2)
        );
        assert_eq!(block_on(store.put(b"/b", b"x"[..].into())), Ok(5));
    }

    #[test]
    fn txn_compares_and_watch_delivers_in_order() {
        let sim = SimBackend::new();
        let store = open(&sim, Options::default());
        let mut w = store.watch(b"/k", 0).unwrap();
        block_on(async {
            let t = |compare, op| Txn {
                key: b"/k".to_vec(),
                compare,
                op,
            };
            let ok = store
                .txn(t(Compare::Absent, TxnOp::Put(b"v1"[..].into())))
                .await
                .unwrap();
            assert!(matches!(
                ok,
                TxnOutcome::Succeeded {
                    revision: 1,
                    prev: None
                }
            ));
            let no = store
                .txn(t(Compare::Absent, TxnOp::Put(b"v2"[..].into())))
                .await
                .unwrap();
            assert!(
                matches!(no, TxnOutcome::Failed { current: Some(ref c) } if c.mod_revision == 1)
            );
            let no = store
                .txn(t(Compare::ModRevision(7), TxnOp::Delete))
                .await
                .unwrap();
            assert!(matches!(no, TxnOutcome::Failed { .. }));
            let ok = store
                .txn(t(Compare::ModRevision(1), TxnOp::Delete))
                .await
                .unwrap();
            assert!(matches!(
                ok,
                TxnOutcome::Succeeded {
                    revision: 2,
                    prev: Some(_)
                }
            ));
            let e1 = w.next().await.unwrap().unwrap();
            let e2 = w.next().await.unwrap().unwrap();
            assert_eq!((e1.kind, e1.revision()), (EventKind::Put, 1));
            assert_eq!(
                (e2.kind, e2.revision(), &*e2.kv.value),
                (EventKind::Delete, 2, &b"v1"[..])
            );
            assert!(w.try_next().is_none());
        });
    }

    #[test]
    fn damage_found_after_open_is_counted_not_served() {
        let sim = SimBackend::new();
        let options = Options {
            cache_bytes: 0,
            preallocate_bytes: 64,
            ..Options::default()
        };
        let store = open(&sim, options);
        block_on(store.put(b"/k", b"value"[..].into())).unwrap();
        assert_eq!(&*store.get(b"/k").unwrap().value, b"value");
        sim.damage("seg-0000000000000001.log", |bytes| {
            let at = bytes.windows(5).position(|w| w == b"value").unwrap();
            bytes[at] ^= 1;
        });
        assert!(store.get(b"/k").is_none());
        assert_eq!(store.read_errors(), 1);
    }
}
