//! The apimachinery types whose JSON form is not an object of their protobuf fields:
//! metav1.Time and MicroTime, resource.Quantity, intstr.IntOrString, FieldsV1 and
//! RawExtension (raw JSON), and `[]string` aliases such as ExtraValue.
//!
//! Each follows what upstream's protobuf Unmarshal then JSON MarshalJSON produce for the
//! same bytes (apimachinery pkg/apis/meta/v1/time_proto.go, micro_time_proto.go, time.go,
//! micro_time.go, pkg/util/intstr/intstr.go).

use miniserde::json::{Array, Value};

use super::error::ProtobufError;
use super::scalar;
use super::wire::Reader;

/// metav1.Time `{1: seconds, 2: nanos}`. Upstream drops the nanoseconds on decode and
/// writes whole seconds; an empty message is the zero time, written `null`.
pub(super) fn time(body: &[u8]) -> Result<Value, ProtobufError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let (seconds, _nanos) = timestamp(body)?;
    rfc3339(seconds, None)
}

/// metav1.MicroTime: like Time but keeps the nanoseconds truncated toward zero to whole
/// microseconds, normalised into the seconds as Go's `time.Unix` does.
pub(super) fn micro_time(body: &[u8]) -> Result<Value, ProtobufError> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let (seconds, nanos) = timestamp(body)?;
    let micros_as_nanos = i64::from(nanos) - i64::from(nanos) % 1000;
    let total = i128::from(seconds) * 1_000_000_000 + i128::from(micros_as_nanos);
    let seconds = i64::try_from(total.div_euclid(1_000_000_000))
        .map_err(|_| ProtobufError::TimeOutOfRange)?;
    let micros = u32::try_from(total.rem_euclid(1_000_000_000) / 1000)
        .map_err(|_| ProtobufError::TimeOutOfRange)?;
    rfc3339(seconds, Some(micros))
}

fn timestamp(body: &[u8]) -> Result<(i64, i32), ProtobufError> {
    let mut reader = Reader::new(body);
    let (mut seconds, mut nanos) = (0, 0);
    while let Some((number, value)) = reader.next_field()? {
        match number {
            1 => seconds = scalar::int64("seconds", value)?,
            2 => nanos = scalar::int32("nanos", value)?,
            _ => {}
        }
    }
    Ok((seconds, nanos))
}

/// Seconds of 0001-01-01T00:00:00Z, Go's zero time, which MarshalJSON writes as `null`.
const GO_ZERO_TIME: i64 = -62_135_596_800;
/// 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years RFC 3339 can write.
const MIN_SECONDS: i64 = -62_167_219_200;
const MAX_SECONDS: i64 = 253_402_300_799;

fn rfc3339(seconds: i64, micros: Option<u32>) -> Result<Value, ProtobufError> {
    if seconds == GO_ZERO_TIME && micros.unwrap_or(0) == 0 {
        return Ok(Value::Null);
    }
    if !(MIN_SECONDS..=MAX_SECONDS).contains(&seconds) {
        return Err(ProtobufError::TimeOutOfRange);
    }
    let text = match micros {
        None => crate::object::time::format_rfc3339(seconds),
        Some(us) => crate::object::time::format_rfc3339_with_micros(seconds, us),
    };
    Ok(Value::String(text))
}

/// resource.Quantity `{1: string}`: the string as sent (kubectl sends the canonical form);
/// the zero Quantity is written "0" by upstream.
pub(super) fn quantity(body: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(body);
    let mut text = String::from("0");
    while let Some((number, value)) = reader.next_field()? {
        if number == 1 {
            text = scalar::string("quantity", value)?;
        }
    }
    Ok(Value::String(text))
}

/// intstr.IntOrString `{1: type, 2: intVal, 3: strVal}`: type 0 is a number, 1 a string.
pub(super) fn int_or_string(body: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(body);
    let (mut kind, mut int_val, mut str_val) = (0, 0, String::new());
    while let Some((number, value)) = reader.next_field()? {
        match number {
            1 => kind = scalar::int64("type", value)?,
            2 => int_val = scalar::int32("intVal", value)?,
            3 => str_val = scalar::string("strVal", value)?,
            _ => {}
        }
    }
    match kind {
        0 => Ok(scalar::integer(i64::from(int_val))),
        1 => Ok(Value::String(str_val)),
        _ => Err(ProtobufError::BadIntOrString),
    }
}

/// FieldsV1 / RawExtension `{1: raw}`: the raw bytes are JSON and are embedded as such;
/// absent bytes are `null`.
pub(super) fn raw_json(body: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(body);
    let mut raw: &[u8] = &[];
    while let Some((number, value)) = reader.next_field()? {
        if number == 1 {
            raw = scalar::bytes("raw", value)?;
        }
    }
    if raw.is_empty() {
        return Ok(Value::Null);
    }
    let text = std::str::from_utf8(raw).map_err(|_| ProtobufError::InvalidRawJson)?;
    miniserde::json::from_str::<Value>(text).map_err(|_| ProtobufError::InvalidRawJson)
}

/// A `[]string` alias `{repeated string items = 1}`: a JSON array, `null` when empty as
/// for a nil Go slice.
pub(super) fn string_list(body: &[u8]) -> Result<Value, ProtobufError> {
    let mut reader = Reader::new(body);
    let mut items = Array::new();
    while let Some((number, value)) = reader.next_field()? {
        if number == 1 {
            items.push(Value::String(scalar::string("items", value)?));
        }
    }
    if items.is_empty() {
        return Ok(Value::Null);
    }
    Ok(Value::Array(items))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protobuf::test_encoder::Encoder;

    fn json(value: Result<Value, ProtobufError>) -> String {
        miniserde::json::to_string(&value.unwrap())
    }

    fn stamp(seconds: i64, nanos: i32) -> Vec<u8> {
        let mut e = Encoder::new();
        e.int64(1, seconds).int32(2, nanos);
        e.finish()
    }

    #[test]
    fn time_is_whole_seconds_utc() {
        assert_eq!(json(time(&stamp(0, 0))), r#""1970-01-01T00:00:00Z""#);
        assert_eq!(
            json(time(&stamp(1_700_000_000, 999))),
            r#""2023-11-14T22:13:20Z""#
        );
        assert_eq!(
            json(time(&stamp(951_782_400, 0))),
            r#""2000-02-29T00:00:00Z""#
        );
        assert_eq!(json(time(&stamp(-1, 0))), r#""1969-12-31T23:59:59Z""#);
        assert_eq!(
            json(time(&stamp(MAX_SECONDS, 0))),
            r#""9999-12-31T23:59:59Z""#
        );
        assert_eq!(
            json(time(&stamp(MIN_SECONDS, 0))),
            r#""0000-01-01T00:00:00Z""#
        );
    }

    #[test]
    fn zero_and_out_of_range_times() {
        assert_eq!(json(time(&[])), "null");
        assert_eq!(json(time(&stamp(GO_ZERO_TIME, 0))), "null");
        assert_eq!(
            time(&stamp(MAX_SECONDS + 1, 0)).err(),
            Some(ProtobufError::TimeOutOfRange)
        );
        assert_eq!(
            time(&stamp(i64::MIN, 0)).err(),
            Some(ProtobufError::TimeOutOfRange)
        );
    }

    #[test]
    fn micro_time_truncates_and_normalises_nanos() {
        let got = json(micro_time(&stamp(1_700_000_000, 123_456_789)));
        assert_eq!(got, r#""2023-11-14T22:13:20.123456Z""#);
        let carried = json(micro_time(&stamp(1_700_000_000, 1_500_000_000)));
        assert_eq!(carried, r#""2023-11-14T22:13:21.500000Z""#);
        let negative = json(micro_time(&stamp(1_700_000_000, -1_500)));
        assert_eq!(negative, r#""2023-11-14T22:13:19.999999Z""#);
    }

    #[test]
    fn int_or_string_picks_by_type() {
        let mut e = Encoder::new();
        e.int64(1, 0).int32(2, 8080).string(3, "");
        assert_eq!(json(int_or_string(&e.finish())), "8080");
        let mut e = Encoder::new();
        e.int64(1, 1).int32(2, 0).string(3, "50%");
        assert_eq!(json(int_or_string(&e.finish())), r#""50%""#);
        let mut e = Encoder::new();
        e.int64(1, 2);
        assert_eq!(
            int_or_string(&e.finish()).err(),
            Some(ProtobufError::BadIntOrString)
        );
    }

    #[test]
    fn quantity_raw_json_and_string_lists() {
        let mut e = Encoder::new();
        e.string(1, "1Gi");
        assert_eq!(json(quantity(&e.finish())), r#""1Gi""#);
        assert_eq!(json(quantity(&[])), r#""0""#);

        let mut e = Encoder::new();
        e.bytes(1, br#"{"f:data":{"f:a":{}}}"#);
        assert_eq!(json(raw_json(&e.finish())), r#"{"f:data":{"f:a":{}}}"#);
        let mut e = Encoder::new();
        e.bytes(1, b"{not json");
        assert_eq!(
            raw_json(&e.finish()).err(),
            Some(ProtobufError::InvalidRawJson)
        );

        let mut e = Encoder::new();
        e.string(1, "a").string(1, "b");
        assert_eq!(json(string_list(&e.finish())), r#"["a","b"]"#);
        assert_eq!(json(string_list(&[])), "null");
    }
}
