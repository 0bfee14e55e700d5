//! The [`Backend`] seam: what the rest of embed asks of an inference engine, and the packed
//! batch ([`TokenBatch`]) it hands one.
//!
//! A batch is packed: the tokens of every text one after the other, no padding. An engine that
//! needs a rectangular batch (ONNX Runtime) pads it itself ([`PaddedBatch`]); one that does not
//! (the native engine) never computes a padded position. This file knows no engine.

use crate::{DeviceInUse, RuntimeError};

/// Tokenized texts, packed one after the other.
#[derive(Debug, Clone, Copy)]
pub struct TokenBatch<'a> {
    /// Token ids of every text, special tokens included.
    pub ids: &'a [u32],
    /// Token type ids beside `ids`; empty means all 0.
    pub type_ids: &'a [u32],
    /// Tokens of each text, in order; they add up to `ids.len()`.
    pub lengths: &'a [usize],
    /// The id a padding engine fills short rows with.
    pub pad_id: u32,
    /// Pad every row to at least this many tokens (0: to the longest text), for engines that
    /// pad; the vectors do not change.
    pub pad_to: usize,
}

impl TokenBatch<'_> {
    /// Checks that the lengths add up and that no text is empty.
    pub fn check(&self) -> Result<(), RuntimeError> {
        let total: usize = self.lengths.iter().sum();
        if total != self.ids.len() {
            return Err(RuntimeError::InvalidBatch(format!(
                "the text lengths add up to {total} tokens, but {} token ids were given",
                self.ids.len()
            )));
        }
        if !self.type_ids.is_empty() && self.type_ids.len() != self.ids.len() {
            return Err(RuntimeError::InvalidBatch(format!(
                "{} token type ids were given for {} token ids",
                self.type_ids.len(),
                self.ids.len()
            )));
        }
        if let Some(index) = self.lengths.iter().position(|&len| len == 0) {
            return Err(RuntimeError::InvalidBatch(format!("text {index} has no tokens; expected at least one")));
        }
        Ok(())
    }

    /// Number of texts.
    pub fn texts(&self) -> usize {
        self.lengths.len()
    }

    /// Tokens in all texts.
    pub fn tokens(&self) -> usize {
        self.ids.len()
    }
}

/// A packed batch padded into rectangular `rows × seq_len` buffers, as ONNX Runtime takes it:
/// each row a text's tokens, then `pad_id` up to `seq_len`, with an attention mask of 1 on the
/// tokens and 0 on the padding. The buffers are reused across [`PaddedBatch::fill`] calls.
#[derive(Debug, Clone, Default)]
pub struct PaddedBatch {
    /// Token ids.
    pub input_ids: Vec<i64>,
    /// 1 for real tokens, 0 for padding.
    pub attention_mask: Vec<i64>,
    /// Token type ids, 0 on the padding.
    pub token_type_ids: Vec<i64>,
    /// Number of texts.
    pub rows: usize,
    /// Tokens per row after padding.
    pub seq_len: usize,
}

impl PaddedBatch {
    /// Pads `batch` into these buffers, replacing what they held: to its longest text, or to
    /// `batch.pad_to` where that is longer.
    pub fn fill(&mut self, batch: &TokenBatch<'_>) {
        let longest = batch.lengths.iter().copied().max().unwrap_or(0);
        let seq_len = if batch.lengths.is_empty() { 0 } else { longest.max(batch.pad_to) };
        let total = batch.texts() * seq_len;
        self.rows = batch.texts();
        self.seq_len = seq_len;
        self.input_ids.clear();
        self.input_ids.resize(total, i64::from(batch.pad_id));
        self.attention_mask.clear();
        self.attention_mask.resize(total, 0);
        self.token_type_ids.clear();
        self.token_type_ids.resize(total, 0);
        let mut start = 0;
        for (row, &len) in batch.lengths.iter().enumerate() {
            let at = row * seq_len;
            for (slot, &id) in self.input_ids[at..at + len].iter_mut().zip(&batch.ids[start..start + len]) {
                *slot = i64::from(id);
            }
            self.attention_mask[at..at + len].fill(1);
            if !batch.type_ids.is_empty() {
                let types = &batch.type_ids[start..start + len];
                for (slot, &kind) in self.token_type_ids[at..at + len].iter_mut().zip(types) {
                    *slot = i64::from(kind);
                }
            }
            start += len;
        }
    }
}

/// What an engine's output holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// One vector per token (`last_hidden_state`/`token_embeddings`): pooling is the caller's.
    TokenEmbeddings,
    /// One vector per text, pooled inside the model (`sentence_embedding`).
    Pooled,
}

/// The output of one batch: for each text, its rows of `hidden` floats (one per token, or one
/// when pooled), wherever the engine left them.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchOutput {
    kind: OutputKind,
    values: Vec<f32>,
    hidden: usize,
    /// Where each text's rows start, in rows, and how many it has.
    spans: Vec<(usize, usize)>,
}

impl BatchOutput {
    /// Token embeddings packed as the batch was: text after text.
    pub fn packed(values: Vec<f32>, hidden: usize, lengths: &[usize]) -> Self {
        let spans = lengths
            .iter()
            .scan(0, |start, &len| {
                let span = (*start, len);
                *start += len;
                Some(span)
            })
            .collect();
        Self { kind: OutputKind::TokenEmbeddings, values, hidden, spans }
    }

    /// Token embeddings of a padded batch: text `i` starts at row `i · seq_len`.
    pub fn padded(values: Vec<f32>, hidden: usize, lengths: &[usize], seq_len: usize) -> Self {
        let spans = lengths.iter().enumerate().map(|(i, &len)| (i * seq_len, len)).collect();
        Self { kind: OutputKind::TokenEmbeddings, values, hidden, spans }
    }

    /// One pooled vector per text.
    pub fn pooled(values: Vec<f32>, hidden: usize, texts: usize) -> Self {
        Self { kind: OutputKind::Pooled, values, hidden, spans: (0..texts).map(|i| (i, 1)).collect() }
    }

    /// What the rows are.
    pub fn kind(&self) -> OutputKind {
        self.kind
    }

    /// Width of each row.
    pub fn hidden(&self) -> usize {
        self.hidden
    }

    /// Number of texts.
    pub fn texts(&self) -> usize {
        self.spans.len()
    }

    /// The rows of text `index`, `rows × hidden` floats: its tokens' embeddings, or its
    /// pooled vector.
    pub fn text(&self, index: usize) -> &[f32] {
        let (start, rows) = self.spans[index];
        &self.values[start * self.hidden..(start + rows) * self.hidden]
    }
}

/// An inference engine for sentence-embedding transformers. Shared between threads.
pub trait Backend: Send + Sync {
    /// Runs one batch.
    fn run(&self, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError>;

    /// Width of the output vectors, where the model states it.
    fn hidden_size(&self) -> Option<usize>;

    /// Where the model runs.
    fn device(&self) -> &DeviceInUse;

    /// The engine, as reports name it (`onnxruntime 1.31.1`, `native avx512`).
    fn engine(&self) -> String;

    /// Whether a batch costs compute for padded positions: a caller grouping texts caps the
    /// padding of each batch only where it does.
    fn pads(&self) -> bool;

    /// Batches that can run at the same time, each on a thread of the caller's (one per
    /// session for ONNX Runtime). A caller with many batches runs this many at once.
    fn concurrent_runs(&self) -> usize {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_fills_rows_and_masks() {
        let batch =
            TokenBatch { ids: &[5, 6, 7, 8, 9], type_ids: &[0, 0, 1, 1, 1], lengths: &[2, 3], pad_id: 1, pad_to: 0 };
        batch.check().unwrap();
        let mut padded = PaddedBatch::default();
        padded.fill(&batch);
        assert_eq!((padded.rows, padded.seq_len), (2, 3));
        assert_eq!(padded.input_ids, [5, 6, 1, 7, 8, 9]);
        assert_eq!(padded.attention_mask, [1, 1, 0, 1, 1, 1]);
        assert_eq!(padded.token_type_ids, [0, 0, 0, 1, 1, 1]);
        padded.fill(&TokenBatch { pad_to: 4, ..batch });
        assert_eq!(padded.seq_len, 4);
        assert_eq!(padded.input_ids, [5, 6, 1, 1, 7, 8, 9, 1]);
    }

    #[test]
    fn a_batch_whose_lengths_do_not_add_up_is_refused() {
        let bad = TokenBatch { ids: &[1, 2, 3], type_ids: &[], lengths: &[2], pad_id: 0, pad_to: 0 };
        assert!(matches!(bad.check(), Err(RuntimeError::InvalidBatch(_))));
        let empty_text = TokenBatch { ids: &[1], type_ids: &[], lengths: &[1, 0], pad_id: 0, pad_to: 0 };
        assert!(matches!(empty_text.check(), Err(RuntimeError::InvalidBatch(_))));
    }

    #[test]
    fn outputs_give_each_text_its_rows() {
        let packed = BatchOutput::packed((0..10).map(|v| v as f32).collect(), 2, &[2, 3]);
        assert_eq!(packed.text(0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(packed.text(1), [4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        let padded = BatchOutput::padded((0..12).map(|v| v as f32).collect(), 2, &[2, 3], 3);
        assert_eq!(padded.text(0), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(padded.text(1), [6.0, 7.0, 8.0, 9.0, 10.0, 11.0]);
        let pooled = BatchOutput::pooled(vec![1.0, 2.0, 3.0, 4.0], 2, 2);
        assert_eq!((pooled.kind(), pooled.text(1)), (OutputKind::Pooled, &[3.0, 4.0][..]));
    }
}
