//! text-embeddings-inference's `GET /info`: the served default model (its hub id and commit
//! where known, the number type it computes in, its pooling, its maximum input length) and the
//! server's limits, in text-embeddings-inference's fields. It reads what the service and the
//! configuration already hold; it loads nothing.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use embed_core::{HubId, Pooling};

use crate::AppState;
use crate::wire::{EmbeddingModelInfo, Info, ModelType, TeiError};

/// The served model and the server's limits.
#[utoipa::path(
    get,
    path = "/info",
    tag = "text-embeddings-inference",
    responses(
        (status = 200, description = "The served default model and the limits", body = Info),
        (status = 401, description = "A missing or wrong API key", body = TeiError),
    ),
    security((), ("api_key" = []))
)]
pub(crate) async fn info(State(state): State<AppState>) -> Response {
    axum::Json(describe(&state)).into_response()
}

fn describe(state: &AppState) -> Info {
    let service = &state.inner.service;
    let config = &state.inner.config;
    let model = service.model();
    let name = model.name();
    // A model loaded from a directory is named by its path, which stays the server's own.
    let by_path = std::path::Path::new(name).exists();
    let model_id = match service.manifest().resolve(name) {
        Ok(resolved) => resolved.model.hub_repo.clone(),
        Err(_) if by_path => "custom".to_string(),
        Err(_) => HubId::parse(name).map(|id| id.repo).unwrap_or_else(|_| name.to_string()),
    };
    Info {
        model_id,
        model_sha: model.files().revision.clone(),
        model_dtype: model.dtype(),
        served_model_name: if by_path { "custom".to_string() } else { name.to_string() },
        model_type: ModelType::Embedding(EmbeddingModelInfo { pooling: pooling_name(model.pooling()) }),
        max_concurrent_requests: config.max_queued_inputs,
        max_input_length: model.max_tokens(),
        max_batch_tokens: service.batching().max_tokens,
        max_batch_requests: Some(state.inner.run_texts),
        max_client_batch_size: config.max_inputs_per_request,
        auto_truncate: config.auto_truncate,
        tokenization_workers: std::thread::available_parallelism().map_or(1, usize::from),
        version: env!("CARGO_PKG_VERSION"),
        sha: None,
        docker_label: None,
    }
}

/// The pooling's name as `1_Pooling/config.json`-era configs and text-embeddings-inference
/// write it.
fn pooling_name(pooling: Pooling) -> &'static str {
    match pooling {
        Pooling::Mean => "mean",
        Pooling::Cls => "cls",
        Pooling::Max => "max",
        Pooling::MeanSqrtLen => "mean_sqrt_len",
        Pooling::LastToken => "last_token",
        Pooling::WeightedMean => "weighted_mean",
    }
}
