//! Texts per second of the native engine on the STS-B test sentences, and single-text latency:
//! `cargo run --release -p embed-native --example throughput MODEL_DIR [BATCH] [THREADS] [CALLERS]`.

use std::time::Instant;

use embed_native::{NativeModel, NativeOptions, PackedBatch};
use embed_tokenize::{Tokenizer, TokenizerOptions};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(&args[1]);
    let batch: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(32);
    let threads: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2);
    let callers: usize = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(1);
    let csv = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../data/stsb/stsb-en-test.csv")).unwrap();
    let texts: Vec<String> = csv.lines().filter(|l| !l.contains('"')).flat_map(|l| l.split(',').take(2).map(str::to_string).collect::<Vec<_>>()).collect();
    let mut options = NativeOptions::default();
    options.threads = Some(threads);
    let started = Instant::now();
    let model = NativeModel::load(&dir, &options).unwrap();
    let tokenizer = Tokenizer::from_dir(&dir, &TokenizerOptions::default()).unwrap();
    eprintln!("load {:?}, {} texts, {:?}, resident {} MB", started.elapsed(), texts.len(), model.isa(), model.resident_bytes() >> 20);
    let run = |texts: &[String]| {
        let tokenized = tokenizer.tokenize(texts).unwrap();
        let mut order: Vec<usize> = (0..tokenized.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tokenized[i].len()));
        let mut total = 0.0f32;
        for group in order.chunks(batch) {
            let ids: Vec<u32> = group.iter().flat_map(|&i| tokenized[i].ids.iter().copied()).collect();
            let types: Vec<u32> = group.iter().flat_map(|&i| tokenized[i].type_ids.iter().copied()).collect();
            let lengths: Vec<usize> = group.iter().map(|&i| tokenized[i].len()).collect();
            total += model.forward(&PackedBatch { ids: &ids, type_ids: &types, lengths: &lengths }, |h| h[0]).unwrap();
        }
        total
    };
    for round in 0..3 {
        let started = Instant::now();
        std::thread::scope(|scope| {
            for part in texts.chunks(texts.len().div_ceil(callers)) {
                scope.spawn(|| run(part));
            }
        });
        let secs = started.elapsed().as_secs_f64();
        println!("round {round}: {:.0} texts/s (batch {batch}, threads {threads}, callers {callers})", texts.len() as f64 / secs);
    }
    let mut times: Vec<f64> = (0..200)
        .map(|i| {
            let started = Instant::now();
            run(&texts[i % 50..i % 50 + 1]);
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!("single text p50 {:.3} ms p99 {:.3} ms", times[100], times[198]);
}
