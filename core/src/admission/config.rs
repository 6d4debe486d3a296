//! ConfigMaps and Secrets: valid keys (`IsConfigMapKey`), the 1 MiB size limit, Secret
//! data as base64 text with `stringData` folded into it on write, the Secret type that
//! never changes and the per-type required keys, and `immutable: true` honoured.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use miniserde::json::{Object, Value};

use super::Context;
use super::fields::{go_quote, obj_mut, str_default, string};
use super::object_meta::too_long;
use crate::object::meta;
use crate::patch::value::values_equal;
use crate::status::{ApiError, Cause, field};

/// Upstream's MaxSecretSize, also the ConfigMap limit.
pub const MAX_SIZE: usize = 1024 * 1024;

const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

const IMMUTABLE_MSG: &str = "field is immutable when `immutable` is set";

/// `IsConfigMapKey`.
pub fn key_errors(key: &str) -> Vec<&'static str> {
    let mut errors = Vec::new();
    if key.len() > 253 {
        errors.push("must be no more than 253 characters");
    }
    if key.is_empty()
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        errors.push(KEY_MSG);
    }
    match key {
        "." => errors.push("must not be '.'"),
        ".." => errors.push("must not be '..'"),
        k if k.starts_with("..") => errors.push("must not start with '..'"),
        _ => {}
    }
    errors
}

fn validate_keys(object: &Value, map: &str, causes: &mut Vec<Cause>) {
    if let Some(Value::Object(o)) = meta::get_path(object, &[map]) {
        for key in o.keys() {
            for msg in key_errors(key) {
                causes.push(field::invalid(
                    &format!("{map}[{key}]"),
                    &go_quote(key),
                    msg,
                ));
            }
        }
    }
}

/// Bytes a map's values hold: text as is, or base64 decoded.
fn size_of(object: &Value, map: &str, base64: bool) -> usize {
    let Some(Value::Object(o)) = meta::get_path(object, &[map]) else {
        return 0;
    };
    o.values()
        .map(|v| match v {
            Value::String(s) if base64 => s.len() / 4 * 3,
            Value::String(s) => s.len(),
            _ => 0,
        })
        .sum()
}

fn is_immutable(object: &Value) -> bool {
    matches!(
        meta::get_path(object, &["immutable"]),
        Some(Value::Bool(true))
    )
}

/// An object once `immutable: true` keeps that flag and its data.
fn validate_immutable(new: &Value, old: &Value, maps: &[&str], causes: &mut Vec<Cause>) {
    if !is_immutable(old) {
        return;
    }
    if !is_immutable(new) {
        causes.push(field::forbidden("immutable", IMMUTABLE_MSG));
    }
    for map in maps {
        let same = match (meta::get_path(new, &[map]), meta::get_path(old, &[map])) {
            (Some(a), Some(b)) => values_equal(a, b),
            (None, None) => true,
            _ => false,
        };
        if !same {
            causes.push(field::forbidden(map, IMMUTABLE_MSG));
        }
    }
}

pub fn validate_config_map(ctx: &Context<'_>, cm: &Value, causes: &mut Vec<Cause>) {
    validate_keys(cm, "data", causes);
    validate_keys(cm, "binaryData", causes);
    if let (Some(Value::Object(data)), Some(Value::Object(binary))) = (
        meta::get_path(cm, &["data"]),
        meta::get_path(cm, &["binaryData"]),
    ) {
        for key in data.keys().filter(|k| binary.contains_key(*k)) {
            causes.push(field::invalid(
                &format!("data[{key}]"),
                &go_quote(key),
                "duplicate of key present in binaryData",
            ));
        }
    }
    if size_of(cm, "data", false) + size_of(cm, "binaryData", true) > MAX_SIZE {
        causes.push(too_long("", MAX_SIZE));
    }
    if let Some(old) = ctx.old {
        validate_immutable(cm, old, &["data", "binaryData"], causes);
    }
}

/// Type Opaque unless given; `stringData` merged into `data` as base64 (its keys win, as
/// upstream's conversion does) and dropped; every `data` value must be base64.
pub fn default_secret(secret: &mut Value) -> Result<(), ApiError> {
    let Some(o) = meta::as_object_mut(secret) else {
        return Ok(());
    };
    str_default(o, "type", "Opaque");
    if let Some(Value::Object(text)) = o.remove("stringData") {
        let data = super::fields::ensure_child(o, "data");
        for (k, v) in text {
            if let Value::String(s) = v {
                data.insert(k, string(&STANDARD.encode(s.as_bytes())));
            }
        }
    }
    if let Some(data) = obj_mut(secret, &["data"]) {
        check_base64(data)?;
    }
    Ok(())
}

fn check_base64(data: &Object) -> Result<(), ApiError> {
    for v in data.values() {
        let bad = match v {
            Value::String(s) => STANDARD.decode(s.as_bytes()).err().map(go_base64_error),
            Value::Null => None,
            _ => Some("expected a base64 string".to_owned()),
        };
        if let Some(why) = bad {
            return Err(ApiError::bad_request(format!(
                "Secret in version \"v1\" cannot be handled as a Secret: {why}"
            )));
        }
    }
    Ok(())
}

/// Go's `base64.CorruptInputError` text, which upstream's decode error carries.
fn go_base64_error(e: base64::DecodeError) -> String {
    use base64::DecodeError::{InvalidByte, InvalidLastSymbol, InvalidLength, InvalidPadding};
    let offset = match e {
        InvalidByte(at, _) | InvalidLastSymbol { offset: at, .. } | InvalidLength(at) => at,
        InvalidPadding => 0,
    };
    format!("illegal base64 data at input byte {offset}")
}

/// Keys each well-known Secret type must carry in `data`.
fn required_keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "kubernetes.io/tls" => &["tls.crt", "tls.key"],
        "kubernetes.io/dockerconfigjson" => &[".dockerconfigjson"],
        "kubernetes.io/dockercfg" => &[".dockercfg"],
        "kubernetes.io/ssh-auth" => &["ssh-privatekey"],
        _ => &[],
    }
}

pub fn validate_secret(ctx: &Context<'_>, secret: &Value, causes: &mut Vec<Cause>) {
    validate_keys(secret, "data", causes);
    let kind = meta::get_str(secret, &["type"]).unwrap_or("");
    let data = meta::get_path(secret, &["data"]).and_then(meta::as_object);
    for key in required_keys(kind) {
        if !data.is_some_and(|d| d.contains_key(*key)) {
            causes.push(field::required(&format!("data[{key}]")));
        }
    }
    if kind == "kubernetes.io/service-account-token"
        && meta::get_str(
            secret,
            &[
                "metadata",
                "annotations",
                "kubernetes.io/service-account.name",
            ],
        )
        .unwrap_or("")
        .is_empty()
    {
        causes.push(field::required(
            "metadata.annotations[kubernetes.io/service-account.name]",
        ));
    }
    if size_of(secret, "data", true) > MAX_SIZE {
        causes.push(too_long("data", MAX_SIZE));
    }
    if let Some(old) = ctx.old {
        let before = meta::get_str(old, &["type"]).unwrap_or("");
        if before != kind {
            causes.push(field::immutable("type", &go_quote(kind)));
        }
        validate_immutable(secret, old, &["data"], causes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admission::Operation;
    use crate::admission::tests::{context, parse};

    fn text(causes: &[Cause]) -> Vec<String> {
        causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect()
    }

    #[test]
    fn config_keys() {
        assert!(key_errors("app.properties").is_empty());
        assert_eq!(key_errors("a b"), vec![KEY_MSG]);
        assert_eq!(key_errors(".."), vec!["must not be '..'"]);
        let cm = parse(r#"{"data":{"ok":"1","bad/key":"2"}}"#);
        let mut causes = Vec::new();
        context(Operation::Create, None, |ctx| {
            validate_config_map(ctx, &cm, &mut causes)
        });
        assert_eq!(
            text(&causes),
            vec![format!(
                "data[bad/key]: Invalid value: \"bad/key\": {KEY_MSG}"
            )]
        );
    }

    #[test]
    fn immutable_config_map_keeps_its_data() {
        let old = parse(r#"{"immutable":true,"data":{"a":"1"}}"#);
        let new = parse(r#"{"immutable":true,"data":{"a":"2"}}"#);
        let mut causes = Vec::new();
        context(Operation::Update, Some(&old), |ctx| {
            validate_config_map(ctx, &new, &mut causes)
        });
        assert_eq!(
            text(&causes),
            vec!["data: Forbidden: field is immutable when `immutable` is set"]
        );
        let unset = parse(r#"{"immutable":false,"data":{"a":"1"}}"#);
        let mut causes = Vec::new();
        context(Operation::Update, Some(&old), |ctx| {
            validate_config_map(ctx, &unset, &mut causes)
        });
        assert_eq!(
            text(&causes),
            vec!["immutable: Forbidden: field is immutable when `immutable` is set"]
        );
    }

    #[test]
    fn string_data_folds_into_data() {
        let mut s = parse(r#"{"data":{"a":"eA=="},"stringData":{"a":"y","b":"z"}}"#);
        default_secret(&mut s).unwrap();
        assert_eq!(meta::get_str(&s, &["type"]), Some("Opaque"));
        assert_eq!(meta::get_str(&s, &["data", "a"]), Some("eQ=="));
        assert_eq!(meta::get_str(&s, &["data", "b"]), Some("eg=="));
        assert!(meta::get_path(&s, &["stringData"]).is_none());
    }

    #[test]
    fn secret_data_must_be_base64() {
        let mut s = parse(r#"{"data":{"a":"not base64!"}}"#);
        let err = default_secret(&mut s).expect_err("refused");
        assert_eq!(err.code, 400);
        assert_eq!(
            err.message,
            "Secret in version \"v1\" cannot be handled as a Secret: illegal base64 data at input byte 3"
        );
    }

    #[test]
    fn secret_type_is_immutable_and_tls_needs_its_keys() {
        let old = parse(r#"{"type":"Opaque","data":{}}"#);
        let new = parse(r#"{"type":"kubernetes.io/tls","data":{"tls.crt":"eA=="}}"#);
        let mut causes = Vec::new();
        context(Operation::Update, Some(&old), |ctx| {
            validate_secret(ctx, &new, &mut causes)
        });
        assert_eq!(
            text(&causes),
            vec![
                "data[tls.key]: Required value",
                "type: Invalid value: \"kubernetes.io/tls\": field is immutable",
            ]
        );
    }
}
