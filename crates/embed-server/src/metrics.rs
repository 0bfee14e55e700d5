//! The server's own Prometheus metrics: requests by endpoint and status, request latency,
//! queue depth, batch sizes, rejected requests. Written as Prometheus text after the engine's
//! (`Service::metrics_prometheus`). Plain atomics and one small map; no metrics library.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of the request latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Buckets of the batch size histogram, in texts.
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets of the queue wait histogram, in seconds.
const WAIT_BUCKETS: [f64; 10] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 2.0];

/// A histogram with fixed buckets.
#[derive(Debug)]
pub(crate) struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in millionths, to stay in an atomic integer.
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub(crate) fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            self.counts[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6).max(0.0) as u64, Ordering::Relaxed);
    }

    fn write(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

/// Counters and histograms of the server.
#[derive(Debug)]
pub(crate) struct Metrics {
    /// (endpoint, status) → count.
    requests: Mutex<BTreeMap<(String, u16), u64>>,
    /// endpoint → latency histogram.
    latency: Mutex<BTreeMap<String, std::sync::Arc<Histogram>>>,
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
        let mut requests = self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests.entry((endpoint.to_string(), status)).or_insert(0) += 1;
        drop(requests);
        let histogram = {
            let mut latency = self.latency.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            std::sync::Arc::clone(
                latency
                    .entry(endpoint.to_string())
                    .or_insert_with(|| std::sync::Arc::new(Histogram::new(&LATENCY_BUCKETS))),
            )
        };
        histogram.observe(seconds);
    }

    /// The Prometheus text of the server's metrics.
    pub(crate) fn prometheus(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP embed_http_requests_total HTTP requests by endpoint and status.\n");
        out.push_str("# TYPE embed_http_requests_total counter\n");
        for ((endpoint, status), count) in
            self.requests.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter()
        {
            let _ = writeln!(out, "embed_http_requests_total{{endpoint=\"{endpoint}\",status=\"{status}\"}} {count}");
        }
        out.push_str("# HELP embed_http_request_duration_seconds Time from request to response, by endpoint.\n");
        out.push_str("# TYPE embed_http_request_duration_seconds histogram\n");
        let latency: Vec<_> = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|(k, v)| (k.clone(), std::sync::Arc::clone(v)))
            .collect();
        for (endpoint, histogram) in latency {
            histogram.write(&mut out, "embed_http_request_duration_seconds", &format!("endpoint=\"{endpoint}\""));
        }
        let gauges = [
            ("embed_server_queue_inputs", "Inputs waiting in the batching queue.", &self.queued_inputs),
            ("embed_server_queue_parts", "Request parts waiting in the batching queue.", &self.queued_requests),
        ];
        for (name, help, value) in gauges {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {}", value.load(Ordering::Relaxed));
        }
        let counters = [
            ("embed_server_batches_total", "Batches run.", &self.batches),
            ("embed_server_batch_texts_total", "Texts run in batches.", &self.texts),
            ("embed_server_batch_tokens_total", "Tokens run in batches, special tokens included.", &self.tokens),
            (
                "embed_server_parts_cancelled_total",
                "Queued request parts dropped because the client left.",
                &self.cancelled,
            ),
            (
                "embed_server_requests_rejected_total",
                "Requests refused because the queue was full (429).",
                &self.rejected_full,
            ),
            (
                "embed_server_requests_timed_out_total",
                "Requests that passed the request timeout (504).",
                &self.timed_out,
            ),
            (
                "embed_server_batch_retries_total",
                "Batches that failed and were run again request by request.",
                &self.batch_retries,
            ),
        ];
        for (name, help, value) in counters {
            let _ =
                writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", value.load(Ordering::Relaxed));
        }
        out.push_str("# HELP embed_server_batch_size Texts per batch formed across requests.\n# TYPE embed_server_batch_size histogram\n");
        self.batch_texts.write(&mut out, "embed_server_batch_size", "");
        out.push_str("# HELP embed_server_queue_wait_seconds Time a request part waited in the queue.\n");
        out.push_str("# TYPE embed_server_queue_wait_seconds histogram\n");
        self.queue_wait.write(&mut out, "embed_server_queue_wait_seconds", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_is_cumulative() {
        let h = Histogram::new(&BATCH_BUCKETS);
        h.observe(1.0);
        h.observe(3.0);
        h.observe(1000.0);
        let mut out = String::new();
        h.write(&mut out, "x", "");
        assert!(out.contains("x_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"4\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"256\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count 3\n"), "{out}");
    }

    #[test]
    fn requests_are_counted_by_endpoint_and_status() {
        let m = Metrics::new();
        m.record_request("/embed", 200, 0.01);
        m.record_request("/embed", 200, 0.02);
        m.record_request("/embed", 413, 0.0);
        let text = m.prometheus();
        assert!(text.contains("embed_http_requests_total{endpoint=\"/embed\",status=\"200\"} 2"), "{text}");
        assert!(text.contains("embed_http_requests_total{endpoint=\"/embed\",status=\"413\"} 1"), "{text}");
        assert!(text.contains("embed_http_request_duration_seconds_count{endpoint=\"/embed\"} 3"), "{text}");
    }
}
