//! What the node is told for NetworkPolicy enforcement: every NetworkPolicy and every
//! Namespace of the cluster (the namespaces for their labels, which namespace selectors
//! match). Same shape as the Service feed (object_feed.rs): the listing, a
//! `NetworkObjectsSynced` marker per kind, then each change; the stored JSON is forwarded
//! untouched.

use std::rc::Rc;

use async_channel::Sender;
use wisp_proto::{NetworkObjectKind, ToNode};

use super::object_feed::{ForwardedKind, follow_kind};
use crate::api::server::ApiServer;

const POLICIES: &[u8] = b"/registry/networking.k8s.io/networkpolicies/";
const NAMESPACES: &[u8] = b"/registry/core/namespaces/";

/// Sends the node every NetworkPolicy and Namespace until the store closes or the link goes
/// away.
pub async fn follow(server: Rc<ApiServer>, out: Sender<ToNode>) {
    let policies = follow_kind(&server, NetworkObjectKind::NetworkPolicy, out.clone());
    let namespaces = follow_kind(&server, NetworkObjectKind::Namespace, out);
    futures_lite::future::zip(policies, namespaces).await;
}

impl ForwardedKind for NetworkObjectKind {
    fn prefix(self) -> &'static [u8] {
        match self {
            NetworkObjectKind::NetworkPolicy => POLICIES,
            NetworkObjectKind::Namespace => NAMESPACES,
        }
    }

    /// `<namespace>/<name>` of a NetworkPolicy, the name of a Namespace.
    fn is_object_key(self, rest: &str) -> bool {
        let expected = match self {
            NetworkObjectKind::NetworkPolicy => 1,
            NetworkObjectKind::Namespace => 0,
        };
        rest.matches('/').count() == expected && !rest.is_empty()
    }

    fn upsert(self, key: String, json: Vec<u8>) -> ToNode {
        ToNode::NetworkObjectUpsert {
            kind: self,
            key,
            json,
        }
    }

    fn removed(self, key: String) -> ToNode {
        ToNode::NetworkObjectRemoved { kind: self, key }
    }

    fn synced(self, keys: Vec<String>) -> ToNode {
        ToNode::NetworkObjectsSynced { kind: self, keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodelink::object_feed::object_key;

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
