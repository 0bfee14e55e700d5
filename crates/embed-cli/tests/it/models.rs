//! Models as sentence-transformers saves them, through the `embed` binary: `embed models`
//! (snapshot of its output), prompts from a model's own files, and what the binary says of a
//! model the hub has only as a checkpoint (the native engine runs it; ONNX Runtime needs it
//! converted), or that the cache holds only as one.

#![allow(clippy::unwrap_used, reason = "tests: a failed unwrap is a failed test")]

use std::path::Path;
use std::process::Command;

use expect_test::expect;

use embed_test_support::fixture_dir;

use crate::{cosine, embed, stderr, stdout};

/// A file of `bytes` bytes (sparse: nothing is written).
fn sized_file(path: &Path, bytes: u64) {
    std::fs::create_dir_all(path.parent().expect("a parent folder")).expect("create the folder");
    std::fs::File::create(path).and_then(|file| file.set_len(bytes)).expect("create a sized file");
}

#[test]
fn models_lists_variants_sizes_engines_and_prompts() {
    let cache = tempfile::tempdir().unwrap();
    let minilm = cache.path().join("all-MiniLM-L6-v2");
    sized_file(&minilm.join("onnx/model.onnx"), 90_868_122);
    sized_file(&minilm.join("onnx/model_int8.onnx"), 23_026_053);
    // A checkpoint the native engine runs, beside an int8 ONNX file.
    let mpnet = cache.path().join("all-mpnet-base-v2");
    sized_file(&mpnet.join("model.safetensors"), 438_011_953);
    sized_file(&mpnet.join("onnx/model_int8.onnx"), 110_000_000);
    // Its int8 file was made by a conversion that recorded no recipe (an older build's).
    std::fs::write(
        mpnet.join("onnx/conversion.json"),
        r#"{"files": {"int8": {"path": "onnx/model_int8.onnx", "size": 110000000}}}"#,
    )
    .unwrap();
    std::fs::write(
        mpnet.join("config.json"),
        r#"{"model_type": "mpnet", "hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12,
            "intermediate_size": 3072, "vocab_size": 30527, "max_position_embeddings": 514, "pad_token_id": 1}"#,
    )
    .unwrap();
    // A checkpoint without ONNX, as the hub serves all-roberta-large-v1.
    let roberta = cache.path().join("all-roberta-large-v1");
    sized_file(&roberta.join("model.safetensors"), 1_421_483_904);
    std::fs::write(roberta.join("config.json"), "{}").unwrap();
    // A model whose own files define prompts and a default.
    let multi_qa = cache.path().join("multi-qa-MiniLM-L6-cos-v1");
    sized_file(&multi_qa.join("onnx/model.onnx"), 90_888_945);
    std::fs::write(
        multi_qa.join("config_sentence_transformers.json"),
        r#"{"prompts": {"query": "Question: ", "document": ""}, "default_prompt_name": "query"}"#,
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_embed"))
        .current_dir(cache.path())
        .arg("models")
        .env("MODEL_CACHE_DIR", cache.path())
        .env("HF_HUB_CACHE", cache.path().join("hub"))
        .output()
        .unwrap();
    // The last paragraph depends on the CPU running the test.
    let out = stdout(&out).replace(&cache.path().join("hub").display().to_string(), "<HF_HUB_CACHE>");
    let (listing, int8) = out.split_once("\nint8 on this CPU: ").unwrap();
    assert_eq!(int8, format!("{}\n", embed_core::int8_advice(embed_core::Int8DotProduct::detect())));
    expect![[r#"
        all-MiniLM-L6-v2  384 dimensions, up to 256 tokens  (sentence-transformers/all-MiniLM-L6-v2)
          fetched:  fp32 (86.7 MiB), int8 (22.0 MiB)
          runs on:  ONNX Runtime
          prompts:  none
        all-mpnet-base-v2  768 dimensions, up to 384 tokens  (sentence-transformers/all-mpnet-base-v2)
          fetched:  fp32 (417.7 MiB), int8 (104.9 MiB, made by another conversion recipe: refused until made again (cargo xtask fetch-models --model all-mpnet-base-v2:int8))
          runs on:  fp32: the native engine, int8: ONNX Runtime
          prompts:  none
        paraphrase-multilingual-MiniLM-L12-v2  384 dimensions, up to 128 tokens  (sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2)
          fetched:  nothing (embed fetches it from the hub on first use)
          runs on:  -
          prompts:  none
        all-roberta-large-v1  1024 dimensions, up to 128 tokens  (sentence-transformers/all-roberta-large-v1)
          fetched:  a checkpoint (model.safetensors) without an ONNX file
          runs on:  nothing yet: convert it to ONNX in a clone of embed (cargo xtask convert --model all-roberta-large-v1)
          prompts:  none
        multi-qa-MiniLM-L6-cos-v1  384 dimensions, up to 512 tokens  (sentence-transformers/multi-qa-MiniLM-L6-cos-v1)
          fetched:  fp32 (86.7 MiB)
          runs on:  ONNX Runtime
          prompts:  document "", query "Question: " (default)
        e5-large-v2  1024 dimensions, up to 512 tokens  (intfloat/e5-large-v2)
          fetched:  nothing (embed fetches it from the hub on first use)
          runs on:  -
          prompts:  passage "passage: ", query "query: "

        In the Hugging Face cache (<HF_HUB_CACHE>):
          nothing (`embed fetch org/name` fetches a model by its hub id)
    "#]]
    .assert_eq(listing);
}

#[test]
fn a_prompt_comes_from_the_model_s_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture_dir("bert-uncased-prompts");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(model.join("reference.json")).unwrap()).unwrap();
    let texts: Vec<&str> = reference["texts"].as_array().unwrap().iter().map(|t| t.as_str().unwrap()).collect();
    let picked = [5, 13, 14, 17, 34];
    let model_arg = model.display().to_string();
    let mut args = vec!["embed", "--model", &model_arg, "--prompt", "query", "--format", "jsonl"];
    args.extend(picked.iter().map(|&i| texts[i]));
    let out = stdout(&embed(&args, dir.path()));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let query = &reference["prompts"]["query"];
    for (line, &i) in lines.iter().zip(&picked) {
        let got: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
        let want: Vec<f32> = serde_json::from_value(query["embeddings"][i].clone()).unwrap();
        let cos = cosine(&got, &want);
        assert!(cos >= 0.99999, "text {i} {:?}: cosine {cos}", texts[i]);
        assert_eq!(line["tokens"], query["token_counts"][i], "text {i}");
    }
    let err = stderr(&embed(&["embed", "--model", &model_arg, "--prompt", "question", "x"], dir.path()));
    assert!(err.ends_with("has no prompt `question`; its prompts: document, passage, query\n"), "{err}");
}

/// A stand-in hub serving the roberta-bpe fixture as all-roberta-large-v1's repository without
/// an ONNX file (see embed-fetch's seed_layouts test): weights in LFS, the rest in git.
fn checkpoint_only_hub() -> embed_standin::Server {
    let server = embed_standin::Server::start();
    let manifest = embed_core::Manifest::builtin();
    let spec = manifest.model("all-roberta-large-v1").unwrap();
    let fixture = fixture_dir("roberta-bpe");
    for file in [
        "model.safetensors",
        "tokenizer.json",
        "config.json",
        "modules.json",
        "1_Pooling/config.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "sentence_bert_config.json",
        "config_sentence_transformers.json",
        "vocab.json",
        "merges.txt",
    ] {
        let body = std::fs::read(fixture.join(file)).unwrap();
        let served = if file.ends_with(".safetensors") {
            embed_standin::Served::lfs(body)
        } else {
            embed_standin::Served::git(body)
        };
        server.serve_hub_file(&spec.hub_repo, &spec.revision, file, served);
    }
    server
}

#[test]
fn a_model_the_hub_has_only_as_a_checkpoint_runs_natively_and_names_the_conversion_for_onnx() {
    let hub = checkpoint_only_hub();
    let dir = tempfile::tempdir().unwrap();
    let run = |backend: &str| {
        Command::new(env!("CARGO_BIN_EXE_embed"))
            .current_dir(dir.path())
            .args(["embed", "--backend", backend, "--model", "all-roberta-large-v1", "a text"])
            .env("MODEL_CACHE_DIR", dir.path().join("models"))
            .env("HF_ENDPOINT", &hub.base)
            .env_remove("HF_TOKEN")
            .env_remove("EMBED_OFFLINE")
            .output()
            .unwrap()
    };
    assert_eq!(
        stderr(&run("onnx")),
        format!(
            "error: cannot load model `all-roberta-large-v1`: cannot fetch model `all-roberta-large-v1:fp32` from the \
             hub at {}: sentence-transformers/all-roberta-large-v1 at revision cf74d8acd4f1 has no onnx/model.onnx, \
             only a checkpoint (model.safetensors)\nhint: the native engine runs the checkpoint's fp32 variant \
             (without --backend onnx); an ONNX file is made from it with Python: in a clone of embed's repository, \
             `cargo xtask fetch-models --model all-roberta-large-v1:fp32 --backend onnx` fetches the checkpoint and \
             converts it\n",
            hub.base
        )
    );
    assert!(!dir.path().join("models/all-roberta-large-v1").exists(), "nothing is fetched that cannot run");
    // The native engine runs the checkpoint: it is fetched and loaded, and then found to be the
    // tiny fixture, not the 1024-dimensional model the manifest describes.
    let err = stderr(&run("auto"));
    assert!(dir.path().join("models/all-roberta-large-v1/model.safetensors").is_file(), "{err}");
    assert!(err.contains("gives 32-dimensional embeddings, but its manifest entry says 1024"), "{err}");
}

#[test]
fn a_checkpoint_in_the_cache_names_the_conversion_for_onnx() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("models");
    let roberta = cache.join("all-roberta-large-v1");
    std::fs::create_dir_all(&roberta).unwrap();
    for file in ["model.safetensors", "config.json", "tokenizer.json"] {
        std::fs::copy(fixture_dir("roberta-bpe").join(file), roberta.join(file)).unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_embed"))
        .current_dir(dir.path())
        .args(["embed", "--backend", "onnx", "--model", "all-roberta-large-v1", "--offline", "a text"])
        .env("MODEL_CACHE_DIR", &cache)
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(
        err,
        format!(
            "error: cannot load model `all-roberta-large-v1`: model `all-roberta-large-v1:fp32` in {} has a checkpoint \
             (model.safetensors) but no onnx/model.onnx for ONNX Runtime: expected an ONNX file converted from the \
             checkpoint, which takes Python (the native engine runs the checkpoint's fp32 variant itself)\n\
             hint: convert it in a clone of embed's repository with `cargo xtask convert --from {}`, or run its fp32 \
             variant on the native engine (--backend native)\n",
            roberta.display(),
            roberta.display()
        )
    );
}
