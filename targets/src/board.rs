//! The board profile schema (targets/boards/<name>.toml) and its validation. Errors name
//! the file and the field, so a typo in a profile is found from the message alone.

use std::fmt;

use serde::Deserialize;

/// One board: what to build for it, how to emulate it and what it may cost.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Board {
    /// Equal to the file stem; what `--board` takes.
    pub name: String,
    pub description: String,
    /// The default Rust target, static (musl, or glibc with crt-static where musl is missing).
    pub rust_target: String,
    /// Why the default target is not static musl, when it is not.
    #[serde(default)]
    pub rust_target_note: Option<String>,
    /// The glibc target, linked statically as well (`--gnu`).
    #[serde(default)]
    pub gnu_target: Option<String>,
    /// Passed as `-C target-cpu`.
    pub target_cpu: String,
    /// The cross linker (a Debian cross gcc package's driver).
    pub linker: String,
    /// The qemu-user binary that runs the board's executables on the build host.
    pub qemu_user: String,
    pub qemu_system: QemuSystem,
    pub binary_budget_bytes: u64,
    /// RSS of an idle `wisp run` with no pods.
    pub ram_idle_budget_bytes: u64,
    /// RSS under the loaded workload (the design brief's 100 pods, 2,000 objects).
    pub ram_loaded_budget_bytes: u64,
    /// What the board tests (board-tests/) measure in the emulated guest.
    pub guest_budgets: GuestBudgets,
}

/// Budgets measured inside the booted board image (board-tests/). RSS and bytes written do
/// not depend on the emulator's speed and are compared as they are; the two timing figures
/// are real-board goals, which board-tests scales by its emulation allowance.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestBudgets {
    /// From `wisp run` starting to its ready line, on the real board.
    pub ready_ms: u64,
    /// CPU time of an idle `wisp run` with the scenario's pods, per 60 s, on the real board.
    pub idle_cpu_ms_per_minute: u64,
    /// Bytes written to the data disk over 5 idle minutes (block device statistics).
    pub idle_disk_write_bytes: u64,
}

/// How board tests boot the board in qemu-system.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QemuSystem {
    pub binary: String,
    pub machine: String,
    pub cpu: String,
    /// The smallest RAM a real board of this kind ships with.
    pub memory_mib: u32,
    /// Debian architecture whose packages (kernel, busybox, runc) build the guest image.
    pub debian_arch: String,
    /// Debian kernel flavour: the package is linux-image-<flavour> for `debian_arch`.
    pub kernel_flavour: String,
    /// The guest's serial console device (kernel `console=`).
    pub console: String,
}

/// A board profile that does not parse or does not make sense.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileError {
    /// The TOML is malformed, a field is missing, unknown or of the wrong type.
    Parse {
        file: String,
        line: Option<usize>,
        message: String,
    },
    /// A field parsed but its value is unusable.
    Invalid {
        file: String,
        field: &'static str,
        reason: String,
    },
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProfileError::Parse {
                file,
                line: Some(line),
                message,
            } => write!(f, "{file}:{line}: {message}"),
            ProfileError::Parse {
                file,
                line: None,
                message,
            } => write!(f, "{file}: {message}"),
            ProfileError::Invalid {
                file,
                field,
                reason,
            } => write!(f, "{file}: field `{field}`: {reason}"),
        }
    }
}

impl std::error::Error for ProfileError {}

impl Board {
    /// Parses and validates one profile; `file` is the file name used in errors.
    pub fn parse(file: &str, text: &str) -> Result<Board, ProfileError> {
        let board: Board = toml::from_str(text).map_err(|e| parse_error(file, text, &e))?;
        board.validate(file)?;
        Ok(board)
    }

    /// The Rust target triple to build: the default one, or the glibc one with `gnu`.
    pub fn triple(&self, gnu: bool) -> Option<&str> {
        if gnu {
            self.gnu_target.as_deref()
        } else {
            Some(&self.rust_target)
        }
    }

    fn validate(&self, file: &str) -> Result<(), ProfileError> {
        let invalid = |field: &'static str, reason: String| ProfileError::Invalid {
            file: file.to_owned(),
            field,
            reason,
        };
        let stem = file.strip_suffix(".toml").unwrap_or(file);
        if self.name != stem {
            return Err(invalid(
                "name",
                format!("`{}` differs from the file name `{stem}`", self.name),
            ));
        }
        let budgets = [
            ("binary_budget_bytes", self.binary_budget_bytes),
            ("ram_idle_budget_bytes", self.ram_idle_budget_bytes),
            ("ram_loaded_budget_bytes", self.ram_loaded_budget_bytes),
        ];
        for (field, value) in budgets {
            if value == 0 {
                return Err(invalid(field, "a budget must be positive".to_owned()));
            }
        }
        if self.ram_loaded_budget_bytes < self.ram_idle_budget_bytes {
            return Err(invalid(
                "ram_loaded_budget_bytes",
                "is below ram_idle_budget_bytes".to_owned(),
            ));
        }
        if self.qemu_system.memory_mib == 0 {
            return Err(invalid(
                "qemu_system.memory_mib",
                "must be positive".to_owned(),
            ));
        }
        self.validate_strings(file)
    }

    fn validate_strings(&self, file: &str) -> Result<(), ProfileError> {
        let fields = [
            ("description", &self.description),
            ("rust_target", &self.rust_target),
            ("target_cpu", &self.target_cpu),
            ("linker", &self.linker),
            ("qemu_user", &self.qemu_user),
            ("qemu_system.binary", &self.qemu_system.binary),
            ("qemu_system.machine", &self.qemu_system.machine),
            ("qemu_system.cpu", &self.qemu_system.cpu),
        ];
        match fields.iter().find(|(_, value)| value.trim().is_empty()) {
            Some((field, _)) => Err(ProfileError::Invalid {
                file: file.to_owned(),
                field,
                reason: "must not be empty".to_owned(),
            }),
            None => Ok(()),
        }
    }
}

/// toml's message names the field for missing and unknown fields; for a bad value it
/// points at the value, so the offending line (which holds the key) is quoted too.
fn parse_error(file: &str, text: &str, error: &toml::de::Error) -> ProfileError {
    let line = error
        .span()
        .map(|span| text[..span.start.min(text.len())].matches('\n').count() + 1);
    let mut message = error.message().trim().to_owned();
    if let Some(source) = line.and_then(|n| text.lines().nth(n - 1)) {
        message = format!("{message} (in `{}`)", source.trim());
    }
    ProfileError::Parse {
        file: file.to_owned(),
        line,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "demo"
description = "a board"
rust_target = "aarch64-unknown-linux-musl"
target_cpu = "cortex-a53"
linker = "aarch64-linux-gnu-gcc"
qemu_user = "qemu-aarch64-static"
binary_budget_bytes = 100
ram_idle_budget_bytes = 10
ram_loaded_budget_bytes = 20

[guest_budgets]
ready_ms = 2000
idle_cpu_ms_per_minute = 300
idle_disk_write_bytes = 0

[qemu_system]
binary = "qemu-system-aarch64"
machine = "virt"
cpu = "cortex-a53"
memory_mib = 1024
debian_arch = "arm64"
kernel_flavour = "arm64"
console = "ttyAMA0"
"#;

    #[test]
    fn a_complete_profile_parses() {
        let board = Board::parse("demo.toml", GOOD).unwrap();
        assert_eq!(board.target_cpu, "cortex-a53");
        assert_eq!(board.qemu_system.memory_mib, 1024);
        assert_eq!(board.triple(false), Some("aarch64-unknown-linux-musl"));
        assert_eq!(board.triple(true), None);
        assert_eq!(board.guest_budgets.idle_cpu_ms_per_minute, 300);
        assert_eq!(board.qemu_system.debian_arch, "arm64");
    }

    #[test]
    fn an_unknown_field_is_rejected_with_file_and_field() {
        let text = GOOD.replace("linker =", "linkr =");
        let e = Board::parse("demo.toml", &text).unwrap_err().to_string();
        assert!(e.starts_with("demo.toml:"), "{e}");
        assert!(e.contains("linkr"), "{e}");
    }

    #[test]
    fn an_unknown_field_in_a_table_is_rejected() {
        let text = GOOD.replace("memory_mib = 1024", "memory_mib = 1024\nsmp = 4");
        let e = Board::parse("demo.toml", &text).unwrap_err().to_string();
        assert!(e.contains("smp"), "{e}");
    }

    #[test]
    fn a_missing_field_is_named() {
        let text = GOOD.replace("target_cpu = \"cortex-a53\"\n", "");
        let e = Board::parse("demo.toml", &text).unwrap_err().to_string();
        assert!(e.contains("demo.toml") && e.contains("target_cpu"), "{e}");
    }

    #[test]
    fn a_wrongly_typed_value_quotes_its_line() {
        let text = GOOD.replace("binary_budget_bytes = 100", "binary_budget_bytes = \"6M\"");
        let e = Board::parse("demo.toml", &text).unwrap_err().to_string();
        assert!(e.contains("demo.toml:8:"), "{e}");
        assert!(e.contains("binary_budget_bytes"), "{e}");
    }

    #[test]
    fn a_zero_budget_is_rejected() {
        let text = GOOD.replace("ram_idle_budget_bytes = 10", "ram_idle_budget_bytes = 0");
        let e = Board::parse("demo.toml", &text).unwrap_err();
        assert_eq!(
            e.to_string(),
            "demo.toml: field `ram_idle_budget_bytes`: a budget must be positive"
        );
    }

    #[test]
    fn a_negative_budget_does_not_parse() {
        let text = GOOD.replace("binary_budget_bytes = 100", "binary_budget_bytes = -1");
        assert!(Board::parse("demo.toml", &text).is_err());
    }

    #[test]
    fn the_name_must_match_the_file() {
        let e = Board::parse("other.toml", GOOD).unwrap_err().to_string();
        assert!(e.contains("`name`"), "{e}");
    }

    #[test]
    fn an_empty_cpu_is_rejected() {
        let text = GOOD.replace("target_cpu = \"cortex-a53\"", "target_cpu = \" \"");
        let e = Board::parse("demo.toml", &text).unwrap_err().to_string();
        assert!(e.contains("target_cpu"), "{e}");
    }
}
