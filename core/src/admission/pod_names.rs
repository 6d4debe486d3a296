//! Names that refer to each other inside a PodSpec: volumes (DNS-1123 labels, unique),
//! volume mounts (must name a declared volume and give a path), and environment variables
//! (Kubernetes 1.32's relaxed rule: printable ASCII without '=').

use std::collections::HashSet;

use miniserde::json::Value;

use super::fields::{array, go_quote};
use super::names::{LABEL_MSG, is_dns1123_label};
use crate::object::meta;
use crate::status::{Cause, field};

const ENV_MSG: &str = "a valid environment variable name must consist only of printable ASCII characters other than '='";

/// `field.NotFound`.
pub fn not_found(path: &str, value_json: &str) -> Cause {
    Cause {
        reason: "FieldValueNotFound".into(),
        message: format!("Not found: {value_json}"),
        field: path.into(),
    }
}

/// Checks volumes, and each container's mounts and environment, of the spec at `prefix`.
pub fn validate(
    spec: &Value,
    prefix: &str,
    containers: &[(String, &Value)],
    causes: &mut Vec<Cause>,
) {
    let volumes = validate_volumes(spec, prefix, causes);
    for (at, c) in containers {
        for (i, m) in array(c, &["volumeMounts"]).iter().enumerate() {
            let mount = format!("{at}.volumeMounts[{i}]");
            let name = meta::get_str(m, &["name"]).unwrap_or("");
            if name.is_empty() {
                causes.push(field::required(&format!("{mount}.name")));
            } else if !volumes.contains(name) {
                causes.push(not_found(&format!("{mount}.name"), &go_quote(name)));
            }
            if meta::get_str(m, &["mountPath"]).unwrap_or("").is_empty() {
                causes.push(field::required(&format!("{mount}.mountPath")));
            }
        }
        for (i, e) in array(c, &["env"]).iter().enumerate() {
            let path = format!("{at}.env[{i}].name");
            let name = meta::get_str(e, &["name"]).unwrap_or("");
            if name.is_empty() {
                causes.push(field::required(&path));
            } else if !name
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b) && b != b'=')
            {
                causes.push(field::invalid(&path, &go_quote(name), ENV_MSG));
            }
        }
    }
}

fn validate_volumes<'a>(
    spec: &'a Value,
    prefix: &str,
    causes: &mut Vec<Cause>,
) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    for (i, v) in array(spec, &["volumes"]).iter().enumerate() {
        let path = format!("{prefix}.volumes[{i}].name");
        let name = meta::get_str(v, &["name"]).unwrap_or("");
        if name.is_empty() {
            causes.push(field::required(&path));
            continue;
        }
        if !is_dns1123_label(name) {
            causes.push(field::invalid(&path, &go_quote(name), LABEL_MSG));
        }
        if !seen.insert(name) {
            causes.push(field::duplicate(&path, &go_quote(name)));
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_need_volumes_and_env_names_are_printable() {
        let spec: Value = miniserde::json::from_str(
            r#"{"volumes":[{"name":"data"},{"name":"data"}],"containers":[{"name":"c","volumeMounts":[{"name":"data","mountPath":"/d"},{"name":"logs","mountPath":"/l"}],"env":[{"name":"A=B"},{"name":"OK_1.x"}]}]}"#,
        )
        .unwrap();
        let c = &array(&spec, &["containers"])[0];
        let mut causes = Vec::new();
        validate(
            &spec,
            "spec",
            &[("spec.containers[0]".to_owned(), c)],
            &mut causes,
        );
        let text: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field, c.message))
            .collect();
        assert_eq!(
            text,
            vec![
                "spec.volumes[1].name: Duplicate value: \"data\"".to_owned(),
                "spec.containers[0].volumeMounts[1].name: Not found: \"logs\"".to_owned(),
                format!("spec.containers[0].env[0].name: Invalid value: \"A=B\": {ENV_MSG}"),
            ]
        );
    }
}
