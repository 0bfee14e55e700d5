//! `config.json` of a Hugging Face checkpoint, read into the [`ModelConfig`] this engine runs:
//! which architecture (BERT, RoBERTa/XLM-R, MPNet, ModernBERT, Qwen2, Qwen3, Gemma3), its sizes,
//! its activation, ModernBERT's biases, rotary bases and attention windows, the decoders'
//! key/value heads, head width and rotary base, and Gemma3's query scale, sliding windows and
//! second rotary base. Rotary bases are read from the keys transformers 4 writes
//! (`rope_theta`, `global_rope_theta`, `local_rope_theta`, `rope_local_base_freq`) and from the
//! `rope_parameters` transformers 5 writes instead, which must agree where both are present.
//! Anything the engine does not implement is refused here, by key; keys the family's reference
//! implementation does not read for an encoder's hidden states (heads, dropout) are not read
//! here either. Knows nothing of weights or kernels.

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
    /// Gemma3's decoder run bidirectionally, as EmbeddingGemma runs it: Qwen3's heads and norms
    /// with a norm also after each block, RMSNorm scaled by `1 + weight`, word embeddings scaled
    /// by `sqrt(hidden)`, a GELU-tanh GLU feed-forward, queries scaled by
    /// `query_pre_attn_scalar^-1/2`, and layers that attend to every token (one rotary base)
    /// or to a sliding window (another) as `layer_types` says (`gemma3_text`).
    Gemma3,
}

impl Architecture {
    /// Every family the engine runs, in the order they were added.
    pub const ALL: [Architecture; 7] = [
        Architecture::Bert,
        Architecture::Roberta,
        Architecture::Mpnet,
        Architecture::ModernBert,
        Architecture::Qwen3,
        Architecture::Qwen2,
        Architecture::Gemma3,
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
            Self::Gemma3 => "gemma3",
        }
    }

    /// Whether it is a decoder (RMSNorm, a gated feed-forward, grouped-query heads, tensors
    /// named as Llama's: Qwen2, Qwen3, Gemma3).
    pub fn is_decoder(self) -> bool {
        matches!(self, Self::Qwen3 | Self::Qwen2 | Self::Gemma3)
    }

    /// Whether its attention is causal (each token sees the ones before it: Qwen2 and Qwen3;
    /// Gemma3 runs bidirectionally).
    pub fn is_causal(self) -> bool {
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
    /// The feed-forward activation (Qwen's is SiLU, which this does not name).
    pub gelu: Gelu,
    /// What the attention's scores are scaled by: `1 / sqrt(head_dim)`, but Gemma3's
    /// `query_pre_attn_scalar^-1/2`.
    pub attention_scale: f32,
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
    /// The rotary positions of ModernBERT and Gemma3 (with their sliding windows) and of Qwen
    /// (one base, every layer global); `None` for the others.
    pub rotary: Option<Rotary>,
}

/// Rotary positions: a base for the layers that attend to every token and another for those
/// that attend to a window around each.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Rotary {
    /// ModernBERT's `global_rope_theta`, the decoders' `rope_theta`: `rope_parameters`'
    /// `full_attention` base (or its one base) in transformers 5's configs.
    pub global_base: f64,
    /// ModernBERT's `local_rope_theta` (or `global_rope_theta` where it is null), Gemma3's
    /// `rope_local_base_freq`: `rope_parameters`' `sliding_attention` base (or its one base) in
    /// transformers 5's configs.
    pub local_base: f64,
    /// For each layer, whether it attends to every token: ModernBERT's every
    /// `global_attn_every_n_layers`-th from the first, Gemma3's `full_attention` layers.
    pub global: Vec<bool>,
    /// ModernBERT's `local_attention`, Gemma3's `sliding_window`: the other layers' queries see
    /// the keys at most half of it (rounded down) away, on either side.
    pub local_window: usize,
}

impl Rotary {
    /// Whether layer `layer` attends to every token (else to its window).
    pub fn is_global(&self, layer: usize) -> bool {
        self.global.get(layer).copied().unwrap_or(true)
    }

    /// Whether some layer attends to a window.
    pub fn has_local(&self) -> bool {
        self.global.iter().any(|global| !global)
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
    // Gemma3's own keys (`final_logit_softcapping` is its language head's, not read here).
    #[serde(default, deserialize_with = "present")]
    query_pre_attn_scalar: Option<Option<f64>>,
    #[serde(default, deserialize_with = "present")]
    sliding_window: Option<Option<usize>>,
    sliding_window_pattern: Option<usize>,
    #[serde(default, deserialize_with = "present")]
    rope_local_base_freq: Option<Option<f64>>,
    use_bidirectional_attention: Option<bool>,
    attn_logit_softcapping: Option<f64>,
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
    &["bert", "roberta", "xlm-roberta", "camembert", "mpnet", "modernbert", "qwen2", "qwen3", "gemma3_text"];

/// The most layers a config.json may name.
const MAX_LAYERS: usize = 1024;

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
        "gemma3_text" => Architecture::Gemma3,
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
    // Per-layer settings are sized by the count before the checkpoint is read: a count past any
    // model's (the largest have a few hundred layers) is a broken file, refused here.
    if let Some(layers) = file.num_hidden_layers.filter(|&layers| layers > MAX_LAYERS) {
        return Err(format!("num_hidden_layers {layers} is more than the {MAX_LAYERS} the native engine takes"));
    }
    let hidden = need(file.hidden_size, "hidden_size")?;
    let heads = need(file.num_attention_heads, "num_attention_heads")?;
    if architecture == Architecture::Gemma3 {
        return gemma3(&file, hidden, heads, need);
    }
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
        Architecture::ModernBert | Architecture::Qwen3 | Architecture::Qwen2 | Architecture::Gemma3 => {
            unreachable!("read by `modernbert`, `decoder` or `gemma3` above")
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
        attention_scale: 1.0 / ((hidden / heads) as f32).sqrt(),
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
    let rope = rope_bases(file, Architecture::ModernBert)?;
    let global_base = agreed_base("global_rope_theta", file.global_rope_theta, &rope.full, 160_000.0)?;
    // A null local base is the global one.
    let local_base = file.local_rope_theta.map(|base| base.unwrap_or(global_base));
    let local_base = agreed_base("local_rope_theta", local_base, &rope.sliding, 10_000.0)?;
    let every = match file.global_attn_every_n_layers.unwrap_or(3) {
        0 => return Err("`global_attn_every_n_layers` is 0".to_string()),
        every => every,
    };
    let layers = need(file.num_hidden_layers, "num_hidden_layers")?;
    // Newer configs list each layer's kind; it must be what the period gives.
    let global = layer_pattern(
        file,
        (0..layers).map(|layer| layer.is_multiple_of(every)).collect(),
        &format!("global_attn_every_n_layers {every}"),
    )?;
    Ok(ModelConfig {
        architecture: Architecture::ModernBert,
        hidden,
        layers,
        heads,
        kv_heads: heads,
        head_dim: head_size,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu: activation("hidden_activation", file.hidden_activation.as_deref())?,
        attention_scale: 1.0 / (head_size as f32).sqrt(),
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
        rotary: Some(Rotary { global_base, local_base, global, local_window: file.local_attention.unwrap_or(128) }),
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
    let default_head_dim = if architecture == Architecture::Qwen3 { Some(128) } else { None };
    let (kv_heads, head_dim) = decoder_heads(file, hidden, heads, heads, default_head_dim, &need)?;
    match file.hidden_act.as_deref() {
        None | Some("silu" | "swish") => {}
        Some(other) => {
            return Err(format!("hidden_act `{other}` is not supported by the native engine (it runs silu)"));
        }
    }
    let rope = rope_bases(file, architecture)?;
    if file.use_sliding_window == Some(true) {
        return Err(
            "use_sliding_window true is not supported by the native engine (only full causal attention)".to_string()
        );
    }
    let layers = need(file.num_hidden_layers, "num_hidden_layers")?;
    let global = layer_pattern(file, vec![true; layers], "use_sliding_window false")?;
    let base = agreed_base("rope_theta", file.rope_theta, &rope.full, 10_000.0)?;
    Ok(ModelConfig {
        architecture,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu: Gelu::Erf,
        attention_scale: 1.0 / (head_dim as f32).sqrt(),
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
        rotary: Some(Rotary { global_base: base, local_base: base, global, local_window: 0 }),
    })
}

/// The rest of a Gemma3 (`gemma3_text`) `config.json`, with the defaults of transformers'
/// `Gemma3TextConfig` where a key is absent. The window is transformers' arithmetic: with
/// bidirectional attention it makes `sliding_window` into `sliding_window // 2 + 1` and lets a
/// query see the keys less than that away, so those at most `sliding_window // 2` away (what
/// [`Rotary::reach`] gives). Causal attention, soft-capped scores and rope scaling are refused
/// by key.
fn gemma3(
    file: &ConfigFile,
    hidden: usize,
    heads: usize,
    need: impl Fn(Option<usize>, &str) -> Result<usize, String>,
) -> Result<ModelConfig, String> {
    let (kv_heads, head_dim) = decoder_heads(file, hidden, heads, 4, Some(256), &need)?;
    if file.use_bidirectional_attention != Some(true) {
        return Err(
            "use_bidirectional_attention is false or absent: causal Gemma3 is not supported by the native engine \
             (it runs Gemma3 bidirectionally, as EmbeddingGemma)"
                .to_string(),
        );
    }
    if let Some(cap) = file.attn_logit_softcapping {
        return Err(format!("attn_logit_softcapping {cap} is not supported by the native engine (only null)"));
    }
    let rope = rope_bases(file, Architecture::Gemma3)?;
    let layers = need(file.num_hidden_layers, "num_hidden_layers")?;
    let global: Vec<bool> = match layer_kinds(file, layers)? {
        Some(global) => global,
        // Each `sliding_window_pattern`-th layer attends to every token, counting from 1.
        None => {
            let every = need(file.sliding_window_pattern.or(Some(6)), "sliding_window_pattern")?;
            (1..=layers).map(|layer| layer.is_multiple_of(every)).collect()
        }
    };
    let local_window = match file.sliding_window {
        None => 4096,
        Some(Some(window)) => window,
        Some(None) => return Err("sliding_window is null: Gemma3's bidirectional attention needs one".to_string()),
    };
    let scalar = match file.query_pre_attn_scalar {
        None => 256.0,
        Some(Some(value)) if value.is_finite() && value > 0.0 => value,
        Some(value) => {
            let value = value.map_or("null".to_string(), |v| v.to_string());
            return Err(format!("query_pre_attn_scalar {value} is not a finite number > 0"));
        }
    };
    let local_base = match file.rope_local_base_freq {
        Some(None) => return Err("rope_local_base_freq is null, not a finite number > 0".to_string()),
        local_base => agreed_base("rope_local_base_freq", local_base.flatten(), &rope.sliding, 10_000.0)?,
    };
    let activation_name = file.hidden_activation.as_deref().or(Some("gelu_pytorch_tanh"));
    Ok(ModelConfig {
        architecture: Architecture::Gemma3,
        hidden,
        layers,
        heads,
        kv_heads,
        head_dim,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu: activation("hidden_activation", activation_name)?,
        attention_scale: scalar.powf(-0.5) as f32,
        layer_norm_eps: epsilon("rms_norm_eps", file.rms_norm_eps.unwrap_or(1e-6))?,
        vocab_size: need(file.vocab_size, "vocab_size")?,
        max_positions: need(file.max_position_embeddings.or(Some(131_072)), "max_position_embeddings")?,
        type_vocab_size: 0,
        position_offset: 0,
        padding_id: None,
        relative_buckets: 0,
        attention_bias: file.attention_bias.unwrap_or(false),
        mlp_bias: false,
        norm_bias: false,
        rotary: Some(Rotary {
            global_base: agreed_base("rope_theta", file.rope_theta, &rope.full, 1_000_000.0)?,
            local_base,
            global,
            local_window,
        }),
    })
}

/// A decoder's key/value heads and head width (`num_key_value_heads`, else `default_kv`;
/// `head_dim`, else `default_head_dim`, else `hidden_size / num_attention_heads`), checked.
fn decoder_heads(
    file: &ConfigFile,
    hidden: usize,
    heads: usize,
    default_kv: usize,
    default_head_dim: Option<usize>,
    need: &impl Fn(Option<usize>, &str) -> Result<usize, String>,
) -> Result<(usize, usize), String> {
    let kv_heads = need(file.num_key_value_heads.or(Some(default_kv)), "num_key_value_heads")?;
    if !heads.is_multiple_of(kv_heads) {
        return Err(format!("num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"));
    }
    let head_dim = match file.head_dim.or(default_head_dim) {
        Some(dim) => need(Some(dim), "head_dim")?,
        None => {
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
    Ok((kv_heads, head_dim))
}

/// The rotary bases `rope_parameters` (transformers 5's key) names: one entry for every layer
/// (`{"rope_type": …, "rope_theta": …}`, Qwen's) or one per kind of layer (keyed by
/// `full_attention` and `sliding_attention`, a null entry being none; ModernBERT's and Gemma3's,
/// whose transformers 5 configurations know no other form). `None` where it names no base, which the
/// transformers 4 keys (or the family's default) then give.
#[derive(Default)]
struct RopeBases {
    /// The base of the layers that attend to every token, and the key it was read from.
    full: Option<(String, f64)>,
    /// The base of the layers that attend to a window, and the key it was read from.
    sliding: Option<(String, f64)>,
}

/// Reads `rope_parameters` and refuses what a rotary embedding may hold beyond its bases:
/// a `rope_type` other than `default` (the engine implements no scaling), `rope_scaling`, a
/// `partial_rotary_factor` other than 1, keys it does not know, one entry for every layer where
/// the family names one per layer kind.
fn rope_bases(file: &ConfigFile, architecture: Architecture) -> Result<RopeBases, String> {
    if let Some(scaling) = &file.rope_scaling {
        return Err(format!(
            "rope_scaling {scaling} is not supported by the native engine (only the default rotary embedding)"
        ));
    }
    if let Some(factor) = file.partial_rotary_factor {
        partial_rotary_factor("partial_rotary_factor", factor)?;
    }
    let parameters = match &file.rope_parameters {
        None | Some(serde_json::Value::Null) => return Ok(RopeBases::default()),
        Some(serde_json::Value::Object(parameters)) => parameters,
        Some(other) => return Err(format!("rope_parameters {other} is not an object")),
    };
    const KINDS: [&str; 2] = ["full_attention", "sliding_attention"];
    if !parameters.keys().any(|key| KINDS.contains(&key.as_str())) {
        if matches!(architecture, Architecture::ModernBert | Architecture::Gemma3) {
            return Err(format!(
                "rope_parameters {} is one entry for every layer: {}'s names one per layer kind \
                 (full_attention, sliding_attention)",
                serde_json::Value::Object(parameters.clone()),
                architecture.name()
            ));
        }
        let base = rope_entry("rope_parameters", parameters)?;
        return Ok(RopeBases { full: base.clone(), sliding: base });
    }
    if let Some(key) = parameters.keys().find(|key| !KINDS.contains(&key.as_str())) {
        return Err(format!(
            "rope_parameters holds `{key}` beside full_attention or sliding_attention: neither one entry \
             for every layer nor one per layer kind"
        ));
    }
    let kind = |name: &str| -> Result<Option<(String, f64)>, String> {
        match parameters.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::Object(entry)) => rope_entry(&format!("rope_parameters.{name}"), entry),
            Some(other) => Err(format!("rope_parameters.{name} {other} is not an object")),
        }
    };
    Ok(RopeBases { full: kind("full_attention")?, sliding: kind("sliding_attention")? })
}

/// One entry of `rope_parameters` (named `key`): its `rope_theta` and the key it was read from,
/// `None` where it has none.
fn rope_entry(key: &str, entry: &serde_json::Map<String, serde_json::Value>) -> Result<Option<(String, f64)>, String> {
    // The type first, so that a scaled embedding is refused by its type, not by its factor.
    match entry.get("rope_type") {
        None => {}
        Some(serde_json::Value::String(kind)) if kind == "default" => {}
        Some(other) => {
            return Err(format!(
                "{key}.rope_type {other} is not supported by the native engine (only \"default\": it implements \
                 no rope scaling)"
            ));
        }
    }
    let mut base = None;
    for (name, value) in entry {
        let number = || value.as_f64().ok_or_else(|| format!("{key}.{name} {value} is not a number"));
        match name.as_str() {
            "rope_type" => {}
            "rope_theta" => base = Some((format!("{key}.rope_theta"), number()?)),
            "partial_rotary_factor" => partial_rotary_factor(&format!("{key}.{name}"), number()?)?,
            _ => {
                return Err(format!(
                    "{key}.{name} is not supported by the native engine (it reads rope_type, rope_theta and \
                     partial_rotary_factor)"
                ));
            }
        }
    }
    Ok(base)
}

/// Refuses a `partial_rotary_factor` (named `key`) other than 1.
fn partial_rotary_factor(key: &str, factor: f64) -> Result<(), String> {
    if factor == 1.0 {
        return Ok(());
    }
    Err(format!("{key} {factor} is not supported by the native engine (only 1: every dimension of a head turns)"))
}

/// A rotary base named by a transformers 4 key (`old`, `None` where absent) and by
/// `rope_parameters` (`new`), which must agree where both name it; `default` where neither does.
fn agreed_base(old_key: &str, old: Option<f64>, new: &Option<(String, f64)>, default: f64) -> Result<f64, String> {
    match (old, new) {
        (Some(old), Some((new_key, new))) if old != *new => {
            Err(format!("{old_key} {old} and {new_key} {new} disagree: which base the layers turn by is unclear"))
        }
        (Some(old), _) => rotary_base(old_key, old),
        (None, Some((new_key, new))) => rotary_base(new_key, *new),
        (None, None) => Ok(default),
    }
}

/// Which layers `layer_types` says attend to every token (`full_attention`) or to a window
/// (`sliding_attention`); `None` where it is absent. Any other kind is refused.
fn layer_kinds(file: &ConfigFile, layers: usize) -> Result<Option<Vec<bool>>, String> {
    let Some(kinds) = &file.layer_types else { return Ok(None) };
    if kinds.len() != layers {
        return Err(format!("layer_types lists {} layers, num_hidden_layers is {layers}", kinds.len()));
    }
    kinds
        .iter()
        .map(|kind| match kind.as_str() {
            "full_attention" => Ok(true),
            "sliding_attention" => Ok(false),
            other => Err(format!(
                "layer_types holds `{other}`, which is not supported by the native engine \
                 (only full_attention and sliding_attention)"
            )),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

/// The family's own pattern of global layers (`global`, what `from` gives), which `layer_types`
/// must repeat where present.
fn layer_pattern(file: &ConfigFile, global: Vec<bool>, from: &str) -> Result<Vec<bool>, String> {
    match layer_kinds(file, global.len())? {
        Some(kinds) if kinds != global => {
            let names = |pattern: &[bool]| -> Vec<&str> {
                pattern.iter().map(|&full| if full { "full_attention" } else { "sliding_attention" }).collect()
            };
            Err(format!(
                "layer_types {:?} is not supported by the native engine: it runs {:?}, what {from} gives {} layers",
                names(&kinds),
                names(&global),
                global.len()
            ))
        }
        _ => Ok(global),
    }
}

/// A rotary base, checked.
fn rotary_base(key: &str, value: f64) -> Result<f64, String> {
    if value.is_finite() && value > 0.0 { Ok(value) } else { Err(format!("{key} {value} is not a finite number > 0")) }
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
            (rotary.global_base, rotary.local_base, &rotary.global[..], rotary.local_window),
            (160_000.0, 10_000.0, &[true, false][..], 128)
        );
        assert_eq!((defaults.layer_norm_eps, defaults.attention_bias), (1e-5, false));
        let null = parse_config(&format!(r#"{minimal},"global_rope_theta":5.0,"local_rope_theta":null}}"#)).unwrap();
        assert_eq!(null.rotary.unwrap().local_base, 5.0);
    }

    #[test]
    fn reads_embeddinggemma() {
        // google/embeddinggemma-300m's config.json.
        let config = parse_config(
            r#"{"_sliding_window_pattern":6,"architectures":["Gemma3TextModel"],"attention_bias":false,
                "attention_dropout":0.0,"attn_logit_softcapping":null,"bos_token_id":2,"dtype":"float32",
                "eos_token_id":1,"final_logit_softcapping":null,"head_dim":256,"hidden_activation":"gelu_pytorch_tanh",
                "hidden_size":768,"initializer_range":0.02,"intermediate_size":1152,"layer_types":["sliding_attention",
                "sliding_attention","sliding_attention","sliding_attention","sliding_attention","full_attention",
                "sliding_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention",
                "full_attention","sliding_attention","sliding_attention","sliding_attention","sliding_attention",
                "sliding_attention","full_attention","sliding_attention","sliding_attention","sliding_attention",
                "sliding_attention","sliding_attention","full_attention"],"max_position_embeddings":2048,
                "model_type":"gemma3_text","num_attention_heads":3,"num_hidden_layers":24,"num_key_value_heads":1,
                "pad_token_id":0,"query_pre_attn_scalar":256,"rms_norm_eps":1e-06,"rope_local_base_freq":10000.0,
                "rope_scaling":null,"rope_theta":1000000.0,"sliding_window":512,"transformers_version":"4.57.0.dev0",
                "use_bidirectional_attention":true,"use_cache":true,"vocab_size":262144}"#,
        )
        .unwrap();
        assert_eq!(
            (config.architecture, config.heads, config.kv_heads, config.head_size()),
            (Architecture::Gemma3, 3, 1, 256)
        );
        assert_eq!((config.attention_width(), config.qkv_width(), config.gelu), (768, 1280, Gelu::Tanh));
        assert_eq!((config.attention_scale, config.max_sequence(), config.intermediate), (0.0625, 2048, 1152));
        let rotary = config.rotary.unwrap();
        assert_eq!((rotary.global_base, rotary.local_base, rotary.reach()), (1_000_000.0, 10_000.0, 256));
        let global: Vec<usize> = (0..config.layers).filter(|&layer| rotary.is_global(layer)).collect();
        assert_eq!(global, [5, 11, 17, 23]);
        // Without layer_types, each sliding_window_pattern-th layer from the first is global;
        // absent keys take Gemma3TextConfig's defaults.
        let minimal = parse_config(
            r#"{"model_type":"gemma3_text","hidden_size":64,"num_hidden_layers":4,"num_attention_heads":4,
                "intermediate_size":96,"vocab_size":10,"sliding_window_pattern":2,"use_bidirectional_attention":true}"#,
        )
        .unwrap();
        let rotary = minimal.rotary.unwrap();
        assert_eq!(
            (&rotary.global[..], rotary.reach(), rotary.global_base),
            (&[false, true, false, true][..], 2048, 1e6)
        );
        assert_eq!((minimal.kv_heads, minimal.head_dim, minimal.attention_scale), (4, 256, 0.0625));
    }

    #[test]
    fn reads_transformers5_rope_parameters() {
        // What transformers 5 writes for ModernBERT, Qwen3 and Gemma3: layer_types and
        // rope_parameters in place of the older keys.
        let modernbert = parse_config(
            r#"{"model_type":"modernbert","hidden_size":64,"num_hidden_layers":3,"num_attention_heads":4,
                "intermediate_size":96,"vocab_size":10,"max_position_embeddings":16,"global_attn_every_n_layers":3,
                "layer_types":["full_attention","sliding_attention","sliding_attention"],
                "rope_parameters":{"full_attention":{"rope_theta":160000.0,"rope_type":"default"},
                                   "sliding_attention":{"rope_theta":100.0,"rope_type":"default"}}}"#,
        )
        .unwrap();
        let rotary = modernbert.rotary.unwrap();
        assert_eq!(
            (rotary.global_base, rotary.local_base, &rotary.global[..]),
            (160_000.0, 100.0, &[true, false, false][..])
        );
        let qwen3 = parse_config(
            r#"{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
                "intermediate_size":96,"vocab_size":10,"head_dim":16,"layer_types":["full_attention","full_attention"],
                "rope_parameters":{"rope_theta":5000.0,"rope_type":"default","partial_rotary_factor":1.0}}"#,
        )
        .unwrap();
        assert_eq!(qwen3.rotary.unwrap().global_base, 5000.0);
        let gemma3 = |rope: &str| {
            parse_config(&format!(
                r#"{{"model_type":"gemma3_text","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
                    "intermediate_size":96,"vocab_size":10,"use_bidirectional_attention":true,
                    "layer_types":["sliding_attention","full_attention"],{rope}}}"#
            ))
        };
        let rotary = gemma3(
            r#""rope_parameters":{"full_attention":{"rope_theta":7.0,"rope_type":"default"},
                                  "sliding_attention":{"rope_theta":3.0,"rope_type":"default"}}"#,
        )
        .unwrap()
        .rotary
        .unwrap();
        assert_eq!((rotary.global_base, rotary.local_base), (7.0, 3.0));
        // An entry without a base, or a null one, leaves it to the older keys or the default;
        // both eras agreeing is read.
        let partial = gemma3(
            r#""rope_parameters":{"full_attention":{"rope_type":"default"},"sliding_attention":null},"rope_theta":9.0"#,
        )
        .unwrap()
        .rotary
        .unwrap();
        assert_eq!((partial.global_base, partial.local_base), (9.0, 10_000.0));
        let both = gemma3(
            r#""rope_parameters":{"full_attention":{"rope_theta":7.0},"sliding_attention":{"rope_theta":3.0}},
               "rope_theta":7.0,"rope_local_base_freq":3.0,"rope_scaling":null"#,
        )
        .unwrap()
        .rotary
        .unwrap();
        assert_eq!((both.global_base, both.local_base), (7.0, 3.0));
    }

    #[test]
    fn refuses_rope_parameters_it_cannot_run_by_name() {
        let qwen3 = |extra: &str| {
            format!(
                r#"{{"model_type":"qwen3","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
                    "intermediate_size":96,"vocab_size":10,"head_dim":16,{extra}}}"#
            )
        };
        let modernbert = |extra: &str| {
            format!(
                r#"{{"model_type":"modernbert","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
                    "intermediate_size":96,"vocab_size":10,"max_position_embeddings":16,{extra}}}"#
            )
        };
        for (text, expected) in [
            // Scaled embeddings, by their type.
            (
                qwen3(r#""rope_parameters":{"rope_type":"linear","factor":2.0,"rope_theta":10.0}"#),
                r#"rope_parameters.rope_type "linear" is not supported by the native engine"#,
            ),
            (
                qwen3(r#""rope_parameters":{"rope_type":"yarn","factor":4.0}"#),
                r#"rope_parameters.rope_type "yarn" is not supported"#,
            ),
            (
                modernbert(
                    r#""rope_parameters":{"full_attention":{"rope_type":"dynamic"},"sliding_attention":{"rope_theta":1.0}}"#,
                ),
                r#"rope_parameters.full_attention.rope_type "dynamic" is not supported"#,
            ),
            (
                qwen3(r#""rope_parameters":{"rope_type":"llama3","rope_theta":10.0}"#),
                r#"rope_parameters.rope_type "llama3" is not supported"#,
            ),
            // Old and new keys that disagree.
            (
                qwen3(r#""rope_theta":10000.0,"rope_parameters":{"rope_theta":5000.0,"rope_type":"default"}"#),
                "rope_theta 10000 and rope_parameters.rope_theta 5000 disagree",
            ),
            (
                modernbert(
                    r#""local_rope_theta":10.0,"rope_parameters":{"full_attention":{"rope_theta":160000.0},
                       "sliding_attention":{"rope_theta":20.0}}"#,
                ),
                "local_rope_theta 10 and rope_parameters.sliding_attention.rope_theta 20 disagree",
            ),
            // Malformed.
            (qwen3(r#""rope_parameters":[10000.0]"#), "rope_parameters [10000.0] is not an object"),
            (
                modernbert(r#""rope_parameters":{"rope_theta":7.0}"#),
                r#"rope_parameters {"rope_theta":7.0} is one entry for every layer: modernbert's names one per layer kind"#,
            ),
            (
                qwen3(r#""rope_parameters":{"rope_theta":"high"}"#),
                r#"rope_parameters.rope_theta "high" is not a number"#,
            ),
            (
                qwen3(r#""rope_parameters":{"rope_theta":0.0}"#),
                "rope_parameters.rope_theta 0 is not a finite number > 0",
            ),
            (qwen3(r#""rope_parameters":{"rope_type":7}"#), "rope_parameters.rope_type 7 is not supported"),
            (qwen3(r#""rope_parameters":{"factor":2.0}"#), "rope_parameters.factor is not supported"),
            (
                qwen3(r#""rope_parameters":{"partial_rotary_factor":0.5}"#),
                "rope_parameters.partial_rotary_factor 0.5 is not supported",
            ),
            (
                modernbert(r#""rope_parameters":{"full_attention":{"rope_theta":1.0},"rope_theta":2.0}"#),
                "rope_parameters holds `rope_theta` beside full_attention or sliding_attention",
            ),
            (
                modernbert(r#""rope_parameters":{"sliding_attention":5.0}"#),
                "rope_parameters.sliding_attention 5.0 is not an object",
            ),
            // layer_types that are not the family's pattern.
            (
                qwen3(r#""layer_types":["full_attention","sliding_attention"]"#),
                r#"layer_types ["full_attention", "sliding_attention"] is not supported by the native engine: it runs ["full_attention", "full_attention"], what use_sliding_window false gives 2 layers"#,
            ),
            (qwen3(r#""layer_types":["full_attention","chunked_attention"]"#), "layer_types holds `chunked_attention`"),
        ] {
            let error = parse_config(&text).unwrap_err();
            assert!(error.contains(expected), "{error}");
        }
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
