//! The admin kubeconfig: written at start to <data-dir>/resources/kubeadmin/kubeconfig
//! (mode 0600) and printed by `wisp kubeconfig`. The YAML is produced as text because it is
//! output only; the CA and the admin certificate and key are inline (base64 of the PEM).

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::pki::{ClientCert, write_private_atomic};

/// The cluster, user and context name written into the kubeconfig.
pub const NAME: &str = "wisp";

/// Where the admin kubeconfig lives under the data directory.
pub fn kubeconfig_path(data_dir: &Path) -> PathBuf {
    data_dir
        .join("resources")
        .join("kubeadmin")
        .join("kubeconfig")
}

/// The kubeconfig text for `server` (e.g. `https://127.0.0.1:6443`).
pub fn kubeconfig_yaml(
    server: &str,
    ca_pem: &str,
    client_cert_pem: &str,
    client_key_pem: &str,
) -> String {
    let ca = STANDARD.encode(ca_pem);
    let cert = STANDARD.encode(client_cert_pem);
    let key = STANDARD.encode(client_key_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {NAME}
  cluster:
    server: {server}
    certificate-authority-data: {ca}
users:
- name: {NAME}
  user:
    client-certificate-data: {cert}
    client-key-data: {key}
contexts:
- name: {NAME}
  context:
    cluster: {NAME}
    user: {NAME}
current-context: {NAME}
preferences: {{}}
"
    )
}

/// The server URL for a local API port.
pub fn local_server_url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// Writes the admin kubeconfig for `admin` under `data_dir` (parents mode 0700, file 0600)
/// and returns its path. Blocking.
pub fn write_kubeconfig(data_dir: &Path, port: u16, admin: &ClientCert) -> io::Result<PathBuf> {
    let path = kubeconfig_path(data_dir);
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let yaml = kubeconfig_yaml(
        &local_server_url(port),
        &admin.ca_pem,
        &admin.cert_pem,
        &admin.key_pem,
    );
    write_private_atomic(&path, yaml.as_bytes())?;
    Ok(path)
}

/// Reads the kubeconfig `wisp run` wrote, for `wisp kubeconfig` to print.
pub fn read_kubeconfig(data_dir: &Path) -> io::Result<String> {
    std::fs::read_to_string(kubeconfig_path(data_dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_carries_inline_credentials_and_names() {
        let yaml = kubeconfig_yaml("https://127.0.0.1:6443", "CA", "CERT", "KEY");
        assert!(yaml.contains("    server: https://127.0.0.1:6443\n"));
        assert!(yaml.contains("certificate-authority-data: Q0E=\n"));
        assert!(yaml.contains("client-certificate-data: Q0VSVA==\n"));
        assert!(yaml.contains("client-key-data: S0VZ\n"));
        assert!(yaml.contains("current-context: wisp\n"));
    }

    #[test]
    fn written_file_is_private_and_readable_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("wisp-kubeconfig-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let admin = crate::pki::ensure_admin_cert(&dir.join("pki")).unwrap();
        let path = write_kubeconfig(&dir, 7443, &admin).unwrap();
        assert_eq!(path, dir.join("resources/kubeadmin/kubeconfig"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = read_kubeconfig(&dir).unwrap();
        assert!(text.contains("server: https://127.0.0.1:7443"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
