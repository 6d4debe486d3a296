//! Board profiles: one TOML file per board under targets/boards/, read by the build,
//! size-budget and board-test tools. Not linked into the wisp binary.
