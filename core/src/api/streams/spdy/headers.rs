//! SPDY/3 header blocks: a count and length-prefixed name/value pairs, compressed with
//! zlib primed with the SPDY dictionary. Each direction of a connection is ONE zlib
//! stream across all its frames (the peer's compressor sync-flushes after each block), so
//! the inflater keeps its 32 KiB window between frames; it is miniz_oxide's core inflater
//! run over a ring buffer pre-filled with the dictionary, which is all a preset
//! dictionary is. Outgoing blocks are "stored" (uncompressed) deflate blocks, each
//! followed by a sync flush marker: valid for any zlib reader, and the few header bytes
//! this server sends are not worth a compressor.

use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};

use super::frame::FrameError;

/// The SPDY/3 header dictionary (draft-mbelshe-httpbis-spdy-00, section 2.6.10.1).
pub const DICTIONARY: &[u8; 1423] = include_bytes!("dictionary.bin");
/// Adler-32 of [`DICTIONARY`]: the DICTID a zlib header names it by.
const DICTIONARY_ID: u32 = 0xe3c6_a7c2;
/// A decompressed header block larger than this is refused (upstream's HTTP servers cap
/// headers at 1 MiB; port-forward sends three short pairs).
pub const MAX_BLOCK: usize = 64 * 1024;
const MAX_PAIRS: usize = 256;
const WINDOW: usize = 32 * 1024;
const SYNC_FLUSH: [u8; 5] = [0, 0, 0, 0xff, 0xff];

pub type Headers = Vec<(String, String)>;

/// Reads the peer's header blocks.
pub struct HeaderDecoder {
    inflater: Box<DecompressorOxide>,
    window: Vec<u8>,
    pos: usize,
    started: bool,
    finished: bool,
}

impl Default for HeaderDecoder {
    fn default() -> Self {
        let mut window = vec![0u8; WINDOW];
        window[..DICTIONARY.len()].copy_from_slice(DICTIONARY);
        HeaderDecoder {
            inflater: Box::default(),
            window,
            pos: DICTIONARY.len(),
            started: false,
            finished: false,
        }
    }
}

impl HeaderDecoder {
    /// Inflates and parses the next header block. Names are lower-case ASCII in SPDY/3;
    /// multiple values of one name are NUL-separated and kept joined here.
    pub fn decode(&mut self, block: &[u8]) -> Result<Headers, FrameError> {
        let raw = self.inflate(block)?;
        parse_pairs(&raw)
    }

    fn inflate(&mut self, mut input: &[u8]) -> Result<Vec<u8>, FrameError> {
        if !self.started {
            input = skip_zlib_header(input)?;
            self.started = true;
        }
        let mut out = Vec::new();
        loop {
            if self.finished {
                return Err(FrameError::HeaderBlock(
                    "data after the end of the zlib stream",
                ));
            }
            let (status, used, written) = decompress(
                &mut self.inflater,
                input,
                &mut self.window,
                self.pos,
                inflate_flags::TINFL_FLAG_HAS_MORE_INPUT,
            );
            out.extend_from_slice(&self.window[self.pos..self.pos + written]);
            self.pos = (self.pos + written) & (WINDOW - 1);
            input = &input[used..];
            if out.len() > MAX_BLOCK {
                return Err(FrameError::HeaderBlock("too large"));
            }
            match status {
                TINFLStatus::HasMoreOutput => {}
                TINFLStatus::NeedsMoreInput => return Ok(out),
                TINFLStatus::Done => {
                    self.finished = true;
                    return Ok(out);
                }
                _ => return Err(FrameError::HeaderBlock("corrupt deflate data")),
            }
        }
    }
}

/// The 2-byte zlib header, and the 4-byte DICTID, which must name the SPDY dictionary.
fn skip_zlib_header(input: &[u8]) -> Result<&[u8], FrameError> {
    let [cmf, flg, ..] = *input else {
        return Err(FrameError::HeaderBlock("truncated zlib header"));
    };
    if cmf & 0x0f != 8 || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return Err(FrameError::HeaderBlock("not a zlib stream"));
    }
    if flg & 0x20 == 0 {
        return Ok(&input[2..]);
    }
    let id = input
        .get(2..6)
        .ok_or(FrameError::HeaderBlock("truncated zlib header"))?;
    if u32::from_be_bytes([id[0], id[1], id[2], id[3]]) != DICTIONARY_ID {
        return Err(FrameError::HeaderBlock("unknown zlib dictionary"));
    }
    Ok(&input[6..])
}

fn parse_pairs(mut raw: &[u8]) -> Result<Headers, FrameError> {
    let count = take_u32(&mut raw)?;
    if count > MAX_PAIRS {
        return Err(FrameError::HeaderBlock("too many headers"));
    }
    let mut headers = Vec::with_capacity(count);
    for _ in 0..count {
        let name = take_string(&mut raw)?;
        if name.is_empty() {
            return Err(FrameError::HeaderBlock("empty header name"));
        }
        let value = take_string(&mut raw)?;
        headers.push((name.to_ascii_lowercase(), value));
    }
    Ok(headers)
}

fn take_u32(raw: &mut &[u8]) -> Result<usize, FrameError> {
    let Some((head, rest)) = raw.split_first_chunk::<4>() else {
        return Err(FrameError::HeaderBlock("truncated"));
    };
    *raw = rest;
    usize::try_from(u32::from_be_bytes(*head)).map_err(|_| FrameError::HeaderBlock("length"))
}

fn take_string(raw: &mut &[u8]) -> Result<String, FrameError> {
    let len = take_u32(raw)?;
    if len > raw.len() {
        return Err(FrameError::HeaderBlock("truncated"));
    }
    let (bytes, rest) = raw.split_at(len);
    *raw = rest;
    String::from_utf8(bytes.to_vec()).map_err(|_| FrameError::HeaderBlock("not utf-8"))
}

/// Writes this side's header blocks.
#[derive(Default)]
pub struct HeaderEncoder {
    started: bool,
}

impl HeaderEncoder {
    pub fn encode(&mut self, headers: &[(&str, &str)]) -> Vec<u8> {
        let mut raw = Vec::new();
        push_u32(&mut raw, headers.len());
        for (name, value) in headers {
            push_u32(&mut raw, name.len());
            raw.extend_from_slice(name.as_bytes());
            push_u32(&mut raw, value.len());
            raw.extend_from_slice(value.as_bytes());
        }
        let mut out = Vec::with_capacity(raw.len() + 16);
        if !self.started {
            // CMF 0x78 (deflate, 32 KiB window), FLG 0xbb (FDICT set, check bits), DICTID.
            out.extend_from_slice(&[0x78, 0xbb]);
            out.extend_from_slice(&DICTIONARY_ID.to_be_bytes());
            self.started = true;
        }
        for chunk in raw.chunks(usize::from(u16::MAX)) {
            // A non-final stored block: BFINAL=0, BTYPE=00, padded to the byte; LEN, NLEN.
            let len = u16::try_from(chunk.len()).unwrap_or(u16::MAX);
            out.push(0);
            out.extend_from_slice(&len.to_le_bytes());
            out.extend_from_slice(&(!len).to_le_bytes());
            out.extend_from_slice(chunk);
        }
        // An empty stored block, as a zlib sync flush ends with: Go's flate reader hands
        // out what it has only when it reaches one (or the end of the stream); without
        // it, it reads on for the next block, hits the end of the frame and fails.
        out.extend_from_slice(&SYNC_FLUSH);
        out
    }
}

fn push_u32(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two port-forward header blocks as Python's zlib compresses them with the SPDY
    /// dictionary and a sync flush after each (what Go's compress/zlib does in
    /// spdystream): the second refers back into the first.
    const FIRST: &[u8] = &[
        0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2, 0x02, 0x25, 0x3a, 0x70, 0x3a, 0x2b, 0x29, 0x4a, 0x4d,
        0xcc, 0x85, 0x16, 0x25, 0xac, 0xa9, 0xa0, 0x80, 0x86, 0x14, 0xcb, 0x45, 0xe0, 0x1c, 0x60,
        0x61, 0x60, 0x61, 0x00, 0xa4, 0x39, 0x8b, 0x20, 0xd1, 0x98, 0x09, 0x4a, 0xde, 0x8c, 0x06,
        0x00, 0x00, 0x00, 0x00, 0xff, 0xff,
    ];
    const SECOND: &[u8] = &[
        0xc2, 0xaa, 0x19, 0x54, 0x0e, 0x25, 0x12, 0xd6, 0x0b, 0x00, 0x00, 0x00, 0xff, 0xff,
    ];

    fn pairs(list: &[(&str, &str)]) -> Headers {
        list.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn dictionary_id_is_its_adler32() {
        let (mut a, mut b) = (1u32, 0u32);
        for &byte in DICTIONARY.iter() {
            a = (a + u32::from(byte)) % 65521;
            b = (b + a) % 65521;
        }
        assert_eq!(b << 16 | a, DICTIONARY_ID);
    }

    #[test]
    fn decodes_real_zlib_blocks_across_frames() {
        let mut decoder = HeaderDecoder::default();
        assert_eq!(
            decoder.decode(FIRST).unwrap(),
            pairs(&[
                ("streamtype", "error"),
                ("port", "8080"),
                ("requestid", "0")
            ])
        );
        assert_eq!(
            decoder.decode(SECOND).unwrap(),
            pairs(&[("streamtype", "data"), ("port", "8080"), ("requestid", "0")])
        );
    }

    #[test]
    fn encoded_blocks_decode_in_sequence() {
        let mut encoder = HeaderEncoder::default();
        let mut decoder = HeaderDecoder::default();
        assert_eq!(decoder.decode(&encoder.encode(&[])).unwrap(), pairs(&[]));
        let block = encoder.encode(&[("port", "80"), ("streamtype", "data")]);
        assert_eq!(
            decoder.decode(&block).unwrap(),
            pairs(&[("port", "80"), ("streamtype", "data")])
        );
    }

    #[test]
    fn encoded_blocks_end_with_a_sync_flush() {
        let mut encoder = HeaderEncoder::default();
        let first = encoder.encode(&[]);
        assert_eq!(
            first,
            [
                0x78, 0xbb, 0xe3, 0xc6, 0xa7, 0xc2, 0, 4, 0, 0xfb, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff,
                0xff
            ]
        );
        assert_eq!(
            encoder.encode(&[]),
            [0, 4, 0, 0xfb, 0xff, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]
        );
    }

    #[test]
    fn bad_blocks_are_errors() {
        assert!(HeaderDecoder::default().decode(&[0x78]).is_err());
        assert!(
            HeaderDecoder::default()
                .decode(&[0x78, 0xbb, 0, 0, 0, 0])
                .is_err()
        );
        assert!(HeaderDecoder::default().decode(&FIRST[..20]).is_err());
        let mut garbage = FIRST[..6].to_vec();
        garbage.extend_from_slice(&[0xff; 40]);
        assert!(HeaderDecoder::default().decode(&garbage).is_err());
    }
}
