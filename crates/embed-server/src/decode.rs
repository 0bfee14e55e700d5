//! Decoding a request body into a [`Job`]: the one parser every input endpoint uses (and the
//! HTTP fuzz target, through `fuzzing.rs`). Malformed JSON, a wrong field, an empty input are
//! refused here with the field named, before any model or queue is involved.
//!
//! It knows the wire types (`wire.rs`) and nothing of models, batching or responses.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use embed_core::TruncationSide;
use serde_json::Value;

use crate::error::{ApiError, Shape};
use crate::wire::{Direction, Input, LegacyBatchRequest, LegacyRequest, OpenAiRequest, TeiRequest};

/// The endpoints that take inputs to embed in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/embeddings`.
    OpenAi,
    /// `POST /embed` (and `POST /`).
    Tei,
    /// `POST /api/v1/embed`.
    Legacy,
    /// `POST /api/v1/embed/batch`.
    LegacyBatch,
}

impl Endpoint {
    /// The request field that holds the inputs.
    pub(crate) fn input_param(self) -> &'static str {
        match self {
            Self::OpenAi => "input",
            Self::Tei => "inputs",
            Self::Legacy => "text",
            Self::LegacyBatch => "texts",
        }
    }

    /// The shape of the endpoint's error bodies.
    pub(crate) fn shape(self) -> Shape {
        match self {
            Self::OpenAi => Shape::OpenAi,
            Self::Tei => Shape::Tei,
            Self::Legacy | Self::LegacyBatch => Shape::Legacy,
        }
    }
}

/// One request to embed, whatever its endpoint.
#[derive(Debug)]
pub(crate) struct Job {
    pub model: Option<String>,
    pub inputs: Input,
    pub normalize: Option<bool>,
    pub prompt: Option<String>,
    pub truncation: Option<TruncationSide>,
    pub truncate: bool,
    pub dimensions: Option<i64>,
    /// OpenAI's `encoding_format: "base64"`.
    pub base64: bool,
}

impl Job {
    /// Number of inputs.
    pub(crate) fn len(&self) -> usize {
        match &self.inputs {
            Input::Text(_) | Input::TokenIds(_) => 1,
            Input::Texts(texts) => texts.len(),
            Input::TokenIdLists(lists) => lists.len(),
        }
    }
}

/// Decodes the JSON body of a request to `endpoint`. `auto_truncate` is what `/embed` does when
/// the request does not say. On success the job holds at least one input, no empty text and no
/// empty list of token ids.
pub(crate) fn decode(endpoint: Endpoint, body: &[u8], auto_truncate: bool) -> Result<Job, ApiError> {
    let param = endpoint.input_param();
    let plain = |model, inputs| Job {
        model,
        inputs,
        normalize: None,
        prompt: None,
        truncation: None,
        truncate: true,
        dimensions: None,
        base64: false,
    };
    let job = match endpoint {
        Endpoint::OpenAi => {
            let request: OpenAiRequest = parse_json(body)?;
            let base64 = match request.encoding_format.as_deref() {
                None | Some("float") => false,
                Some("base64") => true,
                Some(other) => {
                    return Err(ApiError::invalid(format!(
                        "`encoding_format` must be `float` or `base64`, found `{other}`"
                    ))
                    .with_param("encoding_format"));
                }
            };
            Job { dimensions: request.dimensions, base64, ..plain(request.model, parse_inputs(request.input, param)?) }
        }
        Endpoint::Tei => {
            let request: TeiRequest = parse_json(body)?;
            Job {
                normalize: request.normalize,
                prompt: request.prompt_name,
                truncation: request.truncation_direction.map(|d| match d {
                    Direction::Left => TruncationSide::Left,
                    Direction::Right => TruncationSide::Right,
                }),
                truncate: request.truncate.unwrap_or(auto_truncate),
                dimensions: request.dimensions,
                ..plain(request.model, parse_inputs(request.inputs, param)?)
            }
        }
        Endpoint::Legacy => {
            let request: LegacyRequest = parse_json(body)?;
            if request.text.is_empty() {
                return Err(ApiError::empty("`text` cannot be empty").with_param(param));
            }
            plain(request.model, Input::Text(request.text))
        }
        Endpoint::LegacyBatch => {
            let request: LegacyBatchRequest = parse_json(body)?;
            if let Some(i) = request.texts.iter().position(String::is_empty) {
                return Err(ApiError::empty(format!("`{param}` holds an empty string at index {i}")).with_param(param));
            }
            plain(request.model, Input::Texts(request.texts))
        }
    };
    if job.len() == 0 {
        return Err(ApiError::empty(format!("`{param}` cannot be empty")).with_param(param));
    }
    Ok(job)
}

/// Parses an input field: a string, strings, token ids, or lists of token ids.
pub(crate) fn parse_inputs(value: Value, param: &'static str) -> Result<Input, ApiError> {
    let shape_error = || {
        ApiError::invalid(format!(
            "`{param}` must be a string, an array of strings, an array of token ids or an array of arrays of token ids"
        ))
        .with_param(param)
    };
    let empty_text =
        |i: usize| ApiError::empty(format!("`{param}` holds an empty string at index {i}")).with_param(param);
    let token = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match value {
        Value::String(text) if text.is_empty() => {
            Err(ApiError::empty(format!("`{param}` cannot be an empty string")).with_param(param))
        }
        Value::String(text) => Ok(Input::Text(text)),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::empty(format!("`{param}` cannot be empty")).with_param(param))
        }
        Value::Array(items) => match &items[0] {
            Value::String(_) => {
                let mut texts = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(text) if text.is_empty() => return Err(empty_text(i)),
                        Value::String(text) => texts.push(text),
                        _ => return Err(shape_error()),
                    }
                }
                Ok(Input::Texts(texts))
            }
            Value::Number(_) => {
                let ids: Option<Vec<u32>> = items.iter().map(token).collect();
                Ok(Input::TokenIds(ids.ok_or_else(shape_error)?))
            }
            Value::Array(_) => {
                let mut lists = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    let ids: Option<Vec<u32>> = item.as_array().and_then(|list| list.iter().map(token).collect());
                    match ids {
                        Some(ids) if ids.is_empty() => {
                            return Err(ApiError::empty(format!(
                                "`{param}` holds an empty list of token ids at index {i}"
                            ))
                            .with_param(param));
                        }
                        Some(ids) => lists.push(ids),
                        None => return Err(shape_error()),
                    }
                }
                Ok(Input::TokenIdLists(lists))
            }
            _ => Err(shape_error()),
        },
        _ => Err(shape_error()),
    }
}

/// The request body's bytes, a too-large body turned into 413 and an unreadable one into 400.
pub(crate) fn body_bytes(max_body_bytes: usize, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("the request body is larger than the limit of {max_body_bytes} bytes"))
        } else {
            ApiError::invalid(format!("cannot read the request body: {}", rejection.body_text()))
        }
    })
}

/// Parses a JSON body; anything malformed is a 400 naming the problem, and the field where
/// a value has the wrong type or is out of range (`dimensions: "8"`).
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde reads a struct from an array too, its fields by position (`["hello"]` would be
    // `{"input": "hello"}`): a body must be an object (found by the http_request fuzz target).
    if body.iter().find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r')) == Some(&b'[') {
        return Err(ApiError::invalid("invalid JSON body: expected an object, found an array"));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        match path.as_str() {
            "" | "." => ApiError::invalid(format!("invalid JSON body: {}", error.into_inner())),
            _ => ApiError::invalid(format!("invalid JSON body: `{path}`: {}", error.into_inner())),
        }
    })?;
    // Nothing but whitespace may follow the value, as `serde_json::from_slice` checks.
    deserializer.end().map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn inputs_parse_in_every_shape() {
        assert_eq!(parse_inputs(json!("a"), "input").ok(), Some(Input::Text("a".into())));
        assert_eq!(parse_inputs(json!(["a", "b"]), "input").ok(), Some(Input::Texts(vec!["a".into(), "b".into()])));
        assert_eq!(parse_inputs(json!([1, 2, 3]), "input").ok(), Some(Input::TokenIds(vec![1, 2, 3])));
        assert_eq!(
            parse_inputs(json!([[1], [2, 3]]), "input").ok(),
            Some(Input::TokenIdLists(vec![vec![1], vec![2, 3]]))
        );
    }

    #[test]
    fn bad_inputs_are_refused_with_the_field_named() {
        for bad in [
            json!(""),
            json!([]),
            json!(["a", ""]),
            json!([[]]),
            json!(["a", 1]),
            json!([-1]),
            json!({}),
            json!(null),
            json!([1.5]),
            json!([[1], "a"]),
            json!([4294967296u64]),
        ] {
            let error = parse_inputs(bad.clone(), "input").err().unwrap_or_else(|| panic!("{bad} accepted"));
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
            assert_eq!(error.param, Some("input"), "{bad}");
        }
    }

    /// Found by the http_request fuzz target: serde took `["base64"]` for `{"input": "base64"}`.
    #[test]
    fn a_body_that_is_an_array_is_refused() {
        for endpoint in [Endpoint::OpenAi, Endpoint::Tei, Endpoint::Legacy, Endpoint::LegacyBatch] {
            for body in [&b"[\"base64\"]"[..], b" \n[[\"a\", \"b\"], \"all-MiniLM-L6-v2\"]", b"[]"] {
                let Err(error) = decode(endpoint, body, true) else { panic!("an array body is accepted") };
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{endpoint:?}");
                assert_eq!(error.message, "invalid JSON body: expected an object, found an array");
            }
            // The same fields in an object are read.
            let object = decode(endpoint, br#" {"input": "a", "inputs": "a", "text": "a", "texts": ["a"]}"#, true);
            assert_eq!(object.map(|job| job.len()).ok(), Some(1), "{endpoint:?}");
        }
    }
}
