//! A route for the service CIDR on hosts that have none. The host's own connections to a
//! ClusterIP are DNATed in nftables' output hook, but the kernel looks up a route before
//! that hook runs: without a default route (an offline board) the connect fails with
//! "network unreachable". A route of the CIDR via `lo` gives the lookup an answer (with a
//! real source address), and the DNAT then re-routes the packet to the pod. Hosts that
//! already reach the CIDR are left alone, so nothing changes where it already works.

use std::process::Command;

use crate::cni::IpNet;

/// What [`ensure_route`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum RouteOutcome {
    /// The CIDR was routable already.
    Present,
    Added,
}

/// Adds `ip route replace <cidr> dev lo` in the namespace named `netns` (None: the
/// current one) unless the CIDR's first address is routable.
pub fn ensure_route(netns: Option<&str>, cidr: &IpNet) -> Result<RouteOutcome, String> {
    let network = cidr.network();
    let probe = first_address(&network);
    let get = ip(netns)
        .args(["route", "get", &probe])
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if get.status.success() {
        return Ok(RouteOutcome::Present);
    }
    let network = network.to_string();
    let add = ip(netns)
        .args(["route", "replace", &network, "dev", "lo"])
        .output()
        .map_err(|e| format!("running ip: {e}"))?;
    if add.status.success() {
        Ok(RouteOutcome::Added)
    } else {
        Err(format!(
            "adding a route for the service CIDR {network}: {}",
            String::from_utf8_lossy(&add.stderr).trim()
        ))
    }
}

fn ip(netns: Option<&str>) -> Command {
    let mut command = Command::new("ip");
    if let Some(ns) = netns {
        command.args(["-n", ns]);
    }
    command
}

/// The network's first host address (the `kubernetes` Service's ClusterIP).
fn first_address(network: &IpNet) -> String {
    match network.addr {
        std::net::IpAddr::V4(v4) => std::net::Ipv4Addr::from(u32::from(v4) | 1).to_string(),
        std::net::IpAddr::V6(v6) => std::net::Ipv6Addr::from(u128::from(v6) | 1).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A network namespace of the test's own, deleted on drop.
    struct Netns(String);

    impl Netns {
        fn new(name: &str) -> Option<Netns> {
            let ok = Command::new("ip")
                .args(["netns", "add", name])
                .status()
                .is_ok_and(|s| s.success());
            ok.then(|| Netns(name.to_owned()))
        }

        fn run(&self, args: &[&str]) {
            let status = Command::new("ip")
                .args(["-n", &self.0])
                .args(args)
                .status()
                .expect("ip");
            assert!(status.success(), "ip {args:?}");
        }

        fn routes(&self) -> String {
            let out = Command::new("ip")
                .args(["-n", &self.0, "route"])
                .output()
                .expect("ip");
            String::from_utf8_lossy(&out.stdout).into_owned()
        }
    }

    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }

    #[test]
    fn a_route_is_added_only_where_the_cidr_is_unreachable() {
        if !rustix::process::geteuid().is_root() {
            eprintln!("skipping: needs root for a network namespace");
            return;
        }
        let Some(ns) = Netns::new("wisp-svcroute") else {
            eprintln!("skipping: cannot create a network namespace (ip netns add)");
            return;
        };
        ns.run(&["link", "add", "d0", "type", "veth", "peer", "name", "d1"]);
        ns.run(&["link", "set", "d1", "up"]);
        ns.run(&["addr", "add", "192.0.2.10/24", "dev", "d0"]);
        ns.run(&["link", "set", "d0", "up"]);
        ns.run(&["link", "set", "lo", "up"]);
        let cidr: IpNet = "10.43.7.0/24".parse().unwrap();
        assert_eq!(ensure_route(Some(&ns.0), &cidr), Ok(RouteOutcome::Added));
        assert!(
            ns.routes().contains("10.43.7.0/24 dev lo"),
            "{}",
            ns.routes()
        );
        assert_eq!(ensure_route(Some(&ns.0), &cidr), Ok(RouteOutcome::Present));

        // With a default route the host reaches the CIDR already: nothing is added.
        ns.run(&["route", "del", "10.43.7.0/24"]);
        ns.run(&["route", "add", "default", "via", "192.0.2.1"]);
        assert_eq!(ensure_route(Some(&ns.0), &cidr), Ok(RouteOutcome::Present));
        assert!(!ns.routes().contains("dev lo"), "{}", ns.routes());
    }
}
