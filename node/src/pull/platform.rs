//! Platforms (os/architecture/variant) and the choice of one manifest from an image index,
//! with the ARM variant rules boards need: `arm64` and `arm64/v8` are the same, an `arm/v7`
//! board also runs `arm/v6` and `arm/v5` images (preferring the highest), and an `arm`
//! entry without a variant means v7.

use std::fmt;

/// An OCI platform as an image index lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
    }

    /// The platform this binary was compiled for.
    pub fn host() -> Platform {
        let (architecture, variant) = if cfg!(target_arch = "aarch64") {
            ("arm64", Some("v8"))
        } else if cfg!(target_arch = "arm") {
            ("arm", Some(arm_variant()))
        } else if cfg!(target_arch = "x86_64") {
            ("amd64", None)
        } else if cfg!(target_arch = "riscv64") {
            ("riscv64", None)
        } else {
            (std::env::consts::ARCH, None)
        };
        Platform::new(std::env::consts::OS, architecture, variant)
    }

    /// Architecture and variant in the canonical spelling the matching compares.
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

    /// How well an image for `self` runs on `host`: None if it cannot, higher is better.
    pub(crate) fn rank_on(&self, host: &Platform) -> Option<u32> {
        if !self.os.eq_ignore_ascii_case(&host.os) {
            return None;
        }
        let (arch, variant) = self.normalized();
        let (host_arch, host_variant) = host.normalized();
        if arch != host_arch {
            return None;
        }
        if variant == host_variant {
            return Some(100);
        }
        if arch != "arm" {
            return None;
        }
        // Older ARM variants run on newer cores.
        let level = |v: &Option<String>| v.as_deref()?.strip_prefix('v')?.parse::<u32>().ok();
        match (level(&variant), level(&host_variant)) {
            (Some(image), Some(board)) if image < board => Some(image),
            _ => None,
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

    fn p(arch: &str, variant: Option<&str>) -> Platform {
        Platform::new("linux", arch, variant)
    }

    #[test]
    fn arm64_with_or_without_variant() {
        let board = p("arm64", Some("v8"));
        assert_eq!(p("arm64", None).rank_on(&board), Some(100));
        assert_eq!(p("arm64", Some("8")).rank_on(&board), Some(100));
        assert_eq!(p("aarch64", None).rank_on(&p("arm64", None)), Some(100));
        assert_eq!(p("arm", Some("v7")).rank_on(&board), None);
        assert_eq!(p("amd64", None).rank_on(&board), None);
    }

    #[test]
    fn arm_v7_prefers_v7_then_older_variants() {
        let board = p("arm", Some("v7"));
        assert_eq!(p("arm", Some("v7")).rank_on(&board), Some(100));
        assert_eq!(p("arm", None).rank_on(&board), Some(100));
        assert_eq!(p("armhf", None).rank_on(&board), Some(100));
        assert_eq!(p("arm", Some("v6")).rank_on(&board), Some(6));
        assert_eq!(p("arm", Some("v5")).rank_on(&board), Some(5));
        assert_eq!(p("arm", Some("v8")).rank_on(&board), None);
        assert_eq!(p("arm", Some("v7")).rank_on(&p("arm", Some("v6"))), None);
    }

    #[test]
    fn os_and_amd64_variants() {
        let board = p("amd64", None);
        assert_eq!(p("amd64", Some("v1")).rank_on(&board), Some(100));
        assert_eq!(p("amd64", Some("v3")).rank_on(&board), None);
        assert_eq!(
            Platform::new("windows", "amd64", None).rank_on(&board),
            None
        );
        assert_eq!(p("arm", Some("v7")).to_string(), "linux/arm/v7");
        assert_eq!(p("amd64", None).to_string(), "linux/amd64");
    }

    #[test]
    fn host_is_linux_on_a_known_architecture() {
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert_eq!(host.rank_on(&host), Some(100));
        if cfg!(target_arch = "aarch64") {
            assert_eq!(host.to_string(), "linux/arm64/v8");
        }
        // The board targets are v7 (and qemu-arm reports armv7l).
        if cfg!(target_arch = "arm") {
            assert_eq!(host.to_string(), "linux/arm/v7");
        }
    }
}
