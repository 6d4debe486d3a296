//! The link against a real API server over the in-memory store, with the test playing the
//! node agent over in-process pipes (the same frames a node process would send).

use std::rc::Rc;

use futures_lite::AsyncWriteExt;
use wisp_proto::{FrameReader, FromNode, ToNode, VERSION, encode};

use crate::object::meta;
use crate::workloads::tests::Cluster;

struct FakeNode {
    to_cp: piper::Writer,
    from_cp: FrameReader<piper::Reader>,
    /// Service messages read while waiting for others (they interleave with pod messages).
    services: std::collections::VecDeque<ToNode>,
}

fn is_service_message(message: &ToNode) -> bool {
    matches!(
        message,
        ToNode::ServiceUpsert { .. }
            | ToNode::ServiceRemoved { .. }
            | ToNode::EndpointsUpsert { .. }
            | ToNode::EndpointsRemoved { .. }
            | ToNode::ServicesSynced { .. }
            | ToNode::NetworkObjectUpsert { .. }
            | ToNode::NetworkObjectRemoved { .. }
            | ToNode::NetworkObjectsSynced { .. }
    )
}

impl FakeNode {
    fn connect(cluster: &Cluster) -> FakeNode {
        let (cp_reader, to_cp) = piper::pipe(1 << 16);
        let (from_cp, cp_writer) = piper::pipe(1 << 16);
        let server = Rc::clone(cluster.server());
        cluster
            .executor()
            .spawn(async move {
                let _ended = super::serve(server, cp_reader, cp_writer).await;
            })
            .detach();
        let mut node = FakeNode {
            to_cp,
            from_cp: FrameReader::new(from_cp),
            services: std::collections::VecDeque::new(),
        };
        node.send(
            cluster,
            &FromNode::Hello {
                version: VERSION,
                node_name: "node1".into(),
            },
        );
        assert_eq!(node.next(cluster), ToNode::Hello { version: VERSION });
        node
    }

    fn send(&mut self, cluster: &Cluster, message: &FromNode) {
        cluster.run(self.to_cp.write_all(&encode(message))).unwrap();
    }

    fn read(&mut self, cluster: &Cluster) -> ToNode {
        cluster
            .run(self.from_cp.next::<ToNode>())
            .unwrap()
            .expect("a frame")
    }

    /// The next message that is not about Services.
    fn next(&mut self, cluster: &Cluster) -> ToNode {
        loop {
            let message = self.read(cluster);
            if !is_service_message(&message) {
                return message;
            }
            self.services.push_back(message);
        }
    }

    /// The next message about Services.
    fn next_service(&mut self, cluster: &Cluster) -> ToNode {
        if let Some(message) = self.services.pop_front() {
            return message;
        }
        loop {
            let message = self.read(cluster);
            if is_service_message(&message) {
                return message;
            }
        }
    }
}

fn pod(name: &str, node: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{name}","namespace":"default"}},
        "spec":{{"nodeName":"{node}","containers":[{{"name":"c","image":"busybox"}}]}}}}"#
    )
}

#[test]
fn node_status_creates_the_node_and_bound_pods_flow_both_ways() {
    let cluster = Cluster::new();
    let mut node = FakeNode::connect(&cluster);
    assert_eq!(node.next(&cluster), ToNode::PodsSynced { uids: vec![] });
    node.send(
        &cluster,
        &FromNode::NodeStatus {
            status_json:
                br#"{"capacity":{"cpu":"2","pods":"110"},"allocatable":{"cpu":"2","pods":"110"}}"#
                    .to_vec(),
            labels: vec![("kubernetes.io/hostname".into(), "node1".into())],
        },
    );
    cluster.settle();
    let stored = cluster.get("/registry/core/nodes/node1");
    assert_eq!(
        meta::get_str(&stored, &["status", "allocatable", "cpu"]),
        Some("2")
    );
    assert_eq!(
        meta::get_str(&stored, &["metadata", "labels", "kubernetes.io/hostname"]),
        Some("node1")
    );

    // Only pods bound to this node are sent.
    cluster.create(
        "/api/v1/namespaces/default/pods",
        &pod("elsewhere", "node2"),
    );
    let created = cluster.create("/api/v1/namespaces/default/pods", &pod("mine", "node1"));
    let uid = meta::uid(&created).unwrap().to_owned();
    match node.next(&cluster) {
        ToNode::PodUpsert { uid: got, json } => {
            assert_eq!(got, uid);
            let sent = meta::from_json_bytes(&json).unwrap();
            assert_eq!(meta::name(&sent), Some("mine"));
        }
        other => panic!("expected the pod, got {other:?}"),
    }

    node.send(
        &cluster,
        &FromNode::PodStatus {
            namespace: "default".into(),
            name: "mine".into(),
            uid: uid.clone(),
            status_json: br#"{"phase":"Running","podIP":"10.42.0.5"}"#.to_vec(),
        },
    );
    // The status write comes back as a change of the pod.
    match node.next(&cluster) {
        ToNode::PodUpsert { json, .. } => {
            let sent = meta::from_json_bytes(&json).unwrap();
            assert_eq!(meta::get_str(&sent, &["status", "phase"]), Some("Running"));
        }
        other => panic!("expected the updated pod, got {other:?}"),
    }

    // A status for another incarnation of the name is ignored.
    node.send(
        &cluster,
        &FromNode::PodStatus {
            namespace: "default".into(),
            name: "mine".into(),
            uid: "not-the-uid".into(),
            status_json: br#"{"phase":"Failed"}"#.to_vec(),
        },
    );
    cluster.settle();
    let stored = cluster.get("/registry/core/pods/default/mine");
    assert_eq!(
        meta::get_str(&stored, &["status", "phase"]),
        Some("Running")
    );

    // Deleting a bound pod is graceful: the node sees the deletionTimestamp, stops the
    // containers, and reports the pod terminated; the link then removes the object.
    cluster.request(
        "DELETE",
        "/api/v1/namespaces/default/pods/mine",
        "application/json",
        "",
    );
    match node.next(&cluster) {
        ToNode::PodUpsert { json, .. } => {
            let sent = meta::from_json_bytes(&json).unwrap();
            assert!(meta::deletion_timestamp(&sent).is_some());
        }
        other => panic!("expected the terminating pod, got {other:?}"),
    }
    node.send(
        &cluster,
        &FromNode::PodTerminated {
            namespace: "default".into(),
            name: "mine".into(),
            uid: uid.clone(),
        },
    );
    assert_eq!(node.next(&cluster), ToNode::PodRemoved { uid });
}

#[test]
fn reads_config_and_answers_with_none_for_missing_objects() {
    let cluster = Cluster::new();
    let mut node = FakeNode::connect(&cluster);
    assert!(matches!(node.next(&cluster), ToNode::PodsSynced { .. }));
    cluster.create(
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cfg"},"data":{"a":"1"}}"#,
    );
    assert!(matches!(
        node.next(&cluster),
        ToNode::ConfigChanged { name, .. } if name == "cfg"
    ));
    cluster.create(
        "/api/v1/namespaces/default/configmaps",
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"unused"},"data":{"a":"2"}}"#,
    );
    assert!(matches!(
        node.next(&cluster),
        ToNode::ConfigChanged { name, .. } if name == "unused"
    ));
    // The node authorizer lets a node read only what the pods bound to it use.
    cluster.create(
        "/api/v1/namespaces/default/pods",
        r#"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"user"},"spec":{"nodeName":"node1",
        "containers":[{"name":"c","image":"busybox"}],"volumes":[{"name":"v","configMap":{"name":"cfg"}}]}}"#,
    );
    let added = node.next(&cluster);
    assert!(!matches!(added, ToNode::Object { .. }), "{added:?}");
    node.send(
        &cluster,
        &FromNode::Get {
            request: 6,
            kind: wisp_proto::ObjectKind::ConfigMap,
            namespace: "default".into(),
            name: "unused".into(),
        },
    );
    assert_eq!(
        node.next(&cluster),
        ToNode::Object {
            request: 6,
            json: None
        }
    );
    node.send(
        &cluster,
        &FromNode::Get {
            request: 7,
            kind: wisp_proto::ObjectKind::ConfigMap,
            namespace: "default".into(),
            name: "cfg".into(),
        },
    );
    match node.next(&cluster) {
        ToNode::Object {
            request: 7,
            json: Some(json),
        } => {
            let cm = meta::from_json_bytes(&json).unwrap();
            assert_eq!(meta::get_str(&cm, &["data", "a"]), Some("1"));
        }
        other => panic!("expected the ConfigMap, got {other:?}"),
    }
    node.send(
        &cluster,
        &FromNode::Get {
            request: 8,
            kind: wisp_proto::ObjectKind::Secret,
            namespace: "default".into(),
            name: "absent".into(),
        },
    );
    assert_eq!(
        node.next(&cluster),
        ToNode::Object {
            request: 8,
            json: None
        }
    );
}

#[test]
fn a_node_with_another_protocol_version_is_refused() {
    let cluster = Cluster::new();
    let (cp_reader, mut to_cp) = piper::pipe(1 << 16);
    let (_from_cp, cp_writer) = piper::pipe(1 << 16);
    let server = Rc::clone(cluster.server());
    let result = cluster.run(async move {
        to_cp
            .write_all(&encode(&FromNode::Hello {
                version: VERSION + 1,
                node_name: "n".into(),
            }))
            .await
            .unwrap();
        super::serve(server, cp_reader, cp_writer).await
    });
    assert!(matches!(result, Err(super::LinkError::Handshake(m)) if m.contains("version")));
}

#[test]
fn services_and_endpoints_are_listed_then_followed_and_lb_status_is_written() {
    use wisp_proto::ServiceObjectKind;
    let cluster = Cluster::new();
    let mut node = FakeNode::connect(&cluster);
    let mut synced = Vec::new();
    while synced.len() < 2 {
        if let ToNode::ServicesSynced { kind, keys } = node.next_service(&cluster) {
            synced.push((kind, keys));
        }
    }
    assert!(synced.iter().any(|(k, _)| *k == ServiceObjectKind::Service));
    assert!(
        synced
            .iter()
            .any(|(k, _)| *k == ServiceObjectKind::Endpoints)
    );

    let created = cluster.create(
        "/api/v1/namespaces/default/services",
        r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"default"},
        "spec":{"type":"LoadBalancer","ports":[{"port":80}]}}"#,
    );
    let uid = meta::uid(&created).unwrap().to_owned();
    loop {
        match node.next_service(&cluster) {
            ToNode::ServiceUpsert { key, json } if key == "default/web" => {
                let sent = meta::from_json_bytes(&json).unwrap();
                assert_eq!(
                    meta::get_str(&sent, &["spec", "type"]),
                    Some("LoadBalancer")
                );
                break;
            }
            ToNode::ServiceUpsert { .. }
            | ToNode::EndpointsUpsert { .. }
            | ToNode::NetworkObjectUpsert { .. }
            | ToNode::NetworkObjectsSynced { .. } => {}
            other => panic!("expected the service, got {other:?}"),
        }
    }
    node.send(
        &cluster,
        &FromNode::ServiceStatus {
            namespace: "default".into(),
            name: "web".into(),
            uid: "another-web".into(),
            status_json: br#"{"loadBalancer":{"ingress":[{"ip":"192.0.2.9"}]}}"#.to_vec(),
        },
    );
    node.send(
        &cluster,
        &FromNode::ServiceStatus {
            namespace: "default".into(),
            name: "web".into(),
            uid,
            status_json: br#"{"loadBalancer":{"ingress":[{"ip":"192.0.2.7"}]}}"#.to_vec(),
        },
    );
    cluster.settle();
    let stored = cluster.get("/registry/core/services/default/web");
    let ingress = meta::get_path(&stored, &["status", "loadBalancer", "ingress"]);
    assert_eq!(
        ingress.map(meta::to_json_bytes),
        Some(br#"[{"ip":"192.0.2.7"}]"#.to_vec())
    );

    cluster.request(
        "DELETE",
        "/api/v1/namespaces/default/services/web",
        "application/json",
        "",
    );
    loop {
        match node.next_service(&cluster) {
            ToNode::ServiceRemoved { key } => {
                assert_eq!(key, "default/web");
                break;
            }
            ToNode::ServiceUpsert { .. }
            | ToNode::EndpointsUpsert { .. }
            | ToNode::EndpointsRemoved { .. } => {}
            other => panic!("expected the removal, got {other:?}"),
        }
    }
}

#[test]
fn heartbeats_renew_the_lease_and_repost_the_status_of_a_node_marked_unknown() {
    let cluster = Cluster::new();
    let mut node = FakeNode::connect(&cluster);
    let status = br#"{"conditions":[{"type":"Ready","status":"True","reason":"KubeletReady"}]}"#;
    node.send(
        &cluster,
        &FromNode::NodeStatus {
            status_json: status.to_vec(),
            labels: vec![],
        },
    );
    node.send(&cluster, &FromNode::Heartbeat);
    cluster.settle();
    let lease = cluster.get("/registry/coordination.k8s.io/leases/kube-node-lease/node1");
    assert_eq!(
        meta::get_str(&lease, &["spec", "holderIdentity"]),
        Some("node1")
    );
    let first = meta::get_str(&lease, &["spec", "renewTime"]).map(str::to_owned);

    cluster.merge(
        "/api/v1/nodes/node1/status",
        r#"{"status":{"conditions":[{"type":"Ready","status":"Unknown","reason":"NodeStatusUnknown"}]}}"#,
    );
    std::thread::sleep(std::time::Duration::from_millis(2));
    node.send(&cluster, &FromNode::Heartbeat);
    cluster.settle();
    let lease = cluster.get("/registry/coordination.k8s.io/leases/kube-node-lease/node1");
    assert_ne!(
        meta::get_str(&lease, &["spec", "renewTime"]).map(str::to_owned),
        first
    );
    let stored = cluster.get("/registry/core/nodes/node1");
    let ready = crate::workloads::objects::condition(&stored, "Ready").unwrap();
    assert_eq!(meta::get_str(ready, &["status"]), Some("True"));
}

#[test]
fn network_policies_and_namespaces_are_listed_then_followed() {
    use wisp_proto::NetworkObjectKind;
    let cluster = Cluster::new();
    let mut node = FakeNode::connect(&cluster);
    let mut synced = Vec::new();
    let mut namespaces = Vec::new();
    while synced.len() < 2 {
        match node.next_service(&cluster) {
            ToNode::NetworkObjectsSynced { kind, keys } => synced.push((kind, keys)),
            ToNode::NetworkObjectUpsert {
                kind: NetworkObjectKind::Namespace,
                key,
                ..
            } => namespaces.push(key),
            _ => {}
        }
    }
    assert!(namespaces.contains(&"default".to_owned()), "{namespaces:?}");
    let listed = synced
        .iter()
        .find(|(k, _)| *k == NetworkObjectKind::Namespace)
        .map(|(_, keys)| keys.clone());
    assert_eq!(listed, Some(namespaces));
    cluster.create(
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies",
        r#"{"apiVersion":"networking.k8s.io/v1","kind":"NetworkPolicy",
        "metadata":{"name":"deny","namespace":"default"},"spec":{"podSelector":{}}}"#,
    );
    loop {
        if let ToNode::NetworkObjectUpsert { kind, key, json } = node.next_service(&cluster)
            && kind == NetworkObjectKind::NetworkPolicy
        {
            assert_eq!(key, "default/deny");
            let sent = meta::from_json_bytes(&json).unwrap();
            assert_eq!(meta::get_str(&sent, &["kind"]), Some("NetworkPolicy"));
            break;
        }
    }
    cluster.request(
        "DELETE",
        "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies/deny",
        "application/json",
        "",
    );
    loop {
        if let ToNode::NetworkObjectRemoved { kind, key } = node.next_service(&cluster) {
            assert_eq!(
                (kind, key.as_str()),
                (NetworkObjectKind::NetworkPolicy, "default/deny")
            );
            break;
        }
    }
}
