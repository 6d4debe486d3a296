//! `wisp run` and `wisp kubeconfig`: resolve the configuration and the data directory,
//! open the store, then run the control plane on one thread until SIGTERM or SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;

use futures_lite::StreamExt;
use wisp_core::control_plane::{self, Ready, Settings};

use crate::cli::RunArgs;
use crate::config::Config;

/// Key prefixes kept in memory only: Events and Leases change constantly and are worth
/// losing on a restart rather than wearing out an SD card (design brief: Store).
const VOLATILE_PREFIXES: [&str; 3] = [
    "/registry/core/events/",
    "/registry/events.k8s.io/events/",
    "/registry/coordination.k8s.io/leases/",
];

/// Loads the config and applies the command-line overrides (flags win over the file).
pub fn effective_config(
    config: Option<&std::path::Path>,
    data_dir: Option<PathBuf>,
) -> Result<Config, Box<dyn std::error::Error>> {
    let mut config = Config::load(config)?;
    if let Some(dir) = data_dir {
        config.data_dir = Some(dir);
    }
    Ok(config)
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

fn store_options(config: &Config) -> wisp_store::Options {
    wisp_store::Options {
        volatile_prefixes: VOLATILE_PREFIXES
            .iter()
            .map(|p| p.as_bytes().to_vec())
            .collect(),
        cache_bytes: usize::try_from(config.store.cache_bytes).unwrap_or(usize::MAX),
        ..wisp_store::Options::default()
    }
}

/// The first address of the service CIDR: the `kubernetes` Service's ClusterIP.
fn kubernetes_service_ip(config: &Config) -> String {
    match config.network.service_cidr.addr {
        std::net::IpAddr::V4(v4) => std::net::Ipv4Addr::from(u32::from(v4) + 1).to_string(),
        std::net::IpAddr::V6(v6) => std::net::Ipv6Addr::from(u128::from(v6) + 1).to_string(),
    }
}

pub fn run(args: RunArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = effective_config(args.config.as_deref(), args.data_dir)?;
    let (cp_addresses, cp_address_changes) = async_channel::bounded(1);
    let (node_addresses, node_address_changes) = async_channel::bounded(1);
    let data_dir = config.resolved_data_dir();
    create_private_dir(&data_dir)
        .map_err(|e| format!("cannot create data dir {}: {e}", data_dir.display()))?;
    let store_dir = data_dir.join("store");
    let store = wisp_store::Store::open(&store_dir, store_options(&config))
        .map_err(|e| format!("cannot open the store in {}: {e}", store_dir.display()))?;
    let mut settings = Settings {
        data_dir: data_dir.clone(),
        listen: SocketAddr::new(config.api_server.bind_address, config.api_server.port),
        extra_sans: config.api_server.extra_sans.clone(),
        kubernetes_service_ip: kubernetes_service_ip(&config),
        service_cidr: (
            config.network.service_cidr.addr,
            config.network.service_cidr.prefix,
        ),
        cluster_dns: config.network.cluster_dns,
        audit_log: config.audit.enabled,
        address_changes: None,
    };
    let (trigger, shutdown) = wisp_core::http::shutdown_pair();
    let executor = async_executor::LocalExecutor::new();
    futures_lite::future::block_on(executor.run(async {
        let mut signals =
            async_signal::Signals::new([async_signal::Signal::Term, async_signal::Signal::Int])
                .map_err(|e| format!("cannot install signal handlers: {e}"))?;
        executor
            .spawn(async move {
                if signals.next().await.is_some() {
                    eprintln!("wisp: shutting down");
                    trigger.fire();
                }
            })
            .detach();
        executor
            .spawn(watch_addresses(cp_addresses, node_addresses))
            .detach();
        settings.address_changes = Some(cp_address_changes);
        let node = node_agent(&config, &data_dir, node_address_changes).map(|(agent, ends)| {
            executor
                .spawn(async move {
                    if let Err(e) = agent.await {
                        eprintln!("wisp: node agent stopped: {e}");
                    }
                })
                .detach();
            ends
        });
        control_plane::run(store, settings, shutdown, print_ready, node).await?;
        Ok::<(), Box<dyn std::error::Error>>(())
    }))
}

/// Size of each direction's in-process pipe between the control plane and the node agent.
const LINK_PIPE_BYTES: usize = 256 << 10;

type AgentFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), wisp_node::agent::AgentError>>>>;

/// The node agent and the control plane's ends of its link: two in-process byte pipes
/// carrying exactly the frames a separate node process would exchange (wisp-proto).
fn node_agent(
    config: &Config,
    data_dir: &std::path::Path,
    host_ip_changes: async_channel::Receiver<String>,
) -> Option<(AgentFuture, control_plane::NodeLinkEnds)> {
    if !config.node.enabled {
        return None;
    }
    let (cp_reader, node_writer) = piper::pipe(LINK_PIPE_BYTES);
    let (node_reader, cp_writer) = piper::pipe(LINK_PIPE_BYTES);
    let mut agent_config = agent_config(config, data_dir);
    agent_config.host_ip_changes = Some(host_ip_changes);
    let streams = wisp_node::agent::streams::Streams::default();
    let pod_streams = crate::pod_streams::install(streams.clone());
    let agent = Box::pin(wisp_node::agent::run(
        agent_config,
        streams,
        node_reader,
        node_writer,
    ));
    let ends = control_plane::NodeLinkEnds {
        reader: Box::new(cp_reader),
        writer: Box::new(cp_writer),
        streams: pod_streams,
    };
    Some((agent, ends))
}

/// The node agent's settings from wisp's configuration (`wisp run` and `wisp cleanup`).
pub fn agent_config(config: &Config, data_dir: &std::path::Path) -> wisp_node::agent::AgentConfig {
    let node_name = config.node.name.clone().unwrap_or_else(|| {
        rustix::system::uname()
            .nodename()
            .to_string_lossy()
            .to_lowercase()
    });
    let host_ip = wisp_core::pki::primary_host_address().to_string();
    wisp_node::agent::AgentConfig {
        node_name,
        data_dir: data_dir.join("node"),
        run_dir: config.node.run_dir.clone(),
        log_root: config.node.pod_logs_dir.clone(),
        runtime: config.node.runtime.clone(),
        images_dir: config.node.images_dir.clone(),
        host_ip,
        cluster_dns: config.network.cluster_dns.to_string(),
        cluster_domain: config.network.cluster_domain.clone(),
        pod_cidr: Some(format!(
            "{}/{}",
            config.network.pod_cidr.addr, config.network.pod_cidr.prefix
        )),
        cni_bin_dir: config.node.cni_bin_dir.clone(),
        bridge: config.network.bridge.clone(),
        insecure_registries: config.node.insecure_registries.clone(),
        registry_ca_files: config.node.registry_ca_files.clone(),
        nft_table: config.network.nft_table.clone(),
        host_ip_changes: None,
        service_cidr: Some(format!(
            "{}/{}",
            config.network.service_cidr.addr, config.network.service_cidr.prefix
        )),
        serve_cluster_dns: config.network.serve_dns,
        eviction_hard: wisp_node::agent::Thresholds {
            memory_available_bytes: config.node.eviction_hard.memory_available_bytes,
            nodefs_available_percent: config.node.eviction_hard.nodefs_available_percent,
            pid_available_percent: config.node.eviction_hard.pid_available_percent,
        },
    }
}

/// One address watcher for both sides: after each change (debounced) the control plane
/// re-checks its serving certificate and the `kubernetes` Endpoints, and the node agent
/// gets the primary address (newest wins when it is busy). Without a netlink socket
/// (a seccomp-filtered sandbox) wisp says so and runs with the addresses of its start.
async fn watch_addresses(
    control_plane: async_channel::Sender<()>,
    node: async_channel::Sender<String>,
) {
    let mut watch = match wisp_node::agent::address_watch::AddressWatch::open() {
        Ok(watch) => watch,
        Err(e) => {
            eprintln!("wisp: cannot watch the host's addresses, changes are not followed: {e}");
            return;
        }
    };
    loop {
        if let Err(e) = watch.changed().await {
            eprintln!("wisp: address watch stopped, changes are not followed: {e}");
            return;
        }
        let _already_pending = control_plane.try_send(());
        let primary = blocking::unblock(wisp_core::pki::primary_host_address).await;
        let _ = node.force_send(primary.to_string());
    }
}

/// The one line `wisp run` logs when the API is ready (size-budget and the tests wait for
/// its `wisp ready` prefix).
fn print_ready(ready: Ready) {
    println!(
        "wisp ready: API on {} in {} ms; kubeconfig {}",
        ready.url,
        ready.startup_ms,
        ready.kubeconfig.display()
    );
}

pub fn print_kubeconfig(data_dir: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let config = effective_config(None, data_dir)?;
    let text =
        wisp_core::kubeconfig::read_kubeconfig(&config.resolved_data_dir()).map_err(|e| {
            format!(
                "cannot read the admin kubeconfig: {e} (has `wisp run` started with this data dir?)"
            )
        })?;
    crate::cli::write_stdout(&text);
    Ok(())
}
