//! TLS for the API server: a rustls 0.23 configuration on the ring provider (TLS 1.3,
//! ALPN http/1.1) that asks for a client certificate, verifies it against the cluster CA
//! when one is sent, and still admits clients without one (the layer above answers them
//! 401 except on /healthz, /readyz, /livez and /version). After the handshake the verified
//! end-entity certificate gives the [`ClientIdentity`].

use std::fmt;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::crypto::ring;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

use super::request::ClientIdentity;
use crate::pki::inspect_cert;

/// Why the TLS configuration could not be built.
#[derive(Debug)]
pub struct TlsConfigError(String);

impl fmt::Display for TlsConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tls configuration: {}", self.0)
    }
}

impl std::error::Error for TlsConfigError {}

/// A server configuration presenting `chain`/`key` and verifying optional client
/// certificates against `client_ca`.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_ca: CertificateDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TlsConfigError> {
    let err = |e: &dyn fmt::Display| TlsConfigError(e.to_string());
    let provider = Arc::new(ring::default_provider());
    let mut roots = RootCertStore::empty();
    roots.add(client_ca).map_err(|e| err(&e))?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| err(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|e| err(&e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The identity in a verified client chain (end-entity first): first CN as user, every O
/// as a group. `None` without a chain or without a CN, as Kubernetes' x509 authenticator
/// does not authenticate a certificate with an empty CN.
pub fn client_identity(chain: Option<&[CertificateDer<'_>]>) -> Option<ClientIdentity> {
    let leaf = chain?.first()?;
    let info = inspect_cert(leaf).ok()?;
    let user = info
        .common_names
        .into_iter()
        .next()
        .filter(|cn| !cn.is_empty())?;
    Some(ClientIdentity {
        user,
        groups: info.organizations,
    })
}
