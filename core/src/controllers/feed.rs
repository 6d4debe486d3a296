//! List-then-watch over a store prefix, the controllers' informer without a cache: the
//! initial list, then every change in order, and a fresh list whenever the store's watch
//! history has moved past us (so no change is ever silently missed).

use wisp_store::{Event, KeyValue, Store, Watcher};

/// What a controller sees next.
#[derive(Debug)]
pub enum FeedItem {
    /// One committed change.
    Event(Event),
    /// Everything under the prefix now: the watch fell behind compaction, so the
    /// controller rebuilds what it derives from the objects.
    Relisted(Vec<KeyValue>),
}

pub struct Feed {
    store: Store,
    prefix: Vec<u8>,
    watcher: Option<Watcher>,
}

impl Feed {
    /// Lists the prefix and watches from the list's revision on.
    pub fn start(store: &Store, prefix: &[u8]) -> (Vec<KeyValue>, Feed) {
        let mut feed = Feed {
            store: store.clone(),
            prefix: prefix.to_vec(),
            watcher: None,
        };
        let items = feed.relist();
        (items, feed)
    }

    fn relist(&mut self) -> Vec<KeyValue> {
        let listed = self.store.range(&self.prefix, 0, None);
        // The list's revision is still in the history right after listing.
        self.watcher = self.store.watch(&self.prefix, listed.revision).ok();
        listed.kvs
    }

    /// The next change, or `None` once the store is closed.
    pub async fn next(&mut self) -> Option<FeedItem> {
        let Some(watcher) = self.watcher.as_mut() else {
            return Some(FeedItem::Relisted(self.relist()));
        };
        match watcher.next().await? {
            Ok(event) => Some(FeedItem::Event(event)),
            Err(_) => Some(FeedItem::Relisted(self.relist())),
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use wisp_store::Options;

    use super::*;

    #[test]
    fn events_in_order_then_a_relist_after_compaction() {
        let dir = std::env::temp_dir().join(format!("wisp-feed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir, Options::default()).unwrap();
        block_on(async {
            store
                .put(b"/registry/a", b"1".to_vec().into())
                .await
                .unwrap();
            let (listed, mut feed) = Feed::start(&store, b"/registry/");
            assert_eq!(listed.len(), 1);
            store
                .put(b"/registry/b", b"2".to_vec().into())
                .await
                .unwrap();
            store.put(b"/other/c", b"3".to_vec().into()).await.unwrap();
            match feed.next().await {
                Some(FeedItem::Event(e)) => assert_eq!(&*e.kv.key, b"/registry/b"),
                other => panic!("expected the put of b, got {other:?}"),
            }
            let last = store
                .put(b"/registry/d", b"4".to_vec().into())
                .await
                .unwrap();
            store
                .put(b"/registry/e", b"5".to_vec().into())
                .await
                .unwrap();
            store.compact(last + 1).await.unwrap();
            match feed.next().await {
                Some(FeedItem::Relisted(items)) => assert_eq!(items.len(), 4),
                other => panic!("expected a relist, got {other:?}"),
            }
        });
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
