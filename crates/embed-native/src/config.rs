//! `config.json` of a Hugging Face checkpoint, read into the [`ModelConfig`] this engine runs:
//! which architecture (BERT, RoBERTa/XLM-R, MPNet, ModernBERT, Qwen2, Qwen3), its sizes, its
//! activation, ModernBERT's biases, rotary bases and attention windows, and the decoders'
//! key/value heads, head width and rotary base. Anything the engine does not
//! implement is refused here, by key; keys the family's reference implementation does not read
//! for an encoder's hidden states (heads, dropout) are not read here either. Knows nothing of
//! weights or kernels.

use std::path::Path;

use serde::Deserialize;

use crate::NativeError;
use crate::kernels::Gelu;

/// The encoder families this engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Architecture {
    /// BERT: absolute positions from 0, token types (`bert`).
    Bert,
    /// RoBERTa and XLM-RoBERTa: BERT's layers, positions numbered from `pad_token_id + 1`
    /// (`roberta`, `xlm-roberta`, `camembert`).
    Roberta,
    /// MPNet: positions as RoBERTa, no token types, a relative position bias shared by every
    /// layer's attention (`mpnet`).
    Mpnet,
    /// ModernBERT: no position table but rotary positions, with one base for the layers that
    /// attend to every token (every `global_attn_every_n_layers`-th, from the first) and another
    /// for the rest, which attend to a sliding window; a GeGLU feed-forward; LayerNorm before
    /// each block (none before the first attention) and after the last; biases where
    /// `config.json` says (`modernbert`).
    ModernBert,
    /// Qwen3: a decoder. Causal attention with rotary positions, grouped-query (several query
    /// heads share a key/value head), an RMSNorm on each head's query and key; RMSNorm before
    /// each block and after the last; a SwiGLU feed-forward; no biases unless `attention_bias`
    /// (`qwen3`).
    Qwen3,
    /// Qwen2: Qwen3's decoder with biases on query, key and value and no norm on the heads
    /// (`qwen2`).
    Qwen2,
}

impl Architecture {
    /// Every family the engine runs, in the order they were added.
    pub const ALL: [Architecture; 6] = [
        Architecture::Bert,
        Architecture::Roberta,
        Architecture::Mpnet,
        Architecture::ModernBert,
        Architecture::Qwen3,
        Architecture::Qwen2,
    ];

    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::Mpnet => "mpnet",
            Self::ModernBert => "modernbert",
            Self::Qwen3 => "qwen3",
            Self::Qwen2 => "qwen2",
        }
    }

    /// Whether it is a decoder (causal attention, RMSNorm, SwiGLU: Qwen2 and Qwen3).
    pub fn is_decoder(self) -> bool {
        matches!(self, Self::Qwen3 | Self::Qwen2)
    }
}

/// What the engine needs of `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    /// The family.
    pub architecture: Architecture,
    /// Width of every token vector.
    pub hidden: usize,
    /// Encoder layers.
    pub layers: usize,
    /// Attention (query) heads per layer.
    pub heads: usize,
    /// Key/value heads per layer: `heads` but for the decoders' grouped-query attention, where
    /// `heads / kv_heads` query heads share each.
    pub kv_heads: usize,
    /// Width of one head: `hidden / heads` but where a decoder's `head_dim` says otherwise.
    pub head_dim: usize,
    /// Width of the feed-forward layer (of its gated product, for ModernBERT's GeGLU and the
    /// decoders' SwiGLU).
    pub intermediate: usize,
    /// The feed-forward activation (the decoders' is SiLU, which this does not name).
    pub gelu: Gelu,
    /// LayerNorm's epsilon (the decoders' RMSNorm's).
    pub layer_norm_eps: f32,
    /// Whether the attention's linear layers have biases (`attention_bias`; always for the
    /// BERT family; Qwen2's query, key and value always have them, its output never).
    pub attention_bias: bool,
    /// Whether the feed-forward's linear layers have biases (`mlp_bias`; likewise).
    pub mlp_bias: bool,
    /// Whether the LayerNorms have a shift (`norm_bias`; likewise).
    pub norm_bias: bool,
    /// Rows of the word embedding table.
    pub vocab_size: usize,
    /// Rows of the position embedding table.
    pub max_positions: usize,
    /// Rows of the token type table (0 for MPNet).
    pub type_vocab_size: usize,
    /// First position id (`pad_token_id + 1` for RoBERTa and MPNet, else 0).
    pub position_offset: usize,
    /// RoBERTa and MPNet: the padding token, which takes position `pad_token_id` wherever it
    /// appears and is skipped when the positions of the tokens after it are counted (as the
    /// reference's `create_position_ids_from_input_ids` does); `None` for BERT.
    pub padding_id: Option<u32>,
    /// Buckets of MPNet's relative position bias (0 for the others).
    pub relative_buckets: usize,
    /// The rotary positions of ModernBERT (with its sliding windows) and of the decoders (one
    /// base, every layer global); `None` for the others.
    pub rotary: Option<Rotary>,
}

/// ModernBERT's positions: rotary, with a base for the layers that attend to every token and
/// another for those that attend to a window around each.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct Rotary {
    /// `global_rope_theta`.
    pub global_base: f64,
    /// `local_rope_theta`, or `global_rope_theta` where it is null.
    pub local_base: f64,
    /// `global_attn_every_n_layers`: layer `i` attends to every token where `i` is a multiple
    /// of it.
    pub global_every: usize,
    /// `local_attention`: the other layers' queries see the keys at most half of it away.
    pub local_window: usize,
}

impl Rotary {
    /// Whether layer `layer` attends to every token (else to its window).
    pub fn is_global(&self, layer: usize) -> bool {
        layer.is_multiple_of(self.global_every)
    }

    /// How far from a query the keys of a local layer reach (on either side).
    pub fn reach(&self) -> usize {
        self.local_window / 2
    }
}

impl ModelConfig {
    /// Most tokens one sequence may have.
    pub fn max_sequence(&self) -> usize {
        self.max_positions.saturating_sub(self.position_offset)
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.head_dim
    }

    /// Width of the attention's queries and of its context: `heads · head_dim`.
    pub fn attention_width(&self) -> usize {
        self.heads * self.head_dim
    }

    /// Width of the fused query-key-value product: `(heads + 2 · kv_heads) · head_dim`.
    pub fn qkv_width(&self) -> usize {
        (self.heads + 2 * self.kv_heads) * self.head_dim
    }
}

#[derive(Deserialize)]
struct ConfigFile {
    model_type: Option<String>,
    hidden_size: Option<usize>,
    num_hidden_layers: Option<usize>,
    num_attention_heads: Option<usize>,
    intermediate_size: Option<usize>,
    hidden_act: Option<String>,
    layer_norm_eps: Option<f64>,
    vocab_size: Option<usize>,
    max_position_embeddings: Option<usize>,
    type_vocab_size: Option<usize>,
    pad_token_id: Option<usize>,
    position_embedding_type: Option<String>,
    relative_attention_num_buckets: Option<usize>,
    // ModernBERT's own keys.
    hidden_activation: Option<String>,
    norm_eps: Option<f64>,
    norm_bias: Option<bool>,
    attention_bias: Option<bool>,
    mlp_bias: Option<bool>,
    global_rope_theta: Option<f64>,
    /// Absent: the default; null: the global base.
    #[serde(default, deserialize_with = "present")]
    local_rope_theta: Option<Option<f64>>,
    global_attn_every_n_layers: Option<usize>,
    local_attention: Option<usize>,
    rope_scaling: Option<serde_json::Value>,
    rope_parameters: Option<serde_json::Value>,
    partial_rotary_factor: Option<f64>,
    head_dim: Option<usize>,
    layer_types: Option<Vec<String>>,
    // The decoders' own keys.
    num_key_value_heads: Option<usize>,
    rms_norm_eps: Option<f64>,
    rope_theta: Option<f64>,
    use_sliding_window: Option<bool>,
}

/// A key that is present, null or not: `Some(None)` for null, `None` (by `default`) for absent.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(value: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(value).map(Some)
}

/// Reads `<dir>/config.json`.
pub fn read_config(dir: &Path) -> Result<ModelConfig, NativeError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| NativeError::Io { path: path.clone(), source })?;
    parse_config(&text).map_err(|message| NativeError::Config { path, message })
}

/// The `model_type`s of `config.json` the engine runs.
pub const MODEL_TYPES: &[&str] =
    &["bert", "roberta", "xlm-roberta", "camembert", "mpnet", "modernbert", "qwen2", "qwen3"];

/// Parses the text of a `config.json`; the error says what is wrong.
pub fn parse_config(text: &str) -> Result<ModelConfig, String> {
    let file: ConfigFile = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let model_type = file.model_type.as_deref().ok_or("no `model_type`")?;
    let architecture = match model_type {
        "bert" => Architecture::Bert,
        "roberta" | "xlm-roberta" | "camembert" => Architecture::Roberta,
        "mpnet" => Architecture::Mpnet,
        "modernbert" => Architecture::ModernBert,
        "qwen3" => Architecture::Qwen3,
        "qwen2" => Architecture::Qwen2,
        other => {
            return Err(format!(
                "model_type `{other}` is not supported by the native engine (it runs {})",
                MODEL_TYPES.join(", ")
            ));
        }
    };
    let need = |value: Option<usize>, key: &str| -> Result<usize, String> {
        match value {
            Some(0) => Err(format!("`{key}` is 0")),
            Some(v) => Ok(v),
            None => Err(format!("no `{key}`")),
        }
    };
    let hidden = need(file.hidden_size, "hidden_size")?;
    let heads = need(file.num_attention_heads, "num_attention_heads")?;
    if architecture.is_decoder() {
        return decoder(&file, architecture, hidden, heads, need);
    }
    if hidden % heads != 0 {
        return Err(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}"));
    }
    if architecture == Architecture::ModernBert {
        return modernbert(&file, hidden, heads, need);
    }
    let gelu = activation("hidden_act", file.hidden_act.as_deref())?;
    if let Some(kind) = file.position_embedding_type.as_deref()
        && kind != "absolute"
    {
        return Err(format!("position_embedding_type `{kind}` is not supported by the native engine (only absolute)"));
    }
    let pad = file.pad_token_id.unwrap_or(1);
    let (type_vocab_size, padding_id, relative_buckets) = match architecture {
        Architecture::Bert => (file.type_vocab_size.unwrap_or(2), None, 0),
        Architecture::Roberta => (file.type_vocab_size.unwrap_or(1), Some(pad), 0),
        Architecture::Mpnet => (0, Some(pad), file.relative_attention_num_buckets.unwrap_or(32)),
        Architecture::ModernBert | Architecture::Qwen3 | Architecture::Qwen2 => {
            unreachable!("read by `modernbert` or `decoder` above")
        }
    };
    if architecture == Architecture::Mpnet && relative_buckets < 4 {
        return Err(format!(
            "relative_attention_num_buckets {relative_buckets} is too few: MPNet's relative position bias needs at least 4"
        ));
    }
    let padding_id = padding_id.map(|pad| u32::try_from(pad).map_err(|_| format!("pad_token_id {pad} is too large")));
    let padding_id = padding_id.transpose()?;
    let default_eps = match architecture {
        Architecture::Bert => 1e-12,
        _ => 1e-5,
    };
    let layer_norm_eps = epsilon("layer_norm_eps", file.layer_norm_eps.unwrap_or(default_eps))?;
    let config = ModelConfig {
        architecture,
        hidden,
        layers: need(file.num_hidden_layers, "num_hidden_layers")?,
        heads,
        kv_heads: heads,
        head_dim: hidden / heads,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu,
        layer_norm_eps,
        vocab_size: need(file.vocab_size, "vocab_size")?,
        max_positions: need(file.max_position_embeddings, "max_position_embeddings")?,
        type_vocab_size,
        position_offset: padding_id.map_or(0, |pad| pad as usize + 1),
        attention_bias: true,
        mlp_bias: true,
        norm_bias: true,
        padding_id,
        relative_buckets,
        rotary: None,
    };
    if config.max_sequence() == 0 {
        return Err(format!(
            "max_position_embeddings {} leaves no positions after the offset {}",
            config.max_positions, config.position_offset
        ));
    }
    Ok(config)
}

/// The rest of a ModernBERT `config.json`, with the defaults of transformers'
/// `ModernBertConfig` where a key is absent.
fn modernbert(
    file: &ConfigFile,
    hidden: usize,
    heads: usize,
    need: impl Fn(Option<usize>, &str) -> Result<usize, String>,
) -> Result<ModelConfig, String> {
    let head_size = hidden / heads;
    if !head_size.is_multiple_of(2) {
        return Err(format!(
            "hidden_size {hidden} / num_attention_heads {heads} is {head_size}: rotary positions need an even head width"
        ));
    }
    if let Some(head_dim) = file.head_dim
        && head_dim != head_size
    {
        return Err(format!(
            "head_dim {head_dim} is not hidden_size / num_attention_heads ({head_size}), which ModernBERT's attention uses: not supported by the native engine"
        ));
    }
    if let Some(scaling) = &file.rope_scaling {
        return Err(format!(
            "rope_scaling {scaling} is not supported by the native engine (only the default rotary embedding)"
        ));
    }
    if let Some(parameters) = &file.rope_parameters {
        return Err(format!(
            "rope_parameters {parameters} is not supported by the native engine (it reads global_rope_theta and local_rope_theta)"
        ));
    }
    if let Some(factor) = file.partial_rotary_factor
        && factor != 1.0
    {
        return Err(format!(
            "partial_rotary_factor {factor} is not supported by the native engine (only 1: every dimension of a head turns)"
        ));
    }
    let base = |key: &str, value: f64| {
        if value.is_finite() && value > 0.0 {
            Ok(value)
        } else {
            Err(format!("{key} {value} is not a finite number > 0"))
        }
    };
    let global_base = base("global_rope_theta", file.global_rope_theta.unwrap_or(160_000.0))?;
    let local_base = match file.local_rope_theta {
        None => base("local_rope_theta", 10_000.0)?,
        Some(None) => global_base,
        Some(Some(value)) => base("local_rope_theta", value)?,
    };
    let global_every = match file.global_attn_every_n_layers.unwrap_or(3) {
        0 => return Err("`global_attn_every_n_layers` is 0".to_string()),
        every => every,
    };
    let layers = need(file.num_hidden_layers, "num_hidden_layers")?;
    // Newer configs may list each layer's kind; it must be what the period above gives.
    if let Some(kinds) = &file.layer_types {
        let expected: Vec<&str> = (0..layers)
            .map(|layer| if layer.is_multiple_of(global_every) { "full_attention" } else { "sliding_attention" })
            .collect();
        if *kinds != expected {
            return Err(format!(
                "layer_types {kinds:?} is not supported by the native engine: it runs {expected:?}, what \
                 global_attn_every_n_layers {global_every} gives {layers} layers"
            ));
        }
    }
    Ok(ModelConfig {
        architecture: Architecture::ModernBert,
        hidden,
        layers,
        heads,
        kv_heads: heads,
        head_dim: head_size,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu: activation("hidden_activation", file.hidden_activation.as_deref())?,
        layer_norm_eps: epsilon("norm_eps", file.norm_eps.unwrap_or(1e-5))?,
        vocab_size: need(file.vocab_size, "vocab_size")?,
        max_positions: need(file.max_position_embeddings, "max_position_embeddings")?,
        type_vocab_size: 0,
        position_offset: 0,
        padding_id: None,
        relative_buckets: 0,
        attention_bias: file.attention_bias.unwrap_or(false),
        mlp_bias: file.mlp_bias.unwrap_or(false),
        norm_bias: file.norm_bias.unwrap_or(false),
        rotary: Some(Rotary {
            global_base,
            local_base,
            global_every,
            local_window: file.local_attention.unwrap_or(128),
        }),
    })
}

/// The rest of a Qwen2 or Qwen3 `config.json`, with the defaults of transformers'
/// `Qwen2Config` and `Qwen3Config` where a key is absent (Qwen3's `head_dim` is 128 then;
/// Qwen2's `hidden_size / num_attention_heads`). Sliding windows, rope scaling and activations
/// other than SiLU are refused by key.
fn decoder(
    file: &ConfigFile,
    architecture: Architecture,
    hidden: usize,
    heads: usize,
    need: impl Fn(Option<usize>, &str) -> Result<usize, String>,
) -> Result<ModelConfig, String> {
    let kv_heads = need(file.num_key_value_heads.or(Some(heads)), "num_key_value_heads")?;
    if !heads.is_multiple_of(kv_heads) {
        return Err(format!("num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"));
    }
    let head_dim = match (file.head_dim, architecture) {
        (Some(dim), _) => need(Some(dim), "head_dim")?,
        (None, Architecture::Qwen3) => 128,
        (None, _) => {
            if !hidden.is_multiple_of(heads) {
                return Err(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}"));
            }
            hidden / heads
        }
    };
    if !head_dim.is_multiple_of(2) {
        return Err(format!("head_dim {head_dim} is odd: rotary positions need an even head width"));
    }
    if (heads + 2 * kv_heads).checked_mul(head_dim).and_then(|width| width.checked_mul(hidden)).is_none() {
        return Err(format!(
            "num_attention_heads {heads}, num_key_value_heads {kv_heads} and head_dim {head_dim} are too large"
        ));
    }
    match file.hidden_act.as_deref() {
        None | Some("silu" | "swish") => {}
        Some(other) => {
            return Err(format!("hidden_act `{other}` is not supported by the native engine (it runs silu)"));
        }
    }
    if let Some(scaling) = &file.rope_scaling {
        return Err(format!(
            "rope_scaling {scaling} is not supported by the native engine (only the default rotary embedding)"
        ));
    }
    if let Some(parameters) = &file.rope_parameters {
        return Err(format!(
            "rope_parameters {parameters} is not supported by the native engine (it reads rope_theta)"
        ));
    }
    if let Some(factor) = file.partial_rotary_factor
        && factor != 1.0
    {
        return Err(format!(
            "partial_rotary_factor {factor} is not supported by the native engine (only 1: every dimension of a head turns)"
        ));
    }
    if file.use_sliding_window == Some(true) {
        return Err(
            "use_sliding_window true is not supported by the native engine (only full causal attention)".to_string()
        );
    }
    let layers = need(file.num_hidden_layers, "num_hidden_layers")?;
    if let Some(kinds) = &file.layer_types
        && let Some(kind) = kinds.iter().find(|kind| *kind != "full_attention")
    {
        return Err(format!(
            "layer_types holds `{kind}`, which is not supported by the native engine (only full_attention)"
        ));
    }
    let base = file.rope_theta.unwrap_or(10_000.0);
    if !(base.is_finite() && base > 0.0) {
        return Err(format!("rope_theta {base} is not a finite number > 0"));
    }
    Ok(ModelConfig {
        architecture,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu: Gelu::Erf,
        layer_norm_eps: epsilon("rms_norm_eps", file.rms_norm_eps.unwrap_or(1e-6))?,
        vocab_size: need(file.vocab_size, "vocab_size")?,
        max_positions: need(file.max_position_embeddings.or(Some(32_768)), "max_position_embeddings")?,
        type_vocab_size: 0,
        position_offset: 0,
        padding_id: None,
        relative_buckets: 0,
        attention_bias: architecture == Architecture::Qwen2 || file.attention_bias.unwrap_or(false),
        mlp_bias: false,
        norm_bias: false,
        rotary: Some(Rotary { global_base: base, local_base: base, global_every: 1, local_window: 0 }),
    })
}

/// The GELU a `hidden_act` (or ModernBERT's `hidden_activation`) names; absent: `gelu`.
fn activation(key: &str, name: Option<&str>) -> Result<Gelu, String> {
    match name.unwrap_or("gelu") {
        "gelu" => Ok(Gelu::Erf),
        "gelu_new" | "gelu_pytorch_tanh" => Ok(Gelu::Tanh),
        other => Err(format!(
            "{key} `{other}` is not supported by the native engine (it runs gelu, gelu_new, gelu_pytorch_tanh)"
        )),
    }
}

/// A LayerNorm epsilon, checked.
fn epsilon(key: &str, value: f64) -> Result<f32, String> {
    let eps = value as f32;
    if eps.is_finite() && eps >= 0.0 { Ok(eps) } else { Err(format!("{key} {eps} is not a finite number ≥ 0")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_seed_families() {
        let bert = parse_config(
            r#"{"model_type":"bert","hidden_size":384,"num_hidden_layers":6,"num_attention_heads":12,
                "intermediate_size":1536,"hidden_act":"gelu","layer_norm_eps":1e-12,"vocab_size":30522,
                "max_position_embeddings":512,"type_vocab_size":2,"pad_token_id":0}"#,
        )
        .unwrap();
        assert_eq!((bert.architecture, bert.head_size(), bert.max_sequence()), (Architecture::Bert, 32, 512));
        let roberta = parse_config(
            r#"{"model_type":"roberta","hidden_size":1024,"num_hidden_layers":24,"num_attention_heads":16,
                "intermediate_size":4096,"vocab_size":50265,"max_position_embeddings":514,"type_vocab_size":1,
                "pad_token_id":1}"#,
        )
        .unwrap();
        assert_eq!((roberta.position_offset, roberta.max_sequence(), roberta.layer_norm_eps), (2, 512, 1e-5));
        let mpnet = parse_config(
            r#"{"model_type":"mpnet","hidden_size":768,"num_hidden_layers":12,"num_attention_heads":12,
                "intermediate_size":3072,"vocab_size":30527,"max_position_embeddings":514,"pad_token_id":1,
                "relative_attention_num_buckets":32}"#,
        )
        .unwrap();
        assert_eq!((mpnet.type_vocab_size, mpnet.relative_buckets, mpnet.position_offset), (0, 32, 2));
    }

    #[test]
    fn reads_modernbert() {
        // answerdotai/ModernBERT-base's config.json.
        let config = parse_config(
            r#"{"architectures":["ModernBertForMaskedLM"],"attention_bias":false,"attention_dropout":0.0,
                "bos_token_id":50281,"classifier_activation":"gelu","classifier_bias":false,
                "classifier_dropout":0.0,"classifier_pooling":"mean","cls_token_id":50281,"decoder_bias":true,
                "deterministic_flash_attn":false,"embedding_dropout":0.0,"eos_token_id":50282,
                "global_attn_every_n_layers":3,"global_rope_theta":160000.0,"gradient_checkpointing":false,
                "hidden_activation":"gelu","hidden_size":768,"initializer_cutoff_factor":2.0,
                "initializer_range":0.02,"intermediate_size":1152,"layer_norm_eps":1e-05,"local_attention":128,
                "local_rope_theta":10000.0,"max_position_embeddings":8192,"mlp_bias":false,"mlp_dropout":0.0,
                "model_type":"modernbert","norm_bias":false,"norm_eps":1e-05,"num_attention_heads":12,
                "num_hidden_layers":22,"pad_token_id":50283,"position_embedding_type":"absolute",
                "sep_token_id":50282,"tie_word_embeddings":true,"torch_dtype":"float32","vocab_size":50368}"#,
        )
        .unwrap();
        assert_eq!(
            (config.architecture, config.head_size(), config.max_sequence()),
            (Architecture::ModernBert, 64, 8192)
        );
        assert_eq!((config.intermediate, config.gelu, config.type_vocab_size), (1152, Gelu::Erf, 0));
        assert!(!config.attention_bias && !config.mlp_bias && !config.norm_bias);
        let rotary = config.rotary.unwrap();
        assert_eq!((rotary.global_base, rotary.local_base, rotary.reach()), (160_000.0, 10_000.0, 64));
        let global: Vec<usize> = (0..config.layers).filter(|&layer| rotary.is_global(layer)).collect();
        assert_eq!(global, [0, 3, 6, 9, 12, 15, 18, 21]);
        assert!(MODEL_TYPES.contains(&"modernbert"));
        // Absent keys take ModernBertConfig's defaults; a null local base is the global one.
        let minimal = r#"{"model_type":"modernbert","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
            "intermediate_size":96,"vocab_size":10,"max_position_embeddings":16"#;
        let defaults = parse_config(&format!("{minimal}}}")).unwrap();
        let rotary = defaults.rotary.unwrap();
        assert_eq!(
            (rotary.global_base, rotary.local_base, rotary.global_every, rotary.local_window),
            (160_000.0, 10_000.0, 3, 128)
        );
        assert_eq!((defaults.layer_norm_eps, defaults.attention_bias), (1e-5, false));
        let null = parse_config(&format!(r#"{minimal},"global_rope_theta":5.0,"local_rope_theta":null}}"#)).unwrap();
        assert_eq!(null.rotary.unwrap().local_base, 5.0);
    }

    #[test]
    fn refuses_what_it_cannot_run_by_name() {
        let config = |heads: usize, extra: &str| {
            format!(
                r#"{{"hidden_size":64,"num_hidden_layers":2,"num_attention_heads":{heads},"intermediate_size":128,
                    "vocab_size":10,"max_position_embeddings":16,{extra}}}"#
            )
        };
        for (text, expected) in [
            (config(4, r#""model_type":"distilbert""#), "model_type `distilbert`"),
            (config(4, r#""model_type":"bert","hidden_act":"relu""#), "hidden_act `relu`"),
            (config(4, r#""model_type":"bert","position_embedding_type":"relative_key""#), "relative_key"),
            (config(5, r#""model_type":"bert""#), "not a multiple"),
            ("{".to_string(), "invalid JSON"),
            (r#"{"model_type":"bert"}"#.to_string(), "no `hidden_size`"),
        ] {
            let error = parse_config(&text).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
    }
}
