//! Decoding request bodies into JSON objects by Content-Type: JSON (also what kubectl sends
//! under the YAML apply content type), and the `k8s\0` protobuf envelope that kubectl's
//! typed commands send since client-go 1.31, transcoded to JSON.

use miniserde::json::Value;

use crate::object::meta;
use crate::status::ApiError;

/// The body formats the server understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    Json,
    Protobuf,
}

/// The media type's essence, lowercased, without parameters.
pub fn essence(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("application/json")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Decodes a create/update body into a JSON object.
pub fn decode_object(content_type: Option<&str>, body: &[u8]) -> Result<Value, ApiError> {
    let ct = essence(content_type);
    let format = match ct.as_str() {
        "application/json" | "application/yaml" | "" => BodyFormat::Json,
        "application/vnd.kubernetes.protobuf" => BodyFormat::Protobuf,
        _ => return Err(ApiError::unsupported_media_type(&ct)),
    };
    let value = match format {
        BodyFormat::Json => parse_json(body)?,
        BodyFormat::Protobuf => crate::protobuf::decode_to_json(body).map_err(|e| match e {
            crate::protobuf::ProtobufError::UnsupportedKind { .. } => ApiError {
                message: format!("{e}: send this object as application/json"),
                ..ApiError::unsupported_media_type(&ct)
            },
            other => ApiError::bad_request(format!("invalid protobuf body: {other}")),
        })?,
    };
    if meta::as_object(&value).is_none() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Parses a JSON document, with upstream's wording for syntax errors.
pub fn parse_json(body: &[u8]) -> Result<Value, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request("the request body is empty"));
    }
    meta::from_json_bytes(body).ok_or_else(|| {
        ApiError::bad_request(
            "the body of the request could not be decoded: invalid JSON (or not UTF-8)",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_decode_and_other_shapes_are_400() {
        let v = decode_object(
            Some("application/json; charset=utf-8"),
            br#"{"kind":"Pod"}"#,
        )
        .unwrap();
        assert!(meta::as_object(&v).is_some());
        assert_eq!(decode_object(None, b"[1]").unwrap_err().code, 400);
        assert_eq!(decode_object(None, b"{").unwrap_err().code, 400);
        assert_eq!(decode_object(None, b"").unwrap_err().code, 400);
    }

    #[test]
    fn unknown_media_types_are_415() {
        assert_eq!(
            decode_object(Some("text/plain"), b"{}").unwrap_err().code,
            415
        );
    }
}
