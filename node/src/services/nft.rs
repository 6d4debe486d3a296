//! Loading a rendered script into the kernel with `nft -f -` (one netlink transaction per
//! script, so a failing rule leaves the previous table in place).

use std::fmt;
use std::io::{self, Write};
use std::process::{Command, Stdio};

use super::ruleset;

#[derive(Debug)]
pub enum NftError {
    /// `nft` could not be started or fed.
    Spawn(io::Error),
    /// `nft` rejected the script.
    Rejected { stderr: String },
}

impl fmt::Display for NftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NftError::Spawn(e) => write!(f, "running nft: {e}"),
            NftError::Rejected { stderr } => {
                write!(f, "nft rejected the service rules: {}", stderr.trim())
            }
        }
    }
}

impl std::error::Error for NftError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            NftError::Spawn(e) => Some(e),
            NftError::Rejected { .. } => None,
        }
    }
}

/// Loads `script` (from `ruleset::render`/`render_table`, which replaces its table).
pub fn apply(script: &str) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(script.as_bytes()));
    let out = child.wait_with_output().map_err(NftError::Spawn)?;
    // A write error with a successful exit means nft read a truncated script.
    match (out.status.success(), written) {
        (true, Some(Err(e))) => Err(NftError::Spawn(e)),
        (true, _) => Ok(()),
        (false, _) => {
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            Err(NftError::Rejected { stderr })
        }
    }
}

/// Deletes table `inet wisp`; succeeds when it does not exist.
pub fn remove() -> Result<(), NftError> {
    remove_table(ruleset::DEFAULT_TABLE_NAME)
}

/// Deletes table `inet <table_name>`; succeeds when it does not exist.
pub fn remove_table(table_name: &str) -> Result<(), NftError> {
    apply(&ruleset::render_removal(table_name))
}
