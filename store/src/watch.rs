//! Watchers: a cursor into the shared event history plus a wake-up on each publish.
//!
//! A watcher holds no events of its own; it clones them (Arc clones, no bytes) out of the
//! history as it advances. If the history drops events it has not read yet, it gets
//! `WatchError::Compacted`.

use std::sync::Arc;

use crate::codec::Revision;
use crate::error::WatchError;
use crate::store::Shared;
use crate::types::Event;

pub struct Watcher {
    shared: Arc<Shared>,
    prefix: Vec<u8>,
    cursor: Revision,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watcher(after revision {})", self.cursor)
    }
}

enum Poll {
    Ready(Option<Result<Event, WatchError>>),
    Pending,
}

impl Watcher {
    pub(crate) fn new(shared: Arc<Shared>, prefix: Vec<u8>, cursor: Revision) -> Watcher {
        Watcher {
            shared,
            prefix,
            cursor,
        }
    }

    /// Revision of the last event delivered (or the start).
    pub fn cursor(&self) -> Revision {
        self.cursor
    }

    /// The next event; `None` once the store is closed and every event was delivered.
    pub async fn next(&mut self) -> Option<Result<Event, WatchError>> {
        loop {
            // Listening before looking: a publish between the two still wakes us.
            let listener = self.shared.published.listen();
            match self.poll() {
                Poll::Ready(r) => return r,
                Poll::Pending => listener.await,
            }
        }
    }

    /// The next event if one is ready now, without waiting.
    pub fn try_next(&mut self) -> Option<Result<Event, WatchError>> {
        match self.poll() {
            Poll::Ready(r) => r,
            Poll::Pending => None,
        }
    }

    fn poll(&mut self) -> Poll {
        let state = self.shared.lock();
        if self.cursor < state.history.start() {
            let oldest = state.history.start();
            return Poll::Ready(Some(Err(WatchError::Compacted {
                requested: self.cursor,
                oldest,
            })));
        }
        if let Some(event) = state.history.next_after(self.cursor, &self.prefix) {
            self.cursor = event.revision();
            return Poll::Ready(Some(Ok(event.clone())));
        }
        // Nothing for this prefix up to the published revision: skip it next time.
        self.cursor = self.cursor.max(state.revision);
        if state.closed {
            Poll::Ready(None)
        } else {
            Poll::Pending
        }
    }
}
