//! The forward pass over a packed batch: every token of every sequence in one
//! `tokens × hidden` matrix, no padding anywhere.
//!
//! Per layer of BERT, RoBERTa and MPNet: one GEMM for query, key and value (bias fused);
//! attention per sequence and head (`attention.rs`); the output projection added into the
//! residual stream by its GEMM's epilogue, then LayerNorm in place; the feed-forward expansion
//! with bias and GELU fused, its contraction added into the residual stream, LayerNorm.
//! ModernBERT normalizes before each block instead (into a buffer of its own; its first layer's
//! attention takes the embeddings as they are) and once after the last layer; its attention
//! turns queries and keys by rotary tables, in local layers over a sliding window; its
//! expansion is a gated GEMM (GeGLU fused). The decoders (Qwen2, Qwen3, Gemma3) normalize before
//! each block and after the last too, with RMSNorm; Qwen3 and Gemma3 normalize each head's query
//! and key after their GEMM; their attention is rotary and grouped-query, Qwen's causal, Gemma3's
//! bidirectional with sliding windows in its local layers; their expansion is a gated GEMM
//! (SwiGLU, Gemma3's GELU GLU fused). Gemma3 scales its word embeddings and normalizes each
//! block's output too, before adding it into the residual stream (the block's last GEMM stores
//! into a free buffer, and one row pass normalizes and adds). Buffers live in a [`Scratch`]
//! reused from call to call. This file knows the order of operations of each family and nothing
//! of tokenizers or pooling.

use std::sync::Mutex;

use crate::NativeError;
use crate::attention::{AttentionScratch, RelativeBias, attention};
use crate::config::Architecture;
use crate::kernels::{self, Epilogue, MatMut, MatRef, Parallel, Positions};
use crate::model::{Layer, Model, Norm};
use crate::rotary::RotaryTable;

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
    /// ModernBERT: the rotary tables of the model's frequencies, grown to the longest sequence
    /// seen.
    rotary: Vec<RotaryTable>,
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
        resize(&mut scratch.qkv, tokens * config.qkv_width());
        // The attention's context, and the normalized stream of the pre-norm families.
        resize(&mut scratch.context, tokens * h.max(config.attention_width()));
        // The feed-forward's expansion (its rows padded: kernels::leading_dimension), and Gemma3's
        // attention output before its norm.
        resize(&mut scratch.intermediate, tokens * kernels::leading_dimension(config.intermediate).max(h));
        while scratch.attention.len() < threads.width() {
            scratch.attention.push(Mutex::new(AttentionScratch::default()));
        }
        self.embed(batch, &scratch.offsets, &mut scratch.hidden[..tokens * h]);
        match config.architecture {
            Architecture::ModernBert => self.pre_norm_layers(batch, threads, scratch),
            Architecture::Qwen3 | Architecture::Qwen2 | Architecture::Gemma3 => {
                self.decoder_layers(batch, threads, scratch);
            }
            Architecture::Bert | Architecture::Roberta | Architecture::Mpnet => {
                self.post_norm_layers(batch, threads, scratch);
            }
        }
        &scratch.hidden[..tokens * h]
    }

    /// BERT, RoBERTa and MPNet: each block, then its residual sum normalized in place.
    fn post_norm_layers(&self, batch: &PackedBatch<'_>, threads: &dyn Parallel, scratch: &mut Scratch) {
        let config = &self.config;
        let (h, tokens, isa, eps) = (config.hidden, batch.ids.len(), self.isa, config.layer_norm_eps);
        let bias = match config.architecture {
            Architecture::Mpnet => Some(RelativeBias::new(&self.relative_bias, config.heads, batch.lengths)),
            _ => None,
        };
        for layer in &self.layers {
            let positions = Positions::default();
            self.attention_block(layer, batch, threads, scratch, Source::Stream, (bias.as_ref(), positions), None);
            if let Some(norm) = &layer.attention_norm {
                isa.layer_norm(&mut scratch.hidden, tokens, h, &norm.gamma, &norm.beta, eps);
            }
            self.feed_forward(layer, batch, threads, scratch, Source::Stream, Epilogue::Gelu(config.gelu), None);
            let norm = &layer.output_norm;
            isa.layer_norm(&mut scratch.hidden, tokens, h, &norm.gamma, &norm.beta, eps);
        }
    }

    /// The rotary tables of `scratch`, covering the batch's longest text (its length, returned
    /// with them), taken out of the scratch while the attention borrows their rows: the caller
    /// puts them back.
    fn rotary_tables(&self, batch: &PackedBatch<'_>, scratch: &mut Scratch) -> (usize, Vec<RotaryTable>) {
        let longest = batch.lengths.iter().copied().max().unwrap_or(0);
        scratch.rotary.resize_with(self.frequencies.len(), RotaryTable::default);
        for (table, frequencies) in scratch.rotary.iter_mut().zip(&self.frequencies) {
            table.cover(frequencies, longest);
        }
        (longest, std::mem::take(&mut scratch.rotary))
    }

    /// ModernBERT: each block reads the residual stream normalized into `scratch.context`
    /// (free until the attention writes it; the first attention reads the stream itself), and
    /// the last layer's output is normalized in place.
    fn pre_norm_layers(&self, batch: &PackedBatch<'_>, threads: &dyn Parallel, scratch: &mut Scratch) {
        let config = &self.config;
        let (h, tokens, isa, eps) = (config.hidden, batch.ids.len(), self.isa, config.layer_norm_eps);
        let (longest, rotary) = self.rotary_tables(batch, scratch);
        for layer in &self.layers {
            let source = match &layer.attention_norm {
                Some(norm) => {
                    let (from, to) = (&scratch.hidden[..tokens * h], &mut scratch.context[..tokens * h]);
                    isa.layer_norm_into(from, to, tokens, h, &norm.gamma, &norm.beta, eps);
                    Source::Normed
                }
                None => Source::Stream,
            };
            let positions = Positions {
                rotary: layer.rotary.map(|index| rotary[index].rows(longest)),
                reach: layer.reach,
                causal: false,
            };
            self.attention_block(layer, batch, threads, scratch, source, (None, positions), None);
            let norm = &layer.output_norm;
            let (from, to) = (&scratch.hidden[..tokens * h], &mut scratch.context[..tokens * h]);
            isa.layer_norm_into(from, to, tokens, h, &norm.gamma, &norm.beta, eps);
            self.feed_forward(layer, batch, threads, scratch, Source::Normed, Epilogue::GeGlu(config.gelu), None);
        }
        if let Some(norm) = &self.final_norm {
            isa.layer_norm(&mut scratch.hidden, tokens, h, &norm.gamma, &norm.beta, eps);
        }
        scratch.rotary = rotary;
    }

    /// Qwen2, Qwen3 and Gemma3: each block reads the residual stream RMS-normalized into
    /// `scratch.context` (free until the attention writes it), Gemma3's output is normalized
    /// before it is added into the stream, and the last layer's output is normalized in place.
    fn decoder_layers(&self, batch: &PackedBatch<'_>, threads: &dyn Parallel, scratch: &mut Scratch) {
        let config = &self.config;
        let (h, tokens, isa, eps) = (config.hidden, batch.ids.len(), self.isa, config.layer_norm_eps);
        let (longest, rotary) = self.rotary_tables(batch, scratch);
        let norm_into = |from: &[f32], to: &mut [f32], norm: &Norm| {
            isa.rms_norm_into(&from[..tokens * h], &mut to[..tokens * h], tokens, h, &norm.gamma, eps);
        };
        let epilogue = match config.architecture {
            Architecture::Gemma3 => Epilogue::GeGlu(config.gelu),
            _ => Epilogue::SwiGlu,
        };
        for layer in &self.layers {
            let norm = layer.attention_norm.as_ref().expect("a decoder layer normalizes before its attention");
            norm_into(&scratch.hidden, &mut scratch.context, norm);
            let positions = Positions {
                rotary: layer.rotary.map(|index| rotary[index].rows(longest)),
                reach: layer.reach,
                causal: config.architecture.is_causal(),
            };
            let [after_attention, after_feed_forward] =
                layer.post_norms.as_ref().map(|[a, f]| [Some(a), Some(f)]).unwrap_or_default();
            self.attention_block(layer, batch, threads, scratch, Source::Normed, (None, positions), after_attention);
            norm_into(&scratch.hidden, &mut scratch.context, &layer.output_norm);
            self.feed_forward(layer, batch, threads, scratch, Source::Normed, epilogue, after_feed_forward);
        }
        if let Some(norm) = &self.final_norm {
            isa.rms_norm(&mut scratch.hidden, tokens, h, &norm.gamma, eps);
        }
        scratch.rotary = rotary;
    }

    /// Query, key and value of `source` (Qwen3's and Gemma3's query and key heads normalized),
    /// attention, and its projection added into the residual stream (normalized by `post` first
    /// where there is one).
    #[allow(clippy::too_many_arguments, reason = "the block's operands; every order of layers calls it")]
    fn attention_block(
        &self,
        layer: &Layer,
        batch: &PackedBatch<'_>,
        threads: &dyn Parallel,
        scratch: &mut Scratch,
        source: Source,
        (bias, positions): (Option<&RelativeBias>, Positions<'_>),
        post: Option<&Norm>,
    ) {
        let config = &self.config;
        let (h, tokens, isa) = (config.hidden, batch.ids.len(), self.isa);
        let (width, aw, d) = (config.qkv_width(), config.attention_width(), config.head_size());
        let source = match source {
            Source::Stream => &scratch.hidden,
            Source::Normed => &scratch.context,
        };
        let source = MatRef { data: source, rows: tokens, cols: h, stride: h };
        let qkv = MatMut::new(&mut scratch.qkv[..tokens * width], tokens, width, width);
        isa.matmul(threads, source, &layer.qkv, qkv, Epilogue::Store);
        if let Some([query, key]) = &layer.head_norms {
            // Each token's query heads, then its key heads, lie side by side: rows of `d`.
            let kw = config.kv_heads * d;
            for row in scratch.qkv[..tokens * width].chunks_exact_mut(width) {
                isa.rms_norm(&mut row[..aw], config.heads, d, &query.gamma, config.layer_norm_eps);
                isa.rms_norm(&mut row[aw..aw + kw], config.kv_heads, d, &key.gamma, config.layer_norm_eps);
            }
        }
        attention(
            isa,
            threads,
            &scratch.qkv,
            &mut scratch.context,
            (batch.lengths, &scratch.offsets),
            (config.heads, config.kv_heads, d),
            (bias, positions),
            &scratch.attention,
        );
        let context = MatRef { data: &scratch.context, rows: tokens, cols: aw, stride: aw };
        match post {
            None => {
                let residual = MatMut::new(&mut scratch.hidden, tokens, h, h);
                isa.matmul(threads, context, &layer.attention_out, residual, Epilogue::Accumulate);
            }
            Some(norm) => {
                // The intermediate buffer is free until the feed-forward.
                let out = &mut scratch.intermediate[..tokens * h];
                isa.matmul(threads, context, &layer.attention_out, MatMut::new(out, tokens, h, h), Epilogue::Store);
                isa.rms_norm_add(out, &mut scratch.hidden[..tokens * h], tokens, h, &norm.gamma, config.layer_norm_eps);
            }
        }
    }

    /// The feed-forward of `source`: the expansion with `epilogue`, its contraction added into
    /// the residual stream (normalized by `post` first where there is one).
    #[allow(clippy::too_many_arguments, reason = "the block's operands; every order of layers calls it")]
    fn feed_forward(
        &self,
        layer: &Layer,
        batch: &PackedBatch<'_>,
        threads: &dyn Parallel,
        scratch: &mut Scratch,
        source: Source,
        epilogue: Epilogue,
        post: Option<&Norm>,
    ) {
        let config = &self.config;
        let (h, i, tokens, isa) = (config.hidden, config.intermediate, batch.ids.len(), self.isa);
        let source = match source {
            Source::Stream => &scratch.hidden,
            Source::Normed => &scratch.context,
        };
        let source = MatRef { data: source, rows: tokens, cols: h, stride: h };
        let ld = kernels::leading_dimension(i);
        let intermediate = MatMut::new(&mut scratch.intermediate, tokens, i, ld);
        isa.matmul(threads, source, &layer.up, intermediate, epilogue);
        let intermediate = MatRef { data: &scratch.intermediate, rows: tokens, cols: i, stride: ld };
        match post {
            None => {
                let residual = MatMut::new(&mut scratch.hidden, tokens, h, h);
                isa.matmul(threads, intermediate, &layer.down, residual, Epilogue::Accumulate);
            }
            Some(norm) => {
                // The normalized stream the expansion read is free now.
                let out = &mut scratch.context[..tokens * h];
                isa.matmul(threads, intermediate, &layer.down, MatMut::new(out, tokens, h, h), Epilogue::Store);
                isa.rms_norm_add(out, &mut scratch.hidden[..tokens * h], tokens, h, &norm.gamma, config.layer_norm_eps);
            }
        }
    }

    /// Word, position and token type embeddings (those the model has), summed in the order the
    /// reference adds them, then LayerNorm (or Gemma3's scale).
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
                if let Some(scale) = self.embedding_scale {
                    row.iter_mut().for_each(|value| *value *= scale);
                }
                if !self.token_type_embeddings.is_empty() {
                    let kind = batch.type_ids.get(token).map_or(0, |&t| t as usize);
                    for (value, add) in row.iter_mut().zip(&self.token_type_embeddings[kind * h..(kind + 1) * h]) {
                        *value += add;
                    }
                }
                if self.position_embeddings.is_empty() {
                    continue;
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
        if let Some(norm) = &self.embedding_norm {
            self.isa.layer_norm(out, batch.ids.len(), h, &norm.gamma, &norm.beta, config.layer_norm_eps);
        }
    }
}

/// What a block reads.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The residual stream itself.
    Stream,
    /// The stream normalized into `Scratch::context`.
    Normed,
}

/// Makes `buffer` hold at least `len` floats. It only grows: every pass writes the floats it
/// reads first, so a smaller batch after a larger one costs no clearing.
fn resize(buffer: &mut Vec<f32>, len: usize) {
    if buffer.len() < len {
        buffer.resize(len, 0.0);
    }
}
