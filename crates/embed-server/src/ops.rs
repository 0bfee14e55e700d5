//! The operator's endpoints: `GET /health` (ready or not), `GET /metrics` (Prometheus text:
//! the engine's metrics, then the server's) and `GET /openapi.json` (the API's description,
//! generated from the wire types). Open without an API key.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use embed_core::PrometheusText;

use crate::AppState;
use crate::wire::{Health, HealthStatus};

/// Whether the server takes work: 200 once the default model has run, 503 before that and
/// while shutting down.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    responses(
        (status = 200, description = "Warmed up and serving", body = Health),
        (status = 503, description = "Warming up or shutting down", body = Health),
    )
)]
pub(crate) async fn health(State(state): State<AppState>) -> Response {
    let model = state.inner.service.model().name();
    let model = if model.contains(['/', '\\']) { "custom".to_string() } else { model.to_string() };
    let (code, status) = if state.is_ready() {
        (StatusCode::OK, HealthStatus::Ok)
    } else if state.inner.stopping.load(Ordering::SeqCst) {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Stopping)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, HealthStatus::Starting)
    };
    (code, axum::Json(Health { status, model })).into_response()
}

/// Everything measured, in the Prometheus text format.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "Prometheus text", body = String, content_type = "text/plain"))
)]
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = PrometheusText::default();
    text.append(&state.inner.service.metrics_prometheus());
    state.inner.metrics.write_prometheus(&mut text);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text.finish()).into_response()
}

/// This API's OpenAPI 3 document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object))
)]
pub(crate) async fn openapi_json() -> Response {
    axum::Json(crate::openapi::document()).into_response()
}
