//! The configuration files beside `tokenizer.json` that decide how a model tokenizes, and the
//! caller's options. Reads JSON only; knows nothing of the tokenizers library.

use std::path::Path;

use serde::Deserialize;

use crate::TokenizeError;

/// Which end of a too-long text is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncationSide {
    /// Keep the beginning (sentence-transformers' default).
    #[default]
    Right,
    /// Keep the end.
    Left,
}

/// What a caller may change about tokenization.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenizerOptions {
    /// Maximum tokens per text, special tokens included; `None` takes the model's
    /// `max_seq_length`.
    pub max_length: Option<usize>,
    /// Which side to cut; `None` takes the model's `truncation_side` (right by default).
    pub truncation: Option<TruncationSide>,
    /// Pad every text to `max_length` instead of to the longest text of the batch.
    pub pad_to_max_length: bool,
}

/// What the model directory says about tokenization, gathered from
/// `sentence_bert_config.json`, `tokenizer_config.json` and `config.json`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SentenceTransformersConfig {
    /// `max_seq_length` of `sentence_bert_config.json` (sentence-transformers before 5.0; 5.x
    /// saves it as `tokenizer_config.json`'s `model_max_length`).
    pub max_seq_length: Option<usize>,
    /// `do_lower_case` of `sentence_bert_config.json`: lowercase texts before the tokenizer's own
    /// normalization.
    pub do_lower_case: bool,
    /// `model_max_length` of `tokenizer_config.json`.
    pub model_max_length: Option<usize>,
    /// `max_position_embeddings` of `config.json`, less the position offset of RoBERTa-like
    /// models.
    pub max_positions: Option<usize>,
    /// `truncation_side` of `tokenizer_config.json`.
    pub truncation_side: TruncationSide,
    /// `pad_token` of `tokenizer_config.json`.
    pub pad_token: Option<String>,
}

#[derive(Deserialize)]
struct SentenceBertFile {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Deserialize)]
struct TokenizerConfigFile {
    model_max_length: Option<f64>,
    #[serde(default)]
    truncation_side: TruncationSide,
    pad_token: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ModelConfigFile {
    max_position_embeddings: Option<usize>,
    pad_token_id: Option<usize>,
    model_type: Option<String>,
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, TokenizeError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(TokenizeError::Read { path: path.to_path_buf(), source }),
    };
    serde_json::from_str(&text).map(Some).map_err(|source| TokenizeError::Config { path: path.to_path_buf(), source })
}

impl SentenceTransformersConfig {
    /// Reads the configuration files of a model directory; absent files leave defaults.
    pub fn from_dir(dir: &Path) -> Result<Self, TokenizeError> {
        let sbert: Option<SentenceBertFile> = read_json(&dir.join("sentence_bert_config.json"))?;
        let tok: Option<TokenizerConfigFile> = read_json(&dir.join("tokenizer_config.json"))?;
        let model: Option<ModelConfigFile> = read_json(&dir.join("config.json"))?;
        let max_positions = model.as_ref().and_then(|m| {
            let positions = m.max_position_embeddings?;
            // RoBERTa-like models number positions from pad_token_id + 1.
            let offset = match m.model_type.as_deref() {
                Some("roberta" | "xlm-roberta" | "camembert" | "mpnet") => m.pad_token_id.map_or(0, |p| p + 1),
                _ => 0,
            };
            positions.checked_sub(offset)
        });
        Ok(Self {
            max_seq_length: sbert.as_ref().and_then(|s| s.max_seq_length),
            do_lower_case: sbert.is_some_and(|s| s.do_lower_case),
            // Tokenizers without a limit write a huge float here (1e30).
            model_max_length: tok
                .as_ref()
                .and_then(|t| t.model_max_length)
                .filter(|m| (1.0..1e9).contains(m))
                .map(|m| m as usize),
            max_positions,
            truncation_side: tok.as_ref().map(|t| t.truncation_side).unwrap_or_default(),
            pad_token: tok.and_then(|t| match t.pad_token {
                Some(serde_json::Value::String(s)) => Some(s),
                Some(serde_json::Value::Object(o)) => o.get("content").and_then(|c| c.as_str()).map(String::from),
                _ => None,
            }),
        })
    }

    /// The length sentence-transformers truncates to: `max_seq_length` where given, else the
    /// smaller of the tokenizer's and the model's limits.
    pub fn max_length(&self) -> Option<usize> {
        self.max_seq_length.or(match (self.model_max_length, self.max_positions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// The most positions the model can take at all.
    pub fn position_limit(&self) -> Option<usize> {
        self.max_positions.or(self.model_max_length)
    }
}
