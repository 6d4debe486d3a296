//! The host's own addresses and name, read from /proc (core forbids the unsafe that
//! `getifaddrs` would need). IPv4 local addresses come from /proc/net/fib_trie (entries
//! marked `/32 host LOCAL`), IPv6 from /proc/net/if_inet6 (link-local skipped: a SAN
//! cannot carry a zone, so clients could not match it).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Every address assigned to an interface of this host, sorted and without duplicates.
/// Unreadable /proc files yield no addresses rather than an error: loopback SANs are
/// always added by the caller, and a reissue happens when addresses appear later.
pub fn host_addresses() -> Vec<IpAddr> {
    let mut set = BTreeSet::new();
    if let Ok(text) = std::fs::read_to_string("/proc/net/fib_trie") {
        set.extend(parse_fib_trie(&text).into_iter().map(IpAddr::V4));
    }
    if let Ok(text) = std::fs::read_to_string("/proc/net/if_inet6") {
        set.extend(parse_if_inet6(&text).into_iter().map(IpAddr::V6));
    }
    set.into_iter().collect()
}

/// Never contacted: connecting a UDP socket to it only asks the kernel for a route
/// (TEST-NET-2, so only a default route reaches it).
const ROUTE_PROBE: (Ipv4Addr, u16) = (Ipv4Addr::new(198, 51, 100, 1), 9);

/// The host's primary address, the one the Node reports and LoadBalancers use: the source
/// address the kernel picks for the default route (as the kubelet does without
/// `--node-ip`); without a default route the first non-loopback IPv4 address, else
/// 127.0.0.1.
pub fn primary_host_address() -> IpAddr {
    let routed = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))
        .and_then(|socket| {
            socket.connect(ROUTE_PROBE)?;
            socket.local_addr()
        })
        .map(|local| local.ip())
        .ok()
        .filter(|ip| !ip.is_unspecified() && !ip.is_loopback());
    routed.unwrap_or_else(|| {
        host_addresses()
            .into_iter()
            .find(|ip| ip.is_ipv4() && !ip.is_loopback())
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    })
}

/// The kernel host name, if set and not empty.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let name = name.trim();
    (!name.is_empty() && name != "(none)").then(|| name.to_string())
}

/// Addresses of `/32 host LOCAL` leaves: the line before names the address.
pub fn parse_fib_trie(text: &str) -> BTreeSet<Ipv4Addr> {
    let mut out = BTreeSet::new();
    let mut last_leaf: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("|-- ") {
            last_leaf = rest.trim().parse().ok();
        } else if let Some(addr) = last_leaf.filter(|_| trimmed.starts_with("/32 host LOCAL")) {
            out.insert(addr);
        }
    }
    out
}

/// Global and unique-local IPv6 addresses (first column: 32 hex digits).
pub fn parse_if_inet6(text: &str) -> BTreeSet<Ipv6Addr> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let Some(hex) = line.split_whitespace().next() else {
            continue;
        };
        let Ok(bits) = u128::from_str_radix(hex, 16) else {
            continue;
        };
        if hex.len() != 32 {
            continue;
        }
        let addr = Ipv6Addr::from(bits);
        let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
        if !link_local {
            out.insert(addr);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIB: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 127.0.0.0/8 2 0 2
        +-- 127.0.0.0/31 1 0 0
           |-- 127.0.0.0
              /8 host LOCAL
           |-- 127.0.0.1
              /32 host LOCAL
        |-- 127.255.255.255
           /32 link BROADCAST
     |-- 192.168.7.20
        /32 host LOCAL
Local:
     |-- 192.168.7.20
        /32 host LOCAL
";

    #[test]
    fn fib_trie_local_hosts_only() {
        let got: Vec<_> = parse_fib_trie(FIB).into_iter().collect();
        assert_eq!(
            got,
            vec![Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(192, 168, 7, 20)]
        );
    }

    #[test]
    fn if_inet6_skips_link_local_and_garbage() {
        let text = "00000000000000000000000000000001 01 80 10 80       lo
fe800000000000000000000000000001 02 40 20 80     eth0
fd000000000000000000000000000042 02 40 00 80     eth0
zz 1 2 3
";
        let got: Vec<_> = parse_if_inet6(text).into_iter().collect();
        assert_eq!(
            got,
            vec![
                "::1".parse::<Ipv6Addr>().unwrap(),
                "fd00::42".parse().unwrap()
            ]
        );
    }

    #[test]
    fn primary_address_is_one_of_the_host_addresses() {
        let primary = primary_host_address();
        assert!(
            primary.is_loopback() || host_addresses().contains(&primary),
            "{primary}"
        );
    }

    #[test]
    fn real_host_has_loopback() {
        assert!(host_addresses().contains(&IpAddr::V4(Ipv4Addr::LOCALHOST)));
    }
}
