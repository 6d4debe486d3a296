//! The board tests' one error type: every message names what failed and where.

use std::fmt;
use std::io;
use std::path::Path;
use std::process::Command;

#[derive(Debug)]
pub enum Error {
    Io { path: String, source: io::Error },
    Command { command: String, reason: String },
    Packages { arch: String, reason: String },
    Image(String),
    Guest(String),
    Scenario(String),
    Profile(String),
}

impl Error {
    pub fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.display().to_string(),
            source,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{path}: {source}"),
            Error::Command { command, reason } => write!(f, "`{command}` failed: {reason}"),
            Error::Packages { arch, reason } => write!(f, "packages for {arch}: {reason}"),
            Error::Image(reason) => write!(f, "guest image: {reason}"),
            Error::Guest(reason) => write!(f, "guest: {reason}"),
            Error::Scenario(reason) => write!(f, "scenario: {reason}"),
            Error::Profile(reason) => write!(f, "board profile: {reason}"),
        }
    }
}

impl std::error::Error for Error {}

/// Runs `command` to completion; its stdout on success, its stderr in the error otherwise.
pub fn command_output(command: &mut Command) -> Result<String, Error> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| Error::Command {
        command: shown.clone(),
        reason: e.to_string(),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(Error::Command {
            command: shown,
            reason: format!(
                "{}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            ),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
