//! The PodSpec every pod and pod template shares: upstream's `SetDefaults_PodSpec` and
//! `SetDefaults_Container` (core/v1 defaults.go) and the parts of `ValidatePodSpec` that
//! catch real mistakes (containers, names, images, policies, ports).

use std::collections::HashSet;

use miniserde::json::{Object, Value};

use super::fields::{
    array, go_quote, go_scalar, int_default, obj_mut, objects_mut, set_default, str_default,
    str_of, string,
};
use super::names::LABEL_MSG;
use crate::object::meta;
use crate::status::{Cause, field};

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Fills the scheme defaults of the PodSpec at `path` (`spec` or `spec.template.spec`).
pub fn default_spec(object: &mut Value, path: &[&str]) {
    let Some(spec) = obj_mut(object, path) else {
        return;
    };
    str_default(spec, "dnsPolicy", "ClusterFirst");
    str_default(spec, "restartPolicy", "Always");
    int_default(spec, "terminationGracePeriodSeconds", 30);
    set_default(spec, "securityContext", Value::Object(Object::new()));
    str_default(spec, "schedulerName", "default-scheduler");
    let host_network = matches!(spec.get("hostNetwork"), Some(Value::Bool(true)));
    for list in CONTAINER_LISTS {
        for container in objects_mut(spec, list) {
            default_container(container, host_network);
        }
    }
    for volume in objects_mut(spec, "volumes") {
        default_volume(volume);
    }
}

fn default_container(c: &mut Object, host_network: bool) {
    let policy = pull_policy_for(str_of(c, "image").unwrap_or(""));
    str_default(c, "imagePullPolicy", policy);
    str_default(c, "terminationMessagePath", "/dev/termination-log");
    str_default(c, "terminationMessagePolicy", "File");
    for port in objects_mut(c, "ports") {
        str_default(port, "protocol", "TCP");
        if host_network
            && super::fields::unset(port, "hostPort")
            && let Some(p) = port.get("containerPort").cloned()
        {
            port.insert("hostPort".to_owned(), p);
        }
    }
    set_default(c, "resources", Value::Object(Object::new()));
    if let Some(Value::Object(resources)) = c.get_mut("resources") {
        default_requests_from_limits(resources);
    }
    for env in objects_mut(c, "env") {
        if let Some(Value::Object(from)) = env.get_mut("valueFrom")
            && let Some(Value::Object(field_ref)) = from.get_mut("fieldRef")
        {
            str_default(field_ref, "apiVersion", "v1");
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(Value::Object(p)) = c.get_mut(probe) {
            default_probe(p);
        }
    }
}

/// `Always` for `:latest` or an untagged image, `IfNotPresent` otherwise (a digest pins
/// the image, so it counts as tagged).
pub fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last_segment = image.rsplit('/').next().unwrap_or(image);
    match last_segment.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

/// Upstream copies each limit into requests when that request is absent.
fn default_requests_from_limits(resources: &mut Object) {
    let Some(Value::Object(limits)) = resources.get("limits").cloned() else {
        return;
    };
    let requests = resources
        .entry("requests".to_owned())
        .or_insert_with(|| Value::Object(Object::new()));
    if let Value::Object(requests) = requests {
        for (name, quantity) in limits {
            requests.entry(name).or_insert(quantity);
        }
    }
}

fn default_probe(p: &mut Object) {
    int_default(p, "timeoutSeconds", 1);
    int_default(p, "periodSeconds", 10);
    int_default(p, "successThreshold", 1);
    int_default(p, "failureThreshold", 3);
    if let Some(Value::Object(http)) = p.get_mut("httpGet") {
        str_default(http, "path", "/");
        str_default(http, "scheme", "HTTP");
    }
}

fn default_volume(volume: &mut Object) {
    for source in ["secret", "configMap", "downwardAPI", "projected"] {
        if let Some(Value::Object(s)) = volume.get_mut(source) {
            int_default(s, "defaultMode", 0o644);
        }
    }
    if let Some(Value::Object(s)) = volume.get_mut("hostPath") {
        set_default(s, "type", string(""));
    }
}

/// Validates the PodSpec at `path`; `prefix` is its field path for messages.
pub fn validate_spec(object: &Value, path: &[&str], prefix: &str, causes: &mut Vec<Cause>) {
    let Some(spec) = meta::get_path(object, path) else {
        causes.push(field::required(prefix));
        return;
    };
    if array(spec, &["containers"]).is_empty() {
        causes.push(field::required(&format!("{prefix}.containers")));
    }
    let mut seen = HashSet::new();
    let mut containers = Vec::new();
    for list in CONTAINER_LISTS {
        for (i, c) in array(spec, &[list]).iter().enumerate() {
            let at = format!("{prefix}.{list}[{i}]");
            validate_container(c, &at, list != "ephemeralContainers", &mut seen, causes);
            containers.push((at, c));
        }
    }
    super::pod_names::validate(spec, prefix, &containers, causes);
    let restart = meta::get_str(spec, &["restartPolicy"]).unwrap_or("");
    if !["Always", "OnFailure", "Never"].contains(&restart) {
        causes.push(field::not_supported(
            &format!("{prefix}.restartPolicy"),
            &go_quote(restart),
            &["Always", "OnFailure", "Never"],
        ));
    }
    let dns = meta::get_str(spec, &["dnsPolicy"]).unwrap_or("");
    let dns_policies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    if !dns_policies.contains(&dns) {
        causes.push(field::not_supported(
            &format!("{prefix}.dnsPolicy"),
            &go_quote(dns),
            &dns_policies,
        ));
    }
}

fn validate_container(
    c: &Value,
    at: &str,
    needs_image: bool,
    seen: &mut HashSet<String>,
    causes: &mut Vec<Cause>,
) {
    let name = meta::get_str(c, &["name"]).unwrap_or("");
    let name_path = format!("{at}.name");
    if name.is_empty() {
        causes.push(field::required(&name_path));
    } else {
        if name.len() > 63 {
            causes.push(field::invalid(
                &name_path,
                &go_quote(name),
                "must be no more than 63 characters",
            ));
        }
        if !valid_label_chars(name) {
            causes.push(field::invalid(&name_path, &go_quote(name), LABEL_MSG));
        }
        if !seen.insert(name.to_owned()) {
            causes.push(field::duplicate(&name_path, &go_quote(name)));
        }
    }
    if needs_image && meta::get_str(c, &["image"]).unwrap_or("").trim().is_empty() {
        causes.push(field::required(&format!("{at}.image")));
    }
    let pull = meta::get_str(c, &["imagePullPolicy"]).unwrap_or("");
    let policies = ["Always", "IfNotPresent", "Never"];
    if !policies.contains(&pull) {
        causes.push(field::not_supported(
            &format!("{at}.imagePullPolicy"),
            &go_quote(pull),
            &policies,
        ));
    }
    for (i, port) in array(c, &["ports"]).iter().enumerate() {
        validate_container_port(port, &format!("{at}.ports[{i}]"), causes);
    }
}

/// The label rule without the length limit (reported on its own, as upstream does).
fn valid_label_chars(name: &str) -> bool {
    let b = name.as_bytes();
    let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    b.first().is_some_and(ok) && b.last().is_some_and(ok) && b.iter().all(|c| ok(c) || *c == b'-')
}

pub const PORT_RANGE_MSG: &str = "must be between 1 and 65535, inclusive";

fn validate_container_port(port: &Value, at: &str, causes: &mut Vec<Cause>) {
    match meta::get_i64(port, &["containerPort"]) {
        None => causes.push(field::required(&format!("{at}.containerPort"))),
        Some(p) if !(1..=65535).contains(&p) => causes.push(field::invalid(
            &format!("{at}.containerPort"),
            &p.to_string(),
            PORT_RANGE_MSG,
        )),
        Some(_) => {}
    }
    validate_protocol(port, at, causes);
}

/// `protocol` is TCP, UDP or SCTP (ports of containers and Services alike).
pub fn validate_protocol(port: &Value, at: &str, causes: &mut Vec<Cause>) {
    let protocol = meta::get_path(port, &["protocol"]);
    let text = protocol.map(go_scalar).unwrap_or_else(|| "\"\"".to_owned());
    if !matches!(protocol, Some(Value::String(p)) if ["TCP", "UDP", "SCTP"].contains(&p.as_str())) {
        causes.push(field::not_supported(
            &format!("{at}.protocol"),
            &text,
            &["SCTP", "TCP", "UDP"],
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Value {
        miniserde::json::from_str(s).unwrap()
    }

    #[test]
    fn pull_policy_follows_the_tag() {
        assert_eq!(pull_policy_for("busybox"), "Always");
        assert_eq!(pull_policy_for("busybox:latest"), "Always");
        assert_eq!(pull_policy_for("busybox:1.36"), "IfNotPresent");
        assert_eq!(pull_policy_for("localhost:5000/app"), "Always");
        assert_eq!(pull_policy_for("localhost:5000/app:v1"), "IfNotPresent");
        assert_eq!(pull_policy_for("app@sha256:abcd"), "IfNotPresent");
    }

    #[test]
    fn spec_defaults_are_upstreams() {
        let mut v = parse(
            r#"{"spec":{"containers":[{"name":"c","image":"nginx:1.25","ports":[{"containerPort":80}],"resources":{"limits":{"cpu":"1"}}}]}}"#,
        );
        default_spec(&mut v, &["spec"]);
        let s = |p: &[&str]| meta::get_str(&v, p).map(str::to_owned);
        assert_eq!(s(&["spec", "dnsPolicy"]).as_deref(), Some("ClusterFirst"));
        assert_eq!(s(&["spec", "restartPolicy"]).as_deref(), Some("Always"));
        assert_eq!(
            s(&["spec", "schedulerName"]).as_deref(),
            Some("default-scheduler")
        );
        assert_eq!(
            meta::get_i64(&v, &["spec", "terminationGracePeriodSeconds"]),
            Some(30)
        );
        let c = &array(&v, &["spec", "containers"])[0];
        assert_eq!(meta::get_str(c, &["imagePullPolicy"]), Some("IfNotPresent"));
        assert_eq!(
            meta::get_str(c, &["terminationMessagePath"]),
            Some("/dev/termination-log")
        );
        assert_eq!(
            meta::get_str(c, &["terminationMessagePolicy"]),
            Some("File")
        );
        assert_eq!(
            meta::get_str(&array(c, &["ports"])[0], &["protocol"]),
            Some("TCP")
        );
        assert_eq!(
            meta::get_str(c, &["resources", "requests", "cpu"]),
            Some("1")
        );
    }

    fn causes_of(spec: &str) -> Vec<Cause> {
        let mut v = parse(spec);
        default_spec(&mut v, &["spec"]);
        let mut causes = Vec::new();
        validate_spec(&v, &["spec"], "spec", &mut causes);
        causes
    }

    #[test]
    fn containers_are_required() {
        let causes = causes_of(r#"{"spec":{}}"#);
        assert_eq!(causes.len(), 1);
        assert_eq!(causes[0].field, "spec.containers");
        assert_eq!(causes[0].message, "Required value");
    }

    #[test]
    fn container_names_and_images() {
        let causes = causes_of(
            r#"{"spec":{"containers":[{"name":"Web","image":"x"},{"name":"a","image":""},{"name":"a","image":"y"}]}}"#,
        );
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            text,
            vec![
                format!("spec.containers[0].name: Invalid value: \"Web\": {LABEL_MSG}"),
                "spec.containers[1].image: Required value".to_owned(),
                "spec.containers[2].name: Duplicate value: \"a\"".to_owned(),
            ]
        );
    }

    #[test]
    fn policies_and_ports() {
        let causes = causes_of(
            r#"{"spec":{"restartPolicy":"Sometimes","containers":[{"name":"a","image":"x","ports":[{"containerPort":70000,"protocol":"HTTP"}]}]}}"#,
        );
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            text,
            vec![
                "spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive",
                "spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"",
                "spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"",
            ]
        );
    }
}
