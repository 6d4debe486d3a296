//! Tuning knobs of a store, with defaults sized for a small board.

/// Options for `Store::open`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Keys under these prefixes live in memory only (never written to disk).
    pub volatile_prefixes: Vec<Vec<u8>>,
    /// Byte budget of the value cache for on-disk keys (values of volatile keys not counted).
    pub cache_bytes: usize,
    /// Compact when dead bytes are at least this fraction of the segment...
    pub compaction_dead_ratio: f64,
    /// ...and at least this many bytes.
    pub compaction_min_dead_bytes: u64,
    /// Revisions of event history kept for watches.
    pub watch_window: u64,
    /// Byte budget of the event history (values it keeps alive).
    pub history_bytes: usize,
    /// Revisions reserved by each batch for volatile writes (see docs/store-format.md);
    /// ignored when there are no volatile prefixes.
    pub volatile_revision_reserve: u64,
    /// The active segment is grown (fallocate) this much at a time, so an fdatasync after an
    /// append does not also have to commit a size change.
    pub preallocate_bytes: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            volatile_prefixes: Vec::new(),
            cache_bytes: 16 << 20,
            compaction_dead_ratio: 0.5,
            compaction_min_dead_bytes: 8 << 20,
            watch_window: 10_000,
            history_bytes: 16 << 20,
            volatile_revision_reserve: 100_000,
            preallocate_bytes: 4 << 20,
        }
    }
}

impl Options {
    pub(crate) fn is_volatile(&self, key: &[u8]) -> bool {
        self.volatile_prefixes.iter().any(|p| key.starts_with(p))
    }

    pub(crate) fn reserve(&self) -> u64 {
        if self.volatile_prefixes.is_empty() {
            0
        } else {
            self.volatile_revision_reserve
        }
    }
}
