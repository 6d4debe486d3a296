//! The `metav1.Status` JSON the server itself sends when it rejects a request before any
//! handler sees it (431, 413, 400, 408, 429, 501). Hand-written: the shape is fixed and
//! only the message needs escaping.

/// `{"kind":"Status",...}` for a failure with `code`, `reason` and `message`.
pub fn status_json(code: u16, reason: &str, message: &str) -> Vec<u8> {
    format!(
        "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":\"{}\",\"reason\":\"{}\",\"code\":{code}}}\n",
        escape(message),
        escape(reason)
    )
    .into_bytes()
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_controls() {
        let body =
            String::from_utf8(status_json(413, "RequestEntityTooLarge", "a \"b\"\n")).unwrap();
        assert_eq!(
            body,
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"a \\\"b\\\"\\u000a\",\"reason\":\"RequestEntityTooLarge\",\"code\":413}\n"
        );
    }
}
