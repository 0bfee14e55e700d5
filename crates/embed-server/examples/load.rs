//! A bounded load generator for the server, on loopback: starts the server in-process twice,
//! with dynamic batching and with one request per inference (`max_batch_size` 1, no wait), and
//! at each concurrency sends single-text `/v1/embeddings` requests of mixed lengths, then
//! prints requests/s, texts/s and latency percentiles.
//!
//! ```text
//! cargo run -p embed-server --example load -- [REQUESTS_PER_LEVEL] [CONCURRENCY,...]
//! ```
//!
//! Models and ONNX Runtime are found as the tests find them (`models/`, `libs/`,
//! `MODEL_CACHE_DIR`, `ONNXRUNTIME_LIB_PATH`). Each level stops after its requests or 60 s.

#![allow(clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use embed_core::{Config, OrtLibrary, Service};
use embed_server::ServerConfig;

fn service() -> Service {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Service::new(Config {
        model: "all-MiniLM-L6-v2".into(),
        model_cache_dir: std::env::var_os("MODEL_CACHE_DIR").map_or_else(|| root.join("models"), PathBuf::from),
        onnxruntime: OrtLibrary {
            path: std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from),
            search_dirs: vec![root.join("libs")],
        },
        runtime: embed_core::RuntimeConfig {
            intra_op_threads: std::env::var("INTRA_OP_THREADS").ok().and_then(|t| t.parse().ok()),
            ..Default::default()
        },
        // Off, so repeated texts are computed, not served from the cache.
        memory: embed_core::MemoryConfig {
            cache: embed_core::CacheLimits { max_entries: 0, ..Default::default() },
            ..Default::default()
        },
        ..Config::default()
    })
    .expect("cannot load all-MiniLM-L6-v2 (run `cargo xtask test` to fetch it)")
}

struct Level {
    concurrency: usize,
    requests: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn run_level(base: &str, concurrency: usize, total: usize) -> Level {
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), Arc::clone(&next), format!("{base}/v1/embeddings"));
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total || Instant::now() > deadline {
                    return latencies;
                }
                let text = format!("request {i}: {}", "some words of a sentence ".repeat(1 + (i * 7) % 12));
                let sent = Instant::now();
                let response = client.post(&url).json(&serde_json::json!({"input": text})).send().await.unwrap();
                assert_eq!(response.status(), 200);
                response.bytes().await.unwrap();
                latencies.push(sent.elapsed());
            }
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.unwrap());
    }
    latencies.sort();
    Level { concurrency, requests: latencies.len(), elapsed: started.elapsed(), latencies }
}

async fn run_mode(name: &str, config: ServerConfig, levels: &[usize], total: usize, service: &Service) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(embed_server::serve_on(
        listener,
        service.clone(),
        config,
        async {
            let _ = stopped.await;
        },
        |_| {},
    ));
    while reqwest::get(format!("{base}/health")).await.map(|r| r.status() != 200).unwrap_or(true) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Warm the path once.
    run_level(&base, 4, 16).await;
    for &concurrency in levels {
        let level = run_level(&base, concurrency, total).await;
        let secs = level.elapsed.as_secs_f64();
        println!(
            "{name:<10} c={:<4} requests={:<5} req/s={:>8.1} texts/s={:>8.1} p50={:>7.1}ms p95={:>7.1}ms p99={:>7.1}ms",
            level.concurrency,
            level.requests,
            level.requests as f64 / secs,
            level.requests as f64 / secs,
            percentile(&level.latencies, 0.50),
            percentile(&level.latencies, 0.95),
            percentile(&level.latencies, 0.99),
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
    let mut args = std::env::args().skip(1);
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(400);
    let levels: Vec<usize> = args
        .next()
        .map(|a| a.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64]);
    let service = service();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let batching = ServerConfig { addr: ([127, 0, 0, 1], 0).into(), ..ServerConfig::default() };
        let single = ServerConfig { max_batch_size: 1, batch_wait: Duration::ZERO, ..batching.clone() };
        println!("{} requests per level, one text each (7 to 70 words), all-MiniLM-L6-v2", total);
        run_mode("batching", batching, &levels, total, &service).await;
        run_mode("single", single, &levels, total, &service).await;
    });
}
