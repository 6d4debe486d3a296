//! rustls client configurations for registries: verified against the system's CA bundle
//! (the board image's /etc/ssl/certs; not compiled in, which keeps ~54 KB of certificates
//! out of the binary) plus the operator's extra CA certificates, or (only for registries
//! the operator listed as insecure) with certificate checks off but handshake signatures
//! still verified.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// The verified configuration; an extra CA bundle that does not parse is an error rather
/// than silently ignored, so a typo cannot turn into "works only for public registries".
pub fn verified_config(extra_ca_pem: &[Vec<u8>]) -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    if let Some(bundle) = system_bundle() {
        // A certificate of the system bundle that rustls cannot use is skipped, not fatal.
        roots.add_parsable_certificates(CertificateDer::pem_slice_iter(&bundle).flatten());
    }
    for (index, pem) in extra_ca_pem.iter().enumerate() {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem) {
            let cert = cert.map_err(|e| format!("extra CA bundle {index}: {e}"))?;
            roots
                .add(cert)
                .map_err(|e| format!("extra CA bundle {index}: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err(format!("extra CA bundle {index} holds no certificate"));
        }
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Where distributions keep their CA bundle, in order of preference.
const SYSTEM_BUNDLES: [&str; 3] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

fn system_bundle() -> Option<Vec<u8>> {
    SYSTEM_BUNDLES.iter().find_map(|p| std::fs::read(p).ok())
}

/// The configuration for registries listed as insecure: any certificate is accepted.
pub fn unverified_config() -> Result<Arc<ClientConfig>, String> {
    let provider = provider();
    let verifier = AcceptAnyCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

#[derive(Debug)]
struct AcceptAnyCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_extra_ca_is_an_error() {
        assert!(verified_config(&[]).is_ok());
        let err = verified_config(&[b"not a pem".to_vec()]).unwrap_err();
        assert!(err.contains("no certificate"), "{err}");
        assert!(unverified_config().is_ok());
    }
}
