//! Where the CNI pieces live (`CniConfig`) and the parsed network configuration list that
//! names the plugins to run, in order, for every pod attachment.

use std::path::{Path, PathBuf};
use std::time::Duration;

use miniserde::json::{self, Object, Value};

use super::error::CniError;
use crate::json::{as_array, as_object, str_field};

/// The CNI versions whose result format (`ips[].address`) this module reads.
const SUPPORTED_VERSIONS: [&str; 4] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"];

/// Where plugins, the network configuration list and the result cache live.
#[derive(Clone, Debug)]
pub struct CniConfig {
    /// Directories searched, in order, for plugin binaries (also passed as `CNI_PATH`).
    pub bin_dirs: Vec<PathBuf>,
    /// The `.conflist` file to use.
    pub conflist: PathBuf,
    /// Cached attachment results (`<cache_dir>/results/<network>-<container>-<ifname>`).
    pub cache_dir: PathBuf,
    /// How long one plugin invocation may run before it is killed.
    pub plugin_timeout: Duration,
    /// Run the loopback plugin on ADD. Off when the runtime brings `lo` up itself when it
    /// creates the namespace (wisp's pod namespaces do): one process less per pod.
    pub loopback_plugin: bool,
}

impl CniConfig {
    /// The defaults for a wisp data directory.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        CniConfig {
            bin_dirs: vec![PathBuf::from("/usr/lib/cni"), PathBuf::from("/opt/cni/bin")],
            conflist: data_dir.join("cni/net.d/10-wisp.conflist"),
            cache_dir: data_dir.join("cni/cache"),
            plugin_timeout: Duration::from_secs(30),
            loopback_plugin: true,
        }
    }
}

/// One plugin entry of the list: its type and its configuration object as written.
#[derive(Clone, Debug)]
pub(crate) struct PluginConf {
    pub kind: String,
    pub conf: Object,
}

impl PluginConf {
    /// Whether the plugin declared `capabilities: {<name>: true}`.
    pub fn has_capability(&self, name: &str) -> bool {
        let caps = self.conf.get("capabilities").and_then(as_object);
        matches!(caps.and_then(|c| c.get(name)), Some(Value::Bool(true)))
    }
}

/// A parsed network configuration list.
#[derive(Clone, Debug)]
pub(crate) struct NetworkList {
    pub name: String,
    pub cni_version: String,
    pub plugins: Vec<PluginConf>,
    /// The file's bytes, kept for the cache (`config` field).
    pub raw: String,
}

impl NetworkList {
    pub fn load(file: &Path) -> Result<Self, CniError> {
        let raw = std::fs::read_to_string(file).map_err(|e| CniError::io(file, e))?;
        Self::parse(file, raw)
    }

    pub fn parse(file: &Path, raw: String) -> Result<Self, CniError> {
        let err = |detail: String| CniError::config(file, detail);
        let doc: Value = json::from_str(&raw).map_err(|_| err("not valid JSON".into()))?;
        let top = as_object(&doc).ok_or_else(|| err("top level is not an object".into()))?;
        let name = str_field(top, "name").ok_or_else(|| err("field \"name\" missing".into()))?;
        let cni_version = str_field(top, "cniVersion")
            .ok_or_else(|| err("field \"cniVersion\" missing".into()))?;
        if !SUPPORTED_VERSIONS.contains(&cni_version) {
            return Err(err(format!("cniVersion {cni_version:?} is not supported")));
        }
        let list = top.get("plugins").and_then(as_array);
        let list = list.ok_or_else(|| err("field \"plugins\" missing or not a list".into()))?;
        if list.is_empty() {
            return Err(err("field \"plugins\" is empty".into()));
        }
        let mut plugins = Vec::with_capacity(list.len());
        for (i, entry) in list.iter().enumerate() {
            let conf =
                as_object(entry).ok_or_else(|| err(format!("plugins[{i}] not an object")))?;
            let kind = str_field(conf, "type")
                .ok_or_else(|| err(format!("plugins[{i}]: field \"type\" missing")))?;
            if kind.contains('/') || kind.is_empty() {
                return Err(err(format!("plugins[{i}]: invalid type {kind:?}")));
            }
            plugins.push(PluginConf {
                kind: kind.to_owned(),
                conf: conf.clone(),
            });
        }
        Ok(NetworkList {
            name: name.to_owned(),
            cni_version: cni_version.to_owned(),
            plugins,
            raw,
        })
    }

    /// The host-local IPAM reservation directories of this network (one per plugin that
    /// delegates to host-local), as host-local computes them: `<dataDir>/<network name>`.
    pub fn host_local_dirs(&self) -> Vec<PathBuf> {
        let ipams = self
            .plugins
            .iter()
            .filter_map(|p| p.conf.get("ipam").and_then(as_object));
        let host_local = ipams.filter(|ipam| str_field(ipam, "type") == Some("host-local"));
        let data_dirs = host_local.map(|ipam| {
            str_field(ipam, "dataDir")
                .unwrap_or("/var/lib/cni/networks")
                .to_owned()
        });
        data_dirs.map(|d| Path::new(&d).join(&self.name)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<NetworkList, CniError> {
        NetworkList::parse(Path::new("/etc/x.conflist"), text.to_owned())
    }

    #[test]
    fn reads_plugins_in_order_with_capabilities() {
        let list = parse(
            r#"{"cniVersion":"1.0.0","name":"n","plugins":[
                {"type":"bridge","ipam":{"type":"host-local","dataDir":"/d"}},
                {"type":"portmap","capabilities":{"portMappings":true}}]}"#,
        )
        .unwrap();
        assert_eq!(list.name, "n");
        let kinds: Vec<&str> = list.plugins.iter().map(|p| p.kind.as_str()).collect();
        assert_eq!(kinds, ["bridge", "portmap"]);
        assert!(list.plugins[1].has_capability("portMappings"));
        assert!(!list.plugins[0].has_capability("portMappings"));
        assert_eq!(list.host_local_dirs(), [PathBuf::from("/d/n")]);
    }

    #[test]
    fn errors_name_the_file_and_the_field() {
        let e = parse(r#"{"cniVersion":"1.0.0","plugins":[]}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "cni config /etc/x.conflist: field \"name\" missing");
        let e = parse(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"ipam":{}}]}"#);
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("plugins[0]: field \"type\" missing")
        );
        let e = parse(r#"{"cniVersion":"0.2.0","name":"n","plugins":[{"type":"x"}]}"#);
        assert!(
            e.unwrap_err()
                .to_string()
                .contains("\"0.2.0\" is not supported")
        );
        let e = parse("{not json").unwrap_err().to_string();
        assert!(e.contains("not valid JSON"), "{e}");
        let e = parse(r#"{"cniVersion":"1.0.0","name":"n","plugins":[{"type":"../x"}]}"#);
        assert!(e.unwrap_err().to_string().contains("invalid type"));
    }
}
