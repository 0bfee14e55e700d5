//! The router: every endpoint and the layers around them. API keys guard the embedding,
//! tokenizer and model routes; `/health`, `/metrics` and `/openapi.json` stay open. Each family
//! of endpoints lives in a file of its own (`openai.rs`, `tei.rs`, `tokens.rs`, `info.rs`,
//! `tasks.rs`, `legacy.rs`, `models.rs`, `ops.rs`).

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::AppState;
use crate::middleware::{RequestIds, limit_body, not_found, track};

/// The router over `state`: every endpoint and middleware. [`crate::serve`] serves it; tests
/// may drive it directly.
pub fn router(state: AppState) -> Router {
    let max_body = state.inner.config.max_body_bytes;
    let protected = Router::new()
        .route("/v1/embeddings", post(crate::openai::openai_embeddings))
        .route("/embed", post(crate::tei::tei_embed))
        // text-embeddings-inference answers its model's task on `/` too; Hugging Face clients
        // given a base URL post there.
        .route("/", post(crate::tei::tei_root))
        .route("/embed_all", post(crate::tei::tei_embed_all))
        .route("/similarity", post(crate::tei::tei_similarity))
        .route("/tokenize", post(crate::tokens::tokenize))
        .route("/decode", post(crate::tokens::decode))
        .route("/info", get(crate::info::info))
        .route("/rerank", post(crate::tasks::rerank))
        .route("/predict", post(crate::tasks::predict))
        .route("/embed_sparse", post(crate::tasks::embed_sparse))
        .route("/api/v1/embed", post(crate::legacy::legacy_embed))
        .route("/api/v1/embed/batch", post(crate::legacy::legacy_embed_batch))
        .route("/v1/models", get(crate::models::list_models))
        .route_layer(from_fn_with_state(state.clone(), crate::auth::require_key));
    let open = Router::new()
        .route("/health", get(crate::ops::health))
        .route("/metrics", get(crate::ops::metrics))
        .route("/openapi.json", get(crate::ops::openapi_json));
    protected
        .merge(open)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(from_fn_with_state(state.clone(), limit_body))
        .layer(from_fn_with_state(state.clone(), track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id = %id, method = %request.method(), path = %request.uri().path())
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(RequestIds::default()))
        .with_state(state)
}
