//! `wisp cleanup`: removes what wisp's node leaves on the host (nftables table, the pod
//! bridge, CNI attachments and their addresses, pod namespace mounts, containers and their
//! state, the cluster DNS address and service route on `lo`) as an uninstall step. It
//! refuses while a `wisp run` holds the data dir (the store's `LOCK`), and holds that lock
//! itself while it works so no `wisp run` starts meanwhile. The data dir itself is left
//! for the operator to delete.

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};

use lexopt::prelude::*;

use crate::cli::{Command, UsageError};

pub const CLEANUP_HELP: &str = "\
Usage: wisp cleanup [--config FILE] [--data-dir DIR]

Removes what wisp's node agent leaves on the host, for an uninstall: its nftables table,
the pod bridge, CNI attachments and IP reservations, pod network namespace mounts,
containers (running ones are killed) and their state, the cluster DNS address and the
service route on lo. Refuses while `wisp run` uses the data dir. The data dir itself is
kept: delete it afterwards if you want the cluster's state gone too.

Options:
  --config FILE    YAML config used by `wisp run` (names the table, bridge and ranges)
  --data-dir DIR   state directory (default as for `wisp run`)
  -h, --help       print this help
";

#[derive(Debug, Default, PartialEq, Eq)]
pub struct CleanupArgs {
    pub config: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
}

pub fn parse(parser: &mut lexopt::Parser) -> Result<Command, UsageError> {
    let mut args = CleanupArgs::default();
    while let Some(arg) = parser.next()? {
        match arg {
            Long("config") => args.config = Some(parser.value()?.into()),
            Long("data-dir") => args.data_dir = Some(parser.value()?.into()),
            Short('h') | Long("help") => return Ok(Command::Help(CLEANUP_HELP)),
            other => return Err(other.unexpected().into()),
        }
    }
    Ok(Command::Cleanup(args))
}

/// Why cleanup did not run.
#[derive(Debug)]
pub enum CleanupError {
    /// A `wisp run` holds the data dir.
    InUse(PathBuf),
    Lock(PathBuf, std::io::Error),
}

impl fmt::Display for CleanupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CleanupError::InUse(dir) => write!(
                f,
                "{} is in use by a running `wisp run`: stop it first",
                dir.display()
            ),
            CleanupError::Lock(file, e) => write!(f, "locking {}: {e}", file.display()),
        }
    }
}

impl std::error::Error for CleanupError {}

pub fn execute(args: CleanupArgs) -> Result<(), Box<dyn std::error::Error>> {
    let config = crate::run::effective_config(args.config.as_deref(), args.data_dir)?;
    let data_dir = config.resolved_data_dir();
    let _lock = lock_data_dir(&data_dir)?;
    let agent = crate::run::agent_config(&config, &data_dir);
    for line in wisp_node::agent::cleanup(&agent) {
        crate::cli::write_stdout(&format!("{line}\n"));
    }
    Ok(())
}

/// Takes the store's lock (the one `wisp run` holds); None when no store was ever made.
fn lock_data_dir(data_dir: &Path) -> Result<Option<File>, CleanupError> {
    let path = data_dir.join("store").join("LOCK");
    let file = match File::options().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(CleanupError::Lock(path, e)),
    };
    match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(Some(file)),
        Err(rustix::io::Errno::WOULDBLOCK) => Err(CleanupError::InUse(data_dir.to_owned())),
        Err(e) => Err(CleanupError::Lock(path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_held_lock_refuses_and_a_free_one_is_taken() {
        let dir = std::env::temp_dir().join(format!("wisp-cleanup-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("store")).unwrap();
        assert!(matches!(lock_data_dir(&dir), Ok(None)), "no store yet");
        let held = File::create(dir.join("store/LOCK")).unwrap();
        rustix::fs::flock(&held, rustix::fs::FlockOperation::NonBlockingLockExclusive).unwrap();
        // flock locks belong to the open file description: a second open conflicts, as
        // another process's would.
        let refused = lock_data_dir(&dir);
        assert!(
            matches!(refused, Err(CleanupError::InUse(_))),
            "{refused:?}"
        );
        drop(held);
        assert!(matches!(lock_data_dir(&dir), Ok(Some(_))));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
