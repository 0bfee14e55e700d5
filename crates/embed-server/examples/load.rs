//! A bounded load generator for the server, on loopback, in two modes.
//!
//! Comparison (the default): embeds the STS-B test sentences (`data/stsb`) with the library
//! alone, in one call, as the baseline; then starts the server in-process on the same
//! [`Service`] twice, with dynamic batching and with one request per inference
//! (`max_batch_size` 1, no wait), and at each concurrency sends the same sentences as
//! single-text `/v1/embeddings` requests, printing requests/s, texts/s, the share of the
//! library's texts/s and latency percentiles. Run it on a quiet machine, in release mode:
//!
//! ```text
//! cargo run --release -p embed-server --example load -- [REQUESTS_PER_LEVEL] [CONCURRENCY,...]
//! ```
//!
//! Checking (`--url`): drives a server already running (`embed serve`) for `--seconds`, with
//! `--concurrency` clients sending requests of 1 to 8 texts of mixed lengths (one word to past
//! the model's 256 tokens) to `/v1/embeddings`, `/embed` and `/api/v1/embed/batch` in turn.
//! Every vector is compared with the library's vector for its text, computed up front
//! (cosine ≥ 0.99999). With `--rss-pid`, samples that process's resident memory
//! (`/proc/PID/status`) every `--rss-every` seconds and fails past `--rss-bound-mib`. Exits
//! non-zero on any wrong vector, any status but 200 (and 429, counted), or a broken bound.
//! The server should run with its embedding cache off (`--cache-size 0`) so every request is
//! computed.
//!
//! ```text
//! cargo run --release -p embed-server --example load -- --url http://127.0.0.1:8080 \
//!     --seconds 600 --concurrency 16 --rss-pid PID --rss-bound-mib 600
//! ```
//!
//! Models and ONNX Runtime are found as the tests find them (`models/`, `libs/`,
//! `MODEL_CACHE_DIR`, `ONNXRUNTIME_LIB_PATH`). Each comparison level stops after its requests
//! or 60 s.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use embed_core::{Config, OrtLibrary, Service};
use embed_server::ServerConfig;

fn service() -> Service {
    Service::new(Config {
        model: "all-MiniLM-L6-v2".into(),
        model_cache_dir: embed_test_support::models_dir(),
        onnxruntime: OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        runtime: embed_core::RuntimeConfig {
            intra_op_threads: std::env::var("INTRA_OP_THREADS").ok().and_then(|t| t.parse().ok()),
            ..Default::default()
        },
        // Off, so repeated texts are computed, not served from the cache.
        memory: embed_core::MemoryConfig { cache: embed_core::CacheLimits::OFF, ..Default::default() },
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

async fn run_level(base: &str, concurrency: usize, texts: &Arc<Vec<String>>) -> Level {
    let total = texts.len();
    let client = reqwest::Client::new();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(60);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, next, url) = (client.clone(), Arc::clone(&next), format!("{base}/v1/embeddings"));
        let texts = Arc::clone(texts);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= total || Instant::now() > deadline {
                    return latencies;
                }
                let sent = Instant::now();
                let response = client.post(&url).json(&serde_json::json!({"input": texts[i]})).send().await.unwrap();
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

/// The library alone on `texts`, in one call: texts/s, the best of two runs.
fn library_rate(service: &Service, texts: &[String]) -> f64 {
    (0..2)
        .map(|_| {
            let started = Instant::now();
            service.embed_batch(texts).expect("the library's vectors");
            texts.len() as f64 / started.elapsed().as_secs_f64()
        })
        .fold(0.0, f64::max)
}

async fn run_mode(
    name: &str,
    config: ServerConfig,
    levels: &[usize],
    texts: &Arc<Vec<String>>,
    service: &Service,
    library: f64,
) {
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
    run_level(&base, 4, &Arc::new(texts[..16.min(texts.len())].to_vec())).await;
    for &concurrency in levels {
        let level = run_level(&base, concurrency, texts).await;
        let rate = level.requests as f64 / level.elapsed.as_secs_f64();
        println!(
            "{name:<10} c={:<4} requests={:<5} texts/s={:>8.1} of library={:>5.1}% p50={:>7.1}ms p95={:>7.1}ms p99={:>7.1}ms",
            level.concurrency,
            level.requests,
            rate,
            rate / library * 100.0,
            percentile(&level.latencies, 0.50),
            percentile(&level.latencies, 0.95),
            percentile(&level.latencies, 0.99),
        );
    }
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}

fn main() {
    if std::env::args().nth(1).is_some_and(|a| a.starts_with("--")) {
        std::process::exit(check::main());
    }
    let mut args = std::env::args().skip(1);
    let sentences = embed_test_support::stsb_sentences();
    let total: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(sentences.len());
    let levels: Vec<usize> = args
        .next()
        .map(|a| a.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 8, 32, 64]);
    let texts: Arc<Vec<String>> = Arc::new(sentences.into_iter().cycle().take(total).collect());
    let service = service();
    service.embed_batch(&texts[..32.min(total)]).expect("the library's vectors");
    let library = library_rate(&service, &texts);
    println!(
        "{total} STS-B sentences, all-MiniLM-L6-v2 on {}; library alone, one call: texts/s={library:.1}",
        service.model().engine()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let batching = ServerConfig { addr: ([127, 0, 0, 1], 0).into(), ..ServerConfig::default() };
        let single = ServerConfig { max_batch_size: Some(1), batch_wait: Duration::ZERO, ..batching.clone() };
        run_mode("batching", batching, &levels, &texts, &service, library).await;
        run_mode("single", single, &levels, &texts, &service, library).await;
    });
}

/// The checking mode: an external server, every vector compared, resident memory sampled.
mod check {
    use std::collections::BTreeMap;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use serde_json::{Value, json};

    struct Args {
        url: String,
        seconds: u64,
        concurrency: usize,
        rss_pid: Option<u32>,
        rss_every: u64,
        rss_bound_mib: Option<f64>,
    }

    fn parse() -> Result<Args, String> {
        let mut args =
            Args { url: String::new(), seconds: 60, concurrency: 8, rss_pid: None, rss_every: 5, rss_bound_mib: None };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = || format!("invalid value `{value}` for {flag}");
            match flag.as_str() {
                "--url" => args.url = value.trim_end_matches('/').to_string(),
                "--seconds" => args.seconds = value.parse().map_err(|_| bad())?,
                "--concurrency" => args.concurrency = value.parse().map_err(|_| bad())?,
                "--rss-pid" => args.rss_pid = Some(value.parse().map_err(|_| bad())?),
                "--rss-every" => args.rss_every = value.parse().map_err(|_| bad())?,
                "--rss-bound-mib" => args.rss_bound_mib = Some(value.parse().map_err(|_| bad())?),
                other => return Err(format!("unknown flag {other}")),
            }
        }
        if args.url.is_empty() {
            return Err("--url is required".into());
        }
        Ok(args)
    }

    /// Mixed texts: a word to past the model's limit (truncated), several scripts.
    fn texts() -> Vec<String> {
        let seeds = [
            "Rust embeds text quickly",
            "Vectors feed search, clustering and deduplication.",
            "Le café est chaud et la rue est calme ce matin.",
            "東京は大きい都市です。",
            "Ünïcödé, emoji 🚀 and numbers 12345 survive",
        ];
        (0..400)
            .map(|i| {
                let words = match i % 5 {
                    0 => 1,
                    1 => 1 + i % 12,
                    2 => 10 + i % 40,
                    3 => 60 + i % 90,
                    _ => 200 + i % 150,
                };
                let seed = seeds[i % seeds.len()];
                let mut text = format!("text {i}:");
                for w in 0..words {
                    text.push(' ');
                    text.push_str(seed.split(' ').nth(w % seed.split(' ').count()).unwrap_or("word"));
                }
                text
            })
            .collect()
    }

    fn rss_mib(pid: u32) -> Option<f64> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib / 1024.0)
    }

    fn vectors(endpoint: usize, body: &Value) -> Option<Vec<Vec<f32>>> {
        let floats = |v: &Value| v.as_array().map(|a| a.iter().map(|x| x.as_f64().unwrap_or(0.0) as f32).collect());
        match endpoint {
            0 => body["data"].as_array()?.iter().map(|d| floats(&d["embedding"])).collect(),
            1 => body.as_array()?.iter().map(floats).collect(),
            _ => body["embeddings"].as_array()?.iter().map(floats).collect(),
        }
    }

    #[derive(Default)]
    struct Tally {
        requests: AtomicU64,
        texts: AtomicU64,
        wrong: AtomicU64,
        statuses: Mutex<BTreeMap<String, u64>>,
        latencies: Mutex<Vec<Duration>>,
    }

    impl Tally {
        fn status(&self, status: String) {
            *self.statuses.lock().unwrap().entry(status).or_default() += 1;
        }
    }

    pub(super) fn main() -> i32 {
        let args = match parse() {
            Ok(args) => args,
            Err(message) => {
                eprintln!("error: {message}");
                return 2;
            }
        };
        let texts = texts();
        let started = Instant::now();
        let expected = super::service().embed_batch(&texts).expect("the library's vectors");
        println!("{} texts, expected vectors computed in {:.1}s", texts.len(), started.elapsed().as_secs_f64());
        let tally = Arc::new(Tally::default());
        let done = Arc::new(AtomicBool::new(false));
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let texts = Arc::new(texts);
        let expected = Arc::new(expected);
        let deadline = Instant::now() + Duration::from_secs(args.seconds);
        let mut rss_samples: Vec<(f64, f64)> = Vec::new();
        runtime.block_on(async {
            let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().unwrap();
            let mut tasks = Vec::new();
            for c in 0..args.concurrency {
                let (client, url, texts, expected, tally, done) = (
                    client.clone(),
                    args.url.clone(),
                    Arc::clone(&texts),
                    Arc::clone(&expected),
                    Arc::clone(&tally),
                    Arc::clone(&done),
                );
                tasks.push(tokio::spawn(async move {
                    let mut n: usize = c * 7919;
                    while !done.load(Ordering::Relaxed) && Instant::now() < deadline {
                        n = n.wrapping_add(1);
                        let count = 1 + (n * 31) % 8;
                        let picked: Vec<usize> = (0..count).map(|k| (n * 13 + k * 101) % texts.len()).collect();
                        let batch: Vec<&str> = picked.iter().map(|&i| texts[i].as_str()).collect();
                        let endpoint = n % 3;
                        let (path, body) = match endpoint {
                            0 => ("/v1/embeddings", json!({"input": batch})),
                            1 => ("/embed", json!({"inputs": batch})),
                            _ => ("/api/v1/embed/batch", json!({"texts": batch})),
                        };
                        let sent = Instant::now();
                        let response = client.post(format!("{url}{path}")).json(&body).send().await;
                        tally.requests.fetch_add(1, Ordering::Relaxed);
                        let response = match response {
                            Ok(response) => response,
                            Err(error) => {
                                tally.status(format!("transport error: {error}"));
                                continue;
                            }
                        };
                        let status = response.status().as_u16();
                        let body: Option<Value> = response.json().await.ok();
                        tally.latencies.lock().unwrap().push(sent.elapsed());
                        tally.status(status.to_string());
                        if status != 200 {
                            continue;
                        }
                        let got = body.as_ref().and_then(|b| vectors(endpoint, b)).unwrap_or_default();
                        let ok = got.len() == picked.len()
                            && got
                                .iter()
                                .zip(&picked)
                                .all(|(v, &i)| embed_test_support::cosine(v, &expected[i]) >= 0.99999);
                        if ok {
                            tally.texts.fetch_add(picked.len() as u64, Ordering::Relaxed);
                        } else {
                            tally.wrong.fetch_add(1, Ordering::Relaxed);
                            eprintln!("wrong vectors for texts {picked:?} on {path}");
                        }
                    }
                }));
            }
            let every = Duration::from_secs(args.rss_every.max(1));
            let mut next = Instant::now();
            while Instant::now() < deadline {
                if Instant::now() >= next {
                    let t = started.elapsed().as_secs_f64();
                    let rss = args.rss_pid.and_then(rss_mib);
                    if let Some(rss) = rss {
                        rss_samples.push((t, rss));
                    }
                    println!(
                        "t={t:>6.0}s requests={:>8} texts_ok={:>9} wrong={} rss={}",
                        tally.requests.load(Ordering::Relaxed),
                        tally.texts.load(Ordering::Relaxed),
                        tally.wrong.load(Ordering::Relaxed),
                        rss.map_or("-".to_string(), |r| format!("{r:.1}MiB")),
                    );
                    next += every;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            done.store(true, Ordering::Relaxed);
            for task in tasks {
                let _ = task.await;
            }
        });
        let elapsed = args.seconds as f64;
        let requests = tally.requests.load(Ordering::Relaxed);
        let wrong = tally.wrong.load(Ordering::Relaxed);
        let mut latencies = std::mem::take(&mut *tally.latencies.lock().unwrap());
        latencies.sort();
        let statuses = tally.statuses.lock().unwrap().clone();
        println!(
            "summary: {requests} requests in {elapsed:.0}s ({:.1} req/s), {} texts checked, {wrong} wrong, statuses {statuses:?}",
            requests as f64 / elapsed,
            tally.texts.load(Ordering::Relaxed),
        );
        if !latencies.is_empty() {
            println!(
                "latency: p50={:.1}ms p90={:.1}ms p99={:.1}ms max={:.1}ms",
                super::percentile(&latencies, 0.50),
                super::percentile(&latencies, 0.90),
                super::percentile(&latencies, 0.99),
                latencies[latencies.len() - 1].as_secs_f64() * 1000.0
            );
        }
        let mut failed = wrong > 0 || statuses.keys().any(|s| s != "200" && s != "429") || requests == 0;
        if let (Some(first), Some(last)) = (rss_samples.first(), rss_samples.last()) {
            let max = rss_samples.iter().map(|s| s.1).fold(0.0, f64::max);
            // Growth after the first fifth of the run, once the arena has seen every length.
            let settled = rss_samples.iter().find(|s| s.0 >= first.0 + elapsed / 5.0).unwrap_or(first);
            println!(
                "rss: start {:.1}MiB, at {:.0}s {:.1}MiB, end {:.1}MiB, max {:.1}MiB, growth after {:.0}s {:+.1}MiB",
                first.1,
                settled.0,
                settled.1,
                last.1,
                max,
                settled.0,
                last.1 - settled.1
            );
            if let Some(bound) = args.rss_bound_mib
                && max > bound
            {
                println!("rss bound of {bound:.0}MiB exceeded");
                failed = true;
            }
        }
        if failed {
            println!("FAILED");
            1
        } else {
            println!("ok");
            0
        }
    }
}
