//! The [`Backend`] seam: what the rest of embed asks of an inference engine.

use crate::{DeviceInUse, RuntimeError};

/// One batch of tokenized texts, row-major `rows * seq_len`, borrowed from the tokenizer's
/// buffers (no copy is made to hand it over).
#[derive(Debug, Clone, Copy)]
pub struct BatchInput<'a> {
    /// Token ids.
    pub input_ids: &'a [i64],
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: &'a [i64],
    /// Token type ids; used only by models that take them.
    pub token_type_ids: &'a [i64],
    /// Number of texts.
    pub rows: usize,
    /// Padded sequence length.
    pub seq_len: usize,
}

impl BatchInput<'_> {
    pub(crate) fn check(&self) -> Result<(), RuntimeError> {
        let expected = self.rows * self.seq_len;
        for (name, len) in [
            ("input_ids", self.input_ids.len()),
            ("attention_mask", self.attention_mask.len()),
            ("token_type_ids", self.token_type_ids.len()),
        ] {
            if len != expected {
                return Err(RuntimeError::InvalidBatch(format!(
                    "{name} holds {len} values, expected {} rows x {} tokens = {expected}",
                    self.rows, self.seq_len
                )));
            }
        }
        Ok(())
    }
}

/// What a model's output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// One vector per token (`last_hidden_state`/`token_embeddings`): pooling is the caller's.
    TokenEmbeddings,
    /// One vector per text, pooled inside the model (`sentence_embedding`).
    Pooled,
}

/// The output of one batch, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// What the values are.
    pub kind: OutputKind,
    /// `rows * seq_len * hidden` values for token embeddings, `rows * hidden` when pooled.
    pub values: Vec<f32>,
    /// Number of texts.
    pub rows: usize,
    /// Sequence length (1 when pooled).
    pub seq_len: usize,
    /// Width of each vector.
    pub hidden: usize,
}

/// An inference engine for sentence-embedding transformers. Shared between threads.
pub trait Backend: Send + Sync {
    /// Runs one batch.
    fn run(&self, batch: &BatchInput<'_>) -> Result<ModelOutput, RuntimeError>;

    /// Whether the model takes `token_type_ids`.
    fn takes_token_type_ids(&self) -> bool;

    /// Width of the output vectors, where the model states it.
    fn hidden_size(&self) -> Option<usize>;

    /// Where the model runs.
    fn device(&self) -> &DeviceInUse;

    /// Batches that can run at the same time, each on a thread of the caller's (one per
    /// session for ONNX Runtime). A caller with many batches runs this many at once.
    fn concurrent_runs(&self) -> usize {
        1
    }
}
