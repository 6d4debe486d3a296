//! Objects every cluster has from its first start: the namespaces default, kube-system,
//! kube-public and kube-node-lease, the `kubernetes` Service with its Endpoints pointing
//! at the API server, and the default `local-path` StorageClass (crate::storage). They go
//! through the ordinary request path (as the API server's own
//! identity), so they get the same defaulting, validation and metadata as any object.
//! The RBAC roles of wisp's own components are created here too, before any controller
//! starts.

use miniserde::json::Value;

use crate::api::response::Body;
use crate::api::server::{ApiRequest, ApiServer, User};
use crate::object::meta::{get_path, get_str};
use crate::status::ApiError;

/// Where the `kubernetes` Service sends clients: the API server's address and port.
#[derive(Debug, Clone)]
pub struct ApiEndpoint {
    pub service_ip: String,
    pub host_ip: String,
    pub port: u16,
}

pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

fn system_user() -> User {
    User {
        name: "system:apiserver".to_owned(),
        groups: vec!["system:masters".to_owned()],
    }
}

async fn create_if_absent(server: &ApiServer, path: &str, body: String) -> Result<(), ApiError> {
    let req = ApiRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        content_type: Some("application/json".to_owned()),
        body: body.into_bytes(),
        user: Some(system_user()),
        ..ApiRequest::default()
    };
    let resp = server.handle(req).await;
    match resp.status {
        201 | 409 => Ok(()),
        code => Err(ApiError::internal(format!(
            "bootstrap POST {path} answered {code}"
        ))),
    }
}

/// Points the `kubernetes` Endpoints at `api.host_ip` (the host's primary address
/// changed while the API server runs).
pub async fn point_kubernetes_endpoints(
    server: &ApiServer,
    api: &ApiEndpoint,
) -> Result<(), ApiError> {
    let path = "/api/v1/namespaces/default/endpoints/kubernetes";
    let req = ApiRequest {
        method: "PATCH".to_owned(),
        path: path.to_owned(),
        content_type: Some("application/merge-patch+json".to_owned()),
        body: kubernetes_endpoints_subsets(api).into_bytes(),
        user: Some(system_user()),
        ..ApiRequest::default()
    };
    match server.handle(req).await.status {
        200 => Ok(()),
        code => Err(ApiError::internal(format!("PATCH {path} answered {code}"))),
    }
}

/// Points the `kubernetes` Endpoints at `api.host_ip` unless they already do: after a
/// restart on a host whose address changed while wisp was stopped.
pub async fn ensure_kubernetes_endpoints_address(
    server: &ApiServer,
    api: &ApiEndpoint,
) -> Result<(), ApiError> {
    let req = ApiRequest {
        method: "GET".to_owned(),
        path: "/api/v1/namespaces/default/endpoints/kubernetes".to_owned(),
        user: Some(system_user()),
        ..ApiRequest::default()
    };
    let resp = server.handle(req).await;
    let bytes: &[u8] = match &resp.body {
        Body::Bytes(b) => b,
        Body::Shared(b) => b,
        Body::Stream(_) => &[],
    };
    let stored = std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| miniserde::json::from_str::<Value>(text).ok());
    let address = stored.as_ref().and_then(|v| first_endpoint_ip(v));
    if resp.status == 200 && address == Some(api.host_ip.as_str()) {
        return Ok(());
    }
    point_kubernetes_endpoints(server, api).await
}

fn first_endpoint_ip(endpoints: &Value) -> Option<&str> {
    let Value::Array(subsets) = get_path(endpoints, &["subsets"])? else {
        return None;
    };
    let Value::Array(addresses) = get_path(subsets.first()?, &["addresses"])? else {
        return None;
    };
    get_str(addresses.first()?, &["ip"])
}

fn kubernetes_endpoints_subsets(api: &ApiEndpoint) -> String {
    format!(
        r#"{{"subsets":[{{"addresses":[{{"ip":"{}"}}],"ports":[{{"name":"https","port":{},"protocol":"TCP"}}]}}]}}"#,
        api.host_ip, api.port
    )
}

/// Creates what is missing; existing objects are left as they are.
pub async fn ensure_builtin_objects(server: &ApiServer, api: &ApiEndpoint) -> Result<(), ApiError> {
    for ns in SYSTEM_NAMESPACES {
        create_if_absent(server, "/api/v1/namespaces", format!(
            r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{ns}","labels":{{"kubernetes.io/metadata.name":"{ns}"}}}}}}"#
        ))
        .await?;
    }
    create_if_absent(server, "/api/v1/namespaces/default/services", format!(
        r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"kubernetes","namespace":"default","labels":{{"component":"apiserver","provider":"kubernetes"}}}},"spec":{{"type":"ClusterIP","clusterIP":"{}","ports":[{{"name":"https","port":443,"protocol":"TCP","targetPort":{}}}],"sessionAffinity":"None"}}}}"#,
        api.service_ip, api.port
    ))
    .await?;
    create_if_absent(server, "/api/v1/namespaces/default/endpoints", format!(
        r#"{{"apiVersion":"v1","kind":"Endpoints","metadata":{{"name":"kubernetes","namespace":"default","labels":{{"endpointslice.kubernetes.io/skip-mirror":"true"}}}},"subsets":[{{"addresses":[{{"ip":"{}"}}],"ports":[{{"name":"https","port":{},"protocol":"TCP"}}]}}]}}"#,
        api.host_ip, api.port
    ))
    .await?;
    create_if_absent(
        server,
        "/apis/storage.k8s.io/v1/storageclasses",
        crate::storage::default_class_json(),
    )
    .await?;
    // The roles of wisp's own components, before any of them runs.
    crate::auth::component_policy::ensure_component_policy(server).await
}

#[cfg(test)]
mod tests {
    use futures_lite::future::block_on;
    use wisp_store::{Options, Store};

    use super::*;

    fn stored_endpoints(server: &ApiServer) -> (Option<String>, Option<String>) {
        let req = ApiRequest {
            method: "GET".to_owned(),
            path: "/api/v1/namespaces/default/endpoints/kubernetes".to_owned(),
            user: Some(system_user()),
            ..ApiRequest::default()
        };
        let resp = block_on(server.handle(req));
        let Body::Shared(bytes) = resp.body else {
            panic!("status {}", resp.status);
        };
        let value: Value = miniserde::json::from_str(std::str::from_utf8(&bytes).unwrap()).unwrap();
        let ip = first_endpoint_ip(&value).map(str::to_owned);
        let version = get_str(&value, &["metadata", "resourceVersion"]).map(str::to_owned);
        (ip, version)
    }

    #[test]
    fn the_kubernetes_endpoints_follow_the_host_address_and_are_not_rewritten_needlessly() {
        let dir = std::env::temp_dir().join(format!("wisp-bootstrap-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let server = ApiServer::new(Store::open(&dir, Options::default()).unwrap(), "x:1");
        let mut api = ApiEndpoint {
            service_ip: "10.43.0.1".to_owned(),
            host_ip: "192.0.2.10".to_owned(),
            port: 6443,
        };
        block_on(ensure_builtin_objects(&server, &api)).unwrap();
        let (ip, first) = stored_endpoints(&server);
        assert_eq!(ip.as_deref(), Some("192.0.2.10"));
        block_on(ensure_kubernetes_endpoints_address(&server, &api)).unwrap();
        assert_eq!(stored_endpoints(&server).1, first, "same address: no write");
        api.host_ip = "198.51.100.7".to_owned();
        block_on(ensure_builtin_objects(&server, &api)).unwrap();
        assert_eq!(stored_endpoints(&server).0.as_deref(), Some("192.0.2.10"));
        block_on(ensure_kubernetes_endpoints_address(&server, &api)).unwrap();
        let (ip, moved) = stored_endpoints(&server);
        assert_eq!(ip.as_deref(), Some("198.51.100.7"));
        assert_ne!(moved, first);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
