//! Performance monitoring: counters and histograms of the embedding pipeline (texts, tokens,
//! batches and their sizes, padding, latency by stage), as a snapshot and as Prometheus text.
//!
//! Recording is lock-free (atomics); the text is written by `prometheus.rs`. This file knows
//! nothing of how the work is done; the pipeline calls it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use embed_pool::{ModelState, PoolStats};

use crate::cache::CacheStats;
use crate::prometheus::{Histogram, HistogramSnapshot, PrometheusText};

/// Upper bounds of the latency buckets, in seconds.
const LATENCY_BOUNDS: [f64; 14] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];
/// Upper bounds of the batch-size buckets, in texts.
const BATCH_BOUNDS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The pipeline's counters, shared by every model of a service.
#[derive(Debug)]
pub(crate) struct Metrics {
    texts: AtomicU64,
    tokens: AtomicU64,
    padded_tokens: AtomicU64,
    batches: AtomicU64,
    failures: AtomicU64,
    batch_size: Histogram,
    tokenize_seconds: Histogram,
    infer_seconds: Histogram,
    pool_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            texts: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            padded_tokens: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            batch_size: Histogram::new(&BATCH_BOUNDS),
            tokenize_seconds: Histogram::new(&LATENCY_BOUNDS),
            infer_seconds: Histogram::new(&LATENCY_BOUNDS),
            pool_seconds: Histogram::new(&LATENCY_BOUNDS),
        }
    }
}

/// The pipeline's counters at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    /// Texts embedded (cache hits excluded).
    pub texts: u64,
    /// Tokens that carried text.
    pub tokens: u64,
    /// Positions run through the model, padding included.
    pub padded_tokens: u64,
    /// Inference calls.
    pub batches: u64,
    /// Calls that ended in an error.
    pub failures: u64,
    /// Texts per inference call.
    pub batch_size: HistogramSnapshot,
    /// Tokenization time per call, in seconds.
    pub tokenize_seconds: HistogramSnapshot,
    /// Inference time per batch, in seconds.
    pub infer_seconds: HistogramSnapshot,
    /// Pooling and normalization time per batch, in seconds.
    pub pool_seconds: HistogramSnapshot,
}

impl MetricsSnapshot {
    /// Share of the positions run through the model that were padding (0 when nothing ran).
    pub fn padding_ratio(&self) -> f64 {
        if self.padded_tokens == 0 { 0.0 } else { 1.0 - self.tokens as f64 / self.padded_tokens as f64 }
    }
}

impl Metrics {
    pub(crate) fn record_tokenize(&self, texts: usize, elapsed: Duration) {
        self.texts.fetch_add(texts as u64, Ordering::Relaxed);
        self.tokenize_seconds.observe(elapsed.as_secs_f64());
    }

    pub(crate) fn record_batch(
        &self,
        rows: usize,
        real_tokens: usize,
        padded_tokens: usize,
        infer: Duration,
        pool: Duration,
    ) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.tokens.fetch_add(real_tokens as u64, Ordering::Relaxed);
        self.padded_tokens.fetch_add(padded_tokens as u64, Ordering::Relaxed);
        self.batch_size.observe(rows as f64);
        self.infer_seconds.observe(infer.as_secs_f64());
        self.pool_seconds.observe(pool.as_secs_f64());
    }

    pub(crate) fn record_failure(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// The counters now.
    pub(crate) fn snapshot(&self) -> MetricsSnapshot {
        MetricsSnapshot {
            texts: self.texts.load(Ordering::Relaxed),
            tokens: self.tokens.load(Ordering::Relaxed),
            padded_tokens: self.padded_tokens.load(Ordering::Relaxed),
            batches: self.batches.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            batch_size: self.batch_size.snapshot(),
            tokenize_seconds: self.tokenize_seconds.snapshot(),
            infer_seconds: self.infer_seconds.snapshot(),
            pool_seconds: self.pool_seconds.snapshot(),
        }
    }
}

impl MetricsSnapshot {
    /// Appends the pipeline's metrics in the Prometheus text format.
    pub fn write_prometheus(&self, out: &mut PrometheusText) {
        out.counter("embed_texts_total", "Texts embedded (cache hits excluded).", self.texts as f64);
        out.counter("embed_tokens_total", "Tokens that carried text.", self.tokens as f64);
        out.counter(
            "embed_padded_tokens_total",
            "Positions run through the model, padding included.",
            self.padded_tokens as f64,
        );
        out.counter("embed_batches_total", "Inference calls.", self.batches as f64);
        out.counter("embed_failures_total", "Embedding calls that failed.", self.failures as f64);
        out.gauge(
            "embed_padding_ratio",
            "Share of the positions run through the model that were padding.",
            self.padding_ratio(),
        );
        out.histogram("embed_batch_size", "Texts per inference call.", &self.batch_size);
        out.histogram("embed_tokenize_seconds", "Tokenization time per call.", &self.tokenize_seconds);
        out.histogram("embed_infer_seconds", "Inference time per batch.", &self.infer_seconds);
        out.histogram("embed_pool_seconds", "Pooling and normalization time per batch.", &self.pool_seconds);
    }
}

/// Appends the embedding cache's and the model registry's metrics in the Prometheus text
/// format.
pub(crate) fn write_registry_metrics(out: &mut PrometheusText, cache: &CacheStats, pool: &PoolStats) {
    out.counter("embed_cache_hits_total", "Embedding cache hits.", cache.hits as f64);
    out.counter("embed_cache_misses_total", "Embedding cache misses.", cache.misses as f64);
    out.gauge("embed_cache_entries", "Vectors in the embedding cache.", cache.entries as f64);
    out.gauge("embed_cache_bytes", "Bytes held by the embedding cache.", cache.bytes as f64);
    out.counter("embed_model_loads_total", "Model loads.", pool.loads as f64);
    out.counter("embed_model_load_failures_total", "Failed model loads.", pool.load_failures as f64);
    out.counter("embed_model_evictions_total", "Models evicted to stay within the budget.", pool.evictions as f64);
    out.gauge("embed_model_bytes_in_use", "Memory taken by loaded models (estimated).", pool.bytes_in_use as f64);
    if let Some(budget) = pool.budget_bytes {
        out.gauge("embed_model_memory_budget_bytes", "Memory budget of the loaded models.", budget as f64);
    }
    let loaded: Vec<(String, f64)> = pool
        .models
        .iter()
        .map(|m| (PrometheusText::label("model", &m.name), if m.state == ModelState::Loaded { 1.0 } else { 0.0 }))
        .collect();
    let samples: Vec<(&str, f64)> = loaded.iter().map(|(labels, value)| (labels.as_str(), *value)).collect();
    out.gauge_samples("embed_model_loaded", "Whether each model is loaded.", &samples);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_bucket_and_render_cumulatively() {
        let metrics = Metrics::default();
        metrics.record_batch(3, 30, 40, Duration::from_millis(2), Duration::from_micros(100));
        metrics.record_batch(40, 400, 400, Duration::from_millis(30), Duration::from_micros(200));
        let snap = metrics.snapshot();
        assert_eq!(snap.batches, 2);
        assert!((snap.padding_ratio() - (1.0 - 430.0 / 440.0)).abs() < 1e-12);
        assert_eq!(snap.batch_size.counts[2], 1, "3 texts fall in the <= 4 bucket");
        assert_eq!(snap.batch_size.counts[6], 1, "40 texts fall in the <= 64 bucket");
        let mut text = PrometheusText::default();
        snap.write_prometheus(&mut text);
        let text = text.finish();
        assert!(text.contains("embed_batch_size_bucket{le=\"4\"} 1\n"), "{text}");
        assert!(text.contains("embed_batch_size_bucket{le=\"64\"} 2\n"), "{text}");
        assert!(text.contains("embed_batch_size_bucket{le=\"+Inf\"} 2\n"), "{text}");
        assert!(text.contains("embed_batch_size_sum 43\n"), "{text}");
        assert!(text.contains("# TYPE embed_infer_seconds histogram\n"));
    }
}
