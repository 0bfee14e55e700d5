//! Which files of a directory hold a checkpoint's weights: `model.safetensors`, or, for a
//! model saved sharded, `model.safetensors.index.json` and every shard its `weight_map` names
//! (each a plain file name in the same directory: a name reaching outside it is refused).
//! Also what other crates ask of a directory without loading it: whether it holds a checkpoint
//! this engine reads, and how many bytes its weights take on disk.
//!
//! Knows nothing of what the files hold beyond the index's `weight_map` (reading and checking
//! tensors is `weights.rs`).

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::NativeError;

/// The single file holding every tensor.
const SINGLE: &str = "model.safetensors";
/// The index of a sharded checkpoint.
const INDEX: &str = "model.safetensors.index.json";

/// The files that make a directory a checkpoint, besides `config.json`, in the order they are
/// looked for: `model.safetensors`, else `model.safetensors.index.json` (which names the
/// shard files holding the tensors).
pub const CHECKPOINT_FILES: [&str; 2] = [SINGLE, INDEX];

/// Whether `dir` holds a checkpoint the engine can try to load: `config.json` and
/// `model.safetensors` or `model.safetensors.index.json`. Reads neither file.
pub fn checkpoint_present(dir: &Path) -> bool {
    dir.join("config.json").is_file() && CHECKPOINT_FILES.iter().any(|name| dir.join(name).is_file())
}

/// The bytes the checkpoint's weights take on disk: `model.safetensors`'s size, or the sum of
/// the sizes of the shards the index names (each counted once; the index itself not counted).
pub fn checkpoint_bytes(dir: &Path) -> Result<u64, NativeError> {
    Layout::of(dir)?.files.iter().try_fold(0, |sum, path| {
        let len = std::fs::metadata(path).map_err(|source| NativeError::Io { path: path.clone(), source })?.len();
        Ok(sum + len)
    })
}

/// The files of a checkpoint's weights, their names checked (their contents not read).
#[derive(Debug)]
pub(crate) struct Layout {
    /// `model.safetensors`, or the index: the file a tensor missing from the checkpoint is
    /// reported against.
    pub source: PathBuf,
    /// The files holding tensors: `model.safetensors` alone, or each shard once.
    pub files: Vec<PathBuf>,
    /// Sharded: which of `files` holds each tensor. `None`: the one file holds every tensor.
    pub weight_map: Option<BTreeMap<String, usize>>,
}

/// What the engine reads of `model.safetensors.index.json` (its `metadata` is not needed).
#[derive(Deserialize)]
struct Index {
    weight_map: BTreeMap<String, String>,
}

impl Layout {
    /// `<dir>/model.safetensors` when it is there, else the index in `dir` and its shards.
    pub fn of(dir: &Path) -> Result<Self, NativeError> {
        let single = dir.join(SINGLE);
        if single.is_file() {
            return Ok(Self { source: single.clone(), files: vec![single], weight_map: None });
        }
        let index = dir.join(INDEX);
        if !index.is_file() {
            return Err(NativeError::NoCheckpoint { dir: dir.to_path_buf() });
        }
        let text = std::fs::read_to_string(&index).map_err(|source| NativeError::Io { path: index.clone(), source })?;
        let Index { weight_map } =
            serde_json::from_str(&text).map_err(|source| NativeError::Index { path: index.clone(), source })?;
        // Each shard once, numbered in name order.
        let mut shards: BTreeMap<&str, usize> = weight_map.values().map(|shard| (shard.as_str(), 0)).collect();
        let mut files = Vec::with_capacity(shards.len());
        for (shard, number) in &mut shards {
            if !is_file_name(shard) {
                return Err(NativeError::ShardName { index, shard: (*shard).to_string() });
            }
            let path = dir.join(shard);
            if !path.is_file() {
                return Err(NativeError::MissingShard { index, shard: path });
            }
            *number = files.len();
            files.push(path);
        }
        let weight_map = weight_map.iter().map(|(name, shard)| (name.clone(), shards[shard.as_str()])).collect();
        Ok(Self { source: index, files, weight_map: Some(weight_map) })
    }
}

/// Whether `name` names a file directly inside a directory: one normal path component, with no
/// separator of any platform (so never `..`, an absolute path or a subdirectory).
fn is_file_name(name: &str) -> bool {
    let mut components = Path::new(name).components();
    !name.contains(['/', '\\'])
        && matches!(components.next(), Some(Component::Normal(_)))
        && components.next().is_none()
}
