//! The cluster's certificates: a CA, the API server's serving certificate and the admin
//! client certificate, kept as PEM files in one private directory (keys mode 0600).
//!
//! Lifetimes: the CA lives 10 years and is never renewed automatically; the serving and
//! admin certificates live one year and are re-issued in place at start-up when fewer than
//! 30 days remain ([`RENEW_BEFORE`]). The serving certificate is also re-issued when the
//! wanted SAN set differs from the one it carries (a DHCP address change, a new host name).
//! Everything here blocks on the file system: call it before the executor starts or from a
//! blocking thread.

mod authority;
mod files;
mod host_addrs;
mod inspect;
mod leaf;

use std::fmt;
use std::io;
use std::path::Path;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

pub use authority::LEAF_LIFETIME;
pub use files::{read_if_exists, write_private_atomic};
pub use host_addrs::{host_addresses, host_name, primary_host_address};
pub use inspect::{CertInfo, CertParseError, inspect_cert};
pub use leaf::{ClientCert, ServingCert, ensure_admin_cert, ensure_serving_cert};

/// A leaf is re-issued at start-up when less than this remains of its validity.
pub const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
/// The ClusterIP of the `kubernetes` Service (first address of 10.43.0.0/16).
pub const KUBERNETES_SERVICE_IP: &str = "10.43.0.1";
/// The admin identity written to the kubeconfig.
pub const ADMIN_USER: &str = "system:admin";
/// The admin group: full access under RBAC.
pub const ADMIN_GROUP: &str = "system:masters";

/// Why the PKI could not be loaded or created.
#[derive(Debug)]
pub enum PkiError {
    /// Reading, writing or syncing a file failed.
    Io(&'static str, io::Error),
    /// A stored file is not a usable certificate or key.
    Invalid(&'static str, String),
    /// rcgen refused to build a certificate.
    Generate(String),
}

impl PkiError {
    fn io(file: &'static str) -> impl FnOnce(io::Error) -> PkiError {
        move |e| PkiError::Io(file, e)
    }

    fn generate(e: rcgen::Error) -> PkiError {
        PkiError::Generate(e.to_string())
    }
}

impl fmt::Display for PkiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PkiError::Io(file, e) => write!(f, "pki file {file}: {e}"),
            PkiError::Invalid(file, why) => write!(f, "pki file {file} is invalid: {why}"),
            PkiError::Generate(why) => write!(f, "cannot generate certificate: {why}"),
        }
    }
}

impl std::error::Error for PkiError {}

/// Everything the API server and `wisp kubeconfig` need, loaded or created in `dir`.
pub struct Pki {
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    pub serving: ServingCert,
    pub admin: ClientCert,
}

/// Loads or creates the CA, the serving certificate for `sans` and the admin certificate.
pub fn ensure_pki(dir: &Path, sans: &[String]) -> Result<Pki, PkiError> {
    let serving = ensure_serving_cert(dir, sans)?;
    let admin = ensure_admin_cert(dir)?;
    Ok(Pki {
        ca_pem: serving.ca_pem.clone(),
        ca_der: serving.ca_der.clone(),
        serving,
        admin,
    })
}

/// The SANs the serving certificate should carry on this host right now: loopback names,
/// every interface address, the host name, the in-cluster names of the `kubernetes`
/// Service and its IP, and `stable_name` (a name that survives address changes, e.g.
/// `wisp.local`). Sorted and deduplicated so the set compares stably across starts.
pub fn default_serving_sans(stable_name: &str) -> Vec<String> {
    let mut sans: Vec<String> = [
        "localhost",
        "127.0.0.1",
        "::1",
        "kubernetes",
        "kubernetes.default",
        "kubernetes.default.svc",
        "kubernetes.default.svc.cluster.local",
        KUBERNETES_SERVICE_IP,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    sans.extend(host_addresses().iter().map(|ip| ip.to_string()));
    sans.extend(host_name());
    if !stable_name.is_empty() {
        sans.push(stable_name.to_string());
    }
    normalize_sans(sans)
}

/// Lower-cases DNS names, canonicalises IP text, sorts and deduplicates.
pub fn normalize_sans(sans: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = sans
        .into_iter()
        .map(|s| match s.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => s.to_ascii_lowercase(),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn pem_to_der(pem: &str, file: &'static str) -> Result<Vec<u8>, PkiError> {
    CertificateDer::from_pem_slice(pem.as_bytes())
        .map(|der| der.to_vec())
        .map_err(|e| PkiError::Invalid(file, e.to_string()))
}
