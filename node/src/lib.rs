//! wisp-node: the node agent (kubelet and kube-proxy in one).
//!
//! It owns everything that touches the host: OCI containers through runc or crun, images,
//! volumes, CNI networking, Service rules in nftables, cluster DNS, logs and streaming. It
//! does not depend on the control plane's internals; it speaks the internal protocol.

pub mod agent;
pub mod cni;
pub mod dns;
pub mod image;
pub mod json;
pub mod netpol;
pub mod preflight;
pub mod pull;
pub mod runtime;
pub mod services;
