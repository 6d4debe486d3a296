//! The node agent (our kubelet): it speaks the internal protocol to the control plane,
//! runs one worker task per pod bound to this node, reports the Node's status, and keeps
//! the Service rules (proxy). All of
//! it runs on the caller's single-threaded executor; host work (runc, mounts, unpacking,
//! files) goes to smol's blocking thread pool. See docs/node.md.

pub mod address_watch;
mod bridge_netfilter;
mod cleanup;
pub use cleanup::cleanup;
mod cluster_dns;
mod env;
use crate::runtime::exits;
pub mod host;
use crate::json;
mod launch;
mod link;
pub mod logs;
pub mod metrics;
mod network;
mod node_info;
mod policy_objects;
mod pressure;
pub use pressure::Thresholds;
mod probes;
mod proxy;
mod service_objects;
mod service_route;
mod state;
mod status;
pub mod streams;
mod time;
mod volumes;
mod worker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::Arc;

use async_channel::Sender;
use async_executor::LocalExecutor;
use futures_lite::{AsyncRead, AsyncWrite};
use wisp_proto::{FrameReader, FromNode, ToNode, VERSION};

use self::host::{Host, PodNetwork};
use self::link::{Link, Reply};
use self::logs::LogSignal;
use self::worker::{Input, PodWorker};
use crate::image::ImageStore;
use crate::runtime::cgroups::Cgroups;
use crate::runtime::oci::{OciRuntime, RuntimeKind};
use crate::runtime::podspec::PodSpec;

/// How the agent is set up (from `wisp run`'s configuration).
#[derive(Clone)]
pub struct AgentConfig {
    pub node_name: String,
    /// The node's own state: `<data dir>/node`.
    pub data_dir: PathBuf,
    pub run_dir: PathBuf,
    pub log_root: PathBuf,
    /// `auto`, `runc`, `crun` or a path.
    pub runtime: String,
    /// Archives imported at start.
    pub images_dir: Option<PathBuf>,
    pub host_ip: String,
    pub cluster_dns: String,
    pub cluster_domain: String,
    /// The default CNI network's IPv4 range; None: pods get loopback only.
    pub pod_cidr: Option<String>,
    /// Where the CNI plugins are (None: /usr/lib/cni, /opt/cni/bin).
    pub cni_bin_dir: Option<PathBuf>,
    /// The default network's host bridge.
    pub bridge: String,
    /// Hard eviction thresholds.
    pub eviction_hard: pressure::Thresholds,
    /// Serve cluster DNS on `cluster_dns` (port 53, UDP and TCP).
    pub serve_cluster_dns: bool,
    /// Registries reached without certificate checks (or over plain HTTP).
    pub insecure_registries: Vec<String>,
    /// PEM files of CAs trusted for registries besides the public roots.
    pub registry_ca_files: Vec<PathBuf>,
    /// The nftables table (family `inet`) holding the Service rules.
    pub nft_table: String,
    /// The host's primary address after each change (`address_watch`): the Node's
    /// InternalIP and the LoadBalancer ingress follow it.
    pub host_ip_changes: Option<async_channel::Receiver<String>>,
    /// The ClusterIP range (routed via `lo` when the host has no route to it).
    pub service_cidr: Option<String>,
}

/// Why the agent could not start or stopped.
#[derive(Debug)]
pub enum AgentError {
    Runtime(String),
    Images(String),
    Setup(String),
    Link(String),
}

impl std::fmt::Display for AgentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AgentError::Runtime(m) => write!(f, "OCI runtime: {m}"),
            AgentError::Images(m) => write!(f, "image store: {m}"),
            AgentError::Setup(m) => write!(f, "node set-up: {m}"),
            AgentError::Link(m) => write!(f, "link to the control plane: {m}"),
        }
    }
}

impl std::error::Error for AgentError {}

/// At most this many sandbox or container starts run at once (each is a few processes:
/// CNI plugins, runc): more only make them all slower on a small board.
fn launch_slots() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get() * 2)
}

/// A counting semaphore on a channel of tokens.
pub struct Slots {
    tokens: (Sender<()>, async_channel::Receiver<()>),
}

impl Slots {
    fn new(n: usize) -> Slots {
        let (tx, rx) = async_channel::bounded(n.max(1));
        for _ in 0..n.max(1) {
            let _ = tx.try_send(());
        }
        Slots { tokens: (tx, rx) }
    }

    /// Waits for a slot; it is given back when the guard drops.
    pub async fn acquire(&self) -> SlotGuard<'_> {
        let _ = self.tokens.1.recv().await;
        SlotGuard { slots: self }
    }
}

pub struct SlotGuard<'a> {
    slots: &'a Slots,
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let _ = self.slots.tokens.0.try_send(());
    }
}

/// What pod workers share.
pub struct Ctx {
    pub node_name: String,
    /// Bounds concurrent sandbox and container starts.
    pub launches: Slots,
    pub link: Link,
    pub host: Arc<Host>,
    pub executor: Rc<LocalExecutor<'static>>,
    /// The primary host address now (pods started later see a new one).
    pub host_ip: RefCell<Rc<str>>,
    pub log_max_bytes: u64,
    pub node_cpu_millis: i64,
    pub node_memory_bytes: i64,
    pod_ips: RefCell<HashMap<String, String>>,
    /// (pod uid, container name) -> runtime id of the running container.
    running: RefCell<HashMap<(String, String), String>>,
    /// pod uid -> (namespace, name) of the pods this node runs.
    pod_names: RefCell<HashMap<String, (String, String)>>,
    /// pod uid -> eviction rank (0 BestEffort, 1 Burstable, 2 Guaranteed) of pods not yet
    /// evicted.
    evictable: RefCell<HashMap<String, u8>>,
    log_signals: RefCell<HashMap<(String, String), Rc<LogSignal>>>,
    /// Told pods' addresses for NetworkPolicy.
    proxy: Rc<proxy::Proxy>,
}

impl Ctx {
    pub fn pod_ip(&self, uid: &str) -> Option<String> {
        self.pod_ips.borrow().get(uid).cloned()
    }

    /// Waits until the NetworkPolicy rules include this node's latest pod addresses
    /// (bounded; immediate without policies).
    pub async fn policy_rules_current(&self) {
        self.proxy
            .rules_current(std::time::Duration::from_secs(2))
            .await;
    }

    pub fn set_pod_ip(&self, uid: &str, ip: Option<&str>) {
        self.proxy.pod_ip(uid, ip.and_then(|ip| ip.parse().ok()));
        let mut ips = self.pod_ips.borrow_mut();
        match ip {
            Some(ip) => {
                ips.insert(uid.to_owned(), ip.to_owned());
            }
            None => {
                ips.remove(uid);
            }
        }
    }

    pub fn running_id(&self, uid: &str, container: &str) -> Option<String> {
        self.running
            .borrow()
            .get(&(uid.to_owned(), container.to_owned()))
            .cloned()
    }

    pub fn set_running(&self, uid: &str, container: &str, id: Option<&str>) {
        let key = (uid.to_owned(), container.to_owned());
        let mut running = self.running.borrow_mut();
        match id {
            Some(id) => {
                running.insert(key, id.to_owned());
            }
            None => {
                running.remove(&key);
            }
        }
    }

    /// (uid, namespace, pod, "container\0id") of every running container.
    pub fn running_containers(&self) -> Vec<(String, String, String, String)> {
        let names = self.pod_names.borrow();
        self.running
            .borrow()
            .iter()
            .filter_map(|((uid, container), id)| {
                let (ns, pod) = names.get(uid)?;
                Some((
                    uid.clone(),
                    ns.clone(),
                    pod.clone(),
                    format!("{container}\0{id}"),
                ))
            })
            .collect()
    }

    pub fn set_pod_name(&self, uid: &str, namespace: &str, name: &str) {
        self.pod_names
            .borrow_mut()
            .insert(uid.to_owned(), (namespace.to_owned(), name.to_owned()));
    }

    pub fn log_signal(&self, uid: &str, container: &str) -> Rc<LogSignal> {
        Rc::clone(
            self.log_signals
                .borrow_mut()
                .entry((uid.to_owned(), container.to_owned()))
                .or_default(),
        )
    }

    pub fn drop_log_signals(&self, uid: &str) {
        self.log_signals.borrow_mut().retain(|(u, _), _| u != uid);
        self.running.borrow_mut().retain(|(u, _), _| u != uid);
        self.pod_names.borrow_mut().remove(uid);
        self.evictable.borrow_mut().remove(uid);
        self.pod_ips.borrow_mut().remove(uid);
        self.proxy.pod_gone(uid);
    }
}

/// Container logs rotate at this size (the kubelet's containerLogMaxSize default).
const LOG_MAX_BYTES: u64 = 10 << 20;

/// Opens the runtime and the image store (importing the images dir), then serves the
/// control plane over `reader`/`writer` until the link closes.
pub async fn run(
    config: AgentConfig,
    streams: streams::Streams,
    reader: impl AsyncRead + Unpin,
    writer: impl AsyncWrite + Unpin,
) -> Result<(), AgentError> {
    let node_name = config.node_name.clone();
    let host_ip = config.host_ip.clone();
    let proxy_config = proxy_config(&config)?;
    let host_ip_changes = config.host_ip_changes.clone();
    let thresholds = config.eviction_hard;
    let cluster_dns_address = config
        .serve_cluster_dns
        .then(|| config.cluster_dns.parse::<std::net::IpAddr>().ok())
        .flatten();
    let cluster_domain = config.cluster_domain.clone();
    let host = blocking::unblock(move || open_host(&config)).await?;
    let host = Arc::new(host);
    let cap = node_info::capacity(&host.data_dir);
    let (link, outgoing) = Link::new();
    let executor = Rc::new(LocalExecutor::new());
    let proxy = proxy::Proxy::start(proxy_config, link.clone(), &executor);
    let ctx = Rc::new(Ctx {
        node_name: node_name.clone(),
        launches: Slots::new(launch_slots()),
        link: link.clone(),
        host: Arc::clone(&host),
        executor: Rc::clone(&executor),
        host_ip: RefCell::new(Rc::from(host_ip.as_str())),
        log_max_bytes: LOG_MAX_BYTES,
        node_cpu_millis: cap.cpu_millis,
        node_memory_bytes: cap.memory_bytes,
        pod_ips: RefCell::default(),
        running: RefCell::default(),
        pod_names: RefCell::default(),
        evictable: RefCell::default(),
        log_signals: RefCell::default(),
        proxy: Rc::clone(&proxy),
    });
    streams.install(&ctx);
    let workers = Rc::new(Workers {
        ctx: Rc::clone(&ctx),
        by_uid: Rc::default(),
        proxy,
        dns: cluster_dns_address
            .and_then(|a| cluster_dns::ClusterDns::start(a, &cluster_domain, &executor)),
    });
    let runtime_version = format!(
        "{}://{}",
        host.runtime
            .binary
            .file_name()
            .map_or("runc".into(), |n| n.to_string_lossy()),
        host.runtime.version.split_whitespace().last().unwrap_or("")
    );
    let report = Rc::new(NodeReport {
        name: node_name.clone(),
        host_ip: RefCell::new(host_ip.clone()),
        capacity: cap.clone(),
        runtime_version,
        pressure: std::cell::Cell::default(),
    });
    let hello = FromNode::Hello {
        version: VERSION,
        node_name: node_name.clone(),
    };
    let closed = |_| AgentError::Link("closed before the handshake".into());
    link.send(hello).await.map_err(closed)?;
    link.send(report.message()).await.map_err(closed)?;
    link.send(FromNode::Heartbeat).await.map_err(closed)?;
    executor
        .spawn(watch_pressure(
            Rc::clone(&workers),
            thresholds,
            Rc::clone(&report),
        ))
        .detach();
    if let Some(changes) = host_ip_changes {
        executor
            .spawn(follow_host_ip(Rc::clone(&workers), changes, report))
            .detach();
    }
    let write = async {
        link::write_frames(outgoing, writer)
            .await
            .map_err(|e| AgentError::Link(e.to_string()))
    };
    let read = async {
        let mut frames = FrameReader::new(reader);
        while let Some(message) = frames
            .next::<ToNode>()
            .await
            .map_err(|e| AgentError::Link(e.to_string()))?
        {
            workers.dispatch(message)?;
        }
        link.close();
        Ok(())
    };
    executor.run(futures_lite::future::or(read, write)).await
}

fn proxy_config(config: &AgentConfig) -> Result<proxy::ProxyConfig, AgentError> {
    if !crate::services::valid_table_name(&config.nft_table) {
        return Err(AgentError::Setup(format!(
            "network.nftTable {:?} is not a valid nftables table name (letters, digits, _)",
            config.nft_table
        )));
    }
    let cluster_cidrs = config.pod_cidr.as_deref().and_then(|c| c.parse().ok());
    Ok(proxy::ProxyConfig {
        node_name: config.node_name.clone(),
        host_ips: config.host_ip.parse().into_iter().collect(),
        cluster_cidrs: cluster_cidrs.into_iter().collect(),
        table: config.nft_table.clone(),
        service_cidr: config.service_cidr.as_deref().and_then(|c| c.parse().ok()),
    })
}

fn open_host(config: &AgentConfig) -> Result<Host, AgentError> {
    if let Err(e) = crate::runtime::reaper::become_subreaper() {
        return Err(AgentError::Setup(format!(
            "cannot become the containers' subreaper: {e}"
        )));
    }
    let (configured, prefer) = match config.runtime.as_str() {
        "" | "auto" | "runc" => (None, RuntimeKind::Runc),
        "crun" => (None, RuntimeKind::Crun),
        path => (Some(PathBuf::from(path)), RuntimeKind::Runc),
    };
    let state_root = config.run_dir.join("runc");
    let runtime = OciRuntime::detect(configured.as_deref(), prefer, &state_root)
        .map_err(|e| AgentError::Runtime(e.to_string()))?;
    let images = ImageStore::open(&config.data_dir.join("images"))
        .map_err(|e| AgentError::Images(e.to_string()))?;
    if let Some(dir) = &config.images_dir {
        let platform = crate::image::Platform::host();
        if let Err(e) = images.import_dir(dir, &platform) {
            eprintln!("wisp: node: importing images from {}: {e}", dir.display());
        }
    }
    for d in [&config.data_dir, &config.run_dir, &config.log_root] {
        std::fs::create_dir_all(d)
            .map_err(|e| AgentError::Setup(format!("{}: {e}", d.display())))?;
    }
    std::fs::create_dir_all(config.run_dir.join("fifo"))
        .map_err(|e| AgentError::Setup(e.to_string()))?;
    let network: Option<Box<dyn PodNetwork>> = match &config.pod_cidr {
        Some(cidr) => {
            let net = network::CniNetwork::open(
                &config.data_dir,
                config.cni_bin_dir.as_deref(),
                cidr,
                &config.bridge,
            )
            .map_err(AgentError::Setup)?;
            Some(Box::new(net))
        }
        None => None,
    };
    let mut pull_config = crate::pull::PullConfig {
        insecure_registries: config.insecure_registries.clone(),
        ..crate::pull::PullConfig::default()
    };
    for file in &config.registry_ca_files {
        let pem = std::fs::read(file)
            .map_err(|e| AgentError::Setup(format!("registry CA {}: {e}", file.display())))?;
        pull_config.extra_ca_pem.push(pem);
    }
    let host = Host {
        pull_config,
        runtime,
        images,
        cgroups: Cgroups::detect().ok(),
        network,
        data_dir: config.data_dir.clone(),
        run_dir: config.run_dir.clone(),
        log_root: config.log_root.clone(),
        cluster_dns: config.cluster_dns.clone(),
        cluster_domain: config.cluster_domain.clone(),
    };
    Ok(host)
}

/// What the Node's status is made of; the pressure conditions and the address change
/// while the agent runs.
struct NodeReport {
    name: String,
    host_ip: RefCell<String>,
    capacity: node_info::Capacity,
    runtime_version: String,
    pressure: std::cell::Cell<pressure::Pressure>,
}

impl NodeReport {
    fn message(&self) -> FromNode {
        let status = node_info::status(
            &self.name,
            &self.host_ip.borrow(),
            &self.capacity,
            &self.runtime_version,
            self.pressure.get(),
        );
        FromNode::NodeStatus {
            status_json: json::to_bytes(&status),
            labels: node_info::labels(&self.name),
        }
    }
}

/// The eviction manager's loop: conditions on change, one eviction per period under
/// pressure. Its period is also the kubelet's lease renew interval (10 s), so the same
/// wake-up sends the heartbeat that renews the node's Lease.
async fn watch_pressure(
    workers: Rc<Workers>,
    thresholds: pressure::Thresholds,
    node: Rc<NodeReport>,
) {
    loop {
        async_io::Timer::after(pressure::PERIOD).await;
        if workers.ctx.link.send(FromNode::Heartbeat).await.is_err() {
            return;
        }
        let data_dir = workers.ctx.host.data_dir.clone();
        let now = blocking::unblock(move || pressure::observe(&data_dir, &thresholds)).await;
        if now != node.pressure.get() {
            node.pressure.set(now);
            if workers.ctx.link.send(node.message()).await.is_err() {
                return;
            }
        }
        if now.any() {
            workers.evict_one(now);
        }
    }
}

/// Reports a new primary host address in the Node's addresses and hands it to the Service
/// proxy (LoadBalancer ingress and the addresses LoadBalancers answer on). Running pods
/// are left alone: NodePorts match any local address and follow by themselves.
async fn follow_host_ip(
    workers: Rc<Workers>,
    changes: async_channel::Receiver<String>,
    node: Rc<NodeReport>,
) {
    while let Ok(ip) = changes.recv().await {
        if *node.host_ip.borrow() == ip {
            continue;
        }
        eprintln!("wisp: node: host address is now {ip}");
        node.host_ip.replace(ip.clone());
        workers.ctx.host_ip.replace(Rc::from(ip.as_str()));
        if let Ok(primary) = ip.parse() {
            workers.proxy.host_address_changed(primary).await;
        }
        if workers.ctx.link.send(node.message()).await.is_err() {
            return;
        }
    }
}

/// Keeps the pod workers by uid.
struct Workers {
    ctx: Rc<Ctx>,
    by_uid: Rc<RefCell<HashMap<String, Sender<Input>>>>,
    proxy: Rc<proxy::Proxy>,
    dns: Option<cluster_dns::ClusterDns>,
}

impl Workers {
    /// Evicts the pod upstream's ranking picks first: the lowest QoS class.
    fn evict_one(&self, pressure: pressure::Pressure) {
        let victim = self
            .ctx
            .evictable
            .borrow()
            .iter()
            .min_by_key(|(uid, rank)| (**rank, (*uid).clone()))
            .map(|(uid, _)| uid.clone());
        let Some(uid) = victim else {
            return;
        };
        self.ctx.evictable.borrow_mut().remove(&uid);
        if let Some(tx) = self.by_uid.borrow().get(&uid) {
            let _closed = tx.try_send(Input::Evict {
                message: pressure::eviction_message(pressure),
            });
        }
    }

    fn dispatch(&self, message: ToNode) -> Result<(), AgentError> {
        match message {
            ToNode::Hello { version } if version != VERSION => {
                return Err(AgentError::Link(format!(
                    "the control plane speaks protocol version {version}, the node {VERSION}"
                )));
            }
            ToNode::Hello { .. } => {}
            ToNode::PodUpsert { uid, json } => self.upsert(uid, &json),
            ToNode::PodRemoved { uid } => self.removed(&uid),
            ToNode::Object { request, json } => self.ctx.link.answer(request, Reply::Object(json)),
            ToNode::Token { request, result } => {
                self.ctx.link.answer(request, Reply::Token(result));
            }
            ToNode::ConfigChanged {
                namespace, name, ..
            } => {
                for tx in self.by_uid.borrow().values() {
                    let _closed = tx.try_send(Input::ConfigChanged {
                        namespace: namespace.clone(),
                        name: name.clone(),
                    });
                }
            }
            ToNode::PodsSynced { uids } => {
                let host = Arc::clone(&self.ctx.host);
                let mut live: std::collections::HashSet<String> = uids.into_iter().collect();
                live.extend(self.by_uid.borrow().keys().cloned());
                self.ctx
                    .executor
                    .spawn(blocking::unblock(move || {
                        launch::clean_orphans(&host, &live)
                    }))
                    .detach();
            }
            message @ (ToNode::ServiceUpsert { .. }
            | ToNode::ServiceRemoved { .. }
            | ToNode::EndpointsUpsert { .. }
            | ToNode::EndpointsRemoved { .. }
            | ToNode::ServicesSynced { .. }) => {
                if let Some(dns) = &self.dns {
                    dns.handle(&message);
                }
                self.proxy.handle(&message);
            }
            message @ (ToNode::NetworkObjectUpsert { .. }
            | ToNode::NetworkObjectRemoved { .. }
            | ToNode::NetworkObjectsSynced { .. }) => {
                self.proxy.handle(&message);
            }
        }
        Ok(())
    }

    fn upsert(&self, uid: String, json: &[u8]) {
        let pod = match PodSpec::from_pod_json(json) {
            Ok(pod) => pod,
            Err(e) => {
                eprintln!("wisp: node: pod {uid}: {e}");
                return;
            }
        };
        self.proxy.pod_upsert(&uid, &pod, json);
        if let Some(tx) = self.by_uid.borrow().get(&uid) {
            let _full = tx.try_send(Input::Pod(Box::new(pod)));
            return;
        }
        let finished = json::parse(&String::from_utf8_lossy(json))
            .and_then(|v| json::get_str(&v, &["status", "phase"]).map(str::to_owned))
            .filter(|p| p == "Succeeded" || p == "Failed");
        self.ctx.set_pod_name(&uid, &pod.namespace, &pod.name);
        if finished.is_none() && pod.deletion_timestamp.is_none() {
            let rank = match status::qos_class(&pod) {
                "BestEffort" => 0,
                "Burstable" => 1,
                _ => 2,
            };
            self.ctx.evictable.borrow_mut().insert(uid.clone(), rank);
        }
        let (tx, rx) = async_channel::unbounded();
        let worker = PodWorker::new(Rc::clone(&self.ctx), pod, rx, tx.clone(), finished);
        self.by_uid.borrow_mut().insert(uid.clone(), tx);
        let by_uid = Rc::clone(&self.by_uid);
        self.ctx
            .executor
            .spawn(async move {
                worker.run().await;
                by_uid.borrow_mut().remove(&uid);
            })
            .detach();
    }

    fn removed(&self, uid: &str) {
        if let Some(tx) = self.by_uid.borrow().get(uid) {
            let _full = tx.try_send(Input::Removed);
        }
    }
}
