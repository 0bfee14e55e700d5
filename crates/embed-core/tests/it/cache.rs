//! The embedding cache with a real model: hits return the vector the miss computed, options
//! that change the vector do not share entries, and the counters move.

use embed_core::{CacheLimits, EmbedOptions, Service};

use crate::support::{config, cosine};

fn cached_service(entries: usize) -> Service {
    let mut cfg = config("all-MiniLM-L6-v2");
    cfg.memory.cache = CacheLimits { max_entries: entries, ..CacheLimits::default() };
    Service::new(cfg).expect("load the cached service")
}

#[test]
fn a_hit_returns_exactly_the_vector_the_miss_computed() {
    let service = cached_service(100);
    let texts = ["alpha", "beta", "alpha"];
    let first = service.embed_batch(&texts).unwrap();
    let after_first = service.cache_stats();
    assert_eq!((after_first.hits, after_first.misses), (0, 3));
    let second = service.embed_batch(&texts).unwrap();
    assert_eq!(first, second, "bit-identical vectors from the cache");
    let stats = service.cache_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (3, 3, 2));
}

#[test]
fn options_that_change_the_vector_do_not_share_entries() {
    let service = cached_service(100);
    let normalized = service.embed("gamma").unwrap();
    let raw = service
        .embed_with(&["gamma"], &EmbedOptions { normalize: false, ..service.default_options().clone() })
        .unwrap();
    let norm: f32 = raw[0].vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() > 1e-3, "the unnormalized vector was computed, not taken from the cache");
    assert!(cosine(&normalized, &raw[0].vector) > 0.999999);
    assert_eq!(service.cache_stats().entries, 2);
    service.invalidate_cache();
    assert_eq!(service.cache_stats().entries, 0);
}

#[test]
fn the_entry_limit_holds() {
    let service = cached_service(2);
    service.embed_batch(&["one", "two", "three"]).unwrap();
    let stats = service.cache_stats();
    assert_eq!(stats.entries, 2);
    assert_eq!(stats.evictions, 1);
}
