//! Wire values to JSON scalars, the way Go's encoding/json writes the decoded Go value:
//! strings, int32/int64 as integers, bools, doubles, and `[]byte` as padded base64.

use miniserde::json::{Number, Value};

use super::error::ProtobufError;
use super::wire::WireValue;

/// The payload of a length-delimited field.
pub(super) fn bytes<'a>(
    field: &'static str,
    value: WireValue<'a>,
) -> Result<&'a [u8], ProtobufError> {
    match value {
        WireValue::Bytes(bytes) => Ok(bytes),
        other => Err(wrong_wire_type(field, other)),
    }
}

/// The value of a varint field.
pub(super) fn varint(field: &'static str, value: WireValue<'_>) -> Result<u64, ProtobufError> {
    match value {
        WireValue::Varint(v) => Ok(v),
        other => Err(wrong_wire_type(field, other)),
    }
}

pub(super) fn wrong_wire_type(field: &'static str, value: WireValue<'_>) -> ProtobufError {
    ProtobufError::WrongWireType {
        field,
        wire_type: value.wire_type(),
    }
}

/// A UTF-8 string field.
pub(super) fn string(field: &'static str, value: WireValue<'_>) -> Result<String, ProtobufError> {
    let raw = bytes(field, value)?;
    let text = std::str::from_utf8(raw).map_err(|_| ProtobufError::InvalidUtf8 { field })?;
    Ok(text.to_owned())
}

/// An int32 field: negative values arrive sign-extended to 64 bits, as protobuf requires.
pub(super) fn int32(field: &'static str, value: WireValue<'_>) -> Result<i32, ProtobufError> {
    let raw = varint(field, value)?.cast_signed();
    i32::try_from(raw).map_err(|_| ProtobufError::IntOutOfRange { field })
}

/// An int64 field: the varint's bits reinterpreted as two's complement.
pub(super) fn int64(field: &'static str, value: WireValue<'_>) -> Result<i64, ProtobufError> {
    Ok(varint(field, value)?.cast_signed())
}

/// A JSON integer as the JSON parser would produce it for the same digits.
pub(super) fn integer(n: i64) -> Value {
    match u64::try_from(n) {
        Ok(unsigned) => Value::Number(Number::U64(unsigned)),
        Err(_) => Value::Number(Number::I64(n)),
    }
}

/// A double field. Go writes integral doubles without a fraction ("2", not "2.0"), which a
/// JSON parser reads back as an integer, so those become integers here too.
pub(super) fn double(field: &'static str, value: WireValue<'_>) -> Result<Value, ProtobufError> {
    let WireValue::Fixed64(bits) = value else {
        return Err(wrong_wire_type(field, value));
    };
    let d = f64::from_bits(bits);
    if !d.is_finite() {
        return Err(ProtobufError::NonFiniteNumber { field });
    }
    // 2^53: beyond it not every integer is representable, so leave such values as doubles
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if d.fract() == 0.0 && d.abs() <= EXACT {
        #[allow(clippy::cast_possible_truncation, reason = "integral and within 2^53")]
        return Ok(integer(d as i64));
    }
    Ok(Value::Number(Number::F64(d)))
}

/// Standard padded base64, as encoding/json writes a `[]byte`.
pub(super) fn base64(input: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xfb, 0xff, 0xbf]), "+/+/");
    }

    #[test]
    fn int32_accepts_sign_extension_and_rejects_overflow() {
        let minus_one = WireValue::Varint(u64::MAX);
        assert_eq!(int32("f", minus_one), Ok(-1));
        assert_eq!(
            int32("f", WireValue::Varint(1 << 31)),
            Err(ProtobufError::IntOutOfRange { field: "f" })
        );
        assert_eq!(int64("f", minus_one), Ok(-1));
        assert!(matches!(
            int32("f", WireValue::Bytes(b"")),
            Err(ProtobufError::WrongWireType { .. })
        ));
    }

    #[test]
    fn doubles_become_integers_when_go_would_print_them_so() {
        let as_json = |d: f64| {
            miniserde::json::to_string(&double("f", WireValue::Fixed64(d.to_bits())).unwrap())
        };
        assert_eq!(as_json(2.0), "2");
        assert_eq!(as_json(-3.0), "-3");
        assert_eq!(as_json(0.5), "0.5");
        assert!(double("f", WireValue::Fixed64(f64::NAN.to_bits())).is_err());
    }

    #[test]
    fn strings_must_be_utf8() {
        assert_eq!(
            string("f", WireValue::Bytes("ü".as_bytes())),
            Ok("ü".to_owned())
        );
        assert_eq!(
            string("f", WireValue::Bytes(&[0xff])),
            Err(ProtobufError::InvalidUtf8 { field: "f" })
        );
    }
}
