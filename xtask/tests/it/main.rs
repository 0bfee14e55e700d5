//! `cargo xtask fetch-models` end to end against a stand-in hub: a repository that has no ONNX
//! file at its pinned revision (all-roberta-large-v1's layout, see embed-fetch's
//! `seed_layouts` test for why we believe it) gives its checkpoint, which xtask fetches and
//! converts to ONNX through the conversion venv, validated against sentence-transformers.
//!
//! The stand-in hub (`embed-standin`, on 127.0.0.1) serves the `roberta-bpe` architecture
//! fixture without its ONNX file as that repository, with the hashes the hub announces (weights
//! in LFS, the rest in git), so every file is verified. A manifest given with
//! `--manifest` states the fixture's dimension (32) instead of the real model's 1024, so the
//! conversion's check against the manifest holds; the repository and revision are the real
//! ones. The test needs the conversion venv, which `cargo xtask test` has made by then (it
//! converts the test models).

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

#[test]
fn a_repository_without_onnx_is_fetched_as_a_checkpoint_and_converted() {
    let manifest = embed_manifest::Manifest::builtin();
    let model = manifest.model("all-roberta-large-v1").unwrap();
    let work = tempfile::tempdir().unwrap();
    let fixture = workspace_root().join("fixtures/architectures/roberta-bpe");
    let hub = embed_standin::Server::start();
    let skip = |path: &Path| path.file_name().is_some_and(|name| name == "onnx" || name == "reference.json");
    for file in files(&fixture, &skip) {
        let body = std::fs::read(fixture.join(&file)).unwrap();
        let name = file.to_string_lossy().replace('\\', "/");
        let served = if name.ends_with(".safetensors") {
            embed_standin::Served::lfs(body)
        } else {
            embed_standin::Served::git(body)
        };
        hub.serve_hub_file(&model.hub_repo, &model.revision, &name, served);
    }

    let original = std::fs::read_to_string(workspace_root().join("models/manifest.toml")).unwrap();
    let stand_in = original.replacen(
        "name = \"all-roberta-large-v1\"\nhub_repo = \"sentence-transformers/all-roberta-large-v1\"\nrevision = \"cf74d8acd4f198de950bf004b262e6accfed5d2c\"\ndimension = 1024",
        "name = \"all-roberta-large-v1\"\nhub_repo = \"sentence-transformers/all-roberta-large-v1\"\nrevision = \"cf74d8acd4f198de950bf004b262e6accfed5d2c\"\ndimension = 32",
        1,
    );
    assert_ne!(stand_in, original, "the manifest entry of all-roberta-large-v1 changed; update this test");
    let manifest_file = work.path().join("manifest.toml");
    std::fs::write(&manifest_file, stand_in).unwrap();

    let models = work.path().join("models");
    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["fetch-models", "--model", "all-roberta-large-v1", "--source", "hub", "--backend", "onnx", "--quiet"])
        .arg("--manifest")
        .arg(&manifest_file)
        .env("HF_ENDPOINT", &hub.base)
        .env_remove("HF_TOKEN")
        .env("MODEL_CACHE_DIR", &models)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "fetch-models failed:\n{log}");
    assert!(log.contains("the repository has no onnx/model.onnx; fetching its checkpoint"), "{log}");

    let dir = models.join("all-roberta-large-v1");
    assert!(dir.join("model.safetensors").is_file());
    assert!(dir.join("onnx/model.onnx").is_file(), "{log}");
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("onnx/conversion.json")).unwrap()).unwrap();
    let fp32 = &record["validation"]["fp32"];
    assert_eq!(fp32["passed"], true, "{record}");
    assert!(fp32["min_cosine"].as_f64().unwrap() >= 0.99999, "{record}");
    assert_eq!(record["revision"], model.revision.as_str());
}
