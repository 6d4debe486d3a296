//! What a handler receives: the parsed request line, headers, the whole body (bounded by
//! [`super::Limits::max_body_bytes`]), the peer and the client-certificate identity.

use std::fmt;
use std::net::SocketAddr;

/// The request method; uncommon ones are kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
    Options,
    Other(String),
}

impl Method {
    /// Maps the request-line token (case-sensitive, as RFC 9110 says).
    pub fn from_token(token: &str) -> Method {
        match token {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            other => Method::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other(token) => token,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Request headers in arrival order; names are stored lower-case, lookups ignore case.
/// Values that are not UTF-8 are converted lossily.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    pub fn new() -> Headers {
        Headers(Vec::new())
    }

    pub fn push(&mut self, name: &str, value: &str) {
        self.0.push((name.to_ascii_lowercase(), value.to_string()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `name`, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether any comma-separated element of any `name` value equals `token` (ignoring
    /// case), e.g. `Connection: keep-alive, Upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.get_all(name)
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Who the verified client certificate says the caller is (Kubernetes x509 rules: the
/// first subject CN is the user, every O is a group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    pub user: String,
    pub groups: Vec<String>,
}

/// One HTTP request, body fully read.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: Method,
    /// The raw (still percent-encoded) path, without the query.
    pub path: String,
    /// The raw query after `?` (empty when absent); see [`super::query`].
    pub query: String,
    pub headers: Headers,
    pub body: Vec<u8>,
    /// `None` when the client sent no certificate (or one without a CN).
    pub identity: Option<ClientIdentity>,
    pub peer: SocketAddr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_lookup_ignores_case_and_keeps_repeats() {
        let mut h = Headers::new();
        h.push("Accept", "a");
        h.push("ACCEPT", "b");
        h.push("Connection", "keep-alive, Upgrade");
        assert_eq!(h.get("accept"), Some("a"));
        assert_eq!(h.get_all("Accept").collect::<Vec<_>>(), ["a", "b"]);
        assert!(h.has_token("connection", "upgrade"));
        assert!(!h.has_token("connection", "close"));
        assert_eq!(h.get("missing"), None);
    }

    #[test]
    fn method_round_trips() {
        assert_eq!(Method::from_token("PATCH"), Method::Patch);
        assert_eq!(Method::from_token("patch").as_str(), "patch");
    }
}
