//! The hub path of the six seed models, against the stand-in hub serving each repository's file
//! layout at the manifest's pinned revision: where the revision has `onnx/model.onnx` it is
//! fetched with the support files; where it has only a checkpoint, `plan` says so and
//! `fetch_checkpoint` brings `model.safetensors` and the configs (xtask then converts them).
//!
//! The hub cannot be reached from here, so each layout below is what we believe the repository
//! holds at its pinned revision, from our knowledge of these repositories (not checked against
//! the hub; a layout that turns out wrong changes which branch a model takes, not the code):
//!
//! - sentence-transformers/all-MiniLM-L6-v2, all-mpnet-base-v2,
//!   paraphrase-multilingual-MiniLM-L12-v2 and multi-qa-MiniLM-L6-cos-v1: the
//!   sentence-transformers team added ONNX (and OpenVINO) exports to these repositories when
//!   sentence-transformers 3.2 gained its ONNX backend: `onnx/model.onnx` plus quantized and
//!   optimized files under their own names (`onnx/model_qint8_avx512.onnx`,
//!   `onnx/model_O4.onnx`, ...; no `onnx/model_int8.onnx`), beside `model.safetensors`,
//!   `pytorch_model.bin` and the configs. The multilingual one also carries
//!   `sentencepiece.bpe.model`.
//! - sentence-transformers/all-roberta-large-v1: configs, `vocab.json`/`merges.txt`,
//!   `model.safetensors` and `pytorch_model.bin`, and, we believe, no `onnx/` folder at the
//!   pinned revision.
//! - intfloat/e5-large-v2: configs, `vocab.txt`, `model.safetensors` and `pytorch_model.bin`,
//!   no `onnx/` folder, and no prompts in `config_sentence_transformers.json` (which it lacks):
//!   its `query: `/`passage: ` prompts come from the manifest.
//!
//! The bytes served are the architecture fixture shaped like each model
//! (`fixtures/architectures/`), LFS files (weights, ONNX) redirected to the CDN path as the hub
//! does.

use std::path::{Path, PathBuf};

use embed_fetch::HubPlan;
use embed_manifest::Manifest;

use embed_standin::{Served, Server};

use crate::{hub, walk};

/// One repository as the stand-in serves it.
struct Layout {
    model: &'static str,
    /// The fixture whose files are served.
    fixture: &'static str,
    /// Whether the revision has `onnx/model.onnx`.
    onnx: bool,
    /// Files of the repository besides the fixture's, as the real one has them (bytes of
    /// their own; nobody reads them here).
    extra: &'static [&'static str],
    /// Fixture files the real repository does not have.
    absent: &'static [&'static str],
}

const ST_ONNX_EXTRAS: &[&str] = &[
    "onnx/model_O1.onnx",
    "onnx/model_O4.onnx",
    "onnx/model_qint8_avx512.onnx",
    "onnx/model_qint8_avx512_vnni.onnx",
    "onnx/model_quint8_avx2.onnx",
    "openvino/openvino_model.xml",
    "pytorch_model.bin",
    "README.md",
];

const LAYOUTS: [Layout; 6] = [
    Layout {
        model: "all-MiniLM-L6-v2",
        fixture: "bert-uncased-normalized",
        onnx: true,
        extra: ST_ONNX_EXTRAS,
        absent: &[],
    },
    Layout { model: "all-mpnet-base-v2", fixture: "mpnet", onnx: true, extra: ST_ONNX_EXTRAS, absent: &[] },
    Layout {
        model: "paraphrase-multilingual-MiniLM-L12-v2",
        fixture: "bert-unigram-xlmr",
        onnx: true,
        extra: &["sentencepiece.bpe.model", "onnx/model_qint8_avx512.onnx", "pytorch_model.bin"],
        absent: &[],
    },
    Layout {
        model: "all-roberta-large-v1",
        fixture: "roberta-bpe",
        onnx: false,
        extra: &["pytorch_model.bin", "README.md"],
        absent: &[],
    },
    Layout {
        model: "multi-qa-MiniLM-L6-cos-v1",
        fixture: "bert-uncased-normalized",
        onnx: true,
        extra: ST_ONNX_EXTRAS,
        absent: &[],
    },
    Layout {
        model: "e5-large-v2",
        fixture: "bert-uncased-prompts",
        onnx: false,
        extra: &["pytorch_model.bin", "README.md"],
        absent: &["config_sentence_transformers.json"],
    },
];

fn fixture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/architectures").join(name)
}

/// Every file of `dir`, relative to it, `/`-separated.
fn relative_files(dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = walk(dir)
        .iter()
        .map(|p| {
            p.strip_prefix(dir)
                .unwrap()
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    files.sort();
    files
}

/// Serves `layout` at its repository and pinned revision; returns the files served.
fn serve_layout(server: &Server, manifest: &Manifest, layout: &Layout) -> Vec<String> {
    let spec = manifest.model(layout.model).unwrap();
    let prefix = format!("/{}/resolve/{}", spec.hub_repo, spec.revision);
    let dir = fixture_dir(layout.fixture);
    let mut served = Vec::new();
    for file in relative_files(&dir) {
        if file == "reference.json"
            || (file.starts_with("onnx/") && !layout.onnx)
            || layout.absent.contains(&file.as_str())
        {
            continue;
        }
        let body = std::fs::read(dir.join(&file)).unwrap();
        // Weights in LFS (sha256 announced), the rest in git (blob hash in the ETag).
        let lfs = file.ends_with(".onnx") || file.ends_with(".safetensors");
        server.serve(&format!("{prefix}/{file}"), if lfs { Served::lfs(body) } else { Served::git(body) });
        served.push(file);
    }
    for file in layout.extra {
        server.serve(&format!("{prefix}/{file}"), Served::lfs(format!("{file} of {}", layout.model).into_bytes()));
    }
    served
}

#[test]
fn each_seed_model_comes_from_the_hub_as_onnx_or_as_a_checkpoint_to_convert() {
    let manifest = Manifest::builtin();
    assert_eq!(
        manifest.names().collect::<Vec<_>>(),
        LAYOUTS.iter().map(|l| l.model).collect::<Vec<_>>(),
        "one layout per manifest model"
    );
    let server = Server::start();
    let client = hub(&server, None);
    let cache = tempfile::tempdir().unwrap();
    for layout in &LAYOUTS {
        let served = serve_layout(&server, &manifest, layout);
        let spec = manifest.model(layout.model).unwrap();
        let dir = cache.path().join(layout.model);
        let fp32 = ["onnx/model.onnx"];
        let plan = client.plan(spec, &fp32, &manifest.checkpoint_files).unwrap();
        if layout.onnx {
            assert_eq!(plan, HubPlan::Onnx, "{}", layout.model);
            client.fetch_model(spec, &manifest.support_files, &fp32, &dir).unwrap();
            assert!(!dir.join("model.safetensors").exists(), "{}: the ONNX file is enough", layout.model);
            // The hub names its quantized files differently: an int8 request finds only the checkpoint.
            let int8 = client.plan(spec, &["onnx/model_int8.onnx"], &manifest.checkpoint_files).unwrap();
            assert_eq!(int8, HubPlan::Checkpoint { missing_onnx: vec!["onnx/model_int8.onnx".into()] });
        } else {
            assert_eq!(plan, HubPlan::Checkpoint { missing_onnx: vec!["onnx/model.onnx".into()] }, "{}", layout.model);
            let fetched =
                client.fetch_checkpoint(spec, &manifest.support_files, &manifest.checkpoint_files, &dir).unwrap();
            assert!(fetched.files.contains(&"model.safetensors".to_string()), "{:?}", fetched.files);
            assert!(!dir.join("onnx").exists(), "{}: no ONNX file to fetch", layout.model);
        }
        // What landed is exactly what the repository served of the files asked for (beside the
        // lock files the fetch keeps next to its targets).
        let landed: Vec<String> = relative_files(&dir).into_iter().filter(|f| !f.ends_with(".lock")).collect();
        for file in &landed {
            assert!(served.contains(file), "{}: {file} was not served", layout.model);
            let source = fixture_dir(layout.fixture).join(file);
            assert_eq!(
                std::fs::read(dir.join(file)).unwrap(),
                std::fs::read(source).unwrap(),
                "{}: {file}",
                layout.model
            );
        }
        for required in &manifest.support_files.required {
            assert!(landed.contains(required), "{}: {required} missing", layout.model);
        }
        let absent_prompts = layout.absent.contains(&"config_sentence_transformers.json");
        assert_eq!(landed.contains(&"config_sentence_transformers.json".to_string()), !absent_prompts);
    }
}

#[test]
fn a_repository_with_neither_onnx_nor_a_checkpoint_names_the_onnx_file() {
    let manifest = Manifest::builtin();
    let spec = manifest.model("all-roberta-large-v1").unwrap();
    let server = Server::start();
    let prefix = format!("/{}/resolve/{}", spec.hub_repo, spec.revision);
    server.serve(&format!("{prefix}/config.json"), Served::git(b"{}".to_vec()));
    let err = hub(&server, None).plan(spec, &["onnx/model.onnx"], &manifest.checkpoint_files).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("`onnx/model.onnx` is not in sentence-transformers/all-roberta-large-v1 at revision"),
        "{message}"
    );
    assert!(err.is_not_found());
}
