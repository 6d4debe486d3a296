//! A work queue of object keys (`namespace/name`): adding a key already waiting is a
//! no-op, so a burst of watch events for one object costs one reconcile. Delayed adds
//! serve the few upstream semantics that need a clock (minReadySeconds,
//! progressDeadlineSeconds); only the earliest pending deadline per key keeps a timer.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_executor::LocalExecutor;

use super::client::WriteError;

pub struct WorkQueue {
    pending: RefCell<(VecDeque<String>, HashSet<String>)>,
    timers: RefCell<HashMap<String, Instant>>,
    wake_tx: async_channel::Sender<()>,
    wake_rx: async_channel::Receiver<()>,
}

impl WorkQueue {
    pub fn new() -> Rc<WorkQueue> {
        let (wake_tx, wake_rx) = async_channel::bounded(1);
        Rc::new(WorkQueue {
            pending: RefCell::new((VecDeque::new(), HashSet::new())),
            timers: RefCell::new(HashMap::new()),
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

/// Reconciles keys one at a time until the queue closes. A failed key is retried: at once
/// after a conflict (the newer object is already stored), after a second otherwise.
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
                Ok(()) | Err(WriteError::NotFound) => {}
                Err(WriteError::Conflict | WriteError::AlreadyExists) => queue.add(key),
                Err(WriteError::Other { .. }) => {
                    queue.add_after(&executor, key, Duration::from_secs(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
