//! A bounded cache of upstream replies keyed by (name, type, class). Entries live for the
//! TTL `relay::cache_ttl` allows; when full, expired entries go first, then the one closest
//! to expiry, so the cache never grows past its bound.

use std::collections::HashMap;
use std::time::{Duration, Instant};

type Key = (String, u16, u16);

struct Entry {
    reply: Vec<u8>,
    stored: Instant,
    expires: Instant,
}

pub struct ReplyCache {
    entries: HashMap<Key, Entry>,
    capacity: usize,
}

impl ReplyCache {
    pub fn new(capacity: usize) -> ReplyCache {
        ReplyCache {
            entries: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// The cached reply and its age in whole seconds, if still fresh at `now`.
    pub fn get(&self, key: &Key, now: Instant) -> Option<(&[u8], u32)> {
        let entry = self.entries.get(key).filter(|e| e.expires > now)?;
        let age = u32::try_from(now.duration_since(entry.stored).as_secs()).unwrap_or(u32::MAX);
        Some((&entry.reply, age))
    }

    pub fn insert(&mut self, key: Key, reply: Vec<u8>, ttl: u32, now: Instant) {
        if ttl == 0 {
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.make_room(now);
        }
        let expires = now + Duration::from_secs(u64::from(ttl));
        self.entries.insert(
            key,
            Entry {
                reply,
                stored: now,
                expires,
            },
        );
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn make_room(&mut self, now: Instant) {
        self.entries.retain(|_, e| e.expires > now);
        if self.entries.len() < self.capacity {
            return;
        }
        let soonest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.expires)
            .map(|(k, _)| k.clone());
        if let Some(key) = soonest {
            self.entries.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        (name.to_owned(), 1, 1)
    }

    #[test]
    fn entries_expire_after_their_ttl_and_report_their_age() {
        let mut cache = ReplyCache::new(4);
        let t0 = Instant::now();
        cache.insert(key("a"), vec![1], 10, t0);
        let (reply, age) = cache.get(&key("a"), t0 + Duration::from_secs(3)).unwrap();
        assert_eq!((reply, age), (&[1u8][..], 3));
        assert!(cache.get(&key("a"), t0 + Duration::from_secs(10)).is_none());
    }

    #[test]
    fn a_zero_ttl_is_not_cached() {
        let mut cache = ReplyCache::new(4);
        cache.insert(key("a"), vec![1], 0, Instant::now());
        assert!(cache.is_empty());
    }

    #[test]
    fn a_full_cache_evicts_expired_then_the_soonest_to_expire() {
        let mut cache = ReplyCache::new(2);
        let t0 = Instant::now();
        cache.insert(key("short"), vec![1], 1, t0);
        cache.insert(key("long"), vec![2], 30, t0);
        cache.insert(key("new"), vec![3], 20, t0);
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&key("short"), t0).is_none());
        let later = t0 + Duration::from_secs(2);
        cache.insert(key("newer"), vec![4], 20, later);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(&key("long"), later).is_some(),
            "the soonest to expire went, not the longest"
        );
        assert!(cache.get(&key("newer"), later).is_some());
    }
}
