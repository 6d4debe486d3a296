//! Fuzzes the SPDY/3 frame decoder and the header-block inflater that port-forward runs
//! on client bytes: any input gives frames, "need more" or an error, never a panic; a
//! decoded frame never claims more bytes than it was given, a data frame re-encodes to the
//! same bytes it came from, and the header blocks of one input go through one decoder, as
//! a session's do, so the zlib state carried between frames is exercised.
//!
//! The first byte picks how the rest is fed (all at once or in small pieces, as the
//! WebSocket messages of a slow client would split it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use wisp_core::api::streams::spdy::frame::{self, Frame};
use wisp_core::api::streams::spdy::headers::{HeaderDecoder, MAX_BLOCK};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let piece = usize::from(mode % 32) + 1;
    let mut headers = HeaderDecoder::default();
    let mut pending = Vec::new();
    for part in rest.chunks(piece) {
        pending.extend_from_slice(part);
        loop {
            match frame::decode(&pending) {
                Ok(Some((decoded, used))) => {
                    assert!(used >= 8 && used <= pending.len());
                    check_reencode(&decoded, &pending[..used]);
                    inflate(&mut headers, &decoded);
                    pending.drain(..used);
                }
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
});

fn inflate(headers: &mut HeaderDecoder, decoded: &Frame) {
    let block = match decoded {
        Frame::SynStream { header_block, .. }
        | Frame::SynReply { header_block, .. }
        | Frame::Headers { header_block, .. } => header_block,
        _ => return,
    };
    if let Ok(pairs) = headers.decode(block) {
        let size: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
        assert!(size <= MAX_BLOCK);
    }
}

fn check_reencode(decoded: &Frame, original: &[u8]) {
    // Control frames may carry reserved bits the decoder drops; data frames carry none.
    if matches!(decoded, Frame::Data { .. }) {
        let mut again = Vec::new();
        frame::encode(decoded, &mut again);
        assert_eq!(again, original);
    }
}
