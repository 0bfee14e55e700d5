//! How the server's batches become inference calls: a request of N compatible inputs runs as
//! one server batch, which embed-core's batching policy splits into exactly the calls it says
//! for those inputs' real token counts, with the native engine (no padding cost) and with
//! ONNX Runtime (padding counted, the padding cap applied); and a text's vector, whatever the
//! server batches it with, is the one it gets alone.

use embed_core::{BackendChoice, Config};
use embed_server::ServerConfig;
use serde_json::{Value, json};

use super::{MODEL, TestServer, assert_close, config, floats, metric, new_service};

/// Inputs of one request: 64 STS-B sentences of different lengths.
const INPUTS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_of_n_inputs_runs_as_the_calls_the_policy_says() {
    let texts: Vec<String> = embed_test_support::stsb_sentences().into_iter().take(INPUTS).collect();
    for model in [MODEL.to_string(), format!("{MODEL}:int8")] {
        let service = new_service(config(&model));
        // Each input's real token count, as the model's tokenizer makes it, longest first.
        let mut lengths: Vec<usize> = service
            .embed_with(&texts, service.default_options())
            .unwrap()
            .iter()
            .map(|embedding| embedding.tokens)
            .collect();
        lengths.sort_unstable_by(|a, b| b.cmp(a));
        let pads = service.model().pads();
        let expected = service.batching().calls(&lengths, pads).len();
        if pads {
            // The padding cap splits sentences of such different lengths further.
            assert!(expected > INPUTS / service.batching().max_texts, "{model}: {expected} calls for {lengths:?}");
        } else {
            assert_eq!(expected, INPUTS.div_ceil(service.batching().max_texts), "{model}");
        }

        let server_config = ServerConfig { max_batch_size: Some(INPUTS), ..ServerConfig::default() };
        let server = TestServer::start_with(service.clone(), server_config).await;
        let calls_before = service.metrics().batches;
        let (status, body) = server.post("/v1/embeddings", json!({ "input": texts })).await;
        assert_eq!(status, 200, "{model}: {body}");
        assert_eq!(body["data"].as_array().map(Vec::len), Some(INPUTS), "{model}");
        assert_eq!(metric(&server.metrics().await, "embed_server_batches_total"), 1.0, "{model}: one server batch");
        assert_eq!(service.metrics().batches - calls_before, expected as u64, "{model}: inference calls");
        server.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_text_gets_one_vector_whatever_the_server_batches_it_with() {
    // 60 concurrent requests of 1 to 3 texts of mixed lengths, which the server gathers into
    // batches as they arrive: each text's vector must equal the library's for the text alone,
    // on both engines for fp32 and for int8 (activations quantized per token).
    let requests: Vec<Vec<String>> = (0..60)
        .map(|i| {
            (0..1 + i % 3)
                .map(|j| {
                    format!("request {i} text {j}: {}", "a passage of mixed length ".repeat((i * 11 + j * 5) % 70))
                })
                .collect()
        })
        .collect();
    for (model, backend) in [
        (MODEL.to_string(), BackendChoice::Native),
        (MODEL.to_string(), BackendChoice::Onnx),
        (format!("{MODEL}:int8"), BackendChoice::Auto),
    ] {
        let service = new_service(Config { backend, ..config(&model) });
        let alone: Vec<Vec<Vec<f32>>> =
            requests.iter().map(|texts| texts.iter().map(|t| service.embed(t).unwrap()).collect()).collect();
        let server = TestServer::start_with(service, ServerConfig::default()).await;
        let tasks: Vec<_> = requests
            .iter()
            .map(|texts| {
                let (client, url) = (server.client.clone(), server.url("/v1/embeddings"));
                let body = json!({"input": texts});
                tokio::spawn(async move {
                    let response = client.post(url).json(&body).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    let body: Value = response.json().await.unwrap();
                    body["data"].as_array().unwrap().iter().map(|d| floats(&d["embedding"])).collect::<Vec<_>>()
                })
            })
            .collect();
        for (i, task) in tasks.into_iter().enumerate() {
            let vectors = task.await.unwrap();
            assert_eq!(vectors.len(), alone[i].len(), "{model} on {backend}: request {i}");
            for (j, (got, want)) in vectors.iter().zip(&alone[i]).enumerate() {
                assert_close(got, want, &format!("{model} on {backend}: request {i} text {j}"));
            }
        }
        let batches = metric(&server.metrics().await, "embed_server_batches_total");
        assert!(batches < 60.0, "{model} on {backend}: the requests were not batched together ({batches} batches)");
    }
}
