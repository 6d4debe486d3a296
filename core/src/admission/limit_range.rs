//! LimitRange: the object's own defaulting (for Container limits, `default` from `max`,
//! `defaultRequest` from `default`, then from `min`), and upstream's LimitRanger admission
//! plugin on create: a new pod's containers get the namespace's default limits and requests
//! where they set none (recorded in the `kubernetes.io/limit-ranger` annotation), then pods
//! and claims are checked against every LimitRange's min, max and maxLimitRequestRatio for
//! the Container, Pod and PersistentVolumeClaim types, refused with upstream's Forbidden
//! messages.

use std::collections::BTreeMap;

use miniserde::json::{Object, Value};
use wisp_store::Store;

use crate::object::meta;
use crate::quota;
use crate::scheduler::quantity::parse_milli;
use crate::status::{ApiError, Cause, field};

use super::fields::go_quote;

const LIMIT_RANGES: &str = "/registry/core/limitranges/";
const ANNOTATION: &str = "kubernetes.io/limit-ranger";

fn limits_in(store: &Store, namespace: &str) -> Vec<Value> {
    let listing = store.range(format!("{LIMIT_RANGES}{namespace}/").as_bytes(), 0, None);
    let mut items = Vec::new();
    for kv in &listing.kvs {
        if let Some(Value::Array(limits)) = meta::from_json_bytes(&kv.value)
            .as_ref()
            .and_then(|lr| meta::get_path(lr, &["spec", "limits"]))
        {
            items.extend(limits.iter().cloned());
        }
    }
    items
}

fn map_of(item: &Value, field: &str) -> Object {
    meta::get_path(item, &[field])
        .and_then(meta::as_object)
        .cloned()
        .unwrap_or_default()
}

/// SetDefaults_LimitRangeItem for Container items.
pub fn default_limit_range(object: &mut Value) {
    let Some(Value::Array(items)) = meta::as_object_mut(object)
        .and_then(|o| o.get_mut("spec"))
        .and_then(meta::as_object_mut)
        .and_then(|s| s.get_mut("limits"))
    else {
        return;
    };
    for item in items.iter_mut() {
        if meta::get_str(item, &["type"]) != Some("Container") {
            continue;
        }
        let (max, min) = (map_of(item, "max"), map_of(item, "min"));
        let mut default = map_of(item, "default");
        for (k, v) in &max {
            default.entry(k.clone()).or_insert_with(|| v.clone());
        }
        let mut default_request = map_of(item, "defaultRequest");
        for (k, v) in default.iter().chain(min.iter()) {
            default_request
                .entry(k.clone())
                .or_insert_with(|| v.clone());
        }
        if let Some(o) = meta::as_object_mut(item) {
            if !default.is_empty() {
                o.insert("default".to_owned(), Value::Object(default));
            }
            if !default_request.is_empty() {
                o.insert("defaultRequest".to_owned(), Value::Object(default_request));
            }
        }
    }
}

const LIMIT_TYPES: [&str; 3] = ["Pod", "Container", "PersistentVolumeClaim"];

/// ValidateLimitRange: known and unique types, no defaults for Pod items, a storage bound
/// for claim items, and min <= defaultRequest <= default <= max with ratios of at least 1.
pub fn validate(object: &Value, causes: &mut Vec<Cause>) {
    let Some(Value::Array(items)) = meta::get_path(object, &["spec", "limits"]) else {
        return;
    };
    let mut seen = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = format!("spec.limits[{i}]");
        let kind = meta::get_str(item, &["type"]).unwrap_or("");
        if !LIMIT_TYPES.contains(&kind) {
            causes.push(field::not_supported(
                &format!("{at}.type"),
                &go_quote(kind),
                &LIMIT_TYPES,
            ));
        } else if seen.contains(&kind) {
            causes.push(field::duplicate(&format!("{at}.type"), &go_quote(kind)));
        }
        seen.push(kind);
        if kind == "Pod" {
            for f in ["default", "defaultRequest"] {
                if !map_of(item, f).is_empty() {
                    causes.push(field::forbidden(
                        &format!("{at}.{f}"),
                        "may not be specified when `type` is 'Pod'",
                    ));
                }
            }
        }
        if kind == "PersistentVolumeClaim"
            && !map_of(item, "min").contains_key("storage")
            && !map_of(item, "max").contains_key("storage")
        {
            causes.push(field::required_because(
                &format!("{at}.limits"),
                "either minimum or maximum storage value is required, but neither was provided",
            ));
        }
        validate_bounds(item, &at, causes);
    }
}

/// Pairs that must be ordered: `(field reported, lower, upper, lower's words, upper's
/// words)`, in upstream's order of checks.
const ORDER: [(&str, &str, &str, &str, &str); 6] = [
    ("min", "min", "max", "min value", "max value"),
    (
        "defaultRequest",
        "min",
        "defaultRequest",
        "min value",
        "default request value",
    ),
    (
        "defaultRequest",
        "defaultRequest",
        "max",
        "default request value",
        "max value",
    ),
    (
        "defaultRequest",
        "defaultRequest",
        "default",
        "default request value",
        "default limit value",
    ),
    ("default", "min", "default", "min value", "default value"),
    ("default", "default", "max", "default value", "max value"),
];

fn validate_bounds(item: &Value, at: &str, causes: &mut Vec<Cause>) {
    let field_amounts = |f: &str| amounts(item, &[f]);
    let all: BTreeMap<&str, Amounts> = [
        "min",
        "max",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    ]
    .into_iter()
    .map(|f| (f, field_amounts(f)))
    .collect();
    let mut names: Vec<&String> = all.values().flat_map(|a| a.keys()).collect();
    names.sort();
    names.dedup();
    for k in names {
        let get = |f: &str| all.get(f).and_then(|a| a.get(k));
        for (reported, lower, upper, lower_words, upper_words) in ORDER {
            if let (Some((lt, lv)), Some((ut, uv)), Some((rt, _))) =
                (get(lower), get(upper), get(reported))
                && lv > uv
            {
                let message = format!("{lower_words} {lt} is greater than {upper_words} {ut}");
                causes.push(field::invalid(
                    &format!("{at}.{reported}[{k}]"),
                    &go_quote(rt),
                    &message,
                ));
            }
        }
        if let Some((text, ratio)) = get("maxLimitRequestRatio")
            && *ratio < 1000
        {
            let path = format!("{at}.maxLimitRequestRatio[{k}]");
            causes.push(field::invalid(
                &path,
                &go_quote(text),
                &format!("ratio {text} is less than 1"),
            ));
        }
    }
}

/// Gives a new pod's containers the Container defaults they lack.
pub fn default_pod(store: &Store, pod: &mut Value) {
    let ns = meta::namespace(pod).unwrap_or("").to_owned();
    let mut limits = Object::new();
    let mut requests = Object::new();
    for item in limits_in(store, &ns) {
        if meta::get_str(&item, &["type"]) == Some("Container") {
            limits.extend(map_of(&item, "default"));
            requests.extend(map_of(&item, "defaultRequest"));
        }
    }
    if limits.is_empty() && requests.is_empty() {
        return;
    }
    let mut notes = Vec::new();
    for (list, prefix) in [
        ("initContainers", "init container"),
        ("containers", "container"),
    ] {
        let Some(Value::Array(cs)) = meta::as_object_mut(pod)
            .and_then(|o| o.get_mut("spec"))
            .and_then(meta::as_object_mut)
            .and_then(|s| s.get_mut(list))
        else {
            continue;
        };
        for c in cs.iter_mut() {
            let name = meta::get_str(c, &["name"]).unwrap_or("").to_owned();
            let resources = meta::ensure_object(c, &["resources"]);
            for (field, defaults, word) in [
                ("requests", &requests, "request"),
                ("limits", &limits, "limit"),
            ] {
                let set = merge_defaults(resources, field, defaults);
                if !set.is_empty() {
                    notes.push(format!("{} {word} for {prefix} {name}", set.join(", ")));
                }
            }
        }
    }
    if !notes.is_empty() {
        let annotations = meta::ensure_object(pod, &["metadata", "annotations"]);
        meta::set_str(
            annotations,
            ANNOTATION,
            format!("LimitRanger plugin set: {}", notes.join("; ")),
        );
    }
}

/// Adds each default the container lacks; the names it set, sorted.
fn merge_defaults(resources: &mut Object, field: &str, defaults: &Object) -> Vec<String> {
    let slot = resources
        .entry(field.to_owned())
        .or_insert_with(|| Value::Object(Object::new()));
    if !matches!(slot, Value::Object(_)) {
        *slot = Value::Object(Object::new());
    }
    let Value::Object(current) = slot else {
        return Vec::new();
    };
    let mut set = Vec::new();
    for (k, v) in defaults {
        if !current.contains_key(k) {
            current.insert(k.clone(), v.clone());
            set.push(k.clone());
        }
    }
    if current.is_empty() {
        resources.remove(field);
    }
    set.sort();
    set
}

/// Amounts as written (for messages) and in thousandths (for comparing).
type Amounts = BTreeMap<String, (String, i128)>;

fn amounts(v: &Value, path: &[&str]) -> Amounts {
    meta::string_map(v, path)
        .into_iter()
        .map(|(k, q)| (k.to_owned(), (q.to_owned(), parse_milli(q).unwrap_or(0))))
        .collect()
}

/// Refuses a new pod or claim that breaks a LimitRange of its namespace.
pub fn check(store: &Store, plural: &str, object: &Value) -> Result<(), ApiError> {
    if plural != "pods" && plural != "persistentvolumeclaims" {
        return Ok(());
    }
    let ns = meta::namespace(object).unwrap_or("");
    let items = limits_in(store, ns);
    if items.is_empty() {
        return Ok(());
    }
    let mut errors: Vec<String> = Vec::new();
    for item in &items {
        let kind = meta::get_str(item, &["type"]).unwrap_or("");
        match (plural, kind) {
            ("pods", "Container") => {
                for list in ["containers", "initContainers"] {
                    if let Some(Value::Array(cs)) = meta::get_path(object, &["spec", list]) {
                        for c in cs {
                            let req = amounts(c, &["resources", "requests"]);
                            let lim = amounts(c, &["resources", "limits"]);
                            constraints(item, kind, &req, &lim, true, &mut errors);
                        }
                    }
                }
            }
            ("pods", "Pod") => {
                let (req, lim) = pod_totals(object);
                constraints(item, kind, &req, &lim, true, &mut errors);
            }
            ("persistentvolumeclaims", "PersistentVolumeClaim") => {
                let req = amounts(object, &["spec", "resources", "requests"]);
                constraints(item, kind, &req, &Amounts::new(), false, &mut errors);
            }
            _ => {}
        }
    }
    errors.dedup();
    if errors.is_empty() {
        return Ok(());
    }
    let name = meta::name(object).unwrap_or("");
    let message = if errors.len() == 1 {
        errors.remove(0)
    } else {
        format!("[{}]", errors.join(", "))
    };
    Err(ApiError::forbidden(
        "",
        plural,
        name,
        format!("{plural} \"{name}\" is forbidden: {message}"),
    ))
}

/// The pod's requests and limits: containers summed, the largest init container if more.
fn pod_totals(pod: &Value) -> (Amounts, Amounts) {
    let total = |field: &str| {
        let mut sums: BTreeMap<String, i128> = BTreeMap::new();
        for (list, sum) in [("containers", true), ("initContainers", false)] {
            let Some(Value::Array(cs)) = meta::get_path(pod, &["spec", list]) else {
                continue;
            };
            let mut part: BTreeMap<String, i128> = BTreeMap::new();
            for c in cs {
                for (k, (_, v)) in amounts(c, &["resources", field]) {
                    let e = part.entry(k).or_default();
                    *e = if sum { *e + v } else { (*e).max(v) };
                }
            }
            for (k, v) in part {
                let e = sums.entry(k).or_default();
                *e = if sum { *e + v } else { (*e).max(v) };
            }
        }
        sums.into_iter()
            .map(|(k, v)| {
                let text = quota::format(&k, v);
                (k, (text, v))
            })
            .collect::<Amounts>()
    };
    (total("requests"), total("limits"))
}

/// min, max and maxLimitRequestRatio of one LimitRange item; `limits_apply` is false for
/// claims, whose max bounds the request.
fn constraints(
    item: &Value,
    kind: &str,
    req: &Amounts,
    lim: &Amounts,
    limits_apply: bool,
    errors: &mut Vec<String>,
) {
    for (k, (enforced, min)) in amounts(item, &["min"]) {
        match (req.get(&k), lim.get(&k)) {
            (None, _) => errors.push(format!(
                "minimum {k} usage per {kind} is {enforced}.  No request is specified"
            )),
            (Some((text, r)), _) if *r < min => errors.push(format!(
                "minimum {k} usage per {kind} is {enforced}, but request is {text}"
            )),
            (_, Some((text, l))) if *l < min => errors.push(format!(
                "minimum {k} usage per {kind} is {enforced}, but limit is {text}"
            )),
            _ => {}
        }
    }
    for (k, (enforced, max)) in amounts(item, &["max"]) {
        if !limits_apply {
            match req.get(&k) {
                None => errors.push(format!(
                    "maximum {k} usage per {kind} is {enforced}.  No request is specified"
                )),
                Some((text, r)) if *r > max => errors.push(format!(
                    "maximum {k} usage per {kind} is {enforced}, but request is {text}"
                )),
                _ => {}
            }
            continue;
        }
        match (lim.get(&k), req.get(&k)) {
            (None, _) => errors.push(format!(
                "maximum {k} usage per {kind} is {enforced}.  No limit is specified"
            )),
            (Some((text, l)), _) if *l > max => errors.push(format!(
                "maximum {k} usage per {kind} is {enforced}, but limit is {text}"
            )),
            (_, Some((text, r))) if *r > max => errors.push(format!(
                "maximum {k} usage per {kind} is {enforced}, but request is {text}"
            )),
            _ => {}
        }
    }
    if !limits_apply {
        return;
    }
    for (k, (enforced, ratio)) in amounts(item, &["maxLimitRequestRatio"]) {
        let r = req.get(&k).map_or(0, |(_, v)| *v);
        let l = lim.get(&k).map_or(0, |(_, v)| *v);
        let head = format!("{k} max limit to request ratio per {kind} is {enforced}");
        if r == 0 {
            errors.push(format!(
                "{head}, but no request is specified or request is 0"
            ));
        } else if l == 0 {
            errors.push(format!("{head}, but no limit is specified or limit is 0"));
        } else {
            #[allow(clippy::cast_precision_loss)] // display and comparison of a ratio
            let observed = l as f64 / r as f64;
            #[allow(clippy::cast_precision_loss)]
            let allowed = ratio as f64 / 1000.0;
            if observed > allowed {
                errors.push(format!("{head}, but provided ratio is {observed:.6}"));
            }
        }
    }
}
