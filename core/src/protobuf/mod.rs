//! Protobuf request bodies to JSON.
//!
//! Since client-go 1.31, kubectl's typed commands (`create configmap|secret|deployment|…`,
//! `auth can-i`, `create token`, drain's evictions) send `application/vnd.kubernetes.protobuf`
//! bodies: the magic `k8s\0`, then a runtime.Unknown `{1: TypeMeta{1: apiVersion, 2: kind},
//! 2: raw, 3: contentEncoding, 4: contentType}` whose raw is the object's message from
//! k8s.io/api's generated.proto. The server stores JSON, so this module transcodes such a
//! body into exactly the JSON value the same object would have had as a JSON request, using
//! a schema table (data, not code) for the kinds kubectl's typed clients send. Any other
//! kind is [`ProtobufError::UnsupportedKind`], which the API answers with 415.
//!
//! It owns only the request direction: responses are always JSON, which every kubectl
//! Accept header allows. Input is untrusted: the reader is bounded (body size, nesting
//! depth, output size, every length checked against the bytes left) and never panics.

mod error;
mod scalar;
mod schema;
#[rustfmt::skip]
mod schema_table;
#[cfg(test)]
pub(crate) mod test_encoder;
#[cfg(test)]
mod tests;
mod transcode;
mod wellknown;
mod wire;

use miniserde::json::{Object, Value};

pub use error::ProtobufError;

/// The Content-Type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
/// The four bytes every Kubernetes protobuf body starts with.
pub const MAGIC: &[u8; 4] = b"k8s\0";
/// Largest body accepted, as upstream's request body limit (3 MiB).
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;
/// Deepest message nesting accepted; the deepest path in the schema is far shallower.
pub const MAX_DEPTH: usize = 64;
/// Budget of the JSON value produced, in approximate heap bytes: room for a full-size
/// Secret's base64 or tens of thousands of small values, while 3 MiB of tiny fields cannot
/// expand into a tree much larger than the JSON path would build for a 3 MiB JSON body.
pub const MAX_OUTPUT_BYTES: usize = 8 * 1024 * 1024;

/// Transcodes a `k8s\0` protobuf request body into the object's JSON, with `apiVersion`
/// and `kind` from the envelope.
pub fn decode_to_json(body: &[u8]) -> Result<Value, ProtobufError> {
    if body.len() > MAX_BODY_BYTES {
        return Err(ProtobufError::BodyTooLarge { len: body.len() });
    }
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or(ProtobufError::MissingMagic)?;
    let envelope = Envelope::parse(rest)?;
    if !envelope.content_encoding.is_empty()
        || !(envelope.content_type.is_empty() || envelope.content_type == CONTENT_TYPE)
    {
        return Err(ProtobufError::UnsupportedEncoding {
            content_encoding: envelope.content_encoding,
            content_type: envelope.content_type,
        });
    }
    if envelope.kind.is_empty() {
        return Err(ProtobufError::MissingKind);
    }
    let Some(message) = schema::lookup(&envelope.api_version, &envelope.kind) else {
        return Err(ProtobufError::UnsupportedKind {
            api_version: envelope.api_version,
            kind: envelope.kind,
        });
    };
    let mut object = Object::new();
    if !envelope.api_version.is_empty() {
        object.insert("apiVersion".to_owned(), Value::String(envelope.api_version));
    }
    object.insert("kind".to_owned(), Value::String(envelope.kind));
    let mut transcoder = transcode::Transcoder::new(MAX_OUTPUT_BYTES);
    transcoder.message_into(message, envelope.raw, &mut object, 1)?;
    Ok(Value::Object(object))
}

/// The runtime.Unknown wrapper around the object.
#[derive(Debug, Default)]
struct Envelope<'a> {
    api_version: String,
    kind: String,
    raw: &'a [u8],
    content_encoding: String,
    content_type: String,
}

impl<'a> Envelope<'a> {
    fn parse(body: &'a [u8]) -> Result<Self, ProtobufError> {
        let mut envelope = Envelope::default();
        let mut reader = wire::Reader::new(body);
        while let Some((number, value)) = reader.next_field()? {
            match number {
                1 => envelope.type_meta(scalar::bytes("typeMeta", value)?)?,
                2 => envelope.raw = scalar::bytes("raw", value)?,
                3 => envelope.content_encoding = scalar::string("contentEncoding", value)?,
                4 => envelope.content_type = scalar::string("contentType", value)?,
                _ => {}
            }
        }
        Ok(envelope)
    }

    fn type_meta(&mut self, body: &[u8]) -> Result<(), ProtobufError> {
        let mut reader = wire::Reader::new(body);
        while let Some((number, value)) = reader.next_field()? {
            match number {
                1 => self.api_version = scalar::string("apiVersion", value)?,
                2 => self.kind = scalar::string("kind", value)?,
                _ => {}
            }
        }
        Ok(())
    }
}
