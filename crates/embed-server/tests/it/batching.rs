//! How the server's batches become inference calls: a request of N compatible inputs runs as
//! one server batch, which embed-core's batching policy splits into exactly the calls it says
//! for those inputs' real token counts, with the native engine (no padding cost) and with
//! ONNX Runtime (padding counted, the padding cap applied).

use embed_server::ServerConfig;
use serde_json::json;

use super::{MODEL, TestServer, config, metric, new_service};

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
