//! The forward pass over a packed batch: every token of every sequence in one
//! `tokens × hidden` matrix, no padding anywhere.
//!
//! Per layer: one GEMM for query, key and value (bias fused); attention per sequence and head
//! (`attention.rs`); the output projection added into the residual stream by its GEMM's
//! epilogue, then LayerNorm in place; the feed-forward expansion with bias and GELU fused, its
//! contraction added into the residual stream, LayerNorm. Buffers live in a [`Scratch`] reused
//! from call to call. This file knows the order of operations of BERT, RoBERTa and MPNet and
//! nothing of tokenizers or pooling.

use std::sync::Mutex;

use crate::NativeError;
use crate::attention::{AttentionScratch, RelativeBias, attention};
use crate::config::Architecture;
use crate::kernels::{Epilogue, MatMut, MatRef, Parallel};
use crate::model::Model;

/// A packed batch: the token ids of every sequence, one after the other.
#[derive(Debug, Clone, Copy)]
pub struct PackedBatch<'a> {
    /// Token ids, special tokens included, sequence after sequence.
    pub ids: &'a [u32],
    /// Token type ids beside `ids`; empty means all 0.
    pub type_ids: &'a [u32],
    /// Tokens of each sequence; they add up to `ids.len()`.
    pub lengths: &'a [usize],
}

/// The buffers of one forward pass, kept for the next.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    hidden: Vec<f32>,
    qkv: Vec<f32>,
    context: Vec<f32>,
    intermediate: Vec<f32>,
    /// One per thread of attention.
    attention: Vec<Mutex<AttentionScratch>>,
    /// Where each sequence starts.
    offsets: Vec<usize>,
}

impl Model {
    /// Checks `batch` against the model: lengths that add up, none empty or past the
    /// positions, ids inside the tables.
    pub fn check(&self, batch: &PackedBatch<'_>) -> Result<(), NativeError> {
        let total: usize = batch.lengths.iter().sum();
        if total != batch.ids.len() {
            return Err(NativeError::InvalidBatch(format!(
                "the sequence lengths add up to {total} tokens, but {} token ids were given",
                batch.ids.len()
            )));
        }
        if !batch.type_ids.is_empty() && batch.type_ids.len() != batch.ids.len() {
            return Err(NativeError::InvalidBatch(format!(
                "{} token type ids for {} token ids",
                batch.type_ids.len(),
                batch.ids.len()
            )));
        }
        let max = self.config.max_sequence();
        if let Some((index, &len)) = batch.lengths.iter().enumerate().find(|(_, len)| **len == 0 || **len > max) {
            return Err(NativeError::InvalidBatch(format!(
                "sequence {index} has {len} tokens; the model takes 1 to {max}"
            )));
        }
        let vocab = self.config.vocab_size;
        if let Some(id) = batch.ids.iter().find(|&&id| id as usize >= vocab) {
            return Err(NativeError::InvalidBatch(format!("token id {id} is outside the vocabulary (0..{vocab})")));
        }
        let types = self.config.type_vocab_size.max(1);
        if let Some(id) = batch.type_ids.iter().find(|&&id| id as usize >= types) {
            return Err(NativeError::InvalidBatch(format!("token type id {id} is outside 0..{types}")));
        }
        Ok(())
    }

    /// Runs `batch` (already [checked](Model::check)) and returns the last hidden state, one
    /// row of `hidden` floats per token, borrowed from `scratch`.
    pub fn forward<'s>(&self, batch: &PackedBatch<'_>, threads: &dyn Parallel, scratch: &'s mut Scratch) -> &'s [f32] {
        let config = &self.config;
        let (h, tokens) = (config.hidden, batch.ids.len());
        scratch.offsets.clear();
        scratch.offsets.extend(batch.lengths.iter().scan(0, |start, &len| {
            let offset = *start;
            *start += len;
            Some(offset)
        }));
        resize(&mut scratch.hidden, tokens * h);
        resize(&mut scratch.qkv, tokens * 3 * h);
        resize(&mut scratch.context, tokens * h);
        resize(&mut scratch.intermediate, tokens * config.intermediate);
        while scratch.attention.len() < threads.width() {
            scratch.attention.push(Mutex::new(AttentionScratch::default()));
        }
        self.embed(batch, &scratch.offsets, &mut scratch.hidden[..tokens * h]);
        let bias = match config.architecture {
            Architecture::Mpnet => Some(RelativeBias::new(&self.relative_bias, config.heads, batch.lengths)),
            Architecture::Bert | Architecture::Roberta => None,
        };
        let isa = self.isa;
        let norm_eps = config.layer_norm_eps;
        for layer in &self.layers {
            let hidden = MatRef { data: &scratch.hidden, rows: tokens, cols: h, stride: h };
            let qkv = MatMut::new(&mut scratch.qkv[..tokens * 3 * h], tokens, 3 * h, 3 * h);
            isa.matmul(threads, hidden, &layer.qkv, qkv, Epilogue::Store);
            attention(
                isa,
                threads,
                &scratch.qkv,
                &mut scratch.context,
                (batch.lengths, &scratch.offsets),
                (config.heads, config.head_size()),
                bias.as_ref(),
                &scratch.attention,
            );
            let context = MatRef { data: &scratch.context, rows: tokens, cols: h, stride: h };
            let residual = MatMut::new(&mut scratch.hidden, tokens, h, h);
            isa.matmul(threads, context, &layer.attention_out, residual, Epilogue::Accumulate);
            let norm = &layer.attention_norm;
            isa.layer_norm(&mut scratch.hidden, tokens, h, &norm.gamma, &norm.beta, norm_eps);

            let hidden = MatRef { data: &scratch.hidden, rows: tokens, cols: h, stride: h };
            let intermediate = MatMut::new(&mut scratch.intermediate, tokens, config.intermediate, config.intermediate);
            isa.matmul(threads, hidden, &layer.up, intermediate, Epilogue::Gelu(config.gelu));
            let intermediate = MatRef {
                data: &scratch.intermediate,
                rows: tokens,
                cols: config.intermediate,
                stride: config.intermediate,
            };
            let residual = MatMut::new(&mut scratch.hidden, tokens, h, h);
            isa.matmul(threads, intermediate, &layer.down, residual, Epilogue::Accumulate);
            let norm = &layer.output_norm;
            isa.layer_norm(&mut scratch.hidden, tokens, h, &norm.gamma, &norm.beta, norm_eps);
        }
        &scratch.hidden[..tokens * h]
    }

    /// Word, position and token type embeddings, summed in the order the reference adds them,
    /// then LayerNorm.
    fn embed(&self, batch: &PackedBatch<'_>, offsets: &[usize], out: &mut [f32]) {
        let config = &self.config;
        let h = config.hidden;
        let words = self.word_table();
        for (&start, &len) in offsets.iter().zip(batch.lengths) {
            // Positions past the padding token's own, counting only the other tokens.
            let mut counted = 0;
            for position in 0..len {
                let token = start + position;
                let row = &mut out[token * h..(token + 1) * h];
                let id = batch.ids[token] as usize;
                row.copy_from_slice(&words[id * h..(id + 1) * h]);
                if !self.token_type_embeddings.is_empty() {
                    let kind = batch.type_ids.get(token).map_or(0, |&t| t as usize);
                    for (value, add) in row.iter_mut().zip(&self.token_type_embeddings[kind * h..(kind + 1) * h]) {
                        *value += add;
                    }
                }
                let p = match config.padding_id {
                    None => position,
                    Some(pad) if batch.ids[token] == pad => pad as usize,
                    Some(_) => {
                        counted += 1;
                        config.position_offset + counted - 1
                    }
                };
                for (value, add) in row.iter_mut().zip(&self.position_embeddings[p * h..(p + 1) * h]) {
                    *value += add;
                }
            }
        }
        let norm = &self.embedding_norm;
        self.isa.layer_norm(out, batch.ids.len(), h, &norm.gamma, &norm.beta, config.layer_norm_eps);
    }
}

/// Makes `buffer` hold at least `len` floats. It only grows: every pass writes the floats it
/// reads first, so a smaller batch after a larger one costs no clearing.
fn resize(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}
