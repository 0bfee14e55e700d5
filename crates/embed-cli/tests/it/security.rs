//! Security basics of `embed serve` as shipped: it binds loopback unless told otherwise, limits
//! request size by default, and never writes API keys or texts to its log at info level.

#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::faults::{Served, post};

#[test]
fn by_default_it_binds_loopback_and_limits_request_size() {
    let served = Served::start(&["--log-level", "info"], &[]);
    assert!(served.addr.starts_with("127.0.0.1:"), "bound to {}", served.addr);

    // The body limit (2 MiB) and the inputs limit (2048) are on without any flag.
    let big = "x".repeat(2 * 1024 * 1024 + 1);
    let (status, body) = post(&served.addr, "/v1/embeddings", &json!({"input": big}), &[]).unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("request_too_large"), "{body}");
    let many: Vec<String> = (0..2049).map(|i| format!("t{i}")).collect();
    let (status, body) = post(&served.addr, "/v1/embeddings", &json!({"input": many}), &[]).unwrap();
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("2048"), "{body}");
    let (status, _) = post(&served.addr, "/v1/embeddings", &json!({"input": &many[..2048]}), &[]).unwrap();
    assert_eq!(status, 200, "2048 inputs are within the default limit");
}

#[test]
fn api_keys_and_texts_never_reach_the_log_at_info() {
    let key = "key-3f9c1e7a-never-logged";
    let wrong = "key-wrong-b81d2c-never-logged";
    let text = "Zanzibar periwinkle text that must never be logged 4821";
    let mut served = Served::start(&["--log-level", "info"], &[("EMBED_API_KEYS", key)]);
    let auth = format!("Bearer {key}");
    let wrong_auth = format!("Bearer {wrong}");
    let addr = served.addr.clone();
    let ok = |path: &str, body: serde_json::Value| {
        let (status, answer) = post(&addr, path, &body, &[("Authorization", &auth)]).unwrap();
        assert_eq!(status, 200, "{path}: {answer}");
    };
    ok("/v1/embeddings", json!({"input": text}));
    ok("/embed", json!({"inputs": [text, text]}));
    ok("/api/v1/embed", json!({"text": text}));
    ok("/api/v1/embed/batch", json!({"texts": [text]}));
    // Refused and failed requests carry the secrets too.
    let (status, _) =
        post(&addr, "/v1/embeddings", &json!({"input": text}), &[("Authorization", &wrong_auth)]).unwrap();
    assert_eq!(status, 401);
    let long = format!("{text} {}", "filler ".repeat(400));
    let (status, _) =
        post(&addr, "/embed", &json!({"inputs": long, "truncate": false}), &[("Authorization", &auth)]).unwrap();
    assert_eq!(status, 422, "text-embeddings-inference's status for a text too long");
    let (status, _) =
        post(&addr, "/v1/embeddings", &json!({"input": text, "model": "no-such"}), &[("Authorization", &auth)])
            .unwrap();
    assert_eq!(status, 404);
    let (status, _) = post(&addr, "/v1/embeddings", &json!({"input": [text, 5]}), &[("Authorization", &auth)]).unwrap();
    assert_eq!(status, 400);
    served.terminate();
    assert_eq!(served.wait(std::time::Duration::from_secs(60)), Some(0));

    let log = served.log();
    // The log is on at info and records requests: it is the right log to search.
    assert!(log.contains("/v1/embeddings") && log.contains("/api/v1/embed/batch"), "{log}");
    for secret in [key, wrong, "3f9c1e7a", "b81d2c", "Zanzibar", "periwinkle"] {
        assert!(!log.contains(secret), "`{secret}` appears in the log:\n{log}");
    }
}
