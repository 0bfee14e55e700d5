//! `cargo xtask fetch-models` end to end against a stand-in hub: a repository that has no ONNX
//! file at its pinned revision (all-roberta-large-v1's layout, see embed-fetch's
//! `seed_layouts` test for why we believe it) gives its checkpoint, which xtask fetches and
//! converts to ONNX through the conversion venv, validated against sentence-transformers.
//!
//! The stand-in hub is Python's `http.server` serving a folder laid out as
//! `{repo}/resolve/{revision}/{path}` (GET and HEAD with Content-Length, 404 for the rest),
//! holding the `roberta-bpe` architecture fixture without its ONNX file. A manifest given with
//! `--manifest` states the fixture's dimension (32) instead of the real model's 1024, so the
//! conversion's check against the manifest holds; the repository and revision are the real
//! ones. The test needs the conversion venv, which `cargo xtask test` has made by then (it
//! converts the test models), and `python3`.

#![allow(clippy::unwrap_used, reason = "test code: a failed unwrap is a failed test")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies every file of `from` into `to`, but those `skip` says.
fn copy_dir(from: &Path, to: &Path, skip: &dyn Fn(&Path) -> bool) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let path = entry.path();
        if skip(&path) {
            continue;
        }
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()), skip);
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Python's static file server on 127.0.0.1, stopped when dropped.
struct StandInHub {
    child: Child,
    url: String,
}

impl StandInHub {
    fn serve(root: &Path) -> Self {
        let python = std::env::var_os("EMBED_PYTHON").unwrap_or_else(|| "python3".into());
        let mut child = Command::new(python)
            .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--directory"])
            .arg(root)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server");
        // "Serving HTTP on 127.0.0.1 port 40123 (http://127.0.0.1:40123/) ..."
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.split(" port ").nth(1).and_then(|rest| rest.split_whitespace().next()).unwrap_or_else(|| {
            panic!("unexpected first line from http.server: {line:?}");
        });
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for StandInHub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_repository_without_onnx_is_fetched_as_a_checkpoint_and_converted() {
    let manifest = embed_manifest::Manifest::builtin();
    let model = manifest.model("all-roberta-large-v1").unwrap();
    let work = tempfile::tempdir().unwrap();
    let repo = work.path().join("hub").join(&model.hub_repo).join("resolve").join(&model.revision);
    let fixture = workspace_root().join("fixtures/architectures/roberta-bpe");
    copy_dir(&fixture, &repo, &|path| path.file_name().is_some_and(|name| name == "onnx" || name == "reference.json"));
    let hub = StandInHub::serve(&work.path().join("hub"));

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
        .args(["fetch-models", "--model", "all-roberta-large-v1", "--source", "hub", "--quiet", "--manifest"])
        .arg(&manifest_file)
        .env("HF_ENDPOINT", &hub.url)
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
