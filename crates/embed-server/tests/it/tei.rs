//! text-embeddings-inference's routes besides `/embed`, end to end against the real model:
//! `/tokenize` and `/decode` against the model's tokenizer, `/embed_all` and `/similarity`
//! against the library's vectors, `/info` against the served model, and `/rerank`, `/predict`
//! and `/embed_sparse` answering what text-embeddings-inference answers for an embedding model;
//! each route's refusals in its status codes and `{"error", "error_type"}`.

use embed_server::ServerConfig;
use embed_test_support::cosine;
use serde_json::{Value, json};

use super::{MODEL, TestServer, assert_close, assert_tei_error, floats, library};

fn tokens(body: &Value) -> Vec<(u64, String, bool, Value, Value)> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_u64().unwrap(),
                t["text"].as_str().unwrap().to_string(),
                t["special"].as_bool().unwrap(),
                t["start"].clone(),
                t["stop"].clone(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokenize_and_decode_use_the_models_tokenizer() {
    let config = ServerConfig { max_inputs_per_request: 3, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let (status, body) = server.post("/tokenize", json!({"inputs": "This is Rust"})).await;
    assert_eq!(status, 200, "{body}");
    let text = tokens(&body[0]);
    // all-MiniLM-L6-v2 lowercases; each token's text is the input's bytes it came from.
    assert_eq!(
        text,
        vec![
            (101, "[CLS]".into(), true, Value::Null, Value::Null),
            (2023, "This".into(), false, json!(0), json!(4)),
            (2003, "is".into(), false, json!(5), json!(7)),
            (18399, "Rust".into(), false, json!(8), json!(12)),
            (102, "[SEP]".into(), true, Value::Null, Value::Null),
        ],
        "{body}"
    );
    let (status, body) =
        server.post("/tokenize", json!({"inputs": ["This is Rust", "é"], "add_special_tokens": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(tokens(&body[0]).len(), 3, "{body}");
    assert!(tokens(&body[0]).iter().all(|t| !t.2), "{body}");
    assert_eq!(tokens(&body[1])[0].3, json!(0), "{body}");
    // The lowercased, unaccented token of `é` still points at its two bytes.
    assert_eq!(tokens(&body[1])[0].4, json!(2), "{body}");

    let (status, body) = server.post("/decode", json!({"ids": [101, 2023, 2003, 18399, 102]})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!(["this is rust"]));
    let (status, body) =
        server.post("/decode", json!({"ids": [[101, 2023, 102], [2003]], "skip_special_tokens": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!(["[CLS] this [SEP]", "is"]));

    for (path, body, status, error_type) in [
        ("/tokenize", json!({"inputs": ""}), 400, "Empty"),
        ("/tokenize", json!({"inputs": []}), 400, "Empty"),
        ("/tokenize", json!({"inputs": ["a", "b", "c", "d"]}), 422, "Validation"),
        ("/tokenize", json!({"inputs": "a", "prompt_name": "query"}), 422, "Validation"),
        ("/tokenize", json!({"inputs": 5}), 422, "Validation"),
        ("/tokenize", json!({"inputs": "x".repeat(256 * 250 + 1)}), 422, "Validation"),
        ("/tokenize", json!({}), 422, "Validation"),
        ("/decode", json!({"ids": []}), 400, "Empty"),
        ("/decode", json!({"ids": [[1], []]}), 400, "Empty"),
        ("/decode", json!({"ids": [1, 4_000_000]}), 422, "Validation"),
        ("/decode", json!({"ids": [-1]}), 422, "Validation"),
        ("/decode", json!({"ids": [[1], [2], [3], [4]]}), 422, "Validation"),
        ("/decode", json!({"ids": "a"}), 422, "Validation"),
    ] {
        let (got, answer) = server.post(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert_tei_error(&answer, error_type);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embed_all_gives_every_tokens_vector_and_similarity_the_cosine() {
    let config = ServerConfig { max_inputs_per_request: 3, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let texts = ["a", "The quick brown fox jumps over the lazy dog."];
    let expected = library(&texts);
    let (status, body) = server.post("/embed_all", json!({"inputs": texts})).await;
    assert_eq!(status, 200, "{body}");
    let all = body.as_array().unwrap();
    assert_eq!(all[0].as_array().unwrap().len(), 3, "[CLS] a [SEP]");
    for (rows, expected) in all.iter().zip(&expected) {
        // all-MiniLM-L6-v2 pools by the mean: the mean of the rows is the library's vector.
        let rows: Vec<Vec<f32>> = rows.as_array().unwrap().iter().map(floats).collect();
        assert!(rows.iter().all(|r| r.len() == 384));
        let mean: Vec<f32> = (0..384).map(|i| rows.iter().map(|r| r[i]).sum::<f32>() / rows.len() as f32).collect();
        assert_close(&mean, expected, "the mean of the token vectors");
    }
    let (status, body) = server.post("/embed_all", json!({"inputs": "a", "truncate": false})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body.as_array().unwrap().len(), 1);

    let sentences = ["A fox jumps over a dog.", "Stock markets fell today.", "a"];
    let source = "The quick brown fox jumps over the lazy dog.";
    let (status, body) =
        server.post("/similarity", json!({"inputs": {"source_sentence": source, "sentences": &sentences[..2]}})).await;
    assert_eq!(status, 200, "{body}");
    let got = floats(&body);
    let vectors = library(&[source, sentences[0], sentences[1]]);
    for (i, similarity) in got.iter().enumerate() {
        let expected = cosine(&vectors[0], &vectors[i + 1]);
        assert!((f64::from(*similarity) - expected).abs() < 1e-4, "{similarity} vs {expected}");
    }
    assert!(got[0] > got[1], "{got:?}");

    for (path, body, status, error_type) in [
        ("/similarity", json!({"inputs": {"source_sentence": "a", "sentences": []}}), 400, "Empty"),
        ("/similarity", json!({"inputs": {"source_sentence": "", "sentences": ["a"]}}), 400, "Empty"),
        // The source sentence counts: four inputs.
        ("/similarity", json!({"inputs": {"source_sentence": "a", "sentences": sentences}}), 422, "Validation"),
        ("/similarity", json!({"inputs": {"sentences": ["a"]}}), 422, "Validation"),
        (
            "/similarity",
            json!({"inputs": {"source_sentence": "a", "sentences": ["b"]}, "parameters": {"prompt_name": "query"}}),
            422,
            "Validation",
        ),
        ("/embed_all", json!({"inputs": []}), 400, "Empty"),
        ("/embed_all", json!({"inputs": ["a", "b", "c", "d"]}), 422, "Validation"),
        ("/embed_all", json!({"inputs": "word ".repeat(300), "truncate": false}), 422, "Validation"),
    ] {
        let (got, answer) = server.post(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert_tei_error(&answer, error_type);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn info_describes_the_served_model_and_the_limits() {
    let config = ServerConfig { max_inputs_per_request: 7, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    let body: Value = server.client.get(server.url("/info")).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["model_id"], "sentence-transformers/all-MiniLM-L6-v2", "{body}");
    assert!(body["model_sha"].as_str().is_some_and(|sha| sha.len() == 40), "{body}");
    assert_eq!(body["model_dtype"], "float32");
    assert!(body["served_model_name"].as_str().unwrap().starts_with(MODEL), "{body}");
    assert_eq!(body["model_type"], json!({"embedding": {"pooling": "mean"}}));
    assert_eq!(body["max_input_length"], 256);
    assert_eq!(body["max_client_batch_size"], 7);
    assert_eq!(body["auto_truncate"], true);
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
    assert!(body["max_batch_tokens"].as_u64().unwrap() > 0, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rerank_predict_and_embed_sparse_answer_as_for_an_embedding_model() {
    let config = ServerConfig { max_inputs_per_request: 2, ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    for (path, body, status, error_type) in [
        ("/rerank", json!({"query": "q", "texts": ["a", "b"]}), 424, "Backend"),
        ("/rerank", json!({"query": "q", "texts": []}), 400, "Empty"),
        ("/rerank", json!({"texts": ["a"]}), 422, "Validation"),
        ("/predict", json!({"inputs": "a"}), 424, "Backend"),
        ("/predict", json!({"inputs": ["a", "b"]}), 424, "Backend"),
        ("/predict", json!({"inputs": [["a"], ["a", "b"]]}), 424, "Backend"),
        ("/predict", json!({"inputs": [["a"], ["b"], ["c"]]}), 422, "Validation"),
        ("/predict", json!({"inputs": []}), 422, "Validation"),
        ("/predict", json!({"inputs": ["a", "b", "c"]}), 422, "Validation"),
        ("/embed_sparse", json!({"inputs": "a"}), 424, "Backend"),
        ("/embed_sparse", json!({"inputs": [[1, 2]]}), 424, "Backend"),
        ("/embed_sparse", json!({"inputs": []}), 400, "Empty"),
        ("/embed_sparse", json!({"inputs": ["a", "b", "c"]}), 422, "Validation"),
    ] {
        let (got, answer) = server.post(path, body.clone()).await;
        assert_eq!(got, status, "{path} {body}: {answer}");
        assert_tei_error(&answer, error_type);
        if status == 424 {
            assert!(answer["error"].as_str().unwrap().contains("is an embedding model"), "{answer}");
        }
    }
    let text = server.metrics().await;
    assert!(text.contains("embed_http_requests_total{endpoint=\"/rerank\",status=\"424\"} 1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_guard_the_new_routes() {
    let config = ServerConfig { api_keys: vec!["secret".into()], ..ServerConfig::default() };
    let server = TestServer::start(config).await;
    for path in ["/info"] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 401, "{path}");
    }
    for path in ["/tokenize", "/decode", "/similarity", "/embed_all", "/rerank", "/predict", "/embed_sparse"] {
        let (status, body) = server.post(path, json!({})).await;
        assert_eq!(status, 401, "{path}: {body}");
    }
    let response = server.client.get(server.url("/info")).bearer_auth("secret").send().await.unwrap();
    assert_eq!(response.status(), 200);
}
