//! Platforms (os/architecture/variant) and how well an image built for one runs on another,
//! with the variant rules boards need: `arm64` and `arm64/v8` are the same, an `arm/v7`
//! board also runs `arm/v6` and `arm/v5` images (preferring the highest), an `arm` entry
//! without a variant means v7, and an `amd64` entry without a variant means v1. Both archive
//! import and registry pulls choose from image indexes with `score`.

use std::fmt;

/// An OCI platform as an image index or config lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    /// OCI/Go names: "amd64", "arm64", "arm", "riscv64".
    pub architecture: String,
    /// "v7" for 32-bit ARM boards, "v8" (optional) for arm64.
    pub variant: Option<String>,
}

/// The score of an exact match; an older variant scores its level (below this).
pub const EXACT: u32 = 100;

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// The platform this binary was compiled for; on 32-bit ARM the variant comes from the
    /// running kernel (a v6 board must not get v7 images).
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "aarch64" => ("arm64", Some("v8")),
            "arm" => ("arm", Some(arm_variant())),
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform::new(std::env::consts::OS, architecture, variant)
    }

    /// Parses "os/arch[/variant]".
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?;
        let arch = parts.next().filter(|p| !p.is_empty())?;
        let variant = parts.next();
        parts
            .next()
            .is_none()
            .then(|| Platform::new(os, arch, variant))
    }

    /// Whether an image for `candidate` runs on `self`.
    pub fn accepts(&self, candidate: &Platform) -> bool {
        self.score(candidate).is_some()
    }

    /// How well an image for `candidate` runs on `self`: None if it cannot, `EXACT` for the
    /// same platform, the variant level for an older variant (lower is a worse fit).
    pub fn score(&self, candidate: &Platform) -> Option<u32> {
        if !candidate.os.eq_ignore_ascii_case(&self.os) {
            return None;
        }
        let (arch, variant) = candidate.normalized();
        let (host_arch, host_variant) = self.normalized();
        if arch != host_arch {
            return None;
        }
        if variant == host_variant {
            return Some(EXACT);
        }
        // Older variants run on newer cores (armv6 binaries on a v7 board, x86-64-v2 on v3).
        let level = |v: &Option<String>| match v.as_deref() {
            None if arch == "amd64" => Some(1),
            v => v?.strip_prefix('v')?.parse::<u32>().ok(),
        };
        match (level(&variant), level(&host_variant)) {
            (Some(image), Some(board)) if image < board => Some(image),
            _ => None,
        }
    }

    /// The best fit on `self` among `candidates` (the first of equally good ones, so an
    /// index's order breaks ties), or None when none runs here.
    pub fn best<'a, T>(
        &self,
        candidates: impl IntoIterator<Item = (&'a Platform, T)>,
    ) -> Option<T> {
        let mut best: Option<(u32, T)> = None;
        for (candidate, item) in candidates {
            let Some(score) = self.score(candidate) else {
                continue;
            };
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, item));
            }
        }
        best.map(|(_, item)| item)
    }

    /// Architecture and variant in the canonical spelling `score` compares.
    fn normalized(&self) -> (String, Option<String>) {
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self
            .variant
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(|v| v.to_ascii_lowercase());
        let with_v = |v: String| {
            if v.starts_with('v') {
                v
            } else {
                format!("v{v}")
            }
        };
        match arch.as_str() {
            "aarch64" | "arm64" => ("arm64".into(), Some(variant.map_or("v8".into(), with_v))),
            "armhf" => ("arm".into(), Some("v7".into())),
            "armel" => ("arm".into(), Some("v6".into())),
            "arm" => ("arm".into(), Some(variant.map_or("v7".into(), with_v))),
            "x86_64" | "x86-64" | "amd64" => ("amd64".into(), variant.filter(|v| v != "v1")),
            _ => (arch, variant),
        }
    }
}

/// The ARM variant of the running kernel's machine (`armv6l` -> v6). Stable Rust exposes no
/// ARM architecture-level `target_feature`, and the kernel knows the core anyway; 32-bit
/// userland on a 64-bit core (`armv8l`) runs v7 images.
fn arm_variant() -> &'static str {
    let uname = rustix::system::uname();
    let machine = uname.machine().to_bytes();
    if machine.starts_with(b"armv5") {
        "v5"
    } else if machine.starts_with(b"armv6") {
        "v6"
    } else {
        "v7"
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(variant) if !variant.is_empty() => write!(f, "/{variant}"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    fn p(arch: &str, variant: Option<&str>) -> Platform {
        Platform::new("linux", arch, variant)
    }

    #[test]
    fn arm_variants() {
        assert!(parsed("linux/arm64").accepts(&parsed("linux/arm64/v8")));
        assert!(parsed("linux/arm64/v8").accepts(&parsed("linux/arm64")));
        assert!(!parsed("linux/arm64").accepts(&parsed("linux/arm/v7")));
        let v7 = parsed("linux/arm/v7");
        assert_eq!(v7.score(&parsed("linux/arm/v7")), Some(EXACT));
        assert_eq!(v7.score(&parsed("linux/arm/v6")), Some(6));
        assert!(v7.score(&parsed("linux/arm/v7")) > v7.score(&parsed("linux/arm/v6")));
        assert_eq!(parsed("linux/arm/v6").score(&parsed("linux/arm/v7")), None);
        assert!(!parsed("linux/amd64").accepts(&parsed("windows/amd64")));
        assert_eq!(parsed("linux/arm/v7").to_string(), "linux/arm/v7");
        assert!(Platform::parse("linux").is_none());
        assert!(Platform::parse("linux/arm/v7/x").is_none());
    }

    #[test]
    fn arm64_with_or_without_variant() {
        let board = p("arm64", Some("v8"));
        assert_eq!(board.score(&p("arm64", None)), Some(EXACT));
        assert_eq!(board.score(&p("arm64", Some("8"))), Some(EXACT));
        assert_eq!(p("arm64", None).score(&p("aarch64", None)), Some(EXACT));
        assert_eq!(board.score(&p("arm", Some("v7"))), None);
        assert_eq!(board.score(&p("amd64", None)), None);
    }

    #[test]
    fn arm_v7_prefers_v7_then_older_variants() {
        let board = p("arm", Some("v7"));
        assert_eq!(board.score(&p("arm", Some("v7"))), Some(EXACT));
        assert_eq!(board.score(&p("arm", None)), Some(EXACT));
        assert_eq!(board.score(&p("armhf", None)), Some(EXACT));
        assert_eq!(board.score(&p("arm", Some("v6"))), Some(6));
        assert_eq!(board.score(&p("arm", Some("v5"))), Some(5));
        assert_eq!(board.score(&p("arm", Some("v8"))), None);
        assert_eq!(p("arm", Some("v6")).score(&p("arm", Some("v7"))), None);
        assert_eq!(p("arm", Some("v6")).score(&p("armel", None)), Some(EXACT));
    }

    #[test]
    fn os_and_amd64_variants() {
        let board = p("amd64", None);
        assert_eq!(board.score(&p("amd64", Some("v1"))), Some(EXACT));
        assert_eq!(board.score(&p("x86_64", None)), Some(EXACT));
        assert_eq!(board.score(&p("amd64", Some("v3"))), None);
        assert_eq!(p("amd64", Some("v3")).score(&p("amd64", None)), Some(1));
        assert_eq!(
            p("amd64", Some("v3")).score(&p("amd64", Some("v2"))),
            Some(2)
        );
        assert_eq!(board.score(&Platform::new("windows", "amd64", None)), None);
        assert_eq!(
            board.score(&Platform::new("Linux", "AMD64", None)),
            Some(EXACT)
        );
        assert_eq!(p("arm", Some("v7")).to_string(), "linux/arm/v7");
        assert_eq!(p("amd64", None).to_string(), "linux/amd64");
        assert_eq!(p("amd64", Some("")).to_string(), "linux/amd64");
    }

    #[test]
    fn best_prefers_exact_then_the_first_of_equals() {
        let board = p("arm", Some("v7"));
        let offered = [
            p("amd64", None),
            p("arm", Some("v5")),
            p("arm", Some("v6")),
            p("arm", Some("v7")),
            p("armhf", None),
        ];
        let numbered = || offered.iter().zip(0..);
        assert_eq!(board.best(numbered()), Some(3));
        assert_eq!(board.best(numbered().take(3)), Some(2));
        assert_eq!(board.best(numbered().take(1)), None);
    }

    #[test]
    fn host_is_linux_on_a_known_architecture() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert_eq!(host.score(&host), Some(EXACT));
        if cfg!(target_arch = "aarch64") {
            assert_eq!(host.to_string(), "linux/arm64/v8");
        }
        if cfg!(target_arch = "x86_64") {
            assert_eq!(host.to_string(), "linux/amd64");
        }
        // The board targets are v7 (and qemu-arm reports armv7l).
        if cfg!(target_arch = "arm") {
            assert_eq!(host.to_string(), "linux/arm/v7");
        }
    }
}
