//! Cross-builds the wisp binary for one board profile without Docker: cargo with the
//! board's target, `-C target-cpu`, static linking and the Debian cross linker. xtask's
//! `build` and size-budget call this, so both produce the same bytes.
//!
//! The flags go in `CARGO_ENCODED_RUSTFLAGS`, the highest-precedence source cargo reads:
//! any rustflags source replaces `target.<triple>.rustflags` in .cargo/config.toml rather
//! than adding to it, so `+crt-static` is repeated here. A per-CPU target dir keeps
//! builds for different CPUs from invalidating each other (rustflags are part of cargo's
//! fingerprint, so sharing one dir would rebuild everything on each switch).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};

use crate::board::Board;

/// The cargo profiles defined in the root Cargo.toml that boards are built with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildProfile {
    /// Stripped, size-tuned: what ships.
    Release,
    /// `release` without stripping, for attributing bytes to crates.
    ReleaseSyms,
}

impl BuildProfile {
    pub fn name(self) -> &'static str {
        match self {
            BuildProfile::Release => "release",
            BuildProfile::ReleaseSyms => "release-syms",
        }
    }

    pub fn from_name(name: &str) -> Option<BuildProfile> {
        match name {
            "release" => Some(BuildProfile::Release),
            "release-syms" => Some(BuildProfile::ReleaseSyms),
            _ => None,
        }
    }
}

/// One build of wisp for one board.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub board: &'a Board,
    pub profile: BuildProfile,
    /// Build the board's glibc target instead of its default one.
    pub gnu: bool,
    /// Extra `--config KEY=VALUE` settings, e.g. profile overrides for a sweep.
    pub config_overrides: Vec<String>,
    /// Where cargo builds; `target/cpu/<target-cpu>` when `None`.
    pub target_dir: Option<PathBuf>,
}

/// A board build that could not be planned or did not succeed.
#[derive(Debug)]
pub enum BuildError {
    NoGnuTarget { board: String },
    Spawn { program: String, source: io::Error },
    Failed { board: String, status: ExitStatus },
    MissingOutput { path: PathBuf },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NoGnuTarget { board } => {
                write!(f, "board {board} has no gnu_target in its profile")
            }
            BuildError::Spawn { program, source } => write!(f, "cannot run {program}: {source}"),
            BuildError::Failed { board, status } => {
                write!(f, "cargo build for board {board} failed ({status})")
            }
            BuildError::MissingOutput { path } => {
                write!(f, "cargo succeeded but {} does not exist", path.display())
            }
        }
    }
}

impl std::error::Error for BuildError {}

/// The workspace root (this crate lives in <root>/targets).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

impl<'a> BuildRequest<'a> {
    pub fn new(board: &'a Board, profile: BuildProfile, gnu: bool) -> Self {
        BuildRequest {
            board,
            profile,
            gnu,
            config_overrides: Vec::new(),
            target_dir: None,
        }
    }

    pub fn triple(&self) -> Result<&'a str, BuildError> {
        self.board
            .triple(self.gnu)
            .ok_or_else(|| BuildError::NoGnuTarget {
                board: self.board.name.clone(),
            })
    }

    pub fn target_dir(&self) -> PathBuf {
        self.target_dir.clone().unwrap_or_else(|| {
            workspace_root()
                .join("target/cpu")
                .join(&self.board.target_cpu)
        })
    }

    /// Where the binary lands: <target-dir>/<triple>/<profile>/wisp.
    pub fn output_path(&self) -> Result<PathBuf, BuildError> {
        Ok(self
            .target_dir()
            .join(self.triple()?)
            .join(self.profile.name())
            .join("wisp"))
    }

    /// The rustc flags for the board's target (not for build scripts and proc macros).
    pub fn rustflags(&self) -> Vec<String> {
        vec![
            "-C".to_owned(),
            format!("target-cpu={}", self.board.target_cpu),
            "-C".to_owned(),
            "target-feature=+crt-static".to_owned(),
            // No .eh_frame_hdr (about 150 KiB on aarch64): with `panic = "abort"` nothing
            // unwinds, and in a stripped binary a panic's backtrace has no names to show.
            // The unwinder finds FDEs through this table, so RUST_BACKTRACE prints nothing
            // in board builds; the panic message itself is unchanged.
            "-C".to_owned(),
            "link-arg=-Wl,--no-eh-frame-hdr".to_owned(),
        ]
    }

    /// The cargo invocation, ready to run; exposed so tests and `--dry-run` can show it.
    pub fn command(&self) -> Result<Command, BuildError> {
        let triple = self.triple()?;
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.current_dir(workspace_root());
        cmd.args(["build", "-p", "wisp", "--bin", "wisp", "--profile"]);
        cmd.arg(self.profile.name());
        cmd.args(["--target", triple, "--target-dir"]);
        cmd.arg(self.target_dir());
        for setting in &self.config_overrides {
            cmd.args(["--config", setting]);
        }
        cmd.env("CARGO_ENCODED_RUSTFLAGS", self.rustflags().join("\x1f"));
        cmd.env(linker_env_var(triple), &self.board.linker);
        Ok(cmd)
    }

    /// Runs the build (cargo's output goes to this process's stderr) and returns the
    /// path of the binary.
    pub fn run(&self) -> Result<PathBuf, BuildError> {
        let mut cmd = self.command()?;
        let status = cmd.status().map_err(|source| BuildError::Spawn {
            program: cmd.get_program().to_string_lossy().into_owned(),
            source,
        })?;
        if !status.success() {
            return Err(BuildError::Failed {
                board: self.board.name.clone(),
                status,
            });
        }
        let path = self.output_path()?;
        if !path.is_file() {
            return Err(BuildError::MissingOutput { path });
        }
        Ok(path)
    }
}

/// `CARGO_TARGET_<TRIPLE>_LINKER`: the board file, not .cargo/config.toml, names the
/// linker, so a board with another toolchain needs no config edit.
fn linker_env_var(triple: &str) -> String {
    format!(
        "CARGO_TARGET_{}_LINKER",
        triple.to_ascii_uppercase().replace(['-', '.'], "_")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::find_board;
    use std::ffi::OsStr;

    fn env_of<'c>(cmd: &'c Command, key: &str) -> Option<&'c OsStr> {
        cmd.get_envs()
            .find(|(k, _)| *k == OsStr::new(key))
            .and_then(|(_, v)| v)
    }

    #[test]
    fn a_board_build_sets_cpu_static_linking_and_linker() {
        let board = find_board("zynqmp").unwrap().unwrap();
        let req = BuildRequest::new(&board, BuildProfile::Release, false);
        let cmd = req.command().unwrap();
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let joined = args.join(" ");
        assert!(joined.contains("--profile release --target aarch64-unknown-linux-musl"));
        assert_eq!(
            env_of(&cmd, "CARGO_ENCODED_RUSTFLAGS").unwrap(),
            "-C\x1ftarget-cpu=cortex-a53\x1f-C\x1ftarget-feature=+crt-static\x1f-C\x1flink-arg=-Wl,--no-eh-frame-hdr"
        );
        assert_eq!(
            env_of(&cmd, "CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER").unwrap(),
            "aarch64-linux-gnu-gcc"
        );
    }

    #[test]
    fn the_output_lands_in_a_per_cpu_target_dir() {
        let board = find_board("zynq7000").unwrap().unwrap();
        let req = BuildRequest::new(&board, BuildProfile::ReleaseSyms, false);
        let path = req.output_path().unwrap();
        assert!(
            path.ends_with(
                "target/cpu/cortex-a9/thumbv7neon-unknown-linux-gnueabihf/release-syms/wisp"
            ),
            "{}",
            path.display()
        );
    }

    #[test]
    fn gnu_builds_use_the_gnu_target() {
        let board = find_board("rpi4").unwrap().unwrap();
        let req = BuildRequest::new(&board, BuildProfile::Release, true);
        assert_eq!(req.triple().unwrap(), "aarch64-unknown-linux-gnu");
        let mut no_gnu = board.clone();
        no_gnu.gnu_target = None;
        let req = BuildRequest::new(&no_gnu, BuildProfile::Release, true);
        assert!(matches!(req.triple(), Err(BuildError::NoGnuTarget { .. })));
    }

    #[test]
    fn config_overrides_are_passed_through() {
        let board = find_board("zynqmp").unwrap().unwrap();
        let mut req = BuildRequest::new(&board, BuildProfile::Release, false);
        req.config_overrides
            .push("profile.release.opt-level=\"z\"".to_owned());
        let cmd = req.command().unwrap();
        let args: Vec<&OsStr> = cmd.get_args().collect();
        let i = args.iter().position(|a| *a == "--config").unwrap();
        assert_eq!(args[i + 1], "profile.release.opt-level=\"z\"");
    }

    #[test]
    fn profiles_round_trip_by_name() {
        for p in [BuildProfile::Release, BuildProfile::ReleaseSyms] {
            assert_eq!(BuildProfile::from_name(p.name()), Some(p));
        }
        assert_eq!(BuildProfile::from_name("debug"), None);
    }
}
