//! ServiceAccount tokens as JWTs (RFC 7519) signed ES256 with a P-256 key that wisp
//! generates once and keeps in `<data-dir>/pki/service-account.key` (PKCS#8 PEM, 0600).
//! This module owns the key, the claim set upstream's bound tokens carry
//! (k8s.io/kubernetes/pkg/serviceaccount/claims.go) and the checks that need no store:
//! signature, algorithm, issuer, audience, exp/nbf with upstream's one-minute leeway.
//! Whether the bound objects still exist is [`super::service_account`]'s job.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use miniserde::json::{Number, Object, Value};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair,
    UnparsedPublicKey,
};

use crate::object::meta;

/// The issuer (and default audience) of tokens, as kubeadm clusters name it.
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
pub const KEY_FILE: &str = "service-account.key";
/// go-jose's DefaultLeeway, which upstream's validator uses for exp and nbf.
const LEEWAY_SECS: i64 = 60;
/// A JWT larger than this is refused before any decoding.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    Malformed(&'static str),
    Algorithm(String),
    Signature,
    Expired,
    NotYetValid,
    Issuer,
    Audience,
    Key(String),
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::Malformed(what) => write!(f, "malformed token: {what}"),
            TokenError::Algorithm(a) => write!(f, "unsupported signing algorithm {a:?}"),
            TokenError::Signature => write!(f, "invalid signature"),
            TokenError::Expired => write!(f, "token has expired"),
            TokenError::NotYetValid => write!(f, "token is not valid yet"),
            TokenError::Issuer => write!(f, "token issuer is not trusted"),
            TokenError::Audience => write!(f, "token audiences are not accepted"),
            TokenError::Key(e) => write!(f, "service account signing key: {e}"),
        }
    }
}

impl std::error::Error for TokenError {}

/// A reference to a bound object in the `kubernetes.io` claim.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectRef {
    pub name: String,
    pub uid: String,
}

/// The claims of a ServiceAccount token.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Claims {
    pub issuer: String,
    pub audiences: Vec<String>,
    pub subject: String,
    pub issued_at: i64,
    pub not_before: i64,
    pub expires: i64,
    pub id: String,
    pub namespace: String,
    pub service_account: ObjectRef,
    pub pod: Option<ObjectRef>,
    pub secret: Option<ObjectRef>,
}

fn int(n: i64) -> Value {
    Value::Number(Number::I64(n))
}

fn str_value(s: &str) -> Value {
    Value::String(s.to_owned())
}

fn ref_json(r: &ObjectRef) -> Value {
    let mut o = Object::new();
    o.insert("name".into(), str_value(&r.name));
    o.insert("uid".into(), str_value(&r.uid));
    Value::Object(o)
}

fn ref_from(v: &Value, key: &str) -> Option<ObjectRef> {
    Some(ObjectRef {
        name: meta::get_str(v, &["kubernetes.io", key, "name"])?.to_owned(),
        uid: meta::get_str(v, &["kubernetes.io", key, "uid"])
            .unwrap_or("")
            .to_owned(),
    })
}

impl Claims {
    fn to_json(&self) -> String {
        let mut k8s = Object::new();
        k8s.insert("namespace".into(), str_value(&self.namespace));
        k8s.insert("serviceaccount".into(), ref_json(&self.service_account));
        if let Some(p) = &self.pod {
            k8s.insert("pod".into(), ref_json(p));
        }
        if let Some(s) = &self.secret {
            k8s.insert("secret".into(), ref_json(s));
        }
        let mut o = Object::new();
        let aud = self.audiences.iter().map(|a| str_value(a)).collect();
        o.insert("aud".into(), Value::Array(aud));
        o.insert("exp".into(), int(self.expires));
        o.insert("iat".into(), int(self.issued_at));
        o.insert("iss".into(), str_value(&self.issuer));
        o.insert("jti".into(), str_value(&self.id));
        o.insert("kubernetes.io".into(), Value::Object(k8s));
        o.insert("nbf".into(), int(self.not_before));
        o.insert("sub".into(), str_value(&self.subject));
        miniserde::json::to_string(&Value::Object(o))
    }

    fn from_json(bytes: &[u8]) -> Result<Claims, TokenError> {
        let v = meta::from_json_bytes(bytes).ok_or(TokenError::Malformed("claims"))?;
        let s = |k: &str| meta::get_str(&v, &[k]).unwrap_or("").to_owned();
        // `aud` may be one string or a list (RFC 7519 section 4.1.3).
        let audiences = match meta::get_path(&v, &["aud"]) {
            Some(Value::String(a)) => vec![a.clone()],
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(|i| match i {
                    Value::String(a) => Some(a.clone()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        Ok(Claims {
            issuer: s("iss"),
            audiences,
            subject: s("sub"),
            issued_at: meta::get_i64(&v, &["iat"]).unwrap_or(0),
            not_before: meta::get_i64(&v, &["nbf"]).unwrap_or(0),
            expires: meta::get_i64(&v, &["exp"]).ok_or(TokenError::Malformed("no exp"))?,
            id: s("jti"),
            namespace: meta::get_str(&v, &["kubernetes.io", "namespace"])
                .ok_or(TokenError::Malformed("no namespace claim"))?
                .to_owned(),
            service_account: ref_from(&v, "serviceaccount")
                .ok_or(TokenError::Malformed("no serviceaccount claim"))?,
            pod: ref_from(&v, "pod"),
            secret: ref_from(&v, "secret"),
        })
    }

    /// Issuer, time window and audience checks. Returns the audiences of `accepted` that
    /// the token carries (TokenReview reports them).
    pub fn validate(&self, now: i64, accepted: &[String]) -> Result<Vec<String>, TokenError> {
        if self.issuer != ISSUER {
            return Err(TokenError::Issuer);
        }
        if now - LEEWAY_SECS > self.expires {
            return Err(TokenError::Expired);
        }
        if now + LEEWAY_SECS < self.not_before {
            return Err(TokenError::NotYetValid);
        }
        let matched: Vec<String> = accepted
            .iter()
            .filter(|a| self.audiences.contains(a))
            .cloned()
            .collect();
        if matched.is_empty() {
            return Err(TokenError::Audience);
        }
        Ok(matched)
    }
}

/// The signing key and its public half.
pub struct TokenKey {
    pair: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TokenKey(kid {})", self.key_id)
    }
}

impl TokenKey {
    /// A fresh key and its PKCS#8 DER.
    pub fn generate() -> Result<(TokenKey, Vec<u8>), TokenError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| TokenError::Key("generation failed".into()))?;
        let der = doc.as_ref().to_vec();
        Ok((TokenKey::from_pkcs8(&der)?, der))
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<TokenKey, TokenError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der, &rng)
            .map_err(|e| TokenError::Key(e.to_string()))?;
        // upstream's kid: a hash of the public key, so verifiers can pick among keys.
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let key_id = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(TokenKey { pair, key_id, rng })
    }

    /// Loads `<dir>/service-account.key`, creating it on first start. Blocking.
    pub fn load_or_create(dir: &Path) -> Result<TokenKey, TokenError> {
        let path = dir.join(KEY_FILE);
        let io = |e: std::io::Error| TokenError::Key(format!("{}: {e}", path.display()));
        if let Some(pem) = crate::pki::read_if_exists(&path).map_err(io)? {
            return TokenKey::from_pkcs8(&pem_body(&pem)?);
        }
        let (key, der) = TokenKey::generate()?;
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(der)
        );
        crate::pki::write_private_atomic(&path, pem.as_bytes()).map_err(io)?;
        Ok(key)
    }

    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = format!(r#"{{"alg":"ES256","kid":"{}"}}"#, self.key_id);
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_json())
        );
        let sig = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Key("signing failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(sig.as_ref())
        ))
    }

    /// Checks the signature and decodes the claims; times and audiences are
    /// [`Claims::validate`]'s.
    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Malformed("too large"));
        }
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not three parts"));
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Malformed("base64"))
        };
        let header = meta::from_json_bytes(&decode(h)?).ok_or(TokenError::Malformed("header"))?;
        match meta::get_str(&header, &["alg"]) {
            Some("ES256") => {}
            other => return Err(TokenError::Algorithm(other.unwrap_or("").to_owned())),
        }
        let public =
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref());
        let signing_input = &token[..h.len() + 1 + p.len()];
        public
            .verify(signing_input.as_bytes(), &decode(s)?)
            .map_err(|_| TokenError::Signature)?;
        Claims::from_json(&decode(p)?)
    }
}

fn pem_body(pem: &str) -> Result<Vec<u8>, TokenError> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::trim)
        .collect();
    STANDARD
        .decode(body)
        .map_err(|_| TokenError::Key("not a PEM private key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(now: i64) -> Claims {
        Claims {
            issuer: ISSUER.into(),
            audiences: vec![ISSUER.into()],
            subject: "system:serviceaccount:demo:default".into(),
            issued_at: now,
            not_before: now,
            expires: now + 600,
            id: "j1".into(),
            namespace: "demo".into(),
            service_account: ObjectRef {
                name: "default".into(),
                uid: "u1".into(),
            },
            pod: None,
            secret: None,
        }
    }

    #[test]
    fn signs_and_verifies() {
        let (key, _) = TokenKey::generate().unwrap();
        let c = claims(1000);
        let t = key.sign(&c).unwrap();
        assert_eq!(key.verify(&t).unwrap(), c);
        assert_eq!(
            c.validate(1000, &[ISSUER.into()]).unwrap(),
            vec![ISSUER.to_owned()]
        );
    }

    #[test]
    fn a_token_of_another_key_is_refused() {
        let (ours, _) = TokenKey::generate().unwrap();
        let (theirs, _) = TokenKey::generate().unwrap();
        let t = theirs.sign(&claims(1000)).unwrap();
        assert_eq!(ours.verify(&t), Err(TokenError::Signature));
    }

    #[test]
    fn tampered_claims_and_other_algorithms_are_refused() {
        let (key, _) = TokenKey::generate().unwrap();
        let t = key.sign(&claims(1000)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let mut forged = claims(1000);
        forged.subject = "system:serviceaccount:kube-system:admin".into();
        let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_json());
        let tampered = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(key.verify(&tampered), Err(TokenError::Signature));
        let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
        let unsigned = format!("{none_header}.{}.", parts[1]);
        assert_eq!(
            key.verify(&unsigned),
            Err(TokenError::Algorithm("none".into()))
        );
        assert!(matches!(key.verify("a.b"), Err(TokenError::Malformed(_))));
    }

    #[test]
    fn expiry_not_before_issuer_and_audience() {
        let c = claims(1000);
        assert_eq!(
            c.validate(1000 + 600 + 61, &[ISSUER.into()]),
            Err(TokenError::Expired)
        );
        assert!(c.validate(1000 + 600 + 30, &[ISSUER.into()]).is_ok());
        assert_eq!(
            c.validate(1000 - 61, &[ISSUER.into()]),
            Err(TokenError::NotYetValid)
        );
        assert_eq!(
            c.validate(1000, &["vault".into()]),
            Err(TokenError::Audience)
        );
        let mut other = c.clone();
        other.issuer = "https://evil".into();
        assert_eq!(
            other.validate(1000, &[ISSUER.into()]),
            Err(TokenError::Issuer)
        );
    }

    #[test]
    fn the_key_file_is_created_once_and_reloaded() {
        let dir = std::env::temp_dir().join(format!("wisp-token-key-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = TokenKey::load_or_create(&dir).unwrap();
        let t = first.sign(&claims(5)).unwrap();
        let again = TokenKey::load_or_create(&dir).unwrap();
        assert_eq!(again.verify(&t).unwrap().id, "j1");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
