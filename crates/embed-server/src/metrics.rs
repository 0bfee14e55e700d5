//! The server's own metrics: requests by endpoint and status, request latency, queue depth,
//! batch sizes, rejected requests. Recorded with atomics and one small map; written as
//! Prometheus text after the engine's (`Service::metrics_prometheus`) by embed-core's one
//! writer ([`PrometheusText`]).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use embed_core::{Histogram, PrometheusText};

/// Buckets of the request latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of the batch size histogram, in texts.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets of the queue wait histogram, in seconds.
const WAIT_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// Counters and histograms of the server.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// (endpoint, status) → count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// endpoint → latency histogram.
    latency: Mutex<BTreeMap<String, Arc<Histogram>>>,
    pub(crate) queued_inputs: AtomicU64,
    pub(crate) queued_requests: AtomicU64,
    pub(crate) batch_texts: Histogram,
    pub(crate) queue_wait: Histogram,
    pub(crate) batches: AtomicU64,
    pub(crate) texts: AtomicU64,
    pub(crate) tokens: AtomicU64,
    pub(crate) cancelled: AtomicU64,
    pub(crate) rejected_full: AtomicU64,
    pub(crate) timed_out: AtomicU64,
    pub(crate) batch_retries: AtomicU64,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        Self {
            requests: Mutex::new(BTreeMap::new()),
            latency: Mutex::new(BTreeMap::new()),
            queued_inputs: AtomicU64::new(0),
            queued_requests: AtomicU64::new(0),
            batch_texts: Histogram::new(&BATCH_BUCKETS),
            queue_wait: Histogram::new(&WAIT_BUCKETS),
            batches: AtomicU64::new(0),
            texts: AtomicU64::new(0),
            tokens: AtomicU64::new(0),
            cancelled: AtomicU64::new(0),
            rejected_full: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
            batch_retries: AtomicU64::new(0),
        }
    }

    /// Counts a finished request of `endpoint` (a route pattern, never a raw path).
    pub(crate) fn record_request(&self, endpoint: &str, status: u16, seconds: f64) {
        *self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((endpoint.to_string(), status))
            .or_insert(0) += 1;
        let histogram = Arc::clone(
            self.latency
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(endpoint.to_string())
                .or_insert_with(|| Arc::new(Histogram::new(&LATENCY_BUCKETS))),
        );
        histogram.observe(seconds);
    }

    /// Appends the server's metrics to `out`.
    pub(crate) fn write_prometheus(&self, out: &mut PrometheusText) {
        let requests: Vec<(String, f64)> = self
            .requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|((endpoint, status), count)| {
                let labels = format!(
                    "{},{}",
                    PrometheusText::label("endpoint", endpoint),
                    PrometheusText::label("status", &status.to_string())
                );
                (labels, *count as f64)
            })
            .collect();
        let samples: Vec<(&str, f64)> = requests.iter().map(|(labels, count)| (labels.as_str(), *count)).collect();
        out.counter_samples("embed_http_requests_total", "HTTP requests by endpoint and status.", &samples);
        let latency: Vec<(String, embed_core::HistogramSnapshot)> = self
            .latency
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(endpoint, histogram)| (PrometheusText::label("endpoint", endpoint), histogram.snapshot()))
            .collect();
        let series: Vec<(&str, &embed_core::HistogramSnapshot)> =
            latency.iter().map(|(l, h)| (l.as_str(), h)).collect();
        out.histogram_series(
            "embed_http_request_duration_seconds",
            "Time from request to response, by endpoint.",
            &series,
        );
        let load = |value: &AtomicU64| value.load(Ordering::Relaxed) as f64;
        out.gauge("embed_server_queue_inputs", "Inputs waiting in the batching queue.", load(&self.queued_inputs));
        out.gauge(
            "embed_server_queue_parts",
            "Request parts waiting in the batching queue.",
            load(&self.queued_requests),
        );
        out.counter("embed_server_batches_total", "Batches run.", load(&self.batches));
        out.counter("embed_server_batch_texts_total", "Texts run in batches.", load(&self.texts));
        out.counter(
            "embed_server_batch_tokens_total",
            "Tokens run in batches, special tokens included.",
            load(&self.tokens),
        );
        out.counter(
            "embed_server_parts_cancelled_total",
            "Queued request parts dropped because the client left.",
            load(&self.cancelled),
        );
        out.counter(
            "embed_server_requests_rejected_total",
            "Requests refused because the queue was full (429).",
            load(&self.rejected_full),
        );
        out.counter(
            "embed_server_requests_timed_out_total",
            "Requests that passed the request timeout (504).",
            load(&self.timed_out),
        );
        out.counter(
            "embed_server_batch_retries_total",
            "Batches that failed and were run again request by request.",
            load(&self.batch_retries),
        );
        out.histogram(
            "embed_server_batch_size",
            "Texts per batch formed across requests.",
            &self.batch_texts.snapshot(),
        );
        out.histogram(
            "embed_server_queue_wait_seconds",
            "Time a request part waited in the queue.",
            &self.queue_wait.snapshot(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_counted_by_endpoint_and_status() {
        let m = Metrics::new();
        m.record_request("/embed", 200, 0.01);
        m.record_request("/embed", 200, 0.02);
        m.record_request("/embed", 413, 0.0);
        let mut text = PrometheusText::default();
        m.write_prometheus(&mut text);
        let text = text.finish();
        assert!(text.contains("embed_http_requests_total{endpoint=\"/embed\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("embed_http_requests_total{endpoint=\"/embed\",status=\"413\"} 1"), "{text}");
        assert!(text.contains("embed_http_request_duration_seconds_count{endpoint=\"/embed\"} 3"), "{text}");
        assert!(text.contains("# TYPE embed_server_batch_size histogram\n"), "{text}");
    }
}
