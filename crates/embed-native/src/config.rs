//! `config.json` of a Hugging Face checkpoint, read into the [`ModelConfig`] this engine runs:
//! which architecture (BERT, RoBERTa/XLM-R, MPNet), its sizes and its activation. Anything the
//! engine does not implement is refused here, by name. Knows nothing of weights or kernels.

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
}

impl Architecture {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Bert => "bert",
            Self::Roberta => "roberta",
            Self::Mpnet => "mpnet",
        }
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
    /// Attention heads per layer.
    pub heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate: usize,
    /// The feed-forward activation.
    pub gelu: Gelu,
    /// LayerNorm's epsilon.
    pub layer_norm_eps: f32,
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
}

impl ModelConfig {
    /// Most tokens one sequence may have.
    pub fn max_sequence(&self) -> usize {
        self.max_positions.saturating_sub(self.position_offset)
    }

    /// Width of one attention head.
    pub fn head_size(&self) -> usize {
        self.hidden / self.heads
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
}

/// Reads `<dir>/config.json`.
pub fn read_config(dir: &Path) -> Result<ModelConfig, NativeError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| NativeError::Io { path: path.clone(), source })?;
    parse_config(&text).map_err(|message| NativeError::Config { path, message })
}

/// The `model_type`s of `config.json` the engine runs.
pub const MODEL_TYPES: &[&str] = &["bert", "roberta", "xlm-roberta", "camembert", "mpnet"];

/// Parses the text of a `config.json`; the error says what is wrong.
pub fn parse_config(text: &str) -> Result<ModelConfig, String> {
    let file: ConfigFile = serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let model_type = file.model_type.as_deref().ok_or("no `model_type`")?;
    let architecture = match model_type {
        "bert" => Architecture::Bert,
        "roberta" | "xlm-roberta" | "camembert" => Architecture::Roberta,
        "mpnet" => Architecture::Mpnet,
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
    if hidden % heads != 0 {
        return Err(format!("hidden_size {hidden} is not a multiple of num_attention_heads {heads}"));
    }
    let gelu = match file.hidden_act.as_deref().unwrap_or("gelu") {
        "gelu" => Gelu::Erf,
        "gelu_new" | "gelu_pytorch_tanh" => Gelu::Tanh,
        other => {
            return Err(format!(
                "hidden_act `{other}` is not supported by the native engine (it runs gelu, gelu_new, gelu_pytorch_tanh)"
            ));
        }
    };
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
        Architecture::Roberta | Architecture::Mpnet => 1e-5,
    };
    let layer_norm_eps = file.layer_norm_eps.unwrap_or(default_eps) as f32;
    if !(layer_norm_eps.is_finite() && layer_norm_eps >= 0.0) {
        return Err(format!("layer_norm_eps {layer_norm_eps} is not a finite number ≥ 0"));
    }
    let config = ModelConfig {
        architecture,
        hidden,
        layers: need(file.num_hidden_layers, "num_hidden_layers")?,
        heads,
        intermediate: need(file.intermediate_size, "intermediate_size")?,
        gelu,
        layer_norm_eps,
        vocab_size: need(file.vocab_size, "vocab_size")?,
        max_positions: need(file.max_position_embeddings, "max_position_embeddings")?,
        type_vocab_size,
        position_offset: padding_id.map_or(0, |pad| pad as usize + 1),
        padding_id,
        relative_buckets,
    };
    if config.max_sequence() == 0 {
        return Err(format!(
            "max_position_embeddings {} leaves no positions after the offset {}",
            config.max_positions, config.position_offset
        ));
    }
    Ok(config)
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
