//! Tiny random checkpoints of each family the engine runs (`config.json` and
//! `model.safetensors` with every tensor it reads, a few kilobytes, or the same tensors sharded
//! as the Hugging Face hub saves large models: `model.safetensors.index.json` and its shard
//! files), for tests and fuzzing of the loader: a test takes a valid one, breaks one thing
//! (drops a tensor, changes a shape or an element type, puts a NaN in a weight, names a
//! missing shard) and checks the error that names it.
//!
//! Knows the tensor names of each architecture only through `model.rs`; nothing of kernels.

use std::collections::BTreeMap;
use std::path::Path;

pub use safetensors::tensor::Dtype;
use safetensors::tensor::TensorView;

use crate::config::Architecture;
use crate::model::{DecoderNames, LayerNames, ModernNames};

/// One tensor of a [`Checkpoint`]: little-endian bytes of `shape` elements of `dtype`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Element type.
    pub dtype: Dtype,
    /// Dimensions.
    pub shape: Vec<usize>,
    /// The elements' bytes.
    pub bytes: Vec<u8>,
}

impl Tensor {
    /// An `f32` tensor.
    pub fn f32(shape: Vec<usize>, values: &[f32]) -> Self {
        Self { dtype: Dtype::F32, shape, bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect() }
    }

    /// Its elements as `f32` (`f32` tensors only).
    pub fn values(&self) -> Vec<f32> {
        self.bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    }

    /// The same values narrowed to F16 or BF16, or reinterpreted as another type's bytes (the
    /// element count kept, the bytes filled with zeros) for any other type.
    pub fn converted(&self, dtype: Dtype) -> Self {
        let values = self.values();
        let bytes = match dtype {
            Dtype::F32 => self.bytes.clone(),
            Dtype::F16 => values.iter().flat_map(|v| half::f16::from_f32(*v).to_le_bytes()).collect(),
            Dtype::BF16 => values.iter().flat_map(|v| half::bf16::from_f32(*v).to_le_bytes()).collect(),
            other => vec![0; (values.len() * other.bitsize()).div_ceil(8)],
        };
        Self { dtype, shape: self.shape.clone(), bytes }
    }
}

/// A checkpoint as files: `config.json`'s keys and the tensors of `model.safetensors` (or of
/// its shards).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    /// The keys of `config.json`.
    pub config: serde_json::Map<String, serde_json::Value>,
    /// The tensors by name.
    pub tensors: BTreeMap<String, Tensor>,
}

/// Sizes of [`Checkpoint::tiny`]: 8 wide, 2 heads, 2 layers, 16 words, 12 positions (ModernBERT:
/// its first layer global, its second local with a window of 4, so that each token sees the two
/// on either side; the decoders: 4 query heads of 6 sharing 2 key/value heads, so the attention
/// is 24 wide inside an 8-wide model; Gemma3: its first layer local with a window of 4, its second
/// global).
const HIDDEN: usize = 8;
const HEADS: usize = 2;
const LAYERS: usize = 2;
const INTERMEDIATE: usize = 16;
const VOCAB: usize = 16;
const POSITIONS: usize = 12;
const BUCKETS: usize = 8;
const LOCAL_WINDOW: usize = 4;
const DECODER_HEADS: usize = 4;
const DECODER_KV_HEADS: usize = 2;
const DECODER_HEAD_DIM: usize = 6;

/// Adds a tensor of the given name and shape, its values spread around a value.
type Add<'a> = dyn FnMut(String, Vec<usize>, f32, f32) + 'a;

impl Checkpoint {
    /// A valid checkpoint of `architecture` with weights drawn from `seed`. ModernBERT's,
    /// Qwen3's and Gemma3's have no biases, as ModernBERT-base, Qwen3-Embedding and
    /// EmbeddingGemma; Qwen2's have them on query, key and value.
    pub fn tiny(architecture: Architecture, seed: u64) -> Self {
        let mut random = Random(seed | 1);
        let mut tensors = BTreeMap::new();
        let mut add = |name: String, shape: Vec<usize>, around: f32, spread: f32| {
            let values: Vec<f32> =
                (0..shape.iter().product()).map(|_| around + spread * random.next_symmetric()).collect();
            tensors.insert(name, Tensor::f32(shape, &values));
        };
        let config = match LayerNames::of(architecture) {
            Some(names) => bert_family(architecture, &names, &mut add),
            None if architecture.is_decoder() => decoder(architecture, &mut add),
            None => modernbert(&mut add),
        };
        Self { config, tensors }
    }

    /// The text of `config.json`.
    pub fn config_json(&self) -> String {
        serde_json::Value::Object(self.config.clone()).to_string()
    }

    /// The bytes of `model.safetensors`.
    pub fn safetensors(&self) -> Result<Vec<u8>, safetensors::SafeTensorError> {
        serialize(&self.tensors)
    }

    /// Writes `config.json` and `model.safetensors` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        let weights = self.safetensors().map_err(std::io::Error::other)?;
        std::fs::write(dir.join("config.json"), self.config_json())?;
        std::fs::write(dir.join("model.safetensors"), weights)
    }

    /// Writes `config.json` and the tensors sharded into `shards` files (1 to one per tensor)
    /// as the Hugging Face hub saves them: `model-00001-of-0000N.safetensors` and on, each
    /// holding the next tensors in name order, and `model.safetensors.index.json` mapping
    /// every tensor to its shard.
    pub fn write_sharded(&self, dir: &Path, shards: usize) -> std::io::Result<()> {
        let count = self.tensors.len();
        if !(1..=count).contains(&shards) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{shards} shards of {count} tensors: expected 1 to {count}"),
            ));
        }
        let tensors: Vec<_> = self.tensors.iter().collect();
        let mut weight_map = serde_json::Map::new();
        for shard in 0..shards {
            let file = format!("model-{:05}-of-{shards:05}.safetensors", shard + 1);
            let part = &tensors[shard * count / shards..(shard + 1) * count / shards];
            let bytes = serialize(part.iter().copied()).map_err(std::io::Error::other)?;
            std::fs::write(dir.join(&file), bytes)?;
            weight_map.extend(part.iter().map(|(name, _)| ((*name).clone(), file.clone().into())));
        }
        let total_size: usize = self.tensors.values().map(|t| t.bytes.len()).sum();
        let index = serde_json::json!({ "metadata": { "total_size": total_size }, "weight_map": weight_map });
        std::fs::write(dir.join("config.json"), self.config_json())?;
        std::fs::write(dir.join("model.safetensors.index.json"), index.to_string())
    }
}

/// The tensors of a BERT-family checkpoint, and its `config.json`.
fn bert_family(
    architecture: Architecture,
    names: &LayerNames,
    add: &mut Add<'_>,
) -> serde_json::Map<String, serde_json::Value> {
    let norm = |add: &mut Add<'_>, base: &str| {
        add(format!("{base}.weight"), vec![HIDDEN], 1.0, 0.1);
        add(format!("{base}.bias"), vec![HIDDEN], 0.0, 0.1);
    };
    let (model_type, types) = match architecture {
        Architecture::Bert => ("bert", 2),
        Architecture::Mpnet => ("mpnet", 0),
        _ => ("roberta", 1),
    };
    add("embeddings.word_embeddings.weight".into(), vec![VOCAB, HIDDEN], 0.0, 1.0);
    add("embeddings.position_embeddings.weight".into(), vec![POSITIONS, HIDDEN], 0.0, 0.5);
    if types > 0 {
        add("embeddings.token_type_embeddings.weight".into(), vec![types, HIDDEN], 0.0, 0.5);
    }
    norm(add, "embeddings.LayerNorm");
    for layer in 0..LAYERS {
        let at = |suffix: &str| format!("encoder.layer.{layer}.{suffix}");
        for name in [names.query, names.key, names.value, names.attention_out] {
            add(at(&format!("{name}.weight")), vec![HIDDEN, HIDDEN], 0.0, 0.5);
            add(at(&format!("{name}.bias")), vec![HIDDEN], 0.0, 0.1);
        }
        norm(add, &at(names.attention_norm));
        add(at("intermediate.dense.weight"), vec![INTERMEDIATE, HIDDEN], 0.0, 0.5);
        add(at("intermediate.dense.bias"), vec![INTERMEDIATE], 0.0, 0.1);
        add(at("output.dense.weight"), vec![HIDDEN, INTERMEDIATE], 0.0, 0.3);
        add(at("output.dense.bias"), vec![HIDDEN], 0.0, 0.1);
        norm(add, &at("output.LayerNorm"));
    }
    if architecture == Architecture::Mpnet {
        add("encoder.relative_attention_bias.weight".into(), vec![BUCKETS, HEADS], 0.0, 0.5);
    }
    object(serde_json::json!({
        "model_type": model_type,
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "gelu",
        "vocab_size": VOCAB,
        "max_position_embeddings": POSITIONS,
        "type_vocab_size": types,
        "pad_token_id": 1,
        "relative_attention_num_buckets": BUCKETS,
    }))
}

/// The tensors of a ModernBERT checkpoint without biases (layer 0 has no `attn_norm`), and its
/// `config.json`.
fn modernbert(add: &mut Add<'_>) -> serde_json::Map<String, serde_json::Value> {
    let names = ModernNames::NAMES;
    let norm = |add: &mut Add<'_>, base: &str| add(format!("{base}.weight"), vec![HIDDEN], 1.0, 0.1);
    add(names.words.into(), vec![VOCAB, HIDDEN], 0.0, 1.0);
    norm(add, names.embedding_norm);
    for layer in 0..LAYERS {
        let at = |suffix: &str| format!("{}.weight", ModernNames::layer(layer, suffix));
        if layer > 0 {
            norm(add, &ModernNames::layer(layer, names.attention_norm));
        }
        add(at(names.qkv), vec![3 * HIDDEN, HIDDEN], 0.0, 0.5);
        add(at(names.attention_out), vec![HIDDEN, HIDDEN], 0.0, 0.5);
        norm(add, &ModernNames::layer(layer, names.mlp_norm));
        add(at(names.up), vec![2 * INTERMEDIATE, HIDDEN], 0.0, 0.5);
        add(at(names.down), vec![HIDDEN, INTERMEDIATE], 0.0, 0.3);
    }
    norm(add, names.final_norm);
    object(serde_json::json!({
        "model_type": "modernbert",
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": HEADS,
        "intermediate_size": INTERMEDIATE,
        "hidden_activation": "gelu",
        "vocab_size": VOCAB,
        "max_position_embeddings": POSITIONS,
        "pad_token_id": 1,
        "norm_eps": 1e-5,
        "norm_bias": false,
        "attention_bias": false,
        "mlp_bias": false,
        "global_attn_every_n_layers": 2,
        "local_attention": LOCAL_WINDOW,
        "global_rope_theta": 160_000.0,
        "local_rope_theta": 10_000.0,
    }))
}

/// The tensors of a Qwen2, Qwen3 or Gemma3 checkpoint, and its `config.json`.
fn decoder(architecture: Architecture, add: &mut Add<'_>) -> serde_json::Map<String, serde_json::Value> {
    let names = DecoderNames::NAMES;
    let gemma = architecture == Architecture::Gemma3;
    let qwen2 = architecture == Architecture::Qwen2;
    let (qw, kvw) = (DECODER_HEADS * DECODER_HEAD_DIM, DECODER_KV_HEADS * DECODER_HEAD_DIM);
    // Gemma3's norms scale by `1 + weight`: weights around 0.
    let around = if gemma { 0.0 } else { 1.0 };
    let norm = |add: &mut Add<'_>, base: &str, width: usize| add(format!("{base}.weight"), vec![width], around, 0.3);
    add(names.words.into(), vec![VOCAB, HIDDEN], 0.0, 1.0);
    for layer in 0..LAYERS {
        let at = |suffix: &str| DecoderNames::layer(layer, suffix);
        norm(add, &at(names.attention_norm), HIDDEN);
        for (name, n) in [(names.query, qw), (names.key, kvw), (names.value, kvw)] {
            add(format!("{}.weight", at(name)), vec![n, HIDDEN], 0.0, 0.5);
            if qwen2 {
                add(format!("{}.bias", at(name)), vec![n], 0.0, 0.1);
            }
        }
        if !qwen2 {
            norm(add, &at(names.query_norm), DECODER_HEAD_DIM);
            norm(add, &at(names.key_norm), DECODER_HEAD_DIM);
        }
        add(format!("{}.weight", at(names.attention_out)), vec![HIDDEN, qw], 0.0, 0.5);
        norm(add, &at(names.post_attention_norm), HIDDEN);
        if gemma {
            norm(add, &at(names.pre_feedforward_norm), HIDDEN);
            norm(add, &at(names.post_feedforward_norm), HIDDEN);
        }
        add(format!("{}.weight", at(names.gate)), vec![INTERMEDIATE, HIDDEN], 0.0, 0.5);
        add(format!("{}.weight", at(names.up)), vec![INTERMEDIATE, HIDDEN], 0.0, 0.5);
        add(format!("{}.weight", at(names.down)), vec![HIDDEN, INTERMEDIATE], 0.0, 0.3);
    }
    norm(add, names.final_norm, HIDDEN);
    if gemma {
        return object(serde_json::json!({
            "model_type": "gemma3_text",
            "hidden_size": HIDDEN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": DECODER_HEADS,
            "num_key_value_heads": DECODER_KV_HEADS,
            "head_dim": DECODER_HEAD_DIM,
            "intermediate_size": INTERMEDIATE,
            "hidden_activation": "gelu_pytorch_tanh",
            "vocab_size": VOCAB,
            "max_position_embeddings": POSITIONS,
            "rms_norm_eps": 1e-6,
            "rope_theta": 10_000.0,
            "rope_local_base_freq": 100.0,
            "rope_scaling": null,
            "query_pre_attn_scalar": 8,
            "sliding_window": LOCAL_WINDOW,
            "layer_types": ["sliding_attention", "full_attention"],
            "use_bidirectional_attention": true,
            "attn_logit_softcapping": null,
            "final_logit_softcapping": null,
        }));
    }
    object(serde_json::json!({
        "model_type": architecture.name(),
        "hidden_size": HIDDEN,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": DECODER_HEADS,
        "num_key_value_heads": DECODER_KV_HEADS,
        "head_dim": DECODER_HEAD_DIM,
        "intermediate_size": INTERMEDIATE,
        "hidden_act": "silu",
        "vocab_size": VOCAB,
        "max_position_embeddings": POSITIONS,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10_000.0,
        "rope_scaling": null,
        "use_sliding_window": false,
        "sliding_window": null,
        "tie_word_embeddings": false,
    }))
}

/// The map of a JSON object literal.
fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The bytes of a safetensors file holding `tensors`.
fn serialize<'a>(
    tensors: impl IntoIterator<Item = (&'a String, &'a Tensor)>,
) -> Result<Vec<u8>, safetensors::SafeTensorError> {
    let views = tensors
        .into_iter()
        .map(|(name, t)| Ok((name.as_str(), TensorView::new(t.dtype, t.shape.clone(), &t.bytes)?)))
        .collect::<Result<Vec<_>, safetensors::SafeTensorError>>()?;
    safetensors::serialize(views, None)
}

/// xorshift64: reproducible weights without a dependency.
struct Random(u64);

impl Random {
    /// Uniform in [-1, 1).
    fn next_symmetric(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
}
