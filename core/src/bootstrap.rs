//! Objects every cluster has from its first start: the namespaces default, kube-system,
//! kube-public and kube-node-lease, and the `kubernetes` Service with its Endpoints pointing
//! at the API server. They go through the ordinary request path (as the API server's own
//! identity), so they get the same defaulting, validation and metadata as any object.
//! The RBAC roles of wisp's own components are created here too, before any controller
//! starts.

use crate::api::server::{ApiRequest, ApiServer, User};
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
    // The roles of wisp's own components, before any of them runs.
    crate::auth::component_policy::ensure_component_policy(server).await
}
