//! Broken checkpoints and batches: every one is an error naming the file and the tensor (or
//! the key, or the sequence), never a panic and never a vector. Each case takes a valid tiny
//! checkpoint of `embed_native::testing` and breaks one thing.

use std::path::Path;

use embed_native::testing::{Checkpoint, Dtype, Tensor};
use embed_native::{Architecture, NativeError, NativeModel, NativeOptions, PackedBatch};

const FAMILIES: [Architecture; 7] = Architecture::ALL;

fn load(dir: &Path) -> Result<NativeModel, NativeError> {
    let mut options = NativeOptions::default();
    options.threads = Some(1);
    NativeModel::load(dir, &options)
}

fn load_checkpoint(checkpoint: &Checkpoint) -> (tempfile::TempDir, Result<NativeModel, NativeError>) {
    let dir = tempfile::tempdir().unwrap();
    checkpoint.write(dir.path()).unwrap();
    let model = load(dir.path());
    (dir, model)
}

fn run(model: &NativeModel, ids: &[u32], lengths: &[usize]) -> Result<Vec<f32>, NativeError> {
    model.forward(&PackedBatch { ids, type_ids: &[], lengths }, <[f32]>::to_vec)
}

#[test]
fn the_tiny_checkpoints_load_and_run() {
    for family in FAMILIES {
        let (_dir, model) = load_checkpoint(&Checkpoint::tiny(family, 7));
        let model = model.unwrap();
        let hidden = run(&model, &[0, 5, 9, 2, 3, 4, 5], &[3, 4]).unwrap();
        assert_eq!(hidden.len(), 7 * model.config().hidden);
        assert!(hidden.iter().all(|v| v.is_finite()));
    }
}

#[test]
fn a_sequence_gives_the_same_rows_inside_a_batch_and_alone() {
    for family in FAMILIES {
        let (_dir, model) = load_checkpoint(&Checkpoint::tiny(family, 22));
        let model = model.unwrap();
        let h = model.config().hidden;
        let ids = [3, 9, 4, 4, 12, 7, 2, 5, 11, 6, 8, 3, 10, 1];
        let lengths = [5, 9];
        let batch = run(&model, &ids, &lengths).unwrap();
        let first = run(&model, &ids[..5], &lengths[..1]).unwrap();
        let second = run(&model, &ids[5..], &lengths[1..]).unwrap();
        assert_eq!(batch, [first, second].concat(), "{family:?}");
        assert_eq!(batch.len(), ids.len() * h);
    }
}

#[test]
fn a_missing_tensor_is_named() {
    for family in FAMILIES {
        let mut checkpoint = Checkpoint::tiny(family, 1);
        // ModernBERT, Qwen3 and Gemma3 have no biases: their second layer's first weight.
        let unbiased = matches!(family, Architecture::ModernBert | Architecture::Qwen3 | Architecture::Gemma3);
        let suffix = if unbiased { ".weight" } else { ".bias" };
        let in_layer_1 = |k: &&String| (k.contains("layer.1.") || k.contains("layers.1.")) && k.ends_with(suffix);
        let name = checkpoint.tensors.keys().find(in_layer_1).unwrap().clone();
        checkpoint.tensors.remove(&name);
        let (dir, model) = load_checkpoint(&checkpoint);
        match model.unwrap_err() {
            NativeError::MissingTensor { path, name: missing } => {
                assert_eq!((path, missing), (dir.path().join("model.safetensors"), name));
            }
            other => panic!("{family:?}: {other}"),
        }
    }
}

#[test]
fn a_misshapen_tensor_is_named_with_both_shapes() {
    let mut checkpoint = Checkpoint::tiny(Architecture::Bert, 2);
    let name = "encoder.layer.0.intermediate.dense.weight";
    checkpoint.tensors.insert(name.into(), Tensor::f32(vec![16, 4], &[0.5; 64]));
    let (_dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::TensorShape { name: n, expected, found, .. }
            if n == name && expected == &[16, 8] && found == &[16, 4]),
        "{error}"
    );
    assert!(error.to_string().contains("model.safetensors"), "{error}");
}

#[test]
fn an_unsupported_element_type_is_named() {
    for dtype in [Dtype::I64, Dtype::F64, Dtype::U8, Dtype::F8_E4M3] {
        let mut checkpoint = Checkpoint::tiny(Architecture::Roberta, 3);
        let name = "embeddings.LayerNorm.weight";
        let tensor = checkpoint.tensors[name].converted(dtype);
        checkpoint.tensors.insert(name.into(), tensor);
        let (_dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(matches!(&error, NativeError::TensorDtype { name: n, .. } if n == name), "{dtype:?}: {error}");
        assert!(error.to_string().contains("expected F32, F16 or BF16"), "{error}");
    }
}

#[test]
fn half_precision_checkpoints_are_widened_to_the_same_model() {
    for family in FAMILIES {
        let checkpoint = Checkpoint::tiny(family, 4);
        for dtype in [Dtype::F16, Dtype::BF16] {
            let mut narrowed = checkpoint.clone();
            narrowed.tensors.values_mut().for_each(|tensor| *tensor = tensor.converted(dtype));
            let (_a, full) = load_checkpoint(&checkpoint);
            let (_b, half) = load_checkpoint(&narrowed);
            let (full, half) =
                (run(&full.unwrap(), &[3, 4, 5], &[3]).unwrap(), run(&half.unwrap(), &[3, 4, 5], &[3]).unwrap());
            let worst = full.iter().zip(&half).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(worst < 0.1, "{family:?} {dtype:?}: {worst}");
        }
    }
}

#[test]
fn truncated_and_corrupt_files_are_refused_by_path() {
    let bytes = Checkpoint::tiny(Architecture::Mpnet, 5).safetensors().unwrap();
    let header = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    let mut cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("shorter than its length field", bytes[..5].to_vec()),
        ("cut inside the header", bytes[..8 + header / 2].to_vec()),
        ("cut inside the data", bytes[..bytes.len() - 10].to_vec()),
        ("a header length past the end", [&u64::MAX.to_le_bytes()[..], &bytes[8..]].concat()),
    ];
    let mut garbled = bytes.clone();
    garbled[8..8 + header].iter_mut().step_by(7).for_each(|b| *b = b'}');
    cases.push(("a garbled header", garbled));
    for (what, contents) in cases {
        let dir = tempfile::tempdir().unwrap();
        let checkpoint = Checkpoint::tiny(Architecture::Mpnet, 5);
        std::fs::write(dir.path().join("config.json"), checkpoint.config_json()).unwrap();
        std::fs::write(dir.path().join("model.safetensors"), contents).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(matches!(error, NativeError::Safetensors { .. }), "{what}: {error}");
        assert!(error.to_string().contains(&dir.path().join("model.safetensors").display().to_string()), "{error}");
    }
}

#[test]
fn a_missing_file_is_named() {
    let dir = tempfile::tempdir().unwrap();
    Checkpoint::tiny(Architecture::Bert, 6).write(dir.path()).unwrap();
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let error = load(dir.path()).unwrap_err();
    assert!(matches!(&error, NativeError::NoCheckpoint { dir: d } if d == dir.path()), "{error}");
    assert!(error.to_string().ends_with("expected model.safetensors or model.safetensors.index.json"), "{error}");
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(matches!(load(dir.path()).unwrap_err(), NativeError::Io { path, .. } if path.ends_with("config.json")));
}

#[test]
fn an_unsupported_config_is_refused_by_key() {
    let cases: [(&str, serde_json::Value, &str); 6] = [
        ("model_type", "distilbert".into(), "model_type `distilbert` is not supported"),
        ("hidden_act", "relu".into(), "hidden_act `relu` is not supported"),
        ("position_embedding_type", "relative_key_query".into(), "relative_key_query"),
        ("relative_attention_num_buckets", 2.into(), "relative_attention_num_buckets 2 is too few"),
        ("layer_norm_eps", (-1.0).into(), "layer_norm_eps -1 is not a finite number"),
        ("num_attention_heads", 3.into(), "hidden_size 8 is not a multiple of num_attention_heads 3"),
    ];
    for (key, value, expected) in cases {
        let mut checkpoint = Checkpoint::tiny(Architecture::Mpnet, 8);
        checkpoint.config.insert(key.into(), value);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::Config { path, .. } if path == &dir.path().join("config.json")),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{key}: {error}");
    }
}

#[test]
fn a_nan_weight_is_an_error_not_a_vector() {
    for family in FAMILIES {
        let mut checkpoint = Checkpoint::tiny(family, 9);
        let name = match family {
            Architecture::ModernBert => "layers.1.mlp.Wo.weight",
            Architecture::Qwen3 | Architecture::Qwen2 | Architecture::Gemma3 => "layers.1.mlp.down_proj.weight",
            _ => "encoder.layer.1.output.dense.bias",
        };
        let mut values = checkpoint.tensors[name].values();
        values[3] = f32::NAN;
        let shape = checkpoint.tensors[name].shape.clone();
        checkpoint.tensors.insert(name.into(), Tensor::f32(shape, &values));
        let (_dir, model) = load_checkpoint(&checkpoint);
        let error = run(&model.unwrap(), &[2, 3, 4, 5, 6], &[2, 3]).unwrap_err();
        assert!(matches!(error, NativeError::NonFinite { sequence: 0, token: 0 }), "{family:?}: {error}");
    }
}

#[test]
fn batches_the_model_cannot_take_are_refused() {
    let (_dir, model) = load_checkpoint(&Checkpoint::tiny(Architecture::Roberta, 10));
    let model = model.unwrap();
    // RoBERTa's positions start after the padding id (1): 12 rows leave 10 positions.
    for (ids, lengths, expected) in [
        (vec![1, 2, 3], vec![2], "add up to 2 tokens, but 3 token ids"),
        (vec![1, 2], vec![0, 2], "sequence 0 has 0 tokens; the model takes 1 to 10"),
        (vec![3; 11], vec![11], "sequence 0 has 11 tokens; the model takes 1 to 10"),
        (vec![3, 16], vec![2], "token id 16 is outside the vocabulary (0..16)"),
    ] {
        let error = run(&model, &ids, &lengths).unwrap_err();
        assert!(matches!(error, NativeError::InvalidBatch(_)) && error.to_string().contains(expected), "{error}");
    }
    let error = model.forward(&PackedBatch { ids: &[3, 4], type_ids: &[0, 1], lengths: &[2] }, |_| ()).unwrap_err();
    assert!(error.to_string().contains("token type id 1 is outside 0..1"), "{error}");
    assert_eq!(run(&model, &[3; 10], &[10]).unwrap().len(), 10 * 8);
}

#[test]
fn modernbert_tensors_missing_or_misshapen_are_named_with_the_file() {
    let file = |dir: &tempfile::TempDir| dir.path().join("model.safetensors");
    // The first layer has no `attn_norm` (the identity); the second needs one, as does the end.
    for name in ["layers.1.attn_norm.weight", "final_norm.weight", "embeddings.tok_embeddings.weight"] {
        let mut checkpoint = Checkpoint::tiny(Architecture::ModernBert, 30);
        checkpoint.tensors.remove(name);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == name),
            "{name}: {error}"
        );
        assert_eq!(error.to_string(), format!("{} has no tensor `{name}`", file(&dir).display()));
    }
    // GeGLU's expansion holds the values and the gates: twice the intermediate size.
    let mut checkpoint = Checkpoint::tiny(Architecture::ModernBert, 31);
    let name = "layers.0.mlp.Wi.weight";
    checkpoint.tensors.insert(name.into(), Tensor::f32(vec![16, 8], &[0.5; 128]));
    let (dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::TensorShape { path, name: n, expected, found }
            if path == &file(&dir) && n == name && expected == &[32, 8] && found == &[16, 8]),
        "{error}"
    );
    // Biases are read where config.json says the model has them.
    for (key, name) in [
        ("attention_bias", "layers.0.attn.Wqkv.bias"),
        ("mlp_bias", "layers.0.mlp.Wi.bias"),
        ("norm_bias", "embeddings.norm.bias"),
    ] {
        let mut checkpoint = Checkpoint::tiny(Architecture::ModernBert, 32);
        checkpoint.config.insert(key.into(), true.into());
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == name),
            "{key}: {error}"
        );
    }
}

#[test]
fn modernbert_biases_are_applied_where_the_config_has_them() {
    let plain = Checkpoint::tiny(Architecture::ModernBert, 33);
    let with_biases = |value: f32| {
        let mut checkpoint = plain.clone();
        for key in ["attention_bias", "mlp_bias", "norm_bias"] {
            checkpoint.config.insert(key.into(), true.into());
        }
        let weights: Vec<(String, Vec<usize>)> = plain
            .tensors
            .iter()
            .filter_map(|(name, t)| Some((name.strip_suffix(".weight")?.to_string(), t.shape.clone())))
            .filter(|(name, _)| name != "embeddings.tok_embeddings")
            .collect();
        for (base, shape) in weights {
            let values = vec![value; shape[0]];
            checkpoint.tensors.insert(format!("{base}.bias"), Tensor::f32(vec![shape[0]], &values));
        }
        checkpoint
    };
    let outputs = |checkpoint: &Checkpoint| {
        let (_dir, model) = load_checkpoint(checkpoint);
        run(&model.unwrap(), &[3, 9, 4, 4, 12, 7, 2], &[7]).unwrap()
    };
    let without = outputs(&plain);
    assert_eq!(outputs(&with_biases(0.0)), without, "zero biases are no biases");
    assert_ne!(outputs(&with_biases(0.25)), without, "biases change the outputs");
}

#[test]
fn an_unsupported_modernbert_config_is_refused_by_key() {
    let cases: [(&str, serde_json::Value, &str); 12] = [
        ("hidden_activation", "silu".into(), "hidden_activation `silu` is not supported by the native engine"),
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "linear", "factor": 2.0}),
            "rope_scaling {\"factor\":2.0,\"rope_type\":\"linear\"} is not supported by the native engine",
        ),
        (
            "rope_parameters",
            serde_json::json!({"full_attention": {"rope_type": "linear", "factor": 2.0}}),
            "rope_parameters.full_attention.rope_type \"linear\" is not supported by the native engine",
        ),
        ("partial_rotary_factor", 0.5.into(), "partial_rotary_factor 0.5 is not supported by the native engine"),
        ("head_dim", 8.into(), "head_dim 8 is not hidden_size / num_attention_heads (4)"),
        ("num_attention_heads", 8.into(), "num_attention_heads 8 is 1: rotary positions need an even head width"),
        ("global_attn_every_n_layers", 0.into(), "`global_attn_every_n_layers` is 0"),
        (
            "num_hidden_layers",
            (1usize << 40).into(),
            "num_hidden_layers 1099511627776 is more than the 1024 the native engine takes",
        ),
        ("global_rope_theta", (-1.0).into(), "global_rope_theta -1 is not a finite number > 0"),
        ("local_rope_theta", 0.0.into(), "local_rope_theta 0 is not a finite number > 0"),
        ("norm_eps", (-1.0).into(), "norm_eps -1 is not a finite number ≥ 0"),
        (
            "layer_types",
            serde_json::json!(["full_attention", "full_attention"]),
            "layer_types [\"full_attention\", \"full_attention\"] is not supported by the native engine: it runs \
             [\"full_attention\", \"sliding_attention\"], what global_attn_every_n_layers 2 gives 2 layers",
        ),
    ];
    for (key, value, expected) in cases {
        let mut checkpoint = Checkpoint::tiny(Architecture::ModernBert, 34);
        checkpoint.config.insert(key.into(), value);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::Config { path, .. } if path == &dir.path().join("config.json")),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{key}: {error}");
    }
    // What ModernBertConfig ignores (a BERT key, the classifier's settings) is ignored here too,
    // and a null local base is the global one.
    let mut checkpoint = Checkpoint::tiny(Architecture::ModernBert, 34);
    for (key, value) in [
        ("hidden_act", serde_json::Value::from("relu")),
        ("classifier_activation", "silu".into()),
        ("classifier_pooling", "mean".into()),
        ("local_rope_theta", serde_json::Value::Null),
        ("layer_types", serde_json::json!(["full_attention", "sliding_attention"])),
    ] {
        checkpoint.config.insert(key.into(), value);
    }
    let (_dir, model) = load_checkpoint(&checkpoint);
    let rotary = model.unwrap().config().rotary.clone().unwrap();
    assert_eq!((rotary.local_base, rotary.global_base, rotary.reach()), (160_000.0, 160_000.0, 2));
}

#[test]
fn a_decoder_token_sees_only_the_tokens_before_it() {
    for family in [Architecture::Qwen3, Architecture::Qwen2] {
        let (_dir, model) = load_checkpoint(&Checkpoint::tiny(family, 40));
        let model = model.unwrap();
        let h = model.config().hidden;
        let ids = [3, 9, 4, 4, 12, 7, 2, 5, 11];
        let whole = run(&model, &ids, &[9]).unwrap();
        for len in 1..ids.len() {
            let prefix = run(&model, &ids[..len], &[len]).unwrap();
            assert_eq!(prefix, whole[..len * h], "{family:?}: the first {len} rows");
        }
        // The last row does depend on every token before it.
        let mut changed = ids;
        changed[0] = 8;
        assert_ne!(run(&model, &changed, &[9]).unwrap()[8 * h..], whole[8 * h..], "{family:?}");
    }
}

#[test]
fn decoder_tensors_missing_or_misshapen_are_named_with_the_file() {
    let file = |dir: &tempfile::TempDir| dir.path().join("model.safetensors");
    for (family, name) in [
        (Architecture::Qwen3, "layers.1.self_attn.q_norm.weight"),
        (Architecture::Qwen3, "layers.0.self_attn.k_norm.weight"),
        (Architecture::Qwen3, "layers.1.mlp.gate_proj.weight"),
        (Architecture::Qwen3, "norm.weight"),
        (Architecture::Qwen3, "embed_tokens.weight"),
        (Architecture::Qwen2, "layers.0.self_attn.v_proj.bias"),
        (Architecture::Qwen2, "layers.1.post_attention_layernorm.weight"),
    ] {
        let mut checkpoint = Checkpoint::tiny(family, 41);
        checkpoint.tensors.remove(name);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == name),
            "{family:?} {name}: {error}"
        );
    }
    // The key projection has num_key_value_heads · head_dim = 12 outputs, not hidden_size.
    let mut checkpoint = Checkpoint::tiny(Architecture::Qwen3, 42);
    let name = "layers.0.self_attn.k_proj.weight";
    checkpoint.tensors.insert(name.into(), Tensor::f32(vec![8, 8], &[0.5; 64]));
    let (dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::TensorShape { path, name: n, expected, found }
            if path == &file(&dir) && n == name && expected == &[12, 8] && found == &[8, 8]),
        "{error}"
    );
    // Qwen3's output projection has a bias where attention_bias says so, as its others.
    let mut checkpoint = Checkpoint::tiny(Architecture::Qwen3, 43);
    checkpoint.config.insert("attention_bias".into(), true.into());
    let (dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == "layers.0.self_attn.q_proj.bias"),
        "{error}"
    );
}

#[test]
fn an_unsupported_decoder_config_is_refused_by_key() {
    let cases: [(Architecture, &str, serde_json::Value, &str); 9] = [
        (Architecture::Qwen3, "hidden_act", "gelu".into(), "hidden_act `gelu` is not supported by the native engine"),
        (
            Architecture::Qwen3,
            "rope_scaling",
            serde_json::json!({"rope_type": "yarn", "factor": 4.0}),
            "rope_scaling {\"factor\":4.0,\"rope_type\":\"yarn\"} is not supported by the native engine",
        ),
        (Architecture::Qwen2, "use_sliding_window", true.into(), "use_sliding_window true is not supported"),
        (
            Architecture::Qwen3,
            "layer_types",
            serde_json::json!(["full_attention", "sliding_attention"]),
            "layer_types [\"full_attention\", \"sliding_attention\"] is not supported by the native engine: it runs \
             [\"full_attention\", \"full_attention\"], what use_sliding_window false gives 2 layers",
        ),
        (
            Architecture::Qwen3,
            "num_key_value_heads",
            3.into(),
            "num_attention_heads 4 is not a multiple of num_key_value_heads 3",
        ),
        (Architecture::Qwen3, "head_dim", 5.into(), "head_dim 5 is odd"),
        (Architecture::Qwen2, "rope_theta", 0.0.into(), "rope_theta 0 is not a finite number > 0"),
        (Architecture::Qwen3, "rms_norm_eps", (-1.0).into(), "rms_norm_eps -1 is not a finite number"),
        (Architecture::Qwen3, "partial_rotary_factor", 0.5.into(), "partial_rotary_factor 0.5 is not supported"),
    ];
    for (family, key, value, expected) in cases {
        let mut checkpoint = Checkpoint::tiny(family, 44);
        checkpoint.config.insert(key.into(), value);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::Config { path, .. } if path == &dir.path().join("config.json")),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{key}: {error}");
    }
    // A sliding window named but not used is no window; a null rope_scaling is none.
    let mut checkpoint = Checkpoint::tiny(Architecture::Qwen3, 44);
    checkpoint.config.insert("sliding_window".into(), 4096.into());
    checkpoint.config.insert("max_window_layers".into(), 28.into());
    checkpoint.config.insert("layer_types".into(), serde_json::json!(["full_attention", "full_attention"]));
    let (_dir, model) = load_checkpoint(&checkpoint);
    let config = model.unwrap().config().clone();
    assert_eq!((config.heads, config.kv_heads, config.head_dim, config.qkv_width()), (4, 2, 6, 48));
}

#[test]
fn gemma3_tensors_missing_or_misshapen_are_named_with_the_file() {
    let file = |dir: &tempfile::TempDir| dir.path().join("model.safetensors");
    for name in [
        "layers.0.post_attention_layernorm.weight",
        "layers.1.pre_feedforward_layernorm.weight",
        "layers.0.post_feedforward_layernorm.weight",
        "layers.1.input_layernorm.weight",
        "layers.0.self_attn.q_norm.weight",
        "layers.1.self_attn.k_norm.weight",
        "layers.1.mlp.up_proj.weight",
        "norm.weight",
        "embed_tokens.weight",
    ] {
        let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 45);
        checkpoint.tensors.remove(name);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == name),
            "{name}: {error}"
        );
    }
    // The query heads' norm is head_dim (6) wide, not hidden_size.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 46);
    let name = "layers.1.self_attn.q_norm.weight";
    checkpoint.tensors.insert(name.into(), Tensor::f32(vec![8], &[0.5; 8]));
    let (dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::TensorShape { path, name: n, expected, found }
            if path == &file(&dir) && n == name && expected == &[6] && found == &[8]),
        "{error}"
    );
    // Biases on query, key, value and output where attention_bias says so.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 47);
    checkpoint.config.insert("attention_bias".into(), true.into());
    let (dir, model) = load_checkpoint(&checkpoint);
    let error = model.unwrap_err();
    assert!(
        matches!(&error, NativeError::MissingTensor { path, name: n } if path == &file(&dir) && n == "layers.0.self_attn.q_proj.bias"),
        "{error}"
    );
}

#[test]
fn an_unsupported_gemma3_config_is_refused_by_key() {
    let cases: [(&str, serde_json::Value, &str); 14] = [
        ("use_bidirectional_attention", false.into(), "use_bidirectional_attention is false or absent"),
        ("use_bidirectional_attention", serde_json::Value::Null, "use_bidirectional_attention is false or absent"),
        ("attn_logit_softcapping", 50.0.into(), "attn_logit_softcapping 50 is not supported"),
        (
            "rope_scaling",
            serde_json::json!({"rope_type": "linear", "factor": 8.0}),
            "rope_scaling {\"factor\":8.0,\"rope_type\":\"linear\"} is not supported by the native engine",
        ),
        (
            "rope_parameters",
            serde_json::json!({"full_attention": {"rope_theta": 5.0}, "sliding_attention": {"rope_type": "yarn"}}),
            "rope_parameters.sliding_attention.rope_type \"yarn\" is not supported by the native engine",
        ),
        ("partial_rotary_factor", 0.5.into(), "partial_rotary_factor 0.5 is not supported"),
        ("hidden_activation", "relu".into(), "hidden_activation `relu` is not supported"),
        ("layer_types", serde_json::json!(["full_attention"]), "layer_types lists 1 layers, num_hidden_layers is 2"),
        (
            "layer_types",
            serde_json::json!(["full_attention", "chunked_attention"]),
            "layer_types holds `chunked_attention`, which is not supported by the native engine",
        ),
        ("sliding_window", serde_json::Value::Null, "sliding_window is null"),
        ("query_pre_attn_scalar", 0.into(), "query_pre_attn_scalar 0 is not a finite number > 0"),
        ("query_pre_attn_scalar", serde_json::Value::Null, "query_pre_attn_scalar null is not a finite number > 0"),
        ("rope_local_base_freq", (-1.0).into(), "rope_local_base_freq -1 is not a finite number > 0"),
        ("num_key_value_heads", 3.into(), "num_attention_heads 4 is not a multiple of num_key_value_heads 3"),
    ];
    for (key, value, expected) in cases {
        let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 48);
        checkpoint.config.insert(key.into(), value);
        let (dir, model) = load_checkpoint(&checkpoint);
        let error = model.unwrap_err();
        assert!(
            matches!(&error, NativeError::Config { path, .. } if path == &dir.path().join("config.json")),
            "{error}"
        );
        assert!(error.to_string().contains(expected), "{key}: {error}");
    }
    // Absent, use_bidirectional_attention is false (Gemma3TextConfig's default): causal, refused.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 48);
    checkpoint.config.remove("use_bidirectional_attention");
    let (_dir, model) = load_checkpoint(&checkpoint);
    assert!(model.unwrap_err().to_string().contains("use_bidirectional_attention is false or absent"));
    // Without layer_types, sliding_window_pattern says which layers are global; 0 is refused.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 48);
    checkpoint.config.remove("layer_types");
    checkpoint.config.insert("sliding_window_pattern".into(), 0.into());
    let (_dir, model) = load_checkpoint(&checkpoint);
    assert!(model.unwrap_err().to_string().contains("`sliding_window_pattern` is 0"));
    checkpoint.config.insert("sliding_window_pattern".into(), 1.into());
    let (_dir, model) = load_checkpoint(&checkpoint);
    assert_eq!(model.unwrap().config().rotary.clone().unwrap().global, [true, true]);
    // The language head's soft-capping changes no hidden state: a model that has one loads.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 48);
    checkpoint.config.insert("final_logit_softcapping".into(), 30.0.into());
    let (_dir, model) = load_checkpoint(&checkpoint);
    let rotary = model.unwrap().config().rotary.clone().unwrap();
    assert_eq!(
        (rotary.global_base, rotary.local_base, rotary.reach(), &rotary.global[..]),
        (10_000.0, 100.0, 2, &[false, true][..])
    );
}

#[test]
fn a_gemma3_local_layer_sees_only_its_window() {
    // Both layers local, each token seeing the 2 on either side: a token's row depends on the
    // tokens up to 4 away (two layers of reach 2) and on none further.
    let mut checkpoint = Checkpoint::tiny(Architecture::Gemma3, 49);
    checkpoint.config.insert("layer_types".into(), serde_json::json!(["sliding_attention", "sliding_attention"]));
    let (_dir, model) = load_checkpoint(&checkpoint);
    let model = model.unwrap();
    let h = model.config().hidden;
    let ids = [3, 9, 4, 4, 12, 7, 2, 5, 11, 6];
    let whole = run(&model, &ids, &[10]).unwrap();
    let mut changed = ids;
    changed[9] = 8;
    let after = run(&model, &changed, &[10]).unwrap();
    assert_eq!(whole[..5 * h], after[..5 * h], "rows 0..5 are more than 4 tokens from token 9");
    assert_ne!(whole[5 * h..6 * h], after[5 * h..6 * h], "row 5 is 4 tokens from token 9");
}
