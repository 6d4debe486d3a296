//! The JSONPath subset CRD printer columns use: `.spec.replicas`, `.items[0].name`,
//! `.items[*].name`, `.status.conditions[?(@.type=="Ready")].status`, optionally wrapped in
//! `{...}`. Anything else parses to a path that finds nothing (the cell shows `<none>`).

use miniserde::json::{Number, Value};

use super::age::age_since;
use crate::registry::json::{b, path, s};

#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
    All,
    /// `[?(@.a.b=="x")]`: keep array items whose path equals the literal.
    Filter(Vec<String>, String),
}

/// A parsed JSONPath expression.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonPath {
    steps: Option<Vec<Step>>,
}

impl JsonPath {
    pub fn parse(text: &str) -> JsonPath {
        let text = text.trim();
        let text = text
            .strip_prefix('{')
            .and_then(|t| t.strip_suffix('}'))
            .unwrap_or(text);
        JsonPath {
            steps: parse_steps(text.strip_prefix('$').unwrap_or(text)),
        }
    }

    /// Every value the path selects.
    pub fn find<'a>(&self, root: &'a Value) -> Vec<&'a Value> {
        let Some(steps) = &self.steps else {
            return Vec::new();
        };
        let mut current = vec![root];
        for step in steps {
            current = current.into_iter().flat_map(|v| apply(step, v)).collect();
        }
        current
    }
}

fn parse_steps(mut text: &str) -> Option<Vec<Step>> {
    let mut steps = Vec::new();
    while !text.is_empty() {
        if let Some(rest) = text.strip_prefix('.') {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            if end == 0 {
                return None;
            }
            steps.push(Step::Field(rest[..end].to_string()));
            text = &rest[end..];
        } else if let Some(rest) = text.strip_prefix('[') {
            let end = rest.find(']')?;
            steps.push(parse_bracket(&rest[..end])?);
            text = &rest[end + 1..];
        } else {
            return None;
        }
    }
    Some(steps)
}

fn parse_bracket(inner: &str) -> Option<Step> {
    if inner == "*" {
        return Some(Step::All);
    }
    if let Ok(index) = inner.parse::<usize>() {
        return Some(Step::Index(index));
    }
    let condition = inner.strip_prefix("?(@.")?.strip_suffix(')')?;
    let (field, literal) = condition.split_once("==")?;
    let literal = literal.trim().trim_matches(|c| c == '"' || c == '\'');
    let keys = field.trim().split('.').map(str::to_string).collect();
    Some(Step::Filter(keys, literal.to_string()))
}

fn apply<'a>(step: &Step, value: &'a Value) -> Vec<&'a Value> {
    match (step, value) {
        (Step::Field(name), Value::Object(map)) => map.get(name).into_iter().collect(),
        (Step::Index(i), Value::Array(items)) => items.get(*i).into_iter().collect(),
        (Step::All, Value::Array(items)) => items.iter().collect(),
        (Step::All, Value::Object(map)) => map.values().collect(),
        (Step::Filter(keys, literal), Value::Array(items)) => items
            .iter()
            .filter(|item| {
                let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
                path(item, &keys).is_some_and(|v| super::cells::plain(v) == *literal)
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// The cell of a CRD column: the first match converted to the column's type, `null` when
/// nothing matches or the type does not fit (kubectl prints `<none>`); dates become ages.
pub fn cell(path: &JsonPath, type_: &str, object: &Value, now: i64) -> Value {
    let Some(value) = path.find(object).into_iter().next() else {
        return Value::Null;
    };
    match (type_, value) {
        ("string", Value::String(text)) => s(text),
        ("string", Value::Null) => Value::Null,
        ("string", other) => s(&super::cells::plain(other)),
        ("integer", Value::Number(Number::F64(f))) => crate::registry::json::int(float_to_int(*f)),
        ("integer" | "number", Value::Number(n)) => Value::Number(n.clone()),
        ("boolean", Value::Bool(flag)) => b(*flag),
        ("date", Value::String(text)) => s(&age_since(Some(text), now)),
        _ => Value::Null,
    }
}

/// Upstream converts a float integer column with Go's `int64(v)`: truncation, saturating.
#[allow(clippy::cast_possible_truncation)]
fn float_to_int(f: f64) -> i64 {
    f.trunc() as i64
}

#[cfg(test)]
mod tests {
    use miniserde::json;

    use super::*;

    fn doc() -> Value {
        json::from_str(
            r#"{"spec":{"replicas":3,"items":[{"name":"a"},{"name":"b"}]},
                "status":{"conditions":[{"type":"Synced","status":"False"},{"type":"Ready","status":"True"}]},
                "metadata":{"creationTimestamp":"2025-01-01T00:00:00Z"}}"#,
        )
        .unwrap()
    }

    #[test]
    fn paths_select_fields_indexes_and_filters() {
        let d = doc();
        let text = |p: &str| {
            JsonPath::parse(p)
                .find(&d)
                .iter()
                .map(|v| super::super::cells::plain(v))
                .collect::<Vec<_>>()
        };
        assert_eq!(text(".spec.replicas"), ["3"]);
        assert_eq!(text("{.spec.items[1].name}"), ["b"]);
        assert_eq!(text(".spec.items[*].name"), ["a", "b"]);
        assert_eq!(
            text(r#".status.conditions[?(@.type=="Ready")].status"#),
            ["True"]
        );
        assert!(text(".spec.missing").is_empty());
        assert!(text("spec..bad").is_empty());
    }

    #[test]
    fn cells_follow_column_types() {
        let d = doc();
        let now = 1_735_689_600 + 3600;
        assert_eq!(
            crate::registry::json::to_string(&cell(
                &JsonPath::parse(".spec.replicas"),
                "integer",
                &d,
                now
            )),
            "3"
        );
        let age = cell(
            &JsonPath::parse(".metadata.creationTimestamp"),
            "date",
            &d,
            now,
        );
        assert_eq!(crate::registry::json::to_string(&age), "\"60m\"");
        let wrong = cell(&JsonPath::parse(".spec.items"), "boolean", &d, now);
        assert!(matches!(wrong, Value::Null));
        let missing = cell(&JsonPath::parse(".nope"), "string", &d, now);
        assert!(matches!(missing, Value::Null));
    }
}
