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

/// text-embeddings-inference's error body, for its routes (`/embed`, `/`, `/tokenize`, ...).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TeiError {
    /// What went wrong.
    pub error: String,
    /// What kind of error.
    pub error_type: TeiErrorType,
}

/// text-embeddings-inference's error types, spelled as it writes them.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub(crate) enum TeiErrorType {
    /// 503: warming up or shutting down.
    Unhealthy,
    /// 424: the served model cannot do what the route asks; 500: an internal error.
    Backend,
    /// 429: the queue is full; 504: the request timed out.
    Overloaded,
    /// 422: a request it cannot take (malformed, too many inputs, too long, an unknown prompt);
    /// also 404 (an unknown model or route), 413 (a body over the limit) and 401 (a missing or
    /// wrong key), where text-embeddings-inference has no type of its own.
    Validation,
    /// 422: the tokenizer failed.
    Tokenizer,
    /// 400: no input, or an empty one.
    Empty,
}

/// `POST /embed_all`, as text-embeddings-inference takes it.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct EmbedAllRequest {
    /// The inputs.
    #[schema(value_type = Input)]
    pub inputs: Value,
    /// Cut texts over the model's maximum (the server's `--no-auto-truncate` says when absent).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// A prompt of the model put before each text (its tokens are in the answer).
    #[serde(default)]
    pub prompt_name: Option<String>,
}

/// `POST /similarity`: one sentence compared with others.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SimilarityRequest {
    /// The sentences.
    pub inputs: SimilarityInput,
    /// How they are embedded.
    #[serde(default)]
    pub parameters: Option<SimilarityParameters>,
}

/// The sentences of `POST /similarity`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SimilarityInput {
    /// The sentence the others are compared with.
    pub source_sentence: String,
    /// The sentences compared with it.
    pub sentences: Vec<String>,
}

/// How `POST /similarity` embeds its sentences.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct SimilarityParameters {
    /// Cut texts over the model's maximum (the server's `--no-auto-truncate` says when absent).
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// A prompt of the model put before every sentence.
    #[serde(default)]
    pub prompt_name: Option<String>,
}

/// What `POST /tokenize` takes: one text or several.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documents the accepted shapes; the field is read as a value to name a wrong one.
pub(crate) enum TokenizeInput {
    /// One text.
    Text(String),
    /// Several texts.
    Texts(Vec<String>),
}

/// `POST /tokenize`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct TokenizeRequest {
    /// The texts.
    #[schema(value_type = TokenizeInput)]
    pub inputs: Value,
    /// Add the model's special tokens (`[CLS]`, `[SEP]`); default true.
    #[serde(default)]
    pub add_special_tokens: Option<bool>,
    /// A prompt of the model put before each text (the model's default prompt when absent).
    #[serde(default)]
    pub prompt_name: Option<String>,
}

/// One token of `POST /tokenize`'s answer.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SimpleToken {
    /// Its id in the vocabulary.
    pub id: u32,
    /// The text it came from; a special token's own string.
    pub text: String,
    /// Whether the model's template added it.
    pub special: bool,
    /// Byte offset of its text in the prompted input; null for a special token.
    pub start: Option<usize>,
    /// Byte offset where its text ends; null for a special token.
    pub stop: Option<usize>,
}

/// What `POST /decode` takes: one list of token ids or several.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documents the accepted shapes; the field is read as a value to name a wrong one.
pub(crate) enum InputIds {
    /// One list.
    Ids(Vec<u32>),
    /// Several lists.
    IdLists(Vec<Vec<u32>>),
}

/// `POST /decode`.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct DecodeRequest {
    /// The token ids.
    #[schema(value_type = InputIds)]
    pub ids: Value,
    /// Leave special tokens out of the text; default true.
    #[serde(default)]
    pub skip_special_tokens: Option<bool>,
}

/// The answer of `GET /info`: the served default model and the server's limits, as
/// text-embeddings-inference describes itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Info {
    /// The model's Hugging Face id where known (`sentence-transformers/all-MiniLM-L6-v2`),
    /// else the name it was given (`custom` for a directory).
    pub model_id: String,
    /// The commit of the model's files, where known.
    pub model_sha: Option<String>,
    /// The number type it computes in: `float32`, or `int8` for the int8 variant.
    pub model_dtype: &'static str,
    /// The name `/v1/embeddings` and `/v1/models` serve it under.
    pub served_model_name: String,
    /// What kind of model: always an embedding model, with its pooling.
    pub model_type: ModelType,
    /// Most inputs queued at once, all requests together (`MAX_QUEUED_INPUTS`): more are 429.
    pub max_concurrent_requests: usize,
    /// Most tokens of one input, special tokens included.
    pub max_input_length: usize,
    /// Most tokens of one inference call (`MAX_BATCH_TOKENS`).
    pub max_batch_tokens: usize,
    /// Most texts the batcher runs at once (`MAX_BATCH_SIZE`).
    pub max_batch_requests: Option<usize>,
    /// Most inputs of one request (`MAX_INPUTS_PER_REQUEST`).
    pub max_client_batch_size: usize,
    /// Whether texts over the maximum are cut when a request does not say.
    pub auto_truncate: bool,
    /// Threads that tokenize a batch of texts.
    pub tokenization_workers: usize,
    /// embed's version.
    pub version: &'static str,
    /// The commit embed was built from; not recorded.
    pub sha: Option<String>,
    /// The container image's label; none.
    pub docker_label: Option<String>,
}

/// What the served model does.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ModelType {
    /// A sentence-embedding model.
    Embedding(EmbeddingModelInfo),
}

/// An embedding model's pooling.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct EmbeddingModelInfo {
    /// `mean`, `cls`, `max`, `mean_sqrt_len`, `weighted_mean` or `last_token`.
    pub pooling: &'static str,
}

/// `POST /rerank`, as text-embeddings-inference takes it. Read to refuse what it refuses;
/// answered 424 while the server serves embedding models only.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // Read when a cross-encoder is served; parsed now to refuse what TEI refuses.
pub(crate) struct RerankRequest {
    /// The query.
    pub query: String,
    /// The texts to rank against it.
    pub texts: Vec<String>,
    /// Cut texts over the model's maximum.
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// Scores before the activation.
    #[serde(default)]
    pub raw_scores: Option<bool>,
    /// Return each text with its score.
    #[serde(default)]
    pub return_text: Option<bool>,
}

/// `POST /predict`, as text-embeddings-inference takes it; answered 424 while the server serves
/// embedding models only.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // Read when a classifier is served; parsed now to refuse what TEI refuses.
pub(crate) struct PredictRequest {
    /// A text, a pair of texts `[a, b]`, or a batch of texts and pairs `[[a], [a, b]]`.
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// Cut texts over the model's maximum.
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// Scores before the activation.
    #[serde(default)]
    pub raw_scores: Option<bool>,
}

/// `POST /embed_sparse`, as text-embeddings-inference takes it; answered 424 while the server
/// serves no SPLADE model.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // Read when a SPLADE model is served; parsed now to refuse what TEI refuses.
pub(crate) struct EmbedSparseRequest {
    /// The inputs.
    #[schema(value_type = Input)]
    pub inputs: Value,
    /// Cut texts over the model's maximum.
    #[serde(default)]
    pub truncate: Option<bool>,
    /// Which end to cut.
    #[serde(default)]
    pub truncation_direction: Option<Direction>,
    /// A prompt of the model put before each text.
    #[serde(default)]
    pub prompt_name: Option<String>,
}

/// The Go original's error body, for `/api/...`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct LegacyError {
    /// What went wrong.
    pub error: String,
    /// The HTTP status code.
    pub code: u16,
}
