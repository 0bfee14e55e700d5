//! Errors: [`ServerError`] for starting and running the server, [`ApiError`] for one request,
//! written in the error shape of the endpoint that failed (OpenAI's envelope, TEI's
//! `{"error","error_type"}`, the Go original's `{"error","code"}`).
//!
//! An `ApiError` from an internal failure carries only "internal error" to the client; the
//! cause is logged. Nothing here knows how requests are batched.

use std::net::SocketAddr;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use embed_core::{EmbedError, PoolError, TokenizeError};

use crate::wire::{LegacyError, OpenAiError, OpenAiErrorDetail, TeiError, TeiErrorType};

/// Errors from starting or running the server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// The listening address could not be bound.
    #[error("cannot listen on {addr}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped on an I/O error.
    #[error("the server failed")]
    Serve(#[source] std::io::Error),
    /// A configuration value is out of range.
    #[error("invalid server setting `{setting}`: expected {expected}, found {found}")]
    InvalidSetting {
        /// The setting.
        setting: &'static str,
        /// What it takes.
        expected: String,
        /// What it was given.
        found: String,
    },
    /// A thread the server needs could not be started.
    #[error("cannot start the {name} thread")]
    ThreadStart {
        /// The thread's name.
        name: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Internal fault: the warm-up panicked. The panic's message is on stderr.
    #[error("internal error: the warm-up panicked")]
    WarmUpPanicked,
    /// The service failed (warm-up, model loading).
    #[error(transparent)]
    Embed(#[from] EmbedError),
}

/// Which endpoint family an error is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Shape {
    /// `{"error": {"message", "type", "param", "code"}}`.
    OpenAi,
    /// `{"error", "error_type"}` as text-embeddings-inference writes it.
    Tei,
    /// `{"error", "code"}`, the Go original's endpoints.
    Legacy,
}

impl Shape {
    /// The shape of errors for a request path.
    pub(crate) fn for_path(path: &str) -> Self {
        if path.starts_with("/v1/") {
            Self::OpenAi
        } else if path.starts_with("/api/") {
            Self::Legacy
        } else {
            Self::Tei
        }
    }
}

/// What went wrong, independent of the shape it is written in. The status code follows from
/// the kind and the shape ([`ApiError::status`]): text-embeddings-inference answers a request it
/// cannot take with 422 where OpenAI's API and the Go original answer 400 or 413.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Malformed JSON, a wrong field, a value out of range.
    Invalid,
    /// No input at all, or an empty text.
    Empty,
    /// The model is not served here.
    UnknownModel,
    /// A body over the size limit.
    TooLarge,
    /// More inputs in one request than allowed.
    TooMany,
    /// A text over the model's maximum length with truncation off.
    TooLong,
    /// The tokenizer failed on an input.
    Tokenizer,
    /// The served model cannot do what the route asks (`/rerank` of an embedding model).
    WrongModelType,
    /// No such route.
    NoRoute,
    /// The queue is full.
    Overloaded,
    /// The request took longer than the request timeout.
    Timeout,
    /// Missing or wrong API key.
    Unauthorized,
    /// The server is not ready or is shutting down.
    Unavailable,
    /// Anything else; the message sent is only "internal error".
    Internal,
}

/// One request's failure.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) kind: Kind,
    pub(crate) message: String,
    /// The request field at fault (OpenAI's `param`).
    pub(crate) param: Option<&'static str>,
    /// Seconds for `Retry-After`.
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(kind: Kind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), param: None, retry_after: None }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(Kind::Invalid, message)
    }

    pub(crate) fn empty(message: impl Into<String>) -> Self {
        Self::new(Kind::Empty, message)
    }

    pub(crate) fn unknown_model(model: &str) -> Self {
        Self::new(
            Kind::UnknownModel,
            format!("the model `{model}` does not exist or is not available on this server; GET /v1/models lists them"),
        )
        .with_param("model")
    }

    pub(crate) fn too_large(message: impl Into<String>) -> Self {
        Self::new(Kind::TooLarge, message)
    }

    /// More than `max` inputs in one request, in text-embeddings-inference's words.
    pub(crate) fn too_many(count: usize, max: usize) -> Self {
        Self::new(
            Kind::TooMany,
            format!("batch size {count} > maximum allowed batch size {max}: send at most {max} inputs per request"),
        )
    }

    pub(crate) fn overloaded(queued: usize, limit: usize) -> Self {
        let mut error = Self::new(
            Kind::Overloaded,
            format!("the server is overloaded: {queued} inputs are queued and the limit is {limit}; retry later"),
        );
        error.retry_after = Some(1);
        error
    }

    pub(crate) fn timeout(seconds: f64) -> Self {
        Self::new(
            Kind::Timeout,
            format!("the request took longer than the server's request timeout of {seconds}s and was dropped"),
        )
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(Kind::Unauthorized, message)
    }

    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Self::new(Kind::Unavailable, message)
    }

    /// An internal failure: the cause is logged, the client is told only "internal error".
    pub(crate) fn internal(cause: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = cause, "internal error");
        Self::new(Kind::Internal, "internal error")
    }

    /// The status code in `shape`: text-embeddings-inference's for its routes (422 for
    /// anything it validates, 400 only for empty input, 424 for a task the model cannot do),
    /// OpenAI's and the Go original's for theirs.
    pub(crate) fn status(&self, shape: Shape) -> StatusCode {
        match (self.kind, shape) {
            (Kind::Invalid | Kind::TooMany | Kind::TooLong | Kind::Tokenizer, Shape::Tei) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            (Kind::Invalid | Kind::Empty | Kind::Tokenizer, _) => StatusCode::BAD_REQUEST,
            (Kind::UnknownModel | Kind::NoRoute, _) => StatusCode::NOT_FOUND,
            (Kind::TooLarge | Kind::TooMany | Kind::TooLong, _) => StatusCode::PAYLOAD_TOO_LARGE,
            (Kind::WrongModelType, _) => StatusCode::FAILED_DEPENDENCY,
            (Kind::Overloaded, _) => StatusCode::TOO_MANY_REQUESTS,
            (Kind::Timeout, _) => StatusCode::GATEWAY_TIMEOUT,
            (Kind::Unauthorized, _) => StatusCode::UNAUTHORIZED,
            (Kind::Unavailable, _) => StatusCode::SERVICE_UNAVAILABLE,
            (Kind::Internal, _) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub(crate) fn with_param(mut self, param: &'static str) -> Self {
        self.param = Some(param);
        self
    }

    /// Maps a service error for the request's model. Messages carry no file paths.
    pub(crate) fn from_embed(error: &EmbedError, model: &str) -> Self {
        match error {
            EmbedError::Manifest(_)
            | EmbedError::UnknownModel { .. }
            | EmbedError::ModelNotFetched { .. }
            | EmbedError::HubModelNotCached { .. }
            | EmbedError::NoModelAtPath { .. } => Self::unknown_model(model),
            EmbedError::UnknownPrompt { .. } => Self::invalid(error.to_string()).with_param("prompt_name"),
            EmbedError::Tokenize(TokenizeError::OutOfVocabulary { .. }) => Self::invalid(error.to_string()),
            EmbedError::TooLong { tokens, max, .. } => Self::new(
                Kind::TooLong,
                format!(
                    "Input validation error: `inputs` must have less than {max} tokens. Given: {tokens}; send `truncate: true` to cut it instead"
                ),
            ),
            EmbedError::Tokenize(TokenizeError::Encode(_)) => {
                Self::new(Kind::Tokenizer, format!("tokenizer error: {}", chain(error)))
            }
            // The registry tries a failed load again on the next request, and room in the
            // budget frees up as other models are released: both are worth a retry.
            EmbedError::Pool(PoolError::Load { .. } | PoolError::LoaderPanicked { .. }) => {
                tracing::error!(model, error = error as &dyn std::error::Error, "a model could not be loaded");
                let mut unavailable = Self::unavailable(format!(
                    "the model `{model}` could not be loaded; the cause is in the server's log; retry later"
                ));
                unavailable.retry_after = Some(1);
                unavailable
            }
            EmbedError::Pool(PoolError::BudgetExhausted { .. }) => {
                tracing::warn!(model, error = error as &dyn std::error::Error, "no room in the model memory budget");
                let mut busy = Self::unavailable(format!(
                    "the model `{model}` cannot be loaded now: the memory budget is held by models in use; retry later"
                ));
                busy.retry_after = Some(1);
                busy
            }
            other => Self::internal(other),
        }
    }

    /// The response in `shape`.
    pub(crate) fn into_shaped_response(self, shape: Shape) -> Response {
        let mut response = (self.status(shape), self.body(shape)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.kind == Kind::Unauthorized {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }

    /// The JSON body in `shape`.
    fn body(&self, shape: Shape) -> axum::Json<serde_json::Value> {
        let body = match shape {
            Shape::OpenAi => {
                let (kind, code) = match self.kind {
                    Kind::Invalid | Kind::Empty | Kind::Tokenizer | Kind::NoRoute | Kind::WrongModelType => {
                        ("invalid_request_error", None)
                    }
                    Kind::UnknownModel => ("invalid_request_error", Some("model_not_found")),
                    Kind::TooLarge | Kind::TooMany | Kind::TooLong => {
                        ("invalid_request_error", Some("request_too_large"))
                    }
                    Kind::Overloaded => ("rate_limit_error", Some("rate_limit_exceeded")),
                    Kind::Timeout => ("timeout_error", Some("timeout")),
                    Kind::Unauthorized => ("invalid_request_error", Some("invalid_api_key")),
                    Kind::Unavailable => ("server_error", Some("unavailable")),
                    Kind::Internal => ("server_error", None),
                };
                let detail = OpenAiErrorDetail { message: self.message.clone(), kind, param: self.param, code };
                serde_json::to_value(OpenAiError { error: detail })
            }
            Shape::Tei => {
                // text-embeddings-inference's own error types; it has none for a timeout or a
                // missing key (it answers 401 with no body), so the nearest stands in.
                let error_type = match self.kind {
                    Kind::Invalid
                    | Kind::UnknownModel
                    | Kind::TooLarge
                    | Kind::TooMany
                    | Kind::TooLong
                    | Kind::NoRoute
                    | Kind::Unauthorized => TeiErrorType::Validation,
                    Kind::Empty => TeiErrorType::Empty,
                    Kind::Tokenizer => TeiErrorType::Tokenizer,
                    Kind::Overloaded | Kind::Timeout => TeiErrorType::Overloaded,
                    Kind::Unavailable => TeiErrorType::Unhealthy,
                    Kind::WrongModelType | Kind::Internal => TeiErrorType::Backend,
                };
                serde_json::to_value(TeiError { error: self.message.clone(), error_type })
            }
            Shape::Legacy => serde_json::to_value(LegacyError {
                error: self.message.clone(),
                code: self.status(Shape::Legacy).as_u16(),
            }),
        };
        // These bodies are strings and numbers only: serializing them cannot fail.
        axum::Json(body.unwrap_or_default())
    }
}

/// An error and its causes, `: `-separated.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The whole HTTP/1.1 response, bytes ready for a socket, that a request to `path` gets when
/// it reached the server after shutdown began: 503 with `Retry-After`, in the path's error
/// shape, closing the connection.
pub(crate) fn shutting_down_response(path: &str) -> Vec<u8> {
    let mut error = ApiError::unavailable("the server is shutting down; retry on another instance or later");
    error.retry_after = Some(1);
    let body = error.body(Shape::for_path(path)).0.to_string();
    let mut response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body.as_bytes());
    response
}
