//! wisp-store: the log-structured key-value store that holds all cluster state.
//!
//! It owns the on-disk format (docs/store-format.md), revisions, optimistic concurrency,
//! watch, group commit, compaction and crash recovery. It knows nothing of Kubernetes: keys
//! and values are bytes, and the global revision is what the API server calls
//! resourceVersion.
