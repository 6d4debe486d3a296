//! Helpers on `miniserde::json::Value` that every patch flavour needs: structural equality,
//! nesting depth and a serialized-size estimate. All three walk the value with an explicit
//! stack, so hostile input nested far deeper than the merge limit cannot overflow the stack
//! while it is being measured or rejected.

use miniserde::json::{Number, Value};

/// Deepest nesting the recursive merges accept. Kubernetes objects stay far below it (the
/// deepest common case, a CRD's openAPIV3Schema, is a few dozen levels; managedFields add
/// four); the bound keeps recursion (and miniserde's recursive `Clone`) within about 700 KiB
/// of stack in debug builds and far less in release, so any 2 MiB thread is safe.
pub const MAX_DEPTH: usize = 128;

/// Largest serialized size a patch may produce (the API server's request body limit).
pub const MAX_DOCUMENT_BYTES: usize = 3 * 1024 * 1024;

/// Nesting depth of `value`: 0 for a scalar, 1 for a flat array or object. Stops counting
/// (and returns `limit + 1`) as soon as `limit` is passed, so hostile input costs little.
pub fn depth_exceeding(value: &Value, limit: usize) -> usize {
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(value, 0)];
    while let Some((node, depth)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match node {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        let child_depth = depth + 1;
        deepest = deepest.max(child_depth);
        if deepest > limit {
            return limit + 1;
        }
        stack.extend(children.map(|child| (child, child_depth)));
    }
    deepest
}

/// True when `value` nests no deeper than [`MAX_DEPTH`].
pub fn within_depth(value: &Value) -> bool {
    depth_exceeding(value, MAX_DEPTH) <= MAX_DEPTH
}

/// JSON equality: objects compare as unordered maps, numbers by numeric value (so `1` and
/// `1.0` are equal, as Go's `reflect.DeepEqual` on decoded JSON sees them).
pub fn values_equal(a: &Value, b: &Value) -> bool {
    let mut stack = vec![(a, b)];
    while let Some((a, b)) = stack.pop() {
        match (a, b) {
            (Value::Null, Value::Null) => {}
            (Value::Bool(x), Value::Bool(y)) if x == y => {}
            (Value::Number(x), Value::Number(y)) if numbers_equal(x, y) => {}
            (Value::String(x), Value::String(y)) if x == y => {}
            (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                stack.extend(x.iter().zip(y.iter()));
            }
            (Value::Object(x), Value::Object(y)) if x.len() == y.len() => {
                for (key, xv) in x.iter() {
                    match y.get(key) {
                        Some(yv) => stack.push((xv, yv)),
                        None => return false,
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

fn numbers_equal(a: &Number, b: &Number) -> bool {
    match (a, b) {
        (Number::U64(x), Number::U64(y)) => x == y,
        (Number::I64(x), Number::I64(y)) => x == y,
        (Number::U64(u), Number::I64(i)) | (Number::I64(i), Number::U64(u)) => {
            u64::try_from(*i).is_ok_and(|i| i == *u)
        }
        _ => as_f64(a) == as_f64(b),
    }
}

#[allow(clippy::cast_precision_loss)] // comparing against a float is lossy by nature
fn as_f64(n: &Number) -> f64 {
    match n {
        Number::U64(x) => *x as f64,
        Number::I64(x) => *x as f64,
        Number::F64(x) => *x,
    }
}

/// Upper-bound estimate of the compact serialized size of `value`, in bytes.
pub fn serialized_size(value: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(node) = stack.pop() {
        total = total.saturating_add(match node {
            Value::Null => 4,
            Value::Bool(_) => 5,
            Value::Number(_) => 24,
            // Quotes plus worst-case escaping is rare; count raw bytes and the quotes.
            Value::String(s) => s.len() + 2,
            Value::Array(items) => {
                stack.extend(items.iter());
                2 + items.len()
            }
            Value::Object(map) => {
                stack.extend(map.values());
                2 + map.keys().map(|k| k.len() + 4).sum::<usize>()
            }
        });
    }
    total
}

/// A string that is equal for equal scalars (`1` and `1.0` alike), used to index list
/// items so merges stay O(n log n) on hostile input. Containers fall back to their
/// serialization, which is canonical except for such number spellings.
pub fn canonical_key(value: &Value) -> String {
    match value {
        Value::Number(Number::F64(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
            #[allow(clippy::cast_possible_truncation)] // integral and within i64 range
            let integral = *f as i64;
            integral.to_string()
        }
        other => miniserde::json::to_string(other),
    }
}

/// Parses JSON text into a `Value`; test and caller convenience.
pub fn parse(text: &str) -> Option<Value> {
    miniserde::json::from_str(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniserde::json::Array;

    fn v(text: &str) -> Value {
        parse(text).expect("valid json")
    }

    #[test]
    fn equality_ignores_key_order_and_number_representation() {
        assert!(values_equal(
            &v(r#"{"a":1,"b":[1,2]}"#),
            &v(r#"{"b":[1,2],"a":1.0}"#)
        ));
        assert!(!values_equal(&v(r#"{"a":1}"#), &v(r#"{"a":1,"b":null}"#)));
        assert!(!values_equal(&v("[1,2]"), &v("[2,1]")));
        assert!(!values_equal(&v("-1"), &v("1")));
        assert!(!values_equal(&v("\"1\""), &v("1")));
        assert_eq!(canonical_key(&v("1.0")), canonical_key(&v("1")));
        assert_ne!(canonical_key(&v("\"1\"")), canonical_key(&v("1")));
        assert_eq!(canonical_key(&v("-3")), "-3");
    }

    #[test]
    fn depth_is_measured_without_recursion() {
        let mut value = Value::Null;
        for _ in 0..200_000 {
            let mut array = Array::new();
            array.push(value);
            value = Value::Array(array);
        }
        assert_eq!(depth_exceeding(&value, MAX_DEPTH), MAX_DEPTH + 1);
        assert!(!within_depth(&value));
        assert_eq!(depth_exceeding(&v(r#"{"a":[{"b":1}]}"#), 10), 3);
        assert_eq!(depth_exceeding(&v("7"), 10), 0);
    }

    #[test]
    fn size_estimate_bounds_the_real_size() {
        let value = v(r#"{"name":"x","list":[1,true,null,"abc"],"n":{"m":{}}}"#);
        let real = miniserde::json::to_string(&value).len();
        assert!(serialized_size(&value) >= real);
    }
}
