//! What this machine has of each model the manifest knows (the variants fetched and their size
//! on disk, the engine that will run them, and the model's prompts), and of each model the
//! Hugging Face cache holds (its snapshots, their size, dimension and engine). `embed models`
//! and the server's `/v1/models` show it.
//!
//! It looks at files and reads small configs; it loads no model.

use std::path::Path;

use embed_manifest::Manifest;

use crate::engine::{Engine, auto_engine};
use crate::files::{HUB_ONNX_FILE, has_checkpoint};
use crate::sentence_transformers::{Prompts, read_head, read_prompts};

/// One manifest model as this machine has it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KnownModel {
    /// The manifest name.
    pub name: String,
    /// The Hugging Face repository.
    pub hub_repo: String,
    /// Embedding dimension.
    pub dimension: usize,
    /// Maximum tokens per text.
    pub max_seq_length: usize,
    /// The variants this machine can run: an ONNX file in the model cache, or (fp32) a
    /// checkpoint the native engine runs.
    pub fetched: Vec<FetchedVariant>,
    /// The directory holds a checkpoint (`model.safetensors`), which the native engine runs
    /// as fp32 and converting would turn into the ONNX variants not fetched.
    pub checkpoint: bool,
    /// The model's prompts: its files' where fetched and they define any, else the manifest's.
    pub prompts: Prompts,
    /// Why the model's files could not be read, when they could not (the prompts shown are
    /// then the manifest's).
    pub problem: Option<String>,
}

/// A variant in the model cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FetchedVariant {
    /// The variant name (`fp32`, `int8`).
    pub variant: String,
    /// Bytes on disk of what the engine runs: the checkpoint, or the ONNX file and its
    /// external data.
    pub bytes: u64,
    /// The engine that will run it.
    pub engine: Engine,
    /// Its ONNX file was made by another conversion recipe than this build's: it is refused
    /// until made again ([`embed_manifest::provenance`]).
    pub made_by_another_recipe: bool,
}

/// Every model of `manifest`, as the model cache `cache_dir` holds it, in manifest order.
pub fn known_models(manifest: &Manifest, cache_dir: &Path) -> Vec<KnownModel> {
    manifest
        .models
        .iter()
        .map(|model| {
            let dir = cache_dir.join(&model.name);
            let fetched = manifest
                .variants
                .iter()
                .filter(|(variant, _)| !model.not_offered.contains_key(*variant))
                .filter_map(|(variant, file)| {
                    let onnx = dir.join(file);
                    let engine = auto_engine(&dir, variant, &onnx)?;
                    let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
                    let bytes = match engine {
                        Engine::Native => size(&dir.join("model.safetensors")),
                        Engine::Onnx => size(&onnx) + size(&dir.join(format!("{file}_data"))),
                    };
                    let made_by_another_recipe =
                        engine == Engine::Onnx && !embed_manifest::provenance(&dir, &onnx).is_current();
                    Some(FetchedVariant { variant: variant.clone(), bytes, engine, made_by_another_recipe })
                })
                .collect();
            let (prompts, problem) = match read_prompts(&dir) {
                Ok(prompts) => (prompts.or_manifest(&model.prompts), None),
                Err(error) => (Prompts { prompts: model.prompts.clone(), default_name: None }, Some(error.to_string())),
            };
            KnownModel {
                name: model.name.clone(),
                hub_repo: model.hub_repo.clone(),
                dimension: model.dimension,
                max_seq_length: model.max_seq_length,
                fetched,
                checkpoint: has_checkpoint(&dir),
                prompts,
                problem,
            }
        })
        .collect()
}

/// One snapshot of a hub repository in the Hugging Face cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CachedHubModel {
    /// `org/name`.
    pub repo: String,
    /// The commit.
    pub commit: String,
    /// The branches and tags that point at it (`main`).
    pub refs: Vec<String>,
    /// Bytes on disk of its files.
    pub bytes: u64,
    /// The width of its vectors, as its configs state it.
    pub dimension: Option<usize>,
    /// The engine `auto` runs it on, if any.
    pub engine: Option<Engine>,
}

/// Every snapshot the Hugging Face cache at `hub_cache` holds, by repository name; those a ref
/// points at first.
pub fn cached_hub_models(hub_cache: &Path) -> Vec<CachedHubModel> {
    let cache = embed_manifest::HubCache::new(hub_cache);
    cache
        .cached_repos()
        .into_iter()
        .flat_map(|repo| {
            repo.snapshots.into_iter().map(move |snapshot| CachedHubModel {
                repo: repo.repo.clone(),
                bytes: folder_bytes(&snapshot.dir),
                dimension: stated_dimension(&snapshot.dir),
                engine: auto_engine(&snapshot.dir, embed_manifest::DEFAULT_VARIANT, &snapshot.dir.join(HUB_ONNX_FILE)),
                commit: snapshot.commit,
                refs: snapshot.refs,
            })
        })
        .collect()
}

/// The width a model directory's configs state: the last Dense module's, else the Pooling's,
/// else `config.json`'s `hidden_size`.
fn stated_dimension(dir: &Path) -> Option<usize> {
    if let Ok(Some(head)) = read_head(dir) {
        if let Some(dense) = head.dense.last() {
            return Some(dense.out_features);
        }
        if head.pooling.width.is_some() {
            return head.pooling.width;
        }
    }
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).ok()?).ok()?;
    config.get("hidden_size")?.as_u64().and_then(|width| usize::try_from(width).ok())
}

/// Bytes of every file under `dir`, links followed (a snapshot links to its blobs).
fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|entry| {
            let path = entry.path();
            if path.is_dir() { folder_bytes(&path) } else { std::fs::metadata(&path).map_or(0, |m| m.len()) }
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_fetched_variants_sizes_and_prompts() {
        let manifest = Manifest::builtin();
        let cache = tempfile::tempdir().unwrap();
        let minilm = cache.path().join("all-MiniLM-L6-v2");
        std::fs::create_dir_all(minilm.join("onnx")).unwrap();
        std::fs::write(minilm.join("onnx/model_int8.onnx"), vec![0u8; 1000]).unwrap();
        std::fs::write(minilm.join("onnx/model_int8.onnx_data"), vec![0u8; 24]).unwrap();
        let roberta = cache.path().join("all-roberta-large-v1");
        std::fs::create_dir_all(&roberta).unwrap();
        std::fs::write(roberta.join("model.safetensors"), b"weights").unwrap();
        std::fs::write(roberta.join("config.json"), b"{}").unwrap();
        let e5 = cache.path().join("e5-large-v2");
        std::fs::create_dir_all(&e5).unwrap();
        std::fs::write(e5.join("config_sentence_transformers.json"), b"{\"prompts\": 3}").unwrap();

        let models = known_models(&manifest, cache.path());
        assert_eq!(models.len(), manifest.models.len());
        let by_name = |name: &str| models.iter().find(|m| m.name == name).unwrap();
        assert_eq!(
            by_name("all-MiniLM-L6-v2").fetched,
            [FetchedVariant {
                variant: "int8".into(),
                bytes: 1024,
                engine: Engine::Onnx,
                made_by_another_recipe: false
            }]
        );
        let roberta = by_name("all-roberta-large-v1");
        assert!(roberta.fetched.is_empty() && roberta.checkpoint);
        let e5 = by_name("e5-large-v2");
        assert_eq!(e5.prompts.prompts["query"], "query: ", "the manifest's prompts, the file being unreadable");
        assert!(e5.problem.as_deref().unwrap().contains("config_sentence_transformers.json"), "{:?}", e5.problem);
        assert!(by_name("all-mpnet-base-v2").fetched.is_empty());
    }

    #[test]
    fn lists_the_hub_caches_snapshots_with_size_dimension_and_engine() {
        let fixture = embed_test_support::fixture_dir("bert-cls-dense");
        let hub = tempfile::tempdir().unwrap();
        let cache = embed_manifest::HubCache::new(hub.path());
        let (commit, old) = ("c".repeat(40), "a".repeat(40));
        let snapshot = cache.snapshot_dir("org/bert", &commit);
        let mut bytes = 0;
        for file in [
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "modules.json",
            "1_Pooling/config.json",
            "2_Dense/config.json",
            "2_Dense/model.safetensors",
        ] {
            std::fs::create_dir_all(snapshot.join(file).parent().unwrap()).unwrap();
            bytes += std::fs::copy(fixture.join(file), snapshot.join(file)).unwrap();
        }
        std::fs::create_dir_all(cache.snapshot_dir("org/bert", &old)).unwrap();
        std::fs::create_dir_all(cache.ref_file("org/bert", "main").parent().unwrap()).unwrap();
        std::fs::write(cache.ref_file("org/bert", "main"), &commit).unwrap();

        let models = cached_hub_models(hub.path());
        assert_eq!(models.len(), 2, "{models:?}");
        let current = &models[0];
        assert_eq!(
            (current.repo.as_str(), current.commit.as_str(), current.refs.as_slice()),
            ("org/bert", commit.as_str(), ["main".to_string()].as_slice())
        );
        assert_eq!(current.bytes, bytes);
        let dense: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("2_Dense/config.json")).unwrap()).unwrap();
        assert_eq!(current.dimension, dense["out_features"].as_u64().map(|d| d as usize));
        assert_eq!(current.engine, Some(Engine::Native));
        assert_eq!((models[1].commit.as_str(), models[1].engine, models[1].bytes), (old.as_str(), None, 0));
    }
}
