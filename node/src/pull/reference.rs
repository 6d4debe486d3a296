//! Image references as pods write them (`busybox`, `ghcr.io/o/app:1.2`,
//! `reg:5000/app@sha256:...`) split into registry, repository and tag or digest with
//! Docker's defaults, and the mapping from the name `docker.io` to its API host.

use std::fmt;

pub use crate::image::digest::is_sha256_digest;

/// Where an image lives: registry host, repository path and a tag or `sha256:` digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageReference {
    pub registry: String,
    pub repository: String,
    pub reference: String,
}

impl ImageReference {
    /// Parses `[registry/]repository[:tag][@digest]`. The first path component is a
    /// registry when it has a `.` or `:` or is `localhost`; otherwise the image is on
    /// docker.io, where one-component names live under `library/`. A digest wins over a
    /// tag; neither means `latest`.
    pub fn parse(image: &str) -> Result<ImageReference, String> {
        let (name, digest) = match image.split_once('@') {
            Some((name, digest)) if is_sha256_digest(digest) => (name, Some(digest)),
            Some(_) => return Err(format!("image {image:?} has an unsupported digest")),
            None => (image, None),
        };
        let (name, tag) = match name.rsplit_once(':') {
            Some((before, tag)) if !tag.contains('/') => (before, Some(tag)),
            _ => (name, None),
        };
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                (first.to_ascii_lowercase(), rest.to_owned())
            }
            _ => ("docker.io".to_owned(), name.to_owned()),
        };
        let repository = if registry == "docker.io" && !repository.contains('/') {
            format!("library/{repository}")
        } else {
            repository
        };
        if !valid_registry(&registry)
            || !valid_repository(&repository)
            || tag.is_some_and(|t| !valid_tag(t))
        {
            return Err(format!("invalid image reference {image:?}"));
        }
        let reference = digest.or(tag).unwrap_or("latest").to_owned();
        Ok(ImageReference {
            registry,
            repository,
            reference,
        })
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if is_sha256_digest(&self.reference) {
            '@'
        } else {
            ':'
        };
        write!(
            f,
            "{}/{}{sep}{}",
            self.registry, self.repository, self.reference
        )
    }
}

/// The host the distribution API of `registry` is served on.
pub fn api_host(registry: &str) -> String {
    match super::credentials::normalize_host(registry).as_str() {
        "docker.io" => "registry-1.docker.io".to_owned(),
        _ => registry.to_owned(),
    }
}

fn valid_registry(registry: &str) -> bool {
    match registry.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => !registry.is_empty(),
    }
}

fn valid_repository(repository: &str) -> bool {
    !repository.is_empty()
        && repository.split('/').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
        })
}

pub(crate) fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && tag.as_bytes()[0] != b'.'
        && tag.as_bytes()[0] != b'-'
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn parsed(image: &str) -> (String, String, String) {
        let r = ImageReference::parse(image).unwrap();
        (r.registry, r.repository, r.reference)
    }

    #[test]
    fn docker_defaults() {
        let hub = |repo: &str, reference: &str| {
            (
                "docker.io".to_owned(),
                repo.to_owned(),
                reference.to_owned(),
            )
        };
        assert_eq!(parsed("busybox"), hub("library/busybox", "latest"));
        assert_eq!(parsed("busybox:1.36"), hub("library/busybox", "1.36"));
        assert_eq!(parsed("bitnami/redis:7"), hub("bitnami/redis", "7"));
        assert_eq!(parsed("docker.io/nginx"), hub("library/nginx", "latest"));
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn registries_ports_and_digests() {
        assert_eq!(
            parsed("localhost:5000/app:v1"),
            ("localhost:5000".into(), "app".into(), "v1".into())
        );
        let with_digest = format!("ghcr.io/o/app:1.2@{DIGEST}");
        assert_eq!(
            parsed(&with_digest),
            ("ghcr.io".into(), "o/app".into(), DIGEST.into())
        );
        let shown = ImageReference::parse(&with_digest).unwrap().to_string();
        assert_eq!(shown, format!("ghcr.io/o/app@{DIGEST}"));
    }

    #[test]
    fn rejects_bad_names_and_digests() {
        assert!(ImageReference::parse("UPPER/case").is_err());
        assert!(ImageReference::parse("app@sha256:short").is_err());
        assert!(ImageReference::parse("app@md5:abc").is_err());
        assert!(ImageReference::parse("reg.io//app").is_err());
        assert!(ImageReference::parse("app:bad/tag:x").is_err());
        assert!(!is_sha256_digest(&DIGEST.to_uppercase()));
        assert!(is_sha256_digest(DIGEST));
    }
}
