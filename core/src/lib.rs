//! wisp-core: the control plane.
//!
//! It owns the Kubernetes API subset served over HTTPS, authentication and authorization,
//! admission, the controllers and the scheduler. It runs on one thread (a smol
//! `LocalExecutor`) and keeps every object once, in the store; it does not touch the host
//! (that is wisp-node's job, reached through the internal protocol).
pub mod address_follow;
pub mod admission;
pub mod api;
pub mod audit;
pub mod auth;
pub mod bootstrap;
pub mod control_plane;
pub mod controllers;
pub mod object;
pub mod status;

pub mod discovery;
pub mod openapi;
pub mod registry;

pub mod patch;
pub mod selector;

pub mod http;
pub mod kubeconfig;
pub mod node_lifecycle;
pub mod nodelink;
pub mod pki;

pub mod protobuf;
pub mod table;

// In-process controllers (workload controllers and the scheduler).
pub mod quota;
pub mod scheduler;
pub mod storage;
pub mod workloads;
