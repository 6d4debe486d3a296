//! Board profiles: one TOML file per board under targets/boards/, read by the build,
//! size-budget and board-test tools. Not linked into the wisp binary.
//!
//! [`board`] owns the profile schema and its validation, [`catalog`] the profiles embedded
//! from targets/boards/, and [`cross_build`] the one way every tool cross-builds wisp for a
//! board (xtask and size-budget both call it, so a board builds the same bytes either way).

pub mod board;
pub mod catalog;
pub mod cross_build;

pub use board::{Board, GuestBudgets, ProfileError, QemuSystem};
pub use catalog::{all_boards, board_names, find_board};
pub use cross_build::{BuildError, BuildProfile, BuildRequest, workspace_root};
