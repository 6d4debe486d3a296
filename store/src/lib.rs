//! wisp-store: the log-structured key-value store that holds all cluster state.
//!
//! It owns the on-disk format (docs/store-format.md), revisions, optimistic concurrency,
//! watch, group commit, compaction and crash recovery. It knows nothing of Kubernetes: keys
//! and values are bytes, and the global revision is what the API server calls
//! resourceVersion.
//!
//! Without the default `std` feature only the record codec and the index build (alloc only),
//! so the format can be read on targets without an OS.
//!
//! Data flow: `Store` (reads: index + cache) -> `committer` (one thread: compare, assign
//! revisions, append a batch, fdatasync, publish) -> `history` (shared events) -> `watch`.
//!
//! Entry points: [`Store::open`] (blocking, before the executor starts), then `get`, `range`,
//! `put`, `delete`, `txn`, `watch`, `compact`, `current_revision` on the cheap, cloneable
//! handle; the async methods work from a smol `LocalExecutor` and never block it (fsync runs
//! on the committer thread). Maintenance for `wisp store snapshot|restore|check|repair`:
//! [`backup::snapshot_to`], [`backup::restore_from`], [`backup::check`],
//! [`backup::plan_repair`] and [`backup::repair`].

#![cfg_attr(not(feature = "std"), no_std)]
// Test code casts freely; the production build keeps the lint.
#![cfg_attr(test, allow(clippy::cast_possible_truncation))]

extern crate alloc;

pub mod codec;
pub mod crc32c;
pub mod index;

#[cfg(feature = "std")]
pub mod backend;
#[cfg(feature = "std")]
pub mod backup;
#[cfg(feature = "std")]
mod cache;
#[cfg(feature = "std")]
mod committer;
#[cfg(feature = "std")]
mod compaction;
#[cfg(feature = "std")]
mod error;
#[cfg(feature = "std")]
mod history;
#[cfg(feature = "std")]
mod options;
#[cfg(feature = "std")]
pub mod recovery;
#[cfg(feature = "std")]
pub mod segment;
#[cfg(feature = "std")]
pub mod sim_backend;
#[cfg(feature = "std")]
mod store;
#[cfg(feature = "std")]
mod types;
#[cfg(feature = "std")]
mod watch;

pub use codec::Revision;
#[cfg(feature = "std")]
pub use error::{OpenError, WatchError, WriteError};
#[cfg(feature = "std")]
pub use options::Options;
#[cfg(feature = "std")]
pub use recovery::RecoveryReport;
#[cfg(feature = "std")]
pub use store::Store;
#[cfg(feature = "std")]
pub use types::{Compare, Event, EventKind, KeyValue, RangeResult, Txn, TxnOp, TxnOutcome, Value};
#[cfg(feature = "std")]
pub use watch::Watcher;
