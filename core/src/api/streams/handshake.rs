//! The WebSocket opening handshake (RFC 6455 section 4.2) as the Kubernetes stream
//! endpoints do it: check the client's upgrade request, pick the subprotocol (the first
//! one in the client's order that the endpoint speaks, as upstream's wsstream does) and
//! compute `Sec-WebSocket-Accept`. The framing after the 101 lives in [`super::websocket`].

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::status::ApiError;

/// The upgrade-related headers of a request (absent unless it asked to upgrade).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpgradeOffer {
    /// The `Upgrade` header, e.g. `websocket` or `SPDY/3.1`.
    pub upgrade: String,
    pub key: Option<String>,
    pub version: Option<String>,
    /// Every `Sec-WebSocket-Protocol` element, in the client's order.
    pub protocols: Vec<String>,
}

impl UpgradeOffer {
    /// Whether the client asked for a WebSocket.
    pub fn is_websocket(&self) -> bool {
        self.upgrade.eq_ignore_ascii_case("websocket")
    }

    /// Whether the client asked for a raw SPDY/3.1 upgrade (client-go's fallback).
    pub fn is_spdy(&self) -> bool {
        self.upgrade.to_ascii_lowercase().starts_with("spdy/")
    }
}

/// A checked WebSocket request: the headers of the 101 answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub protocol: &'static str,
    pub headers: Vec<(String, String)>,
}

const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Validates `offer` and picks one of `supported`.
pub fn accept(offer: &UpgradeOffer, supported: &[&'static str]) -> Result<Accepted, ApiError> {
    if offer.version.as_deref().map(str::trim) != Some("13") {
        return Err(ApiError::bad_request(
            "websocket: unsupported version: 13 not found in 'Sec-Websocket-Version' header",
        ));
    }
    let key = offer
        .key
        .as_deref()
        .map(str::trim)
        .filter(|k| STANDARD.decode(k).is_ok_and(|raw| raw.len() == 16))
        .ok_or_else(|| {
            ApiError::bad_request("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be Base64 encoded value of 16-byte in length")
        })?;
    let protocol = choose(&offer.protocols, supported).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unable to upgrade: unable to negotiate protocol: client supports {:?}, server supports {:?}",
            offer.protocols, supported
        ))
    })?;
    let headers = vec![
        ("Upgrade".to_owned(), "websocket".to_owned()),
        ("Connection".to_owned(), "Upgrade".to_owned()),
        ("Sec-WebSocket-Accept".to_owned(), accept_key(key)),
        ("Sec-WebSocket-Protocol".to_owned(), protocol.to_owned()),
    ];
    Ok(Accepted { protocol, headers })
}

fn choose(offered: &[String], supported: &[&'static str]) -> Option<&'static str> {
    offered
        .iter()
        .find_map(|p| supported.iter().find(|s| s.eq_ignore_ascii_case(p.trim())))
        .copied()
}

/// `Sec-WebSocket-Accept`: base64(SHA-1(key + GUID)). SHA-1 is what RFC 6455 fixes; it
/// proves only that the server read the handshake.
pub fn accept_key(key: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("{key}{GUID}").as_bytes(),
    );
    STANDARD.encode(digest.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(protocols: &[&str]) -> UpgradeOffer {
        UpgradeOffer {
            upgrade: "websocket".into(),
            key: Some("dGhlIHNhbXBsZSBub25jZQ==".into()),
            version: Some("13".into()),
            protocols: protocols.iter().map(|p| p.to_string()).collect(),
        }
    }

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn first_client_protocol_the_server_speaks_wins() {
        let supported = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
        let got = accept(
            &offer(&["v4.channel.k8s.io", "v5.channel.k8s.io"]),
            &supported,
        );
        assert_eq!(got.unwrap().protocol, "v4.channel.k8s.io");
        let got = accept(
            &offer(&["v3.channel.k8s.io", "v5.channel.k8s.io"]),
            &supported,
        );
        assert_eq!(got.unwrap().protocol, "v5.channel.k8s.io");
    }

    #[test]
    fn unknown_protocol_bad_key_or_version_is_400() {
        let supported = ["v5.channel.k8s.io"];
        assert_eq!(
            accept(&offer(&["v1.channel.k8s.io"]), &supported)
                .unwrap_err()
                .code,
            400
        );
        assert_eq!(accept(&offer(&[]), &supported).unwrap_err().code, 400);
        let mut bad = offer(&["v5.channel.k8s.io"]);
        bad.key = Some("short".into());
        assert_eq!(accept(&bad, &supported).unwrap_err().code, 400);
        let mut old = offer(&["v5.channel.k8s.io"]);
        old.version = Some("8".into());
        assert_eq!(accept(&old, &supported).unwrap_err().code, 400);
    }
}
