//! Fault injection against the real server: the real models and ONNX Runtime, the server on
//! 127.0.0.1, real HTTP clients. Models evicted while requests use them, a model load that fails
//! then succeeds, one request failing inside a batch of several, clients that disconnect while
//! queued. Every failure here is a real one (a corrupt ONNX file, a text over the model's
//! limit, a closed socket), not a mock.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use embed_core::{Config, MemoryConfig, Service};
use embed_server::ServerConfig;
use serde_json::{Value, json};

use super::{
    MODEL, TOLERANCE, TestServer, assert_close, config, cosine, floats, library, metric, models_dir, new_service,
    service, walk,
};

/// A service of its own (not the shared one), over `model` in `cache_dir`, with the embedding
/// cache off so every request is computed.
fn own_service(model: &str, cache_dir: &Path, memory: MemoryConfig) -> Service {
    let mut config = Config { model_cache_dir: cache_dir.to_path_buf(), ..config(model) };
    config.memory = MemoryConfig { cache: config.memory.cache, ..memory };
    new_service(config)
}

/// The manifest name's files, resolved in the real model directory.
fn estimate(model: &str) -> u64 {
    let config = embed_core::Config {
        model: model.to_string(),
        model_cache_dir: embed_test_support::models_dir(),
        ..embed_core::Config::default()
    };
    let files = embed_core::model_files(&config).unwrap();
    embed_core::estimate_model_bytes(&files, embed_core::BackendChoice::Auto)
}

async fn post_model(server: &TestServer, text: &str, model: &str) -> (u16, Value) {
    server.post("/v1/embeddings", json!({"input": text, "model": model})).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn models_evicted_while_in_use_never_change_an_answer() {
    // The default model is int8 MiniLM named by its file path (pinned, never evicted); the
    // requests alternate between the manifest's fp32 and int8 MiniLM, and the budget holds the
    // pinned model and only one of the two. Two inference threads: while one holds a model,
    // the other waits for room, then evicts it once it is released.
    let int8_file = models_dir().join(MODEL).join("onnx/model_int8.onnx");
    let fp32 = format!("{MODEL}:fp32");
    let int8 = format!("{MODEL}:int8");
    let pinned = embed_core::estimate_model_bytes(
        &embed_core::ModelFiles::from_path(&int8_file).unwrap(),
        embed_core::BackendChoice::Auto,
    );
    let budget = pinned + estimate(&fp32) + estimate(&int8) / 2;
    let budgeted = own_service(
        int8_file.to_str().unwrap(),
        &embed_test_support::models_dir(),
        MemoryConfig { model_memory_limit: Some(budget), ..MemoryConfig::default() },
    );
    let config = ServerConfig { workers: Some(2), ..ServerConfig::default() };
    let server = TestServer::start_with(budgeted.clone(), config).await;

    let texts: Vec<String> =
        (0..48).map(|i| format!("eviction test {i}: {}", "words of a sentence ".repeat(1 + i % 9))).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected_fp32 = library(&refs);
    let expected_int8: Vec<Vec<f32>> = service()
        .embed_with_model(&int8, &refs, service().default_options())
        .unwrap()
        .into_iter()
        .map(|e| e.vector)
        .collect();
    // The server batches these texts otherwise than this one call did; both variants promise a
    // text the same vector whatever its batch (int8 quantizes its activations per token), so
    // each answer must equal its expectation to TOLERANCE. The check tells the two models
    // apart: a mix-up would fail it.
    assert!(
        expected_fp32.iter().zip(&expected_int8).any(|(a, b)| cosine(a, b) < TOLERANCE),
        "fp32 and int8 give the same vectors: the test could not see a mix-up"
    );

    // Waves of concurrent requests, each wave alternating between the two models.
    for wave in texts.chunks(12).enumerate() {
        let (w, chunk) = wave;
        let mut tasks = Vec::new();
        for (j, text) in chunk.iter().enumerate() {
            let i = w * 12 + j;
            let model = if i % 2 == 0 { fp32.clone() } else { int8.clone() };
            let (client, url, text) = (server.client.clone(), server.url("/v1/embeddings"), text.clone());
            tasks.push(tokio::spawn(async move {
                let response = client.post(url).json(&json!({"input": text, "model": model})).send().await.unwrap();
                let status = response.status().as_u16();
                let body: Value = response.json().await.unwrap();
                (i, status, body)
            }));
        }
        for task in tasks {
            let (i, status, body) = task.await.unwrap();
            assert_eq!(status, 200, "request {i}: {body}");
            let expected = if i % 2 == 0 { &expected_fp32[i] } else { &expected_int8[i] };
            assert_close(&floats(&body["data"][0]["embedding"]), expected, &format!("request {i}"));
        }
    }
    let stats = budgeted.pool_stats();
    eprintln!(
        "budget {} bytes, in use {}, loads {}, evictions {}, load failures {}",
        budget, stats.bytes_in_use, stats.loads, stats.evictions, stats.load_failures
    );
    assert!(stats.evictions >= 3, "the budget should force an eviction per wave: {stats:#?}");
    assert!(stats.bytes_in_use <= budget, "{stats:#?}");
    assert_eq!(stats.load_failures, 0, "{stats:#?}");
}

/// A copy of the MiniLM directory made of links to the real files, except for its int8 ONNX
/// file, which is garbage.
fn model_dir_with_corrupt_int8(root: &Path) -> PathBuf {
    let source = models_dir().join(MODEL);
    let target = root.join(MODEL);
    for entry in walk(&source) {
        let relative = entry.strip_prefix(&source).unwrap();
        let link = target.join(relative);
        std::fs::create_dir_all(link.parent().unwrap()).unwrap();
        if relative == Path::new("onnx/model_int8.onnx") {
            std::fs::write(&link, b"this is not an ONNX model, it is a corrupt download").unwrap();
        } else {
            std::os::unix::fs::symlink(&entry, &link).unwrap();
        }
    }
    target.join("onnx/model_int8.onnx")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_fails_to_load_is_503_then_loads_once_fixed() {
    let cache = tempfile::tempdir().unwrap();
    let corrupt = model_dir_with_corrupt_int8(cache.path());
    let service_over_copy = own_service(MODEL, cache.path(), MemoryConfig::default());
    let server = TestServer::start_with(service_over_copy.clone(), ServerConfig::default()).await;
    let int8 = format!("{MODEL}:int8");

    // Several clients ask at once: one load, every one of them gets a clean 503.
    let mut tasks = Vec::new();
    for i in 0..3 {
        let (client, url, model) = (server.client.clone(), server.url("/v1/embeddings"), int8.clone());
        tasks.push(tokio::spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"input": format!("first try {i}"), "model": model}))
                .send()
                .await
                .unwrap();
            let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
            (response.status().as_u16(), retry_after, response.json::<Value>().await.unwrap())
        }));
    }
    for task in tasks {
        let (status, retry_after, body) = task.await.unwrap();
        assert_eq!(status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"));
        super::assert_openai_error(&body, Some("unavailable"));
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(&int8), "{message}");
        let dir = cache.path().to_string_lossy();
        assert!(!message.contains(dir.as_ref()) && !message.contains("onnx"), "the path leaked: {message}");
    }
    // The other endpoints' shapes, and the default model still serves.
    let (status, body) = server.post("/embed", json!({"inputs": "x", "model": int8})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error_type"], "Unhealthy", "{body}");
    let (status, body) = post_model(&server, TEXTS_ONE, MODEL).await;
    assert_eq!(status, 200, "{body}");
    assert_close(&floats(&body["data"][0]["embedding"]), &library(&[TEXTS_ONE])[0], "default model");
    let stats = service_over_copy.pool_stats();
    assert_eq!(stats.loads, 1, "only the default model loaded: {stats:#?}");
    assert!(stats.load_failures >= 1, "{stats:#?}");

    // The file is fixed (the download finished): the next request loads it and succeeds.
    std::fs::remove_file(&corrupt).unwrap();
    std::os::unix::fs::symlink(models_dir().join(MODEL).join("onnx/model_int8.onnx"), &corrupt).unwrap();
    let (status, body) = post_model(&server, TEXTS_ONE, &int8).await;
    assert_eq!(status, 200, "{body}");
    let expected = service().embed_with_model(&int8, &[TEXTS_ONE], service().default_options()).unwrap();
    assert_close(&floats(&body["data"][0]["embedding"]), &expected[0].vector, "int8 after the fix");
    assert!(body["model"].as_str().unwrap().contains("int8"), "{body}");
    assert_eq!(service_over_copy.pool_stats().loads, 2);
}

const TEXTS_ONE: &str = "The quick brown fox jumps over the lazy dog.";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_too_long_request_is_refused_before_it_queues_and_the_others_batch() {
    // The batcher waits up to 500 ms for more work, so the concurrent requests share a batch.
    // The long text with `truncate: false` is refused as it is prepared (tokenized and counted
    // on arrival), before it queues: it never reaches a batch, and the batch of the seven
    // others runs once, without a retry.
    let config = ServerConfig { batch_wait: Duration::from_millis(500), ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let before = server.metrics().await;
    let good: Vec<String> = (0..7).map(|i| format!("a good request {i} {}", "in a batch ".repeat(i))).collect();
    let long = format!("{} and then some", "too many words for one text ".repeat(80));
    let mut tasks = Vec::new();
    for (i, text) in good.iter().chain(std::iter::once(&long)).enumerate() {
        let (client, url, text) = (server.client.clone(), server.url("/embed"), text.clone());
        tasks.push(tokio::spawn(async move {
            let response = client.post(url).json(&json!({"inputs": [text], "truncate": false})).send().await.unwrap();
            (i, response.status().as_u16(), response.json::<Value>().await.unwrap())
        }));
    }
    let refs: Vec<&str> = good.iter().map(String::as_str).collect();
    let expected = library(&refs);
    for task in tasks {
        let (i, status, body) = task.await.unwrap();
        if i < good.len() {
            assert_eq!(status, 200, "request {i}: {body}");
            assert_close(&floats(&body[0]), &expected[i], &format!("request {i}"));
        } else {
            assert_eq!(status, 422, "the long text: {body}");
            assert_eq!(body["error_type"], "Validation", "{body}");
        }
    }
    let after = server.metrics().await;
    let delta = |name: &str| metric(&after, name) - metric(&before, name);
    assert_eq!(delta("embed_server_batch_texts_total"), 7.0, "only the good texts ran:\n{after}");
    assert_eq!(delta("embed_server_batch_retries_total"), 0.0, "a batch failed:\n{after}");
    assert!(delta("embed_server_batches_total") < 7.0, "no batch held several requests:\n{after}");
}

/// Sends one `POST /v1/embeddings` over a raw socket and leaves it open, unread.
fn send_raw(addr: &str, text: &str) -> TcpStream {
    let body = json!({"input": text}).to_string();
    let mut stream = TcpStream::connect(addr).unwrap();
    write!(
        stream,
        "POST /v1/embeddings HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_disconnect_while_queued_are_never_run() {
    // The batcher waits 1.5 s for more work: every request is still queued when half of the
    // clients close their sockets.
    let config = ServerConfig { batch_wait: Duration::from_millis(1500), ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let addr = server.base.trim_start_matches("http://").to_string();
    let texts: Vec<String> = (0..10).map(|i| format!("queued request {i}")).collect();
    let streams: Vec<TcpStream> = texts.iter().map(|t| send_raw(&addr, t)).collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server.metrics().await, "embed_server_queue_inputs") < 10.0 {
        assert!(Instant::now() < deadline, "the requests were never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut kept = Vec::new();
    for (i, stream) in streams.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(stream);
        } else {
            kept.push((i, stream));
        }
    }
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let expected = library(&refs);
    let answers = tokio::task::spawn_blocking(move || {
        kept.into_iter()
            .map(|(i, mut stream)| {
                stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
                let mut response = String::new();
                stream.read_to_string(&mut response).unwrap();
                (i, response)
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (i, response) in answers {
        assert!(response.starts_with("HTTP/1.1 200"), "request {i}: {response}");
        let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_close(&floats(&body["data"][0]["embedding"]), &expected[i], &format!("request {i}"));
    }
    let text = server.metrics().await;
    assert_eq!(metric(&text, "embed_server_parts_cancelled_total"), 5.0, "{text}");
    assert_eq!(metric(&text, "embed_server_batch_texts_total"), 5.0, "only the clients that stayed were run: {text}");
    assert_eq!(metric(&text, "embed_server_queue_inputs"), 0.0, "{text}");
}
