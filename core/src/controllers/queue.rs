//! A work queue of keys for controller workers, as client-go's: a key queued many times
//! before a worker takes it is processed once, and a key is never processed by two workers
//! at once (re-added while in progress, it is queued again when its worker is done).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::time::Duration;

/// Retry delays per key as client-go's default controller rate limiter: 5 ms doubling
/// per failure up to 1000 s.
const FIRST_RETRY: Duration = Duration::from_millis(5);
const LAST_RETRY: Duration = Duration::from_secs(1000);

struct State<K> {
    order: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
}

pub struct WorkQueue<K> {
    state: RefCell<State<K>>,
    // One token per queued key.
    wake_tx: async_channel::Sender<()>,
    wake_rx: async_channel::Receiver<()>,
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    pub fn new() -> WorkQueue<K> {
        let (wake_tx, wake_rx) = async_channel::unbounded();
        WorkQueue {
            state: RefCell::new(State {
                order: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                failures: HashMap::new(),
            }),
            wake_tx,
            wake_rx,
        }
    }

    pub fn add(&self, key: K) {
        let mut state = self.state.borrow_mut();
        if !state.dirty.insert(key.clone()) || state.processing.contains(&key) {
            return;
        }
        state.order.push_back(key);
        let _ = self.wake_tx.try_send(());
    }

    /// The next key to process; the caller must call [`WorkQueue::done`] with it.
    pub async fn next(&self) -> K {
        loop {
            {
                let mut state = self.state.borrow_mut();
                if let Some(key) = state.order.pop_front() {
                    state.dirty.remove(&key);
                    state.processing.insert(key.clone());
                    return key;
                }
            }
            // The queue holds a sender, so this waits for a token and never fails.
            let _ = self.wake_rx.recv().await;
        }
    }

    pub fn done(&self, key: &K) {
        let mut state = self.state.borrow_mut();
        state.processing.remove(key);
        if state.dirty.contains(key) {
            state.order.push_back(key.clone());
            let _ = self.wake_tx.try_send(());
        }
    }

    /// How long to wait before retrying `key` after another failure.
    pub fn retry_delay(&self, key: &K) -> Duration {
        let mut state = self.state.borrow_mut();
        let failures = state.failures.entry(key.clone()).or_insert(0);
        let delay = FIRST_RETRY.saturating_mul(1 << (*failures).min(20));
        *failures += 1;
        delay.min(LAST_RETRY)
    }

    /// Resets `key`'s retry delay (it succeeded).
    pub fn forget(&self, key: &K) {
        self.state.borrow_mut().failures.remove(key);
    }

    /// Keys queued or in progress.
    pub fn len(&self) -> usize {
        let state = self.state.borrow();
        state.dirty.union(&state.processing).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::future::block_on;

    #[test]
    fn duplicates_collapse_and_keys_in_progress_wait() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        block_on(async {
            let first = queue.next().await;
            assert_eq!(first, "a");
            queue.add("a");
            assert_eq!(queue.next().await, "b");
            queue.done(&"b");
            assert_eq!(queue.len(), 1);
            queue.done(&"a");
            assert_eq!(queue.next().await, "a");
            queue.done(&"a");
        });
        assert!(queue.is_empty());
    }

    #[test]
    fn retry_delays_double_until_forgotten() {
        let queue = WorkQueue::new();
        assert_eq!(queue.retry_delay(&"k"), Duration::from_millis(5));
        assert_eq!(queue.retry_delay(&"k"), Duration::from_millis(10));
        assert_eq!(queue.retry_delay(&"other"), Duration::from_millis(5));
        for _ in 0..30 {
            queue.retry_delay(&"k");
        }
        assert_eq!(queue.retry_delay(&"k"), LAST_RETRY);
        queue.forget(&"k");
        assert_eq!(queue.retry_delay(&"k"), Duration::from_millis(5));
    }
}
