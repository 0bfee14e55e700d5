//! The architecture fixtures (`fixtures/architectures/`, made by `cargo xtask fixtures`): tiny
//! models shaped like each family embed serves, saved by the current sentence-transformers.
//! Each loads through embed-core as it was saved and gives sentence-transformers' vectors
//! (cosine >= 0.99999) and token counts, without a prompt and with each of its prompts; the
//! same files rewritten in the old format give the same vectors, and the native engine gives
//! them too from the `config.json` transformers 5 writes; broken configurations give
//! errors that name what is wrong.

#![allow(clippy::unwrap_used, reason = "test helpers: a failed unwrap is a failed test")]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use embed_core::{BackendChoice, Config, EmbedError, EmbedOptions, Service};

use crate::support::{chain, cosine, ort_library, workspace_root};

/// Every fixture; a fixture missing from the folder fails the listing test.
const FIXTURES: [&str; 11] = [
    "bert-cls-dense",
    "bert-prompt-excluded",
    "bert-uncased-normalized",
    "bert-uncased-prompts",
    "bert-unigram-xlmr",
    "gemma3",
    "modernbert",
    "mpnet",
    "qwen2",
    "qwen3",
    "roberta-bpe",
];

const MIN_COSINE: f64 = 0.99999;

fn fixture_dir(name: &str) -> PathBuf {
    workspace_root().join("fixtures/architectures").join(name)
}

/// `reference.json`: what sentence-transformers gives.
#[derive(serde::Deserialize)]
struct Reference {
    dimension: usize,
    default_prompt_name: Option<String>,
    texts: Vec<String>,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
    prompts: BTreeMap<String, Prompted>,
}

#[derive(serde::Deserialize)]
struct Prompted {
    prompt: String,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn reference(dir: &Path) -> Reference {
    let path = dir.join("reference.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid {}: {e}", path.display()))
}

fn load(dir: &Path) -> Result<Service, embed_core::EmbedError> {
    load_on(dir, BackendChoice::Auto)
}

fn load_on(dir: &Path, backend: BackendChoice) -> Result<Service, embed_core::EmbedError> {
    Service::new(Config { model: dir.display().to_string(), onnxruntime: ort_library(), backend, ..Config::default() })
}

/// Embeds the reference texts with `prompt` and checks vectors and token counts; returns the
/// smallest cosine.
fn check(
    service: &Service,
    label: &str,
    prompt: Option<&str>,
    texts: &[String],
    counts: &[usize],
    vectors: &[Vec<f32>],
) -> f64 {
    let options = EmbedOptions { prompt: prompt.map(str::to_string), ..service.default_options().clone() };
    let embeddings = service.embed_with(texts, &options).unwrap_or_else(|e| panic!("{label}: {}", chain(&e)));
    let mut min = f64::INFINITY;
    for (i, (got, want)) in embeddings.iter().zip(vectors).enumerate() {
        let cos = cosine(&got.vector, want);
        assert!(cos >= MIN_COSINE, "{label}: text {i} {:?}: cosine {cos} < {MIN_COSINE}", texts[i]);
        assert_eq!(got.tokens, counts[i], "{label}: token count of text {i} {:?}", texts[i]);
        min = min.min(cos);
    }
    min
}

/// A fixture as saved, on each engine: the vectors without a prompt (the model's default prompt
/// applies where it names one) and with each of its prompts.
fn check_fixture(name: &str) {
    for backend in [BackendChoice::Native, BackendChoice::Onnx] {
        check_fixture_on(name, backend);
    }
}

fn check_fixture_on(fixture: &str, backend: BackendChoice) {
    check_model(&format!("{fixture} on {backend}"), fixture, &fixture_dir(fixture), backend);
}

/// The model in `dir` on `backend` gives the vectors of `fixture`'s reference, as
/// [`check_fixture`] checks them.
fn check_model(name: &str, fixture: &str, dir: &Path, backend: BackendChoice) {
    let golden = reference(&fixture_dir(fixture));
    let service = load_on(dir, backend).unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
    assert!(service.model().engine().starts_with(match backend {
        BackendChoice::Onnx => "onnxruntime",
        _ => "native",
    }));
    assert_eq!(service.model().dimension(), golden.dimension, "{name}: dimension");
    let own = service.model().prompts();
    assert_eq!(own.default_name, golden.default_prompt_name, "{name}: default prompt");
    let mut min = check(&service, name, None, &golden.texts, &golden.token_counts, &golden.embeddings);
    for (prompt, prompted) in &golden.prompts {
        assert_eq!(own.prompts.get(prompt), Some(&prompted.prompt), "{name}: prompt {prompt} from the model's files");
        let label = format!("{name} with prompt {prompt}");
        min =
            min.min(check(&service, &label, Some(prompt), &golden.texts, &prompted.token_counts, &prompted.embeddings));
    }
    eprintln!(
        "{name}: min cosine 1 - {:.1e} over {} texts, {} prompts",
        1.0 - min,
        golden.texts.len(),
        golden.prompts.len()
    );
}

#[test]
fn every_fixture_is_here() {
    let mut found: Vec<String> = std::fs::read_dir(workspace_root().join("fixtures/architectures"))
        .expect("fixtures/architectures")
        .flatten()
        .filter(|e| e.path().join("reference.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    assert_eq!(found, FIXTURES);
}

#[test]
fn bert_with_prompts_like_e5_large_v2() {
    check_fixture("bert-uncased-prompts");
}

#[test]
fn bert_normalized_like_multi_qa_minilm() {
    check_fixture("bert-uncased-normalized");
}

#[test]
fn roberta_with_byte_level_bpe_like_all_roberta_large_v1() {
    check_fixture("roberta-bpe");
}

#[test]
fn bert_under_an_xlm_r_unigram_tokenizer_like_paraphrase_multilingual_minilm() {
    check_fixture("bert-unigram-xlmr");
}

#[test]
fn cls_pooling_and_a_dense_layer_like_labse() {
    check_fixture("bert-cls-dense");
}

#[test]
fn mpnet_like_all_mpnet_base_v2() {
    check_fixture("mpnet");
}

#[test]
fn modernbert_with_sliding_window_attention_like_modernbert_embed() {
    check_fixture("modernbert");
}

#[test]
fn qwen3_decoder_with_last_token_pooling_like_qwen3_embedding() {
    check_fixture("qwen3");
}

#[test]
fn qwen2_decoder_with_biases_and_last_token_pooling_like_gte_qwen2() {
    check_fixture("qwen2");
}

#[test]
fn gemma3_bidirectional_with_sliding_windows_two_dense_layers_and_prompts_like_embeddinggemma() {
    check_fixture("gemma3");
}

#[test]
fn a_prompt_left_out_of_pooling_and_a_default_prompt() {
    check_fixture("bert-prompt-excluded");
    // The default prompt applies when none is named, and leaving the prompt out of pooling
    // is what makes the vectors right: the same texts pooled with the prompt differ.
    let dir = fixture_dir("bert-prompt-excluded");
    let golden = reference(&dir);
    assert_eq!(golden.embeddings, golden.prompts["query"].embeddings);
    let included = copy_fixture("bert-prompt-excluded");
    edit_json(&included.path().join("1_Pooling/config.json"), |config| config["include_prompt"] = true.into());
    let service = load(included.path()).unwrap();
    let vectors = service.embed_batch(&golden.texts[..8]).unwrap();
    let worst = vectors.iter().zip(&golden.embeddings).map(|(a, b)| cosine(a, b)).fold(1.0, f64::min);
    assert!(worst < 0.999, "pooling the prompt too should change the vectors (worst cosine {worst})");
}

// ---------------------------------------------------------------------------------------------
// Both eras of sentence-transformers' files.

/// A copy of a fixture in a temporary directory, to edit.
fn copy_fixture(name: &str) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    copy_dir(&fixture_dir(name), copy.path());
    copy
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn edit_json(path: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let mut value: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    edit(&mut value);
    std::fs::write(path, serde_json::to_string_pretty(&value).unwrap()).unwrap();
}

/// Rewrites a 5.x model directory in the format sentence-transformers 2.x wrote: old module
/// paths, pooling booleans with `word_embedding_dimension`, `max_seq_length` in
/// `sentence_bert_config.json`, no prompts file.
fn to_old_format(dir: &Path, max_seq_length: usize) {
    edit_json(&dir.join("modules.json"), |modules| {
        for module in modules.as_array_mut().unwrap() {
            let class = module["type"].as_str().unwrap().rsplit('.').next().unwrap().to_string();
            module["type"] = format!("sentence_transformers.models.{class}").into();
        }
    });
    edit_json(&dir.join("1_Pooling/config.json"), |pooling| {
        let mode = pooling["pooling_mode"].as_str().unwrap().to_string();
        let mut old = serde_json::json!({
            "word_embedding_dimension": pooling["embedding_dimension"],
            "pooling_mode_cls_token": mode == "cls",
            "pooling_mode_mean_tokens": mode == "mean",
            "pooling_mode_max_tokens": false,
            "pooling_mode_mean_sqrt_len_tokens": false,
            "pooling_mode_weightedmean_tokens": false,
            "pooling_mode_lasttoken": false,
        });
        old["include_prompt"] = pooling["include_prompt"].clone();
        *pooling = old;
    });
    let sbert = serde_json::json!({"max_seq_length": max_seq_length, "do_lower_case": false});
    std::fs::write(dir.join("sentence_bert_config.json"), sbert.to_string()).unwrap();
    std::fs::remove_file(dir.join("config_sentence_transformers.json")).unwrap();
}

#[test]
fn the_old_format_gives_the_same_vectors() {
    for (name, max_seq_length) in [("bert-cls-dense", 256), ("roberta-bpe", 128), ("bert-uncased-normalized", 512)] {
        let old = copy_fixture(name);
        to_old_format(old.path(), max_seq_length);
        let modules = std::fs::read_to_string(old.path().join("modules.json")).unwrap();
        assert!(modules.contains("sentence_transformers.models.Pooling") && !modules.contains(".modules."));
        let golden = reference(&fixture_dir(name));
        let service = load(old.path()).unwrap_or_else(|e| panic!("{name}: {}", chain(&e)));
        let min = check(
            &service,
            &format!("{name} (old format)"),
            None,
            &golden.texts,
            &golden.token_counts,
            &golden.embeddings,
        );
        eprintln!("{name} in the old format: min cosine 1 - {:.1e}", 1.0 - min);
    }
}

/// The `config.json` transformers 5 writes for each fixture with rotary positions
/// (`fixtures/transformers5/`, by `scripts/transformers5_configs.py`): `layer_types` and
/// `rope_parameters` in place of the older rotary keys, read by the native engine with the
/// fixture's weights into the fixture's vectors.
#[test]
fn transformers5_configs_give_the_same_vectors_natively() {
    for fixture in ["gemma3", "modernbert", "qwen2", "qwen3"] {
        let saved = workspace_root().join("fixtures/transformers5").join(fixture).join("config.json");
        let text = std::fs::read_to_string(&saved).unwrap_or_else(|e| panic!("cannot read {}: {e}", saved.display()));
        assert!(text.contains("\"rope_parameters\"") && text.contains("\"transformers_version\": \"5."), "{text}");
        let copy = copy_fixture(fixture);
        std::fs::copy(&saved, copy.path().join("config.json")).unwrap();
        check_model(
            &format!("{fixture} (transformers 5 config.json) on native"),
            fixture,
            copy.path(),
            BackendChoice::Native,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Configurations embed cannot apply: errors that name the file and what is wrong.

/// The error loading a copy of `bert-cls-dense` after `edit`.
fn load_error(edit: impl FnOnce(&Path)) -> String {
    let copy = copy_fixture("bert-cls-dense");
    edit(copy.path());
    match load(copy.path()) {
        Ok(_) => panic!("a broken configuration loaded"),
        Err(error) => chain(&error),
    }
}

#[test]
fn an_unknown_module_is_named() {
    let err = load_error(|dir| {
        edit_json(&dir.join("modules.json"), |modules| {
            modules[2]["type"] = "sentence_transformers.sentence_transformer.modules.layer_norm.LayerNorm".into();
        })
    });
    assert!(
        err.contains(
            "modules.json: module 2 is `sentence_transformers.sentence_transformer.modules.layer_norm.LayerNorm` \
             (in `2_Dense`), which embed cannot apply"
        ),
        "{err}"
    );
}

#[test]
fn an_unsupported_pooling_mode_says_which_are_known() {
    let err = load_error(|dir| edit_json(&dir.join("1_Pooling/config.json"), |p| p["pooling_mode"] = "median".into()));
    assert!(
        err.contains("1_Pooling/config.json: unknown pooling mode `median`; expected one of cls, max, mean"),
        "{err}"
    );
    let err = load_error(|dir| {
        edit_json(&dir.join("1_Pooling/config.json"), |p| p["pooling_mode"] = serde_json::json!(["cls", "mean"]))
    });
    assert!(err.contains("several pooling modes at once (cls, mean, concatenated) are not supported"), "{err}");
}

#[test]
fn a_dense_module_without_safetensors_says_so() {
    let err = load_error(|dir| {
        std::fs::rename(dir.join("2_Dense/model.safetensors"), dir.join("2_Dense/pytorch_model.bin")).unwrap()
    });
    assert!(
        err.contains("2_Dense/model.safetensors: missing: the Dense module's weights are only in pytorch_model.bin"),
        "{err}"
    );
}

#[test]
fn misshapen_dense_weights_are_errors() {
    let err = load_error(|dir| edit_json(&dir.join("2_Dense/config.json"), |d| d["out_features"] = 16.into()));
    assert!(err.contains("`linear.weight` has shape [24, 32], expected [16, 32]"), "{err}");
    let err = load_error(|dir| {
        edit_json(&dir.join("2_Dense/config.json"), |d| {
            d["in_features"] = 16.into();
        })
    });
    assert!(err.contains("`linear.weight` has shape [24, 32], expected [24, 16]"), "{err}");
    let err = load_error(|dir| {
        edit_json(&dir.join("1_Pooling/config.json"), |p| p["embedding_dimension"] = 64.into());
    });
    assert!(err.contains("the embedding dimension is 64, but the model's token embeddings are 32 wide"), "{err}");
}

#[test]
fn a_checkpoint_without_onnx_runs_natively_and_names_the_conversion_for_onnx() {
    let copy = copy_fixture("bert-cls-dense");
    std::fs::remove_dir_all(copy.path().join("onnx")).unwrap();
    let native = load(copy.path()).unwrap_or_else(|e| panic!("{}", chain(&e)));
    assert!(native.model().engine().starts_with("native"), "{}", native.model().engine());
    let err = load_on(copy.path(), BackendChoice::Onnx).unwrap_err();
    assert!(
        matches!(err.cause(), EmbedError::NeedsConversion { dir, onnx, .. } if dir == copy.path() && onnx == "onnx/model.onnx"),
        "{err:?}"
    );
}
