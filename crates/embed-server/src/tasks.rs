//! text-embeddings-inference's routes for models embed does not serve yet: `POST /rerank`
//! (cross-encoders), `POST /predict` (sequence classifiers) and `POST /embed_sparse` (SPLADE).
//! Each reads its request as text-embeddings-inference does and answers what it answers when
//! its model is an embedding model: a request it would refuse first (malformed, empty, too many
//! inputs) gets that refusal, any other 424 with `error_type: "Backend"`.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;

use crate::AppState;
use crate::decode::{body_bytes, count_predict_inputs, parse_inputs, parse_json};
use crate::embedding::check_count;
use crate::error::{ApiError, Kind, Shape};
use crate::wire::{EmbedSparseRequest, Input, PredictRequest, RerankRequest, TeiError};

/// Ranks texts against a query; needs a cross-encoder (re-ranker) model.
#[utoipa::path(
    post,
    path = "/rerank",
    tag = "text-embeddings-inference",
    request_body = RerankRequest,
    responses(
        (status = 400, description = "`texts` is empty", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON or a wrong field", body = TeiError),
        (status = 424, description = "The served model is not a re-ranker", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn rerank(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let answer = || -> Result<Infallible, ApiError> {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let request: RerankRequest = parse_json(&bytes)?;
        if request.texts.is_empty() {
            return Err(ApiError::empty("`texts` cannot be empty").with_param("texts"));
        }
        Err(wrong_model(&state, "model is not a re-ranker model", "a cross-encoder"))
    };
    refused(answer())
}

/// Classifies texts or pairs of texts; needs a sequence-classification model.
#[utoipa::path(
    post,
    path = "/predict",
    tag = "text-embeddings-inference",
    request_body = PredictRequest,
    responses(
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON, a wrong field, more inputs than one request may carry", body = TeiError),
        (status = 424, description = "The served model is not a classifier", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn predict(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let answer = || -> Result<Infallible, ApiError> {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let request: PredictRequest = parse_json(&bytes)?;
        let count = count_predict_inputs(&request.inputs, "inputs")?;
        check_count(&state, count, "inputs")?;
        Err(wrong_model(&state, "Model is not a classifier model", "a sequence classifier"))
    };
    refused(answer())
}

/// Sparse embeddings; needs a SPLADE model.
#[utoipa::path(
    post,
    path = "/embed_sparse",
    tag = "text-embeddings-inference",
    request_body = EmbedSparseRequest,
    responses(
        (status = 400, description = "No input, or an empty one", body = TeiError),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
        (status = 413, description = "A body over the size limit", body = TeiError),
        (status = 422, description = "Malformed JSON, a wrong field, more inputs than one request may carry", body = TeiError),
        (status = 424, description = "The served model is not a SPLADE model", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn embed_sparse(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let answer = || -> Result<Infallible, ApiError> {
        let bytes = body_bytes(state.inner.config.max_body_bytes, body)?;
        let request: EmbedSparseRequest = parse_json(&bytes)?;
        let count = match parse_inputs(request.inputs, "inputs")? {
            Input::Text(_) | Input::TokenIds(_) => 1,
            Input::Texts(texts) => texts.len(),
            Input::TokenIdLists(lists) => lists.len(),
        };
        check_count(&state, count, "inputs")?;
        Err(wrong_model(&state, "Model is not an embedding model with SPLADE pooling", "a SPLADE model"))
    };
    refused(answer())
}

/// The 424 of a route the served model cannot answer, in text-embeddings-inference's words
/// (`what`), then embed's.
fn wrong_model(state: &AppState, what: &str, needs: &str) -> ApiError {
    let model = state.inner.service.model().name();
    let model = if std::path::Path::new(model).exists() { "custom" } else { model };
    ApiError::new(
        Kind::WrongModelType,
        format!("Backend error: {what}: the served model `{model}` is an embedding model; this route needs {needs}"),
    )
}

/// A refusal in text-embeddings-inference's shape.
fn refused(answer: Result<Infallible, ApiError>) -> Response {
    match answer {
        Ok(never) => match never {},
        Err(error) => error.into_shaped_response(Shape::Tei),
    }
}
