//! A work queue of object keys (`namespace/name`): adding a key already waiting is a
//! no-op, so a burst of watch events for one object costs one reconcile. Delayed adds
//! serve the few upstream semantics that need a clock (minReadySeconds,
//! progressDeadlineSeconds); only the earliest pending deadline per key keeps a timer.
//! A key whose sync fails is retried after upstream's controller backoff (5 ms doubling per
//! consecutive failure, at most 1000 s), so a persistent error cannot keep the CPU busy.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;

use super::client::WriteError;

/// client-go's DefaultControllerRateLimiter per-item backoff.
const RETRY_BASE: Duration = Duration::from_millis(5);
const RETRY_MAX: Duration = Duration::from_secs(1000);

pub struct WorkQueue {
    pending: RefCell<(VecDeque<String>, HashSet<String>)>,
    timers: RefCell<HashMap<String, Instant>>,
    /// Consecutive failed syncs per key, for the retry backoff.
    failures: RefCell<HashMap<String, u32>>,
    wake_tx: async_channel::Sender<()>,
    wake_rx: async_channel::Receiver<()>,
}

impl WorkQueue {
    pub fn new() -> Rc<WorkQueue> {
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        Rc::new(WorkQueue {
            pending: RefCell::new((VecDeque::new(), HashSet::new())),
            timers: RefCell::new(HashMap::new()),
            failures: RefCell::new(HashMap::new()),
            wake_tx,
            wake_rx,
        })
    }

    pub fn add(&self, key: String) {
        let mut pending = self.pending.borrow_mut();
        if pending.1.insert(key.clone()) {
            pending.0.push_back(key);
            // A full channel already holds a wake-up for the worker.
            let _ = self.wake_tx.try_send(());
        }
    }

    /// Adds the key if there is one (a queue key of an object without a name is `None`).
    pub fn add_key(&self, key: Option<String>) {
        if let Some(k) = key {
            self.add(k);
        }
    }

    /// Adds `key` after `delay`, unless an earlier timer for it is already pending.
    pub fn add_after(
        self: &Rc<Self>,
        executor: &LocalExecutor<'static>,
        key: String,
        delay: Duration,
    ) {
        let due = Instant::now() + delay;
        {
            let mut timers = self.timers.borrow_mut();
            if timers.get(&key).is_some_and(|at| *at <= due) {
                return;
            }
            timers.insert(key.clone(), due);
        }
        let queue = Rc::clone(self);
        executor
            .spawn(async move {
                async_io::Timer::at(due).await;
                let mine = queue.timers.borrow().get(&key) == Some(&due);
                if mine {
                    queue.timers.borrow_mut().remove(&key);
                    queue.add(key);
                }
            })
            .detach();
    }

    /// The wait before retrying `key` after one more failure.
    pub fn failed(&self, key: &str) -> Duration {
        let mut failures = self.failures.borrow_mut();
        let n = failures.entry(key.to_owned()).or_insert(0);
        let delay = RETRY_BASE.saturating_mul(1 << (*n).min(20)).min(RETRY_MAX);
        *n += 1;
        delay
    }

    pub fn forget(&self, key: &str) {
        self.failures.borrow_mut().remove(key);
    }

    /// Every key waiting now, in the order first added; waits while there is none.
    pub async fn next_batch(&self) -> Vec<String> {
        loop {
            let batch: Vec<String> = {
                let mut pending = self.pending.borrow_mut();
                pending.1.clear();
                pending.0.drain(..).collect()
            };
            if !batch.is_empty() {
                return batch;
            }
            if self.wake_rx.recv().await.is_err() {
                return Vec::new();
            }
        }
    }

    #[cfg(test)]
    pub fn is_idle(&self) -> bool {
        self.pending.borrow().0.is_empty()
    }
}

/// Reconciles keys one at a time until the queue closes; a failed key is retried after the
/// backoff.
pub async fn run_worker<F, Fut>(queue: Rc<WorkQueue>, executor: Rc<LocalExecutor<'static>>, sync: F)
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), WriteError>>,
{
    loop {
        let batch = queue.next_batch().await;
        if batch.is_empty() {
            return;
        }
        for key in batch {
            match sync(key.clone()).await {
                Ok(()) | Err(WriteError::NotFound) => queue.forget(&key),
                Err(_) => {
                    let delay = queue.failed(&key);
                    queue.add_after(&executor, key, delay);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_the_cap() {
        let q = WorkQueue::new();
        assert_eq!(q.failed("a"), Duration::from_millis(5));
        assert_eq!(q.failed("a"), Duration::from_millis(10));
        assert_eq!(q.failed("a"), Duration::from_millis(20));
        for _ in 0..30 {
            q.failed("a");
        }
        assert_eq!(q.failed("a"), Duration::from_secs(1000));
        q.forget("a");
        assert_eq!(q.failed("a"), Duration::from_millis(5));
    }

    #[test]
    fn duplicate_keys_are_coalesced_in_first_added_order() {
        let q = WorkQueue::new();
        q.add("ns/b".into());
        q.add("ns/a".into());
        q.add("ns/b".into());
        let batch = futures_lite::future::block_on(q.next_batch());
        assert_eq!(batch, vec!["ns/b".to_owned(), "ns/a".to_owned()]);
        assert!(q.is_idle());
    }
}
