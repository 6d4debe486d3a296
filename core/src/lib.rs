//! wisp-core: the control plane.
//!
//! It owns the Kubernetes API subset served over HTTPS, authentication and authorization,
//! admission, the controllers and the scheduler. It runs on one thread (a smol
//! `LocalExecutor`) and keeps every object once, in the store; it does not touch the host
//! (that is wisp-node's job, reached through the internal protocol).

pub mod discovery;
pub mod openapi;
pub mod registry;
pub mod table;
