//! The public value types of the store API: key-values, writes, transactions, events.
//!
//! Plain data; the behaviour lives in `store.rs`, `committer.rs` and `watch.rs`.

use std::fmt;
use std::sync::Arc;

use crate::codec::Revision;

/// A key's current state. `value` is one shared buffer: readers and watchers clone the `Arc`.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Arc<[u8]>,
    pub value: Arc<[u8]>,
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: u64,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &String::from_utf8_lossy(&self.key))
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .field("version", &self.version)
            .finish()
    }
}

/// What `put` stores: bytes, or bytes built from the revision they are committed at.
///
/// The closure runs exactly once, on the store's committer thread, when the revision is
/// assigned and before the fsync; the store keeps and serves exactly the bytes it returns.
/// It must not call back into the store.
pub enum Value {
    Bytes(Vec<u8>),
    WithRevision(Box<dyn FnOnce(Revision) -> Vec<u8> + Send>),
}

impl Value {
    pub(crate) fn resolve(self, revision: Revision) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b,
            Value::WithRevision(f) => f(revision),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Value::WithRevision(_) => write!(f, "WithRevision(..)"),
        }
    }
}

impl From<Vec<u8>> for Value {
    fn from(b: Vec<u8>) -> Value {
        Value::Bytes(b)
    }
}

impl From<&[u8]> for Value {
    fn from(b: &[u8]) -> Value {
        Value::Bytes(b.to_vec())
    }
}

/// The condition a transaction checks on its key before writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    /// The key exists and its mod revision equals this.
    ModRevision(Revision),
    /// The key does not exist.
    Absent,
    /// The key exists.
    Exists,
    /// Always true.
    Any,
}

#[derive(Debug)]
pub enum TxnOp {
    Put(Value),
    /// Deleting an absent key fails the transaction (`Failed { current: None }`).
    Delete,
}

/// Compare, then write, on one key, atomically.
#[derive(Debug)]
pub struct Txn {
    pub key: Vec<u8>,
    pub compare: Compare,
    pub op: TxnOp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOutcome {
    Succeeded {
        revision: Revision,
        prev: Option<KeyValue>,
    },
    Failed {
        current: Option<KeyValue>,
    },
}

/// Sorted key-values under a prefix, read at `revision`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeResult {
    pub kvs: Vec<KeyValue>,
    /// More keys under the prefix follow the last one returned.
    pub more: bool,
    pub revision: Revision,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    Put,
    Delete,
}

/// One committed change. For `Delete`, `kv` holds the key, the delete's revision as
/// `mod_revision`, and the last value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventKind,
    pub kv: KeyValue,
    pub prev: Option<KeyValue>,
}

impl Event {
    pub fn revision(&self) -> Revision {
        self.kv.mod_revision
    }
}
