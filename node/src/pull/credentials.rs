//! Registry credentials and their extraction from image pull Secrets
//! (`kubernetes.io/dockerconfigjson` `.dockerconfigjson` and the older
//! `kubernetes.io/dockercfg` `.dockercfg` data, already base64-decoded by the caller).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use miniserde::json::{Object, Value};

/// What to present to a registry: a user name and password, or an identity (refresh) token
/// that the token server exchanges for an access token.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
    pub identity_token: Option<String>,
}

impl std::fmt::Debug for Credentials {
    // Secrets never reach logs through a stray `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The credentials a docker config document holds for `registry` (a host, `host:port`, or
/// `docker.io`), if any. Keys may carry a scheme and path (`https://index.docker.io/v1/`)
/// and a leading `*.` wildcard for one DNS label.
pub fn credentials_from_dockerconfigjson(json: &[u8], registry: &str) -> Option<Credentials> {
    let text = std::str::from_utf8(json).ok()?;
    let Value::Object(root) = miniserde::json::from_str::<Value>(text).ok()? else {
        return None;
    };
    let auths = match root.get("auths") {
        Some(Value::Object(auths)) => auths,
        _ => &root,
    };
    let wanted = normalize_host(registry);
    let exact = auths.iter().find(|(key, _)| normalize_host(key) == wanted);
    let found = exact.or_else(|| {
        auths
            .iter()
            .find(|(key, _)| wildcard_matches(&normalize_host(key), &wanted))
    });
    match found? {
        (_, Value::Object(entry)) => entry_credentials(entry),
        _ => None,
    }
}

fn entry_credentials(entry: &Object) -> Option<Credentials> {
    let field = |name: &str| match entry.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    };
    let identity_token = field("identitytoken");
    let (username, password) = match field("auth") {
        Some(auth) => {
            let decoded = STANDARD.decode(auth.trim()).ok()?;
            let decoded = String::from_utf8(decoded).ok()?;
            let (user, pass) = decoded.split_once(':')?;
            (user.to_owned(), pass.to_owned())
        }
        None => (field("username")?, field("password").unwrap_or_default()),
    };
    Some(Credentials {
        username,
        password,
        identity_token,
    })
}

/// `https://Index.Docker.io/v1/` -> `docker.io`; `http://host:5000/x` -> `host:5000`.
pub(crate) fn normalize_host(key: &str) -> String {
    let key = key.trim();
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    let host = key
        .split('/')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        _ => host,
    }
}

fn wildcard_matches(pattern: &str, host: &str) -> bool {
    let Some(suffix) = pattern.strip_prefix("*.") else {
        return false;
    };
    host.split_once('.')
        .is_some_and(|(label, rest)| !label.is_empty() && rest == suffix)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, pass: &str) -> Credentials {
        Credentials {
            username: user.into(),
            password: pass.into(),
            identity_token: None,
        }
    }

    #[test]
    fn dockerconfigjson_auth_field_and_hub_aliases() {
        // "alice:s3cr:et" in base64: the password keeps its own colon.
        let json = br#"{"auths":{"https://index.docker.io/v1/":{"auth":"YWxpY2U6czNjcjpldA=="},
            "ghcr.io":{"username":"bob","password":"pw"}}}"#;
        assert_eq!(
            credentials_from_dockerconfigjson(json, "docker.io"),
            Some(basic("alice", "s3cr:et"))
        );
        assert_eq!(
            credentials_from_dockerconfigjson(json, "registry-1.docker.io"),
            Some(basic("alice", "s3cr:et"))
        );
        assert_eq!(
            credentials_from_dockerconfigjson(json, "ghcr.io"),
            Some(basic("bob", "pw"))
        );
        assert_eq!(credentials_from_dockerconfigjson(json, "quay.io"), None);
    }

    #[test]
    fn legacy_dockercfg_ports_wildcards_and_identity_tokens() {
        let json = br#"{"http://reg.local:5000":{"username":"u","password":"p"},
            "*.example.com":{"auth":"dTpw","identitytoken":"refresh"}}"#;
        assert_eq!(
            credentials_from_dockerconfigjson(json, "reg.local:5000"),
            Some(basic("u", "p"))
        );
        assert_eq!(credentials_from_dockerconfigjson(json, "reg.local"), None);
        let token = credentials_from_dockerconfigjson(json, "eu.example.com").unwrap();
        assert_eq!(token.identity_token.as_deref(), Some("refresh"));
        assert_eq!(
            credentials_from_dockerconfigjson(json, "a.b.example.com"),
            None
        );
    }

    #[test]
    fn malformed_documents_give_nothing() {
        assert_eq!(credentials_from_dockerconfigjson(b"not json", "x"), None);
        assert_eq!(credentials_from_dockerconfigjson(b"[]", "x"), None);
        let bad_auth = br#"{"auths":{"x":{"auth":"!!!"}}}"#;
        assert_eq!(credentials_from_dockerconfigjson(bad_auth, "x"), None);
        let debug = format!("{:?}", basic("user", "hunter2"));
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
