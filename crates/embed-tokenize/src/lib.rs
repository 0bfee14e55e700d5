//! Tokenization for sentence-embedding models, following sentence-transformers' rules.
//!
//! A [`Tokenizer`] loads a model directory's `tokenizer.json` together with
//! `sentence_bert_config.json` and `tokenizer_config.json`: sentence-transformers'
//! `max_seq_length` overrides the truncation baked into `tokenizer.json`, padding goes to the
//! longest text of a batch (or to the maximum on request), and a batch is encoded in parallel
//! into flat, reusable buffers ([`EncodedBatch`]) ready to become tensors.
//!
//! This crate knows nothing of ONNX Runtime, pooling or the model manifest; no `tokenizers`
//! type appears in its public API.

mod config;

use std::path::{Path, PathBuf};

pub use config::{SentenceTransformersConfig, TokenizerOptions, TruncationSide};

/// Errors from loading a tokenizer or encoding text.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenizeError {
    /// A file the tokenizer needs is missing.
    #[error("missing tokenizer file {}", path.display())]
    MissingFile {
        /// The file that was expected.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON configuration file is not valid.
    #[error("invalid {}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// `tokenizer.json` does not parse.
    #[error("invalid tokenizer file {}: {message}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What the tokenizers library reported.
        message: String,
    },
    /// The options contradict each other or the model.
    #[error("invalid tokenizer options: {0}")]
    Options(String),
    /// An input the caller gave cannot be used.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The tokenizers library failed on an input.
    #[error("cannot tokenize text: {0}")]
    Encode(String),
}

/// A batch of encoded texts in flat row-major buffers of `rows * seq_len` entries.
///
/// The buffers are reused across calls to [`Tokenizer::encode_batch_into`], so a caller that
/// keeps one `EncodedBatch` allocates only when a batch is larger than any before.
#[derive(Debug, Default, Clone)]
pub struct EncodedBatch {
    /// Token ids, padded with the pad token.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Token type (segment) ids, 0 for single texts.
    pub token_type_ids: Vec<i64>,
    /// Number of texts.
    pub rows: usize,
    /// Padded sequence length.
    pub seq_len: usize,
    /// Real tokens of each text after truncation, special tokens included.
    pub token_counts: Vec<usize>,
    /// Whether each text was cut to the maximum length.
    pub truncated: Vec<bool>,
}

impl EncodedBatch {
    /// Tokens that carry text (the sum of `token_counts`).
    pub fn real_tokens(&self) -> usize {
        self.token_counts.iter().sum()
    }

    /// Padded positions (`rows * seq_len`).
    pub fn padded_tokens(&self) -> usize {
        self.rows * self.seq_len
    }
}

/// One text's tokens after truncation, special tokens included, before padding.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizedText {
    /// Token ids.
    pub ids: Vec<u32>,
    /// Token type ids.
    pub type_ids: Vec<u32>,
    /// Whether the text was cut to the maximum length.
    pub truncated: bool,
}

impl TokenizedText {
    fn from_encoding(encoding: tokenizers::Encoding) -> Self {
        Self {
            truncated: !encoding.get_overflowing().is_empty(),
            ids: encoding.get_ids().to_vec(),
            type_ids: encoding.get_type_ids().to_vec(),
        }
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether there are no tokens at all (not even special tokens).
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }
}

/// A tokenizer configured as sentence-transformers configures it for one model.
#[derive(Clone)]
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// The same tokenizer without truncation, for counting tokens.
    untruncated: tokenizers::Tokenizer,
    /// The same tokenizer truncating on the other side, built on first use.
    opposite: std::sync::OnceLock<tokenizers::Tokenizer>,
    max_length: usize,
    truncation: TruncationSide,
    /// Vocabulary size with added tokens (computing it walks the whole vocabulary).
    vocab_size: usize,
    pad_id: u32,
    pad_to_max_length: bool,
    /// Tokens the model's template adds around a single text (`[CLS]`, `[SEP]`).
    special_tokens: usize,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("max_length", &self.max_length)
            .field("pad_id", &self.pad_id)
            .field("pad_to_max_length", &self.pad_to_max_length)
            .finish_non_exhaustive()
    }
}

impl Tokenizer {
    /// Loads the tokenizer of a model directory (`tokenizer.json`, and the sentence-transformers
    /// and tokenizer configs where present).
    pub fn from_dir(dir: &Path, options: &TokenizerOptions) -> Result<Self, TokenizeError> {
        let tokenizer_file = dir.join("tokenizer.json");
        if !tokenizer_file.is_file() {
            return Err(TokenizeError::MissingFile { path: tokenizer_file });
        }
        let st_config = SentenceTransformersConfig::from_dir(dir)?;
        let inner = tokenizers::Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| TokenizeError::Load { path: tokenizer_file.clone(), message: e.to_string() })?;
        Self::new(inner, &st_config, options)
    }

    /// Loads a tokenizer from `tokenizer.json` bytes with the given model configuration.
    pub fn from_bytes(
        tokenizer_json: &[u8],
        st_config: &SentenceTransformersConfig,
        options: &TokenizerOptions,
    ) -> Result<Self, TokenizeError> {
        let inner = tokenizers::Tokenizer::from_bytes(tokenizer_json)
            .map_err(|e| TokenizeError::Load { path: PathBuf::from("tokenizer.json"), message: e.to_string() })?;
        Self::new(inner, st_config, options)
    }

    fn new(
        mut inner: tokenizers::Tokenizer,
        st_config: &SentenceTransformersConfig,
        options: &TokenizerOptions,
    ) -> Result<Self, TokenizeError> {
        let max_length = match options.max_length {
            Some(0) => return Err(TokenizeError::Options("max_length must be at least 1".into())),
            Some(requested) => match st_config.position_limit() {
                Some(limit) if requested > limit => {
                    return Err(TokenizeError::Options(format!(
                        "max_length {requested} exceeds the {limit} positions the model accepts"
                    )));
                }
                _ => requested,
            },
            None => st_config.max_length().ok_or_else(|| {
                TokenizeError::Options("the model states no max_seq_length or model_max_length; give max_length".into())
            })?,
        };
        let truncation = options.truncation.unwrap_or(st_config.truncation_side);
        let direction = match truncation {
            TruncationSide::Right => tokenizers::TruncationDirection::Right,
            TruncationSide::Left => tokenizers::TruncationDirection::Left,
        };
        inner
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length,
                direction,
                strategy: tokenizers::TruncationStrategy::LongestFirst,
                stride: 0,
            }))
            .map_err(|e| TokenizeError::Options(e.to_string()))?;
        // Padding is done here, into flat buffers, not by the tokenizers library.
        let pad_id = inner
            .get_padding()
            .map(|p| p.pad_id)
            .or_else(|| st_config.pad_token.as_deref().and_then(|t| inner.token_to_id(t)));
        inner.with_padding(None);
        let mut untruncated = inner.clone();
        untruncated.with_truncation(None).map_err(|e| TokenizeError::Options(e.to_string()))?;
        // What the template adds around a single text: the tokens of an empty text.
        let special_tokens =
            untruncated.encode_fast("", true).map_err(|e| TokenizeError::Encode(e.to_string()))?.get_ids().len();
        let vocab_size = inner.get_vocab_size(true);
        Ok(Self {
            inner,
            untruncated,
            opposite: std::sync::OnceLock::new(),
            vocab_size,
            max_length,
            truncation,
            pad_id: pad_id.unwrap_or(0),
            pad_to_max_length: options.pad_to_max_length,
            special_tokens,
        })
    }

    /// Which end of a too-long text is cut.
    pub fn truncation_side(&self) -> TruncationSide {
        self.truncation
    }

    /// The maximum tokens per text, special tokens included.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// Tokenizes `texts` in parallel, truncated but not padded.
    pub fn tokenize<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<Vec<TokenizedText>, TokenizeError> {
        self.tokenize_with(texts, None)
    }

    /// Tokenizes `texts` in parallel, truncated on `side` (the configured side when `None`).
    pub fn tokenize_with<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        side: Option<TruncationSide>,
    ) -> Result<Vec<TokenizedText>, TokenizeError> {
        let inputs: Vec<tokenizers::EncodeInput<'_>> = texts.iter().map(|t| t.as_ref().into()).collect();
        let encodings =
            self.for_side(side)?.encode_batch_fast(inputs, true).map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encodings.into_iter().map(TokenizedText::from_encoding).collect())
    }

    /// Token ids given by the caller (the text already tokenized, without special tokens)
    /// made ready for the model: checked against the vocabulary, truncated on `side`, and
    /// wrapped in the model's special tokens as a text would be.
    pub fn from_ids(
        &self,
        texts: &[Vec<u32>],
        side: Option<TruncationSide>,
    ) -> Result<Vec<TokenizedText>, TokenizeError> {
        let vocab = self.vocab_size();
        let tokenizer = self.for_side(side)?;
        texts
            .iter()
            .enumerate()
            .map(|(index, ids)| {
                if let Some(bad) = ids.iter().find(|&&id| id as usize >= vocab) {
                    return Err(TokenizeError::InvalidInput(format!(
                        "token id {bad} of input {index} is outside the vocabulary (0..{vocab})"
                    )));
                }
                let n = ids.len();
                let encoding = tokenizers::Encoding::new(
                    ids.clone(),
                    vec![0; n],
                    vec![String::new(); n],
                    vec![None; n],
                    vec![(0, 0); n],
                    vec![0; n],
                    vec![1; n],
                    Vec::new(),
                    Default::default(),
                );
                let encoding =
                    tokenizer.post_process(encoding, None, true).map_err(|e| TokenizeError::Encode(e.to_string()))?;
                Ok(TokenizedText::from_encoding(encoding))
            })
            .collect()
    }

    /// Size of the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    fn for_side(&self, side: Option<TruncationSide>) -> Result<&tokenizers::Tokenizer, TokenizeError> {
        match side {
            None => Ok(&self.inner),
            Some(side) if side == self.truncation => Ok(&self.inner),
            Some(side) => {
                if let Some(tokenizer) = self.opposite.get() {
                    return Ok(tokenizer);
                }
                let mut opposite = self.inner.clone();
                opposite
                    .with_truncation(Some(tokenizers::TruncationParams {
                        max_length: self.max_length,
                        direction: match side {
                            TruncationSide::Right => tokenizers::TruncationDirection::Right,
                            TruncationSide::Left => tokenizers::TruncationDirection::Left,
                        },
                        strategy: tokenizers::TruncationStrategy::LongestFirst,
                        stride: 0,
                    }))
                    .map_err(|e| TokenizeError::Options(e.to_string()))?;
                Ok(self.opposite.get_or_init(|| opposite))
            }
        }
    }

    /// Packs tokenized texts into `out` (replacing what it held), padded to the longest of
    /// them, or to the maximum length when the options ask for it.
    pub fn pack<'t>(&self, texts: impl IntoIterator<Item = &'t TokenizedText> + Clone, out: &mut EncodedBatch) {
        let rows = texts.clone().into_iter().count();
        let longest = texts.clone().into_iter().map(TokenizedText::len).max().unwrap_or(0);
        let seq_len = if self.pad_to_max_length && rows > 0 { self.max_length.max(longest) } else { longest };
        out.rows = rows;
        out.seq_len = seq_len;
        let total = rows * seq_len;
        out.input_ids.clear();
        out.input_ids.resize(total, i64::from(self.pad_id));
        out.attention_mask.clear();
        out.attention_mask.resize(total, 0);
        out.token_type_ids.clear();
        out.token_type_ids.resize(total, 0);
        out.token_counts.clear();
        out.truncated.clear();
        for (row, text) in texts.into_iter().enumerate() {
            let start = row * seq_len;
            let len = text.len();
            for (slot, &id) in out.input_ids[start..start + len].iter_mut().zip(&text.ids) {
                *slot = i64::from(id);
            }
            out.attention_mask[start..start + len].fill(1);
            for (slot, &type_id) in out.token_type_ids[start..start + len].iter_mut().zip(&text.type_ids) {
                *slot = i64::from(type_id);
            }
            out.token_counts.push(len);
            out.truncated.push(text.truncated);
        }
    }

    /// Encodes `texts` (tokenized in parallel) into `out`, replacing what it held.
    pub fn encode_batch_into<S: AsRef<str> + Sync>(
        &self,
        texts: &[S],
        out: &mut EncodedBatch,
    ) -> Result<(), TokenizeError> {
        let tokenized = self.tokenize(texts)?;
        self.pack(&tokenized, out);
        Ok(())
    }

    /// Encodes `texts` into a new batch.
    pub fn encode_batch<S: AsRef<str> + Sync>(&self, texts: &[S]) -> Result<EncodedBatch, TokenizeError> {
        let mut out = EncodedBatch::default();
        self.encode_batch_into(texts, &mut out)?;
        Ok(out)
    }

    /// Tokens of `text` before truncation, special tokens included.
    pub fn count_tokens(&self, text: &str) -> Result<usize, TokenizeError> {
        let encoding = self.untruncated.encode_fast(text, true).map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encoding.get_ids().len())
    }

    /// Tokens the model adds around every text (`[CLS]` and `[SEP]` for BERT: 2), so that
    /// `max_length() - special_tokens_count()` tokens of text fit.
    pub fn special_tokens_count(&self) -> usize {
        self.special_tokens
    }

    /// Byte ranges into `text` of its tokens, in order, without special tokens and without
    /// truncation. Every range starts and ends on a `char` boundary of `text`; tokens made
    /// from one character share its range, and characters the normalizer drops (combining
    /// accents of uncased models) belong to no range.
    pub fn token_spans(&self, text: &str) -> Result<Vec<(usize, usize)>, TokenizeError> {
        // `encode` reports byte offsets into the original text (`encode_fast` reports none).
        let encoding = self.untruncated.encode(text, false).map_err(|e| TokenizeError::Encode(e.to_string()))?;
        Ok(encoding
            .get_offsets()
            .iter()
            .map(|&(start, end)| {
                let start = floor_char_boundary(text, start);
                let end = ceil_char_boundary(text, end.max(start));
                (start, end)
            })
            .collect())
    }
}

/// The largest char boundary of `text` at or before `index` (clamped to its length).
fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

/// The smallest char boundary of `text` at or after `index` (clamped to its length).
fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut index = index.min(text.len());
    while !text.is_char_boundary(index) {
        index += 1;
    }
    index
}
