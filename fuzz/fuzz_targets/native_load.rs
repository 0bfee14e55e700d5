//! Fuzz target: embed-native's loader (`config.json` + `model.safetensors`) and a forward pass
//! on what it accepted. Each input starts from a valid tiny checkpoint of one family
//! (`embed_native::testing`: BERT, RoBERTa, MPNet, ModernBERT, Qwen3, Qwen2, Gemma3) and breaks it:
//! tensors removed, renamed, reshaped, converted to other element types or given NaN, infinite
//! and huge values; `config.json` keys set to odd numbers and strings; the serialized file
//! truncated or its bytes flipped (header included).
//!
//! Invariants: loading gives a model or an error, never a panic or an abort; an unbroken
//! checkpoint loads; a loaded model runs a batch into exactly `tokens × hidden` finite values
//! or refuses it with an error, never a non-finite value.

#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use embed_native::testing::{Checkpoint, Dtype, Tensor};
use embed_native::{Architecture, NativeModel, NativeOptions, PackedBatch};
use libfuzzer_sys::fuzz_target;

const FAMILIES: [Architecture; 7] = Architecture::ALL;
const DTYPES: [Dtype; 6] = [Dtype::F16, Dtype::BF16, Dtype::F64, Dtype::I64, Dtype::U8, Dtype::F32];
const SPECIAL: [f32; 6] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY, 1e30, -1e30, 0.0];
const CONFIG_KEYS: [&str; 36] = [
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "vocab_size",
    "max_position_embeddings",
    "type_vocab_size",
    "pad_token_id",
    "relative_attention_num_buckets",
    "layer_norm_eps",
    "hidden_act",
    // ModernBERT's.
    "hidden_activation",
    "norm_eps",
    "norm_bias",
    "attention_bias",
    "mlp_bias",
    "global_rope_theta",
    "local_rope_theta",
    "global_attn_every_n_layers",
    "local_attention",
    // The decoders'.
    "num_key_value_heads",
    "head_dim",
    "rms_norm_eps",
    "rope_theta",
    "rope_scaling",
    "use_sliding_window",
    // transformers 5's rotary settings (every family with rotary positions).
    "rope_parameters",
    "partial_rotary_factor",
    "layer_types",
    // Gemma3's.
    "query_pre_attn_scalar",
    "sliding_window",
    "sliding_window_pattern",
    "rope_local_base_freq",
    "use_bidirectional_attention",
    "attn_logit_softcapping",
    "final_logit_softcapping",
];

/// One directory per process, rewritten by every input.
fn dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

fn config_value(key: &str, a: u8, b: u8) -> serde_json::Value {
    match (key, b % 4) {
        ("hidden_act" | "hidden_activation", 0) => "gelu_new".into(),
        ("hidden_act" | "hidden_activation", 1) => "relu".into(),
        ("layer_norm_eps" | "norm_eps" | "rms_norm_eps", 0) => f64::from(a).mul_add(-1e-3, 0.1).into(),
        ("norm_bias" | "attention_bias" | "mlp_bias" | "use_sliding_window" | "use_bidirectional_attention", 0 | 1) => {
            b.is_multiple_of(4).into()
        }
        ("global_rope_theta" | "local_rope_theta" | "rope_theta" | "rope_local_base_freq", 0) => {
            f64::from(a).mul_add(1e3, -1e4).into()
        }
        ("query_pre_attn_scalar" | "attn_logit_softcapping" | "final_logit_softcapping", 0) => {
            f64::from(a).mul_add(0.5, -8.0).into()
        }
        ("rope_scaling", 0) => serde_json::json!({ "rope_type": "linear", "factor": f64::from(a) }),
        ("rope_parameters", 0) => {
            let kind = if a % 3 == 0 { "yarn" } else { "default" };
            serde_json::json!({ "rope_type": kind, "rope_theta": f64::from(a).mul_add(1e3, -1e4) })
        }
        ("rope_parameters", 1) => serde_json::json!({
            "full_attention": { "rope_theta": f64::from(a) },
            "sliding_attention": if a % 2 == 0 { serde_json::Value::Null } else { serde_json::json!({ "rope_theta": -1.0 }) },
        }),
        ("layer_types", 0 | 1) => {
            serde_json::json!([if a % 2 == 0 { "full_attention" } else { "sliding_attention" }, "full_attention"])
        }
        (_, 2) => serde_json::Value::Null,
        (_, 3) => (u64::from(a) << 40).into(),
        _ => u64::from(a).into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let [family, seed, rest @ ..] = data else {
        return;
    };
    let mut checkpoint = Checkpoint::tiny(FAMILIES[usize::from(*family) % FAMILIES.len()], u64::from(*seed));
    let mut byte_edits = Vec::new();
    let mut broken = false;
    for edit in rest.chunks_exact(4) {
        let [op, a, b, c] = [edit[0], edit[1], edit[2], edit[3]];
        let names: Vec<String> = checkpoint.tensors.keys().cloned().collect();
        let name = names[usize::from(a) % names.len()].clone();
        broken = true;
        match op % 8 {
            0 => {
                checkpoint.tensors.remove(&name);
            }
            1 => {
                let tensor = &checkpoint.tensors[&name];
                let mut shape = tensor.shape.clone();
                let at = usize::from(b) % (shape.len() + 1);
                if at == shape.len() {
                    shape.push(usize::from(c % 4));
                } else {
                    shape[at] = usize::from(c % 40);
                }
                let count = shape.iter().product::<usize>();
                checkpoint.tensors.insert(name, Tensor::f32(shape, &vec![0.25; count]));
            }
            2 => {
                let tensor = checkpoint.tensors[&name].clone();
                if tensor.dtype == Dtype::F32 {
                    checkpoint.tensors.insert(name, tensor.converted(DTYPES[usize::from(b) % DTYPES.len()]));
                }
            }
            3 => {
                let tensor = &checkpoint.tensors[&name];
                if tensor.dtype == Dtype::F32 {
                    let mut values = tensor.values();
                    if !values.is_empty() {
                        let at = usize::from(b) % values.len();
                        values[at] = SPECIAL[usize::from(c) % SPECIAL.len()];
                    }
                    checkpoint.tensors.insert(name, Tensor::f32(tensor.shape.clone(), &values));
                }
            }
            4 => {
                let key = CONFIG_KEYS[usize::from(a) % CONFIG_KEYS.len()];
                checkpoint.config.insert(key.into(), config_value(key, b, c));
            }
            5 => {
                let tensor = checkpoint.tensors.remove(&name).expect("listed above");
                let renamed = if c % 2 == 0 { format!("bert.{name}") } else { name.replacen("encoder.", "", 1) };
                checkpoint.tensors.insert(renamed, tensor);
            }
            _ => byte_edits.push((op, u16::from_le_bytes([a, b]), c)),
        }
    }
    let Ok(mut bytes) = checkpoint.safetensors() else {
        return;
    };
    for (op, at, value) in byte_edits {
        let at = usize::from(at) % bytes.len().max(1);
        if op % 8 == 6 {
            bytes.truncate(at);
        } else if let Some(byte) = bytes.get_mut(at) {
            *byte ^= value | 1;
        }
    }
    let dir = dir();
    std::fs::write(dir.join("config.json"), checkpoint.config_json()).expect("writable");
    std::fs::write(dir.join("model.safetensors"), &bytes).expect("writable");
    let mut options = NativeOptions::default();
    options.threads = Some(1 + usize::from(seed % 2));
    let model = match NativeModel::load(dir, &options) {
        Ok(model) => model,
        Err(error) => {
            assert!(broken, "an unbroken checkpoint was refused: {error}");
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    let hidden = model.config().hidden;
    let ids: Vec<u32> = data.iter().take(24).map(|b| u32::from(*b % 20)).collect();
    let lengths: Vec<usize> = match ids.len() {
        0 => return,
        n @ 1..=3 => vec![n],
        n => vec![1, n / 2 - 1, n - n / 2],
    };
    match model.forward(&PackedBatch { ids: &ids, type_ids: &[], lengths: &lengths }, <[f32]>::to_vec) {
        Ok(values) => {
            assert_eq!(values.len(), ids.len() * hidden);
            assert!(values.iter().all(|v| v.is_finite()), "a non-finite value was handed on");
        }
        Err(error) => assert!(!error.to_string().is_empty()),
    }
});
