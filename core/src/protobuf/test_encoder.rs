//! A tiny protobuf writer for tests: builds bodies field by field the way Go's generated
//! marshallers do, so the decoder can be checked without a protobuf library.

/// Appends protobuf fields to a buffer.
#[derive(Debug, Default)]
pub(crate) struct Encoder {
    buf: Vec<u8>,
}

impl Encoder {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        self.buf
    }

    #[allow(clippy::cast_possible_truncation, reason = "masked to seven bits")]
    pub(crate) fn raw_varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v & 0x7f) as u8 | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    pub(crate) fn key(&mut self, field: u32, wire_type: u8) -> &mut Self {
        self.raw_varint((u64::from(field) << 3) | u64::from(wire_type))
    }

    pub(crate) fn varint(&mut self, field: u32, v: u64) -> &mut Self {
        self.key(field, 0).raw_varint(v)
    }

    pub(crate) fn int64(&mut self, field: u32, v: i64) -> &mut Self {
        self.varint(field, v.cast_unsigned())
    }

    /// Negative int32s are sign-extended to ten bytes, as protobuf requires.
    pub(crate) fn int32(&mut self, field: u32, v: i32) -> &mut Self {
        self.int64(field, i64::from(v))
    }

    pub(crate) fn bool(&mut self, field: u32, v: bool) -> &mut Self {
        self.varint(field, u64::from(v))
    }

    pub(crate) fn double(&mut self, field: u32, v: f64) -> &mut Self {
        self.key(field, 1);
        self.buf.extend(v.to_bits().to_le_bytes());
        self
    }

    pub(crate) fn bytes(&mut self, field: u32, v: &[u8]) -> &mut Self {
        self.key(field, 2).raw_varint(v.len() as u64);
        self.buf.extend_from_slice(v);
        self
    }

    pub(crate) fn string(&mut self, field: u32, v: &str) -> &mut Self {
        self.bytes(field, v.as_bytes())
    }

    /// A nested message built by `build`.
    pub(crate) fn message(&mut self, field: u32, build: impl FnOnce(&mut Encoder)) -> &mut Self {
        let mut inner = Encoder::new();
        build(&mut inner);
        self.bytes(field, &inner.finish())
    }

    /// A `map<string, string>` entry.
    pub(crate) fn map_entry(&mut self, field: u32, key: &str, value: &str) -> &mut Self {
        self.message(field, |e| {
            e.string(1, key).string(2, value);
        })
    }
}

/// The `k8s\0` + runtime.Unknown envelope around an object's message, as client-go sends.
pub(crate) fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    let mut e = Encoder::new();
    e.message(1, |t| {
        t.string(1, api_version).string(2, kind);
    })
    .bytes(2, raw)
    .string(3, "")
    .string(4, "");
    let mut body = b"k8s\0".to_vec();
    body.extend(e.finish());
    body
}
