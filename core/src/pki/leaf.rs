//! The two leaf certificates wisp keeps: the API server's serving certificate and the admin
//! client certificate. Each is loaded if present, signed by the current CA, far enough from
//! expiry and (serving) carrying exactly the wanted SANs; otherwise it is re-issued in
//! place with a new key.

use std::path::Path;
use std::time::SystemTime;

use rcgen::ExtendedKeyUsagePurpose;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::authority::{Authority, LEAF_LIFETIME, LeafSpec, load_or_create_ca};
use super::files::{ensure_private_dir, read_if_exists, write_private_atomic};
use super::inspect::{CertInfo, inspect_cert, remaining_validity};
use super::{ADMIN_GROUP, ADMIN_USER, PkiError, RENEW_BEFORE, normalize_sans, pem_to_der};

const SERVING_CERT: &str = "serving.crt";
const SERVING_KEY: &str = "serving.key";
const ADMIN_CERT: &str = "admin.crt";
const ADMIN_KEY: &str = "admin.key";

/// The serving certificate and key, ready for rustls, plus the CA that signed it.
pub struct ServingCert {
    /// Leaf first, then the CA (clients already have the CA; sending it is harmless).
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    pub ca_pem: String,
    pub ca_der: CertificateDer<'static>,
    /// The SANs the certificate carries, normalised (see `normalize_sans`).
    pub sans: Vec<String>,
    pub not_after: SystemTime,
    /// True when this call (re)generated the certificate.
    pub reissued: bool,
}

/// The admin client certificate (CN=system:admin, O=system:masters), PEM encoded.
pub struct ClientCert {
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
    pub not_after: SystemTime,
    pub reissued: bool,
}

/// Loads the serving certificate from `dir`, re-issuing it when it is missing, invalid,
/// signed by another CA, within 30 days of expiry, or when its SANs differ from `sans`.
/// Creates the CA first if `dir` has none.
pub fn ensure_serving_cert(dir: &Path, sans: &[String]) -> Result<ServingCert, PkiError> {
    ensure_private_dir(dir).map_err(PkiError::io("."))?;
    let (ca, _) = load_or_create_ca(dir)?;
    let wanted = normalize_sans(sans.to_vec());
    let spec = LeafSpec {
        common_name: "wisp-apiserver",
        organizations: &[],
        sans: &wanted,
        usage: ExtendedKeyUsagePurpose::ServerAuth,
        lifetime: LEAF_LIFETIME,
    };
    let files = (SERVING_CERT, SERVING_KEY);
    let accept = |info: &CertInfo| normalize_sans(info.sans.clone()) == wanted;
    let (cert_pem, key_pem, info, reissued) = ensure_leaf(dir, &ca, files, &spec, accept)?;
    let leaf = CertificateDer::from(pem_to_der(&cert_pem, SERVING_CERT)?);
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| PkiError::Invalid(SERVING_KEY, e.to_string()))?;
    let ca_der = CertificateDer::from(ca.cert_der.clone());
    Ok(ServingCert {
        chain: vec![leaf, ca_der.clone()],
        key,
        ca_pem: ca.cert_pem.clone(),
        ca_der,
        sans: normalize_sans(info.sans),
        not_after: info.not_after,
        reissued,
    })
}

/// Loads or (re-)issues the admin client certificate in `dir`.
pub fn ensure_admin_cert(dir: &Path) -> Result<ClientCert, PkiError> {
    ensure_private_dir(dir).map_err(PkiError::io("."))?;
    let (ca, _) = load_or_create_ca(dir)?;
    let spec = LeafSpec {
        common_name: ADMIN_USER,
        organizations: &[ADMIN_GROUP],
        sans: &[],
        usage: ExtendedKeyUsagePurpose::ClientAuth,
        lifetime: LEAF_LIFETIME,
    };
    let accept =
        |info: &CertInfo| info.common_names == [ADMIN_USER] && info.organizations == [ADMIN_GROUP];
    let files = (ADMIN_CERT, ADMIN_KEY);
    let (cert_pem, key_pem, info, reissued) = ensure_leaf(dir, &ca, files, &spec, accept)?;
    Ok(ClientCert {
        cert_pem,
        key_pem,
        ca_pem: ca.cert_pem.clone(),
        not_after: info.not_after,
        reissued,
    })
}

type Leaf = (String, String, CertInfo, bool);

fn ensure_leaf(
    dir: &Path,
    ca: &Authority,
    (cert_file, key_file): (&'static str, &'static str),
    spec: &LeafSpec<'_>,
    accept: impl Fn(&CertInfo) -> bool,
) -> Result<Leaf, PkiError> {
    if let Some((cert_pem, key_pem, info)) = load_leaf(dir, ca, cert_file, key_file)? {
        let fresh = remaining_validity(&info, SystemTime::now()) > RENEW_BEFORE;
        if fresh && accept(&info) {
            return Ok((cert_pem, key_pem, info, false));
        }
    }
    let issued = ca.issue(spec)?;
    // Key first: a crash between the two writes leaves a cert that fails the key check
    // below on the next start, which then re-issues both.
    write_private_atomic(&dir.join(key_file), issued.key_pem.as_bytes())
        .map_err(PkiError::io(key_file))?;
    write_private_atomic(&dir.join(cert_file), issued.cert_pem.as_bytes())
        .map_err(PkiError::io(cert_file))?;
    let der = pem_to_der(&issued.cert_pem, cert_file)?;
    let info = inspect_cert(&der).map_err(|e| PkiError::Invalid(cert_file, e.0))?;
    Ok((issued.cert_pem, issued.key_pem, info, true))
}

/// The stored leaf if both files exist, parse, the key matches and the current CA issued
/// it; `None` means "issue a new one".
fn load_leaf(
    dir: &Path,
    ca: &Authority,
    cert_file: &'static str,
    key_file: &'static str,
) -> Result<Option<(String, String, CertInfo)>, PkiError> {
    let cert = read_if_exists(&dir.join(cert_file)).map_err(PkiError::io(cert_file))?;
    let key = read_if_exists(&dir.join(key_file)).map_err(PkiError::io(key_file))?;
    let (Some(cert_pem), Some(key_pem)) = (cert, key) else {
        return Ok(None);
    };
    let Ok(der) = pem_to_der(&cert_pem, cert_file) else {
        return Ok(None);
    };
    let Ok(info) = inspect_cert(&der) else {
        return Ok(None);
    };
    if info.issuer_common_names != ca.common_names() || !key_matches(&der, &key_pem) {
        return Ok(None);
    }
    Ok(Some((cert_pem, key_pem, info)))
}

fn key_matches(cert_der: &[u8], key_pem: &str) -> bool {
    let Ok(key) = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()) else {
        return false;
    };
    let Ok(signing) = rustls::crypto::ring::sign::any_ecdsa_type(&key) else {
        return false;
    };
    let cert = CertificateDer::from(cert_der.to_vec());
    let certified = rustls::sign::CertifiedKey::new(vec![cert], signing);
    certified.keys_match().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::PathBuf;
    use std::time::Duration;

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("wisp-pki-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    fn sans(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn first_start_creates_later_start_loads() {
        let dir = temp_dir("load");
        let wanted = sans(&["localhost", "127.0.0.1", "Wisp.Local"]);
        let first = ensure_serving_cert(&dir, &wanted).unwrap();
        assert!(first.reissued);
        assert_eq!(first.sans, sans(&["127.0.0.1", "localhost", "wisp.local"]));
        let second = ensure_serving_cert(&dir, &wanted).unwrap();
        assert!(!second.reissued);
        assert_eq!(first.chain[0], second.chain[0]);
        for key in ["ca.key", "serving.key"] {
            let mode = std::fs::metadata(dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
        let left = first.not_after.duration_since(SystemTime::now()).unwrap();
        assert!(left > Duration::from_secs(364 * 86400) && left <= LEAF_LIFETIME);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn san_change_reissues_with_same_ca() {
        let dir = temp_dir("sans");
        let first = ensure_serving_cert(&dir, &sans(&["10.0.0.5"])).unwrap();
        let second = ensure_serving_cert(&dir, &sans(&["10.0.0.6"])).unwrap();
        assert!(second.reissued);
        assert_eq!(second.sans, sans(&["10.0.0.6"]));
        assert_eq!(first.ca_der, second.ca_der);
        assert_ne!(first.chain[0], second.chain[0]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn near_expiry_reissues() {
        let dir = temp_dir("expiry");
        let wanted = sans(&["localhost"]);
        ensure_serving_cert(&dir, &wanted).unwrap();
        let (ca, created) = load_or_create_ca(&dir).unwrap();
        assert!(!created);
        let short = ca
            .issue(&LeafSpec {
                common_name: "wisp-apiserver",
                organizations: &[],
                sans: &wanted,
                usage: ExtendedKeyUsagePurpose::ServerAuth,
                lifetime: Duration::from_secs(10 * 86400),
            })
            .unwrap();
        write_private_atomic(&dir.join(SERVING_KEY), short.key_pem.as_bytes()).unwrap();
        write_private_atomic(&dir.join(SERVING_CERT), short.cert_pem.as_bytes()).unwrap();
        let renewed = ensure_serving_cert(&dir, &wanted).unwrap();
        assert!(renewed.reissued);
        let left = renewed.not_after.duration_since(SystemTime::now()).unwrap();
        assert!(left > RENEW_BEFORE);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn mismatched_key_or_new_ca_reissues() {
        let dir = temp_dir("mismatch");
        ensure_serving_cert(&dir, &sans(&["localhost"])).unwrap();
        let admin = ensure_admin_cert(&dir).unwrap();
        std::fs::copy(dir.join(ADMIN_KEY), dir.join(SERVING_KEY)).unwrap();
        assert!(
            ensure_serving_cert(&dir, &sans(&["localhost"]))
                .unwrap()
                .reissued
        );
        std::fs::remove_file(dir.join("ca.crt")).unwrap();
        let again = ensure_admin_cert(&dir).unwrap();
        assert!(again.reissued);
        assert_ne!(again.ca_pem, admin.ca_pem);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn admin_cert_names_user_and_group() {
        let dir = temp_dir("admin");
        let admin = ensure_admin_cert(&dir).unwrap();
        let der = pem_to_der(&admin.cert_pem, ADMIN_CERT).unwrap();
        let info = inspect_cert(&der).unwrap();
        assert_eq!(info.common_names, [ADMIN_USER]);
        assert_eq!(info.organizations, [ADMIN_GROUP]);
        assert!(info.issuer_common_names[0].starts_with("wisp-ca@"));
        assert!(!ensure_admin_cert(&dir).unwrap().reissued);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
