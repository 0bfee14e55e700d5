//! `cargo xtask reference`: golden sentence-transformers embeddings for the test fixtures.
//!
//! `scripts/write_reference.py` (in the conversion venv, [`crate::venv`]) embeds
//! `scripts/reference_texts.json` with sentence-transformers and writes
//! `crates/embed-core/tests/fixtures/<model>.json`: texts, token counts, embeddings and the STS-B
//! test-split Spearman correlation. It needs the model's snapshot, not its ONNX files.

use std::ffi::OsString;
use std::path::PathBuf;

use anyhow::bail;
use embed_manifest::Manifest;

use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Model name from models/manifest.toml.
    #[arg(long)]
    model: String,
    /// Snapshot directory (default: `<models dir>/<name>`).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Fixture file to write (default: `crates/embed-core/tests/fixtures/<name>.json`).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The fixture file of a model.
pub fn fixture_path(model_name: &str) -> PathBuf {
    paths::workspace_root().join("crates/embed-core/tests/fixtures").join(format!("{model_name}.json"))
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let manifest = Manifest::builtin();
    let model = manifest.model(&args.model)?;
    let from = args.from.unwrap_or_else(|| paths::models_dir().join(&model.name));
    if !from.join("config.json").is_file() {
        bail!(
            "{} is not a Hugging Face snapshot (no config.json); fetch the model first or give --from",
            from.display()
        );
    }
    let out = args.out.unwrap_or_else(|| fixture_path(&model.name));
    let script_args: Vec<OsString> = vec![
        "--model".into(),
        model.name.clone().into(),
        "--from".into(),
        from.into_os_string(),
        "--out".into(),
        out.into_os_string(),
    ];
    venv::run_script("write_reference.py", &script_args)
}
