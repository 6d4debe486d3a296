//! The OCI runtime layer: the typed pod spec, OCI bundles built from it, cgroups, pod
//! namespaces, and the runc/crun command-line wrapper with the subreaper that collects exits.
//!
//! It does not resolve volumes, env sources, images or networking; the agent does that and
//! hands the results in.

pub mod bundle;
pub mod cgroups;
pub mod exits;
pub mod namespaces;
pub mod oci;
pub mod podspec;
pub mod qos;
pub mod quantity;
pub mod reaper;
