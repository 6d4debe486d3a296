//! Incremental decoder for chunked request bodies (RFC 9112 section 7.1). It consumes
//! whatever bytes have arrived and says how many it used, so the connection can read more
//! and call again. Size lines and trailers are bounded; anything malformed is an error
//! after which the connection is closed (framing is lost).

const MAX_SIZE_LINE: usize = 4096;
const MAX_TRAILERS: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkedError {
    Malformed,
    TooLarge,
}

/// Progress of one [`ChunkedDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decoded {
    /// Input bytes used; the caller drops them from its buffer.
    pub consumed: usize,
    /// The terminating chunk and trailers were seen: the body is complete.
    pub done: bool,
}

/// State carried between calls.
#[derive(Debug)]
pub struct ChunkedDecoder {
    state: State,
    trailer_bytes: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        ChunkedDecoder::new()
    }
}

impl ChunkedDecoder {
    pub fn new() -> ChunkedDecoder {
        ChunkedDecoder {
            state: State::Size,
            trailer_bytes: 0,
        }
    }

    /// Decodes from `input`, appending data to `out` (kept within `max_body` bytes).
    pub fn decode(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        max_body: usize,
    ) -> Result<Decoded, ChunkedError> {
        let mut pos = 0;
        loop {
            let rest = &input[pos..];
            let used = match self.state {
                State::Done => {
                    return Ok(Decoded {
                        consumed: pos,
                        done: true,
                    });
                }
                State::Size => self.size_line(rest, out.len(), max_body)?,
                State::Data(left) => self.data(rest, left, out),
                State::DataEnd => self.data_end(rest)?,
                State::Trailers => self.trailer_line(rest)?,
            };
            match used {
                Some(n) => pos += n,
                None => {
                    return Ok(Decoded {
                        consumed: pos,
                        done: false,
                    });
                }
            }
        }
    }

    /// `None` means "need more input"; `Some(n)` means n bytes were used.
    fn size_line(
        &mut self,
        rest: &[u8],
        have: usize,
        max_body: usize,
    ) -> Result<Option<usize>, ChunkedError> {
        match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((used, size))) => {
                if size > (max_body - have) as u64 {
                    return Err(ChunkedError::TooLarge);
                }
                self.state = if size == 0 {
                    State::Trailers
                } else {
                    State::Data(size)
                };
                Ok(Some(used))
            }
            Ok(httparse::Status::Partial) if rest.len() > MAX_SIZE_LINE => {
                Err(ChunkedError::Malformed)
            }
            Ok(httparse::Status::Partial) => Ok(None),
            Err(_) => Err(ChunkedError::Malformed),
        }
    }

    fn data(&mut self, rest: &[u8], left: u64, out: &mut Vec<u8>) -> Option<usize> {
        if rest.is_empty() {
            return None;
        }
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
        out.extend_from_slice(&rest[..take]);
        let left = left - take as u64;
        self.state = if left == 0 {
            State::DataEnd
        } else {
            State::Data(left)
        };
        Some(take)
    }

    fn data_end(&mut self, rest: &[u8]) -> Result<Option<usize>, ChunkedError> {
        match rest {
            [] | [b'\r'] => Ok(None),
            [b'\r', b'\n', ..] => {
                self.state = State::Size;
                Ok(Some(2))
            }
            _ => Err(ChunkedError::Malformed),
        }
    }

    fn trailer_line(&mut self, rest: &[u8]) -> Result<Option<usize>, ChunkedError> {
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            if self.trailer_bytes + rest.len() > MAX_TRAILERS {
                return Err(ChunkedError::Malformed);
            }
            return Ok(None);
        };
        let line = &rest[..nl];
        if line.is_empty() || line == b"\r" {
            self.state = State::Done;
        } else {
            self.trailer_bytes += nl + 1;
            if self.trailer_bytes > MAX_TRAILERS {
                return Err(ChunkedError::Malformed);
            }
        }
        Ok(Some(nl + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8], max: usize) -> Result<(Vec<u8>, usize), ChunkedError> {
        let mut out = Vec::new();
        let d = ChunkedDecoder::new().decode(input, &mut out, max)?;
        assert!(d.done, "incomplete");
        Ok((out, d.consumed))
    }

    #[test]
    fn decodes_chunks_extensions_and_trailers() {
        let input = b"4\r\nWiki\r\n5;name=v\r\npedia\r\n0\r\nX-T: 1\r\n\r\nNEXT";
        let (out, used) = decode_all(input, 100).unwrap();
        assert_eq!(out, b"Wikipedia");
        assert_eq!(&input[used..], b"NEXT");
    }

    #[test]
    fn byte_by_byte_equals_all_at_once() {
        let input = b"a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n";
        let mut dec = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut buf = Vec::new();
        let mut done = false;
        for &b in input.iter() {
            assert!(!done);
            buf.push(b);
            let d = dec.decode(&buf, &mut out, 100).unwrap();
            buf.drain(..d.consumed);
            done = d.done;
        }
        assert!(done);
        assert_eq!(out, b"0123456789abc");
    }

    #[test]
    fn rejects_malformed() {
        for bad in [
            &b"zz\r\nab\r\n0\r\n\r\n"[..],
            b"2\r\nabXY0\r\n\r\n",
            b"ffffffffffffffffffff\r\n",
            b"-1\r\n",
        ] {
            let mut out = Vec::new();
            let r = ChunkedDecoder::new().decode(bad, &mut out, 1 << 20);
            assert!(r.is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn bounds_size_lines_trailers_and_body() {
        let mut out = Vec::new();
        let long_ext = format!("1;{}", "e".repeat(MAX_SIZE_LINE + 1));
        let r = ChunkedDecoder::new().decode(long_ext.as_bytes(), &mut out, 100);
        assert_eq!(r, Err(ChunkedError::Malformed));
        let trailers = format!("0\r\n{}", "X: y\r\n".repeat(MAX_TRAILERS / 6 + 1));
        let r = ChunkedDecoder::new().decode(trailers.as_bytes(), &mut out, 100);
        assert_eq!(r, Err(ChunkedError::Malformed));
        let r = ChunkedDecoder::new().decode(b"5\r\nabcde\r\n6\r\n", &mut out, 10);
        assert_eq!(r, Err(ChunkedError::TooLarge));
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_input_never_panics(input in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut out = Vec::new();
            let mut dec = ChunkedDecoder::new();
            if let Ok(d) = dec.decode(&input, &mut out, 256) {
                proptest::prop_assert!(d.consumed <= input.len());
                proptest::prop_assert!(out.len() <= 256);
            }
        }

        #[test]
        fn encoded_bodies_round_trip_in_any_split(
            chunks in proptest::collection::vec(proptest::collection::vec(proptest::num::u8::ANY, 1..40), 0..8),
            split in 1usize..17,
        ) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:X}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            let mut dec = ChunkedDecoder::new();
            let mut out = Vec::new();
            let mut pending = Vec::new();
            let mut done = false;
            for piece in wire.chunks(split) {
                pending.extend_from_slice(piece);
                let d = dec.decode(&pending, &mut out, 1 << 20).unwrap();
                pending.drain(..d.consumed);
                done = d.done;
            }
            proptest::prop_assert!(done);
            proptest::prop_assert!(pending.is_empty());
            proptest::prop_assert_eq!(out, chunks.concat());
        }
    }
}
