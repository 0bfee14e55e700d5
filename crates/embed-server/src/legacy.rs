//! The Go original's endpoints, kept for its clients: `POST /api/v1/embed` (one text) and
//! `POST /api/v1/embed/batch` (several), with their own response and error shapes.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::decode::{Endpoint, body_bytes, decode};
use crate::embedding::{Outcome, embed};
use crate::error::ApiError;
use crate::wire::{LegacyBatchRequest, LegacyBatchResponse, LegacyError, LegacyRequest, LegacyResponse};

async fn run(state: &AppState, endpoint: Endpoint, body: Result<Bytes, BytesRejection>) -> Result<Outcome, ApiError> {
    let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
    let job = decode(endpoint, &bytes, state.inner.config.auto_truncate)?;
    embed(state, job, endpoint.input_param()).await
}

/// Embeds one text.
#[utoipa::path(
    post,
    path = "/api/v1/embed",
    tag = "go",
    request_body = LegacyRequest,
    responses(
        (status = 200, description = "The text's vector", body = LegacyResponse),
        (status = 400, description = "Malformed JSON, a wrong field, an empty text", body = LegacyError),
        (status = 401, description = "A missing or wrong API key", body = LegacyError),
        (status = 404, description = "A model the server does not offer", body = LegacyError),
        (status = 413, description = "A body over the size limit", body = LegacyError),
        (status = 429, description = "The queue is full", body = LegacyError),
        (status = 503, description = "A model that could not be loaded, or shutdown", body = LegacyError),
        (status = 504, description = "The request took longer than the request timeout", body = LegacyError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn legacy_embed(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match run(&state, Endpoint::Legacy, body).await {
        Ok(outcome) => {
            let embedding = outcome.embeddings.into_iter().next().map(|e| e.vector).unwrap_or_default();
            axum::Json(LegacyResponse { dimension: embedding.len(), embedding, model: outcome.model }).into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::Legacy.shape()),
    }
}

/// Embeds several texts.
#[utoipa::path(
    post,
    path = "/api/v1/embed/batch",
    tag = "go",
    request_body = LegacyBatchRequest,
    responses(
        (status = 200, description = "One vector per text, in order", body = LegacyBatchResponse),
        (status = 400, description = "Malformed JSON, a wrong field, no text or an empty one", body = LegacyError),
        (status = 401, description = "A missing or wrong API key", body = LegacyError),
        (status = 404, description = "A model the server does not offer", body = LegacyError),
        (status = 413, description = "A body over the size limit, or more texts than one request may carry", body = LegacyError),
        (status = 429, description = "The queue is full", body = LegacyError),
        (status = 503, description = "A model that could not be loaded, or shutdown", body = LegacyError),
        (status = 504, description = "The request took longer than the request timeout", body = LegacyError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn legacy_embed_batch(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match run(&state, Endpoint::LegacyBatch, body).await {
        Ok(outcome) => {
            let count = outcome.embeddings.len();
            let embeddings: Vec<Vec<f32>> = outcome.embeddings.into_iter().map(|e| e.vector).collect();
            let dimension = embeddings.first().map_or(0, Vec::len);
            axum::Json(LegacyBatchResponse { embeddings, dimension, model: outcome.model, count }).into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::LegacyBatch.shape()),
    }
}
