//! The bodies on the wire: every endpoint's request and response, and each error shape, as
//! serde types. The OpenAPI document (`openapi.rs`) is generated from these same types, so
//! what the server reads and writes and what it documents cannot drift apart.
//!
//! Plain data: nothing here embeds, queues or knows a model.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What to embed, in any of the shapes OpenAI's and text-embeddings-inference's clients send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum Input {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
    /// One text given as token ids of the model's vocabulary, without special tokens.
    TokenIds(Vec<u32>),
    /// Several texts given as token ids.
    TokenIdLists(Vec<Vec<u32>>),
}

/// `POST /v1/embeddings`, as OpenAI's API takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct OpenAiRequest {
    /// The inputs.
    #[schema(value_type = Input)]
    pub input: Value,
    /// A model the server offers (`GET /v1/models`); the default model when absent.
    #[serde(default)]
    pub model: Option<String>,
    /// `float` (the default) or `base64` (little-endian `f32` bytes).
    #[serde(default)]
    #[schema(value_type = Option<EncodingFormat>)]
    pub encoding_format: Option<String>,
    /// Keep the first `dimensions` numbers of each vector (then scaled to unit length).
    #[serde(default)]
    pub dimensions: Option<i64>,
    /// An end-user id; accepted and ignored.
    #[serde(default)]
    #[allow(dead_code)]
    pub user: Option<String>,
}

/// How OpenAI's endpoint writes vectors.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)] // Documents the accepted values; the field is read as a string to name a wrong one.
pub(crate) enum EncodingFormat {
    /// An array of numbers.
    Float,
    /// Base64 of the little-endian `f32` bytes.
    Base64,
}

/// One vector of OpenAI's response.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub(crate) enum EmbeddingValue {
    /// `encoding_format: float`.
    Float(Vec<f32>),
    /// `encoding_format: base64`.
    Base64(String),
}

/// One item of OpenAI's response.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenAiEmbedding {
    /// Always `embedding`.
    pub object: &'static str,
    /// The input's position.
    pub index: usize,
    /// Its vector.
    pub embedding: EmbeddingValue,
}

/// Tokens the inputs took, special tokens included.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Usage {
    /// Tokens of the inputs.
    pub prompt_tokens: usize,
    /// The same: embedding generates nothing.
    pub total_tokens: usize,
}

/// The answer of `POST /v1/embeddings`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenAiResponse {
    /// Always `list`.
    pub object: &'static str,
    /// One item per input, in order.
    pub data: Vec<OpenAiEmbedding>,
    /// The model that ran (`name:variant`).
    pub model: String,
    /// Tokens used.
    pub usage: Usage,
}

/// Which end of a too-long text `POST /embed` cuts.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, ToSchema)]
pub(crate) enum Direction {
    /// Keep the end.
    #[serde(alias = "left", alias = "LEFT")]
    Left,
    /// Keep the beginning.
    #[serde(alias = "right", alias = "RIGHT")]
    Right,
}

/// `POST /embed` (and `POST /`), as text-embeddings-inference takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TeiRequest {
    /// The inputs.
    #[schema(value_type = Input)]
    pub inputs: Value,
    /// Cut texts over the model's maximum (the server's `--no-auto-truncate` says when absent);
    /// `false` refuses them (413).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// Scale vectors to unit length (default true).
    #[serde(default)]
    pub normalize: Option<bool>,
    /// A prompt of the model (`GET /v1/models` lists them) put before each text.
    #[serde(default)]
    pub prompt_name: Option<String>,
    /// Keep the first `dimensions` numbers of each vector.
    #[serde(default)]
    pub dimensions: Option<i64>,
    /// Not in text-embeddings-inference (one model per server): here any model the server offers.
    #[serde(default)]
    pub model: Option<String>,
}

/// `POST /api/v1/embed`, as the Go original takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LegacyRequest {
    /// The text.
    pub text: String,
    /// A model the server offers; the default model when absent.
    #[serde(default)]
    pub model: Option<String>,
}

/// The answer of `POST /api/v1/embed`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LegacyResponse {
    /// The vector.
    pub embedding: Vec<f32>,
    /// Its width.
    pub dimension: usize,
    /// The model that ran.
    pub model: String,
}

/// `POST /api/v1/embed/batch`, as the Go original takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct LegacyBatchRequest {
    /// The texts.
    pub texts: Vec<String>,
    /// A model the server offers; the default model when absent.
    #[serde(default)]
    pub model: Option<String>,
}

/// The answer of `POST /api/v1/embed/batch`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LegacyBatchResponse {
    /// One vector per text, in order.
    pub embeddings: Vec<Vec<f32>>,
    /// Their width.
    pub dimension: usize,
    /// The model that ran.
    pub model: String,
    /// Number of vectors.
    pub count: usize,
}

/// One model of `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelEntry {
    /// The model's name (`name`, or `name:variant` for another variant loaded).
    pub id: String,
    /// Always `model`.
    pub object: &'static str,
    /// Always 0.
    pub created: u64,
    /// Always `embed`.
    pub owned_by: &'static str,
    /// Width of its vectors, where known.
    pub dimension: Option<usize>,
    /// Most tokens of one input, where known.
    pub max_tokens: Option<usize>,
    /// Whether it is loaded now.
    pub loaded: bool,
    /// Whether it is the server's default model.
    pub default: bool,
    /// Its named prompts.
    pub prompts: BTreeMap<String, String>,
    /// The prompt used when a request names none.
    pub default_prompt_name: Option<String>,
    /// The variants the server has on disk.
    pub fetched: Vec<String>,
}

/// The answer of `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ModelList {
    /// Always `list`.
    pub object: &'static str,
    /// The models.
    pub data: Vec<ModelEntry>,
}

/// Whether the server takes work.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum HealthStatus {
    /// Warmed up and serving.
    Ok,
    /// Warming up.
    Starting,
    /// Shutting down.
    Stopping,
}

/// The answer of `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// The state.
    pub status: HealthStatus,
    /// The default model (`custom` for a model given by path).
    pub model: String,
}

/// OpenAI's error envelope, for `/v1/...`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenAiError {
    /// The error.
    pub error: OpenAiErrorDetail,
}

/// What OpenAI's envelope holds.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct OpenAiErrorDetail {
    /// What went wrong.
    pub message: String,
    /// `invalid_request_error`, `rate_limit_error`, `timeout_error` or `server_error`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The request field at fault.
    pub param: Option<&'static str>,
    /// `model_not_found`, `request_too_large`, `rate_limit_exceeded`, `timeout`,
    /// `invalid_api_key`, `unavailable`, or null.
    pub code: Option<&'static str>,
}

/// text-embeddings-inference's error body, for `/embed` and `/`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TeiError {
    /// What went wrong.
    pub error: String,
    /// `validation`, `empty`, `overloaded`, `timeout`, `unauthorized`, `unhealthy` or `backend`.
    pub error_type: &'static str,
}

/// The Go original's error body, for `/api/...`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LegacyError {
    /// What went wrong.
    pub error: String,
    /// The HTTP status code.
    pub code: u16,
}
