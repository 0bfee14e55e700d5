//! text-embeddings-inference's tokenizer endpoints: `POST /tokenize` (each text's tokens as the
//! served default model's tokenizer makes them, with their byte offsets, without truncation)
//! and `POST /decode` (token ids back to text). Both run the tokenizer on a blocking thread;
//! neither queues or runs the model.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::decode::{body_bytes, parse_id_lists, parse_json, parse_texts};
use crate::embedding::check_count;
use crate::error::{ApiError, Shape};
use crate::wire::{DecodeRequest, SimpleToken, TeiError, TokenizeRequest};

/// Characters of one text `/tokenize` takes per token of the model's maximum: text-embeddings-
/// inference's limit on text it tokenizes without truncation.
const MAX_CHARS_PER_TOKEN: usize = 250;

/// Each text's tokens.
#[utoipa::path(
    post,
    path = "/tokenize",
    tag = "text-embeddings-inference",
    request_body = TokenizeRequest,
    responses(
        (status = 200, description = "Per text, its tokens in order", body = Vec<Vec<SimpleToken>>),
        (status = 400, description = "No text, or an empty one", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON, a wrong field, an unknown prompt, more texts than one request may carry, a text over 250 characters per token of the model's maximum", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tokenize(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match tokens(&state, body).await {
        Ok(tokens) => axum::Json(tokens).into_response(),
        Err(error) => error.into_shaped_response(Shape::Tei),
    }
}

async fn tokens(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Vec<Vec<SimpleToken>>, ApiError> {
    let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
    let request: TokenizeRequest = parse_json(&bytes)?;
    let texts = parse_texts(request.inputs, "inputs")?;
    check_count(state, texts.len(), "inputs")?;
    let model = state.inner.service.default_model();
    let limit = model.max_tokens().saturating_mul(MAX_CHARS_PER_TOKEN);
    for text in &texts {
        let chars = text.chars().count();
        if chars > limit {
            return Err(ApiError::invalid(format!("`inputs` must have less than {limit} characters. Given: {chars}"))
                .with_param("inputs"));
        }
    }
    let add_special_tokens = request.add_special_tokens.unwrap_or(true);
    let name = model.name().to_string();
    tokio::task::spawn_blocking(move || {
        texts
            .iter()
            .map(|text| {
                let (prompted, tokens) = model.tokens(text, request.prompt_name.as_deref(), add_special_tokens)?;
                Ok(tokens
                    .into_iter()
                    .map(|token| match token.special {
                        true => SimpleToken { id: token.id, text: token.token, special: true, start: None, stop: None },
                        false => {
                            let (start, stop) = token.offsets;
                            let text =
                                String::from_utf8_lossy(prompted.as_bytes().get(start..stop).unwrap_or_default());
                            SimpleToken {
                                id: token.id,
                                text: text.into_owned(),
                                special: false,
                                start: Some(start),
                                stop: Some(stop),
                            }
                        }
                    })
                    .collect())
            })
            .collect::<Result<Vec<_>, embed_core::EmbedError>>()
    })
    .await
    .map_err(|e| ApiError::internal(&e))?
    .map_err(|error| ApiError::from_embed(&error, &name))
}

/// Token ids back to text.
#[utoipa::path(
    post,
    path = "/decode",
    tag = "text-embeddings-inference",
    request_body = DecodeRequest,
    responses(
        (status = 200, description = "One text per list of ids, in order", body = Vec<String>),
        (status = 400, description = "No ids, or an empty list", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON, a wrong field, an id outside the vocabulary, more lists than one request may carry", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn decode(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match texts(&state, body).await {
        Ok(texts) => axum::Json(texts).into_response(),
        Err(error) => error.into_shaped_response(Shape::Tei),
    }
}

async fn texts(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Vec<String>, ApiError> {
    let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
    let request: DecodeRequest = parse_json(&bytes)?;
    let ids = parse_id_lists(request.ids, "ids")?;
    check_count(state, ids.len(), "ids")?;
    let model = state.inner.service.default_model();
    let name = model.name().to_string();
    let skip_special_tokens = request.skip_special_tokens.unwrap_or(true);
    tokio::task::spawn_blocking(move || model.decode(&ids, skip_special_tokens))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|error| ApiError::from_embed(&error, &name).with_param("ids"))
}
