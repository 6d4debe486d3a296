//! The one error type of the protobuf transcoder, and the HTTP status each variant maps to.

use std::fmt;

/// Why a `application/vnd.kubernetes.protobuf` body could not be turned into JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtobufError {
    /// The body does not start with the `k8s\0` magic.
    MissingMagic,
    /// The body is larger than [`super::MAX_BODY_BYTES`].
    BodyTooLarge { len: usize },
    /// The JSON produced would exceed the output budget (a small body that expands hugely).
    OutputTooLarge,
    /// Messages nested deeper than [`super::MAX_DEPTH`].
    TooDeep,
    /// The input ended inside a key, varint, fixed-size value or length-delimited field.
    Truncated,
    /// A varint longer than 10 bytes or overflowing 64 bits.
    BadVarint,
    /// Field number 0 or above the protobuf maximum.
    BadFieldNumber,
    /// Wire type 3/4 (groups, never produced by Kubernetes) or 6/7 (undefined).
    UnsupportedWireType { wire_type: u8 },
    /// A known field arrived with a wire type its schema does not allow.
    WrongWireType { field: &'static str, wire_type: u8 },
    /// An int32 field whose varint does not fit an int32.
    IntOutOfRange { field: &'static str },
    /// A string field that is not UTF-8.
    InvalidUtf8 { field: &'static str },
    /// A double that JSON cannot carry (NaN or infinite).
    NonFiniteNumber { field: &'static str },
    /// A Time or MicroTime outside the years 0000-9999 that RFC 3339 can write.
    TimeOutOfRange,
    /// An IntOrString whose type is neither 0 (int) nor 1 (string).
    BadIntOrString,
    /// A FieldsV1 or RawExtension whose raw bytes are not JSON.
    InvalidRawJson,
    /// The envelope carries no TypeMeta kind.
    MissingKind,
    /// The envelope asks for a content encoding or type this server cannot read.
    UnsupportedEncoding {
        content_encoding: String,
        content_type: String,
    },
    /// A kind this server has no protobuf schema for; the API answers 415.
    UnsupportedKind { api_version: String, kind: String },
}

impl ProtobufError {
    /// The HTTP status the API server answers with: 415 when the body is well-formed but
    /// not something this server can transcode, 413 when too large, 400 otherwise.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::UnsupportedKind { .. } | Self::UnsupportedEncoding { .. } => 415,
            Self::BodyTooLarge { .. } | Self::OutputTooLarge => 413,
            _ => 400,
        }
    }
}

impl fmt::Display for ProtobufError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingMagic => f.write_str("protobuf body does not start with the k8s magic"),
            Self::BodyTooLarge { len } => write!(f, "protobuf body of {len} bytes is too large"),
            Self::OutputTooLarge => f.write_str("protobuf body expands to too large an object"),
            Self::TooDeep => f.write_str("protobuf messages nested too deeply"),
            Self::Truncated => f.write_str("protobuf body is truncated"),
            Self::BadVarint => f.write_str("protobuf varint is malformed"),
            Self::BadFieldNumber => f.write_str("protobuf field number is invalid"),
            Self::UnsupportedWireType { wire_type } => {
                write!(f, "protobuf wire type {wire_type} is not supported")
            }
            Self::WrongWireType { field, wire_type } => {
                write!(f, "protobuf field {field} has wrong wire type {wire_type}")
            }
            Self::IntOutOfRange { field } => write!(f, "protobuf field {field} overflows int32"),
            Self::InvalidUtf8 { field } => write!(f, "protobuf field {field} is not valid utf-8"),
            Self::NonFiniteNumber { field } => write!(f, "protobuf field {field} is not finite"),
            Self::TimeOutOfRange => f.write_str("protobuf time is outside years 0000-9999"),
            Self::BadIntOrString => f.write_str("protobuf IntOrString has an impossible type"),
            Self::InvalidRawJson => f.write_str("protobuf raw field does not hold valid json"),
            Self::MissingKind => f.write_str("protobuf envelope has no kind"),
            Self::UnsupportedEncoding {
                content_encoding,
                content_type,
            } => write!(
                f,
                "protobuf envelope content encoding {content_encoding:?} and type \
                 {content_type:?} are not supported"
            ),
            Self::UnsupportedKind { api_version, kind } => write!(
                f,
                "protobuf bodies of kind {kind} in {api_version} are not supported; \
                 send application/json"
            ),
        }
    }
}

impl std::error::Error for ProtobufError {}
