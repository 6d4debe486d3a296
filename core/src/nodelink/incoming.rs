//! What the node reports, applied through the API: Node status, pod status (whole `status`
//! replaced with optimistic concurrency, only while the pod still has the reported uid),
//! Service status (load-balancer ingress, same preconditions), Events, the final delete of a terminated pod, and reads of ConfigMaps, Secrets and
//! ServiceAccount tokens for volumes.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::SystemTime;

use async_channel::Sender;
use async_executor::LocalExecutor;
use miniserde::json::Value;
use wisp_proto::{FromNode, GrantedToken, ObjectKind, ToNode};

use crate::auth::{Attributes, ResourceAttributes};
use crate::node_lifecycle::lease;
use crate::object::{meta, time};
use crate::workloads::client::{Client, WriteError};
use crate::workloads::events::{self, Event};
use crate::workloads::objects::{array, condition, int, object, string};

pub struct Handler {
    client: Client,
    node: String,
    out: Sender<ToNode>,
    tasks: Rc<LocalExecutor<'static>>,
    /// The last `NodeStatus` (status and labels), posted again on a heartbeat when the
    /// node lifecycle controller has marked the node Unknown meanwhile.
    last_status: RefCell<Option<ReportedStatus>>,
}

/// A `NodeStatus` as the node sent it: status JSON and labels.
type ReportedStatus = (Vec<u8>, Vec<(String, String)>);

/// How often a status write is retried after a conflict with another writer.
const CONFLICT_RETRIES: usize = 5;

impl Handler {
    pub fn new(
        client: Client,
        node: String,
        out: Sender<ToNode>,
        tasks: Rc<LocalExecutor<'static>>,
    ) -> Handler {
        Handler {
            client,
            node,
            out,
            tasks,
            last_status: RefCell::new(None),
        }
    }

    pub async fn handle(&self, message: FromNode) {
        match message {
            FromNode::Hello { .. } => {}
            FromNode::NodeStatus {
                status_json,
                labels,
            } => {
                self.node_status(&status_json, &labels).await;
                *self.last_status.borrow_mut() = Some((status_json, labels));
            }
            FromNode::Heartbeat => self.heartbeat().await,
            FromNode::PodStatus {
                namespace,
                name,
                uid,
                status_json,
            } => self.pod_status(&namespace, &name, &uid, &status_json).await,
            FromNode::PodTerminated {
                namespace,
                name,
                uid,
            } => self.pod_terminated(&namespace, &name, &uid).await,
            FromNode::Event(e) => self.event(&e),
            FromNode::ServiceStatus {
                namespace,
                name,
                uid,
                status_json,
            } => {
                self.service_status(&namespace, &name, &uid, &status_json)
                    .await;
            }
            FromNode::Get {
                request,
                kind,
                namespace,
                name,
            } => {
                let json = self.read(kind, &namespace, &name);
                let _closed = self.out.send(ToNode::Object { request, json }).await;
            }
            FromNode::RequestToken {
                request,
                namespace,
                service_account,
                audience,
                expiration_seconds,
                pod_name,
                pod_uid,
            } => {
                let client = self.client.clone();
                let out = self.out.clone();
                // Token minting goes through the API (authorization, admission); run it
                // aside so pod status keeps flowing meanwhile.
                self.tasks
                    .spawn(async move {
                        let result = request_token(
                            &client,
                            &namespace,
                            &service_account,
                            audience.as_deref(),
                            expiration_seconds,
                            (&pod_name, &pod_uid),
                        )
                        .await;
                        let _closed = out.send(ToNode::Token { request, result }).await;
                    })
                    .detach();
            }
        }
    }

    async fn node_status(&self, status_json: &[u8], labels: &[(String, String)]) {
        let Some(status) = meta::from_json_bytes(status_json) else {
            return;
        };
        let path = format!("/api/v1/nodes/{}", self.node);
        let mut label_map = miniserde::json::Object::new();
        for (k, v) in labels {
            label_map.insert(k.clone(), string(v.as_str()));
        }
        let node = object([
            ("apiVersion", string("v1")),
            ("kind", string("Node")),
            (
                "metadata",
                object([
                    ("name", string(self.node.as_str())),
                    ("labels", Value::Object(label_map.clone())),
                ]),
            ),
        ]);
        match self.client.create("/api/v1/nodes", &node).await {
            Ok(_) | Err(WriteError::AlreadyExists) => {}
            Err(e) => eprintln!("wisp: node link: creating Node {}: {e}", self.node),
        }
        let labels_patch = object([("metadata", object([("labels", Value::Object(label_map))]))]);
        if let Err(e) = self.client.merge_patch(&path, &labels_patch).await {
            eprintln!("wisp: node link: labelling Node {}: {e}", self.node);
        }
        let patch = object([("status", status)]);
        if let Err(e) = self
            .client
            .merge_patch(&format!("{path}/status"), &patch)
            .await
        {
            eprintln!("wisp: node link: Node {} status: {e}", self.node);
        }
    }

    /// Renews the node's Lease; re-posts the last status if the stored Ready condition no
    /// longer says what the node reported (the lifecycle controller marked it Unknown, or
    /// someone overwrote it), as the kubelet corrects its status every 10 s.
    async fn heartbeat(&self) {
        if let Err(e) = lease::renew(&self.client, &self.node, SystemTime::now()).await {
            eprintln!("wisp: node link: renewing the Lease of {}: {e}", self.node);
        }
        let Some((status, labels)) = self.last_status.borrow().clone() else {
            return;
        };
        let ready_of = |node: &Value| {
            condition(node, "Ready")
                .and_then(|c| meta::get_str(c, &["status"]))
                .map(str::to_owned)
        };
        let reported = meta::from_json_bytes(&status)
            .map(|s| object([("status", s)]))
            .and_then(|n| ready_of(&n));
        let stored = self
            .client
            .get(&format!("/registry/core/nodes/{}", self.node))
            .and_then(|n| ready_of(&n));
        if stored != reported {
            self.node_status(&status, &labels).await;
        }
    }

    async fn pod_status(&self, namespace: &str, name: &str, uid: &str, status_json: &[u8]) {
        let Some(status) = meta::from_json_bytes(status_json) else {
            return;
        };
        let key = format!("/registry/core/pods/{namespace}/{name}");
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}/status");
        for _ in 0..CONFLICT_RETRIES {
            let Some(mut pod) = self.client.get(&key) else {
                return;
            };
            if meta::uid(&pod) != Some(uid) {
                return;
            }
            // Both sides go through the same serializer (sorted keys): equal bytes, equal
            // status, and nothing to write.
            if meta::get_path(&pod, &["status"]).map(meta::to_json_bytes)
                == Some(meta::to_json_bytes(&status))
            {
                return;
            }
            if let Some(obj) = meta::as_object_mut(&mut pod) {
                obj.insert("status".to_owned(), status.clone());
            }
            match self.client.update(&path, &pod).await {
                Ok(_) | Err(WriteError::NotFound) => return,
                Err(WriteError::Conflict) => continue,
                Err(e) => {
                    eprintln!("wisp: node link: status of pod {namespace}/{name}: {e}");
                    return;
                }
            }
        }
    }

    /// Merges the node's part of a Service's status (load-balancer ingress) with a uid
    /// and resourceVersion precondition, so a recreated Service is never written.
    async fn service_status(&self, namespace: &str, name: &str, uid: &str, status_json: &[u8]) {
        let Some(status) = meta::from_json_bytes(status_json) else {
            return;
        };
        let key = format!("/registry/core/services/{namespace}/{name}");
        let path = format!("/api/v1/namespaces/{namespace}/services/{name}/status");
        for _ in 0..CONFLICT_RETRIES {
            let Some(service) = self.client.get(&key) else {
                return;
            };
            if meta::uid(&service) != Some(uid) {
                return;
            }
            let Some(version) = meta::get_str(&service, &["metadata", "resourceVersion"]) else {
                return;
            };
            let patch = object([
                (
                    "metadata",
                    object([("uid", string(uid)), ("resourceVersion", string(version))]),
                ),
                ("status", status.clone()),
            ]);
            match self.client.merge_patch(&path, &patch).await {
                Ok(_) | Err(WriteError::NotFound) => return,
                Err(WriteError::Conflict) => continue,
                Err(e) => {
                    eprintln!("wisp: node link: status of service {namespace}/{name}: {e}");
                    return;
                }
            }
        }
    }

    async fn pod_terminated(&self, namespace: &str, name: &str, uid: &str) {
        let options = object([
            ("apiVersion", string("v1")),
            ("kind", string("DeleteOptions")),
            ("gracePeriodSeconds", int(0)),
            ("preconditions", object([("uid", string(uid))])),
        ]);
        let path = format!("/api/v1/namespaces/{namespace}/pods/{name}");
        match self.client.delete_with(&path, &options).await {
            Ok(()) | Err(WriteError::NotFound | WriteError::Conflict) => {}
            Err(e) => eprintln!("wisp: node link: removing pod {namespace}/{name}: {e}"),
        }
    }

    fn event(&self, e: &wisp_proto::Event) {
        let regarding = object([
            ("apiVersion", string("v1")),
            ("kind", string(e.involved_kind.as_str())),
            (
                "metadata",
                object([
                    ("name", string(e.involved_name.as_str())),
                    ("namespace", string(e.namespace.as_str())),
                    ("uid", string(e.involved_uid.as_str())),
                ]),
            ),
        ]);
        events::emit(
            &self.tasks,
            &self.client,
            &regarding,
            Event {
                kind: if e.warning { "Warning" } else { "Normal" },
                reason: &e.reason,
                message: e.message.clone(),
                component: "kubelet",
            },
        );
    }

    fn read(&self, kind: ObjectKind, namespace: &str, name: &str) -> Option<Vec<u8>> {
        let plural = match kind {
            ObjectKind::ConfigMap => "configmaps",
            ObjectKind::Secret => "secrets",
            ObjectKind::ServiceAccount => "serviceaccounts",
        };
        // The node authorizer decides, as for a kubelet's GET: only what its pods use.
        let attrs = Attributes::resource(
            "get",
            ResourceAttributes {
                namespace: namespace.to_owned(),
                resource: plural.to_owned(),
                name: name.to_owned(),
                ..ResourceAttributes::default()
            },
        );
        let server = self.client.server();
        let decision = server.auth().decide(self.client.user(), &attrs);
        if !decision.allowed {
            eprintln!(
                "wisp: node link: {plural} {namespace}/{name}: {}",
                decision.reason
            );
            return None;
        }
        let key = format!("/registry/core/{plural}/{namespace}/{name}");
        server
            .store()
            .get(key.as_bytes())
            .map(|kv| kv.value.to_vec())
    }
}

async fn request_token(
    client: &Client,
    namespace: &str,
    service_account: &str,
    audience: Option<&str>,
    expiration_seconds: i64,
    (pod_name, pod_uid): (&str, &str),
) -> Result<GrantedToken, String> {
    let audiences = audience.map_or_else(Vec::new, |a| vec![string(a)]);
    let body = object([
        ("apiVersion", string("authentication.k8s.io/v1")),
        ("kind", string("TokenRequest")),
        (
            "spec",
            object([
                ("audiences", array(audiences)),
                ("expirationSeconds", int(expiration_seconds)),
                (
                    "boundObjectRef",
                    object([
                        ("apiVersion", string("v1")),
                        ("kind", string("Pod")),
                        ("name", string(pod_name)),
                        ("uid", string(pod_uid)),
                    ]),
                ),
            ]),
        ),
    ]);
    let path = format!("/api/v1/namespaces/{namespace}/serviceaccounts/{service_account}/token");
    let answer = client
        .create(&path, &body)
        .await
        .map_err(|e| e.to_string())?;
    let token = meta::get_str(&answer, &["status", "token"])
        .ok_or("the TokenRequest answer has no token")?
        .to_owned();
    let expires_at = meta::get_str(&answer, &["status", "expirationTimestamp"])
        .and_then(time::parse_rfc3339)
        .unwrap_or_else(|| time::now_unix() + expiration_seconds);
    Ok(GrantedToken { token, expires_at })
}
