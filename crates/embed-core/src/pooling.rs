//! Pooling token embeddings into one sentence embedding, as sentence-transformers'
//! `Pooling` module does, and L2 normalization.
//!
//! The mode comes from the model's `1_Pooling/config.json`. This file knows nothing of
//! tokenizers or ONNX Runtime beyond the flat buffers it is handed.

use std::path::Path;

use embed_manifest::Pooling;
use serde::Deserialize;

use crate::EmbedError;

#[derive(Deserialize)]
struct PoolingFile {
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    include_prompt: Option<bool>,
}

/// Reads `1_Pooling/config.json` of a model directory. `None` when the file is absent.
pub fn read_pooling_config(model_dir: &Path) -> Result<Option<Pooling>, EmbedError> {
    let path = model_dir.join("1_Pooling").join("config.json");
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(EmbedError::Io { path, source }),
    };
    let file: PoolingFile = serde_json::from_str(&text)
        .map_err(|source| EmbedError::ModelConfig { path: path.clone(), message: source.to_string() })?;
    let modes = [
        (file.pooling_mode_cls_token, Pooling::Cls),
        (file.pooling_mode_mean_tokens, Pooling::Mean),
        (file.pooling_mode_max_tokens, Pooling::Max),
        (file.pooling_mode_mean_sqrt_len_tokens, Pooling::MeanSqrtLen),
        (file.pooling_mode_lasttoken, Pooling::LastToken),
    ];
    let chosen: Vec<Pooling> = modes.iter().filter(|(on, _)| *on).map(|(_, mode)| *mode).collect();
    let unsupported = |message: &str| EmbedError::ModelConfig { path: path.clone(), message: message.to_string() };
    if file.pooling_mode_weightedmean_tokens {
        return Err(unsupported("weighted-mean pooling is not supported"));
    }
    if file.include_prompt == Some(false) {
        return Err(unsupported("pooling that excludes the prompt (include_prompt = false) is not supported"));
    }
    match chosen.as_slice() {
        [mode] => Ok(Some(*mode)),
        [] => Err(unsupported("no pooling mode is enabled")),
        _ => Err(unsupported("several pooling modes at once (concatenated) are not supported")),
    }
}

/// Pools one text's token embeddings (its tokens only, `tokens.len() / hidden` rows of
/// `hidden`, row-major) into `out` (`hidden` values).
pub fn pool_into(mode: Pooling, tokens: &[f32], hidden: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), hidden);
    let rows = tokens.chunks_exact(hidden);
    match mode {
        Pooling::Cls => out.copy_from_slice(&tokens[..hidden]),
        Pooling::LastToken => {
            let last = (tokens.len() / hidden).saturating_sub(1);
            out.copy_from_slice(&tokens[last * hidden..(last + 1) * hidden]);
        }
        Pooling::Max => {
            out.fill(f32::NEG_INFINITY);
            let mut any = false;
            for row in rows {
                any = true;
                for (o, v) in out.iter_mut().zip(row) {
                    *o = o.max(*v);
                }
            }
            if !any {
                out.fill(0.0);
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLen => {
            out.fill(0.0);
            let mut count = 0usize;
            for row in rows {
                count += 1;
                for (o, v) in out.iter_mut().zip(row) {
                    *o += *v;
                }
            }
            // sentence-transformers clamps the token count to at least 1e-9.
            let count = (count as f32).max(1e-9);
            let divisor = if mode == Pooling::Mean { count } else { count.sqrt() };
            for o in out.iter_mut() {
                *o /= divisor;
            }
        }
    }
}

/// Scales `v` to unit length (as `torch.nn.functional.normalize`, which divides by
/// `max(norm, 1e-12)`).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENS: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

    fn pooled(mode: Pooling) -> Vec<f32> {
        let mut out = vec![0.0; 2];
        pool_into(mode, &TOKENS, 2, &mut out);
        out
    }

    #[test]
    fn pooling_takes_every_token() {
        assert_eq!(pooled(Pooling::Mean), [2.0, 3.0]);
        assert_eq!(pooled(Pooling::Max), [3.0, 4.0]);
        assert_eq!(pooled(Pooling::Cls), [1.0, 2.0]);
        assert_eq!(pooled(Pooling::LastToken), [3.0, 4.0]);
        let sqrt = pooled(Pooling::MeanSqrtLen);
        assert!((sqrt[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6);
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = [0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }
}
