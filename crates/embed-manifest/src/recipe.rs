//! Which recipe made a model file, so that a file made by another recipe is never used as if
//! this build had made it.
//!
//! embed makes some ONNX files itself (a checkpoint converted, an int8 file quantized). How a
//! file is made decides what its vectors are, so each made file records the recipe that made it
//! in the model's `onnx/conversion.json`; the recipe is the sha256 of everything that decides
//! the result: the conversion script, its shared helpers and the pinned Python packages
//! (compiled into this crate, so every binary knows its own recipe). [`provenance`] tells a file
//! made by this recipe from one made by another (or by a build that recorded none) and from a
//! file fetched ready-made. This file knows the record's format, not how a conversion runs.

use std::path::Path;
use std::sync::OnceLock;

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// The record a conversion writes beside the files it makes, relative to the model directory.
pub const CONVERSION_RECORD: &str = "onnx/conversion.json";

/// The files whose contents make up the recipe, by their path in the repository.
const RECIPE_FILES: [(&str, &[u8]); 3] = [
    ("scripts/convert_model.py", include_bytes!("../../../scripts/convert_model.py")),
    ("scripts/embed_common.py", include_bytes!("../../../scripts/embed_common.py")),
    ("scripts/requirements.txt", include_bytes!("../../../scripts/requirements.txt")),
];

/// The recipe of this build: the sha256 (hex) of the conversion script, its helpers and its
/// pinned packages, each file's path and length framing its bytes.
pub fn conversion_recipe() -> &'static str {
    static RECIPE: OnceLock<String> = OnceLock::new();
    RECIPE.get_or_init(|| {
        let mut hasher = Sha256::new();
        for (path, bytes) in RECIPE_FILES {
            hasher.update(path.as_bytes());
            hasher.update([0]);
            hasher.update((bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        }
        hex(&hasher.finalize())
    })
}

/// A recipe as messages show it: its first 12 characters.
pub fn short_recipe(recipe: &str) -> String {
    recipe.chars().take(12).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Where an ONNX file in a model directory came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Provenance {
    /// No record describes it: a file fetched ready-made (from the hub or a package).
    Fetched,
    /// Made by this build's recipe.
    MadeByThisRecipe,
    /// Made by another recipe: `recorded` is the recipe its record names, `None` where the
    /// record names none (a build before recipes were recorded) or cannot be read.
    MadeByAnotherRecipe {
        /// The recipe the record names.
        recorded: Option<String>,
    },
}

impl Provenance {
    /// Whether the file may be used as this build's: fetched, or made by this recipe.
    pub fn is_current(&self) -> bool {
        !matches!(self, Self::MadeByAnotherRecipe { .. })
    }
}

#[derive(Deserialize)]
struct Record {
    #[serde(default)]
    files: std::collections::BTreeMap<String, RecordedFile>,
}

#[derive(Deserialize)]
struct RecordedFile {
    path: String,
    size: Option<u64>,
    recipe: Option<String>,
}

/// Where `onnx_file` (a file inside `model_dir`) came from, by the model's conversion record.
///
/// A record that lists the file (by its path inside the directory and its size: a file of
/// another size is not the one recorded) decides; a file no record lists was fetched. A record
/// that exists but cannot be read is taken as another recipe's: a made file is never used
/// unchecked.
pub fn provenance(model_dir: &Path, onnx_file: &Path) -> Provenance {
    let Ok(relative) = onnx_file.strip_prefix(model_dir) else { return Provenance::Fetched };
    let relative = relative.to_string_lossy().replace('\\', "/");
    let Ok(text) = std::fs::read_to_string(model_dir.join(CONVERSION_RECORD)) else { return Provenance::Fetched };
    let Ok(record) = serde_json::from_str::<Record>(&text) else {
        return Provenance::MadeByAnotherRecipe { recorded: None };
    };
    let size = std::fs::metadata(onnx_file).map(|m| m.len()).ok();
    let Some(entry) = record.files.values().find(|f| f.path == relative && (f.size.is_none() || f.size == size)) else {
        return Provenance::Fetched;
    };
    match &entry.recipe {
        Some(recipe) if recipe == conversion_recipe() => Provenance::MadeByThisRecipe,
        recorded => Provenance::MadeByAnotherRecipe { recorded: recorded.clone() },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_dir(record: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("onnx")).unwrap();
        std::fs::write(dir.path().join("onnx/model_int8.onnx"), [0u8; 10]).unwrap();
        std::fs::write(dir.path().join(CONVERSION_RECORD), record).unwrap();
        dir
    }

    fn of(dir: &tempfile::TempDir) -> Provenance {
        provenance(dir.path(), &dir.path().join("onnx/model_int8.onnx"))
    }

    #[test]
    fn the_recipe_is_a_sha256() {
        assert_eq!(conversion_recipe().len(), 64);
        assert!(conversion_recipe().bytes().all(|b| b.is_ascii_hexdigit()));
        assert_eq!(short_recipe(conversion_recipe()), conversion_recipe()[..12]);
        // A record may name anything: shortening never splits a character.
        assert_eq!(short_recipe("ééééééééééééé"), "éééééééééééé");
    }

    #[test]
    fn tells_this_recipe_from_another_and_from_none() {
        let entry = |recipe: &str| {
            format!(r#"{{"files": {{"int8": {{"path": "onnx/model_int8.onnx", "size": 10{recipe}}}}}}}"#)
        };
        let current = model_dir(&entry(&format!(r#", "recipe": "{}""#, conversion_recipe())));
        assert_eq!(of(&current), Provenance::MadeByThisRecipe);
        let other = model_dir(&entry(r#", "recipe": "0123""#));
        assert_eq!(of(&other), Provenance::MadeByAnotherRecipe { recorded: Some("0123".into()) });
        let older = model_dir(&entry(""));
        assert_eq!(of(&older), Provenance::MadeByAnotherRecipe { recorded: None });
        assert!(!of(&older).is_current());
    }

    #[test]
    fn a_file_the_record_does_not_describe_was_fetched() {
        let other_file = model_dir(r#"{"files": {"fp32": {"path": "onnx/model.onnx", "size": 10, "recipe": "x"}}}"#);
        assert_eq!(of(&other_file), Provenance::Fetched);
        let other_size = model_dir(r#"{"files": {"int8": {"path": "onnx/model_int8.onnx", "size": 11}}}"#);
        assert_eq!(of(&other_size), Provenance::Fetched);
        let no_record = tempfile::tempdir().unwrap();
        assert_eq!(provenance(no_record.path(), &no_record.path().join("onnx/model.onnx")), Provenance::Fetched);
    }

    #[test]
    fn an_unreadable_record_is_never_trusted() {
        let broken = model_dir("{ not json");
        assert_eq!(of(&broken), Provenance::MadeByAnotherRecipe { recorded: None });
    }
}
