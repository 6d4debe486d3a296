//! What the node is told for its Service rules: every Service and every Endpoints object of
//! the cluster (list, a `ServicesSynced` marker per kind, then each change; object_feed.rs).
//! The node reads only the fields it renders; the control plane forwards the stored JSON
//! untouched.

use std::rc::Rc;

use async_channel::Sender;
use wisp_proto::{ServiceObjectKind, ToNode};

use super::object_feed::{ForwardedKind, follow_kind};
use crate::api::server::ApiServer;

const SERVICES: &[u8] = b"/registry/core/services/";
const ENDPOINTS: &[u8] = b"/registry/core/endpoints/";

/// Sends the node every Service and Endpoints object until the store closes or the link
/// goes away.
pub async fn follow(server: Rc<ApiServer>, out: Sender<ToNode>) {
    let services = follow_kind(&server, ServiceObjectKind::Service, out.clone());
    let endpoints = follow_kind(&server, ServiceObjectKind::Endpoints, out);
    futures_lite::future::zip(services, endpoints).await;
}

impl ForwardedKind for ServiceObjectKind {
    fn prefix(self) -> &'static [u8] {
        match self {
            ServiceObjectKind::Service => SERVICES,
            ServiceObjectKind::Endpoints => ENDPOINTS,
        }
    }

    /// `<namespace>/<name>`.
    fn is_object_key(self, rest: &str) -> bool {
        rest.contains('/')
    }

    fn upsert(self, key: String, json: Vec<u8>) -> ToNode {
        match self {
            ServiceObjectKind::Service => ToNode::ServiceUpsert { key, json },
            ServiceObjectKind::Endpoints => ToNode::EndpointsUpsert { key, json },
        }
    }

    fn removed(self, key: String) -> ToNode {
        match self {
            ServiceObjectKind::Service => ToNode::ServiceRemoved { key },
            ServiceObjectKind::Endpoints => ToNode::EndpointsRemoved { key },
        }
    }

    fn synced(self, keys: Vec<String>) -> ToNode {
        ToNode::ServicesSynced { kind: self, keys }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nodelink::object_feed::object_key;

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
