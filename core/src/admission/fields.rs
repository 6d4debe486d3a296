//! Small tools the per-kind hooks share: filling defaults into JSON objects without
//! overwriting what the client sent, reading numbers and lists, and rendering values the
//! way upstream's field errors print them (Go's `%v`, `%q` and `%#v`).

use miniserde::json::{Number, Object, Value};

use crate::object::meta;
use crate::status::json_str;

/// The object at `path` if every step exists and is an object; never creates anything.
pub fn obj_mut<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Object> {
    let mut cur = v;
    for key in path {
        cur = meta::as_object_mut(cur)?.get_mut(*key)?;
    }
    meta::as_object_mut(cur)
}

/// The object under `key`, created (replacing a non-object) when needed.
pub fn ensure_child<'a>(o: &'a mut Object, key: &str) -> &'a mut Object {
    let slot = o.entry(key.to_owned()).or_insert(Value::Null);
    if !matches!(slot, Value::Object(_)) {
        *slot = Value::Object(Object::new());
    }
    match slot {
        Value::Object(child) => child,
        _ => unreachable!("made an object above"),
    }
}

/// True when `key` is absent or null: upstream's defaulting treats both as unset.
pub fn unset(o: &Object, key: &str) -> bool {
    matches!(o.get(key), None | Some(Value::Null))
}

/// Sets `key` to `value` unless the client already gave it a value.
pub fn set_default(o: &mut Object, key: &str, value: Value) {
    if unset(o, key) {
        o.insert(key.to_owned(), value);
    }
}

/// A string default; an empty string counts as unset, as for Go string fields.
pub fn str_default(o: &mut Object, key: &str, value: &str) {
    if matches!(o.get(key), None | Some(Value::Null)) || str_of(o, key) == Some("") {
        o.insert(key.to_owned(), Value::String(value.to_owned()));
    }
}

pub fn int_default(o: &mut Object, key: &str, value: i64) {
    set_default(o, key, int(value));
}

pub fn int(n: i64) -> Value {
    Value::Number(u64::try_from(n).map_or(Number::I64(n), Number::U64))
}

pub fn string(s: &str) -> Value {
    Value::String(s.to_owned())
}

pub fn str_of<'a>(o: &'a Object, key: &str) -> Option<&'a str> {
    match o.get(key) {
        Some(Value::String(s)) => Some(s),
        _ => None,
    }
}

/// The array under `key` as mutable objects (non-objects are skipped).
pub fn objects_mut<'a>(o: &'a mut Object, key: &str) -> impl Iterator<Item = &'a mut Object> {
    let items = match o.get_mut(key) {
        Some(Value::Array(a)) => Some(a.iter_mut()),
        _ => None,
    };
    items.into_iter().flatten().filter_map(meta::as_object_mut)
}

/// The array at `path`, or an empty slice.
pub fn array<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    match meta::get_path(v, path) {
        Some(Value::Array(a)) => a,
        _ => &[],
    }
}

/// Go's `%q` of a string (JSON escaping agrees for the printable ASCII names use).
pub fn go_quote(s: &str) -> String {
    json_str(s)
}

/// Go's `%#v` of a `map[string]string`: keys sorted, `map[string]string(nil)` when absent.
pub fn go_string_map(map: Option<&Value>) -> String {
    let Some(Value::Object(o)) = map else {
        return "map[string]string(nil)".to_owned();
    };
    let mut pairs: Vec<(&String, String)> = o
        .iter()
        .map(|(k, v)| (k, go_quote(value_text(v).as_str())))
        .collect();
    pairs.sort();
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{v}", go_quote(k)))
        .collect();
    format!("map[string]string{{{}}}", body.join(", "))
}

/// Go's `%#v` of a `[]string`.
pub fn go_string_slice(items: &[&str]) -> String {
    let body: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[]string{{{}}}", body.join(", "))
}

/// Go's `%#v` of a dereferenced `*metav1.LabelSelector`, as immutability errors print it.
pub fn go_label_selector(selector: Option<&Value>) -> String {
    let Some(selector) = selector.filter(|s| !matches!(s, Value::Null)) else {
        return "null".to_owned();
    };
    let labels = go_string_map(meta::get_path(selector, &["matchLabels"]));
    let expressions = array(selector, &["matchExpressions"]);
    let expressions = if expressions.is_empty() {
        "[]v1.LabelSelectorRequirement(nil)".to_owned()
    } else {
        let items: Vec<String> = expressions.iter().map(go_requirement).collect();
        format!("[]v1.LabelSelectorRequirement{{{}}}", items.join(", "))
    };
    format!("v1.LabelSelector{{MatchLabels:{labels}, MatchExpressions:{expressions}}}")
}

fn go_requirement(r: &Value) -> String {
    let values: Vec<&str> = array(r, &["values"])
        .iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let values = if values.is_empty() {
        "[]string(nil)".to_owned()
    } else {
        go_string_slice(&values)
    };
    format!(
        "v1.LabelSelectorRequirement{{Key:{}, Operator:{}, Values:{values}}}",
        go_quote(meta::get_str(r, &["key"]).unwrap_or("")),
        go_quote(meta::get_str(r, &["operator"]).unwrap_or(""))
    )
}

/// A scalar as text: strings as they are, other values as JSON.
pub fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => miniserde::json::to_string(other),
    }
}

/// Go's `%v`-style rendering of a scalar field value in an Invalid cause: numbers and
/// booleans bare, strings quoted.
pub fn go_scalar(v: &Value) -> String {
    match v {
        Value::String(s) => go_quote(s),
        Value::Null => "null".to_owned(),
        other => miniserde::json::to_string(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn defaults_fill_only_unset_fields() {
        let mut v = parse(r#"{"a":null,"b":2,"c":""}"#);
        let o = meta::as_object_mut(&mut v).unwrap();
        int_default(o, "a", 1);
        int_default(o, "b", 1);
        str_default(o, "c", "x");
        str_default(o, "d", "y");
        assert_eq!(
            miniserde::json::to_string(&v),
            r#"{"a":1,"b":2,"c":"x","d":"y"}"#
        );
    }

    #[test]
    fn go_renderings_match_upstream() {
        let sel = parse(r#"{"matchLabels":{"b":"2","a":"1"}}"#);
        assert_eq!(
            go_label_selector(Some(&sel)),
            r#"v1.LabelSelector{MatchLabels:map[string]string{"a":"1", "b":"2"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"#
        );
        assert_eq!(go_string_map(None), "map[string]string(nil)");
        assert_eq!(go_string_slice(&["10.43.0.1"]), r#"[]string{"10.43.0.1"}"#);
        let expr = parse(r#"{"matchExpressions":[{"key":"k","operator":"Exists"}]}"#);
        assert_eq!(
            go_label_selector(Some(&expr)),
            r#"v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement{v1.LabelSelectorRequirement{Key:"k", Operator:"Exists", Values:[]string(nil)}}}"#
        );
    }
}
