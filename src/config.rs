//! wisp's configuration: the built-in defaults (config/default.yaml, embedded) overlaid
//! field by field with the user's YAML file. Unknown fields and wrongly typed values are
//! errors that name the file and the field; nothing is silently ignored.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// The embedded defaults; `wisp run` with no config file uses exactly these.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("../config/default.yaml");

/// Where `wisp run` looks when no --config is given.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/wisp/config.yaml";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Empty: the platform default (see [`Config::resolved_data_dir`]).
    pub data_dir: Option<PathBuf>,
    pub api_server: ApiServerConfig,
    pub network: NetworkConfig,
    pub node: NodeConfig,
    pub store: StoreConfig,
    pub audit: AuditConfig,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditConfig {
    /// One JSON line per API request in <dataDir>/audit/audit.log.
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiServerConfig {
    pub port: u16,
    pub bind_address: IpAddr,
    pub extra_sans: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    pub pod_cidr: Cidr,
    pub service_cidr: Cidr,
    pub cluster_dns: IpAddr,
    pub cluster_domain: String,
    /// The host bridge of the default CNI network.
    pub bridge: String,
    /// Answer cluster DNS on `cluster_dns` (the node agent's DNS server).
    pub serve_dns: bool,
    /// The nftables table (family `inet`) of the Service rules.
    pub nft_table: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeConfig {
    pub name: Option<String>,
    pub runtime: String,
    pub cni_bin_dir: Option<PathBuf>,
    pub images_dir: Option<PathBuf>,
    /// Run the node agent (pods as containers). Off: a control plane only.
    pub enabled: bool,
    /// Runtime state: container pipes, pod namespaces, adoption records.
    pub run_dir: PathBuf,
    /// Container logs (CRI format), as the kubelet's /var/log/pods.
    pub pod_logs_dir: PathBuf,
    /// Registries pulled from without certificate checks (or over plain HTTP).
    pub insecure_registries: Vec<String>,
    /// PEM files of CAs trusted for registries besides the public roots.
    pub registry_ca_files: Vec<PathBuf>,
    /// Hard eviction thresholds (memory.available, nodefs.available, pid.available).
    pub eviction_hard: EvictionHard,
}

/// `node.evictionHard`, as the kubelet's option of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EvictionHard {
    pub memory_available_bytes: u64,
    pub nodefs_available_percent: u64,
    pub pid_available_percent: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    pub cache_bytes: u64,
}

/// An IP network in CIDR notation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}` is not in CIDR notation (address/prefix)"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{addr}` is not an IP address"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix: u8 = prefix
            .parse()
            .ok()
            .filter(|p| *p <= max)
            .ok_or_else(|| format!("prefix `{prefix}` must be a number from 0 to {max}"))?;
        Ok(Cidr { addr, prefix })
    }
}

/// A config problem, naming the source (file or "built-in defaults") and the field.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub source: String,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "config {}: {}", self.source, self.problem)
        } else {
            write!(
                f,
                "config {}: field `{}`: {}",
                self.source, self.field, self.problem
            )
        }
    }
}

impl std::error::Error for ConfigError {}

impl Config {
    /// The embedded defaults.
    pub fn defaults() -> Config {
        let mut config = Config::empty();
        config
            .overlay_yaml(DEFAULT_CONFIG_YAML, "built-in defaults")
            .expect("the embedded default config is valid (tested)");
        config
    }

    /// Loads the config `wisp run` uses: the defaults, overlaid with `path` if given (which
    /// must exist), else with /etc/wisp/config.yaml if that exists.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = Config::defaults();
        let chosen = match path {
            Some(p) => Some(p.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_PATH)).filter(|p| p.exists()),
        };
        if let Some(path) = chosen {
            let source = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
                source: source.clone(),
                field: String::new(),
                problem: format!("cannot read: {e}"),
            })?;
            config.overlay_yaml(&text, &source)?;
        }
        Ok(config)
    }

    fn empty() -> Config {
        Config {
            data_dir: None,
            api_server: ApiServerConfig {
                port: 0,
                bind_address: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                extra_sans: Vec::new(),
            },
            network: NetworkConfig {
                pod_cidr: Cidr {
                    addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    prefix: 0,
                },
                service_cidr: Cidr {
                    addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    prefix: 0,
                },
                cluster_dns: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                cluster_domain: String::new(),
                bridge: String::new(),
                serve_dns: false,
                nft_table: String::new(),
            },
            node: NodeConfig {
                name: None,
                runtime: String::new(),
                cni_bin_dir: None,
                images_dir: None,
                enabled: false,
                run_dir: PathBuf::new(),
                pod_logs_dir: PathBuf::new(),
                insecure_registries: Vec::new(),
                registry_ca_files: Vec::new(),
                eviction_hard: EvictionHard {
                    memory_available_bytes: 0,
                    nodefs_available_percent: 0,
                    pid_available_percent: 0,
                },
            },
            store: StoreConfig { cache_bytes: 0 },
            audit: AuditConfig { enabled: false },
        }
    }

    /// Overlays the fields present in `text` onto this config.
    pub fn overlay_yaml(&mut self, text: &str, source: &str) -> Result<(), ConfigError> {
        let docs = YamlLoader::load_from_str(text).map_err(|e| ConfigError {
            source: source.to_owned(),
            field: String::new(),
            problem: format!("not valid YAML: {e}"),
        })?;
        let root = match docs.as_slice() {
            [] => return Ok(()),
            [doc] => doc,
            _ => return Err(at(source, "", "holds more than one YAML document")),
        };
        if matches!(root, Yaml::Null) {
            return Ok(());
        }
        let mut walker = Walker { source };
        walker.root(self, root)
    }

    /// The data directory: the configured one, else /var/lib/wisp for root, else
    /// ~/.local/share/wisp.
    pub fn resolved_data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.data_dir {
            return dir.clone();
        }
        if is_root() {
            return PathBuf::from("/var/lib/wisp");
        }
        let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
        home.join(".local/share/wisp")
    }
}

fn is_root() -> bool {
    // Reading /proc/self/status avoids an unsafe libc call for geteuid.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|euid| euid == "0"))
        })
        .unwrap_or(false)
}

fn at(source: &str, field: &str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        source: source.to_owned(),
        field: field.to_owned(),
        problem: problem.into(),
    }
}

/// Walks the YAML tree, checking each known field's type and rejecting unknown ones.
struct Walker<'a> {
    source: &'a str,
}

impl Walker<'_> {
    fn err(&self, field: &str, problem: impl Into<String>) -> ConfigError {
        at(self.source, field, problem)
    }

    fn entries<'y>(
        &self,
        node: &'y Yaml,
        field: &str,
    ) -> Result<Vec<(String, &'y Yaml)>, ConfigError> {
        let Yaml::Hash(map) = node else {
            return Err(self.err(
                field,
                format!("expected a mapping, found {}", describe(node)),
            ));
        };
        map.iter()
            .map(|(k, v)| match k {
                Yaml::String(s) => Ok((s.clone(), v)),
                other => Err(self.err(
                    field,
                    format!("keys must be strings, found {}", describe(other)),
                )),
            })
            .collect()
    }

    fn root(&mut self, config: &mut Config, root: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(root, "")? {
            match key.as_str() {
                "dataDir" => config.data_dir = self.opt_path(value, "dataDir")?,
                "apiServer" => self.api_server(&mut config.api_server, value)?,
                "network" => self.network(&mut config.network, value)?,
                "node" => self.node(&mut config.node, value)?,
                "store" => self.store(&mut config.store, value)?,
                "audit" => self.audit(&mut config.audit, value)?,
                _ => {
                    return Err(self.unknown(
                        &key,
                        &["dataDir", "apiServer", "network", "node", "store", "audit"],
                    ));
                }
            }
        }
        Ok(())
    }

    fn api_server(&self, c: &mut ApiServerConfig, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "apiServer")? {
            let field = format!("apiServer.{key}");
            match key.as_str() {
                "port" => c.port = self.port(value, &field)?,
                "bindAddress" => c.bind_address = self.parsed(value, &field, "an IP address")?,
                "extraSANs" => c.extra_sans = self.string_list(value, &field)?,
                _ => return Err(self.unknown(&field, &["port", "bindAddress", "extraSANs"])),
            }
        }
        Ok(())
    }

    fn network(&self, c: &mut NetworkConfig, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "network")? {
            let field = format!("network.{key}");
            match key.as_str() {
                "podCIDR" => c.pod_cidr = self.cidr(value, &field)?,
                "serviceCIDR" => c.service_cidr = self.cidr(value, &field)?,
                "clusterDNS" => c.cluster_dns = self.parsed(value, &field, "an IP address")?,
                "clusterDomain" => c.cluster_domain = self.string(value, &field)?,
                "bridge" => c.bridge = self.string(value, &field)?,
                "serveDNS" => c.serve_dns = self.boolean(value, &field)?,
                "nftTable" => c.nft_table = self.string(value, &field)?,
                _ => {
                    return Err(self.unknown(
                        &field,
                        &[
                            "podCIDR",
                            "serviceCIDR",
                            "clusterDNS",
                            "clusterDomain",
                            "bridge",
                            "nftTable",
                            "serveDNS",
                        ],
                    ));
                }
            }
        }
        Ok(())
    }

    fn node(&self, c: &mut NodeConfig, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "node")? {
            let field = format!("node.{key}");
            match key.as_str() {
                "name" => c.name = Some(self.string(value, &field)?).filter(|s| !s.is_empty()),
                "runtime" => c.runtime = self.string(value, &field)?,
                "cniBinDir" => c.cni_bin_dir = self.opt_path(value, &field)?,
                "imagesDir" => c.images_dir = self.opt_path(value, &field)?,
                "enabled" => c.enabled = self.boolean(value, &field)?,
                "runDir" => c.run_dir = self.path(value, &field)?,
                "podLogsDir" => c.pod_logs_dir = self.path(value, &field)?,
                "insecureRegistries" => c.insecure_registries = self.string_list(value, &field)?,
                "evictionHard" => self.eviction_hard(&mut c.eviction_hard, value)?,
                "registryCAFiles" => {
                    c.registry_ca_files = self
                        .string_list(value, &field)?
                        .into_iter()
                        .map(PathBuf::from)
                        .collect();
                }
                _ => {
                    return Err(self.unknown(
                        &field,
                        &[
                            "name",
                            "runtime",
                            "cniBinDir",
                            "imagesDir",
                            "enabled",
                            "runDir",
                            "podLogsDir",
                            "insecureRegistries",
                            "registryCAFiles",
                            "evictionHard",
                        ],
                    ));
                }
            }
        }
        Ok(())
    }

    fn store(&self, c: &mut StoreConfig, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "store")? {
            let field = format!("store.{key}");
            match key.as_str() {
                "cacheBytes" => {
                    c.cache_bytes = u64::try_from(self.integer(value, &field)?)
                        .map_err(|_| self.err(&field, "must not be negative"))?;
                }
                _ => return Err(self.unknown(&field, &["cacheBytes"])),
            }
        }
        Ok(())
    }

    fn audit(&self, c: &mut AuditConfig, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "audit")? {
            let field = format!("audit.{key}");
            match key.as_str() {
                "enabled" => match value {
                    Yaml::Boolean(b) => c.enabled = *b,
                    other => {
                        let found = describe(other);
                        return Err(
                            self.err(&field, format!("expected true or false, found {found}"))
                        );
                    }
                },
                _ => return Err(self.unknown(&field, &["enabled"])),
            }
        }
        Ok(())
    }

    fn unknown(&self, field: &str, known: &[&str]) -> ConfigError {
        self.err(
            field,
            format!("unknown field (known here: {})", known.join(", ")),
        )
    }

    fn string(&self, node: &Yaml, field: &str) -> Result<String, ConfigError> {
        match node {
            Yaml::String(s) => Ok(s.clone()),
            Yaml::Null => Ok(String::new()),
            other => Err(self.err(
                field,
                format!("expected a string, found {}", describe(other)),
            )),
        }
    }

    fn eviction_hard(&self, c: &mut EvictionHard, node: &Yaml) -> Result<(), ConfigError> {
        for (key, value) in self.entries(node, "node.evictionHard")? {
            let field = format!("node.evictionHard.{key}");
            let text = self.string(value, &field)?;
            let percent = || {
                text.strip_suffix('%')
                    .and_then(|p| p.trim().parse::<u64>().ok())
                    .filter(|p| *p <= 100)
                    .ok_or_else(|| {
                        self.err(
                            &field,
                            format!("expected a percentage such as \"10%\", found {text:?}"),
                        )
                    })
            };
            match key.as_str() {
                "memory.available" => {
                    c.memory_available_bytes = wisp_node::runtime::quantity::Quantity::parse(&text)
                        .map_err(|e| self.err(&field, e.to_string()))
                        .and_then(|q| {
                            u64::try_from(q.units_ceil())
                                .map_err(|_| self.err(&field, "must not be negative"))
                        })?;
                }
                "nodefs.available" => c.nodefs_available_percent = percent()?,
                "pid.available" => c.pid_available_percent = percent()?,
                _ => {
                    return Err(self.unknown(
                        &field,
                        &["memory.available", "nodefs.available", "pid.available"],
                    ));
                }
            }
        }
        Ok(())
    }

    fn boolean(&self, node: &Yaml, field: &str) -> Result<bool, ConfigError> {
        match node {
            Yaml::Boolean(b) => Ok(*b),
            other => Err(self.err(
                field,
                format!("expected true or false, found {}", describe(other)),
            )),
        }
    }

    fn path(&self, node: &Yaml, field: &str) -> Result<PathBuf, ConfigError> {
        self.opt_path(node, field)?
            .ok_or_else(|| self.err(field, "must not be empty"))
    }

    fn opt_path(&self, node: &Yaml, field: &str) -> Result<Option<PathBuf>, ConfigError> {
        let s = self.string(node, field)?;
        if s.is_empty() {
            return Ok(None);
        }
        if !s.starts_with('/') {
            return Err(self.err(field, format!("`{s}` must be an absolute path")));
        }
        Ok(Some(PathBuf::from(s)))
    }

    fn integer(&self, node: &Yaml, field: &str) -> Result<i64, ConfigError> {
        match node {
            Yaml::Integer(i) => Ok(*i),
            other => Err(self.err(
                field,
                format!("expected an integer, found {}", describe(other)),
            )),
        }
    }

    fn port(&self, node: &Yaml, field: &str) -> Result<u16, ConfigError> {
        let i = self.integer(node, field)?;
        u16::try_from(i)
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| self.err(field, format!("{i} is not a port (1-65535)")))
    }

    fn parsed<T: std::str::FromStr>(
        &self,
        node: &Yaml,
        field: &str,
        what: &str,
    ) -> Result<T, ConfigError> {
        let s = self.string(node, field)?;
        s.parse()
            .map_err(|_| self.err(field, format!("`{s}` is not {what}")))
    }

    fn cidr(&self, node: &Yaml, field: &str) -> Result<Cidr, ConfigError> {
        let s = self.string(node, field)?;
        s.parse().map_err(|e: String| self.err(field, e))
    }

    fn string_list(&self, node: &Yaml, field: &str) -> Result<Vec<String>, ConfigError> {
        match node {
            Yaml::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, item)| self.string(item, &format!("{field}[{i}]")))
                .collect(),
            Yaml::Null => Ok(Vec::new()),
            other => Err(self.err(field, format!("expected a list, found {}", describe(other)))),
        }
    }
}

fn describe(node: &Yaml) -> String {
    match node {
        Yaml::Real(r) => format!("the number {r}"),
        Yaml::Integer(i) => format!("the integer {i}"),
        Yaml::String(s) => format!("the string `{s}`"),
        Yaml::Boolean(b) => format!("the boolean {b}"),
        Yaml::Array(_) => "a list".to_owned(),
        Yaml::Hash(_) => "a mapping".to_owned(),
        Yaml::Alias(_) => "an alias".to_owned(),
        Yaml::Null => "nothing (null)".to_owned(),
        Yaml::BadValue => "an invalid value".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_defaults_match_the_design_brief() {
        let c = Config::defaults();
        assert_eq!(c.api_server.port, 6443);
        assert_eq!(c.network.pod_cidr.to_string(), "10.42.0.0/16");
        assert_eq!(c.network.service_cidr.to_string(), "10.43.0.0/16");
        assert_eq!(c.network.nft_table, "wisp");
        assert_eq!(c.network.cluster_dns.to_string(), "10.43.0.10");
        assert_eq!(c.network.cluster_domain, "cluster.local");
        assert_eq!(c.node.runtime, "auto");
        assert_eq!(c.data_dir, None);
        assert_eq!(c.node.name, None);
    }

    #[test]
    fn a_file_overrides_only_the_fields_it_names() {
        let mut c = Config::defaults();
        c.overlay_yaml(
            "apiServer:\n  port: 7443\nnode:\n  runtime: crun\n",
            "t.yaml",
        )
        .unwrap();
        assert_eq!(c.api_server.port, 7443);
        assert_eq!(c.node.runtime, "crun");
        assert_eq!(c.network.cluster_domain, "cluster.local");
    }

    #[test]
    fn audit_log_is_off_by_default_and_switched_on_by_config() {
        let mut c = Config::defaults();
        assert!(!c.audit.enabled);
        c.overlay_yaml("audit:\n  enabled: true\n", "a.yaml")
            .unwrap();
        assert!(c.audit.enabled);
        let e = c
            .overlay_yaml("audit:\n  enabled: yes please\n", "b.yaml")
            .unwrap_err();
        assert_eq!(e.field, "audit.enabled");
    }

    #[test]
    fn empty_file_is_the_defaults() {
        let mut c = Config::defaults();
        c.overlay_yaml("", "empty.yaml").unwrap();
        c.overlay_yaml("# only a comment\n", "c.yaml").unwrap();
        assert_eq!(c, Config::defaults());
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let mut c = Config::defaults();
        let e = c
            .overlay_yaml("apiServer:\n  prot: 1\n", "/etc/wisp/config.yaml")
            .unwrap_err();
        assert_eq!(e.field, "apiServer.prot");
        let text = e.to_string();
        assert!(
            text.starts_with("config /etc/wisp/config.yaml: field `apiServer.prot`"),
            "{text}"
        );

        let e = c
            .overlay_yaml("apiServer:\n  port: 70000\n", "f")
            .unwrap_err();
        assert_eq!(e.field, "apiServer.port");
        assert!(e.problem.contains("70000"));

        let e = c
            .overlay_yaml("network:\n  podCIDR: 10.42.0.0/33\n", "f")
            .unwrap_err();
        assert_eq!(e.field, "network.podCIDR");

        let e = c
            .overlay_yaml("apiServer:\n  extraSANs: [a, 3]\n", "f")
            .unwrap_err();
        assert_eq!(e.field, "apiServer.extraSANs[1]");

        let e = c.overlay_yaml("dataDir: relative/dir\n", "f").unwrap_err();
        assert_eq!(e.field, "dataDir");

        let e = c
            .overlay_yaml("store:\n  cacheBytes: -1\n", "f")
            .unwrap_err();
        assert_eq!(e.field, "store.cacheBytes");

        let e = c.overlay_yaml("network: [1]\n", "f").unwrap_err();
        assert_eq!(e.field, "network");

        let e = c.overlay_yaml("a: [\n", "f").unwrap_err();
        assert!(e.problem.starts_with("not valid YAML"), "{e}");
    }

    #[test]
    fn a_failed_overlay_is_reported_not_half_applied_silently() {
        // load() returns the error; callers never see a partially updated config.
        let dir = std::env::temp_dir().join(format!("wisp-config-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bad.yaml");
        std::fs::write(&file, "node:\n  runtime: 5\n").unwrap();
        let e = Config::load(Some(&file)).unwrap_err();
        assert_eq!(e.field, "node.runtime");
        let missing = Config::load(Some(&dir.join("missing.yaml"))).unwrap_err();
        assert!(missing.problem.starts_with("cannot read"), "{missing}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
