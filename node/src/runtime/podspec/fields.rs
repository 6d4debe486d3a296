//! Typed reads from a `miniserde::json::Value` object, with the JSON path kept for errors.
//!
//! Absent and `null` fields read as `None`; a field of the wrong JSON type is an error naming
//! its path (`spec.containers[0].ports[1].containerPort`), never a silent default.

use std::collections::BTreeMap;

use miniserde::json::{Number, Object, Value};

use super::SpecError;

/// One JSON object and where it sits in the document.
pub(crate) struct Fields<'a> {
    object: &'a Object,
    path: String,
}

impl<'a> Fields<'a> {
    pub(crate) fn root(value: &'a Value) -> Result<Fields<'a>, SpecError> {
        match value {
            Value::Object(object) => Ok(Fields {
                object,
                path: String::new(),
            }),
            _ => Err(SpecError::new("", "not a JSON object")),
        }
    }

    fn child_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    fn error(&self, key: &str, reason: &str) -> SpecError {
        SpecError::new(&self.child_path(key), reason)
    }

    fn value(&self, key: &str) -> Option<&'a Value> {
        self.object.get(key).filter(|v| !matches!(v, Value::Null))
    }

    pub(crate) fn str(&self, key: &str) -> Result<Option<String>, SpecError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(self.error(key, "expected a string")),
        }
    }

    pub(crate) fn string(&self, key: &str) -> Result<String, SpecError> {
        Ok(self.str(key)?.unwrap_or_default())
    }

    pub(crate) fn i64(&self, key: &str) -> Result<Option<i64>, SpecError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Number(n)) => number_to_i64(n)
                .map(Some)
                .ok_or_else(|| self.error(key, "expected an integer")),
            Some(_) => Err(self.error(key, "expected an integer")),
        }
    }

    pub(crate) fn i32(&self, key: &str) -> Result<Option<i32>, SpecError> {
        match self.i64(key)? {
            None => Ok(None),
            Some(n) => i32::try_from(n)
                .map(Some)
                .map_err(|_| self.error(key, "integer out of range")),
        }
    }

    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, SpecError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(self.error(key, "expected a boolean")),
        }
    }

    pub(crate) fn flag(&self, key: &str) -> Result<bool, SpecError> {
        Ok(self.bool(key)?.unwrap_or(false))
    }

    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, SpecError> {
        let mut out = Vec::new();
        for (index, item) in self.array_values(key)?.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => return Err(self.error(&format!("{key}[{index}]"), "expected a string")),
            }
        }
        Ok(out)
    }

    pub(crate) fn i64s(&self, key: &str) -> Result<Vec<i64>, SpecError> {
        let mut out = Vec::new();
        for (index, item) in self.array_values(key)?.iter().enumerate() {
            match item {
                Value::Number(n) if number_to_i64(n).is_some() => out.extend(number_to_i64(n)),
                _ => return Err(self.error(&format!("{key}[{index}]"), "expected an integer")),
            }
        }
        Ok(out)
    }

    /// A `map[string]string` such as labels.
    pub(crate) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, SpecError> {
        let Some(object) = self.object(key)? else {
            return Ok(BTreeMap::new());
        };
        let mut out = BTreeMap::new();
        for (name, value) in object.object {
            match value {
                Value::String(s) => drop(out.insert(name.clone(), s.clone())),
                _ => return Err(object.error(name, "expected a string")),
            }
        }
        Ok(out)
    }

    pub(crate) fn object(&self, key: &str) -> Result<Option<Fields<'a>>, SpecError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::Object(object)) => Ok(Some(Fields {
                object,
                path: self.child_path(key),
            })),
            Some(_) => Err(self.error(key, "expected an object")),
        }
    }

    /// Each element of an array of objects.
    pub(crate) fn objects(&self, key: &str) -> Result<Vec<Fields<'a>>, SpecError> {
        let mut out = Vec::new();
        for (index, item) in self.array_values(key)?.iter().enumerate() {
            let path = self.child_path(&format!("{key}[{index}]"));
            match item {
                Value::Object(object) => out.push(Fields { object, path }),
                _ => return Err(SpecError::new(&path, "expected an object")),
            }
        }
        Ok(out)
    }

    fn array_values(&self, key: &str) -> Result<&'a [Value], SpecError> {
        match self.value(key) {
            None => Ok(&[]),
            Some(Value::Array(items)) => Ok(items),
            Some(_) => Err(self.error(key, "expected an array")),
        }
    }

    /// The field re-serialised as JSON text, for parts the agent interprets itself.
    pub(crate) fn raw(&self, key: &str) -> Option<String> {
        self.value(key).map(miniserde::json::to_string)
    }

    /// An int-or-string field (ports, maxUnavailable).
    pub(crate) fn int_or_string(&self, key: &str) -> Result<Option<IntOrString>, SpecError> {
        match self.value(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(IntOrString::String(s.clone()))),
            Some(Value::Number(_)) => Ok(self.i64(key)?.map(IntOrString::Int)),
            Some(_) => Err(self.error(key, "expected an integer or a string")),
        }
    }

    /// The keys present (non-null) in this object.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'a String> + 'a {
        let object = self.object;
        object
            .iter()
            .filter(|(_, v)| !matches!(v, Value::Null))
            .map(|(k, _)| k)
    }

    pub(crate) fn fail(&self, key: &str, reason: &str) -> SpecError {
        self.error(key, reason)
    }
}

/// A Kubernetes IntOrString.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntOrString {
    Int(i64),
    String(String),
}

fn number_to_i64(n: &Number) -> Option<i64> {
    match *n {
        Number::U64(u) => i64::try_from(u).ok(),
        Number::I64(i) => Some(i),
        #[allow(clippy::cast_possible_truncation)] // guarded: integral and in range
        Number::F64(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Some(f as i64),
        Number::F64(_) => None,
    }
}
