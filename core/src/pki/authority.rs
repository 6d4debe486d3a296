//! The cluster CA and the certificates it issues. The CA is generated once (10 years,
//! ECDSA P-256) and reloaded from its PEM files afterwards; to sign with a reloaded CA the
//! issuer parameters are rebuilt from its subject (a CN naming the creation time, so a
//! regenerated CA never shares a name with an old one) and its key.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType,
};
use time::OffsetDateTime;

use super::files::{read_if_exists, write_private_atomic};
use super::{PkiError, inspect::inspect_cert, pem_to_der};

pub(super) const CA_CERT: &str = "ca.crt";
pub(super) const CA_KEY: &str = "ca.key";

const CA_LIFETIME: Duration = Duration::from_secs(10 * 365 * 24 * 3600);
/// Leaf certificates live one year and are renewed at start-up inside the last 30 days.
pub const LEAF_LIFETIME: Duration = Duration::from_secs(365 * 24 * 3600);
/// Boards without a real-time clock may start slightly behind the clock that checks the
/// certificate; backdating avoids "not yet valid" right after issue.
const BACKDATE: Duration = Duration::from_secs(3600);

/// A loaded CA: its certificate and an issuer ready to sign leaves.
pub struct Authority {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    common_name: String,
    issuer: Issuer<'static, KeyPair>,
}

/// What kind of leaf to issue.
pub struct LeafSpec<'a> {
    pub common_name: &'a str,
    pub organizations: &'a [&'a str],
    pub sans: &'a [String],
    pub usage: ExtendedKeyUsagePurpose,
    pub lifetime: Duration,
}

/// A freshly issued leaf, PEM encoded.
pub struct IssuedLeaf {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Loads the CA from `dir`, or generates and stores it if either file is missing.
pub fn load_or_create_ca(dir: &Path) -> Result<(Authority, bool), PkiError> {
    let cert = read_if_exists(&dir.join(CA_CERT)).map_err(PkiError::io(CA_CERT))?;
    let key = read_if_exists(&dir.join(CA_KEY)).map_err(PkiError::io(CA_KEY))?;
    match (cert, key) {
        (Some(cert_pem), Some(key_pem)) => Ok((load_ca(cert_pem, &key_pem)?, false)),
        _ => Ok((create_ca(dir)?, true)),
    }
}

fn load_ca(cert_pem: String, key_pem: &str) -> Result<Authority, PkiError> {
    let cert_der = pem_to_der(&cert_pem, CA_CERT)?;
    let info = inspect_cert(&cert_der).map_err(|e| PkiError::Invalid(CA_CERT, e.0))?;
    let cn = info
        .common_names
        .first()
        .ok_or_else(|| PkiError::Invalid(CA_CERT, "no common name".into()))?;
    // Naming the algorithm keeps rcgen from trying RSA and Ed25519 parsers (and linking
    // their code): wisp's CA key is always P-256.
    let key = KeyPair::from_pkcs8_pem_and_sign_algo(key_pem, &PKCS_ECDSA_P256_SHA256)
        .map_err(|e| PkiError::Invalid(CA_KEY, e.to_string()))?;
    let issuer = Issuer::new(ca_params(cn, SystemTime::now()), key);
    Ok(Authority {
        cert_pem,
        cert_der,
        common_name: cn.clone(),
        issuer,
    })
}

fn create_ca(dir: &Path) -> Result<Authority, PkiError> {
    let now = SystemTime::now();
    let since_epoch = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::generate)?;
    // Part of the public point makes the name unique even for two CAs made in one second.
    let tag: String = key.public_key_raw()[1..5]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let cn = format!("wisp-ca@{}-{tag}", since_epoch.as_secs());
    let params = ca_params(&cn, now);
    let cert = params.self_signed(&key).map_err(PkiError::generate)?;
    write_private_atomic(&dir.join(CA_KEY), key.serialize_pem().as_bytes())
        .map_err(PkiError::io(CA_KEY))?;
    write_private_atomic(&dir.join(CA_CERT), cert.pem().as_bytes())
        .map_err(PkiError::io(CA_CERT))?;
    Ok(Authority {
        cert_pem: cert.pem(),
        cert_der: cert.der().to_vec(),
        common_name: cn,
        issuer: Issuer::new(params, key),
    })
}

fn ca_params(common_name: &str, now: SystemTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.not_before = to_offset(now - BACKDATE);
    params.not_after = to_offset(now + CA_LIFETIME);
    params
}

impl Authority {
    /// The CA subject's common names, to compare with a leaf's issuer.
    pub fn common_names(&self) -> [String; 1] {
        [self.common_name.clone()]
    }

    /// Issues a leaf with a new P-256 key.
    pub fn issue(&self, spec: &LeafSpec<'_>) -> Result<IssuedLeaf, PkiError> {
        let now = SystemTime::now();
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, spec.common_name);
        for org in spec.organizations {
            params
                .distinguished_name
                .push(DnType::OrganizationName, *org);
        }
        params.subject_alt_names = sans(spec.sans)?;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![spec.usage.clone()];
        params.use_authority_key_identifier_extension = true;
        params.not_before = to_offset(now - BACKDATE);
        params.not_after = to_offset(now + spec.lifetime);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(PkiError::generate)?;
        let cert = params
            .signed_by(&key, &self.issuer)
            .map_err(PkiError::generate)?;
        Ok(IssuedLeaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

fn sans(names: &[String]) -> Result<Vec<SanType>, PkiError> {
    names
        .iter()
        .map(|name| match name.parse() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => name
                .clone()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|e| PkiError::Generate(format!("bad san {name:?}: {e}"))),
        })
        .collect()
}

fn to_offset(t: SystemTime) -> OffsetDateTime {
    OffsetDateTime::from(t)
}
