//! What the node is told for NetworkPolicy enforcement: every NetworkPolicy and every
//! Namespace of the cluster (the namespaces for their labels, which namespace selectors
//! match). Same shape as the Service feed (`services.rs`): the listing, a
//! `NetworkObjectsSynced` marker per kind, then each change; the stored JSON is forwarded
//! untouched.

use std::rc::Rc;

use async_channel::Sender;
use wisp_proto::{NetworkObjectKind, ToNode};
use wisp_store::{EventKind, KeyValue};

use crate::api::server::ApiServer;
use crate::controllers::feed::{Feed, FeedItem};

const POLICIES: &[u8] = b"/registry/networking.k8s.io/networkpolicies/";
const NAMESPACES: &[u8] = b"/registry/core/namespaces/";

/// Sends the node every NetworkPolicy and Namespace until the store closes or the link goes
/// away.
pub async fn follow(server: Rc<ApiServer>, out: Sender<ToNode>) {
    let policies = follow_kind(&server, NetworkObjectKind::NetworkPolicy, out.clone());
    let namespaces = follow_kind(&server, NetworkObjectKind::Namespace, out);
    futures_lite::future::zip(policies, namespaces).await;
}

fn prefix(kind: NetworkObjectKind) -> &'static [u8] {
    match kind {
        NetworkObjectKind::NetworkPolicy => POLICIES,
        NetworkObjectKind::Namespace => NAMESPACES,
    }
}

async fn follow_kind(server: &ApiServer, kind: NetworkObjectKind, out: Sender<ToNode>) {
    let (listed, mut feed) = Feed::start(server.store(), prefix(kind));
    if send_listing(&listed, kind, &out).await.is_err() {
        return;
    }
    while let Some(item) = feed.next().await {
        let sent = match item {
            FeedItem::Event(event) => match event.kind {
                EventKind::Put => send_put(&event.kv, kind, &out).await,
                EventKind::Delete => match object_key(&event.kv.key, kind) {
                    Some(key) => out
                        .send(ToNode::NetworkObjectRemoved { kind, key })
                        .await
                        .is_ok(),
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

async fn send_listing(
    kvs: &[KeyValue],
    kind: NetworkObjectKind,
    out: &Sender<ToNode>,
) -> Result<(), ()> {
    let mut keys = Vec::with_capacity(kvs.len());
    for kv in kvs {
        if !send_put(kv, kind, out).await {
            return Err(());
        }
        keys.extend(object_key(&kv.key, kind));
    }
    let synced = ToNode::NetworkObjectsSynced { kind, keys };
    out.send(synced).await.map_err(|_| ())
}

/// Forwards one stored object; false once the link is gone.
async fn send_put(kv: &KeyValue, kind: NetworkObjectKind, out: &Sender<ToNode>) -> bool {
    let Some(key) = object_key(&kv.key, kind) else {
        return true;
    };
    let json = kv.value.to_vec();
    let message = ToNode::NetworkObjectUpsert { kind, key, json };
    out.send(message).await.is_ok()
}

/// `<namespace>/<name>` of a stored NetworkPolicy key, the name of a Namespace's.
fn object_key(stored: &[u8], kind: NetworkObjectKind) -> Option<String> {
    let rest = std::str::from_utf8(stored.strip_prefix(prefix(kind))?).ok()?;
    let slashes = rest.matches('/').count();
    let expected = match kind {
        NetworkObjectKind::NetworkPolicy => 1,
        NetworkObjectKind::Namespace => 0,
    };
    (slashes == expected && !rest.is_empty()).then(|| rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        let policy = NetworkObjectKind::NetworkPolicy;
        let key = object_key(
            b"/registry/networking.k8s.io/networkpolicies/d/deny",
            policy,
        );
        assert_eq!(key.as_deref(), Some("d/deny"));
        let namespace = NetworkObjectKind::Namespace;
        let key = object_key(b"/registry/core/namespaces/team-a", namespace);
        assert_eq!(key.as_deref(), Some("team-a"));
        assert_eq!(
            object_key(b"/registry/core/namespaces/a/b", namespace),
            None
        );
        assert_eq!(object_key(b"/registry/core/services/d/web", policy), None);
    }
}
