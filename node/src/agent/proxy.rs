//! The node's Service proxy (kube-proxy's job): it keeps the latest Services and Endpoints
//! the control plane forwards and, once both kinds have been listed, re-renders and swaps in
//! the whole nftables table (`crate::services`) on the blocking pool, 50 ms after the last
//! change (a timer armed by a change, no polling; at most 500 ms behind under a steady
//! stream). LoadBalancer Services get the host address as `status.loadBalancer.ingress`
//! (MicroShift-style). NetworkPolicy is enforced in the same table (`policy_objects`
//! keeps what it is compiled from). The table is left in place when wisp stops, so Services keep working
//! across a restart; the next start replaces it after its first listing.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::IpAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use async_channel::{Receiver, Sender};
use async_executor::LocalExecutor;
use wisp_proto::{FromNode, ServiceObjectKind, ToNode};

use super::link::Link;
use super::policy_objects::PolicyObjects;
use super::service_objects::{
    EndpointsObject, NodeView, ServiceObject, build_model, parse_endpoints, parse_service,
};
use super::service_route::{self, RouteOutcome};
use crate::cni::IpNet;
use crate::services::{self, ServiceModel};

/// Quiet time after a change before the rules are rendered.
const DEBOUNCE: Duration = Duration::from_millis(50);
/// The longest a change waits while others keep arriving.
const MAX_DELAY: Duration = Duration::from_millis(500);

/// How the proxy is set up.
pub struct ProxyConfig {
    pub node_name: String,
    /// Addresses LoadBalancer Services answer on; the first is written to their status.
    /// The host's other global IPv4 addresses are added at start.
    pub host_ips: Vec<IpAddr>,
    /// The pod network: ClusterIP traffic from elsewhere is masqueraded.
    pub cluster_cidrs: Vec<IpNet>,
    /// The table's name in family `inet`.
    pub table: String,
    /// Routed via `lo` at start when the host has no route to it (`service_route`).
    pub service_cidr: Option<IpNet>,
}

#[derive(Default)]
struct Objects {
    services: HashMap<String, ServiceObject>,
    endpoints: HashMap<String, EndpointsObject>,
    services_synced: bool,
    endpoints_synced: bool,
}

pub struct Proxy {
    config: ProxyConfig,
    /// The primary address first, then the host's other global IPv4 addresses (found at
    /// start and after each address change).
    host_ips: RefCell<Vec<IpAddr>>,
    objects: RefCell<Objects>,
    /// NetworkPolicies, Namespace labels and this node's pods (rendered in the same table).
    policy: RefCell<PolicyObjects>,
    /// Wakes the render task; capacity 1, so changes coalesce.
    changed: Sender<()>,
    /// Bumped by every change; `applied` is the generation the last swap rendered.
    generation: Cell<u64>,
    applied: Cell<u64>,
    swapped: event_listener::Event,
    link: Link,
}

impl Proxy {
    /// Starts the render task on `executor`.
    pub fn start(config: ProxyConfig, link: Link, executor: &LocalExecutor<'static>) -> Rc<Proxy> {
        let (changed, wake) = async_channel::bounded(1);
        let proxy = Rc::new(Proxy {
            host_ips: RefCell::new(config.host_ips.clone()),
            config,
            objects: RefCell::default(),
            policy: RefCell::default(),
            changed,
            generation: Cell::new(0),
            applied: Cell::new(0),
            swapped: event_listener::Event::new(),
            link,
        });
        executor.spawn(Rc::clone(&proxy).render_loop(wake)).detach();
        proxy
    }

    /// Makes `primary` the LoadBalancer ingress address and re-reads the host's other
    /// addresses, then re-renders (the host's addresses changed: `address_watch`).
    pub async fn host_address_changed(&self, primary: IpAddr) {
        let found = blocking::unblock(global_ipv4_addresses).await;
        let mut host_ips = vec![primary];
        host_ips.extend(found.into_iter().filter(|ip| *ip != primary));
        *self.host_ips.borrow_mut() = host_ips;
        self.wake();
    }

    /// Takes a Service, Endpoints, NetworkPolicy or Namespace message; false for any other
    /// message.
    pub fn handle(&self, message: &ToNode) -> bool {
        if self.policy.borrow_mut().handle(message) {
            self.wake();
            return true;
        }
        let mut objects = self.objects.borrow_mut();
        match message {
            // An object that cannot be read gets no rules rather than its old ones.
            ToNode::ServiceUpsert { key, json } => match parse_service(json) {
                Some(s) => drop(objects.services.insert(key.clone(), s)),
                None => {
                    eprintln!("wisp: node: service {key}: not a Service object");
                    objects.services.remove(key);
                }
            },
            ToNode::ServiceRemoved { key } => drop(objects.services.remove(key)),
            ToNode::EndpointsUpsert { key, json } => match parse_endpoints(json) {
                Some(e) => drop(objects.endpoints.insert(key.clone(), e)),
                None => {
                    eprintln!("wisp: node: endpoints {key}: not an Endpoints object");
                    objects.endpoints.remove(key);
                }
            },
            ToNode::EndpointsRemoved { key } => drop(objects.endpoints.remove(key)),
            ToNode::ServicesSynced { kind, keys } => objects.synced(*kind, keys),
            _ => return false,
        }
        self.wake();
        true
    }

    fn wake(&self) {
        self.generation.set(self.generation.get() + 1);
        let _already_woken = self.changed.try_send(());
    }

    /// When any NetworkPolicy exists, waits (at most `limit`) until the kernel has the
    /// rules for every change made so far: a pod worker calls it after its sandbox got an
    /// address, so an isolated pod's containers never start unprotected and an allowed
    /// peer is allowed from its first packet. Clusters without policies never wait.
    pub async fn rules_current(&self, limit: Duration) {
        if !self.policy.borrow().has_policies() {
            return;
        }
        let target = self.generation.get();
        let deadline = Instant::now() + limit;
        while self.applied.get() < target {
            let listener = self.swapped.listen();
            if self.applied.get() >= target {
                return;
            }
            let timed_out = futures_lite::future::or(
                async {
                    listener.await;
                    false
                },
                async {
                    async_io::Timer::at(deadline).await;
                    true
                },
            )
            .await;
            if timed_out {
                eprintln!("wisp: node: NetworkPolicy rules not in the kernel after {limit:?}");
                return;
            }
        }
    }

    /// A pod bound to this node was created or changed (its labels and named ports).
    pub fn pod_upsert(&self, uid: &str, pod: &crate::runtime::podspec::Pod, json: &[u8]) {
        let changed = self.policy.borrow_mut().pod_upsert(uid, pod, json);
        self.wake_for_pod(changed);
    }

    /// The agent gave a pod's sandbox this address (None: released).
    pub fn pod_ip(&self, uid: &str, ip: Option<IpAddr>) {
        let changed = self.policy.borrow_mut().pod_ip(uid, ip);
        self.wake_for_pod(changed);
    }

    /// A pod's worker ended.
    pub fn pod_gone(&self, uid: &str) {
        let changed = self.policy.borrow_mut().pod_gone(uid);
        self.wake_for_pod(changed);
    }

    /// Pods matter to the table only through policies: without any, a pod change (every
    /// status write comes back as one) renders nothing new and wakes nobody.
    fn wake_for_pod(&self, changed: bool) {
        if changed && self.policy.borrow().has_policies() {
            self.wake();
        }
    }

    async fn render_loop(self: Rc<Self>, wake: Receiver<()>) {
        let found = blocking::unblock(global_ipv4_addresses).await;
        {
            let mut host_ips = self.host_ips.borrow_mut();
            for ip in found {
                if !host_ips.contains(&ip) {
                    host_ips.push(ip);
                }
            }
        }
        if !self.config.cluster_cidrs.is_empty() {
            match blocking::unblock(super::bridge_netfilter::ensure).await {
                Ok(super::bridge_netfilter::Outcome::TurnedOn) => {
                    eprintln!("wisp: node: turned on br_netfilter (bridge-nf-call-iptables)");
                }
                Ok(super::bridge_netfilter::Outcome::AlreadyOn) => {}
                Err(e) => eprintln!(
                    "wisp: node: {e}: NetworkPolicy cannot filter traffic between pods on the bridge"
                ),
            }
        }
        if let Some(cidr) = self.config.service_cidr {
            let routed = blocking::unblock(move || service_route::ensure_route(None, &cidr)).await;
            match routed {
                Ok(RouteOutcome::Added) => {
                    eprintln!("wisp: node: no route to the service CIDR {cidr}: added one via lo");
                }
                Ok(RouteOutcome::Present) => {}
                Err(e) => eprintln!("wisp: node: {e}"),
            }
        }
        while wake.recv().await.is_ok() {
            if !quiet_period(&wake).await {
                return;
            }
            let generation = self.generation.get();
            let Some(model) = self.model() else {
                continue;
            };
            let table = self.config.table.clone();
            let started = Instant::now();
            let applied =
                blocking::unblock(move || services::apply(&services::render_table(&model, &table)))
                    .await;
            if let Err(e) = applied {
                eprintln!("wisp: node: service rules: {e}");
            }
            // Also after a failure: waiting longer would not bring those rules.
            self.applied.set(generation);
            self.swapped.notify(usize::MAX);
            if std::env::var_os("WISP_PROXY_TIMING").is_some() {
                eprintln!(
                    "wisp: node: service rules applied in {:?}",
                    started.elapsed()
                );
            }
            if self.report_load_balancers().await.is_err() {
                return;
            }
        }
    }

    /// The model to render, once every kind has been listed.
    fn model(&self) -> Option<ServiceModel> {
        let objects = self.objects.borrow();
        let policy = self.policy.borrow();
        if !(objects.services_synced && objects.endpoints_synced && policy.ready()) {
            return None;
        }
        let host_ips = self.host_ips.borrow();
        let node = NodeView {
            node_name: &self.config.node_name,
            host_ips: &host_ips,
            cluster_cidrs: &self.config.cluster_cidrs,
        };
        let mut model = build_model(&objects.services, &objects.endpoints, &node);
        model.policy = policy.rules();
        Some(model)
    }

    /// Writes the host address into the status of LoadBalancer Services that lack it, and
    /// clears the ingress of Services that are no longer LoadBalancers (as upstream's
    /// service controller does).
    async fn report_load_balancers(&self) -> Result<(), super::link::LinkClosed> {
        let Some(host_ip) = self.host_ips.borrow().first().copied() else {
            return Ok(());
        };
        let wanted = format!(r#"{{"loadBalancer":{{"ingress":[{{"ip":"{host_ip}"}}]}}}}"#);
        let cleared = r#"{"loadBalancer":{"ingress":null}}"#;
        let stale: Vec<(String, String, String, &str)> = self
            .objects
            .borrow()
            .services
            .values()
            .filter_map(|s| {
                let status = if s.load_balancer && s.ingress_ips != [host_ip] {
                    wanted.as_str()
                } else if !s.load_balancer && !s.ingress_ips.is_empty() {
                    cleared
                } else {
                    return None;
                };
                Some((s.namespace.clone(), s.name.clone(), s.uid.clone(), status))
            })
            .collect();
        for (namespace, name, uid, status) in stale {
            let message = FromNode::ServiceStatus {
                namespace,
                name,
                uid,
                status_json: status.as_bytes().to_vec(),
            };
            self.link.send(message).await?;
        }
        Ok(())
    }
}

impl Objects {
    /// After a (re)listing, objects of that kind not listed are gone.
    fn synced(&mut self, kind: ServiceObjectKind, keys: &[String]) {
        let listed: std::collections::HashSet<&str> = keys.iter().map(String::as_str).collect();
        match kind {
            ServiceObjectKind::Service => {
                self.services.retain(|k, _| listed.contains(k.as_str()));
                self.services_synced = true;
            }
            ServiceObjectKind::Endpoints => {
                self.endpoints.retain(|k, _| listed.contains(k.as_str()));
                self.endpoints_synced = true;
            }
        }
    }
}

/// The host's global IPv4 addresses (`ip -o -4 addr show scope global`; empty when `ip`
/// fails); re-read after each address change (`Proxy::host_address_changed`).
fn global_ipv4_addresses() -> Vec<IpAddr> {
    let out = std::process::Command::new("ip")
        .args(["-o", "-4", "addr", "show", "scope", "global"])
        .output();
    match out {
        Ok(out) if out.status.success() => {
            parse_ip_addr_lines(&String::from_utf8_lossy(&out.stdout))
        }
        _ => Vec::new(),
    }
}

/// The address after each `inet` in `ip -o addr` output.
fn parse_ip_addr_lines(text: &str) -> Vec<IpAddr> {
    let addresses = text.lines().filter_map(|line| {
        let mut words = line.split_whitespace().skip_while(|w| *w != "inet");
        let cidr = words.nth(1)?;
        cidr.split('/').next()?.parse().ok()
    });
    addresses.collect()
}

/// Waits until no change came for [`DEBOUNCE`] (or [`MAX_DELAY`] passed); false when the
/// proxy is gone.
async fn quiet_period(wake: &Receiver<()>) -> bool {
    let deadline = Instant::now() + MAX_DELAY;
    loop {
        let wait = DEBOUNCE.min(deadline.saturating_duration_since(Instant::now()));
        let woken = futures_lite::future::or(async { Some(wake.recv().await.is_ok()) }, async {
            async_io::Timer::after(wait).await;
            None
        })
        .await;
        match woken {
            Some(true) if Instant::now() < deadline => {}
            Some(false) => return false,
            _ => return true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_relisting_drops_what_was_not_listed() {
        let mut objects = Objects::default();
        let service =
            br#"{"metadata":{"name":"a","namespace":"d"},"spec":{"clusterIP":"10.43.0.5"}}"#;
        for key in ["d/a", "d/b"] {
            let parsed = parse_service(service).unwrap();
            objects.services.insert(key.to_owned(), parsed);
        }
        objects
            .endpoints
            .insert("d/a".to_owned(), EndpointsObject::default());
        objects.synced(ServiceObjectKind::Service, &["d/a".to_owned()]);
        assert!(objects.services_synced && !objects.endpoints_synced);
        assert_eq!(objects.services.keys().collect::<Vec<_>>(), ["d/a"]);
        assert_eq!(objects.endpoints.len(), 1, "the other kind is untouched");
        objects.synced(ServiceObjectKind::Endpoints, &[]);
        assert!(objects.endpoints.is_empty() && objects.endpoints_synced);
    }

    #[test]
    fn host_addresses_are_read_from_ip_addr_lines() {
        let text = "2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever preferred_lft forever\n\
                    5: wisp0    inet 10.42.0.1/16 brd 10.42.255.255 scope global wisp0\\       valid_lft forever\n";
        let got: Vec<String> = parse_ip_addr_lines(text)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, ["192.0.2.2", "10.42.0.1"]);
    }

    #[test]
    fn changes_coalesce_until_a_quiet_period() {
        futures_lite::future::block_on(async {
            let (tx, rx) = async_channel::bounded(1);
            let started = Instant::now();
            let sender = async {
                for _ in 0..5 {
                    let _ = tx.try_send(());
                    async_io::Timer::after(Duration::from_millis(20)).await;
                }
            };
            let (_, quiet) = futures_lite::future::zip(sender, quiet_period(&rx)).await;
            assert!(quiet);
            // Five changes 20 ms apart, then 50 ms of quiet: one render, not five.
            let waited = started.elapsed();
            assert!(waited >= Duration::from_millis(130), "{waited:?}");
            assert!(waited < MAX_DELAY, "{waited:?}");
            drop(tx);
            assert!(!quiet_period(&rx).await, "a closed channel ends the loop");
        });
    }
}
