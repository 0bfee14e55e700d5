//! OpenAI's embeddings endpoint: `POST /v1/embeddings`, its request decoded by `decode.rs`, its
//! response written in OpenAI's shape (float arrays or base64, token usage).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};
use base64::Engine;

use crate::AppState;
use crate::decode::{Endpoint, body_bytes, decode};
use crate::embedding::embed;
use crate::error::ApiError;
use crate::wire::{EmbeddingValue, OpenAiEmbedding, OpenAiError, OpenAiRequest, OpenAiResponse, Usage};

/// Embeds the inputs, as OpenAI's API does.
#[utoipa::path(
    post,
    path = "/v1/embeddings",
    tag = "openai",
    request_body = OpenAiRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = OpenAiResponse),
        (status = 400, description = "Malformed JSON, a wrong field, an empty input, `dimensions` out of range, a token id outside the vocabulary", body = OpenAiError),
        (status = 401, description = "A missing or wrong API key", body = OpenAiError),
        (status = 404, description = "A model the server does not offer", body = OpenAiError),
        (status = 413, description = "A body over the size limit, or more inputs than one request may carry", body = OpenAiError),
        (status = 429, description = "The queue is full; retry after `Retry-After` seconds", body = OpenAiError),
        (status = 503, description = "A model that could not be loaded, or shutdown", body = OpenAiError),
        (status = 504, description = "The request took longer than the request timeout", body = OpenAiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn openai_embeddings(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match respond(&state, body).await {
        Ok(response) => axum::Json(response).into_response(),
        Err(error) => error.into_shaped_response(Endpoint::OpenAi.shape()),
    }
}

async fn respond(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<OpenAiResponse, ApiError> {
    let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
    let job = decode(Endpoint::OpenAi, &bytes, state.inner.config.auto_truncate)?;
    let base64 = job.base64;
    let outcome = embed(state, job, Endpoint::OpenAi.input_param()).await?;
    let tokens: usize = outcome.embeddings.iter().map(|e| e.tokens).sum();
    let data = outcome
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, e)| OpenAiEmbedding {
            object: "embedding",
            index,
            embedding: if base64 {
                EmbeddingValue::Base64(encode_base64(&e.vector))
            } else {
                EmbeddingValue::Float(e.vector)
            },
        })
        .collect();
    Ok(OpenAiResponse {
        object: "list",
        data,
        model: outcome.model,
        usage: Usage { prompt_tokens: tokens, total_tokens: tokens },
    })
}

/// Base64 of the vector's little-endian `f32` bytes, as OpenAI encodes it.
fn encode_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_little_endian_f32() {
        let encoded = encode_base64(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
        assert_eq!(bytes, [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
    }
}
