//! Label selectors (`matchLabels` and `matchExpressions` with In, NotIn, Exists,
//! DoesNotExist) as NetworkPolicy uses them for pods and namespaces. A selector the parser
//! does not understand selects nothing, so a malformed peer never opens traffic.

use std::collections::BTreeMap;

use miniserde::json::Value;

use crate::json;

pub type Labels = BTreeMap<String, String>;

#[derive(Clone, Debug, PartialEq, Eq)]
enum Requirement {
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    DoesNotExist(String),
}

/// A parsed label selector; the empty one selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    requirements: Vec<Requirement>,
    /// Set when the selector could not be read: it then selects nothing.
    invalid: bool,
}

impl Selector {
    /// Parses a `LabelSelector` object; `null` or `{}` select everything.
    pub fn parse(v: &Value) -> Selector {
        let mut requirements = Vec::new();
        let mut invalid = false;
        for (key, value) in json::string_map(v, &["matchLabels"]) {
            requirements.push(Requirement::In(key.to_owned(), vec![value.to_owned()]));
        }
        if let Some(Value::Object(labels)) = json::get(v, &["matchLabels"]) {
            invalid |= labels.values().any(|v| !matches!(v, Value::String(_)));
        }
        for expression in json::get_array(v, &["matchExpressions"]) {
            match requirement(expression) {
                Some(r) => requirements.push(r),
                None => invalid = true,
            }
        }
        Selector {
            requirements,
            invalid,
        }
    }

    /// A selector requiring exactly these labels (tests and callers building selectors).
    pub fn from_labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Selector {
        let requirements = pairs
            .into_iter()
            .map(|(k, v)| Requirement::In(k.to_owned(), vec![v.to_owned()]));
        Selector {
            requirements: requirements.collect(),
            invalid: false,
        }
    }

    pub fn matches(&self, labels: &Labels) -> bool {
        !self.invalid && self.requirements.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &Labels) -> bool {
        match self {
            Requirement::In(k, values) => labels.get(k).is_some_and(|v| values.contains(v)),
            Requirement::NotIn(k, values) => labels.get(k).is_none_or(|v| !values.contains(v)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::DoesNotExist(k) => !labels.contains_key(k),
        }
    }
}

fn requirement(v: &Value) -> Option<Requirement> {
    let key = json::get_str(v, &["key"])?.to_owned();
    let values: Option<Vec<String>> = json::get_array(v, &["values"])
        .iter()
        .map(|s| json::as_str(s).map(str::to_owned))
        .collect();
    let values = values?;
    // Upstream validation: In and NotIn need values, Exists and DoesNotExist none.
    match (json::get_str(v, &["operator"])?, values.is_empty()) {
        ("In", false) => Some(Requirement::In(key, values)),
        ("NotIn", false) => Some(Requirement::NotIn(key, values)),
        ("Exists", true) => Some(Requirement::Exists(key)),
        ("DoesNotExist", true) => Some(Requirement::DoesNotExist(key)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn selector(text: &str) -> Selector {
        Selector::parse(&json::parse(text).unwrap())
    }

    #[test]
    fn empty_selects_everything_and_labels_must_all_match() {
        assert!(selector("{}").matches(&labels(&[])));
        let s = selector(r#"{"matchLabels":{"app":"web","tier":"front"}}"#);
        assert!(s.matches(&labels(&[("app", "web"), ("tier", "front"), ("x", "y")])));
        assert!(!s.matches(&labels(&[("app", "web")])));
        assert!(!s.matches(&labels(&[("app", "db"), ("tier", "front")])));
    }

    #[test]
    fn expressions() {
        let s = selector(
            r#"{"matchExpressions":[{"key":"app","operator":"In","values":["a","b"]},
                {"key":"env","operator":"NotIn","values":["prod"]},
                {"key":"team","operator":"Exists"},
                {"key":"legacy","operator":"DoesNotExist"}]}"#,
        );
        assert!(s.matches(&labels(&[("app", "b"), ("team", "x")])));
        assert!(s.matches(&labels(&[("app", "a"), ("team", "x"), ("env", "dev")])));
        assert!(!s.matches(&labels(&[("app", "c"), ("team", "x")])));
        assert!(!s.matches(&labels(&[("app", "a"), ("team", "x"), ("env", "prod")])));
        assert!(!s.matches(&labels(&[("app", "a")])));
        assert!(!s.matches(&labels(&[("app", "a"), ("team", "x"), ("legacy", "1")])));
    }

    #[test]
    fn malformed_selects_nothing() {
        for bad in [
            r#"{"matchExpressions":[{"key":"app","operator":"In","values":[]}]}"#,
            r#"{"matchExpressions":[{"key":"app","operator":"Exists","values":["x"]}]}"#,
            r#"{"matchExpressions":[{"key":"app","operator":"Near"}]}"#,
            r#"{"matchLabels":{"app":1}}"#,
        ] {
            assert!(!selector(bad).matches(&labels(&[("app", "x")])), "{bad}");
            assert!(!selector(bad).matches(&labels(&[])), "{bad}");
        }
    }
}
