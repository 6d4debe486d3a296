//! Object name rules as upstream validates them: DNS-1123 labels for namespaces, services
//! and a few others, DNS-1123 subdomains for most kinds, path-segment names for the rest.

use crate::registry::Resource;
use crate::status::{ApiError, field, json_str};

pub const LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

pub fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// Kinds whose names must be DNS-1123 labels (upstream's ValidateNamespaceName,
/// ValidateServiceName and friends).
fn needs_label(resource: &Resource) -> bool {
    resource.group.is_empty() && matches!(&*resource.plural, "namespaces" | "services")
}

/// Kinds whose names are only path segments (RBAC, nodes' are subdomains).
fn path_segment_only(resource: &Resource) -> bool {
    resource.group == "rbac.authorization.k8s.io"
}

pub fn validate_object_name(resource: &Resource, name: &str) -> Result<(), ApiError> {
    let invalid = |detail: &str| {
        ApiError::invalid(
            &resource.group,
            &resource.kind,
            name,
            vec![field::invalid("metadata.name", &json_str(name), detail)],
        )
    };
    if name.is_empty() {
        return Err(ApiError::invalid(
            &resource.group,
            &resource.kind,
            name,
            vec![field::required_because(
                "metadata.name",
                "name or generateName is required",
            )],
        ));
    }
    if path_segment_only(resource) {
        if name == "." || name == ".." {
            return Err(invalid(&format!("may not be '{name}'")));
        }
        if name.contains('/') || name.contains('%') {
            return Err(invalid("may not contain '/' or '%'"));
        }
        return Ok(());
    }
    if needs_label(resource) {
        if name.len() > 63 {
            return Err(invalid("must be no more than 63 characters"));
        }
        if !is_dns1123_label(name) {
            return Err(invalid(LABEL_MSG));
        }
        return Ok(());
    }
    if name.len() > 253 {
        return Err(invalid("must be no more than 253 characters"));
    }
    if !is_dns1123_subdomain(name) {
        return Err(invalid(SUBDOMAIN_MSG));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_rules() {
        assert!(is_dns1123_label("web-1"));
        assert!(!is_dns1123_label("Web"));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain("a_b"));
    }
}
