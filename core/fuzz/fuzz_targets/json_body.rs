//! Fuzzes the request-body decoder with JSON content types: any bytes give an object or an
//! ApiError with a 4xx code; deep nesting must not overflow the stack, and a decoded object
//! re-encodes to JSON no larger than a small multiple of the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_core::api::body::decode_object;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("application/yaml"),
    Some("application/apply-patch+yaml"),
    Some("APPLICATION/JSON;stream=watch"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let content_type = CONTENT_TYPES[usize::from(selector) % CONTENT_TYPES.len()];
    match decode_object(content_type, body) {
        Ok(value) => {
            let text = miniserde::json::to_string(&value);
            // Escapes can grow a string up to 6x (\u00XX); anything more is amplification.
            assert!(text.len() <= body.len() * 6 + 16);
        }
        Err(e) => assert!((400..500).contains(&e.code), "code {}", e.code),
    }
});
