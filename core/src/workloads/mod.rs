//! Workload controllers: ReplicaSets, Deployments, Jobs, DaemonSets, StatefulSets and CronJobs,
//! plus the Endpoints and EndpointSlices of Services, each fed from
//! store watches and writing through the API server as its upstream service account.
//! They keep no object caches: every sync reads the store, the one copy of each object.

pub mod client;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod events;
pub mod feed;
pub mod job;
pub mod objects;
pub mod queue;
pub mod replicaset;
pub mod statefulset;

#[cfg(test)]
pub(crate) mod tests;

use std::rc::Rc;

use async_executor::LocalExecutor;

use crate::api::server::ApiServer;

/// Starts every workload controller on `executor`.
pub fn spawn(executor: &Rc<LocalExecutor<'static>>, server: &Rc<ApiServer>) {
    replicaset::spawn(executor, server);
    deployment::spawn(executor, server);
    job::spawn(executor, server);
    daemonset::spawn(executor, server);
    statefulset::spawn(executor, server);
    cronjob::spawn(executor, server);
    endpoints::spawn(executor, server);
    disruption::spawn(executor, server);
}
