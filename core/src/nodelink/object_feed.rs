//! Forwarding stored objects of one kind to the node as they are: the listing, a synced
//! marker naming every key listed, then each change. The Service feed (`services.rs`) and
//! the NetworkPolicy feed (`network_objects.rs`) differ only in their prefixes, keys and
//! message variants, which each kind supplies through [`ForwardedKind`].

use async_channel::Sender;
use wisp_proto::ToNode;
use wisp_store::{EventKind, KeyValue};

use crate::api::server::ApiServer;
use crate::controllers::feed::{Feed, FeedItem};

/// One kind of object the node is sent.
pub trait ForwardedKind: Copy {
    /// The store prefix the kind's objects live under.
    fn prefix(self) -> &'static [u8];
    /// Whether the rest of a stored key after the prefix names one object of this kind.
    fn is_object_key(self, rest: &str) -> bool;
    fn upsert(self, key: String, json: Vec<u8>) -> ToNode;
    fn removed(self, key: String) -> ToNode;
    fn synced(self, keys: Vec<String>) -> ToNode;
}

/// Sends every object of `kind` and then each change until the store closes or the link
/// goes away.
pub async fn follow_kind<K: ForwardedKind>(server: &ApiServer, kind: K, out: Sender<ToNode>) {
    let (listed, mut feed) = Feed::start(server.store(), kind.prefix());
    if send_listing(&listed, kind, &out).await.is_err() {
        return;
    }
    while let Some(item) = feed.next().await {
        let sent = match item {
            FeedItem::Event(event) => match event.kind {
                EventKind::Put => send_put(&event.kv, kind, &out).await,
                EventKind::Delete => match object_key(&event.kv.key, kind) {
                    Some(key) => out.send(kind.removed(key)).await.is_ok(),
                    None => true,
                },
            },
            FeedItem::Relisted(kvs) => send_listing(&kvs, kind, &out).await.is_ok(),
        };
        if !sent {
            return;
        }
    }
}

async fn send_listing<K: ForwardedKind>(
    kvs: &[KeyValue],
    kind: K,
    out: &Sender<ToNode>,
) -> Result<(), ()> {
    let mut keys = Vec::with_capacity(kvs.len());
    for kv in kvs {
        if !send_put(kv, kind, out).await {
            return Err(());
        }
        keys.extend(object_key(&kv.key, kind));
    }
    out.send(kind.synced(keys)).await.map_err(|_| ())
}

/// Forwards one stored object; false once the link is gone.
async fn send_put<K: ForwardedKind>(kv: &KeyValue, kind: K, out: &Sender<ToNode>) -> bool {
    let Some(key) = object_key(&kv.key, kind) else {
        return true;
    };
    out.send(kind.upsert(key, kv.value.to_vec())).await.is_ok()
}

/// The object key (`<namespace>/<name>` or `<name>`) of a stored key of `kind`.
pub fn object_key<K: ForwardedKind>(stored: &[u8], kind: K) -> Option<String> {
    let rest = std::str::from_utf8(stored.strip_prefix(kind.prefix())?).ok()?;
    kind.is_object_key(rest).then(|| rest.to_owned())
}
