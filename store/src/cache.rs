//! Byte accounting and eviction order for cached values of on-disk keys.
//!
//! The values themselves sit in the index entries (`Entry::value`); this keeps a FIFO of
//! what was cached so the oldest can be dropped when the budget is passed. A queue item whose
//! entry changed since is stale and skipped.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::codec::Revision;
use crate::index::{Index, Location};

#[derive(Debug, Default)]
pub struct Cache {
    queue: VecDeque<(Arc<[u8]>, Revision)>,
    bytes: usize,
    budget: usize,
}

impl Cache {
    pub fn new(budget: usize) -> Cache {
        Cache {
            queue: VecDeque::new(),
            bytes: 0,
            budget,
        }
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Caches `value` in the entry of `key` if it is still at `revision`, then evicts.
    pub fn insert(
        &mut self,
        index: &mut Index,
        key: &Arc<[u8]>,
        revision: Revision,
        value: &Arc<[u8]>,
    ) {
        let Some(entry) = index.get_mut(key) else {
            return;
        };
        if entry.mod_revision != revision
            || entry.value.is_some()
            || entry.location == Location::Memory
        {
            return;
        }
        if value.len() > self.budget {
            return;
        }
        entry.value = Some(value.clone());
        self.bytes += value.len();
        self.queue.push_back((key.clone(), revision));
        self.evict(index);
    }

    /// Accounts for a cached value leaving the index (overwrite or delete).
    pub fn forget(&mut self, len: usize) {
        self.bytes -= len;
    }

    fn evict(&mut self, index: &mut Index) {
        while self.bytes > self.budget {
            let Some((key, revision)) = self.queue.pop_front() else {
                break;
            };
            if let Some(entry) = index.get_mut(&key)
                && entry.mod_revision == revision
                && entry.location != Location::Memory
                && let Some(v) = entry.value.take()
            {
                self.bytes -= v.len();
            }
        }
        if self.queue.len() > 64 && self.queue.len() > 4 * index.len() {
            self.queue.retain(|(k, r)| {
                index
                    .get(k)
                    .is_some_and(|e| e.mod_revision == *r && e.value.is_some())
            });
        }
    }
}
