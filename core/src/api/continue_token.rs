//! List continuation tokens: opaque to clients, they carry the revision of the first page
//! and the key to continue after. Like upstream's, they are base64 of a small JSON object.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::object::meta;
use crate::status::ApiError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContinueToken {
    pub revision: u64,
    pub start_after: String,
}

impl ContinueToken {
    pub fn encode(&self) -> String {
        let json = format!(
            "{{\"v\":\"meta.k8s.io/v1\",\"rv\":{},\"start\":{}}}",
            self.revision,
            crate::status::json_str(&self.start_after)
        );
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(token: &str) -> Result<ContinueToken, ApiError> {
        let invalid = || {
            ApiError::bad_request(
                "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
            )
        };
        let bytes = URL_SAFE_NO_PAD
            .decode(token.trim_end_matches('='))
            .map_err(|_| invalid())?;
        let v = meta::from_json_bytes(&bytes).ok_or_else(invalid)?;
        if meta::get_str(&v, &["v"]) != Some("meta.k8s.io/v1") {
            return Err(invalid());
        }
        let revision = meta::get_i64(&v, &["rv"])
            .and_then(|r| u64::try_from(r).ok())
            .ok_or_else(invalid)?;
        let start_after = meta::get_str(&v, &["start"])
            .ok_or_else(invalid)?
            .to_owned();
        Ok(ContinueToken {
            revision,
            start_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_garbage() {
        let t = ContinueToken {
            revision: 42,
            start_after: "/registry/core/pods/ns/\"a\"".into(),
        };
        assert_eq!(ContinueToken::decode(&t.encode()).unwrap(), t);
        assert_eq!(ContinueToken::decode("!!!").unwrap_err().code, 400);
        assert_eq!(
            ContinueToken::decode(&URL_SAFE_NO_PAD.encode("{}"))
                .unwrap_err()
                .code,
            400
        );
    }
}
