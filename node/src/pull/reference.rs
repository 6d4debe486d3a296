//! What the registry client checks of names (parsing image references with Docker's
//! defaults is crate::image::Reference's job): digests, tags, repository paths, and the
//! mapping from the name `docker.io` to its API host.

/// The host the distribution API of `registry` is served on.
pub fn api_host(registry: &str) -> String {
    match super::credentials::normalize_host(registry).as_str() {
        "docker.io" => "registry-1.docker.io".to_owned(),
        _ => registry.to_owned(),
    }
}

/// `sha256:` and 64 lowercase hex digits: the only digest form pulled (it also names files
/// in the blob store, so nothing else may pass).
pub fn is_sha256_digest(digest: &str) -> bool {
    digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

pub(crate) fn valid_repository(repository: &str) -> bool {
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

    #[test]
    fn docker_io_maps_to_its_api_host() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
    }

    #[test]
    fn names_and_digests_are_checked() {
        assert!(valid_repository("o/app"));
        assert!(!valid_repository("UPPER/case"));
        assert!(!valid_repository("reg//app"));
        assert!(valid_tag("v1.2"));
        assert!(!valid_tag("bad/tag"));
        assert!(!is_sha256_digest("sha256:short"));
        assert!(!is_sha256_digest(&DIGEST.to_uppercase()));
        assert!(is_sha256_digest(DIGEST));
    }
}
