//! The committer thread: the only writer. It takes every queued write, evaluates compares in
//! order, assigns revisions, appends one batch, fdatasyncs once (group commit), then
//! publishes to the index and the watch history and acknowledges.
//!
//! It runs on its own std thread so fsync never blocks an async executor. Compaction runs
//! here too, between batches (`compaction.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};

use crate::backend::BackendFile;
use crate::codec::{self, Bytes, HEADER_LEN, MAX_BODY_LEN, Record, Revision};
use crate::error::WriteError;
use crate::index::{Entry, Location};
use crate::recovery::disk_len;
use crate::store::{Shared, State, read_value};
use crate::types::{Compare, Event, EventKind, KeyValue, TxnOutcome, Value};

/// Most requests taken into one batch.
const MAX_BATCH: usize = 4096;
/// Longest wait for the writers of the previous batch to come back (see `gather`).
const GATHER_WAIT: Duration = Duration::from_micros(200);

pub(crate) enum WriteOp {
    Put(Value),
    Delete,
}

pub(crate) enum Request {
    Write {
        key: Vec<u8>,
        compare: Compare,
        op: WriteOp,
        reply: Sender<Result<TxnOutcome, WriteError>>,
    },
    Compact {
        revision: Revision,
        reply: Sender<Result<(), WriteError>>,
    },
}

type Write = (
    Vec<u8>,
    Compare,
    WriteOp,
    Sender<Result<TxnOutcome, WriteError>>,
);
type Reply = (
    Sender<Result<TxnOutcome, WriteError>>,
    Result<TxnOutcome, WriteError>,
);

/// A write decided in this batch, waiting for the sync to be published.
struct Applied {
    kv: KeyValue,
    deleted: bool,
    /// Offset in the batch body and framed length of its record; `None` for volatile keys.
    disk: Option<(usize, u32)>,
    event: Event,
}

pub(crate) struct Committer {
    pub(crate) shared: Arc<Shared>,
    rx: Receiver<Request>,
    _lock: Box<dyn Send + Sync>,
    pub(crate) file: Arc<dyn BackendFile>,
    pub(crate) sequence: u64,
    pub(crate) end: u64,
    /// File length (preallocated); records end at `end`.
    pub(crate) allocated: u64,
    last_revision: Revision,
    pub(crate) reserved: Revision,
    pub(crate) live_bytes: u64,
    pub(crate) failed: Option<String>,
    pub(crate) compaction_backoff: u64,
    body: Vec<u8>,
    out: Vec<u8>,
}

impl Committer {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        shared: Arc<Shared>,
        rx: Receiver<Request>,
        lock: Box<dyn Send + Sync>,
        file: Arc<dyn BackendFile>,
        sequence: u64,
        end: u64,
        allocated: u64,
        revision: Revision,
        live_bytes: u64,
    ) -> Committer {
        Committer {
            shared,
            rx,
            _lock: lock,
            file,
            sequence,
            end,
            allocated,
            last_revision: revision,
            reserved: revision,
            live_bytes,
            failed: None,
            compaction_backoff: 0,
            body: Vec::new(),
            out: Vec::new(),
        }
    }

    pub fn run(mut self) {
        let mut recent = [0usize; 2];
        while let Ok(first) = self.rx.recv_blocking() {
            let mut batch = vec![first];
            self.gather(&mut batch, recent[0].max(recent[1]));
            recent = [recent[1], batch.len()];
            self.process(batch);
        }
        self.shared.lock().closed = true;
        self.shared.published.notify(usize::MAX);
    }

    /// Takes every queued request. When recent batches were larger than what is queued, the
    /// writers they acknowledged are still sending their next request: wait a little
    /// (at most `GATHER_WAIT`) for them so one sync serves them all, instead of splitting
    /// them over two syncs.
    fn gather(&self, batch: &mut Vec<Request>, expected: usize) {
        let deadline = Instant::now() + GATHER_WAIT;
        while batch.len() < MAX_BATCH {
            match self.rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) if batch.len() < expected && Instant::now() < deadline => {
                    std::thread::yield_now()
                }
                Err(_) => break,
            }
        }
    }

    fn process(&mut self, batch: Vec<Request>) {
        let mut writes = Vec::new();
        let mut compactions = Vec::new();
        for request in batch {
            match request {
                Request::Write {
                    key,
                    compare,
                    op,
                    reply,
                } => writes.push((key, compare, op, reply)),
                Request::Compact { revision, reply } => compactions.push((revision, reply)),
            }
        }
        if !writes.is_empty() {
            self.commit(writes);
        }
        for (revision, reply) in compactions {
            let _ = reply.try_send(self.compact(revision));
        }
        self.maybe_rewrite();
    }

    fn commit(&mut self, writes: Vec<Write>) {
        if let Some(reason) = &self.failed {
            for (_, _, _, reply) in writes {
                let _ = reply.try_send(Err(WriteError::Failed(reason.clone())));
            }
            return;
        }
        let mut overlay: HashMap<Vec<u8>, Option<KeyValue>> = HashMap::new();
        let mut applied = Vec::new();
        let mut replies: Vec<Reply> = Vec::new();
        let mut revision = self.last_revision;
        self.body.clear();
        for (key, compare, op, reply) in writes {
            let current = match overlay.get(&key) {
                Some(state) => state.clone(),
                None => match self.lookup(&key) {
                    Ok(kv) => kv,
                    Err(e) => {
                        replies.push((reply, Err(WriteError::Failed(e.to_string()))));
                        continue;
                    }
                },
            };
            let outcome = self.decide(&key, compare, op, current, revision + 1);
            match outcome {
                Decision::Done(result) => replies.push((reply, result)),
                Decision::Apply(a, prev) => {
                    revision += 1;
                    overlay.insert(key, (!a.deleted).then(|| a.kv.clone()));
                    replies.push((reply, Ok(TxnOutcome::Succeeded { revision, prev })));
                    applied.push(a);
                }
            }
        }
        let body_base = match self.make_durable(revision) {
            Ok(base) => base,
            Err(reason) => {
                for (reply, result) in replies {
                    let failed = result.and(Err(WriteError::Failed(reason.clone())));
                    let _ = reply.try_send(failed);
                }
                return;
            }
        };
        self.publish(applied, body_base, revision);
        for (reply, result) in replies {
            let _ = reply.try_send(result);
        }
    }

    /// The key's current state, reading its value from disk when not cached.
    fn lookup(&self, key: &[u8]) -> std::io::Result<Option<KeyValue>> {
        let found = {
            let state = self.shared.lock();
            state
                .index
                .get_key_value(key)
                .map(|(k, e)| (k.clone(), e.clone()))
        };
        let Some((key, entry)) = found else {
            return Ok(None);
        };
        let value = match (entry.value, entry.location) {
            (Some(v), _) => v,
            (None, Location::Disk { offset, len }) => read_value(&*self.file, offset, len)?,
            (None, Location::Memory) => Arc::from(&[][..]),
        };
        Ok(Some(KeyValue {
            key,
            value,
            create_revision: entry.create_revision,
            mod_revision: entry.mod_revision,
            version: entry.version,
        }))
    }

    fn decide(
        &mut self,
        key: &[u8],
        compare: Compare,
        op: WriteOp,
        current: Option<KeyValue>,
        revision: Revision,
    ) -> Decision {
        let holds = match (compare, &current) {
            (Compare::Any, _) => true,
            (Compare::Absent, c) => c.is_none(),
            (Compare::Exists, c) => c.is_some(),
            (Compare::ModRevision(r), Some(c)) => c.mod_revision == r,
            (Compare::ModRevision(_), None) => false,
        };
        let volatile = self.shared.options.is_volatile(key);
        match op {
            _ if !holds => Decision::Done(Ok(TxnOutcome::Failed { current })),
            WriteOp::Delete => match current {
                None => Decision::Done(Ok(TxnOutcome::Failed { current: None })),
                Some(prev) => {
                    let tomb = KeyValue {
                        mod_revision: revision,
                        ..prev.clone()
                    };
                    let disk = (!volatile).then(|| {
                        self.encode(&Record::Delete {
                            revision,
                            key: Bytes(key),
                        })
                    });
                    let event = Event {
                        kind: EventKind::Delete,
                        kv: tomb.clone(),
                        prev: Some(prev.clone()),
                    };
                    Decision::Apply(
                        Applied {
                            kv: tomb,
                            deleted: true,
                            disk,
                            event,
                        },
                        Some(prev),
                    )
                }
            },
            WriteOp::Put(value) => {
                let bytes = value.resolve(revision);
                if bytes.len() + key.len() + 64 > MAX_BODY_LEN as usize {
                    return Decision::Done(Err(WriteError::TooLarge { bytes: bytes.len() }));
                }
                let kv = KeyValue {
                    key: current
                        .as_ref()
                        .map_or_else(|| Arc::from(key), |c| c.key.clone()),
                    value: Arc::from(bytes),
                    create_revision: current.as_ref().map_or(revision, |c| c.create_revision),
                    mod_revision: revision,
                    version: current.as_ref().map_or(1, |c| c.version + 1),
                };
                let disk = (!volatile).then(|| {
                    self.encode(&Record::Put {
                        revision,
                        key: Bytes(key),
                        value: Bytes(&kv.value),
                        create_revision: kv.create_revision,
                        version: kv.version,
                    })
                });
                let event = Event {
                    kind: EventKind::Put,
                    kv: kv.clone(),
                    prev: current.clone(),
                };
                Decision::Apply(
                    Applied {
                        kv,
                        deleted: false,
                        disk,
                        event,
                    },
                    current,
                )
            }
        }
    }

    fn encode(&mut self, record: &Record<'_>) -> (usize, u32) {
        let offset = self.body.len();
        let len = codec::encode_record(record, &mut self.body);
        (offset, u32::try_from(len).unwrap_or(u32::MAX))
    }

    /// Appends the batch and fdatasyncs when anything must be durable; returns the file
    /// offset of the first write record.
    fn make_durable(&mut self, revision: Revision) -> Result<u64, String> {
        if self.body.is_empty() && revision <= self.reserved {
            return Ok(self.end);
        }
        let floor = self.reserved.max(revision + self.shared.options.reserve());
        self.out.clear();
        codec::encode_record(
            &Record::Batch {
                offset: self.end,
                floor,
            },
            &mut self.out,
        );
        let base = self.end + self.out.len() as u64;
        self.out.extend_from_slice(&self.body);
        let written = self.preallocate().and_then(|()| {
            self.file.write_all_at(&self.out, self.end)?;
            self.file.sync_data()
        });
        if let Err(e) = written {
            let reason = format!(
                "{}: {e}",
                self.shared
                    .backend
                    .describe(&crate::segment::segment_name(self.sequence))
            );
            self.failed = Some(reason.clone());
            return Err(reason);
        }
        self.end += self.out.len() as u64;
        self.reserved = floor;
        Ok(base)
    }

    /// Grows the file ahead of the batch about to be written.
    fn preallocate(&mut self) -> std::io::Result<()> {
        let need = self.end + self.out.len() as u64;
        if need > self.allocated {
            let step = self.shared.options.preallocate_bytes.max(1);
            let target = need.div_ceil(step) * step;
            self.file.allocate(target)?;
            self.allocated = target;
        }
        Ok(())
    }

    fn publish(&mut self, applied: Vec<Applied>, body_base: u64, revision: Revision) {
        {
            let mut guard = self.shared.lock();
            let state = &mut *guard;
            for a in applied {
                self.live_bytes = apply(state, a, body_base, self.live_bytes);
            }
            state.revision = revision;
            state.floor = self.reserved;
        }
        self.last_revision = revision;
        self.shared.published.notify(usize::MAX);
    }

    pub(crate) fn dead_bytes(&self) -> u64 {
        (self.end - HEADER_LEN as u64).saturating_sub(self.live_bytes)
    }

    pub(crate) fn last_revision(&self) -> Revision {
        self.last_revision
    }
}

enum Decision {
    Done(Result<TxnOutcome, WriteError>),
    Apply(Applied, Option<KeyValue>),
}

/// Puts one decided write into the index, cache and history; returns the new live bytes.
fn apply(state: &mut State, a: Applied, body_base: u64, mut live_bytes: u64) -> u64 {
    if let Some(old) = state.index.get(&a.kv.key) {
        live_bytes -= disk_len(old);
        if let (Some(v), Location::Disk { .. }) = (&old.value, &old.location) {
            state.cache.forget(v.len());
        }
    }
    if a.deleted {
        state.index.remove(&a.kv.key);
    } else {
        let location = match a.disk {
            Some((offset, len)) => {
                live_bytes += u64::from(len);
                Location::Disk {
                    offset: body_base + offset as u64,
                    len,
                }
            }
            None => Location::Memory,
        };
        let value = (location == Location::Memory).then(|| a.kv.value.clone());
        let entry = Entry {
            create_revision: a.kv.create_revision,
            mod_revision: a.kv.mod_revision,
            version: a.kv.version,
            location,
            value,
        };
        state.index.insert(a.kv.key.clone(), entry);
        state
            .cache
            .insert(&mut state.index, &a.kv.key, a.kv.mod_revision, &a.kv.value);
    }
    state.history.push(a.event);
    live_bytes
}
