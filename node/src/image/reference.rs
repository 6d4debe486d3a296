//! Image references: parsing and docker-style normalization.
//!
//! "busybox" becomes docker.io/library/busybox:latest, "host:5000/app" keeps its registry,
//! "name@sha256:..." pins a digest. This module only parses and validates names (registry
//! pulls check theirs here too); it does not resolve or fetch anything.

use std::fmt;

/// Registry assumed when a reference names none (docker's convention).
pub const DEFAULT_REGISTRY: &str = "docker.io";
const DEFAULT_TAG: &str = "latest";

/// A normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host, with port if any ("docker.io", "localhost:5000").
    pub registry: String,
    /// Repository path inside the registry ("library/busybox").
    pub repository: String,
    /// Tag; "latest" when the reference had neither tag nor digest.
    pub tag: Option<String>,
    /// Digest "sha256:<64 hex>" when pinned.
    pub digest: Option<String>,
}

/// Why a reference string is not a valid image name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReferenceError {
    Empty,
    InvalidRepository(String),
    InvalidTag(String),
    InvalidDigest(String),
    InvalidRegistry(String),
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => write!(f, "empty image reference"),
            Self::InvalidRepository(r) => write!(f, "invalid repository name {r:?}"),
            Self::InvalidTag(t) => write!(f, "invalid tag {t:?}"),
            Self::InvalidDigest(d) => write!(f, "invalid digest {d:?}"),
            Self::InvalidRegistry(r) => write!(f, "invalid registry {r:?}"),
        }
    }
}

impl std::error::Error for ReferenceError {}

impl Reference {
    /// Parses and normalizes a reference the way docker does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
            None => (input, None),
        };
        let (name, tag) = split_tag(rest)?;
        let (registry, repository) = split_registry(name)?;
        validate_repository(&repository)?;
        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (tag, _) => tag,
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// "registry/repository" without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The string a registry expects in /v2/<name>/manifests/<reference>: digest if pinned.
    pub fn manifest_reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

fn parse_digest(digest: &str) -> Result<String, ReferenceError> {
    if super::digest::is_sha256_digest(digest) {
        Ok(digest.to_string())
    } else {
        Err(ReferenceError::InvalidDigest(digest.to_string()))
    }
}

/// Splits "name:tag"; a colon before the last '/' belongs to a registry port.
fn split_tag(rest: &str) -> Result<(&str, Option<String>), ReferenceError> {
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_slash..].rfind(':') {
        Some(i) => {
            let (name, tag) = (&rest[..last_slash + i], &rest[last_slash + i + 1..]);
            validate_tag(tag)?;
            Ok((name, Some(tag.to_string())))
        }
        None => Ok((rest, None)),
    }
}

pub fn validate_tag(tag: &str) -> Result<(), ReferenceError> {
    let ok = !tag.is_empty()
        && tag.len() <= 128
        && tag.as_bytes()[0] != b'.'
        && tag.as_bytes()[0] != b'-'
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidTag(tag.to_string()))
    }
}

/// The first path component is a registry when it has a '.', a ':' or is "localhost".
fn split_registry(name: &str) -> Result<(String, String), ReferenceError> {
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            validate_registry(first)?;
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_REGISTRY.to_string(), name.to_string()),
    };
    let registry = match registry.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DEFAULT_REGISTRY.to_string(),
        _ => registry,
    };
    let repository = if registry == DEFAULT_REGISTRY && !repository.contains('/') {
        format!("library/{repository}")
    } else {
        repository
    };
    Ok((registry, repository))
}

fn validate_registry(registry: &str) -> Result<(), ReferenceError> {
    let (host, port) = match registry.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (registry, None),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".-[]:".contains(&b));
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host_ok && port_ok {
        Ok(())
    } else {
        Err(ReferenceError::InvalidRegistry(registry.to_string()))
    }
}

/// Path components: lowercase alphanumerics separated by '.', '_', '__' or '-' runs.
pub fn validate_repository(repository: &str) -> Result<(), ReferenceError> {
    let bad = || ReferenceError::InvalidRepository(repository.to_string());
    if repository.is_empty() || repository.len() > 255 {
        return Err(bad());
    }
    for component in repository.split('/') {
        let bytes = component.as_bytes();
        let edges_ok = bytes.first().is_some_and(u8::is_ascii_alphanumeric)
            && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
        let chars_ok = bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(b));
        if !edges_ok || !chars_ok {
            return Err(bad());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn full(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn short_names_get_docker_defaults() {
        assert_eq!(full("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(full("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(
            full("nginx/nginx-ingress"),
            "docker.io/nginx/nginx-ingress:latest"
        );
        assert_eq!(
            full("index.docker.io/library/alpine"),
            "docker.io/library/alpine:latest"
        );
        assert_eq!(full("docker.io/alpine:3"), "docker.io/library/alpine:3");
    }

    #[test]
    fn registries_with_ports_are_not_tags() {
        let r = Reference::parse("localhost:5000/app").unwrap();
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "app");
        assert_eq!(r.tag.as_deref(), Some("latest"));
        let r = Reference::parse("reg.example.com:8443/team/app:v1.2").unwrap();
        assert_eq!(r.registry, "reg.example.com:8443");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(full("localhost/app"), "localhost/app:latest");
    }

    #[test]
    fn digests_pin_without_default_tag() {
        let r = Reference::parse(&format!("ghcr.io/o/app@{D}")).unwrap();
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(D));
        assert_eq!(r.manifest_reference(), D);
        assert_eq!(r.to_string(), format!("ghcr.io/o/app@{D}"));
        let r = Reference::parse(&format!("busybox:1@{D}")).unwrap();
        assert_eq!(r.to_string(), format!("docker.io/library/busybox:1@{D}"));
        assert_eq!(r.name(), "docker.io/library/busybox");
    }

    #[test]
    fn invalid_names_are_refused() {
        assert_eq!(Reference::parse(" "), Err(ReferenceError::Empty));
        assert!(matches!(
            Reference::parse("BusyBox"),
            Err(ReferenceError::InvalidRepository(_))
        ));
        assert!(matches!(
            Reference::parse("a//b"),
            Err(ReferenceError::InvalidRepository(_))
        ));
        assert!(matches!(
            Reference::parse("busybox:"),
            Err(ReferenceError::InvalidTag(_))
        ));
        assert!(Reference::parse("busybox:a/b").is_err());
        assert!(matches!(
            Reference::parse("busybox@sha256:12"),
            Err(ReferenceError::InvalidDigest(_))
        ));
        assert!(matches!(
            Reference::parse("busybox@md5:00"),
            Err(ReferenceError::InvalidDigest(_))
        ));
        assert!(matches!(
            Reference::parse("host:99999/app"),
            Err(ReferenceError::InvalidRegistry(_))
        ));
    }

    #[test]
    fn more_docker_defaults_and_pins() {
        assert_eq!(full("bitnami/redis:7"), "docker.io/bitnami/redis:7");
        assert_eq!(full("docker.io/nginx"), "docker.io/library/nginx:latest");
        let r = Reference::parse(&format!("ghcr.io/o/app:1.2@{D}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("ghcr.io", "o/app")
        );
        assert_eq!(r.manifest_reference(), D);
        assert!(Reference::parse("UPPER/case").is_err());
        assert!(Reference::parse("reg.io//app").is_err());
        assert!(Reference::parse("app:bad/tag:x").is_err());
        assert!(Reference::parse(&format!("app@{}", D.to_uppercase())).is_err());
        assert!(validate_tag("v1.2-rc_1").is_ok());
        assert!(validate_tag(".hidden").is_err());
        assert!(validate_repository("o/app").is_ok());
        assert!(validate_repository("o/app-").is_err());
    }

    #[test]
    fn display_round_trips() {
        for s in ["busybox", "localhost:5000/a/b:c", "quay.io/x/y:1.0-rc_1"] {
            let once = full(s);
            assert_eq!(full(&once), once);
        }
    }
}
