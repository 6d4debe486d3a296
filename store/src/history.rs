//! The shared in-memory event history that every watcher reads with its own cursor.
//!
//! Events are kept once, in revision order, bounded by a revision window and a byte budget;
//! watchers never buffer their own copies. `start` is the revision after which every event
//! is still here.

use std::collections::VecDeque;

use crate::codec::Revision;
use crate::types::Event;

#[derive(Debug)]
pub struct History {
    events: VecDeque<Event>,
    start: Revision,
    bytes: usize,
    window: u64,
    max_bytes: usize,
}

fn event_bytes(e: &Event) -> usize {
    e.kv.key.len() + e.kv.value.len() + e.prev.as_ref().map_or(0, |p| p.value.len()) + 128
}

impl History {
    /// An empty history whose events start after `start`.
    pub fn new(start: Revision, window: u64, max_bytes: usize) -> History {
        History {
            events: VecDeque::new(),
            start,
            bytes: 0,
            window,
            max_bytes,
        }
    }

    /// Every event with a revision above this is kept.
    pub fn start(&self) -> Revision {
        self.start
    }

    pub fn push(&mut self, event: Event) {
        self.bytes += event_bytes(&event);
        let newest = event.revision();
        self.events.push_back(event);
        while let Some(front) = self.events.front() {
            let too_old = newest - front.revision() >= self.window;
            if !too_old && self.bytes <= self.max_bytes {
                break;
            }
            self.drop_front();
        }
    }

    /// Drops events at or below `revision` (explicit compaction).
    pub fn compact(&mut self, revision: Revision) {
        while self
            .events
            .front()
            .is_some_and(|e| e.revision() <= revision)
        {
            self.drop_front();
        }
        self.start = self.start.max(revision);
    }

    fn drop_front(&mut self) {
        if let Some(e) = self.events.pop_front() {
            self.bytes -= event_bytes(&e);
            self.start = e.revision();
        }
    }

    /// The first event after `cursor` whose key starts with `prefix`.
    pub fn next_after(&self, cursor: Revision, prefix: &[u8]) -> Option<&Event> {
        let first = self.events.partition_point(|e| e.revision() <= cursor);
        self.events
            .range(first..)
            .find(|e| e.kv.key.starts_with(prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{EventKind, KeyValue};
    use std::sync::Arc;

    fn ev(rev: u64, key: &[u8]) -> Event {
        let kv = KeyValue {
            key: Arc::from(key),
            value: Arc::from(&b"v"[..]),
            create_revision: rev,
            mod_revision: rev,
            version: 1,
        };
        Event {
            kind: EventKind::Put,
            kv,
            prev: None,
        }
    }

    #[test]
    fn window_and_prefix_and_compact() {
        let mut h = History::new(0, 3, usize::MAX);
        for r in 1..=5 {
            h.push(ev(r, if r % 2 == 0 { b"a/x" } else { b"b/x" }));
        }
        assert_eq!(h.start(), 2);
        assert_eq!(h.next_after(2, b"a/").unwrap().revision(), 4);
        assert_eq!(h.next_after(4, b"b/").unwrap().revision(), 5);
        assert!(h.next_after(5, b"").is_none());
        h.compact(4);
        assert_eq!(h.start(), 4);
        assert_eq!(h.next_after(0, b"").unwrap().revision(), 5);
    }

    #[test]
    fn byte_budget_drops_oldest() {
        let mut h = History::new(0, 1000, 2 * event_bytes(&ev(1, b"k")));
        for r in 1..=4 {
            h.push(ev(r, b"k"));
        }
        assert_eq!(h.start(), 2);
    }
}
