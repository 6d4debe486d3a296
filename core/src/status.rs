//! Kubernetes `Status` errors: the reasons, codes and messages upstream's API server uses
//! (k8s.io/apimachinery/pkg/api/errors), rendered as the JSON body kubectl parses.

use std::fmt;

/// One entry of `details.causes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

/// An API error as upstream reports it. Details are boxed to keep `Result<_, ApiError>`
/// small on the happy path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    pub details: Box<Details>,
}

/// The `details` of a Status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Details {
    /// details.name, details.group, details.kind (plural for most reasons, Kind for Invalid).
    pub name: String,
    pub group: String,
    pub kind: String,
    pub causes: Vec<Cause>,
    /// Seconds for a Retry-After header and details.retryAfterSeconds.
    pub retry_after: Option<u32>,
}

/// `resource` as upstream prints a GroupResource: `pods`, `deployments.apps`.
pub fn qualified_resource(plural: &str, group: &str) -> String {
    if group.is_empty() {
        plural.to_owned()
    } else {
        format!("{plural}.{group}")
    }
}

impl ApiError {
    fn new(code: u16, reason: &'static str, message: String) -> ApiError {
        ApiError {
            code,
            reason,
            message,
            details: Box::default(),
        }
    }

    fn about(mut self, group: &str, kind: &str, name: &str) -> ApiError {
        self.details.group = group.to_owned();
        self.details.kind = kind.to_owned();
        self.details.name = name.to_owned();
        self
    }

    /// 404 `pods "foo" not found`.
    pub fn not_found(group: &str, plural: &str, name: &str) -> ApiError {
        let resource = qualified_resource(plural, group);
        ApiError::new(404, "NotFound", format!("{resource} \"{name}\" not found"))
            .about(group, plural, name)
    }

    /// 404 with a message of the caller's (a node's "container not found").
    pub fn not_found_message(message: impl Into<String>) -> ApiError {
        ApiError::new(404, "NotFound", message.into())
    }

    /// 404 for a URL that names no resource: upstream answers `the server could not find
    /// the requested resource`.
    pub fn path_not_found() -> ApiError {
        ApiError::new(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
        )
    }

    /// 409 `pods "foo" already exists`.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> ApiError {
        let resource = qualified_resource(plural, group);
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{resource} \"{name}\" already exists"),
        )
        .about(group, plural, name)
    }

    /// 409 optimistic-concurrency conflict.
    pub fn conflict(group: &str, plural: &str, name: &str, why: &str) -> ApiError {
        let resource = qualified_resource(plural, group);
        ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{name}\": {why}"),
        )
        .about(group, plural, name)
    }

    /// The usual `why` of [`ApiError::conflict`].
    pub const MODIFIED: &'static str = "the object has been modified; please apply your changes to the latest version and try again";

    /// 422 `Deployment.apps "x" is invalid: spec.replicas: Invalid value: -1: ...`.
    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<Cause>) -> ApiError {
        let qualified_kind = if group.is_empty() {
            kind.to_owned()
        } else {
            format!("{kind}.{group}")
        };
        let detail = match causes.as_slice() {
            [] => String::new(),
            [one] => format!(": {}", cause_text(one)),
            many => format!(
                ": [{}]",
                many.iter().map(cause_text).collect::<Vec<_>>().join(", ")
            ),
        };
        let mut e = ApiError::new(
            422,
            "Invalid",
            format!("{qualified_kind} \"{name}\" is invalid{detail}"),
        )
        .about(group, kind, name);
        e.details.causes = causes;
        e
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "BadRequest", message.into())
    }

    pub fn unauthorized() -> ApiError {
        ApiError::new(401, "Unauthorized", "Unauthorized".into())
    }

    /// 403 with upstream's wording, e.g. `pods is forbidden: User "u" cannot list resource
    /// "pods" in API group "" in the namespace "ns"`.
    pub fn forbidden(group: &str, plural: &str, name: &str, message: String) -> ApiError {
        ApiError::new(403, "Forbidden", message).about(group, plural, name)
    }

    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(405, "MethodNotAllowed", message.into())
    }

    /// 410 for a watch or continue token older than the retained history.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::new(410, "Expired", message.into())
    }

    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(413, "RequestEntityTooLarge", message.into())
    }

    pub fn unsupported_media_type(content_type: &str) -> ApiError {
        ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf; got {content_type}"
            ),
        )
    }

    pub fn not_acceptable(message: impl Into<String>) -> ApiError {
        ApiError::new(406, "NotAcceptable", message.into())
    }

    pub fn too_many_requests(retry_after: u32) -> ApiError {
        let mut e = ApiError::new(
            429,
            "TooManyRequests",
            "too many requests, please try again later".into(),
        );
        e.details.retry_after = Some(retry_after);
        e
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {}", message.into()),
        )
    }

    pub fn service_unavailable(message: impl Into<String>) -> ApiError {
        ApiError::new(503, "ServiceUnavailable", message.into())
    }

    /// The Status object as JSON text.
    pub fn to_json(&self) -> String {
        let d = &self.details;
        let mut details = Vec::new();
        if !d.name.is_empty() {
            details.push(format!("\"name\":{}", json_str(&d.name)));
        }
        if !d.group.is_empty() {
            details.push(format!("\"group\":{}", json_str(&d.group)));
        }
        if !d.kind.is_empty() {
            details.push(format!("\"kind\":{}", json_str(&d.kind)));
        }
        if !d.causes.is_empty() {
            let causes: Vec<String> = d
                .causes
                .iter()
                .map(|c| {
                    format!(
                        "{{\"reason\":{},\"message\":{},\"field\":{}}}",
                        json_str(&c.reason),
                        json_str(&c.message),
                        json_str(&c.field)
                    )
                })
                .collect();
            details.push(format!("\"causes\":[{}]", causes.join(",")));
        }
        if let Some(secs) = d.retry_after {
            details.push(format!("\"retryAfterSeconds\":{secs}"));
        }
        let details = if details.is_empty() {
            String::new()
        } else {
            format!(",\"details\":{{{}}}", details.join(","))
        };
        format!(
            "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Failure\",\"message\":{},\"reason\":\"{}\"{details},\"code\":{}}}",
            json_str(&self.message),
            self.reason,
            self.code
        )
    }
}

fn cause_text(c: &Cause) -> String {
    if c.field.is_empty() {
        c.message.clone()
    } else {
        format!("{}: {}", c.field, c.message)
    }
}

/// A JSON string literal with escaping.
pub fn json_str(s: &str) -> String {
    miniserde::json::to_string(&s)
}

/// The `Success` Status returned by some deletes.
pub fn success_json(group: &str, plural: &str, name: &str, uid: &str) -> String {
    let mut details = format!("\"name\":{},", json_str(name));
    if !group.is_empty() {
        details.push_str(&format!("\"group\":{},", json_str(group)));
    }
    details.push_str(&format!(
        "\"kind\":{},\"uid\":{}",
        json_str(plural),
        json_str(uid)
    ));
    format!(
        "{{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{{}},\"status\":\"Success\",\"details\":{{{details}}}}}"
    )
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.reason, self.message)
    }
}

impl std::error::Error for ApiError {}

/// Builders for the `causes` of an Invalid error, worded as upstream's field errors.
pub mod field {
    use super::Cause;

    pub fn required(path: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired".into(),
            message: "Required value".into(),
            field: path.into(),
        }
    }

    /// `Required value: <detail>`.
    pub fn required_because(path: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueRequired".into(),
            message: format!("Required value: {detail}"),
            field: path.into(),
        }
    }

    /// `Invalid value: "Foo": a lowercase RFC 1123 subdomain must ...`.
    pub fn invalid(path: &str, value_json: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueInvalid".into(),
            message: format!("Invalid value: {value_json}: {detail}"),
            field: path.into(),
        }
    }

    pub fn not_supported(path: &str, value_json: &str, supported: &[&str]) -> Cause {
        let list: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        Cause {
            reason: "FieldValueNotSupported".into(),
            message: format!(
                "Unsupported value: {value_json}: supported values: {}",
                list.join(", ")
            ),
            field: path.into(),
        }
    }

    pub fn forbidden(path: &str, detail: &str) -> Cause {
        Cause {
            reason: "FieldValueForbidden".into(),
            message: format!("Forbidden: {detail}"),
            field: path.into(),
        }
    }

    pub fn duplicate(path: &str, value_json: &str) -> Cause {
        Cause {
            reason: "FieldValueDuplicate".into(),
            message: format!("Duplicate value: {value_json}"),
            field: path.into(),
        }
    }

    /// Immutable fields: upstream says `field is immutable`.
    pub fn immutable(path: &str, value_json: &str) -> Cause {
        invalid(path, value_json, "field is immutable")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use miniserde::json::{self, Value};

    fn parsed(e: &ApiError) -> json::Object {
        match json::from_str::<Value>(&e.to_json()).expect("valid JSON") {
            Value::Object(o) => o,
            other => panic!("not an object: {other:?}"),
        }
    }

    #[test]
    fn not_found_matches_upstream_wording() {
        let e = ApiError::not_found("apps", "deployments", "x");
        assert_eq!(e.message, "deployments.apps \"x\" not found");
        let o = parsed(&e);
        assert!(matches!(o.get("code"), Some(Value::Number(_))));
        assert_eq!(e.code, 404);
        assert!(
            e.to_json().contains(
                "\"details\":{\"name\":\"x\",\"group\":\"apps\",\"kind\":\"deployments\"}"
            )
        );
        assert_eq!(
            ApiError::not_found("", "pods", "foo").message,
            "pods \"foo\" not found"
        );
    }

    #[test]
    fn conflict_message_is_upstreams() {
        let e = ApiError::conflict("apps", "deployments", "x", ApiError::MODIFIED);
        assert_eq!(
            e.message,
            "Operation cannot be fulfilled on deployments.apps \"x\": the object has been modified; please apply your changes to the latest version and try again"
        );
    }

    #[test]
    fn invalid_lists_causes_in_message_and_details() {
        let one = ApiError::invalid(
            "apps",
            "Deployment",
            "web",
            vec![field::invalid(
                "spec.replicas",
                "-1",
                "must be greater than or equal to 0",
            )],
        );
        assert_eq!(
            one.message,
            "Deployment.apps \"web\" is invalid: spec.replicas: Invalid value: -1: must be greater than or equal to 0"
        );
        let two = ApiError::invalid(
            "",
            "Pod",
            "p",
            vec![
                field::required("spec.containers"),
                field::required("metadata.name"),
            ],
        );
        assert_eq!(
            two.message,
            "Pod \"p\" is invalid: [spec.containers: Required value, metadata.name: Required value]"
        );
        let o = parsed(&two);
        let Some(Value::Object(details)) = o.get("details") else {
            panic!("no details")
        };
        let Some(Value::Array(causes)) = details.get("causes") else {
            panic!("no causes")
        };
        assert_eq!(causes.len(), 2);
        assert!(two.to_json().contains("\"kind\":\"Pod\""));
    }

    #[test]
    fn messages_are_escaped() {
        let e = ApiError::bad_request("quote \" and \n newline");
        let o = parsed(&e);
        match o.get("message") {
            Some(Value::String(s)) => assert_eq!(s, "quote \" and \n newline"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn too_many_requests_carries_retry_after() {
        let e = ApiError::too_many_requests(1);
        assert!(e.to_json().contains("\"retryAfterSeconds\":1"));
        assert_eq!(e.code, 429);
    }

    #[test]
    fn success_status_shape() {
        let s = success_json("apps", "deployments", "x", "u-1");
        let v: Value = json::from_str(&s).unwrap();
        let Value::Object(o) = v else { panic!() };
        assert!(matches!(o.get("status"), Some(Value::String(s)) if s == "Success"));
    }
}
