//! `cargo xtask fixtures`: regenerates the architecture fixtures in `fixtures/architectures/`.
//!
//! `scripts/make_fixtures.py` (in the conversion venv, [`crate::venv`]) writes each fixture as
//! sentence-transformers saves it, with `reference.json`; each is then converted to ONNX by
//! `scripts/convert_model.py` (the code path of `cargo xtask convert --from`, validated against
//! sentence-transformers) in a scratch folder, whose `onnx/model.onnx` is copied into the
//! fixture. The scratch folder keeps the conversion record, which names this machine's paths and
//! the time, out of the repository. What a fixture is, is the script's business.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Regenerate only this fixture (repeatable; default: all of them).
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
}

/// The folder of the architecture fixtures.
pub fn fixtures_dir() -> PathBuf {
    paths::workspace_root().join("fixtures").join("architectures")
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let out = fixtures_dir();
    std::fs::create_dir_all(&out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut script_args: Vec<OsString> = vec!["--out".into(), out.clone().into_os_string()];
    for name in &args.only {
        script_args.extend(["--only".into(), name.into()]);
    }
    venv::run_script("make_fixtures.py", &script_args)?;
    let names = if args.only.is_empty() { fixture_names(&out)? } else { args.only };
    for name in names {
        convert(&out.join(&name)).with_context(|| format!("cannot convert fixture {name}"))?;
    }
    Ok(())
}

/// The fixtures present: every folder of `dir` holding a `reference.json`.
fn fixture_names(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        if path.join("reference.json").is_file()
            && let Some(name) = path.file_name().and_then(|n| n.to_str())
        {
            names.push(name.to_string());
        }
    }
    names.sort();
    Ok(names)
}

/// Converts one fixture to ONNX in a scratch folder and copies `onnx/model.onnx` into it.
fn convert(fixture: &Path) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    let script_args: Vec<OsString> = vec![
        "--from".into(),
        fixture.as_os_str().to_owned(),
        "--out".into(),
        scratch.path().as_os_str().to_owned(),
        "--variants".into(),
        "fp32".into(),
    ];
    crate::convert::run_script(script_args)?;
    let produced = scratch.path().join("onnx").join("model.onnx");
    if !produced.is_file() {
        bail!("the conversion wrote no {}", produced.display());
    }
    let dest = fixture.join("onnx").join("model.onnx");
    std::fs::create_dir_all(fixture.join("onnx")).with_context(|| format!("cannot create {}", fixture.display()))?;
    std::fs::copy(&produced, &dest).with_context(|| format!("cannot write {}", dest.display()))?;
    eprintln!("fixture: wrote {}", dest.display());
    Ok(())
}
