//! Metrics move when work happens, and render as Prometheus text.

use crate::support::service;

#[test]
fn counters_and_histograms_move_with_work() {
    let service = service("all-MiniLM-L6-v2");
    let before = service.metrics();
    // Lengths 10 and 9 tokens: one batch (within the padding cap) with one padded position.
    service.embed_batch(&["one two three four five six seven eight", "one two three four five six seven"]).unwrap();
    let after = service.metrics();
    assert_eq!(after.texts - before.texts, 2);
    assert_eq!(after.batches - before.batches, 1);
    assert!(after.tokens > before.tokens);
    assert!(after.padded_tokens - before.padded_tokens >= after.tokens - before.tokens);
    assert_eq!(after.infer_seconds.count() - before.infer_seconds.count(), 1);
    assert!(after.padding_ratio() > 0.0 && after.padding_ratio() < 1.0);
    let text = service.metrics_prometheus();
    for name in [
        "embed_texts_total",
        "embed_batch_size_bucket{le=\"2\"}",
        "embed_infer_seconds_count",
        "embed_cache_hits_total",
        "embed_model_loads_total 1",
        "embed_model_loaded{model=\"all-MiniLM-L6-v2:fp32\"} 1",
    ] {
        assert!(text.contains(name), "missing {name} in\n{text}");
    }
}
