//! Platforms (os/architecture/variant) and which manifest of an index fits this host.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    /// OCI/Go names: "amd64", "arm64", "arm", "riscv64".
    pub architecture: String,
    /// "v7" for 32-bit ARM boards, "v8" (optional) for arm64.
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_string(),
            architecture: architecture.to_string(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platform this binary was built for.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "x86" => ("386", None),
            "powerpc64" => ("ppc64le", None),
            other => (other, None),
        };
        Platform::new("linux", architecture, variant)
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

    /// Whether an image for `candidate` runs here. arm64 treats a missing variant and "v8"
    /// as equal; 32-bit arm treats a missing variant as fitting, and prefers exact matches
    /// through `score`.
    pub fn accepts(&self, candidate: &Platform) -> bool {
        self.score(candidate).is_some()
    }

    /// Higher is a better fit; None does not run here.
    pub fn score(&self, candidate: &Platform) -> Option<u8> {
        if candidate.os != self.os || candidate.architecture != self.architecture {
            return None;
        }
        let normalize = |v: &Option<String>| match (self.architecture.as_str(), v.as_deref()) {
            ("arm64", Some("v8")) => None,
            (_, v) => v.map(str::to_string),
        };
        match (normalize(&self.variant), normalize(&candidate.variant)) {
            (a, b) if a == b => Some(2),
            (_, None) => Some(1),
            (Some(mine), Some(theirs)) if self.architecture == "arm" => {
                // An armv7 board runs v6 and v5 binaries too.
                (theirs < mine).then_some(1)
            }
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Platform {
        Platform::parse(s).unwrap()
    }

    #[test]
    fn arm_variants() {
        assert!(p("linux/arm64").accepts(&p("linux/arm64/v8")));
        assert!(p("linux/arm64/v8").accepts(&p("linux/arm64")));
        assert!(!p("linux/arm64").accepts(&p("linux/arm/v7")));
        assert_eq!(p("linux/arm/v7").score(&p("linux/arm/v7")), Some(2));
        assert_eq!(p("linux/arm/v7").score(&p("linux/arm/v6")), Some(1));
        assert_eq!(p("linux/arm/v6").score(&p("linux/arm/v7")), None);
        assert!(!p("linux/amd64").accepts(&p("windows/amd64")));
        assert_eq!(p("linux/arm/v7").to_string(), "linux/arm/v7");
        assert!(Platform::parse("linux").is_none());
    }
}
