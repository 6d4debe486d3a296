//! Cluster DNS served by wisp itself (CoreDNS's kubernetes, forward and cache plugins in
//! one): A/AAAA/SRV/PTR for Services and pods from `ClusterRecords`, which the agent keeps
//! current from the store's watches, and every other name forwarded to the host's resolvers
//! through a small TTL cache. `answer` is the pure request path (tested and fuzzed);
//! `DnsServer` puts it on UDP and TCP port 53 of the cluster DNS Service IP. Messages are
//! parsed and written by the simple-dns crate.

mod answer;
mod cache;
mod error;
mod records;
mod relay;
mod server;
mod upstream;
mod zone;

#[cfg(test)]
mod tests;

pub use answer::{CLUSTER_TTL, EDNS_PAYLOAD, Forward, Outcome, Transport, answer};
pub use error::DnsError;
pub use records::{
    ClusterRecords, DnsEndpoint, DnsEndpoints, DnsPod, DnsPort, DnsService, PortProtocol,
};
pub use relay::{MAX_CACHE_TTL, cache_ttl, client_reply};
pub use server::DnsServer;
pub use upstream::{HOST_RESOLV_CONF, Upstreams, parse_resolv_conf};
