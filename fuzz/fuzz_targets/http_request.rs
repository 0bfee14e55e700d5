//! Fuzz target: embed-server's decoding of request bodies, the same function its handlers call
//! (`embed_server::fuzzing::decode_request`, behind the `fuzzing` feature), for each endpoint
//! that takes inputs. No model, queue or network: decoding is all that runs.
//!
//! The first byte picks the endpoint; the rest is the body. Invariants: no panic; a refusal is
//! a 4xx whose body is JSON in the endpoint's error shape; a body that is not JSON is refused
//! with 400 (422 on text-embeddings-inference's routes, as it answers); an accepted body holds at least one input, no empty text, no empty list of ids,
//! exactly one text for `/api/v1/embed`, and (where it parses as a `serde_json::Value`) the
//! input field's strings or ids in order.

#![no_main]

use embed_server::fuzzing::{DecodedInputs, decode_request};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

const PATHS: [&str; 5] = ["/v1/embeddings", "/embed", "/", "/api/v1/embed", "/api/v1/embed/batch"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let path = PATHS[usize::from(selector) % PATHS.len()];
    let decoded = decode_request(path, body).expect("an input endpoint");
    let json: Option<Value> = serde_json::from_slice(body).ok();
    match decoded {
        Err(refused) => {
            assert!((400..500).contains(&refused.status), "{path}: status {} for a bad body", refused.status);
            let error: Value = serde_json::from_slice(&refused.body).expect("the error body is JSON");
            let message = match path {
                "/v1/embeddings" => &error["error"]["message"],
                _ => &error["error"],
            };
            assert!(message.as_str().is_some_and(|m| !m.is_empty()), "{path}: error body {error}");
            if path.starts_with("/api/") {
                assert_eq!(error["code"].as_u64(), Some(u64::from(refused.status)));
            }
            if json.is_none() {
                // text-embeddings-inference answers malformed JSON with 422, the others with 400.
                let status = if matches!(path, "/embed" | "/") { 422 } else { 400 };
                assert_eq!(refused.status, status, "{path}: a body that is not JSON");
            }
        }
        Ok(inputs) => {
            let count = match &inputs {
                DecodedInputs::Texts(texts) => {
                    assert!(texts.iter().all(|t| !t.is_empty()), "{path}: an empty text accepted");
                    texts.len()
                }
                DecodedInputs::TokenIds(lists) => {
                    assert!(path == "/v1/embeddings" || path == "/embed" || path == "/", "{path}: token ids");
                    assert!(lists.iter().all(|l| !l.is_empty()), "{path}: an empty list of ids accepted");
                    lists.len()
                }
            };
            assert!(count >= 1, "{path}: no inputs accepted");
            if path == "/api/v1/embed" {
                assert_eq!(count, 1);
            }
            // serde_json skips the value of a field the request does not know without checking
            // it (invalid UTF-8, lone surrogates pass there), so an accepted body may not parse
            // as a `Value`; where it does, the inputs are the input field's.
            if let Some(json) = json {
                check_field(path, &json, &inputs);
            }
        }
    }
});

fn check_field(path: &str, json: &Value, inputs: &DecodedInputs) {
    let object = json.as_object().expect("an accepted body is a JSON object");
    let field = match path {
        "/v1/embeddings" => "input",
        "/api/v1/embed" => "text",
        "/api/v1/embed/batch" => "texts",
        _ => "inputs",
    };
    let given = object.get(field).expect("the input field is present");
    match inputs {
        DecodedInputs::Texts(texts) => {
            // The texts are the field's strings, in order.
            let strings: Vec<&str> = match given {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                other => panic!("{path}: texts decoded from {other}"),
            };
            assert_eq!(strings, texts.iter().map(String::as_str).collect::<Vec<_>>());
        }
        DecodedInputs::TokenIds(lists) => {
            let items = given.as_array().expect("token ids come from an array");
            let flat = items.first().is_some_and(Value::is_number);
            let expected: Vec<Vec<u64>> = if flat {
                vec![items.iter().filter_map(Value::as_u64).collect()]
            } else {
                items.iter().map(|l| l.as_array().into_iter().flatten().filter_map(Value::as_u64).collect()).collect()
            };
            let got: Vec<Vec<u64>> = lists.iter().map(|l| l.iter().map(|&id| u64::from(id)).collect()).collect();
            assert_eq!(got, expected, "{path}: token ids");
        }
    }
}
