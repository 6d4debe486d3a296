//! The mapping from a registry's name to the host its distribution API is served on
//! (`docker.io` is `registry-1.docker.io`). References themselves are parsed and validated
//! by `crate::image::reference`.

pub use crate::image::digest::is_sha256_digest;

/// The host the distribution API of `registry` is served on.
pub fn api_host(registry: &str) -> String {
    match super::credentials::normalize_host(registry).as_str() {
        "docker.io" => "registry-1.docker.io".to_owned(),
        _ => registry.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_api_host() {
        assert_eq!(api_host("docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("index.docker.io"), "registry-1.docker.io");
        assert_eq!(api_host("ghcr.io"), "ghcr.io");
    }
}
