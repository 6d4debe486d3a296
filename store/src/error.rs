//! Typed errors of opening, writing and watching.

use std::fmt;

use crate::codec::Revision;

#[derive(Debug)]
pub enum OpenError {
    Io {
        file: String,
        error: std::io::Error,
    },
    /// Another process holds the directory's lock.
    Locked {
        dir: String,
    },
    BadHeader {
        file: String,
        reason: String,
    },
    /// Damage in data that had been synced: refused so nothing is dropped silently.
    Corrupt {
        file: String,
        offset: u64,
        reason: String,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { file, error } => write!(f, "{file}: {error}"),
            Self::Locked { dir } => write!(f, "{dir} is in use by another process"),
            Self::BadHeader { file, reason } => write!(f, "{file}: {reason}"),
            Self::Corrupt {
                file,
                offset,
                reason,
            } => write!(
                f,
                "{file}: corrupt record at offset {offset} ({reason}) followed by synced data; \
                 run `wisp store repair` to truncate there, or restore a snapshot"
            ),
        }
    }
}

impl std::error::Error for OpenError {}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// A write or sync failed; the store takes no more writes until it is reopened.
    Failed(String),
    /// The store was closed.
    Closed,
    /// The record would pass the format's 64 MiB limit.
    TooLarge { bytes: usize },
    /// `compact` asked for a revision not reached yet.
    FutureRevision {
        requested: Revision,
        current: Revision,
    },
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Failed(reason) => write!(f, "store failed: {reason}"),
            Self::Closed => write!(f, "store is closed"),
            Self::TooLarge { bytes } => write!(f, "record of {bytes} bytes is too large"),
            Self::FutureRevision { requested, current } => {
                write!(
                    f,
                    "revision {requested} is ahead of the current revision {current}"
                )
            }
        }
    }
}

impl std::error::Error for WriteError {}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatchError {
    /// Events after `requested` are no longer kept; the oldest start accepted is `oldest`.
    Compacted {
        requested: Revision,
        oldest: Revision,
    },
}

impl fmt::Display for WatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Compacted { requested, oldest } => write!(
                f,
                "revision {requested} has been compacted; the oldest available is {oldest}"
            ),
        }
    }
}

impl std::error::Error for WatchError {}
