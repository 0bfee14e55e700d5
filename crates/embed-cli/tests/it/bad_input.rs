//! The CLI rows of docs/bad-input.md: `embed embed` given bad input answers with its documented
//! exit code and message (1 for bad input or a bad model, 2 for a bad flag), never a panic or
//! a hang, and the next good run still gives the library's vector.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use super::{cosine, embed, models_dir, stderr, stdout, workspace_root};

const MODEL: &str = "all-MiniLM-L6-v2";

/// `embed` as [`embed`] runs it, with `input` on its standard input.
fn embed_with_stdin(args: &[&str], dir: &Path, input: &[u8]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_embed"));
    command
        .current_dir(dir)
        .args(args)
        .env("MODEL_CACHE_DIR", models_dir())
        .env_remove("DEFAULT_MODEL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("run embed");
    let mut stdin = child.stdin.take().expect("stdin");
    // A child that fails early closes its stdin: a broken pipe here is its answer, not ours.
    let _ = stdin.write_all(input);
    drop(stdin);
    child.wait_with_output().expect("wait for embed")
}

/// The usage error of a bad flag: exit code 2 and clap's message.
fn usage_error(output: &Output) -> String {
    assert_eq!(output.status.code(), Some(2), "expected a usage error, got {output:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn library(texts: &[&str]) -> Vec<Vec<f32>> {
    let config = embed_core::Config {
        model: MODEL.into(),
        model_cache_dir: models_dir(),
        onnxruntime: embed_core::OrtLibrary {
            path: embed_test_support::ort_library_path(),
            search_dirs: embed_test_support::ort_search_dirs(),
        },
        ..embed_core::Config::default()
    };
    embed_core::Service::new(config).expect("the library's service").embed_batch(texts).expect("library vectors")
}

/// The next good run, from the same directory: its vector is the library's.
fn next_good_run(dir: &Path) {
    let text = "the next good request";
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&embed(&["embed", text], dir))).expect("a JSON array");
    assert!(cosine(&vectors[0], &library(&[text])[0]) >= 0.99999);
}

fn jsonl(output: &Output) -> Vec<serde_json::Value> {
    stdout(output).lines().map(|line| serde_json::from_str(line).expect("a JSON line")).collect()
}

fn floats(value: &serde_json::Value) -> Vec<f32> {
    value.as_array().expect("an array").iter().map(|x| x.as_f64().expect("a number") as f32).collect()
}

#[test]
fn input_that_cannot_be_read_is_refused_before_the_model_loads() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("surrogate.jsonl"), "{\"text\":\"fine\"}\n{\"text\":\"\\ud800\"}\n").unwrap();
    let deep = format!("{{\"text\": {}{}}}\n", "[".repeat(200), "]".repeat(200));
    std::fs::write(d.join("deep.jsonl"), deep).unwrap();
    std::fs::write(d.join("malformed.jsonl"), "{\"text\": \"a\"}\n{\"text\": \"b\"\n").unwrap();
    std::fs::write(d.join("number.jsonl"), "{\"text\": 5}\n").unwrap();
    std::fs::write(d.join("bad.jsonl"), b"{\"text\":\"x\"}\n\xff\n").unwrap();
    std::fs::write(d.join("bad.txt"), b"fine\nbroken \xff\n").unwrap();
    let cases: [(&[&str], &str); 8] = [
        (&["embed"], "error: no text given: pass texts as arguments or use --input FILE\n"),
        (
            &["embed", "--input", "surrogate.jsonl"],
            "error: in surrogate.jsonl: line 2: invalid JSON: unexpected end of hex escape at line 1 column 16\n",
        ),
        (
            &["embed", "--input", "deep.jsonl"],
            "error: in deep.jsonl: line 1: invalid JSON: recursion limit exceeded at line 1 column 136\n",
        ),
        (
            &["embed", "--input", "malformed.jsonl"],
            "error: in malformed.jsonl: line 2: invalid JSON: EOF while parsing an object at line 1 column 12\n",
        ),
        (&["embed", "--input", "number.jsonl"], "error: in number.jsonl: line 1: \"text\" is not a string\n"),
        (&["embed", "--input", "bad.jsonl"], "error: in bad.jsonl: line 2: invalid UTF-8 at byte 0 of the line\n"),
        (&["embed", "--chunk", "sentences", "--input", "bad.txt"], "error: in bad.txt: line 2: invalid UTF-8\n"),
        (
            &["embed", "--input", "nowhere.txt"],
            "error: cannot read nowhere.txt: No such file or directory (os error 2)\n",
        ),
    ];
    for (args, message) in cases {
        let started = std::time::Instant::now();
        assert_eq!(stderr(&embed(args, d)), message, "{args:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "{args:?} took {:?}", started.elapsed());
    }
    next_good_run(d);
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let err = usage_error(&embed(&["embed", "--embedding-dimension=-1", "x"], d));
    assert!(err.starts_with("error: invalid value '-1' for '--embedding-dimension <EMBEDDING_DIMENSION>'"), "{err}");
    let err = usage_error(&embed(&["embed", "--embedding-dimension", "99999999999999999999999", "x"], d));
    assert!(err.contains("number too large to fit in target type"), "{err}");
    let err = usage_error(&embed(&["embed", "--batch-size", "many", "x"], d));
    assert!(err.starts_with("error: invalid value 'many' for '--batch-size <BATCH_SIZE>'"), "{err}");
    // Arguments that are not UTF-8 (Unix only lets a test make one).
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let output = Command::new(env!("CARGO_BIN_EXE_embed"))
            .current_dir(d)
            .arg("embed")
            .arg(std::ffi::OsStr::from_bytes(b"broken \xff"))
            .output()
            .unwrap();
        let err = usage_error(&output);
        assert!(err.starts_with("error: invalid UTF-8 was detected in one or more arguments"), "{err}");
    }
    next_good_run(d);
}

#[test]
fn empty_whitespace_and_nul_texts_get_the_vectors_sentence_transformers_gives() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // An empty standard input is no text: an empty array.
    assert_eq!(stdout(&embed_with_stdin(&["embed", "--input", "-"], d, b"")), "[]\n");
    // Empty and whitespace-only lines are texts; NUL is dropped by the tokenizer's normalizer.
    let lines = jsonl(&embed_with_stdin(
        &["embed", "--input", "-", "--format", "jsonl"],
        d,
        b"\n   \t \nab c\na\0b\0 c\nthe next good request\n",
    ));
    assert_eq!(lines.len(), 5);
    let vectors: Vec<Vec<f32>> = lines.iter().map(|l| floats(&l["embedding"])).collect();
    let expected = library(&["", "   \t ", "ab c", "ab c", "the next good request"]);
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["index"], i);
        assert!(cosine(&vectors[i], &expected[i]) >= 0.99999, "line {i}");
    }
    assert_eq!((&lines[0]["tokens"], &lines[1]["tokens"]), (&2.into(), &2.into()), "[CLS] [SEP]");
    // An empty argument is an empty text too.
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&embed(&["embed", ""], d))).unwrap();
    assert!(cosine(&vectors[0], &expected[0]) >= 0.99999);
}

#[test]
fn a_10_mb_text_on_standard_input_is_cut_to_the_maximum_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = "ten megabytes of words ".repeat(10 * 1024 * 1024 / 23 + 1).into_bytes();
    text.push(b'\n');
    text.extend_from_slice(b"the next good request\n");
    let started = std::time::Instant::now();
    let lines = jsonl(&embed_with_stdin(&["embed", "--input", "-", "--format", "jsonl"], dir.path(), &text));
    let elapsed = started.elapsed();
    // The model loads in about a second; the 10 MB text took 17 s and 1.1 GB before it was cut
    // at a window of its kept end.
    assert!(elapsed < std::time::Duration::from_secs(20), "{elapsed:?}");
    assert_eq!(lines.len(), 2);
    assert_eq!((&lines[0]["tokens"], &lines[0]["truncated"]), (&256.into(), &true.into()));
    assert_eq!((&lines[1]["tokens"], &lines[1]["truncated"]), (&6.into(), &false.into()));
    let expected = library(&[&"ten megabytes of words ".repeat(200), "the next good request"]);
    assert!(cosine(&floats(&lines[0]["embedding"]), &expected[0]) >= 0.99999);
    assert!(cosine(&floats(&lines[1]["embedding"]), &expected[1]) >= 0.99999);
}

#[test]
fn a_million_lines_are_read_and_a_bad_one_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = Vec::with_capacity(16 * 1024 * 1024);
    for i in 0..999_999 {
        writeln!(input, "short text {i}").unwrap();
    }
    input.extend_from_slice(b"the last line \xff is broken\n");
    std::fs::write(dir.path().join("million.txt"), &input).unwrap();
    let started = std::time::Instant::now();
    let err = stderr(&embed(&["embed", "--input", "million.txt"], dir.path()));
    assert_eq!(err, "error: in million.txt: line 1000000: invalid UTF-8 at byte 14 of the line\n");
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "{:?}", started.elapsed());
    next_good_run(dir.path());
}

/// A million short lines through the int8 model, streamed out a slice at a time. Takes minutes
/// on two cores (docs/bad-input.md has the figures); run with `--ignored`.
#[test]
#[ignore = "embeds a million lines: minutes on two cores"]
fn a_million_short_lines_are_embedded_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut input = Vec::with_capacity(16 * 1024 * 1024);
    for i in 0..1_000_000 {
        writeln!(input, "short text {i}").unwrap();
    }
    std::fs::write(dir.path().join("million.txt"), &input).unwrap();
    let started = std::time::Instant::now();
    let output = embed(
        &["embed", "--model", "all-MiniLM-L6-v2:int8", "--input", "million.txt", "--format", "jsonl"],
        dir.path(),
    );
    eprintln!("a million lines: {:?}", started.elapsed());
    let text = stdout(&output);
    let mut count = 0;
    for (i, line) in text.lines().enumerate() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(value["index"], i);
        count += 1;
    }
    assert_eq!(count, 1_000_000);
}

#[test]
fn unknown_models_variants_and_path_like_names_are_errors_that_never_leave_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path().join("a/b");
    // Decoys: `../../etc` exists, and so does a directory named like the default model.
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::create_dir_all(cwd.join(MODEL)).unwrap();
    std::fs::write(cwd.join(MODEL).join("model.onnx"), b"decoy").unwrap();
    // A hub that cannot be reached: a name that tried it would say so.
    let run = |model: &str| {
        Command::new(env!("CARGO_BIN_EXE_embed"))
            .current_dir(&cwd)
            .args(["embed", "--model", model, "x"])
            .env("MODEL_CACHE_DIR", models_dir())
            .env("HF_ENDPOINT", "http://127.0.0.1:9")
            .env_remove("EMBED_OFFLINE")
            .output()
            .unwrap()
    };
    let err = stderr(&run("all-MiniLM-L6-v2:fp8"));
    assert_eq!(
        err,
        "error: cannot load model `all-MiniLM-L6-v2:fp8`: unknown variant `fp8` of model `all-MiniLM-L6-v2`; known variants: fp32, int8, optimized\n"
    );
    let err = stderr(&run("../../nowhere"));
    assert!(err.starts_with("error: cannot load model `../../nowhere`: unknown model `../../nowhere`: not a model embed knows (all-MiniLM-L6-v2, "));
    let err = stderr(&run("all-MiniLM-L6-v2:../../../etc"));
    assert!(
        err.starts_with("error: cannot load model `all-MiniLM-L6-v2:../../../etc`: unknown variant `../../../etc`")
    );
    let err = stderr(&run("../../etc"));
    assert_eq!(
        err,
        "error: cannot load model `../../etc`: no model at ../../etc: expected a directory holding model.safetensors, onnx/model.onnx or model.onnx with tokenizer.json, or a known model name\n"
    );
    // The manifest name is read from the model cache, not from the decoy of that name.
    let vectors: Vec<Vec<f32>> = serde_json::from_str(&stdout(&run(MODEL))).unwrap();
    assert!(cosine(&vectors[0], &library(&["x"])[0]) >= 0.99999);
}

/// A model directory with the default model's tokenizer and configs, and `onnx` as its model.
fn model_dir(parent: &Path, name: &str, onnx: &[u8]) -> PathBuf {
    let dir = parent.join(name);
    let src = models_dir().join(MODEL);
    std::fs::create_dir_all(dir.join("1_Pooling")).expect("create the model folder");
    for file in ["tokenizer.json", "config.json", "tokenizer_config.json", "sentence_bert_config.json"] {
        std::fs::copy(src.join(file), dir.join(file)).expect("copy a model file");
    }
    std::fs::copy(src.join("1_Pooling/config.json"), dir.join("1_Pooling/config.json")).expect("copy a model file");
    std::fs::write(dir.join("model.onnx"), onnx).expect("write model.onnx");
    dir
}

#[test]
fn a_corrupt_or_truncated_model_or_a_broken_tokenizer_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let model = std::fs::read(models_dir().join(MODEL).join("onnx/model.onnx")).unwrap();
    model_dir(d, "corrupt", b"not an onnx file");
    model_dir(d, "truncated", &model[..model.len() / 2]);
    let broken = model_dir(d, "broken-tokenizer", &model);
    std::fs::write(broken.join("tokenizer.json"), b"{ not json").unwrap();
    // The failure is printed once: the error is the only line (no warning logged before it).
    let error_line = |name: &str| {
        let err = stderr(&embed(&["embed", "--model", name, "x"], d));
        assert_eq!(err.lines().count(), 1, "{err}");
        err.trim_end().to_string()
    };
    for name in ["corrupt", "truncated"] {
        let err = error_line(name);
        let prefix = format!(
            "error: cannot load model `{name}`: loading model \"{name}\" failed: cannot load model {name}/model.onnx: Load model from {name}/model.onnx failed:"
        );
        assert!(err.starts_with(&prefix), "{err}");
    }
    let err = error_line("broken-tokenizer");
    assert!(err.contains("invalid tokenizer file broken-tokenizer/tokenizer.json: "), "{err}");
    next_good_run(d);
}

/// Builds embed-core's stand-in ONNX Runtime library (it reports `version` and offers nothing
/// else: no ONNX Runtime older than this build's minimum is at hand to test with) in `dir`.
fn fake_onnxruntime(dir: &Path, version: &str) -> PathBuf {
    std::fs::create_dir_all(dir).expect("create the library folder");
    let source = workspace_root().join("crates/embed-core/tests/fixtures/fake_onnxruntime.c");
    let library = dir.join(embed_core::library_file_name());
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&compiler)
        .args(["-shared", "-fPIC"])
        .arg(format!("-DFAKE_ORT_VERSION=\"{version}\""))
        .arg("-o")
        .arg(&library)
        .arg(&source)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{compiler}` (set CC): {e}"));
    assert!(status.success(), "{compiler} failed to build the stand-in library");
    library
}

#[test]
fn a_wrong_or_corrupt_onnx_runtime_is_an_error_naming_the_fix_for_embed_and_serve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let old = fake_onnxruntime(&d.join("old"), "1.16.3");
    let garbage = d.join("garbage").join(embed_core::library_file_name());
    std::fs::create_dir_all(garbage.parent().unwrap()).unwrap();
    std::fs::write(&garbage, b"not a shared library").unwrap();
    // The native engine, which runs the default model, never looks at ONNX Runtime.
    let natively = embed(&["embed", "x", "--onnxruntime-lib", garbage.to_str().unwrap()], d);
    assert!(natively.status.success(), "{}", stderr(&natively));
    for command in [&["embed", "x"][..], &["serve", "--port", "0"][..]] {
        let run = |library: &Path| {
            let mut args = command.to_vec();
            let library = library.to_str().unwrap();
            args.extend(["--backend", "onnx", "--onnxruntime-lib", library]);
            embed(&args, d)
        };
        let err = stderr(&run(&old));
        assert!(
            err.contains(&format!(
                "cannot use ONNX Runtime library {}: it is version 1.16.3, but this build needs 1.",
                old.display()
            )),
            "{err}"
        );
        // Printed once, with the advice of the installed binary (no tool of the repository).
        assert_eq!(err.matches("it is version 1.16.3").count(), 1, "{err}");
        assert!(
            err.ends_with(&format!(
                "\nhint: point ONNXRUNTIME_LIB_PATH (or ORT_DYLIB_PATH) at an ONNX Runtime 1.{} or newer, or unset both so that embed finds or fetches one\n",
                embed_core::REQUIRED_ORT_MINOR
            )),
            "{err}"
        );
        assert!(!err.contains("xtask"), "{err}");
        let err = stderr(&run(&garbage));
        assert!(err.contains(&format!("cannot use ONNX Runtime library {}: ", garbage.display())), "{err}");
        let err = stderr(&run(&d.join("nowhere").join(embed_core::library_file_name())));
        assert!(err.contains("ONNX Runtime library not found (looked in: "), "{err}");
    }
    next_good_run(d);
}
