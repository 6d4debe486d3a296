//! Endpoints and EndpointSlices for Services with a selector: the pods the selector picks,
//! by their pod IP, with each Service port's targetPort resolved (a named port is looked up
//! in the pod's containers; a pod without it is left out of that port set), ready pods as
//! addresses and the rest as notReadyAddresses (all ready with publishNotReadyAddresses).
//! One Endpoints object named after the Service and one IPv4 EndpointSlice per port set,
//! owned by the Service. Services without a selector (such as `kubernetes`) are not touched.

use std::collections::BTreeMap;
use std::rc::Rc;

use async_executor::LocalExecutor;
use miniserde::json::{Object, Value};

use super::client::{Client, WriteError, keys};
use super::feed::{self, Change, queue_key, split_queue_key};
use super::objects::{self, array, int, object, string};
use super::queue::{self, WorkQueue};
use crate::api::server::ApiServer;
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::selector::LabelSelector;

const SERVICES: &str = "/registry/core/services/";
const ENDPOINTS: &str = "/registry/core/endpoints/";
const SLICES: &str = "/registry/discovery.k8s.io/endpointslices/";
const SERVICE_NAME: &str = "kubernetes.io/service-name";
const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
const MANAGER: &str = "endpointslice-controller.k8s.io";

pub struct EndpointsController {
    client: Client,
    queue: Rc<WorkQueue>,
}

/// Starts the controller: feeds from Services and pods, one worker.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    let ctl = Rc::new(EndpointsController {
        client: Client::new(server, "endpoint-controller", "kube-controller-manager"),
        queue: WorkQueue::new(),
    });
    let store = server.store().clone();
    let queue = Rc::clone(&ctl.queue);
    let on_service = move |c: Change| queue.add_key(c.latest().and_then(queue_key));
    executor
        .spawn(feed::follow(
            store.clone(),
            SERVICES.into(),
            Rc::new(on_service),
        ))
        .detach();
    let for_pods = Rc::clone(&ctl);
    let on_pod = move |c: Change| for_pods.on_pod_change(&c);
    executor
        .spawn(feed::follow(store, keys::PODS.into(), Rc::new(on_pod)))
        .detach();
    let worker = Rc::clone(&ctl);
    executor
        .spawn(queue::run_worker(
            Rc::clone(&ctl.queue),
            Rc::clone(executor),
            move |key| {
                let ctl = Rc::clone(&worker);
                async move { ctl.sync(&key).await }
            },
        ))
        .detach();
}

fn selector(service: &Value) -> Option<LabelSelector> {
    let map = meta::get_path(service, &["spec", "selector"])
        .filter(|s| matches!(s, Value::Object(o) if !o.is_empty()))?;
    let structured = object([("matchLabels", map.clone())]);
    LabelSelector::from_structured(Some(&structured)).ok()
}

impl EndpointsController {
    /// A pod change concerns every Service of its namespace that selects it before or after.
    fn on_pod_change(&self, change: &Change) {
        let Some(ns) = change.latest().and_then(meta::namespace) else {
            return;
        };
        for service in self.client.list(&keys::in_namespace(SERVICES, ns)) {
            let Some(sel) = selector(&service) else {
                continue;
            };
            let picks = [&change.old, &change.new]
                .into_iter()
                .flatten()
                .any(|p| sel.matches_object(p));
            if picks {
                self.queue.add_key(queue_key(&service));
            }
        }
    }

    async fn sync(self: &Rc<Self>, key: &str) -> Result<(), WriteError> {
        let (ns, name) = split_queue_key(key);
        let service = self.client.get(&format!("{SERVICES}{ns}/{name}"));
        let Some(sel) = service
            .as_ref()
            .filter(|s| !objects::is_deleting(s))
            .and_then(selector)
        else {
            return self.remove(ns, name, service.is_none()).await;
        };
        let service = service.unwrap_or(Value::Null);
        let pods: Vec<Value> = self
            .client
            .list(&keys::in_namespace(keys::PODS, ns))
            .into_iter()
            .filter(|p| sel.matches_object(p) && !objects::is_terminal(p))
            .filter(|p| meta::get_str(p, &["status", "podIP"]).is_some_and(|ip| !ip.is_empty()))
            .collect();
        let groups = group_by_ports(&service, &pods);
        self.write_endpoints(&service, ns, name, &groups).await?;
        self.write_slices(&service, ns, name, &groups).await
    }

    /// The Service is gone (or lost its selector): its Endpoints go; slices go with the
    /// Service through their ownerReference, or here when only the selector went.
    async fn remove(&self, ns: &str, name: &str, service_gone: bool) -> Result<(), WriteError> {
        if self
            .client
            .get(&format!("{ENDPOINTS}{ns}/{name}"))
            .is_some_and(|e| managed_endpoints(&e))
        {
            ignore_missing(
                self.client
                    .delete(&format!("/api/v1/namespaces/{ns}/endpoints/{name}"))
                    .await,
            )?;
        }
        if !service_gone {
            for slice in self.slices_of(ns, name) {
                let slice_name = meta::name(&slice).unwrap_or("");
                let path = format!(
                    "/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices/{slice_name}"
                );
                ignore_missing(self.client.delete(&path).await)?;
            }
        }
        Ok(())
    }

    fn slices_of(&self, ns: &str, name: &str) -> Vec<Value> {
        self.client
            .list(&keys::in_namespace(SLICES, ns))
            .into_iter()
            .filter(|s| {
                let labels = meta::labels(s);
                labels.contains(&(SERVICE_NAME, name)) && labels.contains(&(MANAGED_BY, MANAGER))
            })
            .collect()
    }

    async fn write_endpoints(
        &self,
        service: &Value,
        ns: &str,
        name: &str,
        groups: &Groups,
    ) -> Result<(), WriteError> {
        let publish_all = matches!(
            meta::get_path(service, &["spec", "publishNotReadyAddresses"]),
            Some(Value::Bool(true))
        );
        // Terminating pods leave Endpoints (they stay in slices, marked terminating).
        let listed = |p: &&Value| publish_all || !objects::is_deleting(p);
        let subsets: Vec<Value> = groups
            .iter()
            .filter(|(_, pods)| pods.iter().any(|p| listed(&p)))
            .map(|(ports, pods)| {
                let (ready, not_ready): (Vec<&Value>, Vec<&Value>) = pods
                    .iter()
                    .filter(listed)
                    .partition(|p| publish_all || objects::is_ready(p));
                let mut subset = Object::new();
                if !ready.is_empty() {
                    subset.insert(
                        "addresses".to_owned(),
                        array(ready.iter().map(|p| address(service, p)).collect()),
                    );
                }
                if !not_ready.is_empty() {
                    subset.insert(
                        "notReadyAddresses".to_owned(),
                        array(not_ready.iter().map(|p| address(service, p)).collect()),
                    );
                }
                subset.insert(
                    "ports".to_owned(),
                    array(ports.iter().map(|p| p.to_value(false)).collect()),
                );
                Value::Object(subset)
            })
            .collect();
        let labels = meta::get_path(service, &["metadata", "labels"])
            .cloned()
            .unwrap_or_else(|| Value::Object(Object::new()));
        let existing = self.client.get(&format!("{ENDPOINTS}{ns}/{name}"));
        let mut desired = object([
            ("apiVersion", string("v1")),
            ("kind", string("Endpoints")),
            (
                "metadata",
                object([
                    ("name", string(name)),
                    ("namespace", string(ns)),
                    ("labels", labels),
                ]),
            ),
        ]);
        if !subsets.is_empty() {
            meta::ensure_object(&mut desired, &[]).insert("subsets".to_owned(), array(subsets));
        }
        self.put(
            &format!("/api/v1/namespaces/{ns}/endpoints"),
            name,
            existing,
            desired,
            &["subsets"],
        )
        .await
    }

    async fn write_slices(
        &self,
        service: &Value,
        ns: &str,
        name: &str,
        groups: &Groups,
    ) -> Result<(), WriteError> {
        let mut existing = self.slices_of(ns, name);
        existing.sort_by_key(|s| meta::name(s).map(str::to_owned));
        let base = format!("/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices");
        let mut labels = match meta::get_path(service, &["metadata", "labels"]) {
            Some(Value::Object(o)) => o.clone(),
            _ => Object::new(),
        };
        labels.insert(SERVICE_NAME.to_owned(), string(name));
        labels.insert(MANAGED_BY.to_owned(), string(MANAGER));
        let mut old = existing.into_iter();
        for (ports, pods) in groups {
            let endpoints = array(pods.iter().map(|p| slice_endpoint(service, p)).collect());
            let desired = object([
                ("apiVersion", string("discovery.k8s.io/v1")),
                ("kind", string("EndpointSlice")),
                (
                    "metadata",
                    object([
                        ("generateName", string(format!("{name}-"))),
                        ("namespace", string(ns)),
                        ("labels", Value::Object(labels.clone())),
                        (
                            "ownerReferences",
                            array(vec![objects::controller_reference(
                                "v1", "Service", service,
                            )]),
                        ),
                    ]),
                ),
                ("addressType", string("IPv4")),
                ("endpoints", endpoints),
                (
                    "ports",
                    array(ports.iter().map(|p| p.to_value(true)).collect()),
                ),
            ]);
            let current = old.next();
            let slice_name = current
                .as_ref()
                .and_then(meta::name)
                .unwrap_or("")
                .to_owned();
            self.put(
                &base,
                &slice_name,
                current,
                desired,
                &["endpoints", "ports", "addressType"],
            )
            .await?;
        }
        for extra in old {
            let path = format!("{base}/{}", meta::name(&extra).unwrap_or(""));
            ignore_missing(self.client.delete(&path).await)?;
        }
        Ok(())
    }

    /// Creates `desired`, or updates `existing` when the compared fields or labels differ.
    async fn put(
        &self,
        base: &str,
        name: &str,
        existing: Option<Value>,
        desired: Value,
        fields: &[&str],
    ) -> Result<(), WriteError> {
        let Some(mut current) = existing else {
            return self.client.create(base, &desired).await.map(|_| ());
        };
        let same = |a: &Value, b: &Value, path: &[&str]| match (
            meta::get_path(a, path),
            meta::get_path(b, path),
        ) {
            (Some(x), Some(y)) => values_equal(x, y),
            (None, None) => true,
            _ => false,
        };
        let unchanged = fields.iter().all(|f| same(&current, &desired, &[f]))
            && same(&current, &desired, &["metadata", "labels"]);
        if unchanged {
            return Ok(());
        }
        let o = meta::ensure_object(&mut current, &[]);
        for f in fields {
            match meta::get_path(&desired, &[f]) {
                Some(v) => o.insert((*f).to_owned(), v.clone()),
                None => o.remove(*f),
            };
        }
        if let Some(labels) = meta::get_path(&desired, &["metadata", "labels"]) {
            meta::ensure_object(&mut current, &["metadata"])
                .insert("labels".to_owned(), labels.clone());
        }
        self.client
            .update(&format!("{base}/{name}"), &current)
            .await
            .map(|_| ())
    }
}

fn ignore_missing(r: Result<(), WriteError>) -> Result<(), WriteError> {
    match r {
        Err(WriteError::NotFound) => Ok(()),
        other => other,
    }
}

/// Endpoints this controller would write (the bootstrap `kubernetes` one is the API
/// server's and carries the skip-mirror label).
fn managed_endpoints(e: &Value) -> bool {
    !meta::labels(e).contains(&("endpointslice.kubernetes.io/skip-mirror", "true"))
}

/// One Service port with its targetPort resolved for a pod.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Port {
    name: String,
    port: i64,
    protocol: String,
    app_protocol: Option<String>,
}

impl Port {
    fn to_value(&self, slice: bool) -> Value {
        let mut o = Object::new();
        if !self.name.is_empty() || slice {
            o.insert("name".to_owned(), string(self.name.clone()));
        }
        o.insert("port".to_owned(), int(self.port));
        o.insert("protocol".to_owned(), string(self.protocol.clone()));
        if let Some(p) = &self.app_protocol {
            o.insert("appProtocol".to_owned(), string(p.clone()));
        }
        Value::Object(o)
    }
}

type Groups = BTreeMap<Vec<Port>, Vec<Value>>;

/// Pods grouped by the port set they serve (upstream's subset repacking).
fn group_by_ports(service: &Value, pods: &[Value]) -> Groups {
    let ports: &[Value] = match meta::get_path(service, &["spec", "ports"]) {
        Some(Value::Array(a)) => a,
        _ => &[],
    };
    let mut groups: Groups = BTreeMap::new();
    for pod in pods {
        let resolved: Vec<Port> = ports.iter().filter_map(|p| resolve(p, pod)).collect();
        if !resolved.is_empty() || ports.is_empty() {
            groups.entry(resolved).or_default().push(pod.clone());
        }
    }
    groups
}

fn resolve(service_port: &Value, pod: &Value) -> Option<Port> {
    let protocol = meta::get_str(service_port, &["protocol"])
        .unwrap_or("TCP")
        .to_owned();
    let port = match meta::get_path(service_port, &["targetPort"]) {
        Some(Value::String(named)) => container_port(pod, named, &protocol)?,
        Some(n @ Value::Number(_)) => meta::get_i64(n, &[])?,
        _ => meta::get_i64(service_port, &["port"])?,
    };
    Some(Port {
        name: meta::get_str(service_port, &["name"])
            .unwrap_or("")
            .to_owned(),
        port,
        protocol,
        app_protocol: meta::get_str(service_port, &["appProtocol"]).map(str::to_owned),
    })
}

fn container_port(pod: &Value, name: &str, protocol: &str) -> Option<i64> {
    let Some(Value::Array(containers)) = meta::get_path(pod, &["spec", "containers"]) else {
        return None;
    };
    containers.iter().find_map(|c| {
        let Some(Value::Array(ports)) = meta::get_path(c, &["ports"]) else {
            return None;
        };
        ports
            .iter()
            .find(|p| {
                meta::get_str(p, &["name"]) == Some(name)
                    && meta::get_str(p, &["protocol"]).unwrap_or("TCP") == protocol
            })
            .and_then(|p| meta::get_i64(p, &["containerPort"]))
    })
}

fn target_ref(pod: &Value) -> Value {
    let f = |p: &[&str]| string(meta::get_str(pod, p).unwrap_or(""));
    object([
        ("kind", string("Pod")),
        ("namespace", f(&["metadata", "namespace"])),
        ("name", f(&["metadata", "name"])),
        ("uid", f(&["metadata", "uid"])),
    ])
}

/// A pod's hostname counts when its subdomain names the Service (headless DNS records).
fn hostname<'a>(service: &Value, pod: &'a Value) -> Option<&'a str> {
    let subdomain = meta::get_str(pod, &["spec", "subdomain"])?;
    (Some(subdomain) == meta::name(service))
        .then(|| meta::get_str(pod, &["spec", "hostname"]))
        .flatten()
}

fn address(service: &Value, pod: &Value) -> Value {
    let mut o = Object::new();
    o.insert(
        "ip".to_owned(),
        string(meta::get_str(pod, &["status", "podIP"]).unwrap_or("")),
    );
    if let Some(h) = hostname(service, pod) {
        o.insert("hostname".to_owned(), string(h));
    }
    if let Some(n) = meta::get_str(pod, &["spec", "nodeName"]) {
        o.insert("nodeName".to_owned(), string(n));
    }
    o.insert("targetRef".to_owned(), target_ref(pod));
    Value::Object(o)
}

fn slice_endpoint(service: &Value, pod: &Value) -> Value {
    let publish_all = matches!(
        meta::get_path(service, &["spec", "publishNotReadyAddresses"]),
        Some(Value::Bool(true))
    );
    let terminating = objects::is_deleting(pod);
    let ready = (objects::is_ready(pod) || publish_all) && !terminating;
    let mut o = Object::new();
    o.insert(
        "addresses".to_owned(),
        array(vec![string(
            meta::get_str(pod, &["status", "podIP"]).unwrap_or(""),
        )]),
    );
    o.insert(
        "conditions".to_owned(),
        object([
            ("ready", Value::Bool(ready)),
            (
                "serving",
                Value::Bool(objects::is_ready(pod) || publish_all),
            ),
            ("terminating", Value::Bool(terminating)),
        ]),
    );
    if let Some(h) = hostname(service, pod) {
        o.insert("hostname".to_owned(), string(h));
    }
    if let Some(n) = meta::get_str(pod, &["spec", "nodeName"]) {
        o.insert("nodeName".to_owned(), string(n));
    }
    o.insert("targetRef".to_owned(), target_ref(pod));
    Value::Object(o)
}
