//! The HTTP routes: request parsing and validation, the shared embedding path that resolves the
//! model, splits a request into parts for the batcher and awaits them under the request
//! timeout, and each endpoint's response shape. Middleware: request ids, logging, per-route
//! metrics, the body limit (a body over it is read to its end before the 413), API keys.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use embed_core::{Embedding, TruncationSide};
use serde::Deserialize;
use serde_json::{Value, json};
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::AppState;
use crate::batcher::{GroupKey, Inputs, Part};
use crate::error::{ApiError, Shape};

/// The router over `state`: every endpoint and middleware. [`crate::serve`] serves it; tests
/// may drive it directly.
pub fn router(state: AppState) -> Router {
    let max_body = state.inner.config.max_body_bytes;
    let protected = Router::new()
        .route("/v1/embeddings", post(openai_embeddings))
        .route("/embed", post(tei_embed))
        // text-embeddings-inference answers its model's task on `/` too; Hugging Face clients
        // given a base URL post there.
        .route("/", post(tei_embed))
        .route("/api/v1/embed", post(legacy_embed))
        .route("/api/v1/embed/batch", post(legacy_embed_batch))
        .route("/v1/models", get(list_models))
        .route_layer(from_fn_with_state(state.clone(), crate::auth::require_key));
    let open = Router::new().route("/health", get(health)).route("/metrics", get(metrics));
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

/// Request ids for requests that come without `x-request-id`: the process start time and a
/// counter, unique within a process and across restarts.
#[derive(Clone)]
struct RequestIds {
    prefix: String,
}

impl Default for RequestIds {
    fn default() -> Self {
        let start =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
        Self { prefix: format!("{start:x}") }
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl MakeRequestId for RequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        HeaderValue::from_str(&format!("{}-{n:08x}", self.prefix)).ok().map(RequestId::new)
    }
}

/// Counts each request by route pattern and status, and times it.
async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let endpoint = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.inner.metrics.record_request(&endpoint, response.status().as_u16(), started.elapsed().as_secs_f64());
    response
}

/// Most bytes of a body over the limit that are read, and dropped, before its 413 is sent.
const DRAIN_BYTES: usize = 64 * 1024 * 1024;

/// Reads the request body under the size limit. A body over the limit (by its `Content-Length`
/// or as it arrives) is answered 413 only after the rest of it has been read and dropped, up to
/// [`DRAIN_BYTES`] (beyond that the connection closes): most clients send their whole body
/// before reading the answer, and a server that closes with the body unread resets the
/// connection, so they would see a broken pipe instead of the 413.
async fn limit_body(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let limit = state.inner.config.max_body_bytes;
    let (parts, mut body) = request.into_parts();
    let declared = parts.headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let mut over = declared.is_some_and(|length| length > limit as u64);
    let mut kept = Vec::new();
    let mut read = 0usize;
    while let Some(chunk) = next_chunk(&mut body).await {
        let chunk = match chunk {
            Ok(chunk) => chunk,
            Err(error) => {
                return ApiError::invalid(format!("cannot read the request body: {error}"))
                    .into_shaped_response(Shape::for_path(parts.uri.path()));
            }
        };
        read = read.saturating_add(chunk.len());
        over |= read > limit;
        if !over {
            kept.extend_from_slice(&chunk);
        } else if read > DRAIN_BYTES {
            break;
        }
    }
    if over {
        return ApiError::too_large(format!("the request body is larger than the limit of {limit} bytes"))
            .into_shaped_response(Shape::for_path(parts.uri.path()));
    }
    next.run(Request::from_parts(parts, axum::body::Body::from(kept))).await
}

/// The next piece of data of `body` (trailers skipped); `None` at its end.
async fn next_chunk(body: &mut axum::body::Body) -> Option<Result<Bytes, axum::Error>> {
    use axum::body::HttpBody;
    loop {
        match std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx)).await? {
            Ok(frame) => {
                if let Ok(data) = frame.into_data() {
                    return Some(Ok(data));
                }
            }
            Err(error) => return Some(Err(error)),
        }
    }
}

async fn not_found(request: Request) -> Response {
    let path = request.uri().path().to_string();
    ApiError {
        kind: crate::error::Kind::Invalid,
        status: StatusCode::NOT_FOUND,
        message: format!("no route for {} {path}", request.method()),
        param: None,
        retry_after: None,
    }
    .into_shaped_response(Shape::for_path(&path))
}

// ---------------------------------------------------------------------------------------------
// Models

/// What the handlers need to know of a model, cached by the name a client used.
#[derive(Debug, Clone)]
pub(crate) struct ModelInfo {
    name: String,
    dimension: usize,
    max_length: usize,
    vocab_size: usize,
    prompts: Vec<String>,
}

/// Model names already resolved, so most requests never block on the registry.
#[derive(Debug, Default)]
pub(crate) struct ModelCache {
    known: Mutex<HashMap<String, ModelInfo>>,
}

fn info_of(model: &embed_core::EmbeddingModel) -> ModelInfo {
    ModelInfo {
        name: model.files().name.clone(),
        dimension: model.dimension(),
        max_length: model.tokenizer().max_length(),
        vocab_size: model.tokenizer().vocab_size(),
        prompts: model.prompts().prompts.keys().cloned().collect(),
    }
}

/// Resolves the model a request names (`None`, "" or "default": the default model). Only
/// manifest names and models the server already holds are served; a path is never loaded on a
/// client's say.
async fn resolve_model(state: &AppState, requested: Option<&str>) -> Result<ModelInfo, ApiError> {
    let service = &state.inner.service;
    let default = service.model();
    let requested = match requested.map(str::trim) {
        None | Some("" | "default") => return Ok(info_of(default)),
        Some(name) if name == default.files().name => return Ok(info_of(default)),
        Some(name) => name.to_string(),
    };
    if let Some(info) = state.inner.models.known.lock().unwrap_or_else(PoisonError::into_inner).get(&requested) {
        return Ok(info.clone());
    }
    let held = service.pool_stats().models.iter().any(|m| m.name == requested);
    let in_manifest = embed_core::Manifest::builtin().resolve(&requested).is_ok();
    if !held && (!in_manifest || requested.contains(['/', '\\'])) {
        return Err(ApiError::unknown_model(&requested));
    }
    let service = service.clone();
    let name = requested.clone();
    let loaded = tokio::task::spawn_blocking(move || service.model_handle(&name).map(|handle| info_of(&handle)))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match loaded {
        Ok(info) => {
            state.inner.models.known.lock().unwrap_or_else(PoisonError::into_inner).insert(requested, info.clone());
            Ok(info)
        }
        Err(error) => {
            tracing::warn!(model = %requested, error = %error, "a requested model is unavailable");
            Err(ApiError::from_embed(&error, &requested))
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The shared embedding path

/// One request, whatever its endpoint.
struct EmbedJob {
    model: Option<String>,
    inputs: Inputs,
    normalize: Option<bool>,
    prompt: Option<String>,
    truncation: Option<TruncationSide>,
    truncate: bool,
    dimensions: Option<i64>,
}

impl EmbedJob {
    fn inputs_len(&self) -> usize {
        match &self.inputs {
            Inputs::Texts(texts) => texts.len(),
            Inputs::TokenIds(ids) => ids.len(),
        }
    }
}

/// The embeddings of one request, `dimensions` applied.
struct EmbedOutcome {
    model: String,
    embeddings: Vec<Embedding>,
}

async fn embed(state: &AppState, job: EmbedJob, input_param: &'static str) -> Result<EmbedOutcome, ApiError> {
    let config = &state.inner.config;
    let count = job.inputs_len();
    if count > config.max_inputs_per_request {
        return Err(ApiError::too_large(format!(
            "batch size {count} > maximum allowed batch size {}: send at most {} inputs per request",
            config.max_inputs_per_request, config.max_inputs_per_request
        ))
        .with_param(input_param));
    }
    let info = resolve_model(state, job.model.as_deref()).await?;
    if let Some(prompt) = &job.prompt
        && !info.prompts.contains(prompt)
    {
        return Err(ApiError::invalid(format!(
            "model `{}` has no prompt `{prompt}`; its prompts: {}",
            info.name,
            if info.prompts.is_empty() { "none".to_string() } else { info.prompts.join(", ") }
        ))
        .with_param("prompt_name"));
    }
    let dimensions = match job.dimensions {
        None => None,
        Some(d) if d >= 1 && (d as u64) <= info.dimension as u64 => Some(d as usize),
        Some(d) => {
            return Err(ApiError::invalid(format!(
                "`dimensions` must be between 1 and {} for model `{}`, found {d}",
                info.dimension, info.name
            ))
            .with_param("dimensions"));
        }
    };
    if let Inputs::TokenIds(lists) = &job.inputs {
        for (index, ids) in lists.iter().enumerate() {
            if let Some(bad) = ids.iter().find(|&&id| id as usize >= info.vocab_size) {
                return Err(ApiError::invalid(format!(
                    "token id {bad} of input {index} is outside the vocabulary of model `{}` (0..{})",
                    info.name, info.vocab_size
                ))
                .with_param(input_param));
            }
        }
    }
    let normalize = job.normalize.unwrap_or(state.inner.service.default_options().normalize);
    let key = GroupKey {
        model: info.name.clone(),
        normalize,
        prompt: job.prompt,
        truncation: job.truncation,
        truncate: job.truncate,
        token_ids: matches!(job.inputs, Inputs::TokenIds(_)),
    };
    let size = config.max_batch_size;
    let mut parts = Vec::new();
    let mut receivers = Vec::new();
    let mut push = |inputs: Inputs| {
        let (part, receiver) = Part::new(key.clone(), inputs, info.max_length);
        parts.push(part);
        receivers.push(receiver);
    };
    match job.inputs {
        Inputs::Texts(texts) => chunked(texts, size).into_iter().for_each(|c| push(Inputs::Texts(c))),
        Inputs::TokenIds(ids) => chunked(ids, size).into_iter().for_each(|c| push(Inputs::TokenIds(c))),
    }
    state.inner.batcher.submit(parts).map_err(|full| ApiError::overloaded(full.queued, full.limit))?;
    let model = info.name.clone();
    let wait = async {
        let mut embeddings = Vec::with_capacity(count);
        for receiver in receivers {
            match receiver.await {
                Ok(Ok(rows)) => embeddings.extend(rows),
                Ok(Err(error)) => return Err(ApiError::from_embed(&error, &model)),
                Err(_) => return Err(ApiError::unavailable("the server is shutting down")),
            }
        }
        Ok(embeddings)
    };
    let mut embeddings = match tokio::time::timeout(config.request_timeout, wait).await {
        Ok(result) => result?,
        Err(_) => {
            state.inner.metrics.timed_out.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::timeout(config.request_timeout.as_secs_f64()));
        }
    };
    if let Some(d) = dimensions {
        for embedding in &mut embeddings {
            embedding.vector.truncate(d);
            if normalize {
                embed_core::normalize(&mut embedding.vector);
            }
        }
    }
    Ok(EmbedOutcome { model: info.name, embeddings })
}

fn chunked<T>(items: Vec<T>, size: usize) -> Vec<Vec<T>> {
    let mut out = Vec::with_capacity(items.len().div_ceil(size));
    let mut items = items.into_iter().peekable();
    while items.peek().is_some() {
        out.push(items.by_ref().take(size).collect());
    }
    out
}

/// Parses an input field: a string, strings, token ids, or lists of token ids.
fn parse_inputs(value: Value, param: &'static str) -> Result<Inputs, ApiError> {
    let shape_error = || {
        ApiError::invalid(format!(
            "`{param}` must be a string, an array of strings, an array of token ids or an array of arrays of token ids"
        ))
        .with_param(param)
    };
    let empty_text =
        |i: usize| ApiError::empty(format!("`{param}` holds an empty string at index {i}")).with_param(param);
    let token = |v: &Value| v.as_u64().and_then(|n| u32::try_from(n).ok());
    match value {
        Value::String(text) if text.is_empty() => {
            Err(ApiError::empty(format!("`{param}` cannot be an empty string")).with_param(param))
        }
        Value::String(text) => Ok(Inputs::Texts(vec![text])),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::empty(format!("`{param}` cannot be empty")).with_param(param))
        }
        Value::Array(items) => match &items[0] {
            Value::String(_) => {
                let mut texts = Vec::with_capacity(items.len());
                for (i, item) in items.into_iter().enumerate() {
                    match item {
                        Value::String(text) if text.is_empty() => return Err(empty_text(i)),
                        Value::String(text) => texts.push(text),
                        _ => return Err(shape_error()),
                    }
                }
                Ok(Inputs::Texts(texts))
            }
            Value::Number(_) => {
                let ids: Option<Vec<u32>> = items.iter().map(token).collect();
                Ok(Inputs::TokenIds(vec![ids.ok_or_else(shape_error)?]))
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
                Ok(Inputs::TokenIds(lists))
            }
            _ => Err(shape_error()),
        },
        _ => Err(shape_error()),
    }
}

/// The request body's bytes, a too-large body turned into 413 and an unreadable one into 400.
fn body_bytes(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the request body is larger than the limit of {} bytes",
                state.inner.config.max_body_bytes
            ))
        } else {
            ApiError::invalid(format!("cannot read the request body: {}", rejection.body_text()))
        }
    })
}

/// Parses a JSON body; anything malformed is a 400 naming the problem, and the field where
/// a value has the wrong type or is out of range (`dimensions: "8"`).
fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
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

/// The endpoints that take inputs to embed in a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// `POST /v1/embeddings`.
    OpenAi,
    /// `POST /embed` (and `POST /`).
    Tei,
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
            Self::Tei => "inputs",
            Self::Legacy => "text",
            Self::LegacyBatch => "texts",
        }
    }

    /// The shape of the endpoint's error bodies.
    pub(crate) fn shape(self) -> Shape {
        match self {
            Self::OpenAi => Shape::OpenAi,
            Self::Tei => Shape::Tei,
            Self::Legacy | Self::LegacyBatch => Shape::Legacy,
        }
    }
}

/// A request body decoded and checked as far as it can be without the model or the queue.
pub(crate) struct Decoded {
    job: EmbedJob,
    /// OpenAI's `encoding_format: "base64"`.
    base64: bool,
}

impl Decoded {
    /// The inputs, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn into_inputs(self) -> Inputs {
        self.job.inputs
    }
}

/// Decodes the JSON body of a request to `endpoint`: the one parser every handler uses (and
/// the HTTP fuzz target). `auto_truncate` is what `/embed` does when the request does not say.
/// On success the job holds at least one input, no empty text and no empty list of token ids.
pub(crate) fn decode(endpoint: Endpoint, body: &[u8], auto_truncate: bool) -> Result<Decoded, ApiError> {
    let param = endpoint.input_param();
    let (job, base64) = match endpoint {
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
            let job = EmbedJob {
                model: request.model,
                inputs: parse_inputs(request.input, param)?,
                normalize: None,
                prompt: None,
                truncation: None,
                truncate: true,
                dimensions: request.dimensions,
            };
            (job, base64)
        }
        Endpoint::Tei => {
            let request: TeiRequest = parse_json(body)?;
            let job = EmbedJob {
                model: request.model,
                inputs: parse_inputs(request.inputs, param)?,
                normalize: request.normalize,
                prompt: request.prompt_name,
                truncation: request.truncation_direction.map(|d| match d {
                    Direction::Left => TruncationSide::Left,
                    Direction::Right => TruncationSide::Right,
                }),
                truncate: request.truncate.unwrap_or(auto_truncate),
                dimensions: request.dimensions,
            };
            (job, false)
        }
        Endpoint::Legacy => {
            let request: LegacyRequest = parse_json(body)?;
            if request.text.is_empty() {
                return Err(ApiError::empty("`text` cannot be empty").with_param(param));
            }
            (legacy_job(request.model, vec![request.text], param)?, false)
        }
        Endpoint::LegacyBatch => {
            let request: LegacyBatchRequest = parse_json(body)?;
            (legacy_job(request.model, request.texts, param)?, false)
        }
    };
    if job.inputs_len() == 0 {
        return Err(ApiError::empty(format!("`{param}` cannot be empty")).with_param(param));
    }
    Ok(Decoded { job, base64 })
}

// ---------------------------------------------------------------------------------------------
// OpenAI: POST /v1/embeddings

#[derive(Deserialize)]
struct OpenAiRequest {
    input: Value,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    encoding_format: Option<String>,
    #[serde(default)]
    dimensions: Option<i64>,
    /// Accepted and ignored, as an end-user id for the operator's own logs would be.
    #[serde(default)]
    #[allow(dead_code)]
    user: Option<String>,
}

async fn openai_embeddings(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    match openai_inner(&state, body).await {
        Ok(response) => response,
        Err(error) => error.into_shaped_response(Endpoint::OpenAi.shape()),
    }
}

async fn openai_inner(state: &AppState, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let bytes = body_bytes(state, body)?;
    let Decoded { job, base64 } = decode(Endpoint::OpenAi, &bytes, state.inner.config.auto_truncate)?;
    let outcome = embed(state, job, Endpoint::OpenAi.input_param()).await?;
    let tokens: usize = outcome.embeddings.iter().map(|e| e.tokens).sum();
    let data: Vec<Value> = outcome
        .embeddings
        .into_iter()
        .enumerate()
        .map(|(index, e)| {
            let embedding = if base64 { json!(encode_base64(&e.vector)) } else { json!(e.vector) };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    Ok(axum::Json(json!({
        "object": "list",
        "data": data,
        "model": outcome.model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }))
    .into_response())
}

/// Base64 of the vector's little-endian `f32` bytes, as OpenAI encodes it.
fn encode_base64(vector: &[f32]) -> String {
    let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// text-embeddings-inference: POST /embed

#[derive(Deserialize)]
struct TeiRequest {
    inputs: Value,
    #[serde(default)]
    truncate: Option<bool>,
    #[serde(default)]
    truncation_direction: Option<Direction>,
    #[serde(default)]
    normalize: Option<bool>,
    #[serde(default)]
    prompt_name: Option<String>,
    #[serde(default)]
    dimensions: Option<i64>,
    /// Not in TEI (one model per server); here any model the server offers.
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize, Clone, Copy)]
enum Direction {
    #[serde(alias = "left", alias = "LEFT")]
    Left,
    #[serde(alias = "right", alias = "RIGHT")]
    Right,
}

async fn tei_embed(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(&state, body)?;
        let decoded = decode(Endpoint::Tei, &bytes, state.inner.config.auto_truncate)?;
        embed(&state, decoded.job, Endpoint::Tei.input_param()).await
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

// ---------------------------------------------------------------------------------------------
// The Go original: POST /api/v1/embed and /api/v1/embed/batch

#[derive(Deserialize)]
struct LegacyRequest {
    text: String,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct LegacyBatchRequest {
    texts: Vec<String>,
    #[serde(default)]
    model: Option<String>,
}

fn legacy_job(model: Option<String>, texts: Vec<String>, param: &'static str) -> Result<EmbedJob, ApiError> {
    if let Some(i) = texts.iter().position(String::is_empty) {
        return Err(ApiError::empty(format!("`{param}` holds an empty string at index {i}")).with_param(param));
    }
    Ok(EmbedJob {
        model,
        inputs: Inputs::Texts(texts),
        normalize: None,
        prompt: None,
        truncation: None,
        truncate: true,
        dimensions: None,
    })
}

async fn legacy_embed(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(&state, body)?;
        let decoded = decode(Endpoint::Legacy, &bytes, state.inner.config.auto_truncate)?;
        embed(&state, decoded.job, Endpoint::Legacy.input_param()).await
    }
    .await;
    match result {
        Ok(outcome) => {
            let vector = outcome.embeddings.into_iter().next().map(|e| e.vector).unwrap_or_default();
            axum::Json(json!({"embedding": vector, "dimension": vector.len(), "model": outcome.model})).into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::Legacy.shape()),
    }
}

async fn legacy_embed_batch(State(state): State<AppState>, body: Result<Bytes, BytesRejection>) -> Response {
    let result = async {
        let bytes = body_bytes(&state, body)?;
        let decoded = decode(Endpoint::LegacyBatch, &bytes, state.inner.config.auto_truncate)?;
        embed(&state, decoded.job, Endpoint::LegacyBatch.input_param()).await
    }
    .await;
    match result {
        Ok(outcome) => {
            let count = outcome.embeddings.len();
            let vectors: Vec<Vec<f32>> = outcome.embeddings.into_iter().map(|e| e.vector).collect();
            let dimension = vectors.first().map_or(0, Vec::len);
            axum::Json(json!({"embeddings": vectors, "dimension": dimension, "model": outcome.model, "count": count}))
                .into_response()
        }
        Err(error) => error.into_shaped_response(Endpoint::LegacyBatch.shape()),
    }
}

// ---------------------------------------------------------------------------------------------
// GET /v1/models, /health, /metrics

async fn list_models(State(state): State<AppState>) -> Response {
    let service = &state.inner.service;
    let stats = service.pool_stats();
    let default = service.model().files().name.clone();
    let loaded = |name: &str| stats.model(name).is_some_and(|m| m.state == embed_core::ModelState::Loaded);
    let manifest = embed_core::Manifest::builtin();
    // Prompts and fetched variants as the model cache holds them (reading small files only).
    let known = service.known_models();
    let described = |name: &str| {
        let model = known.iter().find(|k| k.name == name);
        let prompts = model.map(|k| &k.prompts);
        json!({
            "prompts": prompts.map(|p| p.prompts.clone()).unwrap_or_default(),
            "default_prompt_name": prompts.and_then(|p| p.default_name.clone()),
            "fetched": model.map(|k| k.fetched.iter().map(|v| v.variant.clone()).collect::<Vec<_>>()).unwrap_or_default(),
        })
    };
    // The registry names models `name:variant`; the list names a model by its plain name
    // (its default variant) and adds other variants only while they are loaded.
    let mut listed = Vec::new();
    let mut data: Vec<Value> = Vec::new();
    for m in &manifest.models {
        let full = manifest.resolve(&m.name).map(|r| r.display_name()).unwrap_or_else(|_| m.name.clone());
        let mut entry = json!({
            "id": m.name, "object": "model", "created": 0, "owned_by": "embed",
            "dimension": m.dimension, "max_tokens": m.max_seq_length,
            "loaded": loaded(&full), "default": full == default,
        });
        merge(&mut entry, described(&m.name));
        data.push(entry);
        listed.push(full);
    }
    for model in &stats.models {
        if listed.contains(&model.name)
            || model.name.contains(['/', '\\'])
            || model.state != embed_core::ModelState::Loaded
        {
            continue;
        }
        let resolved = manifest.resolve(&model.name).ok();
        let mut entry = json!({
            "id": model.name, "object": "model", "created": 0, "owned_by": "embed",
            "dimension": resolved.as_ref().map(|r| r.model.dimension),
            "max_tokens": resolved.as_ref().map(|r| r.model.max_seq_length),
            "loaded": true, "default": model.name == default,
        });
        if let Some(resolved) = &resolved {
            merge(&mut entry, described(&resolved.model.name));
        }
        data.push(entry);
    }
    axum::Json(json!({"object": "list", "data": data})).into_response()
}

/// Adds the fields of `extra` (an object) to `entry` (an object).
fn merge(entry: &mut Value, extra: Value) {
    if let (Value::Object(entry), Value::Object(extra)) = (entry, extra) {
        entry.extend(extra);
    }
}

async fn health(State(state): State<AppState>) -> Response {
    let model = state.inner.service.model().files().name.clone();
    let model = if model.contains(['/', '\\']) { "custom".to_string() } else { model };
    if state.is_ready() {
        (StatusCode::OK, axum::Json(json!({"status": "ok", "model": model}))).into_response()
    } else {
        let status = if state.inner.stopping.load(Ordering::SeqCst) { "stopping" } else { "starting" };
        (StatusCode::SERVICE_UNAVAILABLE, axum::Json(json!({"status": status, "model": model}))).into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let mut text = state.inner.service.metrics_prometheus();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&state.inner.metrics.prometheus());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_parse_in_every_shape() {
        assert!(matches!(parse_inputs(json!("a"), "input"), Ok(Inputs::Texts(t)) if t == ["a"]));
        assert!(matches!(parse_inputs(json!(["a", "b"]), "input"), Ok(Inputs::Texts(t)) if t.len() == 2));
        assert!(matches!(parse_inputs(json!([1, 2, 3]), "input"), Ok(Inputs::TokenIds(t)) if t == [vec![1, 2, 3]]));
        assert!(matches!(parse_inputs(json!([[1], [2, 3]]), "input"), Ok(Inputs::TokenIds(t)) if t.len() == 2));
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
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(error.message.contains("`input`"), "{bad}: {}", error.message);
        }
    }

    /// Found by the http_request fuzz target: serde took `["base64"]` for `{"input": "base64"}`.
    #[test]
    fn a_body_that_is_an_array_is_refused() {
        for endpoint in [Endpoint::OpenAi, Endpoint::Tei, Endpoint::Legacy, Endpoint::LegacyBatch] {
            for body in [&b"[\"base64\"]"[..], b" \n[[\"a\", \"b\"], \"all-MiniLM-L6-v2\"]", b"[]"] {
                let error = decode(endpoint, body, true).err().expect("an array body is refused");
                assert_eq!(error.status, StatusCode::BAD_REQUEST, "{endpoint:?}");
                assert_eq!(error.message, "invalid JSON body: expected an object, found an array");
            }
            // The same fields in an object are read.
            let object = decode(endpoint, br#" {"input": "a", "inputs": "a", "text": "a", "texts": ["a"]}"#, true);
            assert_eq!(object.map(|d| d.job.inputs_len()).ok(), Some(1), "{endpoint:?}");
        }
    }

    #[test]
    fn base64_is_little_endian_f32() {
        let encoded = encode_base64(&[1.0, -2.5]);
        let bytes = base64::engine::general_purpose::STANDARD.decode(encoded).unwrap_or_default();
        assert_eq!(bytes, [1.0f32.to_le_bytes(), (-2.5f32).to_le_bytes()].concat());
    }

    #[test]
    fn chunks_cover_every_item_in_order() {
        let parts = chunked((0..10).collect(), 4);
        assert_eq!(parts, vec![vec![0, 1, 2, 3], vec![4, 5, 6, 7], vec![8, 9]]);
    }
}
