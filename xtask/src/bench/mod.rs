//! `cargo xtask bench`: the peer benchmark. Runs this project (its library on the native engine
//! and on ONNX Runtime, and its CLI), fastembed-rs, ONNX Runtime's Python API and
//! sentence-transformers on the same corpora, model files and thread count, each engine as its
//! own process, interleaved over rounds; measures the GEMM peaks of both engine families in the
//! same run; checks every engine's vectors against sentence-transformers'; writes
//! `docs/benchmarks.md` and `docs/benchmarks.png`.
//!
//! This module orchestrates: which engines, models, corpora and rounds, in which order. The
//! engines and how they run are `engines.rs`, processes `process.rs`, corpora `corpus.rs`,
//! vectors `vectors.rs`, GEMM peaks `peaks.rs`, the report `report.rs` and `chart.rs`.

mod chart;
mod corpus;
mod engines;
mod peaks;
mod process;
mod report;
mod vectors;

use std::path::PathBuf;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use self::corpus::Corpus;
use self::engines::{ALL_ENGINES, Engine, Run, run_engine};
use self::peaks::Peaks;
use self::report::{MIN_COSINE, Section, median};
use self::vectors::min_cosine;
use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Model to benchmark (repeat for several); default all-MiniLM-L6-v2 and all-mpnet-base-v2.
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Also compare this model's int8 variant on the STS-B corpus (repeat for several): the
    /// ONNX Runtime engines on the same int8 file, against the same library on ONNX Runtime on
    /// the fp32 file and the native engine in the same rounds, the CPU's int8 dot-product
    /// instructions named; vectors checked against sentence-transformers' fp32 ones.
    #[arg(long = "int8", value_name = "NAME")]
    int8_models: Vec<String>,
    /// Rounds: each engine runs once per round, in an order rotated from round to round.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// A smoke run: the first 256 texts of each corpus, 20 single-text calls, one round; the
    /// report goes to target/bench/ instead of docs/.
    #[arg(long)]
    quick: bool,
    /// Threads of every engine.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Texts per batch of every engine.
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Single-text calls timed in each run.
    #[arg(long, default_value_t = 200)]
    single: usize,
    /// Only these engines (repeat); sentence-transformers, the reference, always runs.
    #[arg(long = "engine", value_enum)]
    engines: Vec<Engine>,
    /// Only these corpora (repeat; default both).
    #[arg(long = "corpus", value_enum)]
    corpora: Vec<CorpusArg>,
}

/// A corpus on the command line.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CorpusArg {
    /// The STS-B test sentences.
    Stsb,
    /// The passages of about 150 tokens.
    Passages,
}

impl CorpusArg {
    fn corpus(self) -> Corpus {
        match self {
            CorpusArg::Stsb => Corpus::Stsb,
            CorpusArg::Passages => Corpus::Passages,
        }
    }
}

const DEFAULT_MODELS: [&str; 2] = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"];
const QUICK_TEXTS: usize = 256;
const QUICK_SINGLE: usize = 20;

/// Where the runners, the corpus of the section running and its results are.
pub struct Setup {
    root: PathBuf,
    work: PathBuf,
    models_dir: PathBuf,
    ort_library: PathBuf,
    python: Option<PathBuf>,
    corpus: PathBuf,
    one_text: PathBuf,
    texts: usize,
    threads: usize,
    batch_size: usize,
    single: usize,
}

/// Runs the task.
pub fn run(args: Args) -> anyhow::Result<()> {
    let root = paths::workspace_root();
    let work = root.join("target").join("bench");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let models: Vec<String> =
        if args.models.is_empty() { DEFAULT_MODELS.map(String::from).to_vec() } else { args.models.clone() };
    let engines: Vec<Engine> = ALL_ENGINES
        .into_iter()
        .filter(|e| args.engines.is_empty() || args.engines.contains(e) || *e == Engine::SentenceTransformers)
        .collect();
    let corpora: Vec<Corpus> = if args.corpora.is_empty() {
        Corpus::ALL.to_vec()
    } else {
        Corpus::ALL.into_iter().filter(|c| args.corpora.iter().any(|a| a.corpus() == *c)).collect()
    };
    let rounds = if args.quick { 1 } else { args.rounds as usize };
    let single = if args.quick { QUICK_SINGLE.min(args.single) } else { args.single };

    let xtask = std::env::current_exe().context("cannot find the xtask executable")?;
    let python = if engines.iter().any(|e| matches!(e, Engine::OrtPython | Engine::SentenceTransformers)) {
        Some(venv::ensure()?)
    } else {
        None
    };
    let ort_library = ort_library(&xtask, python.as_deref(), &engines)?;
    eprintln!("bench: ONNX Runtime library {}", ort_library.display());
    let mut fetch = Command::new(&xtask);
    fetch.arg("fetch-models");
    for model in models.iter().chain(args.int8_models.iter().filter(|m| !models.contains(m))) {
        fetch.args(["--model", model]);
    }
    // The native engine runs the checkpoint; every ONNX Runtime engine the same ONNX file.
    fetch.args(["--backend", "all", "--variant", "fp32"]);
    if !args.int8_models.is_empty() {
        fetch.args(["--variant", "int8"]);
    }
    run_step(&mut fetch)?;
    build(&root, &engines)?;

    let mut setup = Setup {
        root: root.clone(),
        work: work.clone(),
        models_dir: paths::models_dir(),
        ort_library,
        python,
        corpus: work.join("corpus.txt"),
        one_text: work.join("one-text.txt"),
        texts: 0,
        threads: args.threads,
        batch_size: args.batch_size,
        single,
    };
    eprintln!("bench: {} threads, batches of {}, {rounds} round(s)", args.threads, args.batch_size);

    let mut onnx_peaks = Vec::new();
    let mut native_peaks = Vec::new();
    let mut sections = Vec::new();
    let plan = corpora
        .iter()
        .flat_map(|&corpus| models.iter().map(move |m| (m, "fp32", corpus)))
        .chain(args.int8_models.iter().map(|m| (m, "int8", Corpus::Stsb)));
    for (model, variant, corpus) in plan {
        let mut texts = corpus.read(&root)?;
        if args.quick {
            texts.truncate(QUICK_TEXTS);
        }
        std::fs::write(&setup.corpus, texts.join("\n") + "\n")
            .with_context(|| format!("cannot write {}", setup.corpus.display()))?;
        std::fs::write(&setup.one_text, format!("{}\n", texts[0]))
            .with_context(|| format!("cannot write {}", setup.one_text.display()))?;
        setup.texts = texts.len();
        let name = format!("{model} {variant} {}", corpus.name());
        // The int8 sections compare the engines that run the int8 file with fp32 baselines.
        let engines: Vec<Engine> = engines.iter().copied().filter(|&e| e.runs_in(variant)).collect();
        let dir = work.join("runs").join(name.replace(' ', "-"));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut runs: Vec<(Engine, Vec<Run>)> = engines.iter().map(|&e| (e, Vec::new())).collect();
        for round in 0..rounds {
            // A B C ... then B C ... A: no engine always runs first, after the same neighbour.
            let order: Vec<usize> = (0..engines.len()).map(|i| (i + round) % engines.len()).collect();
            for index in order {
                let engine = engines[index];
                eprintln!("bench: {name}, round {}/{rounds}: {}", round + 1, engine.name());
                let run = run_engine(&setup, engine, model, variant, &dir, round)
                    .with_context(|| format!("{} on {name}, round {}", engine.name(), round + 1))?;
                eprintln!(
                    "bench:   {:.1} texts/s, p50 {}, peak RSS {}, load {:.2} s",
                    run.texts_per_s,
                    run.p50_ms.map_or("-".into(), |v| format!("{v:.2} ms")),
                    run.peak_rss.map_or("-".into(), |v| format!("{:.0} MiB", report::mib(v))),
                    run.load_s
                );
                runs[index].1.push(run);
            }
            let peaks = Peaks::measure(&setup);
            eprintln!(
                "bench:   GEMM peaks: ONNX Runtime {} GFLOP/s, native {} GFLOP/s",
                peaks.onnx.map_or("-".into(), |p| format!("{p:.1}")),
                peaks.native.map_or("-".into(), |p| format!("{p:.1}"))
            );
            onnx_peaks.extend(peaks.onnx);
            native_peaks.extend(peaks.native);
        }
        let min_cosine = check_vectors(&runs)?;
        // The physical limit is that of fp32 GEMMs: it says nothing of int8 kernels.
        let flops = if variant == "fp32" { report::flops(&setup.models_dir.join(model)) } else { None };
        sections.push(Section { model: model.clone(), corpus, texts: setup.texts, variant, runs, min_cosine, flops });
    }

    let out_dir = if args.quick { work.clone() } else { root.join("docs") };
    let peaks = Peaks { onnx: median(&onnx_peaks), native: median(&native_peaks) };
    let command = format!(
        "cargo xtask bench{}{}{}{}",
        models.iter().map(|m| format!(" --model {m}")).collect::<String>(),
        args.int8_models.iter().map(|m| format!(" --int8 {m}")).collect::<String>(),
        if corpora.len() == Corpus::ALL.len() {
            String::new()
        } else {
            corpora.iter().map(|c| format!(" --corpus {}", c.name().to_lowercase().replace('-', ""))).collect()
        },
        if args.quick { " --quick".to_string() } else { format!(" --rounds {rounds}") }
    );
    let markdown = report::markdown(&sections, &setup, rounds, peaks, &command);
    let md_path = out_dir.join("benchmarks.md");
    std::fs::write(&md_path, markdown).with_context(|| format!("cannot write {}", md_path.display()))?;
    let png_path = out_dir.join("benchmarks.png");
    chart::draw(&png_path, &sections, peaks.best(), setup.threads)
        .with_context(|| format!("cannot draw {}", png_path.display()))?;
    eprintln!("bench: wrote {} and {}", md_path.display(), png_path.display());

    let wrong: Vec<String> = sections
        .iter()
        .filter(|s| s.variant == "fp32")
        .flat_map(|s| {
            s.min_cosine
                .iter()
                .filter(|(_, c)| *c < MIN_COSINE)
                .map(move |(e, c)| format!("{} on {}: min cosine {c:.6}", e.name(), s.title()))
        })
        .collect();
    if !wrong.is_empty() {
        bail!("vectors disagree with sentence-transformers (min cosine < {MIN_COSINE}): {}", wrong.join("; "));
    }
    Ok(())
}

/// The ONNX Runtime library every engine loads: `ONNXRUNTIME_LIB_PATH`, else the Python
/// package's own where its engine runs (so that no engine is faster or slower for its build
/// alone), else `cargo xtask fetch-ort`'s.
fn ort_library(
    xtask: &std::path::Path,
    python: Option<&std::path::Path>,
    engines: &[Engine],
) -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    if let Some(python) = python.filter(|_| engines.contains(&Engine::OrtPython)) {
        return python_ort_library(python);
    }
    let out = Command::new(xtask)
        .args(["fetch-ort", "--quiet"])
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run xtask fetch-ort")?;
    if !out.status.success() {
        bail!("xtask fetch-ort failed ({})", out.status);
    }
    Ok(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
}

/// The shared library inside the `onnxruntime` Python package of `python`.
fn python_ort_library(python: &std::path::Path) -> anyhow::Result<PathBuf> {
    let out = Command::new(python)
        .args(["-c", "import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), 'capi'))"])
        .output()
        .with_context(|| format!("cannot run {}", python.display()))?;
    if !out.status.success() {
        bail!("{} cannot import onnxruntime: {}", python.display(), String::from_utf8_lossy(&out.stderr));
    }
    let capi = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let entries = std::fs::read_dir(&capi).with_context(|| format!("cannot read {}", capi.display()))?;
    let mut libraries: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            name.starts_with("libonnxruntime.so.")
                || (name.starts_with("libonnxruntime.") && name.ends_with(".dylib"))
                || name == "onnxruntime.dll"
        })
        .collect();
    libraries.sort();
    libraries.pop().with_context(|| format!("no ONNX Runtime library in {}", capi.display()))
}

fn run_step(command: &mut Command) -> anyhow::Result<()> {
    eprintln!("bench: {command:?}");
    let status = command.status().with_context(|| format!("cannot run {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}

/// Builds the Rust runners in release mode: ours in the workspace, fastembed's as a project of
/// its own under `target/peers`.
fn build(root: &std::path::Path, engines: &[Engine]) -> anyhow::Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    run_step(Command::new(&cargo).current_dir(root).args([
        "build",
        "--release",
        "-p",
        "benches",
        "--bin",
        "embed-runner",
    ]))?;
    if engines.contains(&Engine::EmbedCli) {
        run_step(Command::new(&cargo).current_dir(root).args([
            "build",
            "--release",
            "-p",
            "embed-cli",
            "--bin",
            "embed",
        ]))?;
    }
    if engines.contains(&Engine::Fastembed) {
        let manifest = root.join("benches").join("peers").join("fastembed-runner").join("Cargo.toml");
        run_step(
            Command::new(&cargo)
                .current_dir(root)
                .args(["build", "--release", "--locked", "--manifest-path"])
                .arg(&manifest)
                .arg("--target-dir")
                .arg(root.join("target").join("peers")),
        )?;
    }
    Ok(())
}

/// Each engine's least cosine with sentence-transformers over every round.
fn check_vectors(runs: &[(Engine, Vec<Run>)]) -> anyhow::Result<Vec<(Engine, f64)>> {
    let reference = runs
        .iter()
        .find(|(e, _)| *e == Engine::SentenceTransformers)
        .and_then(|(_, r)| r.last())
        .context("no sentence-transformers run to check against")?;
    let expected = reference.vectors.read()?;
    let mut out = Vec::new();
    for (engine, engine_runs) in runs {
        let mut least = f64::INFINITY;
        for run in engine_runs {
            let vectors = run.vectors.read()?;
            least =
                least.min(min_cosine(&vectors, &expected).with_context(|| {
                    format!("{} round {} against sentence-transformers", engine.name(), run.round + 1)
                })?);
        }
        out.push((*engine, least));
    }
    Ok(out)
}
