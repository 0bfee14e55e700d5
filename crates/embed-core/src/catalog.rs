//! What this machine has of each model the manifest knows: the variants fetched and their size
//! on disk, the engine that will run them, and the model's prompts. `embed models` and the
//! server's `/v1/models` show it.
//!
//! It looks at files and reads small configs; it loads no model.

use std::path::Path;

use embed_manifest::Manifest;

use crate::engine::{Engine, auto_engine, has_checkpoint};
use crate::sentence_transformers::{Prompts, read_prompts};

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
}
