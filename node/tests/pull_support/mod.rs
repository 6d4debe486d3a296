//! Loopback fixtures for the registry pull tests: a test CA, Debian's `docker-registry` with
//! TLS and htpasswd (or token) auth on a free port, OCI image layouts built here and pushed
//! with skopeo, a blob sink that keeps only fully verified blobs, and a tiny token server
//! that signs ES256 JWTs the registry trusts.

#![allow(dead_code)]

mod scripted;
mod token;

pub use scripted::{ScriptedServer, chunked_response, response};
pub use token::{ISSUER, REFRESH_TOKEN, SERVICE, TokenServer};

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    PKCS_ECDSA_P256_SHA256, SanType,
};
use wisp_node::pull::BlobSink;

pub const USER: &str = "wisp";
pub const PASSWORD: &str = "wisp-pull-test";
/// bcrypt (cost 4) of PASSWORD, made once with Python's crypt module: the registry only
/// accepts bcrypt entries and no bcrypt tool is assumed on the machine.
const PASSWORD_BCRYPT: &str = "$2b$04$ZU3U2QY0szpYIBMrwKvoi.inHfqulVZpYGlqO7IPTIAlVKuqqSuk6";

/// Tools the tests drive; returns false (after saying why) when one is missing.
pub fn tools_present() -> bool {
    for tool in ["/usr/bin/docker-registry", "/usr/bin/skopeo"] {
        if !Path::new(tool).exists() {
            eprintln!("SKIP: {tool} is not installed (apt-get install docker-registry skopeo)");
            return false;
        }
    }
    true
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static SEQ: AtomicUsize = AtomicUsize::new(0);
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("wisp-pull-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A CA and a server certificate for 127.0.0.1 and localhost, as PEM.
pub struct TestPki {
    pub ca_pem: String,
    pub server_cert_pem: String,
    pub server_key_pem: String,
}

impl TestPki {
    pub fn new() -> TestPki {
        let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut ca_params = CertificateParams::default();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "wisp pull test ca");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.subject_alt_names = vec![
            SanType::IpAddress("127.0.0.1".parse().unwrap()),
            SanType::DnsName("localhost".try_into().unwrap()),
        ];
        let cert = params.signed_by(&key, &issuer).unwrap();
        TestPki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: cert.pem(),
            server_key_pem: key.serialize_pem(),
        }
    }
}

/// How the registry authenticates clients.
pub enum Auth<'a> {
    None,
    Htpasswd,
    Token(&'a TokenServer),
}

/// A running `docker-registry`, killed when dropped.
pub struct Registry {
    pub dir: TempDir,
    pub host: String,
    /// Directory with `ca.crt` for skopeo's `--dest-cert-dir`.
    pub cert_dir: PathBuf,
    child: Child,
}

impl Registry {
    pub fn start(pki: Option<&TestPki>, auth: Auth<'_>) -> Registry {
        let dir = TempDir::new("registry");
        let port = free_port();
        let cert_dir = dir.0.join("certs.d");
        std::fs::create_dir_all(&cert_dir).unwrap();
        let tls = pki.map_or(String::new(), |pki| {
            write(&dir.0.join("server.crt"), &pki.server_cert_pem);
            write(&dir.0.join("server.key"), &pki.server_key_pem);
            write(&cert_dir.join("ca.crt"), &pki.ca_pem);
            format!(
                "  tls:\n    certificate: {0}/server.crt\n    key: {0}/server.key\n",
                dir.0.display()
            )
        });
        let auth = auth_config(&dir.0, auth);
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n\
             storage:\n  filesystem:\n    rootdirectory: {root}/data\n  cache:\n    blobdescriptor: \"\"\n\
             http:\n  addr: 127.0.0.1:{port}\n  secret: wisp-test-secret\n{tls}{auth}",
            root = dir.0.display()
        );
        write(&dir.0.join("config.yml"), &config);
        let child = Command::new("/usr/bin/docker-registry")
            .arg("serve")
            .arg(dir.0.join("config.yml"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.0.join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry starts");
        let registry = Registry {
            dir,
            host: format!("127.0.0.1:{port}"),
            cert_dir,
            child,
        };
        registry.wait_listening();
        registry
    }

    fn wait_listening(&self) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(&self.host).is_err() {
            let log = std::fs::read_to_string(self.dir.0.join("registry.log")).unwrap_or_default();
            assert!(
                Instant::now() < deadline,
                "registry did not listen; log:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pushes an OCI layout's `tag` to `repo:tag` with skopeo.
    pub fn push(&self, layout: &Path, tag: &str, repo: &str, creds: Option<(&str, &str)>) {
        let mut cmd = Command::new("/usr/bin/skopeo");
        cmd.args(["--insecure-policy", "copy", "--all", "--quiet"]);
        if self.cert_dir.join("ca.crt").exists() {
            cmd.arg("--dest-cert-dir").arg(&self.cert_dir);
        } else {
            cmd.arg("--dest-tls-verify=false");
        }
        if let Some((user, pass)) = creds {
            cmd.arg("--dest-creds").arg(format!("{user}:{pass}"));
        }
        cmd.arg(format!("oci:{}:{tag}", layout.display()));
        cmd.arg(format!("docker://{}/{repo}:{tag}", self.host));
        let out = cmd.output().expect("skopeo runs");
        assert!(
            out.status.success(),
            "skopeo push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The file the registry serves for a blob (to tamper with it).
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.dir
            .0
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn auth_config(dir: &Path, auth: Auth<'_>) -> String {
    match auth {
        Auth::None => String::new(),
        Auth::Htpasswd => {
            write(
                &dir.join("htpasswd"),
                &format!("{USER}:{PASSWORD_BCRYPT}\n"),
            );
            format!(
                "auth:\n  htpasswd:\n    realm: wisp-test\n    path: {}/htpasswd\n",
                dir.display()
            )
        }
        Auth::Token(server) => {
            write(&dir.join("token-ca.crt"), &server.cert_pem);
            format!(
                "auth:\n  token:\n    realm: http://{}/token\n    service: {SERVICE}\n    \
                 issuer: {ISSUER}\n    rootcertbundle: {}/token-ca.crt\n",
                server.host(),
                dir.display()
            )
        }
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap();
}

pub fn sha256(bytes: &[u8]) -> String {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let hex: String = hash.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// One platform's image as built into a layout.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    pub manifest_digest: String,
    pub config_digest: String,
    pub layer_digest: String,
    pub layer: Vec<u8>,
}

/// An OCI image layout on disk.
pub struct Layout {
    pub dir: TempDir,
    refs: Vec<String>,
}

impl Layout {
    pub fn new() -> Layout {
        let dir = TempDir::new("layout");
        std::fs::create_dir_all(dir.0.join("blobs/sha256")).unwrap();
        write(
            &dir.0.join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        );
        Layout {
            dir,
            refs: Vec::new(),
        }
    }

    fn put(&self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::write(self.dir.0.join("blobs/sha256").join(hex), bytes).unwrap();
        digest
    }

    /// A one-layer image whose layer holds `/hello` and `/etc/platform` naming `arch`.
    pub fn image(&self, arch: &str, variant: Option<&str>) -> (BuiltImage, String) {
        let platform = format!(
            "linux/{arch}{}",
            variant.map_or(String::new(), |v| format!("/{v}"))
        );
        let layer = tar(&[
            ("hello", b"#!/bin/sh\necho hello\n".as_slice()),
            ("etc/platform", format!("{platform}\n").as_bytes()),
        ]);
        // Compressed here: skopeo would gzip a plain tar on push and change every digest.
        let layer = gzip(&layer);
        let layer_digest = self.put(&layer);
        let variant_field = variant.map_or(String::new(), |v| format!(r#","variant":"{v}""#));
        let config = format!(
            r#"{{"architecture":"{arch}"{variant_field},"os":"linux","config":{{"Cmd":["/hello"]}},"rootfs":{{"type":"layers","diff_ids":["{layer_digest}"]}}}}"#
        );
        let config_digest = self.put(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config_digest}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{layer_digest}","size":{}}}]}}"#,
            config.len(),
            layer.len()
        );
        let manifest_digest = self.put(manifest.as_bytes());
        let descriptor = format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{manifest_digest}","size":{},"platform":{{"os":"linux","architecture":"{arch}"{variant_field}}}}}"#,
            manifest.len()
        );
        let built = BuiltImage {
            manifest_digest,
            config_digest,
            layer_digest,
            layer,
        };
        (built, descriptor)
    }

    /// Tags a single-platform image.
    pub fn tag_image(&mut self, tag: &str, arch: &str, variant: Option<&str>) -> BuiltImage {
        let (built, descriptor) = self.image(arch, variant);
        let without_platform = descriptor
            .split(r#","platform""#)
            .next()
            .unwrap()
            .to_owned();
        self.refs
            .push(with_ref_name(&format!("{without_platform}}}"), tag));
        self.write_index();
        built
    }

    /// Tags an index over several images; returns the index digest.
    pub fn tag_index(&mut self, tag: &str, descriptors: &[String]) -> String {
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{}]}}"#,
            descriptors.join(",")
        );
        let digest = self.put(index.as_bytes());
        let descriptor = format!(
            r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{digest}","size":{}}}"#,
            index.len()
        );
        self.refs.push(with_ref_name(&descriptor, tag));
        self.write_index();
        digest
    }

    fn write_index(&self) {
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            self.refs.join(",")
        );
        write(&self.dir.0.join("index.json"), &index);
    }
}

fn with_ref_name(descriptor: &str, tag: &str) -> String {
    let open = descriptor.strip_suffix('}').unwrap();
    format!(r#"{open},"annotations":{{"org.opencontainers.image.ref.name":"{tag}"}}}}"#)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .args(["-n", "-c"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("gzip runs");
    child.stdin.take().unwrap().write_all(data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A ustar archive of regular files.
fn tar(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, data) in files {
        let mut header = [0u8; 512];
        header[..name.len()].copy_from_slice(name.as_bytes());
        header[100..108].copy_from_slice(b"0000755\0");
        header[108..116].copy_from_slice(b"0000000\0");
        header[116..124].copy_from_slice(b"0000000\0");
        header[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        header[136..148].copy_from_slice(b"00000000000\0");
        header[148..156].copy_from_slice(b"        ");
        header[156] = b'0';
        header[257..263].copy_from_slice(b"ustar\0");
        header[263..265].copy_from_slice(b"00");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

/// A blob sink that keeps a blob only when it was read to a clean end (as the image store
/// must), and counts what it was asked.
#[derive(Default)]
pub struct MemorySink {
    pub blobs: Mutex<HashMap<String, Vec<u8>>>,
    pub rejected: Mutex<Vec<String>>,
}

impl BlobSink for MemorySink {
    fn has_blob(&self, digest: &str) -> bool {
        self.blobs.lock().unwrap().contains_key(digest)
    }

    fn put_blob(&self, digest: &str, data: &mut dyn Read) -> Result<(), String> {
        let mut bytes = Vec::new();
        match data.read_to_end(&mut bytes) {
            Ok(_) => {
                self.blobs.lock().unwrap().insert(digest.to_owned(), bytes);
                Ok(())
            }
            Err(e) => {
                self.rejected.lock().unwrap().push(digest.to_owned());
                Err(e.to_string())
            }
        }
    }
}

impl MemorySink {
    pub fn get(&self, digest: &str) -> Option<Vec<u8>> {
        self.blobs.lock().unwrap().get(digest).cloned()
    }
}
