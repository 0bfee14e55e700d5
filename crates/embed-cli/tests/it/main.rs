//! The `embed` binary end to end, with real models and ONNX Runtime (fetched by
//! `cargo xtask test`): output formats, input files, and the messages of bad input.

mod bad_input;
mod faults;
mod fetching;
mod hub_ids;
mod logging;
mod model_names;
mod models;
mod security;

use std::process::{Command, Output};

use embed_test_support::{cosine, models_dir, workspace_root};

/// `embed` with the workspace's models and ONNX Runtime, run from a scratch directory so no
/// `.env` or `./models` of the developer's leaks in.
fn embed(args: &[&str], dir: &std::path::Path) -> Output {
    let models = models_dir();
    let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
    command.current_dir(dir).args(args).env("MODEL_CACHE_DIR", models).env_remove("DEFAULT_MODEL");
    if std::env::var_os("ONNXRUNTIME_LIB_PATH").is_none() {
        // The binary finds libs/ beside its ancestors: target/debug/embed -> <root>/libs.
        command.env_remove("ORT_DYLIB_PATH");
    }
    command.output().expect("run embed")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "embed failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8 output")
}

fn stderr(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(1), "expected failure, got {:?}", output.status);
    String::from_utf8(output.stderr.clone()).expect("utf-8 stderr")
}

#[test]
fn the_readme_sentence_gives_a_384_d_unit_vector() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout(&embed(&["embed", "This is a sample text"], dir.path()));
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&out).unwrap();
    assert_eq!(vectors.len(), 1);
    assert_eq!(vectors[0].len(), 384);
    let norm: f32 = vectors[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}

#[test]
fn jsonl_in_jsonl_out_with_mpnet_keeps_input_order() {
    let dir = tempfile::tempdir().unwrap();
    let texts = ["a short one", "", "a much longer text that will certainly be sorted first by length", "ü"];
    let input: String = texts.iter().map(|t| format!("{}\n", serde_json::json!({ "text": t, "id": 7 }))).collect();
    std::fs::write(dir.path().join("texts.jsonl"), input).unwrap();
    let out = stdout(&embed(
        &["embed", "--model", "all-mpnet-base-v2", "--input", "texts.jsonl", "--format", "jsonl"],
        dir.path(),
    ));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), texts.len());
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i);
        assert_eq!(line["embedding"].as_array().unwrap().len(), 768);
        assert_eq!(line["truncated"], false);
    }
    // The empty text is [CLS] [SEP]: two tokens.
    assert_eq!(lines[1]["tokens"], 2);
}

#[test]
fn a_line_of_invalid_utf8_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.txt"), b"fine\nbroken \xc3\x28 here\n").unwrap();
    let err = stderr(&embed(&["embed", "--input", "bad.txt"], dir.path()));
    assert_eq!(err, "error: in bad.txt: line 2: invalid UTF-8 at byte 7 of the line\n");
}

#[test]
fn an_empty_input_file_gives_an_empty_array() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("empty.txt"), b"").unwrap();
    assert_eq!(stdout(&embed(&["embed", "--input", "empty.txt"], dir.path())), "[]\n");
}

#[test]
fn an_unknown_model_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let err = stderr(&embed(&["embed", "--model", "bert-nope", "x"], dir.path()));
    assert!(
        err.starts_with(
            "error: cannot load model `bert-nope`: unknown model `bert-nope`; known models: all-MiniLM-L6-v2, "
        ),
        "{err}"
    );
}

#[test]
fn a_missing_input_file_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let err = stderr(&embed(&["embed", "--input", "nope.txt"], dir.path()));
    assert!(err.starts_with("error: cannot read nope.txt: "), "{err}");
}

#[test]
fn a_missing_onnx_runtime_names_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let args = ["embed", "--backend", "onnx", "--onnxruntime-lib", "/nonexistent/libonnxruntime.so", "x"];
    let err = stderr(&embed(&args, dir.path()));
    assert!(err.starts_with("error: cannot load model `all-MiniLM-L6-v2`: loading model"), "{err}");
    assert!(err.contains("failed: ONNX Runtime library not found"), "{err}");
    assert!(err.ends_with("\nhint: point ONNXRUNTIME_LIB_PATH (--onnxruntime-lib) at an ONNX Runtime shared library, or leave it unset and drop --offline (EMBED_OFFLINE) so that embed fetches one from PyPI\n"), "{err}");
}

#[test]
fn chunking_a_long_file_gives_chunk_and_document_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let paragraph = "Rust embeds text quickly. Vectors feed search and clustering. ".repeat(40);
    let document = format!("{paragraph}\n\n{paragraph}\n\nLe café est chaud. 東京は大きい。");
    std::fs::write(dir.path().join("long.txt"), &document).unwrap();
    let out =
        stdout(&embed(&["embed", "--chunk", "tokens:200:40", "--input", "long.txt", "--format", "jsonl"], dir.path()));
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1, "the whole file is one document");
    assert_eq!(lines[0]["embedding"].as_array().unwrap().len(), 384);
    let chunks = lines[0]["chunks"].as_array().unwrap();
    assert!(chunks.len() >= 4, "{} chunks", chunks.len());
    let (mut previous_start, mut previous_end) = (0, 0);
    for chunk in chunks {
        let (start, end) = (chunk["start"].as_u64().unwrap() as usize, chunk["end"].as_u64().unwrap() as usize);
        assert!(document.is_char_boundary(start) && document.is_char_boundary(end) && start < end);
        assert!(start >= previous_start && end > previous_end, "spans in document order");
        assert!(start <= previous_end, "consecutive chunks overlap or touch");
        previous_start = start;
        assert!(chunk["tokens"].as_u64().unwrap() <= 202, "200 text tokens plus [CLS] and [SEP]");
        assert_eq!(chunk["embedding"].as_array().unwrap().len(), 384);
        previous_end = end;
    }
    assert_eq!(previous_end, document.len());
    let usage = embed(&["embed", "--chunk", "words", "x"], dir.path());
    assert_eq!(usage.status.code(), Some(2), "a bad flag value is a usage error");
    let err = String::from_utf8_lossy(&usage.stderr);
    assert!(err.contains("invalid value 'words' for '--chunk <SPEC>'"), "{err}");
}

#[test]
fn config_shows_each_value_and_its_source_with_flags_over_env_over_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "BATCH_SIZE=16\nLOG_LEVEL=info\nINTRA_OP_THREADS=3\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
    command
        .current_dir(dir.path())
        .args(["config", "--intra-op-threads", "2"])
        .env("LOG_LEVEL", "debug")
        .env_remove("BATCH_SIZE")
        .env_remove("INTRA_OP_THREADS")
        .env_remove("EMBEDDING_CACHE_SIZE");
    let out = stdout(&command.output().unwrap());
    let line = |name: &str| out.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in\n{out}"));
    assert!(line("BATCH_SIZE ").ends_with("16                               (.env)"), "{out}");
    assert!(line("LOG_LEVEL ").contains("debug") && line("LOG_LEVEL ").ends_with("(environment)"), "{out}");
    assert!(line("INTRA_OP_THREADS ").contains(" 2 ") && line("INTRA_OP_THREADS ").ends_with("(flag)"), "{out}");
    assert!(line("EMBEDDING_CACHE_SIZE ").ends_with("(default)"), "{out}");
}

#[test]
fn a_bad_variable_is_an_error_naming_it_its_value_and_what_was_expected() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "BATCH_SIZE=0\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_embed"))
        .current_dir(dir.path())
        .args(["embed", "x"])
        .env_remove("BATCH_SIZE")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "error: BATCH_SIZE=\"0\" (from .env): invalid value '0' for '--batch-size <BATCH_SIZE>': 0 is not in 1..=4294967295\n"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_embed"))
        .current_dir(dir.path())
        .args(["embed", "x"])
        .env("MODEL_MEMORY_LIMIT", "12XB")
        .env("BATCH_SIZE", "8")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("error: MODEL_MEMORY_LIMIT=\"12XB\" (from the environment): invalid value '12XB'"),
        "{err}"
    );
    assert!(err.contains("expected a non-negative number with an optional unit"), "{err}");
}
