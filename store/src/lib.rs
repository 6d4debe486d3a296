//! wisp-store: the log-structured key-value store that holds all cluster state.
//!
//! It owns the on-disk format (docs/store-format.md), revisions, optimistic concurrency,
//! watch, group commit, compaction and crash recovery. It knows nothing of Kubernetes: keys
//! and values are bytes, and the global revision is what the API server calls
//! resourceVersion.
//!
//! Without the default `std` feature only the record codec and the index build (alloc only),
//! so the format can be read on targets without an OS.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod codec;
pub mod crc32c;
pub mod index;

pub use codec::Revision;
