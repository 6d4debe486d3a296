//! An IP address with a prefix length ("10.42.0.5/16"), as CNI results and pod CIDRs use.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// An address and its prefix length; also used for subnets (host bits may be set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Self> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// The subnet itself: host bits cleared ("10.42.0.5/16" -> "10.42.0.0/16").
    pub fn network(&self) -> IpNet {
        let addr = match self.addr {
            IpAddr::V4(a) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V4((u32::from(a) & mask).into())
            }
            IpAddr::V6(a) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                IpAddr::V6((u128::from(a) & mask).into())
            }
        };
        IpNet {
            addr,
            prefix: self.prefix,
        }
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (addr, prefix) = s
            .split_once('/')
            .ok_or_else(|| format!("{s:?} has no /prefix"))?;
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} has an invalid address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| format!("{s:?} has an invalid prefix"))?;
        IpNet::new(addr, prefix).ok_or_else(|| format!("{s:?} has a prefix out of range"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_both_families() {
        let v4: IpNet = "10.42.0.5/16".parse().unwrap();
        assert_eq!(v4.to_string(), "10.42.0.5/16");
        let v6: IpNet = "fd42::1/64".parse().unwrap();
        assert_eq!(v6.prefix, 64);
        assert!("10.0.0.1/33".parse::<IpNet>().is_err());
        assert!("10.0.0.1".parse::<IpNet>().is_err());
        assert!("x/8".parse::<IpNet>().is_err());
        let net = |s: &str| s.parse::<IpNet>().unwrap().network().to_string();
        assert_eq!(net("10.42.7.5/16"), "10.42.0.0/16");
        assert_eq!(net("10.42.7.5/0"), "0.0.0.0/0");
        assert_eq!(net("10.42.7.5/32"), "10.42.7.5/32");
        assert_eq!(net("fd42::7:1/64"), "fd42::/64");
    }
}
