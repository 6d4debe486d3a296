//! TLS for the API server: a rustls 0.23 configuration on the ring provider (TLS 1.3,
//! ALPN http/1.1) that asks for a client certificate and admits clients without one. As
//! upstream's API server does, a certificate that fails verification (expired, another
//! CA, wrong usage) does not abort the handshake: the client still proves it holds the
//! key, and then [`ClientAuthenticator`] verifies the chain against the cluster CA and
//! yields no [`ClientIdentity`], so the layer above answers 401 (Status JSON, which
//! kubectl can show) rather than a TLS alert it cannot explain.

use std::fmt;
use std::sync::{Arc, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, KeyProvider, WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, TrustAnchor, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

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
) -> Result<ServerTls, TlsConfigError> {
    server_config_with_slot(CertSlot::new(chain, key)?, client_ca)
}

/// Like [`server_config`], but the serving certificate comes from `slot`, which can be
/// replaced while the server runs (after `pki::ensure_serving_cert` re-issued it because
/// the host's addresses changed); new handshakes then present the new certificate.
pub fn server_config_with_slot(
    slot: Arc<CertSlot>,
    client_ca: CertificateDer<'static>,
) -> Result<ServerTls, TlsConfigError> {
    let err = |e: &dyn fmt::Display| TlsConfigError(e.to_string());
    let provider = Arc::new(narrow_provider());
    let clients = Arc::new(ClientAuthenticator::new(&client_ca)?);
    let mut roots = RootCertStore::empty();
    roots.add(client_ca).map_err(|e| err(&e))?;
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| err(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| err(&e))?
        .with_client_cert_verifier(Arc::new(DeferredClientVerifier(webpki)))
        .with_cert_resolver(slot);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(ServerTls {
        config: Arc::new(config),
        clients,
    })
}

/// What [`super::serve`] needs for TLS: the rustls configuration and the authenticator
/// that turns a client's certificate chain into an identity after the handshake.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub config: Arc<rustls::ServerConfig>,
    pub clients: Arc<ClientAuthenticator>,
}

/// Verifies client chains against the cluster CA (P-256 signatures, clientAuth usage,
/// validity at the time of the call) and reads the identity of those that pass.
#[derive(Debug)]
pub struct ClientAuthenticator {
    anchor: TrustAnchor<'static>,
}

impl ClientAuthenticator {
    pub fn new(ca: &CertificateDer<'_>) -> Result<ClientAuthenticator, TlsConfigError> {
        let anchor = webpki::anchor_from_trusted_cert(ca)
            .map_err(|e| TlsConfigError(format!("client ca: {e}")))?
            .to_owned();
        Ok(ClientAuthenticator { anchor })
    }

    /// The identity of `chain` (end-entity first) if it verifies now; `None` otherwise.
    pub fn identify(&self, chain: Option<&[CertificateDer<'_>]>) -> Option<ClientIdentity> {
        self.identify_at(chain, UnixTime::now())
    }

    pub fn identify_at(
        &self,
        chain: Option<&[CertificateDer<'_>]>,
        now: UnixTime,
    ) -> Option<ClientIdentity> {
        let (leaf, intermediates) = chain?.split_first()?;
        let cert = webpki::EndEntityCert::try_from(leaf).ok()?;
        cert.verify_for_usage(
            P256_ONLY.all,
            std::slice::from_ref(&self.anchor),
            intermediates,
            now,
            webpki::KeyUsage::client_auth(),
            None,
            None,
        )
        .ok()?;
        client_identity(Some(chain?))
    }
}

/// Accepts any client certificate chain during the handshake and leaves the verdict to
/// [`ClientAuthenticator`]; everything else (the hints sent, and the signature by which
/// the client proves it holds the certificate's key) is the webpki verifier's.
#[derive(Debug)]
struct DeferredClientVerifier(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for DeferredClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// The serving certificate in use, swappable at run time.
#[derive(Debug)]
pub struct CertSlot(RwLock<Arc<CertifiedKey>>);

impl CertSlot {
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<CertSlot>, TlsConfigError> {
        Ok(Arc::new(CertSlot(RwLock::new(certified_key(chain, key)?))))
    }

    /// Presents `chain`/`key` from the next handshake on; open connections keep theirs.
    pub fn replace(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<(), TlsConfigError> {
        let new = certified_key(chain, key)?;
        let mut current = self
            .0
            .write()
            .map_err(|_| TlsConfigError("certificate slot poisoned".into()))?;
        *current = new;
        Ok(())
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().ok().map(|key| key.clone())
    }
}

fn certified_key(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<CertifiedKey>, TlsConfigError> {
    let signing = ring::sign::any_ecdsa_type(&key).map_err(|e| TlsConfigError(e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    certified
        .keys_match()
        .map_err(|e| TlsConfigError(e.to_string()))?;
    Ok(Arc::new(certified))
}

/// Every certificate wisp verifies or presents is ECDSA P-256 from its own CA, so the
/// provider carries only that (no RSA, P-384 or Ed25519 code reaches the binary), the two
/// TLS 1.3 suites every client offers (ChaCha20 first: boards without AES instructions,
/// such as the Raspberry Pi 4, run it faster), and X25519/P-256 key exchange.
pub fn narrow_provider() -> CryptoProvider {
    CryptoProvider {
        cipher_suites: vec![
            ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256,
            ring::cipher_suite::TLS13_AES_128_GCM_SHA256,
        ],
        kx_groups: vec![ring::kx_group::X25519, ring::kx_group::SECP256R1],
        signature_verification_algorithms: P256_ONLY,
        key_provider: &EcdsaKeys,
        ..ring::default_provider()
    }
}

static P256_ONLY: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[webpki::ring::ECDSA_P256_SHA256],
    mapping: &[(
        SignatureScheme::ECDSA_NISTP256_SHA256,
        &[webpki::ring::ECDSA_P256_SHA256],
    )],
};

#[derive(Debug)]
struct EcdsaKeys;

impl KeyProvider for EcdsaKeys {
    fn load_private_key(
        &self,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<dyn SigningKey>, rustls::Error> {
        ring::sign::any_ecdsa_type(&key)
    }
}

/// The identity in an already verified client chain (end-entity first): first CN as user, every O
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
