//! The `metav1.Status` JSON the server itself sends when it rejects a request before any
//! handler sees it (431, 413, 400, 408, 429, 501). The shape is fixed; strings are escaped
//! by the one JSON writer (`status::json_str`).

/// `{"kind":"Status",...}` for a failure with `code`, `reason` and `message`.
pub fn status_json(code: u16, reason: &str, message: &str) -> Vec<u8> {
    use crate::status::json_str;
    format!(
        "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":{},\"reason\":{},\"code\":{code}}}\n",
        json_str(message),
        json_str(reason)
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_quotes_and_controls() {
        let body =
            String::from_utf8(status_json(413, "RequestEntityTooLarge", "a \"b\"\n")).unwrap();
        assert!(
            body.starts_with("{\"kind\":\"Status\",\"apiVersion\":\"v1\""),
            "{body}"
        );
        assert!(body.ends_with(",\"code\":413}\n"), "{body}");
        let parsed: miniserde::json::Value = miniserde::json::from_str(body.trim_end()).unwrap();
        let field = |k| crate::object::meta::get_str(&parsed, &[k]).map(str::to_owned);
        assert_eq!(field("message").as_deref(), Some("a \"b\"\n"));
        assert_eq!(field("reason").as_deref(), Some("RequestEntityTooLarge"));
    }
}
