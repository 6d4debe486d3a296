//! Label selectors: the string grammar of `?labelSelector=` (`a=b,a==b,a!=b,a in (x,y),
//! a notin (x),a,!a`, plus `a>1`/`a<1`), the structured `metav1.LabelSelector`
//! (matchLabels + matchExpressions) used by Deployments, Services and friends, and matching
//! against a set of labels. Parsing, validation and messages follow apimachinery's
//! `pkg/labels/selector.go`; both forms produce the same [`LabelSelector`].

use super::validation::{label_value_errors, qualified_name_errors};
use miniserde::json::{Object, Value};
use std::collections::BTreeMap;
use std::fmt;

/// A requirement's operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

/// One `key op values` term; all terms of a selector must hold (AND).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    key: String,
    operator: Operator,
    /// Sorted and deduplicated, as upstream's string set.
    values: Vec<String>,
}

/// A parsed label selector. The empty selector matches everything; [`LabelSelector::nothing`]
/// (what an absent structured selector means) matches nothing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LabelSelector {
    requirements: Vec<Requirement>,
    matches_nothing: bool,
}

/// Why a label selector was rejected; the text is what the API server puts in its 400.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelSelectorError(String);

impl fmt::Display for LabelSelectorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LabelSelectorError {}

/// Read access to an object's labels.
pub trait Labels {
    fn label(&self, key: &str) -> Option<&str>;
}

impl Labels for BTreeMap<String, String> {
    fn label(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// `metadata.labels` as decoded JSON; non-string values count as absent.
impl Labels for Object {
    fn label(&self, key: &str) -> Option<&str> {
        match self.get(key) {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }
}

/// The `metadata.labels` object of `object`, if it has one.
pub fn object_labels(object: &Value) -> Option<&Object> {
    let Value::Object(root) = object else {
        return None;
    };
    match root.get("metadata") {
        Some(Value::Object(metadata)) => match metadata.get("labels") {
            Some(Value::Object(labels)) => Some(labels),
            _ => None,
        },
        _ => None,
    }
}

impl Labels for [(&str, &str)] {
    fn label(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
}

impl Requirement {
    /// Builds a validated requirement (apimachinery's `NewRequirement`).
    pub fn new(
        key: &str,
        operator: Operator,
        values: Vec<String>,
    ) -> Result<Self, LabelSelectorError> {
        let mut errors = Vec::new();
        let key_errors = qualified_name_errors(key);
        if !key_errors.is_empty() {
            errors.push(format!(
                "key: Invalid value: {key:?}: {}",
                key_errors.join("; ")
            ));
        }
        if let Some(problem) = arity_problem(operator, &values) {
            errors.push(format!(
                "values: Invalid value: {}: {problem}",
                go_string_slice(&values)
            ));
        }
        if matches!(operator, Operator::GreaterThan | Operator::LessThan) {
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errors.push(format!(
                        "values[{i}]: Invalid value: {v:?}: for 'Gt', 'Lt' operators, the value must be an integer"
                    ));
                }
            }
        }
        for (i, v) in values.iter().enumerate() {
            let value_errors = label_value_errors(v);
            if !value_errors.is_empty() {
                errors.push(format!(
                    "values[{i}][{key}]: Invalid value: {v:?}: {}",
                    value_errors.join("; ")
                ));
            }
        }
        if !errors.is_empty() {
            return Err(LabelSelectorError(aggregate(errors)));
        }
        let mut values = values;
        values.sort();
        values.dedup();
        Ok(Self {
            key: key.to_owned(),
            operator,
            values,
        })
    }

    pub fn key(&self) -> &str {
        &self.key
    }

    pub fn operator(&self) -> Operator {
        self.operator
    }

    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether `labels` satisfy this requirement. A missing label satisfies `!=`, `notin`
    /// and `!key`, as upstream.
    pub fn matches(&self, labels: &(impl Labels + ?Sized)) -> bool {
        let value = labels.label(&self.key);
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => value.is_some_and(listed),
            Operator::NotEquals | Operator::NotIn => !value.is_some_and(listed),
            Operator::Exists => value.is_some(),
            Operator::DoesNotExist => value.is_none(),
            Operator::GreaterThan | Operator::LessThan => {
                let (Some(actual), Some(bound)) = (
                    value.and_then(|v| v.parse::<i64>().ok()),
                    self.values.first().and_then(|v| v.parse::<i64>().ok()),
                ) else {
                    return false;
                };
                if self.operator == Operator::GreaterThan {
                    actual > bound
                } else {
                    actual < bound
                }
            }
        }
    }
}

fn arity_problem(operator: Operator, values: &[String]) -> Option<&'static str> {
    match operator {
        Operator::In | Operator::NotIn if values.is_empty() => {
            Some("for 'in', 'notin' operators, values set can't be empty")
        }
        Operator::Equals | Operator::DoubleEquals | Operator::NotEquals if values.len() != 1 => {
            Some("exact-match compatibility requires one single value")
        }
        Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
            Some("values set must be empty for exists and does not exist")
        }
        Operator::GreaterThan | Operator::LessThan if values.len() != 1 => {
            Some("for 'Gt', 'Lt' operators, exactly one value is required")
        }
        _ => None,
    }
}

fn go_string_slice(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| format!("{v:?}")).collect();
    format!("[]string{{{}}}", quoted.join(", "))
}

/// Joins errors the way apimachinery's aggregate prints them.
fn aggregate(mut errors: Vec<String>) -> String {
    if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    }
}

impl LabelSelector {
    /// Matches every object (the empty string, or `{}` as a structured selector).
    pub fn everything() -> Self {
        Self::default()
    }

    /// Matches no object (an absent structured selector).
    pub fn nothing() -> Self {
        Self {
            requirements: Vec::new(),
            matches_nothing: true,
        }
    }

    /// Builds from requirements (sorted by key, as upstream).
    pub fn from_requirements(mut requirements: Vec<Requirement>) -> Self {
        requirements.sort_by(|a, b| a.key.cmp(&b.key));
        Self {
            requirements,
            matches_nothing: false,
        }
    }

    pub fn requirements(&self) -> &[Requirement] {
        &self.requirements
    }

    /// True when the selector matches every object.
    pub fn is_everything(&self) -> bool {
        !self.matches_nothing && self.requirements.is_empty()
    }

    pub fn matches(&self, labels: &(impl Labels + ?Sized)) -> bool {
        !self.matches_nothing && self.requirements.iter().all(|r| r.matches(labels))
    }

    /// Matches a whole object by its `metadata.labels` (absent labels: none).
    pub fn matches_object(&self, object: &Value) -> bool {
        match object_labels(object) {
            Some(labels) => self.matches(labels),
            None => self.matches(&[] as &[(&str, &str)]),
        }
    }

    /// Parses the `labelSelector` query grammar.
    pub fn parse(text: &str) -> Result<Self, LabelSelectorError> {
        super::label_parser::parse(text).map(Self::from_requirements)
    }

    /// Converts a structured `metav1.LabelSelector` (`None`/`null` matches nothing, `{}`
    /// everything), as apimachinery's `LabelSelectorAsSelector`.
    pub fn from_structured(selector: Option<&Value>) -> Result<Self, LabelSelectorError> {
        let selector = match selector {
            None | Some(Value::Null) => return Ok(Self::nothing()),
            Some(Value::Object(map)) => map,
            Some(_) => {
                return Err(LabelSelectorError(
                    "label selector must be an object".into(),
                ));
            }
        };
        let mut requirements = Vec::new();
        if let Some(labels) = selector.get("matchLabels") {
            let Value::Object(labels) = labels else {
                return Err(LabelSelectorError("matchLabels must be an object".into()));
            };
            for (key, value) in labels.iter() {
                let value = string_member(value, "matchLabels values")?;
                requirements.push(Requirement::new(
                    key,
                    Operator::Equals,
                    vec![value.to_owned()],
                )?);
            }
        }
        if let Some(expressions) = selector.get("matchExpressions") {
            let Value::Array(expressions) = expressions else {
                return Err(LabelSelectorError("matchExpressions must be a list".into()));
            };
            for expression in expressions.iter() {
                requirements.push(expression_requirement(expression)?);
            }
        }
        Ok(Self::from_requirements(requirements))
    }
}

fn string_member<'v>(value: &'v Value, what: &str) -> Result<&'v str, LabelSelectorError> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(LabelSelectorError(format!("{what} must be strings"))),
    }
}

fn expression_requirement(expression: &Value) -> Result<Requirement, LabelSelectorError> {
    let Value::Object(expression) = expression else {
        return Err(LabelSelectorError(
            "matchExpressions items must be objects".into(),
        ));
    };
    let field = |name: &str| {
        expression
            .get(name)
            .map(|v| string_member(v, name))
            .transpose()
    };
    let key = field("key")?.unwrap_or_default();
    let operator = match field("operator")?.unwrap_or_default() {
        "In" => Operator::In,
        "NotIn" => Operator::NotIn,
        "Exists" => Operator::Exists,
        "DoesNotExist" => Operator::DoesNotExist,
        other => {
            return Err(LabelSelectorError(format!(
                "{other:?} is not a valid label selector operator"
            )));
        }
    };
    let values = match expression.get("values") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| string_member(v, "values").map(str::to_owned))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(LabelSelectorError("values must be a list".into())),
    };
    Requirement::new(key, operator, values)
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = &self.key;
        let first = self.values.first().map_or("", String::as_str);
        match self.operator {
            Operator::Exists => write!(f, "{key}"),
            Operator::DoesNotExist => write!(f, "!{key}"),
            Operator::Equals => write!(f, "{key}={first}"),
            Operator::DoubleEquals => write!(f, "{key}=={first}"),
            Operator::NotEquals => write!(f, "{key}!={first}"),
            Operator::GreaterThan => write!(f, "{key}>{first}"),
            Operator::LessThan => write!(f, "{key}<{first}"),
            Operator::In => write!(f, "{key} in ({})", self.values.join(",")),
            Operator::NotIn => write!(f, "{key} notin ({})", self.values.join(",")),
        }
    }
}

/// The canonical string form (terms sorted by key), parseable again.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, requirement) in self.requirements.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{requirement}")?;
        }
        Ok(())
    }
}

impl LabelSelectorError {
    pub(super) fn new(message: String) -> Self {
        Self(message)
    }
}

#[cfg(test)]
mod tests;
