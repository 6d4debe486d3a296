//! A conversation with one registry about one repository: picks TLS or (for registries
//! configured insecure) plain HTTP, answers `401` challenges (Bearer tokens from the realm
//! the registry names, or Basic), follows redirects to blob storage without leaking the
//! registry's credentials to other hosts, and maps HTTP failures to `PullError`s.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use miniserde::json::Value;
use rustls::ClientConfig;

use super::challenge::{self, Challenge};
use super::http::{self, Response, TransportError};
use super::url::{Url, encode_query_value};
use super::{Credentials, PullConfig, PullError, tls};

const MAX_REDIRECTS: usize = 5;
const MAX_ERROR_BODY: u64 = 16 * 1024;

pub struct Session<'a> {
    /// `host[:port]` the API is served on (docker.io already mapped).
    registry: String,
    repository: String,
    creds: Option<&'a Credentials>,
    cfg: &'a PullConfig,
    verified: Arc<ClientConfig>,
    unverified: Arc<ClientConfig>,
    /// Starts true; an insecure registry that does not speak TLS turns it off.
    https: bool,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    pub fn new(
        registry: &str,
        repository: &str,
        creds: Option<&'a Credentials>,
        cfg: &'a PullConfig,
    ) -> Result<Session<'a>, PullError> {
        Ok(Session {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            creds,
            cfg,
            verified: tls::verified_config(&cfg.extra_ca_pem).map_err(PullError::Config)?,
            unverified: tls::unverified_config().map_err(PullError::Config)?,
            https: true,
            authorization: None,
        })
    }

    /// `method` on `target` (a path under the registry), authenticated and with redirects
    /// followed; non-2xx answers become errors naming `what`.
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        accept: &str,
        what: &str,
    ) -> Result<Response, PullError> {
        let mut resp = self.send_to_registry(method, target, accept)?;
        if resp.status == 401 {
            let challenges: Vec<Challenge> = resp
                .headers_named("www-authenticate")
                .flat_map(challenge::parse)
                .collect();
            self.authenticate(&challenges)?;
            resp = self.send_to_registry(method, target, accept)?;
        }
        let mut resp = self.follow_redirects(method, target, resp, accept)?;
        check_status(&mut resp, &self.registry, what)?;
        Ok(resp)
    }

    fn send_to_registry(
        &mut self,
        method: &str,
        target: &str,
        accept: &str,
    ) -> Result<Response, PullError> {
        let mut headers = vec![("Accept", accept)];
        let authorization = self.authorization.clone();
        if let Some(value) = &authorization {
            headers.push(("Authorization", value));
        }
        match self.exchange_registry(method, target, &headers) {
            Err(TransportError::Tls { .. }) if self.https && self.is_insecure(&self.registry) => {
                // Insecure registries may speak plain HTTP; ask again that way.
                self.https = false;
                Ok(self.exchange_registry(method, target, &headers)?)
            }
            other => Ok(other?),
        }
    }

    fn exchange_registry(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, TransportError> {
        let url = Url::for_registry(&self.registry, self.https, target).ok_or_else(|| {
            TransportError::Malformed {
                addr: self.registry.clone(),
                detail: format!("cannot form a url for {target}"),
            }
        })?;
        self.exchange(method, &url, headers, b"")
    }

    fn exchange(
        &self,
        method: &str,
        url: &Url,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, TransportError> {
        let insecure = self.is_insecure(&url.authority()) || self.is_insecure(&url.host_port());
        http::exchange(&http::Request {
            method,
            url,
            headers,
            body,
            tls: if insecure {
                &self.unverified
            } else {
                &self.verified
            },
            timeout: self.cfg.timeout,
        })
    }

    fn is_insecure(&self, host: &str) -> bool {
        self.cfg
            .insecure_registries
            .iter()
            .any(|listed| listed.eq_ignore_ascii_case(host))
    }

    fn follow_redirects(
        &self,
        method: &str,
        target: &str,
        mut resp: Response,
        accept: &str,
    ) -> Result<Response, PullError> {
        let mut url = Url::for_registry(&self.registry, self.https, target);
        for _ in 0..MAX_REDIRECTS {
            if !matches!(resp.status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let location = resp.header("location").unwrap_or_default().to_owned();
            let next = url
                .as_ref()
                .and_then(|u| u.join(&location))
                .ok_or_else(|| {
                    PullError::Protocol(format!("bad redirect location {location:?}"))
                })?;
            // Blob storage gets no registry credentials: its URL carries its own signature.
            let same_host = next.authority() == self.registry || next.host_port() == self.registry;
            let mut headers = vec![("Accept", accept)];
            if let (true, Some(value)) = (same_host, &self.authorization) {
                headers.push(("Authorization", value.as_str()));
            }
            let next_method = if resp.status == 303 { "GET" } else { method };
            resp = self.exchange(next_method, &next, &headers, b"")?;
            url = Some(next);
        }
        Err(PullError::Protocol(format!(
            "more than {MAX_REDIRECTS} redirects from {}",
            self.registry
        )))
    }

    fn authenticate(&mut self, challenges: &[Challenge]) -> Result<(), PullError> {
        if let Some(bearer) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = self.fetch_token(bearer)?;
            self.authorization = Some(format!("Bearer {token}"));
            return Ok(());
        }
        let basic = challenges.iter().any(|c| c.scheme == "basic");
        match (basic, self.creds) {
            (true, Some(creds)) if self.authorization.is_none() => {
                self.authorization = Some(basic_header(creds));
                Ok(())
            }
            (true, Some(_)) => Err(self.unauthorized("credentials rejected")),
            (true, None) => {
                Err(self.unauthorized("registry wants credentials and none were given"))
            }
            (false, _) => Err(self.unauthorized("no supported authentication challenge")),
        }
    }

    fn unauthorized(&self, detail: &str) -> PullError {
        PullError::Unauthorized {
            registry: self.registry.clone(),
            detail: detail.to_owned(),
        }
    }

    fn fetch_token(&self, challenge: &Challenge) -> Result<String, PullError> {
        let realm = challenge.param("realm").unwrap_or_default();
        let realm_url = Url::parse(realm)
            .ok_or_else(|| PullError::Protocol(format!("bad token realm {realm:?}")))?;
        let scope = format!("repository:{}:pull", self.repository);
        let mut form = vec![("scope", scope.as_str())];
        if let Some(service) = challenge.param("service") {
            form.push(("service", service));
        }
        let mut resp = match self.creds {
            Some(Credentials {
                identity_token: Some(refresh),
                ..
            }) => {
                form.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "wisp"),
                    ("refresh_token", refresh.as_str()),
                ]);
                let body = encode_form(&form);
                let headers = [("Content-Type", "application/x-www-form-urlencoded")];
                self.exchange("POST", &realm_url, &headers, body.as_bytes())?
            }
            creds => {
                let mut url = realm_url.clone();
                let sep = if url.target.contains('?') { '&' } else { '?' };
                url.target = format!("{}{sep}{}", url.target, encode_form(&form));
                let auth = creds.map(basic_header);
                let headers: Vec<(&str, &str)> =
                    auth.iter().map(|a| ("Authorization", a.as_str())).collect();
                self.exchange("GET", &url, &headers, b"")?
            }
        };
        check_status(&mut resp, &realm_url.authority(), "token")?;
        let body = resp.read_to_limit(1024 * 1024).map_err(|source| {
            PullError::Transport(TransportError::Io {
                addr: realm_url.host_port(),
                source,
            })
        })?;
        token_from_json(&body).ok_or_else(|| {
            PullError::Protocol(format!(
                "token server {} sent no token",
                realm_url.authority()
            ))
        })
    }
}

fn basic_header(creds: &Credentials) -> String {
    let raw = format!("{}:{}", creds.username, creds.password);
    format!("Basic {}", STANDARD.encode(raw))
}

fn encode_form(pairs: &[(&str, &str)]) -> String {
    let encoded: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    encoded.join("&")
}

fn token_from_json(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let Value::Object(doc) = miniserde::json::from_str::<Value>(text).ok()? else {
        return None;
    };
    ["token", "access_token"]
        .iter()
        .find_map(|key| match doc.get(*key) {
            Some(Value::String(token)) if !token.is_empty() => Some(token.clone()),
            _ => None,
        })
}

/// Turns a non-2xx response into the matching error, reading the registry's error body.
pub fn check_status(resp: &mut Response, registry: &str, what: &str) -> Result<(), PullError> {
    if (200..300).contains(&resp.status) {
        return Ok(());
    }
    let detail = error_detail(resp);
    Err(match resp.status {
        404 => PullError::NotFound {
            what: what.to_owned(),
            detail,
        },
        401 | 403 => PullError::Unauthorized {
            registry: registry.to_owned(),
            detail: format!("{what}: {detail}"),
        },
        status => PullError::Registry {
            registry: registry.to_owned(),
            status,
            detail: format!("{what}: {detail}"),
        },
    })
}

/// `CODE: message` from a distribution-spec error body, else the status line's gist.
fn error_detail(resp: &mut Response) -> String {
    let status = format!("http status {}", resp.status);
    let Ok(body) = resp.read_to_limit(MAX_ERROR_BODY) else {
        return status;
    };
    let parsed = std::str::from_utf8(&body)
        .ok()
        .and_then(|text| miniserde::json::from_str::<Value>(text).ok());
    let Some(Value::Object(doc)) = parsed else {
        return status;
    };
    let Some(Value::Array(errors)) = doc.get("errors") else {
        return status;
    };
    let parts: Vec<String> = errors
        .iter()
        .filter_map(|e| match e {
            Value::Object(e) => {
                let field = |k: &str| match e.get(k) {
                    Some(Value::String(s)) => s.clone(),
                    _ => String::new(),
                };
                Some(format!("{}: {}", field("code"), field("message")))
            }
            _ => None,
        })
        .collect();
    if parts.is_empty() {
        status
    } else {
        parts.join("; ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_either_field() {
        assert_eq!(
            token_from_json(br#"{"token":"abc"}"#).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from_json(br#"{"access_token":"xyz","expires_in":300}"#).as_deref(),
            Some("xyz")
        );
        assert_eq!(token_from_json(br#"{"token":""}"#), None);
        assert_eq!(token_from_json(b"nope"), None);
    }

    #[test]
    fn form_encoding() {
        assert_eq!(
            encode_form(&[("scope", "repository:a/b:pull"), ("service", "reg x")]),
            "scope=repository%3Aa%2Fb%3Apull&service=reg%20x"
        );
    }
}
