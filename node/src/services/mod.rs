//! Services: kube-proxy's job as one nftables table. A pure function turns the Services and
//! their ready endpoints into a script for table `inet wisp` (ClusterIPs, NodePorts,
//! external and load-balancer IPs, ClientIP affinity, traffic policies), and `apply` swaps
//! it in atomically, together with the NetworkPolicy chains (`policy_chains`). It owns no state: the agent re-renders the whole model on every change.
//! Cluster DNS and pod networking (CNI) are elsewhere.

mod model;
mod nft;
mod policy_chains;
mod ruleset;

#[cfg(test)]
mod tests;

pub use model::{Endpoint, Protocol, Service, ServiceModel, ServicePort};
pub use nft::{NftError, apply, remove, remove_table};
pub use ruleset::{DEFAULT_TABLE_NAME, TABLE, render, render_table, valid_table_name};
