//! A Docker-style token server on loopback: checks Basic credentials (USER/PASSWORD) and
//! answers with an ES256 JWT granting the requested repository actions, signed by a
//! self-signed key the registry trusts through `rootcertbundle` (the JWT carries the
//! certificate in `x5c`). Answers are chunked so the client's chunked decoding is exercised.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};

use super::scripted::{ScriptedServer, Seen, chunked_response, response};
use super::{PASSWORD, USER};

pub const SERVICE: &str = "wisp-test-registry";
pub const ISSUER: &str = "wisp-test-token-issuer";

pub struct TokenServer {
    pub server: ScriptedServer,
    pub cert_pem: String,
}

impl TokenServer {
    pub fn start() -> TokenServer {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
        let mut params = CertificateParams::default();
        params
            .distinguished_name
            .push(DnType::CommonName, "wisp token signer");
        let cert = params.self_signed(&key).unwrap();
        let signer = Signer {
            pkcs8: key.serialize_der(),
            cert_der: cert.der().to_vec(),
        };
        let server = ScriptedServer::start(move |req| answer(req, &signer));
        TokenServer {
            server,
            cert_pem: cert.pem(),
        }
    }

    pub fn host(&self) -> &str {
        &self.server.host
    }

    pub fn request_count(&self) -> usize {
        self.server.requests().len()
    }
}

/// The identity (refresh) token the server accepts in OAuth2 form posts.
pub const REFRESH_TOKEN: &str = "wisp-refresh-token";

fn answer(req: &Seen, signer: &Signer) -> Vec<u8> {
    if req.method == "POST" {
        return answer_refresh(req, signer);
    }
    let expected = format!("Basic {}", STANDARD.encode(format!("{USER}:{PASSWORD}")));
    if req.header("authorization") != Some(expected.as_str()) {
        let body = br#"{"details":"bad credentials"}"#;
        return response(
            "401 Unauthorized",
            &[("Content-Type", "application/json")],
            body,
        );
    }
    let token = signer.token(&scopes(&req.target));
    let body = format!(r#"{{"token":"{token}","expires_in":300}}"#);
    chunked_response(
        "200 OK",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
        100,
    )
}

/// OAuth2 `grant_type=refresh_token` as Docker's identity tokens use it.
fn answer_refresh(req: &Seen, signer: &Signer) -> Vec<u8> {
    let form = String::from_utf8_lossy(&req.body).into_owned();
    let field = |name: &str| {
        form.split('&')
            .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
            .map(percent_decode)
    };
    let granted = field("grant_type").as_deref() == Some("refresh_token")
        && field("refresh_token").as_deref() == Some(REFRESH_TOKEN);
    if !granted {
        return response("401 Unauthorized", &[], b"{}");
    }
    let token = signer.token(&scopes(&format!("?{form}")));
    let body = format!(r#"{{"access_token":"{token}","expires_in":300}}"#);
    response(
        "200 OK",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

/// `repository:<name>:<actions>` scopes from a token request's query.
fn scopes(target: &str) -> Vec<(String, Vec<String>)> {
    let query = target.split_once('?').map_or("", |(_, q)| q);
    query
        .split('&')
        .filter_map(|pair| pair.strip_prefix("scope="))
        .filter_map(|scope| {
            let scope = percent_decode(scope);
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            (kind == "repository").then(|| {
                let actions = actions.split(',').map(str::to_owned).collect();
                (name.to_owned(), actions)
            })
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
            if let Ok(b) = u8::from_str_radix(hex, 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

struct Signer {
    pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
}

impl Signer {
    fn token(&self, access: &[(String, Vec<String>)]) -> String {
        let header = format!(
            r#"{{"typ":"JWT","alg":"ES256","x5c":["{}"]}}"#,
            STANDARD.encode(&self.cert_der)
        );
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let access: Vec<String> = access
            .iter()
            .map(|(name, actions)| {
                let actions: Vec<String> = actions.iter().map(|a| format!("\"{a}\"")).collect();
                format!(
                    r#"{{"type":"repository","name":"{name}","actions":[{}]}}"#,
                    actions.join(",")
                )
            })
            .collect();
        let claims = format!(
            r#"{{"iss":"{ISSUER}","sub":"{USER}","aud":"{SERVICE}","exp":{},"nbf":{},"iat":{},"jti":"{now}","access":[{}]}}"#,
            now + 300,
            now - 10,
            now - 10,
            access.join(",")
        );
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let rng = ring::rand::SystemRandom::new();
        let key = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &self.pkcs8,
            &rng,
        )
        .unwrap();
        let signature = key.sign(&rng, signing_input.as_bytes()).unwrap();
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }
}
