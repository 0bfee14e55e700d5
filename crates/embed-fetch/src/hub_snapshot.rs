//! A hub repository fetched into the Hugging Face cache, as huggingface_hub fetches one, so
//! each tool finds what the other fetched ([`HubClient::fetch_snapshot`]).
//!
//! The revision asked for is resolved to a commit by the hub (`X-Repo-Commit`) and recorded in
//! `refs/<revision>`; every file is then fetched at that commit, verified against the hash the
//! hub announces, kept as `blobs/<hash>` and linked from `snapshots/<commit>/<path>` (a copy
//! where links cannot be made). Only what the model needs is fetched: `modules.json` and the
//! folders it names (their `config.json` and weights), the configs and tokenizer files, and
//! the weights the engine that will run it reads ([`WeightsNeed`]): `model.safetensors` or a
//! sharded checkpoint with its index, or an ONNX file with its external data. The whole fetch
//! runs under the repository's lock in the cache's `.locks/`.
//!
//! This file reads `modules.json` for the folders it names and `config.json` for its
//! `model_type`, nothing more: what the modules mean is the library's to say.

use std::path::{Component, Path, PathBuf};

use embed_manifest::{HubCache, HubId, WeightsNeed, is_commit};

use crate::hub::HubFileInfo;
use crate::{FetchError, HubClient};

/// What [`HubClient::fetch_snapshot`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SnapshotFetch {
    /// The commit the revision resolved to.
    pub commit: String,
    /// `snapshots/<commit>` of the repository.
    pub dir: PathBuf,
    /// Files in the snapshot, in the order fetched (found there already or fetched now).
    pub files: Vec<String>,
    /// The repository has no `modules.json`: it is a plain transformers checkpoint, which
    /// sentence-transformers pools by the mean.
    pub without_modules_json: bool,
}

impl HubClient {
    /// Fetches what a model needs of repository `id` (at its revision, `main` by default) into
    /// the Hugging Face cache `cache`: `config.json`, `tokenizer.json`, `modules.json` and the
    /// files of `configs` where the repository has them (the manifest's optional support files:
    /// tokenizer and sentence-transformers configs), the folders `modules.json` names, and
    /// `weights` (see the module documentation).
    pub fn fetch_snapshot(
        &self,
        cache: &HubCache,
        id: &HubId,
        weights: &WeightsNeed,
        configs: &[String],
    ) -> Result<SnapshotFetch, FetchError> {
        let repo = id.repo.as_str();
        let _lock = self
            .downloader
            .lock(&cache.lock_target(repo), &format!("fetching {id} into {}", cache.root().display()))?;
        let config =
            self.file_info(repo, id.revision(), "config.json").map_err(|e| self.missing(id, "config.json", e))?;
        let commit = match &config.commit {
            Some(commit) if is_commit(commit) => commit.to_ascii_lowercase(),
            _ if id.pins_a_commit() => id.revision().to_ascii_lowercase(),
            _ => {
                return Err(FetchError::Model {
                    model: id.to_string(),
                    reason: format!(
                        "the hub at {} did not say which commit `{}` is (no X-Repo-Commit header)",
                        self.endpoint(),
                        id.revision()
                    ),
                });
            }
        };
        let mut snapshot = Snapshot { client: self, cache, id, commit, files: Vec::new() };
        snapshot.fetch("config.json", config)?;
        snapshot.fetch_required("tokenizer.json")?;
        for file in configs.iter().map(String::as_str).chain(["modules.json"]) {
            snapshot.fetch_optional(file)?;
        }
        let modules = snapshot.read_json("modules.json")?;
        let without_modules_json = modules.is_none();
        for folder in module_folders(modules.as_ref(), id)? {
            snapshot.fetch_optional(&format!("{folder}/config.json"))?;
            snapshot.fetch_optional(&format!("{folder}/model.safetensors"))?;
        }
        match weights {
            WeightsNeed::Checkpoint => snapshot.fetch_checkpoint()?,
            WeightsNeed::Onnx(onnx) => snapshot.fetch_onnx(onnx)?,
            WeightsNeed::ByArchitecture { native_model_types, onnx } => {
                let model_type = snapshot.read_json("config.json")?.and_then(|config| {
                    config.get("model_type").and_then(serde_json::Value::as_str).map(str::to_string)
                });
                let native = model_type.is_some_and(|t| native_model_types.contains(&t));
                if !(native && snapshot.try_checkpoint()?) {
                    snapshot.fetch_onnx(onnx)?;
                }
            }
        }
        if !id.pins_a_commit() {
            let reference = cache.ref_file(repo, id.revision());
            write_atomically(&reference, snapshot.commit.as_bytes())?;
        }
        let dir = cache.snapshot_dir(repo, &snapshot.commit);
        Ok(SnapshotFetch { commit: snapshot.commit, dir, files: snapshot.files, without_modules_json })
    }

    /// A missing first file says whether the repository or the revision is missing.
    fn missing(&self, id: &HubId, path: &str, error: FetchError) -> FetchError {
        match error {
            FetchError::NotFound { url } => FetchError::HubFileMissing {
                repo: id.repo.clone(),
                revision: id.revision().to_string(),
                path: path.to_string(),
                url,
            },
            other => other,
        }
    }
}

/// A snapshot being filled.
struct Snapshot<'a> {
    client: &'a HubClient,
    cache: &'a HubCache,
    id: &'a HubId,
    commit: String,
    files: Vec<String>,
}

impl Snapshot<'_> {
    fn path(&self, file: &str) -> PathBuf {
        self.cache.snapshot_dir(&self.id.repo, &self.commit).join(file)
    }

    fn fetch_required(&mut self, file: &str) -> Result<(), FetchError> {
        let info = self
            .client
            .file_info(&self.id.repo, &self.commit, file)
            .map_err(|e| self.client.missing(self.id, file, e))?;
        self.fetch(file, info)
    }

    /// Fetches `file` where the repository has it; whether it had it.
    fn fetch_optional(&mut self, file: &str) -> Result<bool, FetchError> {
        match self.client.file_info(&self.id.repo, &self.commit, file) {
            Ok(info) => self.fetch(file, info).map(|()| true),
            Err(FetchError::NotFound { .. }) => Ok(false),
            Err(error) => Err(error),
        }
    }

    /// Fetches `file` (announced as `info`) into its blob and links it into the snapshot.
    fn fetch(&mut self, file: &str, info: HubFileInfo) -> Result<(), FetchError> {
        let link = self.path(file);
        let hash = info.sha256.clone().or_else(|| info.git_blob_sha1.clone());
        match hash {
            Some(hash) => {
                let blob = self.cache.blob_path(&self.id.repo, &hash);
                self.client.download_checked(&self.id.repo, &self.commit, file, &info, &blob)?;
                link_blob(&blob, &link)?;
            }
            // No hash to name a blob by (accepted only where unverified files are allowed):
            // the file itself sits in the snapshot, as huggingface_hub leaves it where it cannot link.
            None => {
                self.client.download_checked(&self.id.repo, &self.commit, file, &info, &link)?;
            }
        }
        self.files.push(file.to_string());
        Ok(())
    }

    /// A JSON file of the snapshot, where it was fetched.
    fn read_json(&self, file: &str) -> Result<Option<serde_json::Value>, FetchError> {
        let path = self.path(file);
        if !self.files.iter().any(|f| f == file) {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&path).map_err(FetchError::io("read", &path))?;
        serde_json::from_str(&text).map(Some).map_err(|error| FetchError::Model {
            model: self.id.to_string(),
            reason: format!("its {file} is not valid JSON: {error}"),
        })
    }

    /// `model.safetensors`, else a sharded checkpoint; an error naming both when it has neither.
    fn fetch_checkpoint(&mut self) -> Result<(), FetchError> {
        if self.try_checkpoint()? {
            return Ok(());
        }
        Err(FetchError::Model {
            model: self.id.to_string(),
            reason: format!(
                "the repository has no model.safetensors and no model.safetensors.index.json at {} (embed reads safetensors checkpoints, not pytorch_model.bin)",
                self.commit
            ),
        })
    }

    /// Fetches the checkpoint where the repository has one; whether it had.
    fn try_checkpoint(&mut self) -> Result<bool, FetchError> {
        if self.fetch_optional("model.safetensors")? {
            return Ok(true);
        }
        if !self.fetch_optional("model.safetensors.index.json")? {
            return Ok(false);
        }
        let index = self.read_json("model.safetensors.index.json")?.unwrap_or_default();
        for shard in shard_files(&index, self.id)? {
            self.fetch_required(&shard)?;
        }
        Ok(true)
    }

    /// The ONNX file `onnx` and its external data where the repository has it.
    fn fetch_onnx(&mut self, onnx: &str) -> Result<(), FetchError> {
        self.fetch_optional(&format!("{onnx}_data"))?;
        self.fetch_required(onnx)
    }
}

/// The folders `modules.json` names besides the top one (the Transformer's), each a relative
/// path inside the repository.
fn module_folders(modules: Option<&serde_json::Value>, id: &HubId) -> Result<Vec<String>, FetchError> {
    let Some(modules) = modules else { return Ok(Vec::new()) };
    let invalid =
        |reason: String| FetchError::Model { model: id.to_string(), reason: format!("its modules.json {reason}") };
    let entries = modules.as_array().ok_or_else(|| invalid("is not a list".into()))?;
    let mut folders = Vec::new();
    for entry in entries {
        let path = entry
            .get("path")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| invalid("has a module without a `path`".into()))?;
        let path = path.trim_end_matches('/');
        if path.is_empty() {
            continue;
        }
        if !is_inside(path) {
            return Err(invalid(format!("names the folder `{path}`, which is not inside the repository")));
        }
        folders.push(path.to_string());
    }
    Ok(folders)
}

/// The shard files a `model.safetensors.index.json` names, each once, in name order.
fn shard_files(index: &serde_json::Value, id: &HubId) -> Result<Vec<String>, FetchError> {
    let invalid = |reason: String| FetchError::Model {
        model: id.to_string(),
        reason: format!("its model.safetensors.index.json {reason}"),
    };
    let map = index
        .get("weight_map")
        .and_then(serde_json::Value::as_object)
        .ok_or_else(|| invalid("has no `weight_map`".into()))?;
    let mut shards: Vec<String> = Vec::new();
    for file in map.values() {
        let file = file.as_str().ok_or_else(|| invalid("maps a tensor to something other than a file name".into()))?;
        if file.contains(['/', '\\']) || !is_inside(file) {
            return Err(invalid(format!("names the shard `{file}`, which is not a file beside it")));
        }
        if !shards.iter().any(|known| known == file) {
            shards.push(file.to_string());
        }
    }
    shards.sort();
    Ok(shards)
}

/// Whether a path from a repository's own files stays inside it: relative, without `..`.
fn is_inside(path: &str) -> bool {
    !path.contains('\\') && Path::new(path).components().all(|component| matches!(component, Component::Normal(_)))
}

/// Points `link` at `blob` (relatively, as huggingface_hub does), replacing what was there; a
/// copy where the system cannot link.
fn link_blob(blob: &Path, link: &Path) -> Result<(), FetchError> {
    let parent = link.parent().unwrap_or(link);
    std::fs::create_dir_all(parent).map_err(FetchError::io("create", parent))?;
    let target = relative_to(blob, parent);
    if std::fs::read_link(link).is_ok_and(|existing| existing == target) {
        return Ok(());
    }
    let temporary = link.with_file_name(format!(
        ".{}.linking",
        link.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    ));
    let _ = std::fs::remove_file(&temporary);
    #[cfg(unix)]
    let made = std::os::unix::fs::symlink(&target, &temporary);
    #[cfg(not(unix))]
    let made = std::fs::copy(blob, &temporary).map(|_| ());
    made.map_err(FetchError::io("link", &temporary))?;
    std::fs::rename(&temporary, link).map_err(FetchError::io("rename into", link))
}

/// `blob` as seen from the folder `from`, both inside the same cache (`../../blobs/<hash>`).
fn relative_to(blob: &Path, from: &Path) -> PathBuf {
    let blob: Vec<Component<'_>> = blob.components().collect();
    let from: Vec<Component<'_>> = from.components().collect();
    let common = blob.iter().zip(&from).take_while(|(a, b)| a == b).count();
    let mut relative: PathBuf = from[common..].iter().map(|_| Component::ParentDir).collect();
    relative.extend(&blob[common..]);
    relative
}

/// Writes `bytes` to `path` through a temporary name, so a reader never sees half of it.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), FetchError> {
    let parent = path.parent().unwrap_or(path);
    std::fs::create_dir_all(parent).map_err(FetchError::io("create", parent))?;
    let temporary = path.with_extension("writing");
    std::fs::write(&temporary, bytes).map_err(FetchError::io("write", &temporary))?;
    std::fs::rename(&temporary, path).map_err(FetchError::io("rename into", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_point_back_to_the_blobs_as_huggingface_hub_makes_them() {
        let blob = Path::new("/hub/models--o--n/blobs/abc");
        assert_eq!(relative_to(blob, Path::new("/hub/models--o--n/snapshots/c")), Path::new("../../blobs/abc"));
        assert_eq!(
            relative_to(blob, Path::new("/hub/models--o--n/snapshots/c/1_Pooling")),
            Path::new("../../../blobs/abc")
        );
    }

    #[test]
    fn paths_from_a_repository_stay_inside_it() {
        let id = HubId::parse("o/n").unwrap();
        for bad in ["../x", "/etc", "a/../../b", "a\\b"] {
            assert!(!is_inside(bad), "{bad}");
            let modules = serde_json::json!([{"path": ""}, {"path": bad}]);
            assert!(module_folders(Some(&modules), &id).unwrap_err().to_string().contains("not inside"), "{bad}");
        }
        let modules = serde_json::json!([{"path": ""}, {"path": "1_Pooling"}, {"path": "2_Dense/"}]);
        assert_eq!(module_folders(Some(&modules), &id).unwrap(), ["1_Pooling", "2_Dense"]);
        let index = serde_json::json!({"weight_map": {"a": "model-2.safetensors", "b": "model-1.safetensors", "c": "model-1.safetensors"}});
        assert_eq!(shard_files(&index, &id).unwrap(), ["model-1.safetensors", "model-2.safetensors"]);
        for bad in ["../model.safetensors", "sub/model.safetensors", ".."] {
            let index = serde_json::json!({"weight_map": {"a": bad}});
            assert!(shard_files(&index, &id).unwrap_err().to_string().contains("not a file beside it"), "{bad}");
        }
    }
}
