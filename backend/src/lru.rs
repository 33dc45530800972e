//! A bounded map of derived answers for one store generation: at most `entries` values and about
//! `bytes` bytes (each value's size is estimated when it is stored); the least recently used go
//! first. Counters for `/metrics` say how it fares.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Counters of one bounded cache, read by `/metrics`.
#[derive(Debug, Default)]
pub struct CacheCounters {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub evictions: AtomicU64,
    /// Values held now, and their estimated bytes (gauges).
    pub entries: AtomicU64,
    pub bytes: AtomicU64,
}

/// What a scrape reads of one cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub evictions: u64,
    pub entries: u64,
    pub bytes: u64,
}

impl CacheCounters {
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.entries.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug)]
struct Entry<V> {
    value: Arc<V>,
    bytes: usize,
    used: u64,
}

/// Values of one generation under string keys, bounded by count and estimated bytes.
#[derive(Debug)]
pub struct Bounded<V> {
    generation: u64,
    map: HashMap<String, Entry<V>>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    clock: u64,
    pub counters: CacheCounters,
}

impl<V> Bounded<V> {
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            generation: 0,
            map: HashMap::new(),
            max_entries: max_entries.max(1),
            max_bytes,
            bytes: 0,
            clock: 0,
            counters: CacheCounters::default(),
        }
    }

    /// Forget every value of an older generation.
    fn at(&mut self, generation: u64) {
        if self.generation != generation {
            self.generation = generation;
            self.map.clear();
            self.bytes = 0;
            self.publish();
        }
    }

    fn publish(&self) {
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        self.counters
            .entries
            .store(n(self.map.len()), Ordering::Relaxed);
        self.counters.bytes.store(n(self.bytes), Ordering::Relaxed);
    }

    /// The value under `key` at `generation`, counted as a hit or a miss.
    pub fn get(&mut self, generation: u64, key: &str) -> Option<Arc<V>> {
        self.at(generation);
        self.clock += 1;
        let now = self.clock;
        match self.map.get_mut(key) {
            Some(e) => {
                e.used = now;
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                Some(Arc::clone(&e.value))
            }
            None => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    /// Keep `value` (of about `bytes` bytes) under `key` if `generation` is still the current one,
    /// evicting the least recently used until both bounds hold. A value larger than the byte
    /// bound alone is not kept.
    pub fn insert(&mut self, generation: u64, key: String, value: Arc<V>, bytes: usize) {
        if generation < self.generation || bytes > self.max_bytes {
            return;
        }
        self.at(generation);
        self.clock += 1;
        if let Some(old) = self.map.remove(&key) {
            self.bytes -= old.bytes;
        }
        while !self.map.is_empty()
            && (self.map.len() >= self.max_entries || self.bytes + bytes > self.max_bytes)
        {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest
                && let Some(e) = self.map.remove(&k)
            {
                self.bytes -= e.bytes;
                self.counters.evictions.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.bytes += bytes;
        self.map.insert(
            key,
            Entry {
                value,
                bytes,
                used: self.clock,
            },
        );
        self.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_at_most_its_entries_and_evicts_the_least_recently_used() {
        let mut c: Bounded<u32> = Bounded::new(2, 1000);
        c.insert(1, "a".into(), Arc::new(1), 10);
        c.insert(1, "b".into(), Arc::new(2), 10);
        assert!(c.get(1, "a").is_some()); // a is now newer than b
        c.insert(1, "c".into(), Arc::new(3), 10);
        assert!(c.get(1, "b").is_none(), "b was the least recently used");
        assert_eq!(c.get(1, "a").as_deref(), Some(&1));
        assert_eq!(c.get(1, "c").as_deref(), Some(&3));
        let s = c.counters.stats();
        assert_eq!((s.entries, s.bytes, s.evictions), (2, 20, 1));
        assert_eq!((s.hits, s.misses), (3, 1));
    }

    #[test]
    fn keeps_under_its_byte_bound_and_drops_an_older_generation() {
        let mut c: Bounded<u32> = Bounded::new(100, 100);
        c.insert(1, "a".into(), Arc::new(1), 60);
        c.insert(1, "b".into(), Arc::new(2), 60);
        assert!(c.get(1, "a").is_none(), "a made room for b");
        c.insert(1, "huge".into(), Arc::new(3), 101);
        assert!(
            c.get(1, "huge").is_none(),
            "larger than the bound alone: not kept"
        );
        assert!(c.get(2, "b").is_none(), "a new generation starts empty");
        c.insert(1, "late".into(), Arc::new(4), 1);
        assert!(
            c.get(2, "late").is_none(),
            "a value of an older generation is not kept"
        );
        assert_eq!(c.counters.stats().bytes, 0);
    }
}
