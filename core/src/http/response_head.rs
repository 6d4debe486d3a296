//! Serialises what goes on the wire around a handler's response: the status line and
//! headers with the server-owned framing headers, chunk frames and the last chunk.

/// How the response body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    Length(usize),
    Chunked,
    /// 1xx, 204, 304, or a 101 upgrade: no body and no framing headers.
    NoBody,
}

/// The terminating chunk of a chunked body (no trailers).
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// The interim response sent before reading a body announced with `Expect: 100-continue`.
pub const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// Whether a status forbids a body (RFC 9110 section 6.4.1).
pub fn status_has_no_body(status: u16) -> bool {
    (100..200).contains(&status) || status == 204 || status == 304
}

/// The head for `status`, the handler's `headers` (framing and connection headers from
/// the handler are dropped, except Connection on a 101; headers containing CR or LF are
/// dropped to prevent response splitting) and the server's framing headers.
pub fn encode_head(
    status: u16,
    headers: &[(String, String)],
    framing: Framing,
    close: bool,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
    for (name, value) in headers {
        let owned_by_server = name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding")
            || (name.eq_ignore_ascii_case("connection") && status != 101);
        let unsafe_text = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if owned_by_server || unsafe_text(name) || unsafe_text(value) || name.is_empty() {
            continue;
        }
        push_header(&mut out, name, value);
    }
    match framing {
        Framing::Length(n) => push_header(&mut out, "Content-Length", &n.to_string()),
        Framing::Chunked => push_header(&mut out, "Transfer-Encoding", "chunked"),
        Framing::NoBody => {}
    }
    if close && status != 101 {
        push_header(&mut out, "Connection", "close");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// One chunk frame around `data` (which must not be empty: that would end the body).
pub fn chunk_frame(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(data.len() + 12);
    out.extend_from_slice(format!("{:x}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value.as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_owns_framing_and_drops_injected_headers() {
        let headers = vec![
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Content-Length".to_string(), "999".to_string()),
            ("X-Bad".to_string(), "a\r\nSet-Cookie: x".to_string()),
        ];
        let head = String::from_utf8(encode_head(200, &headers, Framing::Length(2), true)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"
        );
    }

    #[test]
    fn upgrade_keeps_connection_header() {
        let headers = vec![
            ("Connection".to_string(), "Upgrade".to_string()),
            ("Upgrade".to_string(), "websocket".to_string()),
        ];
        let head = String::from_utf8(encode_head(101, &headers, Framing::NoBody, false)).unwrap();
        assert_eq!(
            head,
            "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        );
    }

    #[test]
    fn chunk_frames_are_hex_sized() {
        assert_eq!(
            chunk_frame(&[b'x'; 26]),
            [&b"1a\r\n"[..], &[b'x'; 26], b"\r\n"].concat()
        );
    }
}
