//! The in-memory index: key -> revisions, version, where the value lives.
//!
//! alloc-only (no std). It owns ordering and prefix/continuation iteration; it does not read
//! files or decide what is cached (the store does).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::ops::Bound;

use crate::codec::Revision;

/// Where a key's current value is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The framed record at `offset` (length `len`) of the active segment.
    Disk { offset: u64, len: u32 },
    /// A volatile key: the value lives only in memory (`Entry::value` is always set).
    Memory,
}

/// One key's current state.
#[derive(Debug, Clone)]
pub struct Entry {
    pub create_revision: Revision,
    pub mod_revision: Revision,
    pub version: u64,
    pub location: Location,
    /// The value when cached (disk keys) or always (memory keys).
    pub value: Option<Arc<[u8]>>,
}

/// Sorted map of every live key.
#[derive(Debug, Default)]
pub struct Index {
    map: BTreeMap<Arc<[u8]>, Entry>,
}

impl Index {
    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.map.get(key)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        self.map.get_mut(key)
    }

    /// The stored key `Arc` and entry, so callers can share the key without copying it.
    pub fn get_key_value(&self, key: &[u8]) -> Option<(&Arc<[u8]>, &Entry)> {
        self.map.get_key_value(key)
    }

    pub fn insert(&mut self, key: Arc<[u8]>, entry: Entry) -> Option<Entry> {
        self.map.insert(key, entry)
    }

    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.map.remove(key)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Keys starting with `prefix`, sorted, strictly after `continue_after` when given.
    pub fn range<'a>(
        &'a self,
        prefix: &'a [u8],
        continue_after: Option<&'a [u8]>,
    ) -> impl Iterator<Item = (&'a Arc<[u8]>, &'a Entry)> + 'a {
        let start = match continue_after {
            Some(after) if after >= prefix => Bound::Excluded(after),
            _ => Bound::Included(prefix),
        };
        self.map
            .range::<[u8], _>((start, Bound::Unbounded))
            .take_while(move |(k, _)| k.starts_with(prefix))
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Arc<[u8]>, &Entry)> {
        self.map.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn entry(rev: u64) -> Entry {
        Entry {
            create_revision: rev,
            mod_revision: rev,
            version: 1,
            location: Location::Memory,
            value: None,
        }
    }

    #[test]
    fn range_respects_prefix_and_continuation() {
        let mut index = Index::default();
        for (i, k) in [&b"a/1"[..], b"a/2", b"a/3", b"b/1", b"a"]
            .iter()
            .enumerate()
        {
            index.insert(Arc::from(*k), entry(i as u64 + 1));
        }
        let keys = |p: &[u8], after: Option<&[u8]>| -> Vec<Vec<u8>> {
            index.range(p, after).map(|(k, _)| k.to_vec()).collect()
        };
        assert_eq!(
            keys(b"a/", None),
            [b"a/1".to_vec(), b"a/2".to_vec(), b"a/3".to_vec()]
        );
        assert_eq!(
            keys(b"a/", Some(b"a/1")),
            [b"a/2".to_vec(), b"a/3".to_vec()]
        );
        assert_eq!(keys(b"a/", Some(b"a/3")), Vec::<Vec<u8>>::new());
        assert_eq!(keys(b"a/", Some(b"0")), keys(b"a/", None));
        assert_eq!(keys(b"", None).len(), 5);
    }
}
