//! `cargo xtask convert`: a Hugging Face snapshot becomes ONNX files, validated against
//! sentence-transformers.
//!
//! The work is done by `scripts/convert_model.py` in the conversion venv ([`crate::venv`]); this
//! module checks the request against the manifest and passes it on, holding the model
//! directory's lock ([`embed_fetch::CacheLock`]) so that two processes never convert into it at
//! once. Every file is validated on the reference texts (seconds); the STS-B test split
//! (minutes) only where it is needed, for int8, or with `--stsb`. It knows nothing of how
//! snapshots are fetched.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use embed_manifest::{DEFAULT_VARIANT, Manifest, ModelSpec};

use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Model name from models/manifest.toml; its snapshot is `<models dir>/<name>` unless --from
    /// is given.
    #[arg(long, required_unless_present = "from")]
    model: Option<String>,
    /// Snapshot directory to convert (any sentence-transformers snapshot).
    #[arg(long, value_name = "DIR")]
    from: Option<PathBuf>,
    /// Where the model directory is written (default: the snapshot directory).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also write the optimized variant (fused attention, LayerNorm and GELU; fp32).
    #[arg(long)]
    optimize: bool,
    /// Also write a quantized variant.
    #[arg(long, value_name = "KIND", value_parser = ["int8"])]
    quantize: Option<String>,
    /// Also evaluate every variant and sentence-transformers itself on the STS-B test split
    /// (minutes; int8 and fp32 always are when int8 is written, since int8's check needs them).
    #[arg(long)]
    stsb: bool,
}

/// Which files the STS-B test split is evaluated on.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stsb {
    /// int8 and fp32 when int8 is written (its check compares them); nothing otherwise.
    WhereNeeded,
    /// Every variant, and sentence-transformers itself.
    Always,
}

impl Stsb {
    /// `--stsb` given or not.
    pub fn requested(flag: bool) -> Self {
        if flag { Self::Always } else { Self::WhereNeeded }
    }

    fn script_args(self) -> Vec<OsString> {
        match self {
            Self::WhereNeeded => Vec::new(),
            Self::Always => vec!["--stsb".into()],
        }
    }
}

/// Holds the lock of the model directory `dir`, saying on stderr when another process has it.
fn lock_model_dir(dir: &Path) -> anyhow::Result<embed_fetch::CacheLock> {
    embed_fetch::CacheLock::acquire(dir, |lock| {
        eprintln!("waiting for another process to finish writing {} (lock {})", dir.display(), lock.display());
    })
    .with_context(|| format!("cannot lock {}", dir.display()))
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let manifest = Manifest::builtin();
    let mut variants = vec![DEFAULT_VARIANT.to_string()];
    if args.optimize {
        variants.push("optimized".to_string());
    }
    variants.extend(args.quantize.clone());
    let model = args.model.as_deref().map(|name| manifest.model(name)).transpose()?;
    if let Some(model) = model {
        check_variants(&manifest, model, &variants)?;
    }
    let mut script_args: Vec<OsString> = Vec::new();
    if let Some(model) = model {
        script_args.extend(["--model".into(), model.name.clone().into()]);
    }
    let from = match (&args.from, model) {
        (Some(dir), _) => dir.clone(),
        (None, Some(model)) => paths::models_dir().join(&model.name),
        (None, None) => bail!("give --model NAME or --from DIR"),
    };
    if !from.join("config.json").is_file() {
        bail!(
            "{} is not a Hugging Face snapshot (no config.json); fetch the model first or give --from",
            from.display()
        );
    }
    let written = args.out.clone().unwrap_or_else(|| from.clone());
    script_args.extend(["--from".into(), from.into_os_string()]);
    if let Some(out) = args.out {
        script_args.extend(["--out".into(), out.into_os_string()]);
    }
    script_args.extend(["--variants".into(), variants.join(",").into()]);
    script_args.extend(Stsb::requested(args.stsb).script_args());
    let _lock = lock_model_dir(&written)?;
    run_script(script_args)
}

/// Runs `scripts/convert_model.py` with `script_args` and this build's recipe
/// ([`embed_manifest::conversion_recipe`]), which the script records with every file it makes.
pub fn run_script(mut script_args: Vec<OsString>) -> anyhow::Result<()> {
    script_args.extend(["--recipe".into(), embed_manifest::conversion_recipe().into()]);
    venv::run_script("convert_model.py", &script_args)
}

/// Converts the snapshot in `model_dir` in place into the ONNX files of `variants` (names from
/// the manifest's `[variants]`; `fp32` is always written, the others start from it), each
/// validated against sentence-transformers (on STS-B as `stsb` says). `manifest_file` is the
/// manifest the model comes from, when not the built-in one. Under the directory's lock:
/// variants another process converted while this one waited are not converted again.
pub fn convert_snapshot(
    manifest_file: Option<&Path>,
    model: &ModelSpec,
    model_dir: &Path,
    variants: &[String],
    stsb: Stsb,
) -> anyhow::Result<()> {
    let manifest = match manifest_file {
        Some(path) => Manifest::load(path)?,
        None => Manifest::builtin(),
    };
    check_variants(&manifest, model, variants)?;
    let _lock = lock_model_dir(model_dir)?;
    // Each variant's file as it is now: absent (None), or where it came from.
    let found: Vec<(&str, Option<embed_manifest::Provenance>)> = variants
        .iter()
        .map(|variant| {
            let path = manifest.variants.get(variant).map(|file| model_dir.join(file));
            let provenance =
                path.filter(|path| path.is_file()).map(|path| embed_manifest::provenance(model_dir, &path));
            (variant.as_str(), provenance)
        })
        .collect();
    let stale: Vec<&str> =
        found.iter().filter(|(_, p)| p.as_ref().is_some_and(|p| !p.is_current())).map(|(v, _)| *v).collect();
    if !stale.is_empty() {
        eprintln!(
            "{}: made by another conversion recipe than this build's ({}), so made again: {}",
            model.name,
            embed_manifest::short_recipe(embed_manifest::conversion_recipe()),
            stale.join(", ")
        );
    }
    if stsb == Stsb::WhereNeeded && found.iter().all(|(_, p)| p.as_ref().is_some_and(|p| p.is_current())) {
        eprintln!("{}: {} already converted (by another process)", model.name, variants.join(", "));
        return Ok(());
    }
    let mut all: Vec<&str> = vec![DEFAULT_VARIANT];
    all.extend(variants.iter().map(String::as_str).filter(|v| *v != DEFAULT_VARIANT));
    let mut script_args: Vec<OsString> = vec![
        "--model".into(),
        model.name.clone().into(),
        "--from".into(),
        model_dir.as_os_str().to_owned(),
        "--variants".into(),
        all.join(",").into(),
    ];
    script_args.extend(stsb.script_args());
    if let Some(path) = manifest_file {
        script_args.extend(["--manifest".into(), path.as_os_str().to_owned()]);
    }
    run_script(script_args).with_context(|| format!("cannot convert {} in {}", model.name, model_dir.display()))
}

fn check_variants(manifest: &Manifest, model: &ModelSpec, variants: &[String]) -> anyhow::Result<()> {
    for variant in variants {
        if !manifest.variants.contains_key(variant) {
            let known: Vec<&str> = manifest.variants.keys().map(String::as_str).collect();
            bail!("unknown variant `{variant}`; known variants: {}", known.join(", "));
        }
        if let Some(reason) = model.not_offered.get(variant) {
            bail!("variant `{variant}` of model `{}` is not offered: {reason}", model.name);
        }
    }
    Ok(())
}
