//! Response body framing: Content-Length, chunked transfer coding (extensions and trailers
//! skipped), or end of connection. A body cut short reads as an `UnexpectedEof` error, never
//! as a clean end, so a truncated blob cannot pass for a complete one.

use std::io::{self, BufRead, Read};

const MAX_LINE_BYTES: u64 = 4096;

pub enum Framing {
    Length(u64),
    Chunked { remaining: u64, done: bool },
    UntilClose,
}

/// Reads the next piece of a body framed by `framing` from `reader`.
pub fn read_framed(
    reader: &mut impl BufRead,
    framing: &mut Framing,
    buf: &mut [u8],
) -> io::Result<usize> {
    if buf.is_empty() {
        return Ok(0);
    }
    match framing {
        Framing::Length(remaining) => read_limited(reader, remaining, buf),
        Framing::Chunked { remaining, done } => read_chunked(reader, remaining, done, buf),
        Framing::UntilClose => reader.read(buf),
    }
}

fn read_limited(reader: &mut impl Read, remaining: &mut u64, buf: &mut [u8]) -> io::Result<usize> {
    if *remaining == 0 {
        return Ok(0);
    }
    let want = usize::try_from(*remaining).map_or(buf.len(), |r| r.min(buf.len()));
    let n = reader.read(&mut buf[..want])?;
    if n == 0 {
        return Err(truncated());
    }
    *remaining -= n as u64;
    Ok(n)
}

fn read_chunked(
    reader: &mut impl BufRead,
    remaining: &mut u64,
    done: &mut bool,
    buf: &mut [u8],
) -> io::Result<usize> {
    if *done {
        return Ok(0);
    }
    if *remaining == 0 {
        *remaining = read_chunk_size(reader)?;
        if *remaining == 0 {
            skip_trailers(reader)?;
            *done = true;
            return Ok(0);
        }
    }
    let n = read_limited(reader, remaining, buf)?;
    if *remaining == 0 {
        let line = read_line(reader)?;
        if !line.is_empty() {
            return Err(bad_chunk("chunk data longer than its size"));
        }
    }
    Ok(n)
}

fn read_chunk_size(reader: &mut impl BufRead) -> io::Result<u64> {
    let line = read_line(reader)?;
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    let size = std::str::from_utf8(size).map_err(|_| bad_chunk("chunk size not ascii"))?;
    u64::from_str_radix(size.trim(), 16).map_err(|_| bad_chunk("bad chunk size"))
}

fn skip_trailers(reader: &mut impl BufRead) -> io::Result<()> {
    while !read_line(reader)?.is_empty() {}
    Ok(())
}

/// One CRLF-terminated line without its terminator, bounded in length.
fn read_line(reader: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut line = Vec::new();
    reader.take(MAX_LINE_BYTES).read_until(b'\n', &mut line)?;
    if line.last() != Some(&b'\n') {
        return Err(truncated());
    }
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(line)
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "response body cut short")
}

fn bad_chunk(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn chunked_decoding_never_panics(wire in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = dechunk(&wire, 16);
        }

        #[test]
        fn any_chunking_decodes_to_the_body(
            body in proptest::collection::vec(any::<u8>(), 0..2000),
            size in 1usize..300,
        ) {
            let mut wire = Vec::new();
            for piece in body.chunks(size) {
                wire.extend_from_slice(format!("{:X}\r\n", piece.len()).as_bytes());
                wire.extend_from_slice(piece);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
            prop_assert_eq!(dechunk(&wire, 37).unwrap(), body);
        }
    }

    fn dechunk(wire: &[u8], read_size: usize) -> io::Result<Vec<u8>> {
        let mut reader = io::BufReader::with_capacity(7, wire);
        let (mut remaining, mut done) = (0, false);
        let mut out = Vec::new();
        let mut buf = vec![0; read_size];
        loop {
            let n = read_chunked(&mut reader, &mut remaining, &mut done, &mut buf)?;
            if n == 0 {
                return Ok(out);
            }
            out.extend_from_slice(&buf[..n]);
        }
    }

    #[test]
    fn chunked_bodies_decode_with_extensions_and_trailers() {
        let wire = b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: y\r\n\r\n";
        for read_size in [1, 3, 64] {
            assert_eq!(dechunk(wire, read_size).unwrap(), b"hello, world");
        }
    }

    #[test]
    fn cut_or_bad_chunked_bodies_are_errors() {
        let cut = dechunk(b"5\r\nhel", 64).unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::UnexpectedEof);
        let no_end = dechunk(b"5\r\nhello\r\n", 64).unwrap_err();
        assert_eq!(no_end.kind(), io::ErrorKind::UnexpectedEof);
        assert!(dechunk(b"zz\r\nhello\r\n0\r\n\r\n", 64).is_err());
        assert!(dechunk(b"2\r\nhello\r\n0\r\n\r\n", 64).is_err());
    }

    #[test]
    fn length_framing_reports_truncation() {
        let mut remaining = 10;
        let mut source: &[u8] = b"short";
        let mut buf = [0; 64];
        assert_eq!(
            read_limited(&mut source, &mut remaining, &mut buf).unwrap(),
            5
        );
        let err = read_limited(&mut source, &mut remaining, &mut buf).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
