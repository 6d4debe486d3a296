//! What the node is told: every pod bound to it (list, then each change), and which
//! ConfigMaps and Secrets changed so it can refresh the volumes that mount them.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use async_channel::Sender;
use wisp_proto::{ConfigKind, ToNode};
use wisp_store::{EventKind, KeyValue, Store};

use crate::api::server::ApiServer;
use crate::controllers::feed::{Feed, FeedItem};
use crate::object::meta;

const PODS: &[u8] = b"/registry/core/pods/";
const CONFIG_MAPS: &[u8] = b"/registry/core/configmaps/";
const SECRETS: &[u8] = b"/registry/core/secrets/";

/// The uid of a stored pod when it is bound to `node`.
fn bound_uid(value: &[u8], node: &str) -> Option<String> {
    let pod = meta::from_json_bytes(value)?;
    (meta::get_str(&pod, &["spec", "nodeName"]) == Some(node))
        .then(|| meta::uid(&pod).map(str::to_owned))
        .flatten()
}

/// Sends the node its pods until the store closes or the link goes away.
pub async fn follow(server: Rc<ApiServer>, node: String, out: Sender<ToNode>) {
    let (listed, mut feed) = Feed::start(server.store(), PODS);
    // Stored key -> uid of the pods the node was told about.
    let mut ours: HashMap<Arc<[u8]>, String> = HashMap::new();
    let store = server.store();
    if send_listing(store, &listed, &node, &mut ours, &out)
        .await
        .is_err()
    {
        return;
    }
    while let Some(item) = feed.next().await {
        let sent = match item {
            FeedItem::Event(event) => match event.kind {
                EventKind::Put => send_put(store, &event.kv, &node, &mut ours, &out).await,
                EventKind::Delete => match ours.remove(&event.kv.key) {
                    Some(uid) => out.send(ToNode::PodRemoved { uid }).await.is_ok(),
                    None => true,
                },
            },
            FeedItem::Relisted(kvs) => {
                ours.clear();
                send_listing(store, &kvs, &node, &mut ours, &out)
                    .await
                    .is_ok()
            }
        };
        if !sent {
            return;
        }
    }
}

async fn send_listing(
    store: &Store,
    kvs: &[KeyValue],
    node: &str,
    ours: &mut HashMap<Arc<[u8]>, String>,
    out: &Sender<ToNode>,
) -> Result<(), ()> {
    for kv in kvs {
        if !send_put(store, kv, node, ours, out).await {
            return Err(());
        }
    }
    let uids = ours.values().cloned().collect();
    out.send(ToNode::PodsSynced { uids }).await.map_err(|_| ())
}

/// Tells the node about a pod written under `kv.key`; false once the link is gone.
async fn send_put(
    store: &Store,
    kv: &KeyValue,
    node: &str,
    ours: &mut HashMap<Arc<[u8]>, String>,
    out: &Sender<ToNode>,
) -> bool {
    let Some(uid) = bound_uid(&kv.value, node) else {
        // A pod is never unbound; a replaced object under the same key is a new pod.
        return match ours.remove(&kv.key) {
            Some(uid) => out.send(ToNode::PodRemoved { uid }).await.is_ok(),
            None => true,
        };
    };
    if let Some(old) = ours.insert(Arc::clone(&kv.key), uid.clone())
        && old != uid
        && out.send(ToNode::PodRemoved { uid: old }).await.is_err()
    {
        return false;
    }
    out.send(ToNode::PodUpsert {
        uid,
        json: with_claim_paths(store, &kv.value),
    })
    .await
    .is_ok()
}

/// The pod's JSON for the node: each bound persistentVolumeClaim volume carries its
/// volume's host path (crate::storage::pod_claims::resolve_host_paths), so the agent
/// mounts it without reading claims and volumes itself.
fn with_claim_paths(store: &Store, value: &[u8]) -> Vec<u8> {
    let needle = b"persistentVolumeClaim";
    if !value.windows(needle.len()).any(|w| w == needle) {
        return value.to_vec();
    }
    let Some(mut pod) = meta::from_json_bytes(value) else {
        return value.to_vec();
    };
    if crate::storage::pod_claims::resolve_host_paths(store, &mut pod) {
        meta::to_json_bytes(&pod)
    } else {
        value.to_vec()
    }
}

/// Forwards changes of ConfigMaps and Secrets (names only; the node reads what it needs).
pub async fn follow_config(server: Rc<ApiServer>, out: Sender<ToNode>) {
    let (_, config_maps) = Feed::start(server.store(), CONFIG_MAPS);
    let (_, secrets) = Feed::start(server.store(), SECRETS);
    let a = forward_changes(config_maps, CONFIG_MAPS, ConfigKind::ConfigMap, out.clone());
    let b = forward_changes(secrets, SECRETS, ConfigKind::Secret, out);
    futures_lite::future::zip(a, b).await;
}

async fn forward_changes(mut feed: Feed, prefix: &[u8], kind: ConfigKind, out: Sender<ToNode>) {
    while let Some(item) = feed.next().await {
        // After a relist the node cannot know what changed: it refreshes on its own
        // timer-free path when pods restart; a relist is rare (watch history overrun).
        let FeedItem::Event(event) = item else {
            continue;
        };
        let Some(rest) = event.kv.key.strip_prefix(prefix) else {
            continue;
        };
        let rest = String::from_utf8_lossy(rest);
        let Some((namespace, name)) = rest.split_once('/') else {
            continue;
        };
        let message = ToNode::ConfigChanged {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        };
        if out.send(message).await.is_err() {
            return;
        }
    }
}
