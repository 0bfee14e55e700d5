//! `embed serve` and the model names clients send: an alias (`--model-alias ALIAS=MODEL`,
//! `EMBED_MODEL_ALIASES`) answers as its model, a name the server does not serve is 404 unless
//! `--any-model-name` (`EMBED_ANY_MODEL_NAME`) has the default model answer it, and an alias of
//! a model the server does not serve stops the server before it listens.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::embed;
use super::faults::{Served, post};

fn embed_with(served: &Served, model: &str) -> (u16, Value) {
    let (status, body) = post(&served.addr, "/v1/embeddings", &json!({"input": "x", "model": model}), &[]).unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn aliases_and_any_model_name_answer_the_names_openai_clients_send() {
    let alias = ["--log-level", "info", "--model-alias", "text-embedding-3-small=all-MiniLM-L6-v2"];
    let served = Served::start(&alias, &[]);
    let (status, body) = embed_with(&served, "text-embedding-3-small");
    assert_eq!(status, 200, "{body}");
    assert!(body["model"].as_str().unwrap().starts_with("all-MiniLM-L6-v2"), "{body}");
    assert_eq!(body["data"][0]["embedding"].as_array().unwrap().len(), 384);
    let (status, body) = embed_with(&served, "text-embedding-ada-002");
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "model_not_found", "{body}");
    drop(served);

    let env =
        [("EMBED_MODEL_ALIASES", "small=all-MiniLM-L6-v2, large=all-MiniLM-L6-v2"), ("EMBED_ANY_MODEL_NAME", "true")];
    let served = Served::start(&["--log-level", "info"], &env);
    for model in ["small", "large", "text-embedding-ada-002", "no/such-model"] {
        let (status, body) = embed_with(&served, model);
        assert_eq!(status, 200, "{model}: {body}");
        assert!(body["model"].as_str().unwrap().starts_with("all-MiniLM-L6-v2"), "{body}");
    }
}

#[test]
fn a_malformed_alias_or_one_of_a_model_not_served_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let output = embed(&["serve", "--port", "0", "--model-alias", "no-equals-sign"], dir.path());
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("expected ALIAS=MODEL"), "{output:?}");
    let output = embed(&["serve", "--port", "0", "--model-alias", "x=no-such-model"], dir.path());
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("model_aliases") && stderr.contains("x=no-such-model"), "{stderr}");
}
