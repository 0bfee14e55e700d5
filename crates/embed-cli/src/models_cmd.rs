//! `embed models`: every model embed knows, as this machine has it (the variants fetched and
//! their size on disk, the engine that will run it, its prompts); every model the Hugging Face
//! cache holds (by hub id and revision, with its size, dimension and engine); then what the
//! `int8` variant buys on this CPU. What is known comes from `embed_core::known_models`,
//! `embed_core::cached_hub_models` and `embed_core::int8_advice`; this file only words it.

use std::fmt::Write as _;
use std::io::Write as _;

use embed_core::KnownModel;

/// Arguments of `embed models`.
#[derive(clap::Args, Debug)]
pub struct ModelArgs {
    #[command(flatten)]
    cache: crate::settings::CacheDir,
}

/// Prints every known model.
pub fn run(args: &ModelArgs) -> anyhow::Result<()> {
    let models = embed_core::known_models(&embed_core::Manifest::builtin(), &args.cache.model_cache_dir);
    let mut out = std::io::stdout().lock();
    out.write_all(describe(&models).as_bytes())?;
    let hub_cache = args.cache.hub_cache_dir();
    out.write_all(describe_hub(&embed_core::cached_hub_models(&hub_cache), &hub_cache).as_bytes())?;
    let int8 = embed_core::int8_advice(embed_core::Int8DotProduct::detect());
    writeln!(out, "\nint8 on this CPU: {int8}")?;
    out.flush()?;
    Ok(())
}

/// The listing: a heading line per model, then what is fetched, what runs it and its prompts.
fn describe(models: &[KnownModel]) -> String {
    let mut text = String::new();
    for model in models {
        let _ = writeln!(
            text,
            "{}  {} dimensions, up to {} tokens  ({})",
            model.name, model.dimension, model.max_seq_length, model.hub_repo
        );
        let fetched: Vec<String> = model
            .fetched
            .iter()
            .map(|v| {
                let stale = if v.made_by_another_recipe {
                    format!(
                        ", made by another conversion recipe: refused until made again \
                         (cargo xtask fetch-models --model {}:{})",
                        model.name, v.variant
                    )
                } else {
                    String::new()
                };
                format!("{} ({}{stale})", v.variant, mebibytes(v.bytes))
            })
            .collect();
        let (fetched, runs_on) = match (fetched.is_empty(), model.checkpoint) {
            (false, _) => {
                let mut engines: Vec<_> = model.fetched.iter().map(|v| v.engine).collect();
                engines.dedup();
                let runs_on = match engines.as_slice() {
                    [engine] => engine.to_string(),
                    _ => model
                        .fetched
                        .iter()
                        .map(|v| format!("{}: {}", v.variant, v.engine))
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                (fetched.join(", "), runs_on)
            }
            (true, true) => (
                "a checkpoint (model.safetensors) without an ONNX file".to_string(),
                format!(
                    "nothing yet: convert it to ONNX in a clone of embed (cargo xtask convert --model {})",
                    model.name
                ),
            ),
            (true, false) => ("nothing (embed fetches it from the hub on first use)".to_string(), "-".to_string()),
        };
        let _ = writeln!(text, "  fetched:  {fetched}");
        let _ = writeln!(text, "  runs on:  {runs_on}");
        let _ = writeln!(text, "  prompts:  {}", prompts(&model.prompts));
        if let Some(problem) = &model.problem {
            let _ = writeln!(text, "  problem:  {problem}");
        }
    }
    text
}

/// The Hugging Face cache's models: one line per snapshot, the name to use first.
fn describe_hub(models: &[embed_core::CachedHubModel], cache: &std::path::Path) -> String {
    let mut text = format!("\nIn the Hugging Face cache ({}):\n", cache.display());
    if models.is_empty() {
        text.push_str("  nothing (`embed fetch org/name` fetches a model by its hub id)\n");
    }
    for model in models {
        let name = match model.refs.first() {
            Some(reference) if reference == embed_core::DEFAULT_HUB_REVISION => model.repo.clone(),
            Some(reference) => format!("{}@{reference}", model.repo),
            None => format!("{}@{}", model.repo, model.commit),
        };
        let dimension = model.dimension.map_or_else(|| "? dimensions".to_string(), |d| format!("{d} dimensions"));
        let engine = model.engine.map_or_else(|| "nothing it can run".to_string(), |e| e.to_string());
        let _ = writeln!(
            text,
            "{name}  {dimension}, {}, runs on {engine}  (commit {})",
            mebibytes(model.bytes),
            &model.commit[..model.commit.len().min(12)]
        );
    }
    text
}

/// `query "query: " (default), passage "passage: "`, or `none`.
fn prompts(prompts: &embed_core::Prompts) -> String {
    if prompts.prompts.is_empty() {
        return "none".to_string();
    }
    prompts
        .prompts
        .iter()
        .map(|(name, text)| {
            let default = if prompts.default_name.as_deref() == Some(name) { " (default)" } else { "" };
            format!("{name} {text:?}{default}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// `86.2 MiB`.
fn mebibytes(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}
