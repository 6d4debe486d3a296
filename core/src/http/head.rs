//! Parses a request head (request line and headers) with httparse, within the limits on
//! total head size and header count, and decides how the body is framed. Rejections carry
//! the status to answer with: 431 for oversized heads, 400 for malformed ones, 413 for a
//! declared body over the limit, 501 for transfer codings other than chunked.

use super::request::{Headers, Method};

/// A parsed head and the number of buffer bytes it used.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestHead {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// HTTP/1.x minor version: 0 or 1.
    pub minor_version: u8,
    pub headers: Headers,
    pub framing: BodyFraming,
    /// Bytes of the buffer the head occupied.
    pub len: usize,
}

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(usize),
    Chunked,
}

/// Why a head was refused, with the status code to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadError {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}

impl HeadError {
    fn new(status: u16, reason: &'static str, message: impl Into<String>) -> HeadError {
        HeadError {
            status,
            reason,
            message: message.into(),
        }
    }

    pub(crate) fn too_large_head() -> HeadError {
        HeadError::new(
            431,
            "RequestHeaderFieldsTooLarge",
            "request header fields too large",
        )
    }
}

/// Where the head ends in `buf` (index just past the blank line), searching from `from`
/// so that byte-by-byte arrivals do not rescan the whole buffer.
pub fn find_head_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let tail = buf.get(start..)?;
    (0..tail.len()).find_map(|i| {
        let rest = &tail[i..];
        if rest.starts_with(b"\r\n\r\n") {
            Some(start + i + 4)
        } else if rest.starts_with(b"\n\n") {
            Some(start + i + 2)
        } else {
            None
        }
    })
}

/// Parses a complete head (the caller found its end with [`find_head_end`]).
pub fn parse_head(
    buf: &[u8],
    max_headers: usize,
    max_body: usize,
) -> Result<RequestHead, HeadError> {
    let mut slots = vec![httparse::EMPTY_HEADER; max_headers];
    let mut req = httparse::Request::new(&mut slots);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => {
            return Err(HeadError::new(400, "BadRequest", "incomplete request head"));
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::too_large_head()),
        Err(e) => {
            return Err(HeadError::new(
                400,
                "BadRequest",
                format!("malformed request: {e}"),
            ));
        }
    };
    let target = req.path.unwrap_or_default();
    let asterisk = target == "*" && req.method == Some("OPTIONS");
    if !(target.starts_with('/') || asterisk) {
        return Err(HeadError::new(
            400,
            "BadRequest",
            "request target must be an absolute path",
        ));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut headers = Headers::new();
    for h in req.headers.iter() {
        headers.push(h.name, &String::from_utf8_lossy(h.value));
    }
    let framing = body_framing(&headers, max_body)?;
    Ok(RequestHead {
        method: Method::from_token(req.method.unwrap_or_default()),
        path: path.to_string(),
        query: query.to_string(),
        minor_version: req.version.unwrap_or(1),
        headers,
        framing,
        len,
    })
}

/// RFC 9112 section 6: Transfer-Encoding wins but together with Content-Length it is a
/// smuggling attempt, so both are refused; repeated Content-Length values must agree.
fn body_framing(headers: &Headers, max_body: usize) -> Result<BodyFraming, HeadError> {
    let has_te = headers.get("transfer-encoding").is_some();
    let lengths: Vec<&str> = headers
        .get_all("content-length")
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    if has_te && !lengths.is_empty() {
        return Err(HeadError::new(
            400,
            "BadRequest",
            "both transfer-encoding and content-length",
        ));
    }
    if has_te {
        let codings: Vec<&str> = headers
            .get_all("transfer-encoding")
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        return match codings.as_slice() {
            [only] if only.eq_ignore_ascii_case("chunked") => Ok(BodyFraming::Chunked),
            _ => Err(HeadError::new(
                501,
                "NotImplemented",
                "unsupported transfer-encoding",
            )),
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(BodyFraming::None);
    };
    if lengths.iter().any(|l| l != first)
        || first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(HeadError::new(400, "BadRequest", "invalid content-length"));
    }
    let too_large = || HeadError::new(413, "RequestEntityTooLarge", "request entity too large");
    let length: usize = first.parse().map_err(|_| too_large())?;
    if length > max_body {
        return Err(too_large());
    }
    Ok(if length == 0 {
        BodyFraming::None
    } else {
        BodyFraming::Length(length)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<RequestHead, HeadError> {
        let end = find_head_end(text.as_bytes(), 0).expect("complete head");
        parse_head(&text.as_bytes()[..end], 100, 1024)
    }

    #[test]
    fn parses_path_query_and_headers() {
        let head =
            parse("GET /api/v1/pods?watch=1&limit=5 HTTP/1.1\r\nHost: x\r\nAccept: a\r\n\r\nrest")
                .unwrap();
        assert_eq!(head.method, Method::Get);
        assert_eq!(head.path, "/api/v1/pods");
        assert_eq!(head.query, "watch=1&limit=5");
        assert_eq!(head.headers.get("host"), Some("x"));
        assert_eq!(head.framing, BodyFraming::None);
        assert_eq!(head.minor_version, 1);
    }

    #[test]
    fn head_end_found_incrementally() {
        let text = b"GET / HTTP/1.1\r\nA: b\r\n\r\nXYZ";
        assert_eq!(find_head_end(&text[..20], 0), None);
        assert_eq!(find_head_end(text, 20), Some(24));
        assert_eq!(find_head_end(b"GET / HTTP/1.0\n\n", 14), Some(16));
    }

    #[test]
    fn body_framing_rules() {
        let cl = parse("POST / HTTP/1.1\r\nContent-Length: 12\r\n\r\n").unwrap();
        assert_eq!(cl.framing, BodyFraming::Length(12));
        let te = parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
        assert_eq!(te.framing, BodyFraming::Chunked);
        let both =
            parse("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n");
        assert_eq!(both.unwrap_err().status, 400);
        let gzip = parse("POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n");
        assert_eq!(gzip.unwrap_err().status, 501);
        let differ = parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n");
        assert_eq!(differ.unwrap_err().status, 400);
        let signed = parse("POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n");
        assert_eq!(signed.unwrap_err().status, 400);
        let big = parse("POST / HTTP/1.1\r\nContent-Length: 1025\r\n\r\n");
        assert_eq!(big.unwrap_err().status, 413);
        let huge = parse("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n");
        assert_eq!(huge.unwrap_err().status, 413);
    }

    #[test]
    fn malformed_and_oversized_heads() {
        assert_eq!(parse("GET\x01 / HTTP/1.1\r\n\r\n").unwrap_err().status, 400);
        assert_eq!(
            parse("GET http://x/ HTTP/1.1\r\n\r\n").unwrap_err().status,
            400
        );
        let many: String = (0..101).map(|i| format!("H{i}: v\r\n")).collect();
        let text = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(parse(&text).unwrap_err().status, 431);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_heads_never_panic(input in proptest::collection::vec(proptest::num::u8::ANY, 0..600), from in 0usize..700) {
            if let Some(end) = find_head_end(&input, from.min(input.len())) {
                proptest::prop_assert!(end <= input.len());
                let _ = parse_head(&input[..end], 8, 1024);
            }
        }
    }
}
