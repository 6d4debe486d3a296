//! Query strings as Kubernetes clients send them: `&`-separated `key=value` pairs,
//! percent-encoded, `+` for space, keys repeated for lists (`command=sh&command=-c`).

use std::borrow::Cow;

/// Decoded query pairs in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `raw` (the part after `?`). Invalid escapes are kept literally and invalid
    /// UTF-8 is replaced, as Go's net/url does not fail the request for them either.
    pub fn parse(raw: &str) -> Query {
        let pairs = raw
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                (
                    decode_component(k).into_owned(),
                    decode_component(v).into_owned(),
                )
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of `key`, in order.
    pub fn get_all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Decodes one query component: `%XX` escapes and `+` as space.
pub fn decode_component(text: &str) -> Cow<'_, str> {
    if !text.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() && hex_pair(bytes[i + 1], bytes[i + 2]).is_some() => {
                out.extend(hex_pair(bytes[i + 1], bytes[i + 2]));
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Decodes a path segment: `%XX` escapes only (`+` is literal in paths).
pub fn decode_path_segment(text: &str) -> Cow<'_, str> {
    if !text.contains('%') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(decode_component(&text.replace('+', "%2B")).into_owned())
}

fn hex_pair(hi: u8, lo: u8) -> Option<u8> {
    let digit = |c: u8| (c as char).to_digit(16);
    u8::try_from(digit(hi)? * 16 + digit(lo)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_and_decoding() {
        let q = Query::parse(
            "command=sh&command=-c&command=echo+a%20b&labelSelector=app%3Dweb%2Cx!%3Dy&watch",
        );
        assert_eq!(
            q.get_all("command").collect::<Vec<_>>(),
            ["sh", "-c", "echo a b"]
        );
        assert_eq!(q.get("labelSelector"), Some("app=web,x!=y"));
        assert_eq!(q.get("watch"), Some(""));
        assert_eq!(q.get("missing"), None);
    }

    #[test]
    fn invalid_escapes_are_literal() {
        assert_eq!(decode_component("100%"), "100%");
        assert_eq!(decode_component("%zz%4"), "%zz%4");
        assert_eq!(decode_component("%ff"), "\u{fffd}");
        assert_eq!(decode_path_segment("a+b%2Fc"), "a+b/c");
    }
}
