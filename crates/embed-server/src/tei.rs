//! text-embeddings-inference's endpoint: `POST /embed` (and `POST /`, where Hugging Face
//! clients given a base URL post), answered with an array of vectors.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::decode::{Endpoint, body_bytes, decode};
use crate::embedding::embed;
use crate::wire::{TeiError, TeiRequest};

/// Embeds the inputs, as text-embeddings-inference does: one array of numbers per input.
#[utoipa::path(
    post,
    path = "/embed",
    tag = "text-embeddings-inference",
    request_body = TeiRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = Vec<Vec<f32>>),
        (status = 400, description = "Malformed JSON, a wrong field, an empty input, an unknown prompt, `dimensions` out of range", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 404, description = "A model the server does not offer", body = TeiError),
        (status = 413, description = "A body over the size limit, too many inputs, a text over the model's maximum with `truncate: false`", body = TeiError),
        (status = 429, description = "The queue is full", body = TeiError),
        (status = 503, description = "A model that could not be loaded, or shutdown", body = TeiError),
        (status = 504, description = "The request took longer than the request timeout", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tei_embed(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let job = decode(Endpoint::Tei, &bytes, state.inner.config.auto_truncate)?;
        embed(&state, job, Endpoint::Tei.input_param()).await
    }
    .await;
    match result {
        Ok(outcome) => {
            let vectors: Vec<Vec<f32>> = outcome.embeddings.into_iter().map(|e| e.vector).collect();
            axum::Json(vectors).into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::Tei.shape()),
    }
}

/// `POST /`, the same as `POST /embed`.
#[utoipa::path(
    post,
    path = "/",
    tag = "text-embeddings-inference",
    request_body = TeiRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = Vec<Vec<f32>>),
        (status = 400, description = "As `POST /embed`", body = TeiError),
        (status = 401, description = "As `POST /embed`", body = TeiError),
        (status = 404, description = "As `POST /embed`", body = TeiError),
        (status = 413, description = "As `POST /embed`", body = TeiError),
        (status = 429, description = "As `POST /embed`", body = TeiError),
        (status = 503, description = "As `POST /embed`", body = TeiError),
        (status = 504, description = "As `POST /embed`", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tei_root(state: State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    tei_embed(state, body).await
}
