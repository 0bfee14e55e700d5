//! Metrics move when work happens, and render as Prometheus text.

use embed_core::{BackendChoice, Service};

use crate::support::{config, service};

#[test]
fn counters_and_histograms_move_with_work() {
    // Lengths 10 and 9 tokens: one batch. ONNX Runtime pads it (one padded position), the
    // native engine computes the 19 tokens alone.
    let texts = ["one two three four five six seven eight", "one two three four five six seven"];
    let mut onnx = config("all-MiniLM-L6-v2");
    onnx.backend = BackendChoice::Onnx;
    let onnx = Service::new(onnx).unwrap();
    let before = onnx.metrics();
    onnx.embed_batch(&texts).unwrap();
    let after = onnx.metrics();
    assert_eq!(after.padded_tokens - before.padded_tokens, 20);
    assert!(after.padding_ratio() > 0.0 && after.padding_ratio() < 1.0);

    let service = service("all-MiniLM-L6-v2");
    let before = service.metrics();
    service.embed_batch(&texts).unwrap();
    let after = service.metrics();
    assert_eq!(after.texts - before.texts, 2);
    assert_eq!(after.batches - before.batches, 1);
    assert_eq!(after.tokens - before.tokens, 19);
    assert_eq!(after.padded_tokens - before.padded_tokens, after.tokens - before.tokens);
    assert_eq!(after.infer_seconds.count() - before.infer_seconds.count(), 1);
    assert_eq!(after.padding_ratio(), 0.0);
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
