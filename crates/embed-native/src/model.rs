//! A checkpoint loaded for the engine: `config.json` and the tensors of `model.safetensors`
//! (or of the shards a `model.safetensors.index.json` names) turned into the weights the
//! forward pass reads, packed once for the CPU's GEMM (query, key and value fused into one
//! matrix, the query pre-scaled by the attention's scale (in Qwen3 and Gemma3, whose query is
//! normalized after its projection, the scale goes into the norm's weight); ModernBERT's GeGLU
//! and the decoders' SwiGLU and GELU GLU expansions packed gated, each output's value and gate
//! rows in one panel; Gemma3's RMSNorm weights `w` kept as the `1 + w` they scale by).
//!
//! This file knows the tensor names of each architecture and nothing of how the forward pass
//! runs (that is `encoder.rs`).

use std::path::Path;

use crate::NativeError;
use crate::config::{Architecture, ModelConfig, read_config};
use crate::kernels::{Isa, Panels};
use crate::rotary::Frequencies;
use crate::weights::{MappedRange, Weights};

/// A LayerNorm's scale and shift (zeros where the checkpoint has none).
#[derive(Debug)]
pub(crate) struct Norm {
    pub gamma: Vec<f32>,
    pub beta: Vec<f32>,
}

/// One encoder layer. The BERT family normalizes after each residual sum; ModernBERT and the
/// decoders before each block (see `encoder.rs`).
#[derive(Debug)]
pub(crate) struct Layer {
    /// Query (scaled), key and value: `qkv_width` outputs.
    pub qkv: Panels,
    /// Qwen3 and Gemma3: the RMSNorms of each query head (its weight scaled) and of each key
    /// head.
    pub head_norms: Option<[Norm; 2]>,
    /// The attention's output projection.
    pub attention_out: Panels,
    /// After the attention's residual sum, or ModernBERT's and the decoders' before the
    /// attention (`None` on ModernBERT's first layer, which takes the embeddings as they are).
    pub attention_norm: Option<Norm>,
    /// The feed-forward layer's expansion (`intermediate` outputs; packed gated for
    /// ModernBERT and the decoders) and contraction.
    pub up: Panels,
    pub down: Panels,
    /// After the feed-forward's residual sum, or ModernBERT's and the decoders' before the
    /// feed-forward.
    pub output_norm: Norm,
    /// Gemma3: the RMSNorms of the attention's output and of the feed-forward's, before each is
    /// added into the residual stream.
    pub post_norms: Option<[Norm; 2]>,
    /// ModernBERT and the decoders: which of [`Model::frequencies`] turns the queries and keys.
    pub rotary: Option<usize>,
    /// ModernBERT's and Gemma3's local layers: how far from a query its keys reach.
    pub reach: Option<usize>,
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
    /// Empty for ModernBERT.
    pub position_embeddings: Vec<f32>,
    /// Empty for MPNet and ModernBERT.
    pub token_type_embeddings: Vec<f32>,
    /// `None` for the decoders, which take the word embeddings as they are...
    pub embedding_norm: Option<Norm>,
    /// ...but for Gemma3's scale, `sqrt(hidden)` rounded to `f32`.
    pub embedding_scale: Option<f32>,
    pub layers: Vec<Layer>,
    /// MPNet: `relative_buckets × heads`, else empty.
    pub relative_bias: Vec<f32>,
    /// ModernBERT and the decoders: the norm after the last layer.
    pub final_norm: Option<Norm>,
    /// ModernBERT and Gemma3: the rotary frequencies of the global base, then of the local one;
    /// Qwen: of their one base.
    pub frequencies: Vec<Frequencies>,
}

impl Model {
    /// Loads `<dir>/config.json` and the checkpoint's weights (see [`Weights::open`]).
    pub fn load(dir: &Path, isa: Isa) -> Result<Self, NativeError> {
        let config = read_config(dir)?;
        let weights = Weights::open(dir)?;
        if config.architecture.is_decoder() {
            return Self::load_decoder(config, isa, weights);
        }
        match LayerNames::of(config.architecture) {
            Some(names) => Self::load_bert(config, isa, weights, &names),
            None => Self::load_modernbert(config, isa, weights),
        }
    }

    /// BERT, RoBERTa and MPNet: `encoder.layer.<i>.` tensors named by `names`.
    fn load_bert(config: ModelConfig, isa: Isa, mut weights: Weights, names: &LayerNames) -> Result<Self, NativeError> {
        weights.use_prefix_of("embeddings.word_embeddings.weight")?;
        let (h, i) = (config.hidden, config.intermediate);
        let word_embeddings = word_table(&weights, "embeddings.word_embeddings.weight", [config.vocab_size, h])?;
        let position_embeddings =
            weights.get("embeddings.position_embeddings.weight", &[config.max_positions, h])?.into_owned();
        let token_type_embeddings = if config.type_vocab_size > 0 {
            weights.get("embeddings.token_type_embeddings.weight", &[config.type_vocab_size, h])?.into_owned()
        } else {
            Vec::new()
        };
        let embedding_norm = Some(norm(&weights, "embeddings.LayerNorm", h)?);
        let scale = config.attention_scale;
        let keep = word_embeddings.mapped();
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
                    head_norms: None,
                    attention_out: linear(names.attention_out, h, h)?,
                    attention_norm: Some(norm(&weights, &at(names.attention_norm), h)?),
                    up: linear("intermediate.dense", i, h)?,
                    down: linear("output.dense", h, i)?,
                    output_norm: norm(&weights, &at("output.LayerNorm"), h)?,
                    post_norms: None,
                    rotary: None,
                    reach: None,
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
            embedding_scale: None,
            layers,
            relative_bias,
            final_norm: None,
            frequencies: Vec::new(),
        })
    }

    /// ModernBERT: the tensors [`ModernNames`] lists, biases and shifts where `config.json`
    /// says the model has them.
    fn load_modernbert(config: ModelConfig, isa: Isa, mut weights: Weights) -> Result<Self, NativeError> {
        let names = ModernNames::NAMES;
        weights.use_prefix_of(names.words)?;
        let (h, i, d) = (config.hidden, config.intermediate, config.head_size());
        let rotary = config.rotary.clone().expect("a ModernBERT config has rotary positions");
        let word_embeddings = word_table(&weights, names.words, [config.vocab_size, h])?;
        let norm = |base: &str| modern_norm(&weights, base, h, config.norm_bias);
        let embedding_norm = Some(norm(names.embedding_norm)?);
        let scale = config.attention_scale;
        let keep = word_embeddings.mapped();
        let layers = (0..config.layers)
            .map(|index| {
                // As in `load_bert`: the last layer's pages are in its panels now.
                weights.release_pages(keep);
                let at = |suffix: &str| ModernNames::layer(index, suffix);
                let linear = |name: &str, n: usize, k: usize, biased: bool| {
                    let w = weights.get(&format!("{}.weight", at(name)), &[n, k])?;
                    let b = if biased { Some(weights.get(&format!("{}.bias", at(name)), &[n])?) } else { None };
                    Ok::<_, NativeError>((w, b))
                };
                let (mut qkv_w, qkv_b) = {
                    let (w, b) = linear(names.qkv, 3 * h, h, config.attention_bias)?;
                    (w.into_owned(), b.map(std::borrow::Cow::into_owned))
                };
                qkv_w[..h * h].iter_mut().for_each(|v| *v *= scale);
                let qkv_b = qkv_b.map(|mut b| {
                    b[..h].iter_mut().for_each(|v| *v *= scale);
                    b
                });
                let (out_w, out_b) = linear(names.attention_out, h, h, config.attention_bias)?;
                let (up_w, up_b) = linear(names.up, 2 * i, h, config.mlp_bias)?;
                let (down_w, down_b) = linear(names.down, h, i, config.mlp_bias)?;
                let global = rotary.is_global(index);
                Ok(Layer {
                    qkv: Panels::pack(isa, &qkv_w, 3 * h, h, h, qkv_b.as_deref()),
                    head_norms: None,
                    attention_out: Panels::pack(isa, &out_w, h, h, h, out_b.as_deref()),
                    // The first layer's `attn_norm` is the identity, and has no tensor.
                    attention_norm: if index == 0 { None } else { Some(norm(&at(names.attention_norm))?) },
                    up: Panels::pack_gated(isa, &up_w, i, h, up_b.as_deref()),
                    down: Panels::pack(isa, &down_w, h, i, i, down_b.as_deref()),
                    output_norm: norm(&at(names.mlp_norm))?,
                    post_norms: None,
                    rotary: Some(usize::from(!global)),
                    reach: (!global).then(|| rotary.reach()),
                })
            })
            .collect::<Result<Vec<_>, NativeError>>()?;
        let final_norm = Some(norm(names.final_norm)?);
        Ok(Self {
            frequencies: vec![Frequencies::new(rotary.global_base, d), Frequencies::new(rotary.local_base, d)],
            config,
            isa,
            weights,
            word_embeddings,
            position_embeddings: Vec::new(),
            token_type_embeddings: Vec::new(),
            embedding_norm,
            embedding_scale: None,
            layers,
            relative_bias: Vec::new(),
            final_norm,
        })
    }

    /// Qwen2, Qwen3 and Gemma3: the tensors [`DecoderNames`] lists (`model.` before each in a
    /// checkpoint with a head), biases where the family or `config.json` says; Gemma3's norms
    /// after each block too, every norm's weight `w` taken as `1 + w`.
    fn load_decoder(config: ModelConfig, isa: Isa, mut weights: Weights) -> Result<Self, NativeError> {
        let names = DecoderNames::NAMES;
        weights.use_prefix_of(names.words)?;
        let (h, i, d) = (config.hidden, config.intermediate, config.head_size());
        let (qw, kvw) = (config.heads * d, config.kv_heads * d);
        let qkv_width = config.qkv_width();
        let rotary = config.rotary.clone().expect("a decoder config has rotary positions");
        let gemma = config.architecture == Architecture::Gemma3;
        // Qwen3 and Gemma3 normalize each query and key head after the projection.
        let head_normed = config.architecture != Architecture::Qwen2;
        let word_embeddings = word_table(&weights, names.words, [config.vocab_size, h])?;
        let scale = config.attention_scale;
        let keep = word_embeddings.mapped();
        // Gemma3's RMSNorm scales by `1 + w`, computed in `f32` as the reference does.
        let offset = if gemma { 1.0 } else { 0.0 };
        let rms = |name: &str, width: usize, factor: f32| -> Result<Norm, NativeError> {
            let weight = weights.get(&format!("{name}.weight"), &[width])?;
            Ok(Norm { gamma: weight.iter().map(|w| (offset + w) * factor).collect(), beta: Vec::new() })
        };
        let layers = (0..config.layers)
            .map(|index| {
                // As in `load_bert`: the last layer's pages are in its panels now.
                weights.release_pages(keep);
                let at = |suffix: &str| DecoderNames::layer(index, suffix);
                let linear = |name: &str, n: usize, k: usize, biased: bool| {
                    let w = weights.get(&format!("{}.weight", at(name)), &[n, k])?;
                    let b = if biased { Some(weights.get(&format!("{}.bias", at(name)), &[n])?) } else { None };
                    Ok::<_, NativeError>((w, b))
                };
                // Where the query is normalized after the projection, its scale goes into that
                // norm's weight; Qwen2's goes into the projection.
                let query_factor = if head_normed { 1.0 } else { scale };
                let parts = [(names.query, qw, query_factor), (names.key, kvw, 1.0), (names.value, kvw, 1.0)]
                    .into_iter()
                    .map(|(name, n, factor)| linear(name, n, h, config.attention_bias).map(|part| (part, factor)))
                    .collect::<Result<Vec<_>, NativeError>>()?;
                let mut qkv_w = Vec::with_capacity(qkv_width * h);
                let mut qkv_b = Vec::with_capacity(qkv_width);
                for ((w, b), factor) in parts {
                    qkv_w.extend(w.iter().map(|v| v * factor));
                    if let Some(b) = b {
                        qkv_b.extend(b.iter().map(|v| v * factor));
                    }
                }
                let head_norms = if head_normed {
                    Some([rms(&at(names.query_norm), d, scale)?, rms(&at(names.key_norm), d, 1.0)?])
                } else {
                    None
                };
                // Qwen2's output projection has no bias; the others' have one where their others do.
                let (out_w, out_b) = linear(names.attention_out, h, qw, head_normed && config.attention_bias)?;
                let (gate_w, _) = linear(names.gate, i, h, false)?;
                let (up_w, _) = linear(names.up, i, h, false)?;
                let (down_w, _) = linear(names.down, h, i, false)?;
                // The gated packing takes the activated rows (the gate projection's) first.
                let mut gated = Vec::with_capacity(2 * i * h);
                gated.extend_from_slice(&gate_w);
                gated.extend_from_slice(&up_w);
                let global = rotary.is_global(index);
                let (output_norm, post_norms) = if gemma {
                    let post =
                        [rms(&at(names.post_attention_norm), h, 1.0)?, rms(&at(names.post_feedforward_norm), h, 1.0)?];
                    (rms(&at(names.pre_feedforward_norm), h, 1.0)?, Some(post))
                } else {
                    (rms(&at(names.post_attention_norm), h, 1.0)?, None)
                };
                Ok(Layer {
                    qkv: Panels::pack(isa, &qkv_w, qkv_width, h, h, config.attention_bias.then_some(&qkv_b[..])),
                    head_norms,
                    attention_out: Panels::pack(isa, &out_w, h, qw, qw, out_b.as_deref()),
                    attention_norm: Some(rms(&at(names.attention_norm), h, 1.0)?),
                    up: Panels::pack_gated(isa, &gated, i, h, None),
                    down: Panels::pack(isa, &down_w, h, i, i, None),
                    output_norm,
                    post_norms,
                    rotary: Some(usize::from(!global)),
                    reach: (!global).then(|| rotary.reach()),
                })
            })
            .collect::<Result<Vec<_>, NativeError>>()?;
        let final_norm = Some(rms(names.final_norm, h, 1.0)?);
        // The local base's table only where some layer attends to a window.
        let mut frequencies = vec![Frequencies::new(rotary.global_base, d)];
        if rotary.has_local() {
            frequencies.push(Frequencies::new(rotary.local_base, d));
        }
        Ok(Self {
            frequencies,
            // `hidden_size ** 0.5` in `f64`, rounded to `f32` as the reference's buffer holds it.
            embedding_scale: gemma.then(|| (h as f64).sqrt() as f32),
            config,
            isa,
            weights,
            word_embeddings,
            position_embeddings: Vec::new(),
            token_type_embeddings: Vec::new(),
            embedding_norm: None,
            layers,
            relative_bias: Vec::new(),
            final_norm,
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
                    + l.attention_norm.as_ref().map_or(0, norms)
                    + l.head_norms.as_ref().map_or(0, |[q, k]| norms(q) + norms(k))
                    + l.post_norms.as_ref().map_or(0, |[a, f]| norms(a) + norms(f))
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
            + self.embedding_norm.as_ref().map_or(0, norms)
            + self.final_norm.as_ref().map_or(0, norms)
    }
}

impl Table {
    /// The range to keep resident while the other pages are released.
    fn mapped(&self) -> Option<MappedRange> {
        match self {
            Table::Mapped(range) => Some(*range),
            Table::Owned(_) => None,
        }
    }
}

/// The word table `name` of `shape`: borrowed from its mapping where it can be.
fn word_table(weights: &Weights, name: &str, shape: [usize; 2]) -> Result<Table, NativeError> {
    Ok(match weights.mapped(name, &shape)? {
        Some(range) => Table::Mapped(range),
        None => Table::Owned(weights.get(name, &shape)?.into_owned()),
    })
}

/// The names of a BERT-family layer's tensors, relative to `encoder.layer.<i>.`.
pub(crate) struct LayerNames {
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    pub attention_out: &'static str,
    pub attention_norm: &'static str,
}

impl LayerNames {
    /// The names for `architecture`; `None` for ModernBERT, whose tensors [`ModernNames`] names,
    /// and the decoders ([`DecoderNames`]).
    pub fn of(architecture: Architecture) -> Option<Self> {
        match architecture {
            Architecture::Bert | Architecture::Roberta => Some(Self {
                query: "attention.self.query",
                key: "attention.self.key",
                value: "attention.self.value",
                attention_out: "attention.output.dense",
                attention_norm: "attention.output.LayerNorm",
            }),
            Architecture::Mpnet => Some(Self {
                query: "attention.attn.q",
                key: "attention.attn.k",
                value: "attention.attn.v",
                attention_out: "attention.attn.o",
                attention_norm: "attention.LayerNorm",
            }),
            Architecture::ModernBert | Architecture::Qwen3 | Architecture::Qwen2 | Architecture::Gemma3 => None,
        }
    }
}

/// The names of ModernBERT's tensors (as `ModernBertModel` saves them; `model.` before each
/// in a checkpoint with a head): linear layers and norms, before `.weight` and `.bias`.
pub(crate) struct ModernNames {
    /// The word table (a full name).
    pub words: &'static str,
    pub embedding_norm: &'static str,
    pub final_norm: &'static str,
    /// Relative to `layers.<i>.` ([`ModernNames::layer`]).
    pub attention_norm: &'static str,
    pub qkv: &'static str,
    pub attention_out: &'static str,
    pub mlp_norm: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

impl ModernNames {
    pub const NAMES: Self = Self {
        words: "embeddings.tok_embeddings.weight",
        embedding_norm: "embeddings.norm",
        final_norm: "final_norm",
        attention_norm: "attn_norm",
        qkv: "attn.Wqkv",
        attention_out: "attn.Wo",
        mlp_norm: "mlp_norm",
        up: "mlp.Wi",
        down: "mlp.Wo",
    };

    /// The name of `suffix` in layer `index`.
    pub fn layer(index: usize, suffix: &str) -> String {
        format!("layers.{index}.{suffix}")
    }
}

/// The names of Qwen2's, Qwen3's and Gemma3's tensors (as `Qwen2Model`, `Qwen3Model` and
/// `Gemma3TextModel` save them; `model.` before each in a checkpoint with a head): linear layers
/// and norms, before `.weight` and `.bias`.
pub(crate) struct DecoderNames {
    /// The word table (a full name).
    pub words: &'static str,
    pub final_norm: &'static str,
    /// Relative to `layers.<i>.` ([`DecoderNames::layer`]).
    pub attention_norm: &'static str,
    pub query: &'static str,
    pub key: &'static str,
    pub value: &'static str,
    /// Qwen3 and Gemma3 only.
    pub query_norm: &'static str,
    pub key_norm: &'static str,
    pub attention_out: &'static str,
    /// Qwen's norm before the feed-forward; Gemma3's after the attention.
    pub post_attention_norm: &'static str,
    /// Gemma3 only: before and after the feed-forward.
    pub pre_feedforward_norm: &'static str,
    pub post_feedforward_norm: &'static str,
    pub gate: &'static str,
    pub up: &'static str,
    pub down: &'static str,
}

impl DecoderNames {
    pub const NAMES: Self = Self {
        words: "embed_tokens.weight",
        final_norm: "norm",
        attention_norm: "input_layernorm",
        query: "self_attn.q_proj",
        key: "self_attn.k_proj",
        value: "self_attn.v_proj",
        query_norm: "self_attn.q_norm",
        key_norm: "self_attn.k_norm",
        attention_out: "self_attn.o_proj",
        post_attention_norm: "post_attention_layernorm",
        pre_feedforward_norm: "pre_feedforward_layernorm",
        post_feedforward_norm: "post_feedforward_layernorm",
        gate: "mlp.gate_proj",
        up: "mlp.up_proj",
        down: "mlp.down_proj",
    };

    /// The name of `suffix` in layer `index`.
    pub fn layer(index: usize, suffix: &str) -> String {
        format!("layers.{index}.{suffix}")
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

/// A ModernBERT LayerNorm: `weight`, and `bias` where the model has shifts (else zeros).
fn modern_norm(weights: &Weights, base: &str, width: usize, shifted: bool) -> Result<Norm, NativeError> {
    Ok(Norm {
        gamma: weights.get(&format!("{base}.weight"), &[width])?.into_owned(),
        beta: if shifted { weights.get(&format!("{base}.bias"), &[width])?.into_owned() } else { vec![0.0; width] },
    })
}
