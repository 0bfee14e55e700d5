//! Decoding request bodies: into a [`Job`] for every endpoint that embeds (and the HTTP fuzz
//! target, through `fuzzing.rs`), and the inputs of text-embeddings-inference's other routes
//! (texts to tokenize, token ids to decode, the inputs of `/predict`). The one parser of
//! request bodies: malformed JSON, a wrong field, an empty input are refused here with the
//! field named, before any model or queue is involved.
//!
//! It knows the wire types (`wire.rs`) and nothing of models, batching or responses.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use embed_core::{Output, TruncationSide};
use serde_json::Value;

use crate::error::{ApiError, Shape};
use crate::wire::{
    Direction, EmbedAllRequest, Input, LegacyBatchRequest, LegacyRequest, OpenAiRequest, SimilarityRequest, TeiRequest,
};

/// The endpoints that take inputs to embed in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/embeddings`.
    OpenAi,
    /// `POST /embed` (and `POST /`).
    Tei,
    /// `POST /embed_all`: every token's vector.
    TeiAll,
    /// `POST /similarity`.
    Similarity,
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
            Self::Tei | Self::TeiAll | Self::Similarity => "inputs",
            Self::Legacy => "text",
            Self::LegacyBatch => "texts",
        }
    }

    /// The shape of the endpoint's error bodies.
    pub(crate) fn shape(self) -> Shape {
        match self {
            Self::OpenAi => Shape::OpenAi,
            Self::Tei | Self::TeiAll | Self::Similarity => Shape::Tei,
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
    /// Pooled vectors, or every token's (`/embed_all`).
    pub output: Output,
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
        output: Output::Pooled,
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
                truncation: side(request.truncation_direction),
                truncate: request.truncate.unwrap_or(auto_truncate),
                dimensions: request.dimensions,
                ..plain(request.model, parse_inputs(request.inputs, param)?)
            }
        }
        Endpoint::TeiAll => {
            let request: EmbedAllRequest = parse_json(body)?;
            Job {
                normalize: Some(false),
                prompt: request.prompt_name,
                truncation: side(request.truncation_direction),
                truncate: request.truncate.unwrap_or(auto_truncate),
                output: Output::Tokens,
                ..plain(None, parse_inputs(request.inputs, param)?)
            }
        }
        Endpoint::Similarity => {
            // text-embeddings-inference embeds the source sentence and the others together,
            // unnormalized, and compares each with the first.
            let request: SimilarityRequest = parse_json(body)?;
            if request.inputs.sentences.is_empty() {
                return Err(ApiError::empty("`inputs.sentences` cannot be empty").with_param(param));
            }
            let parameters = request.parameters.unwrap_or_default();
            let mut texts = Vec::with_capacity(request.inputs.sentences.len() + 1);
            texts.push(request.inputs.source_sentence);
            texts.extend(request.inputs.sentences);
            no_empty_text(&texts, param)?;
            Job {
                normalize: Some(false),
                prompt: parameters.prompt_name,
                truncation: side(parameters.truncation_direction),
                truncate: parameters.truncate.unwrap_or(auto_truncate),
                ..plain(None, Input::Texts(texts))
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

/// The side a request's `truncation_direction` names.
fn side(direction: Option<Direction>) -> Option<TruncationSide> {
    direction.map(|d| match d {
        Direction::Left => TruncationSide::Left,
        Direction::Right => TruncationSide::Right,
    })
}

/// Refuses an empty text, naming its position.
fn no_empty_text(texts: &[String], param: &'static str) -> Result<(), ApiError> {
    match texts.iter().position(String::is_empty) {
        Some(i) => Err(ApiError::empty(format!("`{param}` holds an empty string at index {i}")).with_param(param)),
        None => Ok(()),
    }
}

/// Parses a field of texts (`/tokenize`'s `inputs`): a string or a non-empty array of strings,
/// none empty.
pub(crate) fn parse_texts(value: Value, param: &'static str) -> Result<Vec<String>, ApiError> {
    let texts = match value {
        Value::String(text) if text.is_empty() => {
            return Err(ApiError::empty(format!("`{param}` cannot be an empty string")).with_param(param));
        }
        Value::String(text) => vec![text],
        Value::Array(items) if items.is_empty() => {
            return Err(ApiError::empty(format!("`{param}` cannot be empty")).with_param(param));
        }
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(text) => Some(text),
                _ => None,
            })
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| {
                ApiError::invalid(format!("`{param}` must be a string or an array of strings")).with_param(param)
            })?,
        _ => {
            return Err(
                ApiError::invalid(format!("`{param}` must be a string or an array of strings")).with_param(param)
            );
        }
    };
    no_empty_text(&texts, param)?;
    Ok(texts)
}

/// Parses a field of token ids (`/decode`'s `ids`): one non-empty list, or a non-empty array
/// of non-empty lists.
pub(crate) fn parse_id_lists(value: Value, param: &'static str) -> Result<Vec<Vec<u32>>, ApiError> {
    match parse_inputs(value, param)? {
        Input::TokenIds(ids) => Ok(vec![ids]),
        Input::TokenIdLists(lists) => Ok(lists),
        Input::Text(_) | Input::Texts(_) => Err(ApiError::invalid(format!(
            "`{param}` must be an array of token ids or an array of arrays of token ids"
        ))
        .with_param(param)),
    }
}

/// Counts the sequences of `/predict`'s `inputs` as text-embeddings-inference reads them: a
/// text; a text or a pair of texts as an array of one or two strings; or a batch, an array of
/// such arrays. Anything else is refused.
pub(crate) fn count_predict_inputs(value: &Value, param: &'static str) -> Result<usize, ApiError> {
    let shape_error = || {
        ApiError::invalid(format!(
            "`{param}` must be a string, a pair of strings [string, string] or a batch of strings and pairs [[string], [string, string], ...]"
        ))
        .with_param(param)
    };
    let sequence = |item: &Value| match item.as_array() {
        Some(texts) if (1..=2).contains(&texts.len()) && texts.iter().all(Value::is_string) => Ok(()),
        _ => Err(shape_error()),
    };
    match value {
        Value::String(_) => Ok(1),
        Value::Array(items) => match items.first() {
            Some(Value::String(_)) => sequence(value).map(|()| 1),
            Some(_) => items.iter().try_for_each(sequence).map(|()| items.len()),
            None => Err(shape_error()),
        },
        _ => Err(shape_error()),
    }
}

/// Parses an input field: a string, strings, token ids, or lists of token ids.
pub(crate) fn parse_inputs(value: Value, param: &'static str) -> Result<Input, ApiError> {
    let shape_error = || {
        ApiError::invalid(format!(
            "`{param}` must be a string, an array of strings, an array of token ids or an array of arrays of token ids"
        ))
        .with_param(param)
    };
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
                for item in items {
                    match item {
                        Value::String(text) => texts.push(text),
                        _ => return Err(shape_error()),
                    }
                }
                no_empty_text(&texts, param)?;
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
pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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
    use crate::error::Kind;

    #[test]
    fn predict_inputs_are_read_as_text_embeddings_inference_reads_them() {
        for (inputs, count) in
            [(json!("a"), 1), (json!(["a"]), 1), (json!(["a", "b"]), 1), (json!([["a"], ["a", "b"], ["c"]]), 3)]
        {
            assert_eq!(count_predict_inputs(&inputs, "inputs").ok(), Some(count), "{inputs}");
        }
        for bad in [json!([]), json!(["a", "b", "c"]), json!([["a", "b", "c"]]), json!([[]]), json!([1]), json!({})] {
            assert!(count_predict_inputs(&bad, "inputs").is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn texts_and_token_ids_of_tokenize_and_decode() {
        assert_eq!(parse_texts(json!("a"), "inputs").ok(), Some(vec!["a".to_string()]));
        assert_eq!(parse_texts(json!(["a", "b"]), "inputs").ok().map(|t| t.len()), Some(2));
        for (bad, kind) in [
            (json!(""), Kind::Empty),
            (json!([]), Kind::Empty),
            (json!(["a", ""]), Kind::Empty),
            (json!([1]), Kind::Invalid),
        ] {
            assert_eq!(parse_texts(bad.clone(), "inputs").err().map(|e| e.kind), Some(kind), "{bad}");
        }
        assert_eq!(parse_id_lists(json!([1, 2]), "ids").ok(), Some(vec![vec![1, 2]]));
        assert_eq!(parse_id_lists(json!([[1], [2]]), "ids").ok(), Some(vec![vec![1], vec![2]]));
        for bad in [json!([]), json!([[]]), json!("a"), json!([-1]), json!([[1], 2])] {
            assert!(parse_id_lists(bad.clone(), "ids").is_err(), "{bad} accepted");
        }
    }

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
            assert!(matches!(error.kind, Kind::Invalid | Kind::Empty), "{bad}");
            assert_eq!(error.param, Some("input"), "{bad}");
        }
    }

    /// Found by the http_request fuzz target: serde took `["base64"]` for `{"input": "base64"}`.
    #[test]
    fn a_body_that_is_an_array_is_refused() {
        for endpoint in [Endpoint::OpenAi, Endpoint::Tei, Endpoint::TeiAll, Endpoint::Legacy, Endpoint::LegacyBatch] {
            for body in [&b"[\"base64\"]"[..], b" \n[[\"a\", \"b\"], \"all-MiniLM-L6-v2\"]", b"[]"] {
                let Err(error) = decode(endpoint, body, true) else { panic!("an array body is accepted") };
                assert_eq!(error.kind, Kind::Invalid, "{endpoint:?}");
                assert_eq!(error.message, "invalid JSON body: expected an object, found an array");
            }
            // The same fields in an object are read.
            let object = decode(endpoint, br#" {"input": "a", "inputs": "a", "text": "a", "texts": ["a"]}"#, true);
            assert_eq!(object.map(|job| job.len()).ok(), Some(1), "{endpoint:?}");
        }
    }
}
