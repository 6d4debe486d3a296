//! Parsing of `WWW-Authenticate` headers (RFC 7235 challenges) as registries send them:
//! `Bearer realm="...",service="...",scope="..."` or `Basic realm="..."`, possibly several
//! challenges in one header. The input is untrusted, so the parser never panics and treats
//! anything malformed as the end of what it can understand.

/// One authentication challenge: its scheme (lowercased) and its parameters in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub scheme: String,
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// A parameter's value by case-insensitive name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// Every challenge in one header value, in order; unknown schemes are kept too.
pub fn parse(header: &str) -> Vec<Challenge> {
    let mut cursor = Cursor {
        bytes: header.as_bytes(),
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        cursor.skip(|b| b == b',' || is_space(b));
        let scheme = cursor.token();
        if scheme.is_empty() {
            break;
        }
        let params = cursor.params();
        challenges.push(Challenge {
            scheme: scheme.to_ascii_lowercase(),
            params,
        });
    }
    challenges
}

struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn skip(&mut self, mut pred: impl FnMut(u8) -> bool) {
        while self.peek().is_some_and(&mut pred) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> String {
        let start = self.pos;
        self.skip(is_token_char);
        String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned()
    }

    /// `name=value` pairs separated by commas; stops where the next challenge's scheme
    /// starts (a token not followed by `=`) or at anything unparseable.
    fn params(&mut self) -> Vec<(String, String)> {
        let mut params = Vec::new();
        loop {
            self.skip(|b| b == b',' || is_space(b));
            let start = self.pos;
            let name = self.token();
            self.skip(is_space);
            if name.is_empty() || self.peek() != Some(b'=') {
                self.pos = start;
                return params;
            }
            self.pos += 1;
            self.skip(is_space);
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.bare()
            };
            params.push((name.to_ascii_lowercase(), value));
        }
    }

    fn quoted(&mut self) -> String {
        self.pos += 1;
        let mut value = Vec::new();
        while let Some(b) = self.peek() {
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.pos += 1;
                    }
                }
                _ => value.push(b),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }

    /// A bare value, read leniently up to the next comma or space: some servers leave
    /// URLs unquoted.
    fn bare(&mut self) -> String {
        let start = self.pos;
        self.skip(|b| b != b',' && !is_space(b));
        String::from_utf8_lossy(&self.bytes[start..self.pos]).into_owned()
    }
}

fn is_space(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn docker_hub_bearer_challenge() {
        let got = parse(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull""#,
        );
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].scheme, "bearer");
        assert_eq!(got[0].param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(got[0].param("service"), Some("registry.docker.io"));
        assert_eq!(
            got[0].param("scope"),
            Some("repository:library/busybox:pull")
        );
    }

    #[test]
    fn two_challenges_spaces_escapes_and_bare_values() {
        let got = parse(
            r#"Basic realm="a \"quoted\" realm" , Bearer realm=https://x/t, error=insufficient_scope"#,
        );
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].scheme, "basic");
        assert_eq!(got[0].param("REALM"), Some(r#"a "quoted" realm"#));
        assert_eq!(got[1].scheme, "bearer");
        assert_eq!(got[1].param("realm"), Some("https://x/t"));
        assert_eq!(got[1].param("error"), Some("insufficient_scope"));
    }

    #[test]
    fn scheme_without_params_and_garbage() {
        assert_eq!(parse("Negotiate").len(), 1);
        assert_eq!(parse("").len(), 0);
        assert_eq!(parse("  ,, ").len(), 0);
        // A realm with an unterminated quote keeps what is there.
        let got = parse(r#"Bearer realm="https://x"#);
        assert_eq!(got[0].param("realm"), Some("https://x"));
    }

    fn render(challenges: &[Challenge]) -> String {
        let parts: Vec<String> = challenges
            .iter()
            .map(|c| {
                let params: Vec<String> = c
                    .params
                    .iter()
                    .map(|(k, v)| {
                        let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
                        format!("{k}=\"{escaped}\"")
                    })
                    .collect();
                format!("{} {}", c.scheme, params.join(", "))
            })
            .collect();
        parts.join(", ")
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(input in ".{0,200}") {
            let _ = parse(&input);
        }

        #[test]
        fn never_panics_on_header_like_input(input in r#"[A-Za-z =",\\/:.\t-]{0,120}"#) {
            for challenge in parse(&input) {
                prop_assert!(!challenge.scheme.is_empty());
            }
        }

        #[test]
        fn rendered_challenges_parse_back(
            schemes in proptest::collection::vec("[a-z][a-z0-9]{0,8}", 1..4),
            values in proptest::collection::vec(r#"[ -~]{0,20}"#, 0..4),
        ) {
            let challenges: Vec<Challenge> = schemes
                .iter()
                .map(|scheme| Challenge {
                    scheme: scheme.clone(),
                    params: values
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("p{i}"), v.clone()))
                        .collect(),
                })
                .collect();
            prop_assert_eq!(parse(&render(&challenges)), challenges);
        }
    }
}
