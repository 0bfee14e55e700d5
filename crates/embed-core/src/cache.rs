//! The embedding cache: an LRU of finished vectors, bounded by entries and by bytes.
//!
//! A key holds everything that changes a vector (the model with its variant and revision, the
//! options, the text), so a hit returns exactly the vector a miss would compute. This file
//! knows nothing of how vectors are computed.

use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;

use crate::Embedding;

/// What identifies one cached vector.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// The model, variant, revision and every option that changes the vector.
    pub fingerprint: std::sync::Arc<str>,
    /// The text as given (before any prompt).
    pub text: Box<str>,
}

/// Vectors the embedding cache keeps unless configured (`EMBEDDING_CACHE_SIZE`).
pub const DEFAULT_CACHE_ENTRIES: usize = 10_000;

/// Bytes the embedding cache keeps at most unless configured.
pub const DEFAULT_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// Limits of the cache. Zero entries turns it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Most vectors kept (`EMBEDDING_CACHE_SIZE`).
    pub max_entries: usize,
    /// Most bytes kept, counting each entry's vector and text.
    pub max_bytes: usize,
}

impl CacheLimits {
    /// No cache at all.
    pub const OFF: Self = Self { max_entries: 0, max_bytes: 0 };
}

impl Default for CacheLimits {
    fn default() -> Self {
        Self { max_entries: DEFAULT_CACHE_ENTRIES, max_bytes: DEFAULT_CACHE_BYTES }
    }
}

/// Counters of the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that had to compute.
    pub misses: u64,
    /// Entries now held.
    pub entries: usize,
    /// Bytes now held.
    pub bytes: usize,
    /// Entries dropped to stay within the limits.
    pub evictions: u64,
}

struct Inner {
    lru: LruCache<CacheKey, Embedding>,
    bytes: usize,
}

/// A thread-safe LRU of embeddings.
pub(crate) struct EmbeddingCache {
    limits: CacheLimits,
    inner: Mutex<Inner>,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

fn entry_bytes(key: &CacheKey, value: &Embedding) -> usize {
    value.vector.len() * std::mem::size_of::<f32>() + key.text.len() + std::mem::size_of::<(CacheKey, Embedding)>()
}

impl std::fmt::Debug for EmbeddingCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddingCache").field("limits", &self.limits).field("stats", &self.stats()).finish()
    }
}

impl EmbeddingCache {
    pub fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            inner: Mutex::new(Inner { lru: LruCache::unbounded(), bytes: 0 }),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limits.max_entries > 0 && self.limits.max_bytes > 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, key: &CacheKey) -> Option<Embedding> {
        if !self.enabled() {
            return None;
        }
        let found = self.lock().lru.get(key).cloned();
        let counter = if found.is_some() { &self.hits } else { &self.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    pub fn put(&self, key: CacheKey, value: Embedding) {
        if !self.enabled() {
            return;
        }
        let size = entry_bytes(&key, &value);
        if size > self.limits.max_bytes {
            return;
        }
        let mut inner = self.lock();
        if let Some(old) = inner.lru.put(key.clone(), value) {
            inner.bytes -= entry_bytes(&key, &old);
        }
        inner.bytes += size;
        while inner.lru.len() > self.limits.max_entries || inner.bytes > self.limits.max_bytes {
            let Some((k, v)) = inner.lru.pop_lru() else { break };
            inner.bytes -= entry_bytes(&k, &v);
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn invalidate(&self) {
        let mut inner = self.lock();
        inner.lru.clear();
        inner.bytes = 0;
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: inner.lru.len(),
            bytes: inner.bytes,
            evictions: self.evictions.load(Ordering::Relaxed),
        }
    }
}

/// A stable fingerprint of everything but the text.
pub(crate) fn fingerprint(parts: &[&dyn std::fmt::Debug]) -> std::sync::Arc<str> {
    let text = parts.iter().map(|p| format!("{p:?}")).collect::<Vec<_>>().join("|");
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut hasher);
    format!("{text}#{:x}", hasher.finish()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> CacheKey {
        CacheKey { fingerprint: "m".into(), text: text.into() }
    }

    fn emb(x: f32) -> Embedding {
        Embedding { vector: vec![x; 4], tokens: 3, truncated: false }
    }

    #[test]
    fn keeps_the_most_recent_entries_and_counts() {
        let cache = EmbeddingCache::new(CacheLimits { max_entries: 2, max_bytes: 1 << 20 });
        cache.put(key("a"), emb(1.0));
        cache.put(key("b"), emb(2.0));
        assert_eq!(cache.get(&key("a")), Some(emb(1.0)));
        cache.put(key("c"), emb(3.0)); // evicts b, the least recently used
        assert_eq!(cache.get(&key("b")), None);
        assert_eq!(cache.get(&key("c")), Some(emb(3.0)));
        let stats = cache.stats();
        assert_eq!((stats.hits, stats.misses, stats.entries, stats.evictions), (2, 1, 2, 1));
        cache.invalidate();
        assert_eq!(cache.stats().entries, 0);
        assert_eq!(cache.stats().bytes, 0);
    }

    #[test]
    fn the_byte_limit_evicts_too() {
        let one = entry_bytes(&key("a"), &emb(0.0));
        let cache = EmbeddingCache::new(CacheLimits { max_entries: 100, max_bytes: one * 2 });
        for (i, t) in ["a", "b", "c"].into_iter().enumerate() {
            cache.put(key(t), emb(i as f32));
        }
        let stats = cache.stats();
        assert_eq!(stats.entries, 2);
        assert!(stats.bytes <= one * 2);
        assert_eq!(cache.get(&key("a")), None);
    }

    #[test]
    fn a_disabled_cache_holds_nothing() {
        let cache = EmbeddingCache::new(CacheLimits::OFF);
        cache.put(key("a"), emb(1.0));
        assert_eq!(cache.get(&key("a")), None);
        assert_eq!(cache.stats(), CacheStats::default());
    }
}
