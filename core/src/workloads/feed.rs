//! Feeding a controller from the store: every object under a key prefix once at start,
//! then each change as the store commits it. A compacted watch re-lists and resumes, so
//! no change is lost; there is no periodic resync.

use std::rc::Rc;
use std::time::Duration;

use miniserde::json::Value;
use wisp_store::{EventKind, Store};

use crate::object::meta;

/// One change to an object: `old` is absent on creation (and on the initial listing),
/// `new` is absent on deletion.
pub struct Change {
    pub old: Option<Value>,
    pub new: Option<Value>,
}

impl Change {
    /// The object as it is now, or as it was last if deleted.
    pub fn latest(&self) -> Option<&Value> {
        self.new.as_ref().or(self.old.as_ref())
    }
}

/// Calls `on_change` for every object under `prefix`, then for every change, until the
/// store closes.
pub async fn follow(store: Store, prefix: String, on_change: Rc<dyn Fn(Change)>) {
    loop {
        let listing = store.range(prefix.as_bytes(), 0, None);
        for kv in &listing.kvs {
            on_change(Change {
                old: None,
                new: meta::from_json_bytes(&kv.value),
            });
        }
        let Ok(mut watcher) = store.watch(prefix.as_bytes(), listing.revision) else {
            async_io::Timer::after(Duration::from_millis(100)).await;
            continue;
        };
        loop {
            match watcher.next().await {
                None => return,
                Some(Err(_compacted)) => break,
                Some(Ok(event)) => on_change(to_change(&event)),
            }
        }
    }
}

fn to_change(event: &wisp_store::Event) -> Change {
    match event.kind {
        EventKind::Put => Change {
            old: event
                .prev
                .as_ref()
                .and_then(|kv| meta::from_json_bytes(&kv.value)),
            new: meta::from_json_bytes(&event.kv.value),
        },
        EventKind::Delete => Change {
            old: meta::from_json_bytes(&event.kv.value),
            new: None,
        },
    }
}

/// `namespace/name` of an object, the key controllers queue.
pub fn queue_key(object: &Value) -> Option<String> {
    Some(format!(
        "{}/{}",
        meta::namespace(object).unwrap_or(""),
        meta::name(object)?
    ))
}

/// Splits a queue key back into namespace and name.
pub fn split_queue_key(key: &str) -> (&str, &str) {
    key.split_once('/').unwrap_or(("", key))
}
