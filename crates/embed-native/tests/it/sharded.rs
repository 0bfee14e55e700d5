//! Sharded checkpoints (`model.safetensors.index.json` and the shard files it names): the same
//! tensors sharded give the single file's model bit for bit, and a broken index or shard is an
//! error naming the index, the shard and the tensor, never a panic and never a file read from
//! outside the directory.

use std::path::{Path, PathBuf};

use embed_native::testing::{Checkpoint, Tensor};
use embed_native::{
    Architecture, CHECKPOINT_FILES, NativeError, NativeModel, NativeOptions, PackedBatch, checkpoint_bytes,
    checkpoint_present,
};

const FAMILIES: [Architecture; 7] = Architecture::ALL;
const INDEX: &str = "model.safetensors.index.json";

fn load(dir: &Path) -> Result<NativeModel, NativeError> {
    let mut options = NativeOptions::default();
    options.threads = Some(1);
    NativeModel::load(dir, &options)
}

fn sharded(checkpoint: &Checkpoint, shards: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    checkpoint.write_sharded(dir.path(), shards).unwrap();
    dir
}

fn shard(dir: &Path, number: usize, of: usize) -> PathBuf {
    dir.join(format!("model-{number:05}-of-{of:05}.safetensors"))
}

/// Rewrites the index's `weight_map` with `edit`.
fn edit_weight_map(dir: &Path, edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) {
    let path = dir.join(INDEX);
    let mut index: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(index["weight_map"].as_object_mut().unwrap());
    std::fs::write(path, index.to_string()).unwrap();
}

/// The last hidden state of a fixed batch, as bits.
fn outputs(model: &NativeModel) -> Vec<u32> {
    let batch = PackedBatch { ids: &[0, 5, 9, 2, 3, 4, 5, 15], type_ids: &[], lengths: &[3, 5] };
    model.forward(&batch, |hidden| hidden.iter().map(|v| v.to_bits()).collect()).unwrap()
}

/// The same tensors under `prefix` (as a `BertForMaskedLM` checkpoint names them `bert.…`).
fn prefixed(checkpoint: &Checkpoint, prefix: &str) -> Checkpoint {
    let mut renamed = checkpoint.clone();
    renamed.tensors = checkpoint.tensors.iter().map(|(name, t)| (format!("{prefix}{name}"), t.clone())).collect();
    renamed
}

#[test]
fn sharded_checkpoints_give_the_single_files_outputs_bit_for_bit() {
    for family in FAMILIES {
        for checkpoint in [Checkpoint::tiny(family, 11), prefixed(&Checkpoint::tiny(family, 12), "model.")] {
            let single = tempfile::tempdir().unwrap();
            checkpoint.write(single.path()).unwrap();
            let single = load(single.path()).unwrap();
            let expected = outputs(&single);
            // One tensor a shard puts the word table (borrowed from its mapping) in a later shard.
            for shards in [1, 2, 3, checkpoint.tensors.len()] {
                let dir = sharded(&checkpoint, shards);
                let model = load(dir.path()).unwrap();
                assert_eq!(outputs(&model), expected, "{family:?}, {shards} shards");
                // Equal resident bytes: the word table is borrowed from a shard, not copied.
                assert_eq!(model.resident_bytes(), single.resident_bytes(), "{family:?}, {shards} shards");
            }
        }
    }
}

#[test]
fn the_single_file_is_read_where_both_are_present() {
    let dir = sharded(&Checkpoint::tiny(Architecture::Bert, 13), 2);
    let single = Checkpoint::tiny(Architecture::Bert, 14);
    single.write(dir.path()).unwrap();
    let alone = tempfile::tempdir().unwrap();
    single.write(alone.path()).unwrap();
    assert_eq!(outputs(&load(dir.path()).unwrap()), outputs(&load(alone.path()).unwrap()));
}

#[test]
fn a_missing_shard_is_named_with_its_index() {
    let dir = sharded(&Checkpoint::tiny(Architecture::Roberta, 15), 3);
    std::fs::remove_file(shard(dir.path(), 2, 3)).unwrap();
    let error = load(dir.path()).unwrap_err();
    assert!(
        matches!(&error, NativeError::MissingShard { index, shard: missing }
            if index == &dir.path().join(INDEX) && missing == &shard(dir.path(), 2, 3)),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(INDEX) && message.contains("model-00002-of-00003.safetensors, which is missing"),
        "{message}"
    );
    assert!(checkpoint_bytes(dir.path()).is_err());
}

#[test]
fn a_shard_named_outside_the_directory_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("model");
    std::fs::create_dir(&dir).unwrap();
    Checkpoint::tiny(Architecture::Mpnet, 16).write_sharded(&dir, 2).unwrap();
    // A real shard outside the directory: refused all the same, never read.
    let outside = root.path().join("outside.safetensors");
    std::fs::copy(shard(&dir, 1, 2), &outside).unwrap();
    let absolute = outside.display().to_string();
    for name in ["../outside.safetensors", &absolute, "sub/model.safetensors", "sub\\model.safetensors", "..", ".", ""]
    {
        edit_weight_map(&dir, |map| {
            map.insert("embeddings.LayerNorm.bias".into(), name.into());
        });
        let error = load(&dir).unwrap_err();
        assert!(
            matches!(&error, NativeError::ShardName { index, shard } if index == &dir.join(INDEX) && shard == name),
            "{name}: {error}"
        );
        assert!(
            error.to_string().contains(&format!(
                "names the shard `{name}`, expected a file name in its directory (no path separator, no `..`)"
            )),
            "{error}"
        );
        assert!(matches!(checkpoint_bytes(&dir), Err(NativeError::ShardName { .. })));
    }
}

#[test]
fn a_tensor_the_shard_lacks_is_named_with_the_shard() {
    let checkpoint = Checkpoint::tiny(Architecture::Bert, 17);
    let dir = sharded(&checkpoint, 2);
    let name = "embeddings.word_embeddings.weight";
    edit_weight_map(dir.path(), |map| {
        map.insert(name.into(), "model-00002-of-00002.safetensors".into());
    });
    let error = load(dir.path()).unwrap_err();
    assert!(
        matches!(&error, NativeError::ShardLacksTensor { index, shard: lacking, name: n }
            if index == &dir.path().join(INDEX) && lacking == &shard(dir.path(), 2, 2) && n == name),
        "{error}"
    );
    assert!(
        error.to_string().contains("puts tensor `embeddings.word_embeddings.weight` in ")
            && error.to_string().contains("model-00002-of-00002.safetensors, which has no such tensor"),
        "{error}"
    );
}

#[test]
fn a_tensor_missing_from_the_index_is_named_against_the_index() {
    let dir = sharded(&Checkpoint::tiny(Architecture::Roberta, 18), 2);
    let name = "encoder.layer.1.output.dense.bias";
    edit_weight_map(dir.path(), |map| {
        map.remove(name);
    });
    let error = load(dir.path()).unwrap_err();
    assert!(
        matches!(&error, NativeError::MissingTensor { path, name: n } if path == &dir.path().join(INDEX) && n == name),
        "{error}"
    );
}

#[test]
fn a_bad_tensor_in_a_shard_is_named_with_the_shard() {
    let mut checkpoint = Checkpoint::tiny(Architecture::Bert, 19);
    let name = "encoder.layer.1.intermediate.dense.weight";
    checkpoint.tensors.insert(name.into(), Tensor::f32(vec![16, 4], &[0.5; 64]));
    let dir = sharded(&checkpoint, 2);
    let error = load(dir.path()).unwrap_err();
    assert!(
        matches!(&error, NativeError::TensorShape { path, name: n, .. } if path == &shard(dir.path(), 2, 2) && n == name),
        "{error}"
    );
    let dir = sharded(&Checkpoint::tiny(Architecture::Bert, 19), 2);
    let contents = std::fs::read(shard(dir.path(), 2, 2)).unwrap();
    std::fs::write(shard(dir.path(), 2, 2), &contents[..contents.len() - 10]).unwrap();
    let error = load(dir.path()).unwrap_err();
    assert!(matches!(&error, NativeError::Safetensors { path, .. } if path == &shard(dir.path(), 2, 2)), "{error}");
}

#[test]
fn an_index_that_is_not_json_with_a_weight_map_is_refused() {
    for contents in ["", "not json", "{}", r#"{"weight_map": ["model-00001-of-00002.safetensors"]}"#] {
        let dir = sharded(&Checkpoint::tiny(Architecture::Mpnet, 20), 2);
        std::fs::write(dir.path().join(INDEX), contents).unwrap();
        let error = load(dir.path()).unwrap_err();
        assert!(matches!(&error, NativeError::Index { path, .. } if path == &dir.path().join(INDEX)), "{error}");
        assert!(
            error.to_string().ends_with(
                "is not a checkpoint index: expected JSON with a `weight_map` from tensor names to shard files"
            ),
            "{contents:?}: {error}"
        );
    }
}

#[test]
fn presence_and_size_on_disk_of_either_layout() {
    assert_eq!(CHECKPOINT_FILES, ["model.safetensors", INDEX]);
    let checkpoint = Checkpoint::tiny(Architecture::Bert, 21);
    let empty = tempfile::tempdir().unwrap();
    assert!(!checkpoint_present(empty.path()));
    assert!(matches!(checkpoint_bytes(empty.path()), Err(NativeError::NoCheckpoint { dir }) if dir == empty.path()));

    let single = tempfile::tempdir().unwrap();
    checkpoint.write(single.path()).unwrap();
    assert!(checkpoint_present(single.path()));
    let size = std::fs::metadata(single.path().join("model.safetensors")).unwrap().len();
    assert_eq!(checkpoint_bytes(single.path()).unwrap(), size);

    let dir = sharded(&checkpoint, 3);
    assert!(checkpoint_present(dir.path()));
    let shards: u64 = (1..=3).map(|n| std::fs::metadata(shard(dir.path(), n, 3)).unwrap().len()).sum();
    assert_eq!(checkpoint_bytes(dir.path()).unwrap(), shards);
    std::fs::remove_file(dir.path().join("config.json")).unwrap();
    assert!(!checkpoint_present(dir.path()), "no config.json");
}
