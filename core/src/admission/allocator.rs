//! Service ClusterIPs and NodePorts: two small pools kept in step with the stored Services.
//!
//! The stored Services are the truth. On first use the pools are rebuilt from a range read
//! of `/registry/core/services/`, and from then on a store watcher (drained without waiting
//! before every allocation) moves them along: a Service written holds exactly the
//! addresses and ports it was written with, a Service deleted holds nothing. Release on
//! delete or on a type change therefore needs no hook in the delete path. An allocation
//! made for a write that has not committed yet is *pending* under the Service's key, so two
//! writes in flight never get the same address; a pending entry whose write failed is
//! dropped when its key is written again, and all of them are dropped before a pool
//! reports itself full.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use miniserde::json::Value;
use wisp_store::{EventKind, Store, Watcher};

use crate::object::meta;

pub const SERVICES_PREFIX: &str = "/registry/core/services/";

/// The service network from the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceNetwork {
    pub base: Ipv4Addr,
    pub prefix: u8,
    /// Reserved for the cluster DNS Service (handed out only when asked for).
    pub dns_ip: Ipv4Addr,
    pub node_ports: (u16, u16),
}

impl Default for ServiceNetwork {
    fn default() -> ServiceNetwork {
        ServiceNetwork {
            base: Ipv4Addr::new(10, 43, 0, 0),
            prefix: 16,
            dns_ip: Ipv4Addr::new(10, 43, 0, 10),
            node_ports: (30000, 32767),
        }
    }
}

impl ServiceNetwork {
    /// Checks the CIDR is IPv4 with room for a few Services.
    pub fn new(
        base: std::net::IpAddr,
        prefix: u8,
        dns_ip: std::net::IpAddr,
    ) -> Result<ServiceNetwork, String> {
        let (std::net::IpAddr::V4(base), std::net::IpAddr::V4(dns_ip)) = (base, dns_ip) else {
            return Err("the service CIDR and cluster DNS address must be IPv4".to_owned());
        };
        if !(8..=28).contains(&prefix) {
            return Err(format!("service CIDR prefix /{prefix} is outside /8../28"));
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(ServiceNetwork {
            base: Ipv4Addr::from(u32::from(base) & mask),
            prefix,
            dns_ip,
            node_ports: (30000, 32767),
        })
    }

    pub fn cidr(&self) -> String {
        format!("{}/{}", self.base, self.prefix)
    }

    fn size(&self) -> u32 {
        1u32 << (32 - self.prefix)
    }

    /// The `kubernetes` Service's address: the first of the range.
    pub fn kubernetes_ip(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.base) + 1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocError {
    Allocated,
    NotInRange,
    Full,
}

/// One pool of numbered slots (addresses or ports as offsets from the first).
#[derive(Debug, Default)]
pub struct Pool {
    size: u32,
    /// Slots handed out only when asked for by number.
    reserved: Vec<u32>,
    /// Slots outside the usable range even when asked for (network and broadcast).
    excluded: Vec<u32>,
    committed: BTreeMap<u32, String>,
    pending: BTreeMap<u32, String>,
    cursor: u32,
}

impl Pool {
    pub fn new(size: u32, reserved: Vec<u32>, excluded: Vec<u32>) -> Pool {
        Pool {
            size,
            reserved,
            excluded,
            ..Pool::default()
        }
    }

    fn holder(&self, slot: u32) -> Option<&str> {
        self.committed
            .get(&slot)
            .or_else(|| self.pending.get(&slot))
            .map(String::as_str)
    }

    /// Takes `slot` for `owner`; a slot the owner already holds is fine.
    pub fn claim(&mut self, slot: u32, owner: &str, dry_run: bool) -> Result<(), AllocError> {
        if slot >= self.size || self.excluded.contains(&slot) {
            return Err(AllocError::NotInRange);
        }
        match self.holder(slot) {
            Some(h) if h != owner => Err(AllocError::Allocated),
            // Already stored as this owner's: nothing new to hold.
            Some(_) if self.committed.contains_key(&slot) => Ok(()),
            _ => {
                if !dry_run {
                    self.pending.insert(slot, owner.to_owned());
                }
                Ok(())
            }
        }
    }

    /// The next free slot after the last one handed out, for `owner`.
    pub fn next(&mut self, owner: &str, dry_run: bool) -> Result<u32, AllocError> {
        match self.scan() {
            Some(slot) => {
                if !dry_run {
                    self.pending.insert(slot, owner.to_owned());
                    self.cursor = slot + 1;
                }
                Ok(slot)
            }
            None if !self.pending.is_empty() => {
                // Pending entries may be left over from writes that failed.
                self.pending.clear();
                self.next(owner, dry_run)
            }
            None => Err(AllocError::Full),
        }
    }

    fn scan(&self) -> Option<u32> {
        (0..self.size)
            .map(|i| (self.cursor + i) % self.size)
            .find(|s| {
                self.holder(*s).is_none()
                    && !self.reserved.contains(s)
                    && !self.excluded.contains(s)
            })
    }

    /// What a stored object at `owner` holds now (empty after a delete).
    pub fn set_committed(&mut self, owner: &str, slots: &[u32]) {
        self.committed.retain(|_, o| o != owner);
        self.pending.retain(|_, o| o != owner);
        for s in slots {
            self.committed.insert(*s, owner.to_owned());
        }
    }

    /// Drops the uncommitted claims of `owner` (its write was refused).
    pub fn forget_pending(&mut self, owner: &str) {
        self.pending.retain(|_, o| o != owner);
    }

    pub fn in_use(&self) -> usize {
        let extra = self
            .pending
            .keys()
            .filter(|s| !self.committed.contains_key(s))
            .count();
        self.committed.len() + extra
    }
}

struct State {
    watcher: Watcher,
    ips: Pool,
    ports: Pool,
}

/// The ClusterIP and NodePort pools of one API server.
pub struct Allocators {
    network: ServiceNetwork,
    state: RefCell<Option<State>>,
}

impl fmt::Debug for Allocators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Allocators({})", self.network.cidr())
    }
}

impl Allocators {
    pub fn new(network: ServiceNetwork) -> Allocators {
        Allocators {
            network,
            state: RefCell::new(None),
        }
    }

    pub fn network(&self) -> &ServiceNetwork {
        &self.network
    }

    fn fresh_pools(&self) -> (Pool, Pool) {
        let n = &self.network;
        let dns = u32::from(n.dns_ip).wrapping_sub(u32::from(n.base));
        let ips = Pool::new(n.size(), vec![1, dns], vec![0, n.size() - 1]);
        let ports = Pool::new(
            u32::from(n.node_ports.1 - n.node_ports.0) + 1,
            vec![],
            vec![],
        );
        (ips, ports)
    }

    /// Rebuilds both pools from the stored Services and starts following their changes.
    fn rebuild(&self, store: &Store) -> State {
        let (mut ips, mut ports) = self.fresh_pools();
        let listed = store.range(SERVICES_PREFIX.as_bytes(), 0, None);
        for kv in &listed.kvs {
            let owner = String::from_utf8_lossy(&kv.key).into_owned();
            let object = meta::from_json_bytes(&kv.value).unwrap_or(Value::Null);
            self.record(&mut ips, &mut ports, &owner, Some(&object));
        }
        let watcher = store
            .watch(SERVICES_PREFIX.as_bytes(), listed.revision)
            .or_else(|_| store.watch(SERVICES_PREFIX.as_bytes(), 0))
            .expect("watching from the current revision cannot be compacted away");
        State {
            watcher,
            ips,
            ports,
        }
    }

    fn record(&self, ips: &mut Pool, ports: &mut Pool, owner: &str, object: Option<&Value>) {
        let (held_ips, held_ports) = object.map(|o| self.held(o)).unwrap_or_default();
        ips.set_committed(owner, &held_ips);
        ports.set_committed(owner, &held_ports);
    }

    /// The slots a stored Service holds.
    fn held(&self, service: &Value) -> (Vec<u32>, Vec<u32>) {
        let mut ips = Vec::new();
        let listed = meta::get_path(service, &["spec", "clusterIPs"]);
        let addresses: Vec<&str> = match listed {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            _ => meta::get_str(service, &["spec", "clusterIP"])
                .into_iter()
                .collect(),
        };
        for ip in addresses {
            if let Some(slot) = self.ip_slot(ip) {
                ips.push(slot);
            }
        }
        let mut ports = Vec::new();
        let items = match meta::get_path(service, &["spec", "ports"]) {
            Some(Value::Array(a)) => a.iter().collect(),
            _ => Vec::new(),
        };
        for p in items {
            if let Some(slot) = meta::get_i64(p, &["nodePort"]).and_then(|n| self.port_slot(n)) {
                ports.push(slot);
            }
        }
        if let Some(slot) =
            meta::get_i64(service, &["spec", "healthCheckNodePort"]).and_then(|n| self.port_slot(n))
        {
            ports.push(slot);
        }
        (ips, ports)
    }

    fn ip_slot(&self, ip: &str) -> Option<u32> {
        let ip: Ipv4Addr = ip.parse().ok()?;
        let offset = u32::from(ip).checked_sub(u32::from(self.network.base))?;
        (offset < self.network.size()).then_some(offset)
    }

    fn port_slot(&self, port: i64) -> Option<u32> {
        let (lo, hi) = self.network.node_ports;
        (i64::from(lo)..=i64::from(hi))
            .contains(&port)
            .then(|| u32::try_from(port - i64::from(lo)).ok())
            .flatten()
    }

    /// Brings the pools up to date with the store, then runs `f` on them.
    fn with_pools<R>(&self, store: &Store, f: impl FnOnce(&mut Pool, &mut Pool) -> R) -> R {
        let mut slot = self.state.borrow_mut();
        let state = match slot.take() {
            Some(state) => self.catch_up(store, state),
            None => self.rebuild(store),
        };
        let state = slot.insert(state);
        f(&mut state.ips, &mut state.ports)
    }

    fn catch_up(&self, store: &Store, mut state: State) -> State {
        while let Some(event) = state.watcher.try_next() {
            let Ok(event) = event else {
                // The watcher fell behind the retained history: start over from a list.
                return self.rebuild(store);
            };
            let owner = String::from_utf8_lossy(&event.kv.key).into_owned();
            let object = match event.kind {
                EventKind::Put => meta::from_json_bytes(&event.kv.value),
                EventKind::Delete => None,
            };
            self.record(&mut state.ips, &mut state.ports, &owner, object.as_ref());
        }
        state
    }

    /// A ClusterIP for the Service at `owner`: `requested` if free, else the next free one.
    pub fn allocate_ip(
        &self,
        store: &Store,
        owner: &str,
        requested: Option<Ipv4Addr>,
        dry_run: bool,
    ) -> Result<Ipv4Addr, AllocError> {
        let base = u32::from(self.network.base);
        self.with_pools(store, |ips, _| match requested {
            Some(ip) => {
                let slot = u32::from(ip)
                    .checked_sub(base)
                    .ok_or(AllocError::NotInRange)?;
                ips.claim(slot, owner, dry_run).map(|()| ip)
            }
            None => ips
                .next(owner, dry_run)
                .map(|slot| Ipv4Addr::from(base + slot)),
        })
    }

    /// A NodePort for the Service at `owner`.
    pub fn allocate_port(
        &self,
        store: &Store,
        owner: &str,
        requested: Option<i64>,
        dry_run: bool,
    ) -> Result<u16, AllocError> {
        let lo = self.network.node_ports.0;
        self.with_pools(store, |_, ports| {
            let slot = match requested {
                Some(p) => {
                    let slot =
                        u32::try_from(p - i64::from(lo)).map_err(|_| AllocError::NotInRange)?;
                    ports.claim(slot, owner, dry_run)?;
                    slot
                }
                None => ports.next(owner, dry_run)?,
            };
            u16::try_from(u32::from(lo) + slot).map_err(|_| AllocError::NotInRange)
        })
    }

    /// Forgets what a refused write of `owner` had claimed.
    pub fn forget_pending(&self, owner: &str) {
        if let Some(state) = self.state.borrow_mut().as_mut() {
            state.ips.forget_pending(owner);
            state.ports.forget_pending(owner);
        }
    }

    /// Addresses and ports in use (committed or pending), after catching up.
    pub fn usage(&self, store: &Store) -> (usize, usize) {
        self.with_pools(store, |ips, ports| (ips.in_use(), ports.in_use()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_skips_reserved_and_reports_full() {
        let mut p = Pool::new(8, vec![1], vec![0, 7]);
        let got: Vec<u32> = (0..5)
            .map(|i| p.next(&format!("s{i}"), false).unwrap())
            .collect();
        assert_eq!(got, vec![2, 3, 4, 5, 6]);
        for (i, slot) in got.iter().enumerate() {
            p.set_committed(&format!("s{i}"), &[*slot]);
        }
        assert_eq!(p.next("x", false), Err(AllocError::Full));
        // The reserved slot is still there for whoever asks for it by number.
        assert_eq!(p.claim(1, "kubernetes", false), Ok(()));
        assert_eq!(p.claim(0, "y", false), Err(AllocError::NotInRange));
        assert_eq!(p.claim(3, "y", false), Err(AllocError::Allocated));
        assert_eq!(
            p.claim(3, "s1", false),
            Ok(()),
            "an owner may keep its own slot"
        );
    }

    #[test]
    fn freed_slots_are_reused_and_failed_claims_do_not_leak() {
        let mut p = Pool::new(4, vec![], vec![]);
        for i in 0..4 {
            let s = p.next(&format!("s{i}"), false).unwrap();
            p.set_committed(&format!("s{i}"), &[s]);
        }
        assert_eq!(p.next("x", false), Err(AllocError::Full));
        p.set_committed("s2", &[]);
        assert_eq!(p.next("x", false), Ok(2));
        // "x" never commits; the pending claim is dropped once the pool runs dry.
        assert_eq!(p.next("y", false), Ok(2));
        p.set_committed("y", &[2]);
        assert_eq!(p.next("z", true), Err(AllocError::Full));
    }

    #[test]
    fn dry_run_claims_nothing() {
        let mut p = Pool::new(4, vec![], vec![]);
        assert_eq!(p.next("a", true), Ok(0));
        assert_eq!(p.next("b", true), Ok(0));
        assert_eq!(p.in_use(), 0);
    }

    #[test]
    fn network_from_config() {
        let n = ServiceNetwork::new(
            "10.43.7.9".parse().unwrap(),
            16,
            "10.43.0.10".parse().unwrap(),
        )
        .unwrap();
        assert_eq!(n.cidr(), "10.43.0.0/16");
        assert_eq!(n.kubernetes_ip(), Ipv4Addr::new(10, 43, 0, 1));
        assert!(
            ServiceNetwork::new("fd00::".parse().unwrap(), 64, "fd00::a".parse().unwrap()).is_err()
        );
    }
}
