//! text-embeddings-inference's embedding endpoints: `POST /embed` (and `POST /`, where Hugging
//! Face clients given a base URL post), answered with an array of vectors; `POST /embed_all`,
//! every token's vector before pooling; `POST /similarity`, the cosine similarity of sentences
//! to a source sentence. All three take the path every embedding takes (`embedding.rs`).

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::decode::{Endpoint, body_bytes, decode};
use crate::embedding::embed;
use crate::error::ApiError;
use crate::wire::{EmbedAllRequest, SimilarityRequest, TeiError, TeiRequest};

/// Embeds the inputs, as text-embeddings-inference does: one array of numbers per input.
#[utoipa::path(
    post,
    path = "/embed",
    tag = "text-embeddings-inference",
    request_body = TeiRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = Vec<Vec<f32>>),
        (status = 400, description = "An empty input", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 404, description = "A model the server does not offer", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON, a wrong field, an unknown prompt, `dimensions` out of range, more inputs than one request may carry, a text over the model's maximum with `truncate: false`", body = TeiError),
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
        (status = 422, description = "As `POST /embed`", body = TeiError),
        (status = 429, description = "As `POST /embed`", body = TeiError),
        (status = 503, description = "As `POST /embed`", body = TeiError),
        (status = 504, description = "As `POST /embed`", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tei_root(state: State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    tei_embed(state, body).await
}

/// Every token's vector as the transformer outputs it, before pooling (special and prompt
/// tokens included; no Dense layer, no normalization): per input, one array per token.
#[utoipa::path(
    post,
    path = "/embed_all",
    tag = "text-embeddings-inference",
    request_body = EmbedAllRequest,
    responses(
        (status = 200, description = "Per input, one vector per token, in order", body = Vec<Vec<Vec<f32>>>),
        (status = 400, description = "As `POST /embed`", body = TeiError),
        (status = 401, description = "As `POST /embed`", body = TeiError),
        (status = 413, description = "As `POST /embed`", body = TeiError),
        (status = 422, description = "As `POST /embed`", body = TeiError),
        (status = 429, description = "As `POST /embed`", body = TeiError),
        (status = 503, description = "As `POST /embed`", body = TeiError),
        (status = 504, description = "As `POST /embed`", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tei_embed_all(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let job = decode(Endpoint::TeiAll, &bytes, state.inner.config.auto_truncate)?;
        embed(&state, job, Endpoint::TeiAll.input_param()).await
    }
    .await;
    match result {
        Ok(outcome) => {
            let tokens: Vec<Vec<Vec<f32>>> =
                outcome.embeddings.iter().map(|e| e.token_rows().map(<[f32]>::to_vec).collect()).collect();
            axum::Json(tokens).into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::TeiAll.shape()),
    }
}

/// The cosine similarity of each of `inputs.sentences` to `inputs.source_sentence`, as
/// text-embeddings-inference computes it: all embedded together without normalization, then
/// compared.
#[utoipa::path(
    post,
    path = "/similarity",
    tag = "text-embeddings-inference",
    request_body = SimilarityRequest,
    responses(
        (status = 200, description = "One similarity per sentence, in order", body = Vec<f32>),
        (status = 400, description = "No sentences, or an empty one", body = TeiError),
        (status = 401, description = "As `POST /embed`", body = TeiError),
        (status = 413, description = "As `POST /embed`", body = TeiError),
        (status = 422, description = "As `POST /embed`; the source sentence counts as one input", body = TeiError),
        (status = 429, description = "As `POST /embed`", body = TeiError),
        (status = 503, description = "As `POST /embed`", body = TeiError),
        (status = 504, description = "As `POST /embed`", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn tei_similarity(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let job = decode(Endpoint::Similarity, &bytes, state.inner.config.auto_truncate)?;
        let outcome = embed(&state, job, Endpoint::Similarity.input_param()).await?;
        let (source, others) = outcome
            .embeddings
            .split_first()
            .ok_or_else(|| ApiError::internal(&embed_core::EmbedError::LostEmbeddings { inputs: 1, embeddings: 0 }))?;
        Ok::<_, ApiError>(others.iter().map(|e| cosine(&source.vector, &e.vector)).collect::<Vec<f32>>())
    }
    .await;
    match result {
        Ok(similarities) => axum::Json(similarities).into_response(),
        Err(error) => error.into_shaped_response(Endpoint::Similarity.shape()),
    }
}

/// Cosine similarity, computed in f64. As text-embeddings-inference's (SimSIMD's) cosine
/// distance has it: two zero vectors are alike (1), and a zero vector is unlike any other (0).
fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut ab, mut aa, mut bb) = (0f64, 0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (f64::from(*x), f64::from(*y));
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    if aa == 0.0 && bb == 0.0 {
        1.0
    } else if ab == 0.0 {
        0.0
    } else {
        (ab / (aa.sqrt() * bb.sqrt())) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::cosine;

    #[test]
    fn cosine_of_zero_vectors_is_defined() {
        assert!((cosine(&[1.0, 0.0], &[1.0, 1.0]) - std::f32::consts::FRAC_1_SQRT_2).abs() < 1e-6);
        assert_eq!(cosine(&[0.0, 0.0], &[0.0, 0.0]), 1.0);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
        assert_eq!(cosine(&[2.0, 0.0], &[-1.0, 0.0]), -1.0);
    }
}
