//! Field selectors (`?fieldSelector=metadata.name=x,status.phase!=Running`): `=`, `==` and
//! `!=` terms joined by commas (AND), with `\,` `\=` `\\` escapes in values, as
//! apimachinery's `pkg/fields/selector.go`. The caller supplies field values through
//! [`Fields`] and decides which field names a resource supports.

use miniserde::json::Value;
use std::fmt;

/// A term's operator; `=` and `==` mean the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldOperator {
    Equals,
    DoubleEquals,
    NotEquals,
}

/// One `field op value` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldRequirement {
    pub field: String,
    pub operator: FieldOperator,
    pub value: String,
}

/// A parsed field selector; empty matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldSelector {
    requirements: Vec<FieldRequirement>,
}

/// Why a field selector was rejected (the API server answers 400 with this text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldSelectorError {
    /// A term with no operator.
    Invalid { selector: String, term: String },
    /// A backslash not followed by `\`, `,` or `=`.
    InvalidEscape(String),
    /// A `,` or `=` left unescaped in a value.
    UnescapedRune(char),
    /// A field the resource does not index.
    Unsupported(String),
}

impl fmt::Display for FieldSelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid { selector, term } => {
                write!(
                    f,
                    "invalid selector: '{selector}'; can't understand '{term}'"
                )
            }
            Self::InvalidEscape(sequence) => {
                write!(
                    f,
                    "invalid field selector: invalid escape sequence: {sequence}"
                )
            }
            Self::UnescapedRune(c) => {
                write!(
                    f,
                    "invalid field selector: unescaped character in value: {c}"
                )
            }
            Self::Unsupported(field) => write!(f, "field label not supported: {field}"),
        }
    }
}

impl std::error::Error for FieldSelectorError {}

/// Field values of one object, by selector name (`metadata.name`, `spec.nodeName`). An
/// absent field compares as the empty string, as upstream's `fields.Set`.
pub trait Fields {
    fn field(&self, name: &str) -> Option<String>;
}

impl<F: Fn(&str) -> Option<String>> Fields for F {
    fn field(&self, name: &str) -> Option<String> {
        self(name)
    }
}

/// Field values read from a decoded object by dotted path (`metadata.name`,
/// `involvedObject.kind`, `spec.nodeName`): strings as they are, numbers and booleans in
/// their JSON spelling, anything else absent. Covers the selectors upstream builds the same
/// way; a kind with computed fields wraps this in its own [`Fields`].
#[derive(Debug, Clone, Copy)]
pub struct ObjectFields<'v>(pub &'v Value);

impl Fields for ObjectFields<'_> {
    fn field(&self, name: &str) -> Option<String> {
        let mut node = self.0;
        for segment in name.split('.') {
            let Value::Object(object) = node else {
                return None;
            };
            node = object.get(segment)?;
        }
        match node {
            Value::String(s) => Some(s.clone()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }
}

impl FieldRequirement {
    pub fn matches(&self, fields: &dyn Fields) -> bool {
        let actual = fields.field(&self.field).unwrap_or_default();
        match self.operator {
            FieldOperator::Equals | FieldOperator::DoubleEquals => actual == self.value,
            FieldOperator::NotEquals => actual != self.value,
        }
    }
}

impl FieldSelector {
    /// Parses the `fieldSelector` query value.
    pub fn parse(selector: &str) -> Result<Self, FieldSelectorError> {
        let mut terms = split_unescaped(selector, b',');
        terms.sort_unstable();
        let mut requirements = Vec::with_capacity(terms.len());
        for term in terms.into_iter().filter(|t| !t.is_empty()) {
            let (field, operator, raw) =
                split_term(term).ok_or_else(|| FieldSelectorError::Invalid {
                    selector: selector.to_owned(),
                    term: term.to_owned(),
                })?;
            requirements.push(FieldRequirement {
                field: field.to_owned(),
                operator,
                value: unescape_value(raw)?,
            });
        }
        Ok(Self { requirements })
    }

    pub fn requirements(&self) -> &[FieldRequirement] {
        &self.requirements
    }

    pub fn is_everything(&self) -> bool {
        self.requirements.is_empty()
    }

    pub fn matches(&self, fields: &dyn Fields) -> bool {
        self.requirements.iter().all(|r| r.matches(fields))
    }

    /// Rejects the first field not in `supported` (`field label not supported: X`).
    pub fn check_supported(&self, supported: &[&str]) -> Result<(), FieldSelectorError> {
        match self
            .requirements
            .iter()
            .find(|r| !supported.contains(&r.field.as_str()))
        {
            Some(r) => Err(FieldSelectorError::Unsupported(r.field.clone())),
            None => Ok(()),
        }
    }

    /// The value `field` must equal, if a term pins it (watch of one named object).
    pub fn exact_match(&self, field: &str) -> Option<&str> {
        self.requirements
            .iter()
            .find(|r| r.field == field && r.operator != FieldOperator::NotEquals)
            .map(|r| r.value.as_str())
    }
}

/// Splits on `separator` bytes not preceded by an escaping backslash.
fn split_unescaped(text: &str, separator: u8) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut parts = Vec::new();
    let (mut start, mut i) = (0, 0);
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == separator {
            parts.push(&text[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&text[start.min(text.len())..]);
    parts
}

/// The leftmost unescaped operator splits a term; at one position `!=` beats `==` beats `=`.
fn split_term(term: &str) -> Option<(&str, FieldOperator, &str)> {
    const OPERATORS: [(&str, FieldOperator); 3] = [
        ("!=", FieldOperator::NotEquals),
        ("==", FieldOperator::DoubleEquals),
        ("=", FieldOperator::Equals),
    ];
    let bytes = term.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        // Bytes, not str: `i` steps bytewise through multi-byte characters; the operators
        // are ASCII, so a match is always on a character boundary.
        for (text, operator) in OPERATORS {
            if bytes[i..].starts_with(text.as_bytes()) {
                return Some((&term[..i], operator, &term[i + text.len()..]));
            }
        }
        i += 1;
    }
    None
}

fn unescape_value(raw: &str) -> Result<String, FieldSelectorError> {
    if !raw.contains(['\\', ',', '=']) {
        return Ok(raw.to_owned());
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped @ ('\\' | ',' | '=')) => out.push(escaped),
                Some(other) => {
                    return Err(FieldSelectorError::InvalidEscape(format!("\\{other}")));
                }
                None => return Err(FieldSelectorError::InvalidEscape("\\".to_owned())),
            },
            ',' | '=' => return Err(FieldSelectorError::UnescapedRune(c)),
            other => out.push(other),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn multibyte_characters_do_not_panic() {
        // Found by the selectors fuzz target: slicing inside 'ݝ' panicked.
        assert!(super::FieldSelector::parse("ݝ").is_err());
        assert!(super::FieldSelector::parse("\\ݝ").is_err());
        assert!(super::FieldSelector::parse("a=\\ݝ=b").is_err());
        let parsed = super::FieldSelector::parse("é\\ü==ß").unwrap();
        assert_eq!(parsed.requirements().len(), 1);
    }

    use super::*;

    fn pod(name: &str) -> Option<String> {
        match name {
            "metadata.name" => Some("web-1".into()),
            "status.phase" => Some("Running".into()),
            "spec.nodeName" => Some("a,b=c".into()),
            _ => None,
        }
    }

    #[test]
    fn parses_and_matches_terms() {
        let s = FieldSelector::parse("metadata.name=web-1,status.phase!=Pending").unwrap();
        assert_eq!(s.requirements().len(), 2);
        assert!(s.matches(&pod));
        assert!(
            !FieldSelector::parse("metadata.name==web-2")
                .unwrap()
                .matches(&pod)
        );
        assert!(FieldSelector::parse("").unwrap().is_everything());
        assert!(FieldSelector::parse(",,").unwrap().matches(&pod));
        assert_eq!(
            FieldSelector::parse("status.phase==Running")
                .unwrap()
                .requirements()[0]
                .operator,
            FieldOperator::DoubleEquals
        );
    }

    #[test]
    fn missing_fields_compare_as_empty() {
        assert!(FieldSelector::parse("spec.other=").unwrap().matches(&pod));
        assert!(FieldSelector::parse("spec.other!=x").unwrap().matches(&pod));
    }

    #[test]
    fn escapes_in_values() {
        let s = FieldSelector::parse(r"spec.nodeName=a\,b\=c").unwrap();
        assert_eq!(s.requirements()[0].value, "a,b=c");
        assert!(s.matches(&pod));
        assert_eq!(
            FieldSelector::parse(r"a=b\x").unwrap_err().to_string(),
            r"invalid field selector: invalid escape sequence: \x"
        );
        assert_eq!(
            FieldSelector::parse("a=b=c").unwrap_err().to_string(),
            "invalid field selector: unescaped character in value: ="
        );
    }

    #[test]
    fn leftmost_operator_wins() {
        let s = FieldSelector::parse("a!=b").unwrap();
        assert_eq!(s.requirements()[0].operator, FieldOperator::NotEquals);
        assert_eq!(s.requirements()[0].field, "a");
        let s = FieldSelector::parse("a=!b");
        assert_eq!(s.unwrap().requirements()[0].value, "!b");
    }

    #[test]
    fn object_fields_by_dotted_path() {
        let pod = miniserde::json::from_str::<Value>(
            r#"{"metadata":{"name":"p","namespace":"ns"},"spec":{"nodeName":"n1","hostNetwork":true,"priority":5}}"#,
        )
        .unwrap();
        let fields = ObjectFields(&pod);
        assert!(
            FieldSelector::parse("metadata.name=p,metadata.namespace=ns,spec.nodeName=n1")
                .unwrap()
                .matches(&fields)
        );
        assert!(
            FieldSelector::parse("spec.hostNetwork=true,spec.priority=5")
                .unwrap()
                .matches(&fields)
        );
        assert!(
            FieldSelector::parse("status.phase=")
                .unwrap()
                .matches(&fields)
        );
        assert!(
            !FieldSelector::parse("spec.nodeName!=n1")
                .unwrap()
                .matches(&fields)
        );
        assert_eq!(fields.field("metadata"), None);
    }

    #[test]
    fn invalid_and_unsupported() {
        assert_eq!(
            FieldSelector::parse("metadata.name")
                .unwrap_err()
                .to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        let s = FieldSelector::parse("metadata.name=x,spec.bogus=y").unwrap();
        assert_eq!(
            s.check_supported(&["metadata.name", "metadata.namespace"])
                .unwrap_err()
                .to_string(),
            "field label not supported: spec.bogus"
        );
        assert!(s.check_supported(&["metadata.name", "spec.bogus"]).is_ok());
        assert_eq!(s.exact_match("metadata.name"), Some("x"));
        assert_eq!(
            FieldSelector::parse("metadata.name!=x")
                .unwrap()
                .exact_match("metadata.name"),
            None
        );
    }
}
