//! The few URL operations a registry client needs: split an absolute `http(s)` URL, resolve a
//! redirect's `Location` against the current one, and percent-encode query values.

/// An absolute http or https URL, split for a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// Host as written, with brackets for IPv6 literals.
    pub host: String,
    pub port: u16,
    /// Path and query, starting with `/`.
    pub target: String,
}

impl Url {
    pub fn parse(text: &str) -> Option<Url> {
        let (https, rest) = if let Some(rest) = text.strip_prefix("https://") {
            (true, rest)
        } else {
            (false, text.strip_prefix("http://")?)
        };
        let split = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        let target = target.split('#').next().unwrap_or_default();
        let (host, port) = split_authority(authority, if https { 443 } else { 80 })?;
        let target = if target.starts_with('/') {
            target.to_owned()
        } else {
            format!("/{target}")
        };
        Some(Url {
            https,
            host,
            port,
            target,
        })
    }

    /// The URL of `registry` (`host` or `host:port`) with `target`.
    pub fn for_registry(registry: &str, https: bool, target: &str) -> Option<Url> {
        let scheme = if https { "https" } else { "http" };
        Url::parse(&format!("{scheme}://{registry}{target}"))
    }

    /// `Location` of a redirect: absolute, scheme-relative, or a path on this host.
    pub fn join(&self, location: &str) -> Option<Url> {
        if location.starts_with("http://") || location.starts_with("https://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.https { "https" } else { "http" };
            return Url::parse(&format!("{scheme}://{rest}"));
        }
        let mut joined = self.clone();
        joined.target = if location.starts_with('/') {
            location.to_owned()
        } else {
            let base = self.target.split('?').next().unwrap_or("/");
            let dir = &base[..base.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Some(joined)
    }

    /// `host:port` without brackets' removal, for connecting and for messages.
    pub fn host_port(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The `Host` header: the port only when it is not the scheme's default.
    pub fn authority(&self) -> String {
        let default = if self.https { 443 } else { 80 };
        if self.port == default {
            self.host.clone()
        } else {
            self.host_port()
        }
    }

    /// The host name for TLS server name checks, without IPv6 brackets.
    pub fn bare_host(&self) -> &str {
        self.host.trim_start_matches('[').trim_end_matches(']')
    }
}

fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let authority = authority.rsplit('@').next()?;
    if authority.is_empty() {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let end = authority.find(']')?;
        let port = authority[end + 1..].strip_prefix(':');
        (&authority[..=end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    Some((host.to_ascii_lowercase(), port))
}

/// Percent-encoding for a query value (RFC 3986 unreserved characters pass).
pub fn encode_query_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ports_paths_and_ipv6() {
        let url = Url::parse("https://Auth.Docker.io/token?service=x").unwrap();
        assert_eq!(
            (url.host.as_str(), url.port, url.target.as_str()),
            ("auth.docker.io", 443, "/token?service=x")
        );
        assert_eq!(url.authority(), "auth.docker.io");
        let url = Url::parse("http://[::1]:5000").unwrap();
        assert_eq!(
            (url.bare_host(), url.port, url.target.as_str()),
            ("::1", 5000, "/")
        );
        assert_eq!(url.authority(), "[::1]:5000");
        assert!(Url::parse("ftp://x/").is_none());
        assert!(Url::parse("https://x:notaport/").is_none());
        assert!(Url::parse("https:///path").is_none());
    }

    #[test]
    fn joins_redirect_locations() {
        let base = Url::parse("https://reg:5000/v2/a/blobs/sha256:1").unwrap();
        let abs = base.join("https://s3.example/bucket/obj?sig=1").unwrap();
        assert_eq!((abs.host.as_str(), abs.port), ("s3.example", 443));
        assert_eq!(base.join("/other").unwrap().target, "/other");
        assert_eq!(base.join("sibling").unwrap().target, "/v2/a/blobs/sibling");
        assert_eq!(base.join("//cdn.example/x").unwrap().host, "cdn.example");
    }

    #[test]
    fn encodes_query_values() {
        assert_eq!(
            encode_query_value("repository:library/busybox:pull"),
            "repository%3Alibrary%2Fbusybox%3Apull"
        );
    }
}
