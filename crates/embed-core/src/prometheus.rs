//! Metrics as Prometheus reads them: a lock-free [`Histogram`] with fixed buckets, and
//! [`PrometheusText`], the one writer of the text exposition format (counters, gauges and
//! histograms, with labels). The pipeline's metrics (`metrics.rs`), the service's and the HTTP
//! server's are all written with it. This file knows nothing of what is measured.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// A histogram with fixed buckets, recorded with atomics (no lock).
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// One count per bound, plus the overflow bucket.
    counts: Vec<AtomicU64>,
    /// Sum of observations in millionths (of seconds or of texts).
    sum_micros: AtomicU64,
}

/// A histogram's values at one moment.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// Upper bounds of the buckets (the last, implicit bucket is +Inf).
    pub bounds: Vec<f64>,
    /// Observations per bucket (not cumulative), one more than `bounds`.
    pub counts: Vec<u64>,
    /// Sum of the observations.
    pub sum: f64,
}

impl HistogramSnapshot {
    /// Number of observations.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl Histogram {
    /// An empty histogram with buckets up to each of `bounds` (ascending) and one beyond.
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum_micros: AtomicU64::new(0) }
    }

    /// Records one observation (a negative one counts as 0 in the sum).
    pub fn observe(&self, value: f64) {
        let bucket = self.bounds.iter().position(|&b| value <= b).unwrap_or(self.bounds.len());
        self.counts[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((value * 1e6).round().max(0.0) as u64, Ordering::Relaxed);
    }

    /// The values now.
    pub fn snapshot(&self) -> HistogramSnapshot {
        HistogramSnapshot {
            bounds: self.bounds.to_vec(),
            counts: self.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect(),
            sum: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// A text in the Prometheus exposition format, written metric by metric.
///
/// ```
/// let mut text = embed_core::PrometheusText::default();
/// text.counter("jobs_total", "Jobs done.", 3.0);
/// let label = embed_core::PrometheusText::label("model", "a\"b");
/// text.gauge_samples("loaded", "Loaded models.", &[(label.as_str(), 1.0)]);
/// assert_eq!(
///     text.finish(),
///     "# HELP jobs_total Jobs done.\n# TYPE jobs_total counter\njobs_total 3\n# HELP loaded \
///      Loaded models.\n# TYPE loaded gauge\nloaded{model=\"a\\\"b\"} 1\n"
/// );
/// ```
#[derive(Debug, Default)]
pub struct PrometheusText {
    out: String,
}

impl PrometheusText {
    /// `key="value"`, the value escaped as the format asks.
    pub fn label(key: &str, value: &str) -> String {
        let value = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        format!("{key}=\"{value}\"")
    }

    fn header(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn samples(&mut self, name: &str, kind: &str, help: &str, samples: &[(&str, f64)]) {
        self.header(name, kind, help);
        for (labels, value) in samples {
            let _ = if labels.is_empty() {
                writeln!(self.out, "{name} {value}")
            } else {
                writeln!(self.out, "{name}{{{labels}}} {value}")
            };
        }
    }

    /// A counter without labels.
    pub fn counter(&mut self, name: &str, help: &str, value: f64) {
        self.samples(name, "counter", help, &[("", value)]);
    }

    /// A counter with one sample per label set (`endpoint="/embed",status="200"`).
    pub fn counter_samples(&mut self, name: &str, help: &str, samples: &[(&str, f64)]) {
        self.samples(name, "counter", help, samples);
    }

    /// A gauge without labels.
    pub fn gauge(&mut self, name: &str, help: &str, value: f64) {
        self.samples(name, "gauge", help, &[("", value)]);
    }

    /// A gauge with one sample per label set.
    pub fn gauge_samples(&mut self, name: &str, help: &str, samples: &[(&str, f64)]) {
        self.samples(name, "gauge", help, samples);
    }

    /// A histogram without labels (cumulative buckets, sum, count).
    pub fn histogram(&mut self, name: &str, help: &str, histogram: &HistogramSnapshot) {
        self.histogram_series(name, help, &[("", histogram)]);
    }

    /// A histogram with one series per label set.
    pub fn histogram_series(&mut self, name: &str, help: &str, series: &[(&str, &HistogramSnapshot)]) {
        self.header(name, "histogram", help);
        for (labels, h) in series {
            let sep = if labels.is_empty() { "" } else { "," };
            let mut cumulative = 0;
            for (bound, count) in h.bounds.iter().zip(&h.counts) {
                cumulative += count;
                let _ = writeln!(self.out, "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}");
            }
            let _ = writeln!(self.out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {}", h.count());
            let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
            let _ = writeln!(self.out, "{name}_sum{braces} {}", h.sum);
            let _ = writeln!(self.out, "{name}_count{braces} {}", h.count());
        }
    }

    /// Appends text already in the format (another writer's [`PrometheusText::finish`]).
    pub fn append(&mut self, text: &str) {
        self.out.push_str(text);
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.out.push('\n');
        }
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: [f64; 3] = [1.0, 4.0, 256.0];

    #[test]
    fn histograms_are_cumulative_with_and_without_labels() {
        let h = Histogram::new(&BOUNDS);
        for value in [1.0, 3.0, 1000.0] {
            h.observe(value);
        }
        let snapshot = h.snapshot();
        assert_eq!((snapshot.counts.clone(), snapshot.count(), snapshot.sum), (vec![1, 1, 0, 1], 3, 1004.0));
        let mut text = PrometheusText::default();
        text.histogram("x", "X.", &snapshot);
        text.histogram_series("y", "Y.", &[("endpoint=\"/embed\"", &snapshot)]);
        let text = text.finish();
        for line in [
            "x_bucket{le=\"1\"} 1\n",
            "x_bucket{le=\"4\"} 2\n",
            "x_bucket{le=\"256\"} 2\n",
            "x_bucket{le=\"+Inf\"} 3\n",
            "x_count 3\n",
            "x_sum 1004\n",
            "y_bucket{endpoint=\"/embed\",le=\"4\"} 2\n",
            "y_count{endpoint=\"/embed\"} 3\n",
            "# TYPE y histogram\n",
        ] {
            assert!(text.contains(line), "no {line:?} in\n{text}");
        }
    }
}
