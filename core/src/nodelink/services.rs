//! What the node is told for its Service rules: every Service and every Endpoints object of
//! the cluster (list, a `ServicesSynced` marker per kind, then each change). The node reads
//! only the fields it renders; the control plane forwards the stored JSON untouched.

use std::rc::Rc;

use async_channel::Sender;
use wisp_proto::{ServiceObjectKind, ToNode};
use wisp_store::{EventKind, KeyValue};

use crate::api::server::ApiServer;
use crate::controllers::feed::{Feed, FeedItem};

const SERVICES: &[u8] = b"/registry/core/services/";
const ENDPOINTS: &[u8] = b"/registry/core/endpoints/";

/// Sends the node every Service and Endpoints object until the store closes or the link
/// goes away.
pub async fn follow(server: Rc<ApiServer>, out: Sender<ToNode>) {
    let services = follow_kind(&server, ServiceObjectKind::Service, out.clone());
    let endpoints = follow_kind(&server, ServiceObjectKind::Endpoints, out);
    futures_lite::future::zip(services, endpoints).await;
}

fn prefix(kind: ServiceObjectKind) -> &'static [u8] {
    match kind {
        ServiceObjectKind::Service => SERVICES,
        ServiceObjectKind::Endpoints => ENDPOINTS,
    }
}

async fn follow_kind(server: &ApiServer, kind: ServiceObjectKind, out: Sender<ToNode>) {
    let (listed, mut feed) = Feed::start(server.store(), prefix(kind));
    if send_listing(&listed, kind, &out).await.is_err() {
        return;
    }
    while let Some(item) = feed.next().await {
        let sent = match item {
            FeedItem::Event(event) => match event.kind {
                EventKind::Put => send_put(&event.kv, kind, &out).await,
                EventKind::Delete => match object_key(&event.kv.key, kind) {
                    Some(key) => out.send(removed(kind, key)).await.is_ok(),
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
    kind: ServiceObjectKind,
    out: &Sender<ToNode>,
) -> Result<(), ()> {
    let mut keys = Vec::with_capacity(kvs.len());
    for kv in kvs {
        if !send_put(kv, kind, out).await {
            return Err(());
        }
        keys.extend(object_key(&kv.key, kind));
    }
    let synced = ToNode::ServicesSynced { kind, keys };
    out.send(synced).await.map_err(|_| ())
}

/// Forwards one stored object; false once the link is gone.
async fn send_put(kv: &KeyValue, kind: ServiceObjectKind, out: &Sender<ToNode>) -> bool {
    let Some(key) = object_key(&kv.key, kind) else {
        return true;
    };
    let json = kv.value.to_vec();
    let message = match kind {
        ServiceObjectKind::Service => ToNode::ServiceUpsert { key, json },
        ServiceObjectKind::Endpoints => ToNode::EndpointsUpsert { key, json },
    };
    out.send(message).await.is_ok()
}

fn removed(kind: ServiceObjectKind, key: String) -> ToNode {
    match kind {
        ServiceObjectKind::Service => ToNode::ServiceRemoved { key },
        ServiceObjectKind::Endpoints => ToNode::EndpointsRemoved { key },
    }
}

/// `<namespace>/<name>` of a stored key under the kind's prefix.
fn object_key(stored: &[u8], kind: ServiceObjectKind) -> Option<String> {
    let rest = std::str::from_utf8(stored.strip_prefix(prefix(kind))?).ok()?;
    rest.contains('/').then(|| rest.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_are_namespace_and_name() {
        let key = object_key(
            b"/registry/core/services/default/web",
            ServiceObjectKind::Service,
        );
        assert_eq!(key.as_deref(), Some("default/web"));
        assert_eq!(
            object_key(b"/registry/core/services/web", ServiceObjectKind::Service),
            None
        );
        assert_eq!(
            object_key(
                b"/registry/core/services/default/web",
                ServiceObjectKind::Endpoints
            ),
            None
        );
    }
}
