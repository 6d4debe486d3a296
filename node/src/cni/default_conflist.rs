//! The network configuration wisp writes when none exists: a Linux bridge with host-local
//! addresses from the pod CIDR(s), masquerading, and portmap for `hostPort`. Loopback is not
//! part of the list: it is brought up separately for every pod (see `loopback_config`).

use std::io::Write;
use std::path::{Path, PathBuf};

use miniserde::json::{self, Value};

use super::error::CniError;
use super::ipnet::IpNet;
use crate::json::{array, obj, s};

/// The CNI version wisp writes and speaks to plugins.
pub const CNI_VERSION: &str = "1.0.0";

/// What the default network looks like.
#[derive(Clone, Debug)]
pub struct DefaultNetwork {
    /// The network name (also the host-local reservation sub-directory).
    pub name: String,
    /// The host bridge, `wisp0` by default.
    pub bridge: String,
    /// The IPv4 pod CIDR, 10.42.0.0/16 by default.
    pub ipv4: Option<IpNet>,
    /// The IPv6 pod CIDR for dual-stack or IPv6-only pods.
    pub ipv6: Option<IpNet>,
    /// Where host-local keeps its reservations (`<data-dir>/cni/ipam`).
    pub ipam_dir: PathBuf,
}

impl DefaultNetwork {
    /// wisp's defaults under a data directory: IPv4 only, 10.42.0.0/16 on `wisp0`.
    pub fn for_data_dir(data_dir: &Path) -> Self {
        DefaultNetwork {
            name: "wisp".to_owned(),
            bridge: "wisp0".to_owned(),
            ipv4: "10.42.0.0/16".parse().ok(),
            ipv6: None,
            ipam_dir: data_dir.join("cni/ipam"),
        }
    }

    /// The configuration list as JSON text.
    pub fn to_conflist(&self) -> String {
        let cidrs = self.ipv4.iter().chain(self.ipv6.iter());
        let ranges = cidrs
            .clone()
            .map(|c| array([obj([("subnet", s(c.to_string()))])]));
        let default_route = |c: &IpNet| {
            if c.addr.is_ipv4() {
                "0.0.0.0/0"
            } else {
                "::/0"
            }
        };
        let routes = cidrs.map(|c| obj([("dst", s(default_route(c)))]));
        let ipam = obj([
            ("type", s("host-local")),
            ("ranges", array(ranges)),
            ("routes", array(routes)),
            ("dataDir", s(self.ipam_dir.display().to_string())),
        ]);
        let bridge = obj([
            ("type", s("bridge")),
            ("bridge", s(&self.bridge)),
            ("isGateway", Value::Bool(true)),
            ("ipMasq", Value::Bool(true)),
            ("hairpinMode", Value::Bool(true)),
            ("ipam", ipam),
        ]);
        let portmap = obj([
            ("type", s("portmap")),
            ("capabilities", obj([("portMappings", Value::Bool(true))])),
            ("snat", Value::Bool(true)),
        ]);
        let list = obj([
            ("cniVersion", s(CNI_VERSION)),
            ("name", s(&self.name)),
            ("plugins", array([bridge, portmap])),
        ]);
        json::to_string(&list)
    }
}

/// Writes the default list to `path` unless a file is already there (an operator's own
/// configuration wins). Returns whether it wrote.
pub fn write_default_conflist(path: &Path, net: &DefaultNetwork) -> Result<bool, CniError> {
    if path.exists() {
        return Ok(false);
    }
    if net.ipv4.is_none() && net.ipv6.is_none() {
        return Err(CniError::config(
            path,
            "the default network needs at least one pod cidr",
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| CniError::io(dir, e))?;
    }
    let tmp = path.with_extension("conflist.tmp");
    let write = |f: &mut std::fs::File| {
        f.write_all(net.to_conflist().as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    std::fs::File::create(&tmp)
        .and_then(|mut f| write(&mut f))
        .map_err(|e| CniError::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| CniError::io(path, e))?;
    Ok(true)
}

/// The single-plugin config that brings `lo` up inside a pod namespace.
pub(crate) fn loopback_config() -> String {
    let conf = obj([
        ("cniVersion", s(CNI_VERSION)),
        ("name", s("lo")),
        ("type", s("loopback")),
    ]);
    json::to_string(&conf)
}

#[cfg(test)]
mod tests {
    use super::super::network::NetworkList;
    use super::*;

    #[test]
    fn dual_stack_list_has_both_ranges_and_routes() {
        let mut net = DefaultNetwork::for_data_dir(Path::new("/var/lib/wisp"));
        net.ipv6 = "fd42::/64".parse().ok();
        let text = net.to_conflist();
        let list = NetworkList::parse(Path::new("x"), text.clone()).unwrap();
        assert_eq!(list.cni_version, "1.0.0");
        assert_eq!(list.plugins.len(), 2);
        assert!(list.plugins[1].has_capability("portMappings"));
        assert!(
            text.contains(r#""ranges":[[{"subnet":"10.42.0.0/16"}],[{"subnet":"fd42::/64"}]]"#)
        );
        assert!(text.contains(r#""routes":[{"dst":"0.0.0.0/0"},{"dst":"::/0"}]"#));
        assert!(text.contains(r#""bridge":"wisp0""#));
        assert_eq!(
            list.host_local_dirs(),
            [PathBuf::from("/var/lib/wisp/cni/ipam/wisp")]
        );
    }

    #[test]
    fn an_existing_file_is_left_alone() {
        let dir = std::env::temp_dir().join(format!("wisp-cni-conf-{}", std::process::id()));
        let path = dir.join("net.d/10-wisp.conflist");
        let net = DefaultNetwork::for_data_dir(&dir);
        assert!(write_default_conflist(&path, &net).unwrap());
        std::fs::write(&path, "operator's own").unwrap();
        assert!(!write_default_conflist(&path, &net).unwrap());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "operator's own");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
