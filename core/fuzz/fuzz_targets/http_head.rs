//! Fuzzes the HTTP/1.1 request-head parser and the chunked body decoder: any bytes give a
//! head or a refusal carrying a 4xx/5xx status, and the chunked decoder never emits more
//! than its body limit nor claims to consume more input than it was given.
//!
//! The first byte picks how the rest is fed to the chunked decoder (all at once or in small
//! pieces, as a slow client would send it), so state carried between calls is exercised.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_core::http::{BodyFraming, ChunkedDecoder, find_head_end, parse_head};

const MAX_HEADERS: usize = 100;
const MAX_BODY: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    check_head(rest);
    check_chunked(rest, usize::from(mode % 16) + 1);
});

fn check_head(data: &[u8]) {
    let Some(end) = find_head_end(data, 0) else {
        return;
    };
    assert!(end <= data.len());
    match parse_head(&data[..end], MAX_HEADERS, MAX_BODY) {
        Ok(head) => {
            assert!(head.len <= end);
            if let BodyFraming::Length(n) = head.framing {
                assert!(n <= MAX_BODY);
            }
        }
        Err(e) => assert!((400..600).contains(&e.status)),
    }
}

fn check_chunked(data: &[u8], piece: usize) {
    let mut decoder = ChunkedDecoder::new();
    let mut out = Vec::new();
    let mut pending: Vec<u8> = Vec::new();
    for part in data.chunks(piece) {
        pending.extend_from_slice(part);
        match decoder.decode(&pending, &mut out, MAX_BODY) {
            Ok(progress) => {
                assert!(progress.consumed <= pending.len());
                assert!(out.len() <= MAX_BODY);
                pending.drain(..progress.consumed);
                if progress.done {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}
