//! Time per operation of the hot paths: tokenization alone, one text, batches of 8, 32 and 64.
//! Run with `cargo bench -p benches` after `cargo xtask fetch-ort` and `fetch-models`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn embedding(c: &mut Criterion) {
    let service =
        embed_core::Service::new(benches::config("all-MiniLM-L6-v2")).expect("model and ONNX Runtime fetched");
    let sentences = benches::stsb_sentences();
    let mut group = c.benchmark_group("all-MiniLM-L6-v2");
    group.bench_function("tokenize_32", |b| {
        b.iter(|| service.model().tokenizer().tokenize(&sentences[..32]).expect("tokenize"))
    });
    group.bench_function("single", |b| b.iter(|| service.embed("This is a sample text").expect("embed")));
    for size in [8usize, 32, 64] {
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("batch", size), &size, |b, &size| {
            b.iter(|| service.embed_batch(&sentences[..size]).expect("embed"))
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = embedding
}
criterion_main!(benches);
