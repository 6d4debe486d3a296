//! The CNI module's error type: configuration, plugin execution, plugin-reported and cache
//! failures, each naming the file, plugin or field involved.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

/// Everything that can go wrong while configuring or running CNI plugins.
#[derive(Debug)]
pub enum CniError {
    /// The network configuration list is unreadable or malformed.
    Config { file: PathBuf, detail: String },
    /// A file or directory operation failed.
    Io { path: PathBuf, source: io::Error },
    /// No plugin binary of that type exists in any configured directory.
    PluginNotFound { plugin: String, dirs: Vec<PathBuf> },
    /// The plugin exited with a CNI error document.
    Plugin {
        plugin: String,
        command: &'static str,
        code: u64,
        msg: String,
        details: String,
    },
    /// The plugin failed without printing a CNI error document.
    PluginFailed {
        plugin: String,
        command: &'static str,
        status: String,
        stderr: String,
    },
    /// The plugin did not finish in time and was killed.
    Timeout {
        plugin: String,
        command: &'static str,
        after: Duration,
    },
    /// The plugin succeeded but printed a result that is not a CNI result.
    BadResult { plugin: String, detail: String },
    /// Removing a leftover masquerade rule failed.
    Iptables { command: String, stderr: String },
    /// A cached attachment cannot be read back.
    Cache { file: PathBuf, detail: String },
}

impl CniError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        CniError::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn config(file: impl Into<PathBuf>, detail: impl Into<String>) -> Self {
        CniError::Config {
            file: file.into(),
            detail: detail.into(),
        }
    }
}

impl fmt::Display for CniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CniError::Config { file, detail } => {
                write!(f, "cni config {}: {detail}", file.display())
            }
            CniError::Io { path, source } => write!(f, "cni: {}: {source}", path.display()),
            CniError::PluginNotFound { plugin, dirs } => {
                let dirs: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                write!(f, "cni plugin {plugin:?} not found in {}", dirs.join(", "))
            }
            CniError::Plugin {
                plugin,
                command,
                code,
                msg,
                details,
            } => {
                write!(
                    f,
                    "cni plugin {plugin} {command} failed (code {code}): {msg}"
                )?;
                if !details.is_empty() {
                    write!(f, " ({details})")?;
                }
                Ok(())
            }
            CniError::PluginFailed {
                plugin,
                command,
                status,
                stderr,
            } => {
                write!(f, "cni plugin {plugin} {command} failed ({status})")?;
                if !stderr.is_empty() {
                    write!(f, ": {}", stderr.trim())?;
                }
                Ok(())
            }
            CniError::Timeout {
                plugin,
                command,
                after,
            } => {
                write!(f, "cni plugin {plugin} {command} killed after {after:?}")
            }
            CniError::BadResult { plugin, detail } => {
                write!(f, "cni plugin {plugin} printed an invalid result: {detail}")
            }
            CniError::Iptables { command, stderr } => write!(f, "cni: {command}: {stderr}"),
            CniError::Cache { file, detail } => {
                write!(f, "cni cache {}: {detail}", file.display())
            }
        }
    }
}

impl std::error::Error for CniError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CniError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
