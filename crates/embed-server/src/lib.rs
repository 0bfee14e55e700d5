//! embed-server: the HTTP edge of embed. OpenAI's `/v1/embeddings`, text-embeddings-inference's
//! API (`/embed`, `/embed_all`, `/similarity`, `/tokenize`, `/decode`, `/info`, and `/rerank`,
//! `/predict`, `/embed_sparse` for the models it does not serve yet), the Go original's
//! `/api/v1/embed` and `/api/v1/embed/batch`, plus `/v1/models`, `/health` and `/metrics`, over
//! one [`embed_core::Service`].
//!
//! Requests from many clients meet in one queue; a batcher on dedicated threads forms batches
//! under a token budget and runs them synchronously on the service (never on the async
//! runtime's workers), then hands each request its own rows back through a oneshot channel.
//! This crate knows only embed-core's public API: nothing of tokenizers or ONNX Runtime.
//!
//! ```no_run
//! # async fn run() -> Result<(), embed_server::ServerError> {
//! let service = embed_core::Service::new(embed_core::Config::default())?;
//! let config = embed_server::ServerConfig::default();
//! embed_server::serve(service, config, async {
//!     let _ = tokio::signal::ctrl_c().await;
//! })
//! .await
//! # }
//! ```
//!
//! # Endpoints
//!
//! `POST /v1/embeddings` (OpenAI's); text-embeddings-inference's `POST /embed` (and `POST /`),
//! `POST /embed_all`, `POST /similarity`, `POST /tokenize`, `POST /decode`, `GET /info`, and
//! `POST /rerank`, `POST /predict`, `POST /embed_sparse`, which answer 424 as
//! text-embeddings-inference does when its model is an embedding model; `POST /api/v1/embed`
//! and `POST /api/v1/embed/batch` (the Go original's), `GET /v1/models`, `GET /health`,
//! `GET /metrics`, and `GET /openapi.json`: the OpenAPI 3 document of all of them, generated
//! from the request and response types the server uses (`wire.rs`), with each status code and
//! error shape.
//!
//! Status codes, OpenAI's and the Go original's endpoints: 400 malformed JSON, a wrong field,
//! empty input, an unknown prompt, `dimensions` out of range, a token id outside the
//! vocabulary; 401 a missing or wrong API key; 404 an unknown model (unless it is one of
//! [`ServerConfig::model_aliases`], or [`ServerConfig::any_model_name`] has the default model
//! answer every name); 413 a body over the size
//! limit, more inputs than allowed in one request, a text over the model's maximum length when
//! truncation is off (refused before it queues); 429 the queue is full (with `Retry-After`);
//! 504 the request took longer than the request timeout (its work is dropped); 503 (with
//! `Retry-After`) a model that could not be loaded (the next request tries again), no room in
//! the model memory budget, or a request cut short by shutdown; 500 an internal error, whose
//! body never says more than "internal error". text-embeddings-inference's routes answer as it
//! does: 400 only for empty input, 422 for everything else it validates (malformed JSON, too
//! many inputs, a text too long), 424 for a task the served model cannot do; the others as
//! above.
//!
//! # Batching
//!
//! A request is prepared as soon as it arrives (tokenized, counted, refused if too long), then
//! queued in parts of at most [`ServerConfig::max_batch_size`] texts (`MAX_BATCH_SIZE`). A
//! worker gathers parts of the same model and options into one run of at most that many texts
//! and as many tokens as its inference calls hold; embed-core's batching policy then splits the
//! run into inference calls of at most `BATCH_SIZE` texts and `MAX_BATCH_TOKENS` tokens
//! (`embed_core::BatchPolicy`). By default a run is one inference call, and as many runs go at
//! once as the default model's engine runs side by side.

mod auth;
mod batcher;
mod decode;
mod embedding;
mod error;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod info;
mod legacy;
mod listener;
mod metrics;
mod middleware;
mod models;
mod openai;
mod openapi;
mod ops;
mod routes;
mod tasks;
mod tei;
mod tokens;
mod wire;

use std::collections::BTreeMap;
use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub use error::ServerError;
pub use routes::router;

use crate::batcher::Batcher;
use crate::metrics::Metrics;

/// Everything the server needs besides the service.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on; loopback by default. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Most texts in one run of the batcher (`MAX_BATCH_SIZE`); larger requests are split into
    /// parts of this size. A run becomes inference calls as the service's batching policy says
    /// (`BATCH_SIZE` texts and `MAX_BATCH_TOKENS` tokens each). `None`: the service's
    /// `BATCH_SIZE`, so that a run is one inference call.
    pub max_batch_size: Option<usize>,
    /// How long the batcher waits for more requests while the queue holds less than a full
    /// batch. Zero runs whatever is queued at once.
    pub batch_wait: Duration,
    /// Most inputs one request may carry (more: 413).
    pub max_inputs_per_request: usize,
    /// Most inputs waiting in the queue, all requests together (more: 429).
    pub max_queued_inputs: usize,
    /// Largest request body in bytes (more: 413).
    pub max_body_bytes: usize,
    /// How long a request may take, queueing included (more: 504, and its work is dropped).
    pub request_timeout: Duration,
    /// After the shutdown signal, how long requests already accepted may take to finish.
    pub shutdown_timeout: Duration,
    /// Threads running inference (`INFERENCE_WORKERS`), each one run at a time. `None`: as
    /// many as the default model's engine runs side by side (the native engine's threads, ONNX
    /// Runtime's sessions), so that runs go side by side as a library call's batches do.
    pub workers: Option<usize>,
    /// Bearer tokens accepted; empty: no authentication. `/health` and `/metrics` stay open.
    pub api_keys: Vec<String>,
    /// Other names for models the server serves, alias → model (a manifest name, `name:variant`,
    /// or the default model's name), on every endpoint that takes a model: OpenAI's clients send
    /// their own names (`text-embedding-3-small`).
    pub model_aliases: BTreeMap<String, String>,
    /// Answer a request naming a model the server does not serve with the default model, as
    /// text-embeddings-inference does, instead of 404.
    pub any_model_name: bool,
    /// Whether text-embeddings-inference's routes (`/embed`, `/embed_all`, `/similarity`)
    /// truncate texts over the model's maximum length when the request does not say
    /// (`truncate`). The other endpoints always truncate, as sentence-transformers does.
    pub auto_truncate: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_batch_size: None,
            batch_wait: Duration::from_millis(2),
            max_inputs_per_request: 2048,
            max_queued_inputs: 16_384,
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout: Duration::from_secs(60),
            shutdown_timeout: Duration::from_secs(30),
            workers: None,
            api_keys: Vec::new(),
            auto_truncate: true,
            model_aliases: BTreeMap::new(),
            any_model_name: false,
        }
    }
}

impl ServerConfig {
    fn validate(&self) -> Result<(), ServerError> {
        let positive = [
            ("max_batch_size", self.max_batch_size.unwrap_or(1)),
            ("max_inputs_per_request", self.max_inputs_per_request),
            ("max_queued_inputs", self.max_queued_inputs),
            ("max_body_bytes", self.max_body_bytes),
            ("workers", self.workers.unwrap_or(1)),
        ];
        for (setting, value) in positive {
            if value == 0 {
                return Err(ServerError::InvalidSetting { setting, expected: "at least 1".into(), found: "0".into() });
            }
        }
        if self.max_queued_inputs < self.max_inputs_per_request {
            return Err(ServerError::InvalidSetting {
                setting: "max_queued_inputs",
                expected: format!(
                    "at least max_inputs_per_request ({}), or a request that fits could never be queued",
                    self.max_inputs_per_request
                ),
                found: self.max_queued_inputs.to_string(),
            });
        }
        if let Some((alias, model)) =
            self.model_aliases.iter().find(|(alias, model)| alias.trim().is_empty() || model.trim().is_empty())
        {
            return Err(ServerError::InvalidSetting {
                setting: "model_aliases",
                expected: "ALIAS=MODEL, neither empty".into(),
                found: format!("`{alias}={model}`"),
            });
        }
        if self.api_keys.iter().any(|key| key.is_empty()) {
            return Err(ServerError::InvalidSetting {
                setting: "api_keys",
                expected: "non-empty keys".into(),
                found: "an empty key".into(),
            });
        }
        Ok(())
    }
}

/// State shared by the handlers: the service, the batcher, the metrics.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<StateInner>,
}

struct StateInner {
    service: embed_core::Service,
    config: ServerConfig,
    batcher: Batcher,
    metrics: Arc<Metrics>,
    /// Most texts in one run of the batcher: requests are queued in parts of this size.
    run_texts: usize,
    ready: AtomicBool,
    stopping: AtomicBool,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").field("config", &self.inner.config).finish_non_exhaustive()
    }
}

impl AppState {
    /// Starts the batcher's threads over `service`. The server reports healthy only after
    /// [`AppState::warm_up`] (which [`serve`] calls) has run the default model once.
    pub fn new(service: embed_core::Service, config: ServerConfig) -> Result<Self, ServerError> {
        config.validate()?;
        if let Some((alias, model)) = config.model_aliases.iter().find(|(_, model)| !embedding::serves(&service, model))
        {
            return Err(ServerError::InvalidSetting {
                setting: "model_aliases",
                expected: "a model the server serves: a known name (`name[:variant]`) or the default model's".into(),
                found: format!("`{alias}={model}`"),
            });
        }
        let metrics = Arc::new(Metrics::new());
        let run_texts = config.max_batch_size.unwrap_or(service.batching().max_texts);
        let batching = batcher::BatchConfig {
            run: service.batching().for_runs_of(run_texts),
            batch_wait: config.batch_wait,
            max_queued_inputs: config.max_queued_inputs,
            workers: config.workers.unwrap_or_else(|| service.model().concurrent_runs()),
        };
        tracing::debug!(run_texts, workers = batching.workers, "batching");
        let batcher = Batcher::start(service.clone(), batching, Arc::clone(&metrics))?;
        Ok(Self {
            inner: Arc::new(StateInner {
                service,
                config,
                batcher,
                metrics,
                run_texts,
                ready: AtomicBool::new(false),
                stopping: AtomicBool::new(false),
            }),
        })
    }

    /// Runs the default model once through the batcher, then marks the server healthy.
    pub async fn warm_up(&self) -> Result<(), ServerError> {
        let started = std::time::Instant::now();
        let service = self.inner.service.clone();
        tokio::task::spawn_blocking(move || service.embed("warm up"))
            .await
            .map_err(|_| ServerError::WarmUpPanicked)??;
        self.inner.ready.store(true, Ordering::SeqCst);
        tracing::info!(elapsed_ms = started.elapsed().as_millis() as u64, "warm-up done; ready");
        Ok(())
    }

    /// Whether warm-up is done and shutdown has not begun.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst) && !self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Stops the batcher's threads after the work already queued (requests whose clients left
    /// are skipped). Blocks; call it off the async runtime's workers.
    pub fn stop_batcher(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        self.inner.batcher.stop();
    }
}

/// Binds `config.addr`, warms the default model up, and serves until `shutdown` completes;
/// then stops accepting, lets requests already accepted finish within
/// `config.shutdown_timeout`, stops the batcher and returns.
pub async fn serve(
    service: embed_core::Service,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let listener = tokio::net::TcpListener::bind(config.addr)
        .await
        .map_err(|source| ServerError::Bind { addr: config.addr, source })?;
    serve_on(listener, service, config, shutdown, |_| {}).await
}

/// Like [`serve`], on a listener already bound (tests bind port 0). `on_ready` is called with
/// the state once the server accepts connections (before warm-up ends).
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    service: embed_core::Service,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
    on_ready: impl FnOnce(&AppState),
) -> Result<(), ServerError> {
    let shutdown_timeout = config.shutdown_timeout;
    let local = listener.local_addr().map_err(|source| ServerError::Bind { addr: config.addr, source })?;
    let state = AppState::new(service, config)?;
    let app = router(state.clone());
    tracing::info!(addr = %local, "listening");
    on_ready(&state);

    let warm = state.clone();
    let warm_up = tokio::spawn(async move {
        if let Err(error) = warm.warm_up().await {
            tracing::error!(error = &error as &dyn std::error::Error, "warm-up failed; /health stays 503");
        }
    });

    let signalled = Arc::new(tokio::sync::Notify::new());
    let notify = Arc::clone(&signalled);
    let stopping = state.clone();
    let (stop_accepting, accepting) = tokio::sync::watch::channel(false);
    let graceful = async move {
        shutdown.await;
        stopping.inner.stopping.store(true, Ordering::SeqCst);
        tracing::info!("shutdown signal received; finishing requests already accepted");
        notify.notify_one();
        // First the listener closes (answering connections still in its queue with 503);
        // connections already accepted get a moment to read their request before axum tells
        // them to finish: one accepted just before the signal would otherwise be closed as
        // idle, its request unread and unanswered.
        let _ = stop_accepting.send(true);
        tokio::time::sleep(listener::GRACE).await;
    };
    let listener = listener::DrainingListener::new(listener, accepting);
    let server = axum::serve(listener, app).with_graceful_shutdown(graceful).into_future();
    let deadline = async {
        signalled.notified().await;
        tokio::time::sleep(shutdown_timeout).await;
    };
    let result = tokio::select! {
        result = server => result.map_err(ServerError::Serve),
        () = deadline => {
            tracing::warn!(timeout_s = shutdown_timeout.as_secs_f64(), "shutdown deadline passed; dropping requests still running");
            Ok(())
        }
    };
    warm_up.abort();
    let stopper = state.clone();
    let _ = tokio::task::spawn_blocking(move || stopper.stop_batcher()).await;
    tracing::info!("stopped");
    result
}
