//! Time, allocations and memory per operation of the hot paths, the seed's table: tokenization
//! alone, one text, batches of 8, 32 and 64, a cached text, and the HTTP endpoint under
//! parallel clients. Criterion measures the time; a counting global allocator measures
//! allocations and bytes per operation (the Rust side: ONNX Runtime's own arena is not seen),
//! written to `target/criterion/allocations.md` and printed at the end.
//!
//! Run with `cargo bench -p benches` after `cargo xtask fetch-ort` and `fetch-models`.

#![allow(missing_docs)] // criterion_group! generates undocumented items

use std::sync::Mutex;
use std::time::Duration;

use benches::alloc::{AllocationReport, CountingAllocator, measure};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

const MODEL: &str = "all-MiniLM-L6-v2";
/// Calls averaged for the allocation figures of each benchmark.
const ALLOCATION_CALLS: usize = 20;
/// Parallel clients of the HTTP benchmark, each sending one text per round.
const HTTP_CLIENTS: usize = 8;

static REPORT: Mutex<AllocationReport> = Mutex::new(AllocationReport::new());

fn record(name: &str, op: impl FnMut()) {
    let figures = measure(ALLOCATION_CALLS, op);
    REPORT.lock().unwrap_or_else(|p| p.into_inner()).add(format!("{MODEL}/{name}"), figures);
}

fn library(c: &mut Criterion) {
    let service = embed_core::Service::new(benches::config(MODEL)).expect("model and ONNX Runtime fetched");
    let sentences = benches::stsb_sentences();
    let mut group = c.benchmark_group(MODEL);

    // Step one alone (prompt, tokens, counts; `benches::config` turns the embedding cache off).
    let model = service.default_model();
    let tokenize = || service.prepare(&model, &sentences[..32], service.default_options()).expect("tokenize");
    record("tokenize_32", || drop(tokenize()));
    group.throughput(Throughput::Elements(32));
    group.bench_function("tokenize_32", |b| b.iter(tokenize));

    let single = || service.embed("This is a sample text").expect("embed");
    record("single", || drop(single()));
    group.throughput(Throughput::Elements(1));
    group.bench_function("single", |b| b.iter(single));

    for size in [8usize, 32, 64] {
        let batch = || service.embed_batch(&sentences[..size]).expect("embed");
        record(&format!("batch/{size}"), || drop(batch()));
        group.throughput(Throughput::Elements(size as u64));
        group.bench_with_input(BenchmarkId::new("batch", size), &size, |b, _| b.iter(batch));
    }

    let mut cached_config = benches::config(MODEL);
    cached_config.memory.cache.max_entries = 10_000;
    let cached_service = embed_core::Service::new(cached_config).expect("model and ONNX Runtime fetched");
    let cached = || cached_service.embed("This is a sample text").expect("embed");
    drop(cached());
    record("cached", || drop(cached()));
    group.throughput(Throughput::Elements(1));
    group.bench_function("cached", |b| b.iter(cached));
    group.finish();
}

/// The OpenAI endpoint of the real server on 127.0.0.1, in-process, with [`HTTP_CLIENTS`]
/// clients each posting one text per round (so the server's batcher can merge them).
fn http(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    let service = embed_core::Service::new(benches::config(MODEL)).expect("model and ONNX Runtime fetched");
    let sentences = benches::stsb_sentences();
    let (base, stop) = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1");
        let base = format!("http://{}", listener.local_addr().expect("local address"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(embed_server::serve_on(
            listener,
            service,
            embed_server::ServerConfig::default(),
            async {
                let _ = stopped.await;
            },
            |_| {},
        ));
        (base, stop)
    });
    let client = reqwest::Client::new();
    let url = format!("{base}/v1/embeddings");
    runtime.block_on(wait_healthy(&client, &base));

    let round = |offset: usize| {
        runtime.block_on(async {
            let mut requests = tokio::task::JoinSet::new();
            for i in 0..HTTP_CLIENTS {
                let body = serde_json::json!({ "input": sentences[(offset + i) % sentences.len()], "model": MODEL });
                let request = client.post(&url).json(&body).send();
                requests.spawn(async move {
                    let response = request.await.expect("request sent");
                    assert!(response.status().is_success(), "status {}", response.status());
                    response.bytes().await.expect("body read")
                });
            }
            while let Some(done) = requests.join_next().await {
                drop(done.expect("client task"));
            }
        })
    };
    let mut offset = 0;
    record(&format!("http/{HTTP_CLIENTS}_clients"), || {
        round(offset);
        offset += HTTP_CLIENTS;
    });
    let mut group = c.benchmark_group(MODEL);
    group.throughput(Throughput::Elements(HTTP_CLIENTS as u64));
    group.bench_function(BenchmarkId::new("http_clients", HTTP_CLIENTS), |b| {
        b.iter(|| {
            round(offset);
            offset += HTTP_CLIENTS;
        })
    });
    group.finish();
    let _ = stop.send(());
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(response) = client.get(format!("{base}/health")).send().await
            && response.status().is_success()
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the server did not become healthy");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn report(_: &mut Criterion) {
    let table = REPORT.lock().unwrap_or_else(|p| p.into_inner()).markdown();
    let path = benches::workspace_root().join("target/criterion/allocations.md");
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    match std::fs::write(&path, &table) {
        Ok(()) => println!("\nAllocations per operation (Rust side; written to {}):\n\n{table}", path.display()),
        Err(e) => println!("\nAllocations per operation (cannot write {}: {e}):\n\n{table}", path.display()),
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = library, http, report
}
criterion_main!(benches);
