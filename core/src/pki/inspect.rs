//! Reads the few certificate fields wisp acts on: subject CN and O values (the client's
//! user and groups), subject alternative names and the expiry (renewal decisions). The DER
//! parsing is x509-cert's; this module only picks fields out.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use x509_cert::Certificate;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Any, Decode, oid::ObjectIdentifier};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

const OID_COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const OID_ORGANIZATION: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.10");
const OID_SUBJECT_ALT_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.17");

/// The fields of one certificate that wisp uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// Subject common names, in order (Kubernetes uses the first as the user name).
    pub common_names: Vec<String>,
    /// Subject organization values, in order (Kubernetes groups).
    pub organizations: Vec<String>,
    /// Issuer common names (to tell whether the current CA signed it).
    pub issuer_common_names: Vec<String>,
    /// DNS names and IP addresses (as text) from the subjectAltName extension.
    pub sans: Vec<String>,
    /// End of validity.
    pub not_after: SystemTime,
}

/// Why a certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertParseError(pub String);

impl std::fmt::Display for CertParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid certificate: {}", self.0)
    }
}

impl std::error::Error for CertParseError {}

/// Parses a DER certificate and extracts [`CertInfo`].
pub fn inspect_cert(der: &[u8]) -> Result<CertInfo, CertParseError> {
    let cert = Certificate::from_der(der).map_err(|e| CertParseError(e.to_string()))?;
    let tbs = &cert.tbs_certificate;
    let mut info = CertInfo {
        common_names: Vec::new(),
        organizations: Vec::new(),
        issuer_common_names: Vec::new(),
        sans: Vec::new(),
        not_after: SystemTime::UNIX_EPOCH + tbs.validity.not_after.to_unix_duration(),
    };
    for rdn in tbs.subject.0.iter() {
        for atv in rdn.0.iter() {
            let target = if atv.oid == OID_COMMON_NAME {
                &mut info.common_names
            } else if atv.oid == OID_ORGANIZATION {
                &mut info.organizations
            } else {
                continue;
            };
            target.push(directory_string(&atv.value)?);
        }
    }
    for rdn in tbs.issuer.0.iter() {
        for atv in rdn.0.iter().filter(|atv| atv.oid == OID_COMMON_NAME) {
            info.issuer_common_names.push(directory_string(&atv.value)?);
        }
    }
    for ext in tbs.extensions.iter().flatten() {
        if ext.extn_id == OID_SUBJECT_ALT_NAME {
            let names = SubjectAltName::from_der(ext.extn_value.as_bytes())
                .map_err(|e| CertParseError(e.to_string()))?;
            info.sans.extend(names.0.iter().filter_map(san_text));
        }
    }
    Ok(info)
}

/// Time left before `info` expires (zero if already expired).
pub fn remaining_validity(info: &CertInfo, now: SystemTime) -> Duration {
    info.not_after.duration_since(now).unwrap_or(Duration::ZERO)
}

fn directory_string(value: &Any) -> Result<String, CertParseError> {
    if let Ok(s) = value.decode_as::<Utf8StringRef<'_>>() {
        return Ok(s.as_str().to_string());
    }
    if let Ok(s) = value.decode_as::<PrintableStringRef<'_>>() {
        return Ok(s.as_str().to_string());
    }
    if let Ok(s) = value.decode_as::<Ia5StringRef<'_>>() {
        return Ok(s.as_str().to_string());
    }
    Err(CertParseError("unsupported subject string type".into()))
}

fn san_text(name: &GeneralName) -> Option<String> {
    match name {
        GeneralName::DnsName(dns) => Some(dns.to_string()),
        GeneralName::IpAddress(octets) => {
            let bytes = octets.as_bytes();
            let ip = match bytes.len() {
                4 => IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?),
                16 => IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?),
                _ => return None,
            };
            Some(ip.to_string())
        }
        _ => None,
    }
}
