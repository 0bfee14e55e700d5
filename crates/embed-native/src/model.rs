//! A checkpoint loaded for the engine: `config.json` and the tensors of `model.safetensors`
//! (or of the shards a `model.safetensors.index.json` names) turned into the weights the
//! forward pass reads, packed once for the CPU's GEMM (query, key and value fused into one
//! matrix, the query pre-scaled by `1/sqrt(head size)`).
//!
//! This file knows the tensor names of each architecture and nothing of how the forward pass
//! runs (that is `encoder.rs`).

use std::path::Path;

use crate::NativeError;
use crate::config::{Architecture, ModelConfig, read_config};
use crate::kernels::{Isa, Panels};
use crate::weights::{MappedRange, Weights};

/// A LayerNorm's scale and shift.
#[derive(Debug)]
pub(crate) struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// One encoder layer.
#[derive(Debug)]
pub(crate) struct Layer {
    /// Query (scaled), key and value: `3 · hidden` outputs.
    pub qkv: Panels,
    /// The attention's output projection.
    pub attention_out: Panels,
    pub attention_norm: Norm,
    /// The feed-forward layer's expansion (`intermediate` outputs) and contraction.
    pub up: Panels,
    pub down: Panels,
    pub output_norm: Norm,
}

/// The word embedding table: borrowed from the mapping where the file holds `f32`.
#[derive(Debug)]
pub(crate) enum Table {
    Mapped(MappedRange),
    Owned(Vec<f32>),
}

/// Everything a forward pass reads.
#[derive(Debug)]
pub(crate) struct Model {
    pub config: ModelConfig,
    pub isa: Isa,
    pub weights: Weights,
    pub word_embeddings: Table,
    pub position_embeddings: Vec<f32>,
    /// Empty for MPNet.
    pub token_type_embeddings: Vec<f32>,
    pub embedding_norm: Norm,
    pub layers: Vec<Layer>,
    /// MPNet: `relative_buckets × heads`, else empty.
    pub relative_bias: Vec<f32>,
}

impl Model {
    /// Loads `<dir>/config.json` and the checkpoint's weights (see [`Weights::open`]).
    pub fn load(dir: &Path, isa: Isa) -> Result<Self, NativeError> {
        let config = read_config(dir)?;
        let mut weights = Weights::open(dir)?;
        weights.use_prefix_of("embeddings.word_embeddings.weight")?;
        let (h, i) = (config.hidden, config.intermediate);
        let word_shape = [config.vocab_size, h];
        let word_embeddings = match weights.mapped("embeddings.word_embeddings.weight", &word_shape)? {
            Some(range) => Table::Mapped(range),
            None => Table::Owned(weights.get("embeddings.word_embeddings.weight", &word_shape)?.into_owned()),
        };
        let position_embeddings =
            weights.get("embeddings.position_embeddings.weight", &[config.max_positions, h])?.into_owned();
        let token_type_embeddings = if config.type_vocab_size > 0 {
            weights.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?.into_owned()
        } else {
            Vec::new()
        };
        let embedding_norm = norm(&weights, "embeddings.LayerNorm", h)?;
        let names = LayerNames::of(config.architecture);
        let scale = 1.0 / (config.head_size() as f32).sqrt();
        let keep = match &word_embeddings {
            Table::Mapped(range) => Some(*range),
            Table::Owned(_) => None,
        };
        let layers = (0..config.layers)
            .map(|index| {
                // The last layer's pages were copied into its panels: resident memory holds
                // the packed weights, not the file too.
                weights.release_pages(keep);
                let at = |suffix: &str| format!("encoder.layer.{index}.{suffix}");
                let linear = |name: &str, n: usize, k: usize| -> Result<Panels, NativeError> {
                    let w = weights.get(&format!("{}.weight", at(name)), &[n, k])?;
                    let b = weights.get(&format!("{}.bias", at(name)), &[n])?;
                    Ok(Panels::pack(isa, &w, n, k, k, Some(&b)))
                };
                // Every part is found and its shape checked before room for all three is taken.
                let parts = [(names.query, scale), (names.key, 1.0), (names.value, 1.0)]
                    .into_iter()
                    .map(|(name, factor)| {
                        let w = weights.get(&format!("{}.weight", at(name)), &[h, h])?;
                        let b = weights.get(&format!("{}.bias", at(name)), &[h])?;
                        Ok((w, b, factor))
                    })
                    .collect::<Result<Vec<_>, NativeError>>()?;
                let mut qkv_w = Vec::with_capacity(3 * h * h);
                let mut qkv_b = Vec::with_capacity(3 * h);
                for (w, b, factor) in parts {
                    qkv_w.extend(w.iter().map(|v| v * factor));
                    qkv_b.extend(b.iter().map(|v| v * factor));
                }
                Ok(Layer {
                    qkv: Panels::pack(isa, &qkv_w, 3 * h, h, h, Some(&qkv_b)),
                    attention_out: linear(names.attention_out, h, h)?,
                    attention_norm: norm(&weights, &at(names.attention_norm), h)?,
                    up: linear("intermediate.dense", i, h)?,
                    down: linear("output.dense", h, i)?,
                    output_norm: norm(&weights, &at("output.LayerNorm"), h)?,
                })
            })
            .collect::<Result<Vec<_>, NativeError>>()?;
        let relative_bias = if config.architecture == Architecture::Mpnet {
            weights
                .get("encoder.relative_attention_bias.weight", &[config.relative_buckets, config.heads])?
                .into_owned()
        } else {
            Vec::new()
        };
        Ok(Self {
            config,
            isa,
            weights,
            word_embeddings,
            position_embeddings,
            token_type_embeddings,
            embedding_norm,
            layers,
            relative_bias,
        })
    }

    /// The word embedding table, `vocab_size × hidden`.
    pub fn word_table(&self) -> &[f32] {
        match &self.word_embeddings {
            Table::Mapped(range) => self.weights.slice(*range),
            Table::Owned(values) => values,
        }
    }

    /// Bytes the packed weights and tables hold in memory (the mapped word table not counted:
    /// only the rows a batch reads become resident).
    pub fn resident_bytes(&self) -> usize {
        let norms = |n: &Norm| (n.gamma.len() + n.beta.len()) * 4;
        let layers: usize = self
            .layers
            .iter()
            .map(|l| {
                l.qkv.bytes()
                    + l.attention_out.bytes()
                    + l.up.bytes()
                    + l.down.bytes()
                    + norms(&l.attention_norm)
                    + norms(&l.output_norm)
            })
            .sum();
        let owned_words = match &self.word_embeddings {
            Table::Mapped(_) => 0,
            Table::Owned(values) => values.len() * 4,
        };
        layers
            + owned_words
            + (self.position_embeddings.len() + self.token_type_embeddings.len() + self.relative_bias.len()) * 4
            + norms(&self.embedding_norm)
    }
}

/// The names of one layer's tensors, relative to `encoder.layer.<i>.`.
pub(crate) struct LayerNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
}

impl LayerNames {
    pub fn of(architecture: Architecture) -> Self {
        match architecture {
            Architecture::Bert | Architecture::Roberta => Self {
                query: "attention.self.query",
                key: "attention.self.key",
                value: "attention.self.value",
                attention_out: "attention.output.dense",
                attention_norm: "attention.output.LayerNorm",
            },
            Architecture::Mpnet => Self {
                query: "attention.attn.q",
                key: "attention.attn.k",
                value: "attention.attn.v",
                attention_out: "attention.attn.o",
                attention_norm: "attention.LayerNorm",
            },
        }
    }
}

/// A LayerNorm's parameters, named `weight`/`bias` or, in older checkpoints, `gamma`/`beta`.
fn norm(weights: &Weights, base: &str, width: usize) -> Result<Norm, NativeError> {
    let (scale, shift) = if weights.has(&format!("{base}.gamma")) { ("gamma", "beta") } else { ("weight", "bias") };
    Ok(Norm {
        gamma: weights.get(&format!("{base}.{scale}"), &[width])?.into_owned(),
        beta: weights.get(&format!("{base}.{shift}"), &[width])?.into_owned(),
    })
}
