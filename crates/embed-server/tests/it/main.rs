//! The server end to end: the real server on 127.0.0.1 port 0, in-process, over the real
//! all-MiniLM-L6-v2 and ONNX Runtime, driven by a real HTTP client. Vectors are compared with
//! the library's own (cosine ≥ 0.99999).
//!
//! Models and ONNX Runtime are found where embed-test-support says (`MODEL_CACHE_DIR` or
//! `models/`, `ONNXRUNTIME_LIB_PATH` or `libs/`). The services run without an embedding cache,
//! so that the server computes what the library computed.

#![allow(clippy::unwrap_used)]

mod bad_input;
mod batching;
mod faults;
mod openapi;
mod tei;

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use embed_core::{CacheLimits, Config, EmbedOptions, OrtLibrary, Service, TruncationSide};
use embed_server::ServerConfig;
use embed_test_support::{cosine, models_dir, workspace_root};
use serde_json::{Value, json};

const MODEL: &str = "all-MiniLM-L6-v2";
const TOLERANCE: f64 = 0.99999;

/// Every file under `dir`, recursively.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(walk(&path)) } else { files.push(path) }
    }
    files
}

/// The configuration of a service over `model` without an embedding cache.
fn config(model: &str) -> Config {
    let mut config = Config {
        model: model.to_string(),
        model_cache_dir: embed_test_support::models_dir(),
        onnxruntime: OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        ..Config::default()
    };
    config.memory.cache = CacheLimits::OFF;
    config
}

fn new_service(config: Config) -> Service {
    Service::new(config).unwrap_or_else(|e| {
        panic!("cannot load the model: {e}\n(run `cargo xtask test`, which fetches ONNX Runtime and the test models)")
    })
}

fn service() -> Service {
    static SERVICE: OnceLock<Service> = OnceLock::new();
    SERVICE.get_or_init(|| new_service(config(MODEL))).clone()
}

fn library(texts: &[&str]) -> Vec<Vec<f32>> {
    service().embed_batch(texts).unwrap()
}

fn norm(v: &[f32]) -> f64 {
    v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt()
}

fn floats(value: &Value) -> Vec<f32> {
    value.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

fn assert_close(actual: &[f32], expected: &[f32], what: &str) {
    let c = cosine(actual, expected);
    assert!(c >= TOLERANCE, "{what}: cosine {c}");
}

/// A server running in-process until dropped or stopped.
struct TestServer {
    base: String,
    client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), embed_server::ServerError>>>,
}

impl TestServer {
    async fn start(config: ServerConfig) -> Self {
        Self::start_with(service(), config).await
    }

    /// A server over a service of the test's own.
    async fn start_with(service: Service, config: ServerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(embed_server::serve_on(
            listener,
            service,
            config,
            async {
                let _ = stopped.await;
            },
            |_| {},
        ));
        let server = Self { base, client: reqwest::Client::new(), stop: Some(stop), task: Some(task) };
        // Wait for warm-up: /health turns 200 once the model has run.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = server.client.get(server.url("/health")).send().await
                && r.status() == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "the server did not become healthy");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        server
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self.client.post(self.url(path)).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")))
    }

    async fn post_raw(&self, path: &str, body: &'static str) -> (u16, Value) {
        let response = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    async fn metrics(&self) -> String {
        self.client.get(self.url("/metrics")).send().await.unwrap().text().await.unwrap()
    }

    /// Stops the server and waits for it to return.
    async fn shutdown(mut self) -> Result<(), embed_server::ServerError> {
        let _ = self.stop.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

fn assert_openai_error(body: &Value, code: Option<&str>) {
    let error = &body["error"];
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert!(error["type"].is_string(), "{body}");
    assert!(error.get("param").is_some() && error.get("code").is_some(), "{body}");
    if let Some(code) = code {
        assert_eq!(error["code"], code, "{body}");
    }
}

fn assert_tei_error(body: &Value, kind: &str) {
    assert!(body["error"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    assert_eq!(body["error_type"], kind, "{body}");
}

const TEXTS: [&str; 4] =
    ["This is a sample text", "The quick brown fox jumps over the lazy dog.", "Ünïcödé and emoji 🚀 survive", "a"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_embeddings_equal_the_library_and_count_tokens() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (status, body) = server.post("/v1/embeddings", json!({"input": TEXTS, "model": MODEL})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["object"], "list");
    assert!(body["model"].as_str().unwrap().starts_with(MODEL));
    let expected = library(&TEXTS);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), TEXTS.len());
    for (i, item) in data.iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], i);
        assert_close(&floats(&item["embedding"]), &expected[i], TEXTS[i]);
    }
    let tokens: usize =
        service().embed_with(&TEXTS, service().default_options()).unwrap().iter().map(|e| e.tokens).sum();
    assert_eq!(body["usage"]["prompt_tokens"], tokens);
    assert_eq!(body["usage"]["total_tokens"], tokens);

    // A single string, and no model: the default model.
    let (status, body) = server.post("/v1/embeddings", json!({"input": TEXTS[0]})).await;
    assert_eq!(status, 200, "{body}");
    assert_close(&floats(&body["data"][0]["embedding"]), &expected[0], "single string");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn base64_decodes_to_the_float_vectors() {
    let server = TestServer::start(ServerConfig::default()).await;
    let (_, floats_body) = server.post("/v1/embeddings", json!({"input": TEXTS})).await;
    let (status, b64_body) = server.post("/v1/embeddings", json!({"input": TEXTS, "encoding_format": "base64"})).await;
    assert_eq!(status, 200, "{b64_body}");
    for i in 0..TEXTS.len() {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64_body["data"][i]["embedding"].as_str().unwrap())
            .unwrap();
        let decoded: Vec<f32> = bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        assert_eq!(decoded, floats(&floats_body["data"][i]["embedding"]), "text {i}");
    }
    let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "encoding_format": "int8"})).await;
    assert_eq!(status, 400);
    assert_openai_error(&body, None);
    assert_eq!(body["error"]["param"], "encoding_format");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dimensions_truncate_then_renormalize() {
    let server = TestServer::start(ServerConfig::default()).await;
    let expected = library(&TEXTS[..1]);
    for d in [1usize, 64, 384] {
        let (status, body) = server.post("/v1/embeddings", json!({"input": TEXTS[0], "dimensions": d})).await;
        assert_eq!(status, 200, "{body}");
        let v = floats(&body["data"][0]["embedding"]);
        assert_eq!(v.len(), d);
        assert!((norm(&v) - 1.0).abs() < 1e-5, "norm {}", norm(&v));
        assert_close(&v, &expected[0][..d], "truncated prefix");
        let (status, body) = server.post("/embed", json!({"inputs": TEXTS[0], "dimensions": d})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(floats(&body[0]).len(), d);
    }
    for bad in [json!(0), json!(385), json!(-3)] {
        let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "dimensions": bad})).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_openai_error(&body, None);
        assert_eq!(body["error"]["param"], "dimensions");
        assert!(body["error"]["message"].as_str().unwrap().contains("384"), "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_ids_equal_their_text() {
    let server = TestServer::start(ServerConfig::default()).await;
    // "hello world" in all-MiniLM-L6-v2's (BERT uncased) vocabulary, without special tokens.
    let (_, text) = server.post("/v1/embeddings", json!({"input": "hello world"})).await;
    let (status, ids) = server.post("/v1/embeddings", json!({"input": [7592, 2088]})).await;
    assert_eq!(status, 200, "{ids}");
    let (status, lists) = server.post("/v1/embeddings", json!({"input": [[7592, 2088], [7592]]})).await;
    assert_eq!(status, 200, "{lists}");
    let (_, hello) = server.post("/v1/embeddings", json!({"input": "hello"})).await;
    let t = floats(&text["data"][0]["embedding"]);
    assert_close(&floats(&ids["data"][0]["embedding"]), &t, "ids");
    assert_close(&floats(&lists["data"][0]["embedding"]), &t, "lists");
    assert_close(&floats(&lists["data"][1]["embedding"]), &floats(&hello["data"][0]["embedding"]), "hello");
    assert_eq!(ids["usage"]["prompt_tokens"], text["usage"]["prompt_tokens"]);

    let (status, body) = server.post("/v1/embeddings", json!({"input": [7592, 99_999_999]})).await;
    assert_eq!(status, 400, "{body}");
    assert_openai_error(&body, None);
    assert!(body["error"]["message"].as_str().unwrap().contains("vocabulary"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tei_embed_matches_and_honours_its_options() {
    let server = TestServer::start(ServerConfig::default()).await;
    let expected = library(&TEXTS);
    let (status, body) = server.post("/embed", json!({"inputs": TEXTS})).await;
    assert_eq!(status, 200, "{body}");
    for (i, v) in body.as_array().unwrap().iter().enumerate() {
        assert_close(&floats(v), &expected[i], TEXTS[i]);
    }
    // `/` answers as /embed, as text-embeddings-inference does.
    let (status, body) = server.post("/", json!({"inputs": TEXTS[1]})).await;
    assert_eq!(status, 200, "{body}");
    assert_close(&floats(&body[0]), &expected[1], "POST /");

    // normalize: false equals the library's unnormalized vectors.
    let raw_options = EmbedOptions { normalize: false, ..service().default_options().clone() };
    let raw = service().embed_with(&TEXTS[..2], &raw_options).unwrap();
    let (_, body) = server.post("/embed", json!({"inputs": &TEXTS[..2], "normalize": false})).await;
    for i in 0..2 {
        let v = floats(&body[i]);
        assert!((norm(&v) - norm(&raw[i].vector)).abs() < 1e-3 * norm(&v));
        assert_close(&v, &raw[i].vector, "unnormalized");
    }

    // A text over 256 tokens: 422 with truncate false (text-embeddings-inference's status);
    // cut on the side asked otherwise.
    let long = format!("{} tail end words", "first words ".repeat(200));
    let (status, body) = server.post("/embed", json!({"inputs": long, "truncate": false})).await;
    assert_eq!(status, 422, "{body}");
    assert_tei_error(&body, "Validation");
    assert!(body["error"].as_str().unwrap().contains("256"), "{body}");
    let (status, right) = server.post("/embed", json!({"inputs": long, "truncate": true})).await;
    assert_eq!(status, 200);
    let (status, left) =
        server.post("/embed", json!({"inputs": long, "truncate": true, "truncation_direction": "Left"})).await;
    assert_eq!(status, 200);
    let left_options = EmbedOptions { truncation: Some(TruncationSide::Left), ..service().default_options().clone() };
    let expected_left = service().embed_with(&[long.as_str()], &left_options).unwrap();
    assert_close(&floats(&left[0]), &expected_left[0].vector, "left truncation");
    assert_close(&floats(&right[0]), &library(&[long.as_str()])[0], "right truncation");
    assert!(cosine(&floats(&left[0]), &floats(&right[0])) < 0.999, "left and right truncation should differ");

    let (status, body) = server.post("/embed", json!({"inputs": "x", "prompt_name": "query"})).await;
    assert_eq!(status, 422, "{body}");
    assert_tei_error(&body, "Validation");
    let (status, body) = server.post("/embed", json!({"inputs": []})).await;
    assert_eq!(status, 400, "{body}");
    assert_tei_error(&body, "Empty");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn go_endpoints_keep_their_shapes() {
    let server = TestServer::start(ServerConfig::default()).await;
    let expected = library(&TEXTS);
    let (status, body) = server.post("/api/v1/embed", json!({"text": TEXTS[0]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["dimension"], 384);
    assert!(body["model"].as_str().unwrap().starts_with(MODEL));
    assert_close(&floats(&body["embedding"]), &expected[0], "single");
    let (status, body) = server.post("/api/v1/embed/batch", json!({"texts": TEXTS})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["count"], TEXTS.len());
    assert_eq!(body["dimension"], 384);
    for (i, v) in body["embeddings"].as_array().unwrap().iter().enumerate() {
        assert_close(&floats(v), &expected[i], TEXTS[i]);
    }
    let (status, body) = server.post("/api/v1/embed", json!({"text": ""})).await;
    assert_eq!(status, 400);
    assert_eq!(body["code"], 400);
    assert!(body["error"].is_string());
    let (status, body) = server.post("/api/v1/embed/batch", json!({"texts": []})).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server.post_raw("/api/v1/embed", "{\"txt\": 1}").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("text"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_metrics() {
    let server = TestServer::start(ServerConfig::default()).await;
    let body: Value = server.client.get(server.url("/v1/models")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["object"], "list");
    let models = body["data"].as_array().unwrap();
    let minilm = models.iter().find(|m| m["id"] == MODEL).unwrap();
    assert_eq!(minilm["loaded"], true);
    assert_eq!(minilm["default"], true);
    assert_eq!(minilm["dimension"], 384);
    assert_eq!(minilm["prompts"], json!({}));
    assert!(minilm["fetched"].as_array().unwrap().contains(&"fp32".into()), "{minilm}");
    assert!(models.iter().any(|m| m["id"] == "all-mpnet-base-v2"));
    // Each model's prompts: its files' where fetched, else the manifest's.
    let e5 = models.iter().find(|m| m["id"] == "e5-large-v2").unwrap();
    assert_eq!(e5["prompts"], json!({"query": "query: ", "passage": "passage: "}), "{e5}");
    assert_eq!(e5["default_prompt_name"], Value::Null);

    let health = server.client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);

    server.post("/embed", json!({"inputs": "count me"})).await;
    let text = server.metrics().await;
    assert!(text.contains("embed_http_requests_total{endpoint=\"/embed\",status=\"200\"} 1"), "{text}");
    assert!(text.contains("embed_http_request_duration_seconds_bucket{endpoint=\"/embed\""), "{text}");
    assert!(text.contains("embed_server_queue_inputs 0"), "{text}");
    assert!(text.contains("embed_server_batch_size_bucket"), "{text}");
    // The engine's own metrics come first.
    assert!(text.contains("embed_cache_hits_total"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_name_served_models_and_any_model_name_answers_every_name() {
    let aliases = [("text-embedding-3-small".to_string(), MODEL.to_string())].into_iter().collect();
    let config = ServerConfig { model_aliases: aliases, ..ServerConfig::default() };
    let server = TestServer::start(config.clone()).await;
    let expected = library(&["x"]).remove(0);
    for endpoint in ["/v1/embeddings", "/embed"] {
        let field = if endpoint == "/embed" { "inputs" } else { "input" };
        let (status, body) = server.post(endpoint, json!({field: "x", "model": "text-embedding-3-small"})).await;
        assert_eq!(status, 200, "{endpoint}: {body}");
        let vector = if endpoint == "/embed" { floats(&body[0]) } else { floats(&body["data"][0]["embedding"]) };
        assert_close(&vector, &expected, endpoint);
    }
    let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "model": "text-embedding-3-large"})).await;
    assert_eq!(status, 404, "{body}");
    assert_openai_error(&body, Some("model_not_found"));

    let server = TestServer::start(ServerConfig { any_model_name: true, ..config }).await;
    for model in ["text-embedding-3-large", "no/such-model", "../../etc"] {
        let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "model": model})).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert!(body["model"].as_str().unwrap().starts_with(MODEL), "{body}");
        assert_close(&floats(&body["data"][0]["embedding"]), &expected, model);
    }

    // An alias must name a model the server serves, and neither side may be empty.
    for (alias, model) in [("a", "no-such-model"), ("a", "/etc"), ("", MODEL), ("a", " ")] {
        let aliases = [(alias.to_string(), model.to_string())].into_iter().collect();
        let config = ServerConfig { model_aliases: aliases, ..ServerConfig::default() };
        let error = embed_server::AppState::new(service(), config).unwrap_err();
        assert!(error.to_string().contains("model_aliases"), "{alias}={model}: {error}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_errors_have_each_endpoints_shape() {
    let config = ServerConfig { max_inputs_per_request: 4, max_body_bytes: 2048, ..ServerConfig::default() };
    let server = TestServer::start(config).await;

    let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "model": "no-such-model"})).await;
    assert_eq!(status, 404);
    assert_openai_error(&body, Some("model_not_found"));
    assert_eq!(body["error"]["param"], "model");
    let (status, body) = server.post("/v1/embeddings", json!({"input": "x", "model": "/etc"})).await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = server.post_raw("/v1/embeddings", "{\"input\": [\"a\",").await;
    assert_eq!(status, 400);
    assert_openai_error(&body, None);
    assert!(body["error"]["message"].as_str().unwrap().contains("JSON"), "{body}");
    let (status, body) = server.post_raw("/embed", "not json").await;
    assert_eq!(status, 422);
    assert_tei_error(&body, "Validation");
    let (status, body) = server.post_raw("/v1/embeddings", "{\"model\": \"x\"}").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("input"), "{body}");

    for empty in [json!(""), json!([]), json!(["a", ""])] {
        let (status, body) = server.post("/v1/embeddings", json!({"input": empty})).await;
        assert_eq!(status, 400, "{empty}: {body}");
        assert_openai_error(&body, None);
    }
    let (status, body) = server.post("/v1/embeddings", json!({"input": ["a", "b", "c", "d", "e"]})).await;
    assert_eq!(status, 413, "{body}");
    assert_openai_error(&body, Some("request_too_large"));
    assert!(body["error"]["message"].as_str().unwrap().contains('4'), "{body}");

    let big = "x".repeat(4096);
    let (status, body) = server.post("/v1/embeddings", json!({"input": big})).await;
    assert_eq!(status, 413, "{body}");
    assert_openai_error(&body, Some("request_too_large"));
    let (status, body) = server.post("/embed", json!({"inputs": big})).await;
    assert_eq!(status, 413, "{body}");
    assert_tei_error(&body, "Validation");

    let response = server.client.get(server.url("/nowhere")).send().await.unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_is_429_and_a_client_that_leaves_is_dropped() {
    // The batcher waits up to 2 s for more work: the first request stays queued meanwhile.
    let config = ServerConfig {
        max_inputs_per_request: 2,
        max_queued_inputs: 2,
        batch_wait: Duration::from_secs(2),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let client = server.client.clone();
    let url = server.url("/v1/embeddings");
    let first = tokio::spawn(async move { client.post(url).json(&json!({"input": ["a", "b"]})).send().await });
    // Wait until the first request is queued.
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server.metrics().await, "embed_server_queue_inputs") < 2.0 {
        assert!(Instant::now() < deadline, "the first request was never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let response = server.client.post(server.url("/v1/embeddings")).json(&json!({"input": "c"})).send().await.unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_openai_error(&body, Some("rate_limit_exceeded"));

    // The first client leaves: its work is dropped, never run.
    first.abort();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = server.metrics().await;
        if metric(&text, "embed_server_parts_cancelled_total") >= 1.0 {
            assert_eq!(metric(&text, "embed_server_batches_total"), 0.0, "{text}");
            assert_eq!(metric(&text, "embed_server_queue_inputs"), 0.0, "{text}");
            break;
        }
        assert!(Instant::now() < deadline, "the abandoned request was not dropped: {text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_times_out_with_504() {
    let config = ServerConfig {
        batch_wait: Duration::from_secs(2),
        request_timeout: Duration::from_millis(100),
        ..ServerConfig::default()
    };
    let server = TestServer::start(config).await;
    let (status, body) = server.post("/v1/embeddings", json!({"input": "slow"})).await;
    assert_eq!(status, 504, "{body}");
    assert_openai_error(&body, Some("timeout"));
    let (status, body) = server.post("/embed", json!({"inputs": "slow"})).await;
    assert_eq!(status, 504, "{body}");
    assert_tei_error(&body, "Overloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_every_endpoint_but_health_and_metrics() {
    let config = ServerConfig { api_keys: vec!["key-one".into(), "key-two".into()], ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let url = server.url("/v1/embeddings");
    let body = json!({"input": "secret"});
    let response = server.client.post(&url).json(&body).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_openai_error(&response.json().await.unwrap(), Some("invalid_api_key"));
    let response = server.client.post(&url).bearer_auth("key-three").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let response = server.client.post(&url).bearer_auth("key-two").json(&body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let response = server.client.post(server.url("/embed")).json(&json!({"inputs": "x"})).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_tei_error(&response.json().await.unwrap(), "Validation");
    let response = server.client.get(server.url("/v1/models")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(server.client.get(server.url("/health")).send().await.unwrap().status(), 200);
    assert_eq!(server.client.get(server.url("/metrics")).send().await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_echoed_or_made() {
    let server = TestServer::start(ServerConfig::default()).await;
    let response = server.client.get(server.url("/health")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let a = server.client.get(server.url("/health")).send().await.unwrap();
    let b = server.client.get(server.url("/health")).send().await.unwrap();
    let (a, b) = (&a.headers()["x-request-id"], &b.headers()["x-request-id"]);
    assert!(!a.is_empty());
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundreds_of_concurrent_requests_each_get_their_own_vectors() {
    let server = TestServer::start(ServerConfig::default()).await;
    // Mixed lengths and batch sizes, each request distinct.
    let requests: Vec<Vec<String>> = (0..300)
        .map(|i| {
            let n = 1 + i % 3;
            (0..n).map(|j| format!("request {i} text {j} {}", "filler words ".repeat((i * 7 + j * 13) % 30))).collect()
        })
        .collect();
    let all: Vec<&str> = requests.iter().flatten().map(String::as_str).collect();
    let expected = library(&all);
    let mut tasks = Vec::new();
    for (i, texts) in requests.iter().enumerate() {
        let client = server.client.clone();
        let base = server.base.clone();
        let texts = texts.clone();
        tasks.push(tokio::spawn(async move {
            let (path, body) = match i % 3 {
                0 => ("/v1/embeddings", json!({"input": texts})),
                1 => ("/embed", json!({"inputs": texts})),
                _ => ("/api/v1/embed/batch", json!({"texts": texts})),
            };
            let response = client.post(format!("{base}{path}")).json(&body).send().await.unwrap();
            assert_eq!(response.status(), 200);
            let body: Value = response.json().await.unwrap();
            let vectors: Vec<Vec<f32>> = match i % 3 {
                0 => body["data"].as_array().unwrap().iter().map(|d| floats(&d["embedding"])).collect(),
                1 => body.as_array().unwrap().iter().map(floats).collect(),
                _ => body["embeddings"].as_array().unwrap().iter().map(floats).collect(),
            };
            vectors
        }));
    }
    let mut offset = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        let vectors = task.await.unwrap();
        assert_eq!(vectors.len(), requests[i].len(), "request {i}");
        for (j, v) in vectors.iter().enumerate() {
            assert_close(v, &expected[offset + j], &format!("request {i} text {j}"));
        }
        offset += vectors.len();
    }
    let text = server.metrics().await;
    let batches = metric(&text, "embed_server_batches_total");
    assert!(batches > 0.0 && batches < 300.0, "requests were not batched together: {batches} batches");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_queued_work_then_returns() {
    let config = ServerConfig { batch_wait: Duration::from_millis(500), ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let client = server.client.clone();
    let url = server.url("/v1/embeddings");
    let pending = tokio::spawn(async move { client.post(url).json(&json!({"input": "in flight"})).send().await });
    let deadline = Instant::now() + Duration::from_secs(10);
    while metric(&server.metrics().await, "embed_server_queue_inputs") < 1.0 {
        assert!(Instant::now() < deadline, "the request was never queued");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let base = server.base.clone();
    server.shutdown().await.unwrap();
    let response = pending.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    assert!(reqwest::get(format!("{base}/health")).await.is_err(), "still accepting after shutdown");
}

/// The Python clients (`openai`, `huggingface_hub`) against a live server, when
/// `EMBED_CLIENTS_PYTHON` names a Python that has them (scripts/requirements-clients.txt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_clients_get_the_library_vectors() {
    let Some(python) = std::env::var_os("EMBED_CLIENTS_PYTHON").filter(|p| !p.is_empty()) else {
        eprintln!("EMBED_CLIENTS_PYTHON is not set: the Python client check did not run");
        return;
    };
    let server = TestServer::start(ServerConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let expected_path = dir.path().join("expected.json");
    let vectors = library(&TEXTS);
    std::fs::write(&expected_path, serde_json::to_vec(&json!({"texts": TEXTS, "embeddings": vectors})).unwrap())
        .unwrap();
    let script = workspace_root().join("scripts/server_clients_test.py");
    let base = server.base.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg("--base-url")
            .arg(base)
            .arg("--expected")
            .arg(expected_path)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "python clients failed:\n{stdout}\n{stderr}");
}
