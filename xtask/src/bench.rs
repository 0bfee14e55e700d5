//! `cargo xtask bench`: the peer benchmark. Runs this project (library and CLI), fastembed-rs,
//! ONNX Runtime's Python API and sentence-transformers on the same corpus, model files and
//! thread count, each engine as its own process, interleaved over rounds; checks every
//! engine's vectors against sentence-transformers'; writes `docs/benchmarks.md` and
//! `docs/benchmarks.png`.
//!
//! The engines are runners under `benches/` (`embed-runner`, `benches/peers/*`) that share one
//! command line and write a JSON result and an `.npy` file of vectors; this module builds
//! them, starts them, measures each process's peak RSS, and reports. It knows nothing of how
//! an engine embeds.

mod chart;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};

use crate::{paths, venv};

/// Arguments of the task.
#[derive(clap::Args)]
pub struct Args {
    /// Model to benchmark (repeat for several); default all-MiniLM-L6-v2 and all-mpnet-base-v2.
    #[arg(long = "model", value_name = "NAME")]
    models: Vec<String>,
    /// Also compare this model's int8 variant (repeat for several): this project's library,
    /// fastembed-rs and ONNX Runtime's Python API on the same int8 file, vectors checked
    /// against sentence-transformers' fp32 ones.
    #[arg(long = "int8", value_name = "NAME")]
    int8_models: Vec<String>,
    /// Rounds: each engine runs once per round, in an order rotated from round to round.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,
    /// A smoke run: the first 256 texts, 20 single-text calls, one round; the report goes to
    /// target/bench/ instead of docs/.
    #[arg(long)]
    quick: bool,
    /// Intra-op threads of every engine.
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
}

/// The engines compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// This project's library (`benches/src/bin/embed-runner.rs`).
    #[value(name = "embed")]
    Embed,
    /// The same library with one single-threaded ONNX Runtime session per thread, batches run
    /// side by side (`INFERENCE_SESSIONS`, the CLI's layout for many texts).
    #[value(name = "embed-sessions")]
    EmbedSessions,
    /// This project's `embed` command, one process per corpus.
    #[value(name = "embed-cli")]
    EmbedCli,
    /// The `fastembed` crate with `ort-load-dynamic` (`benches/peers/fastembed-runner`).
    #[value(name = "fastembed-rs")]
    Fastembed,
    /// ONNX Runtime's Python API (`benches/peers/ort_runner.py`).
    #[value(name = "onnxruntime-python")]
    OrtPython,
    /// sentence-transformers on PyTorch (`benches/peers/st_runner.py`): the reference.
    #[value(name = "sentence-transformers")]
    SentenceTransformers,
}

/// This project's library in each thread layout: the engines the targets are checked for.
const LIBRARY_LAYOUTS: [Engine; 2] = [Engine::Embed, Engine::EmbedSessions];

const ALL_ENGINES: [Engine; 6] = [
    Engine::Embed,
    Engine::EmbedSessions,
    Engine::EmbedCli,
    Engine::Fastembed,
    Engine::OrtPython,
    Engine::SentenceTransformers,
];

impl Engine {
    /// The name in reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            Engine::Embed => "embed",
            Engine::EmbedSessions => "embed-sessions",
            Engine::EmbedCli => "embed-cli",
            Engine::Fastembed => "fastembed-rs",
            Engine::OrtPython => "onnxruntime-python",
            Engine::SentenceTransformers => "sentence-transformers",
        }
    }

    /// A peer: an engine that is not this project's.
    fn is_peer(self) -> bool {
        !matches!(self, Engine::Embed | Engine::EmbedSessions | Engine::EmbedCli)
    }
}

const DEFAULT_MODELS: [&str; 2] = ["all-MiniLM-L6-v2", "all-mpnet-base-v2"];
/// Least cosine between an fp32 engine's vector and sentence-transformers' for the same text.
const MIN_COSINE: f64 = 0.9999;
const QUICK_TEXTS: usize = 256;
const QUICK_SINGLE: usize = 20;

/// One engine's run in one round.
#[derive(Debug, Clone)]
pub struct Run {
    /// Which round.
    pub round: usize,
    /// Texts per second over the whole corpus.
    pub texts_per_s: f64,
    /// Single-text latency, median and 99th percentile (ms); none for the CLI.
    pub p50_ms: Option<f64>,
    /// See `p50_ms`.
    pub p99_ms: Option<f64>,
    /// Peak resident memory of the process (bytes), where the platform reports it.
    pub peak_rss: Option<u64>,
    /// Model load time (s).
    pub load_s: f64,
    /// Tokens of the corpus as the engine counted them (embed only).
    pub tokens: Option<u64>,
    /// The engine's versions, as it reports them.
    pub version: String,
    /// The vectors of the corpus.
    pub vectors: PathBuf,
    /// Where embed's corpus time went: tokenization, inference, pooling (s), and the
    /// positions run through the model, padding included (embed only).
    pub breakdown: Option<(f64, f64, f64, u64)>,
}

/// Everything measured for one model.
#[derive(Debug)]
pub struct ModelReport {
    /// The model, with ` int8` after the name for the int8 variant.
    pub model: String,
    /// The variant the engines ran (sentence-transformers always runs the fp32 weights).
    pub variant: &'static str,
    /// Runs of each engine, in engine order.
    pub runs: Vec<(Engine, Vec<Run>)>,
    /// Least cosine with sentence-transformers over every text and round, per engine.
    pub min_cosine: Vec<(Engine, f64)>,
    /// Matmul FLOPs per token (from `config.json`), if the model's shape is known.
    pub flops_per_token: Option<f64>,
}

/// Where the runners and results are.
struct Setup {
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
    let rounds = if args.quick { 1 } else { args.rounds as usize };
    let single = if args.quick { QUICK_SINGLE.min(args.single) } else { args.single };

    // Python (for its engines), ONNX Runtime, models, runners.
    let xtask = std::env::current_exe().context("cannot find the xtask executable")?;
    let python = if engines.iter().any(|e| matches!(e, Engine::OrtPython | Engine::SentenceTransformers)) {
        Some(venv::ensure()?)
    } else {
        None
    };
    // Every engine runs one ONNX Runtime build: the Python package's own library where the
    // Python engine runs, so that no engine is faster or slower for its build alone.
    let ort_library = match std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => match python.as_deref().filter(|_| engines.contains(&Engine::OrtPython)) {
            Some(python) => python_ort_library(python)?,
            None => {
                let out = Command::new(&xtask)
                    .args(["fetch-ort", "--quiet"])
                    .stderr(Stdio::inherit())
                    .output()
                    .context("cannot run xtask fetch-ort")?;
                if !out.status.success() {
                    bail!("xtask fetch-ort failed ({})", out.status);
                }
                PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
            }
        },
    };
    eprintln!("bench: ONNX Runtime library {}", ort_library.display());
    let mut fetch = Command::new(&xtask);
    fetch.arg("fetch-models");
    for model in &models {
        fetch.args(["--model", model]);
    }
    for model in &args.int8_models {
        if !models.contains(model) {
            fetch.args(["--model", model]);
        }
    }
    // The native engine runs the checkpoint; every ONNX Runtime engine the same ONNX file.
    fetch.args(["--backend", "all", "--variant", "fp32"]);
    if !args.int8_models.is_empty() {
        fetch.args(["--variant", "int8"]);
    }
    run_step(&mut fetch)?;
    build(&root, &engines)?;

    // The corpus: both sentences of each STS-B test row, in file order.
    let stsb = match std::env::var_os("EMBED_STSB_TEST").filter(|p| !p.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => root.join("data").join("stsb").join("stsb-en-test.csv"),
    };
    let mut corpus = read_stsb(&stsb)?;
    if corpus.is_empty() {
        bail!("{} holds no sentences", stsb.display());
    }
    if args.quick {
        corpus.truncate(QUICK_TEXTS);
    }
    let corpus_path = work.join("corpus.txt");
    std::fs::write(&corpus_path, corpus.join("\n") + "\n")
        .with_context(|| format!("cannot write {}", corpus_path.display()))?;
    let one_text = work.join("one-text.txt");
    std::fs::write(&one_text, format!("{}\n", corpus[0]))
        .with_context(|| format!("cannot write {}", one_text.display()))?;
    eprintln!(
        "bench: {} texts, {} threads, batches of {}, {rounds} round(s)",
        corpus.len(),
        args.threads,
        args.batch_size
    );

    let setup = Setup {
        root: root.clone(),
        work: work.clone(),
        models_dir: paths::models_dir(),
        ort_library,
        python,
        corpus: corpus_path,
        one_text,
        texts: corpus.len(),
        threads: args.threads,
        batch_size: args.batch_size,
        single,
    };

    let mut gemm = Vec::new();
    let mut reports = Vec::new();
    let sections = models.iter().map(|m| (m, "fp32")).chain(args.int8_models.iter().map(|m| (m, "int8")));
    for (model, variant) in sections {
        let name = if variant == "fp32" { model.clone() } else { format!("{model} {variant}") };
        // The CLI reads the same library; int8 compares the engines that run an int8 file.
        let engines: Vec<Engine> =
            engines.iter().copied().filter(|&e| variant == "fp32" || e != Engine::EmbedCli).collect();
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
                    run.peak_rss.map_or("-".into(), |v| format!("{:.0} MiB", mib(v))),
                    run.load_s
                );
                runs[index].1.push(run);
            }
            if let Some(python) = &setup.python {
                match gemm_peak(python, &setup) {
                    Ok(peak) => {
                        eprintln!("bench:   GEMM peak {peak:.1} GFLOP/s");
                        gemm.push(peak);
                    }
                    Err(err) => eprintln!("bench: warning: GEMM peak not measured: {err:#}"),
                }
            }
        }
        let min_cosine = check_vectors(&runs)?;
        // The physical limit is the fp32 GEMM peak's: it says nothing of int8 kernels.
        let flops_per_token = if variant == "fp32" { flops_per_token(&setup.models_dir.join(model)) } else { None };
        reports.push(ModelReport { model: name, variant, runs, min_cosine, flops_per_token });
    }

    let out_dir = if args.quick { work.clone() } else { root.join("docs") };
    let gemm_peak = median(&gemm);
    let command = format!(
        "cargo xtask bench{}{}{}",
        models.iter().map(|m| format!(" --model {m}")).collect::<String>(),
        args.int8_models.iter().map(|m| format!(" --int8 {m}")).collect::<String>(),
        if args.quick { " --quick".to_string() } else { format!(" --rounds {rounds}") }
    );
    let markdown = report_markdown(&reports, &setup, rounds, gemm_peak, &command);
    let md_path = out_dir.join("benchmarks.md");
    std::fs::write(&md_path, markdown).with_context(|| format!("cannot write {}", md_path.display()))?;
    let png_path = out_dir.join("benchmarks.png");
    chart::draw(&png_path, &reports, gemm_peak, setup.texts, setup.threads)
        .with_context(|| format!("cannot draw {}", png_path.display()))?;
    eprintln!("bench: wrote {} and {}", md_path.display(), png_path.display());

    let wrong: Vec<String> = reports
        .iter()
        .filter(|r| r.variant == "fp32")
        .flat_map(|r| {
            r.min_cosine
                .iter()
                .filter(|(_, c)| *c < MIN_COSINE)
                .map(move |(e, c)| format!("{} on {}: min cosine {c:.6}", e.name(), r.model))
        })
        .collect();
    if !wrong.is_empty() {
        bail!("vectors disagree with sentence-transformers (min cosine < {MIN_COSINE}): {}", wrong.join("; "));
    }
    Ok(())
}

/// The shared library inside the `onnxruntime` Python package of `python`.
fn python_ort_library(python: &Path) -> anyhow::Result<PathBuf> {
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
fn build(root: &Path, engines: &[Engine]) -> anyhow::Result<()> {
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

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Runs one engine once and reads back its result.
fn run_engine(
    setup: &Setup,
    engine: Engine,
    model: &str,
    variant: &str,
    dir: &Path,
    round: usize,
) -> anyhow::Result<Run> {
    // sentence-transformers runs the model's own fp32 weights: the reference for every variant.
    let variant = if engine == Engine::SentenceTransformers { "fp32" } else { variant };
    let stem = format!("{}-r{}", engine.name(), round + 1);
    let result = dir.join(format!("{stem}.json"));
    let vectors = dir.join(format!("{stem}.npy"));
    let _ = std::fs::remove_file(&result);
    let _ = std::fs::remove_file(&vectors);
    let common = |command: &mut Command| {
        command
            .args(["--model", model, "--models-dir"])
            .arg(&setup.models_dir)
            .args(["--variant", variant, "--threads", &setup.threads.to_string()])
            .args(["--batch-size", &setup.batch_size.to_string(), "--single", &setup.single.to_string()])
            .arg("--corpus")
            .arg(&setup.corpus)
            .arg("--vectors")
            .arg(&vectors)
            .arg("--result")
            .arg(&result)
            .current_dir(&setup.work)
            .stdout(Stdio::null());
    };
    let python = || setup.python.clone().context("the python venv was not prepared");
    let peers = setup.root.join("benches").join("peers");
    let mut command = match engine {
        Engine::EmbedCli => return run_cli(setup, model, &vectors, round),
        Engine::Embed | Engine::EmbedSessions => {
            let mut c = Command::new(setup.root.join("target").join("release").join(exe("embed-runner")));
            c.arg("--ort-library").arg(&setup.ort_library);
            if engine == Engine::EmbedSessions {
                c.args(["--sessions", &setup.threads.to_string()]);
            }
            c
        }
        Engine::Fastembed => {
            let mut c =
                Command::new(setup.root.join("target").join("peers").join("release").join(exe("fastembed-runner")));
            c.env("ORT_DYLIB_PATH", &setup.ort_library);
            c
        }
        Engine::OrtPython => {
            let mut c = Command::new(python()?);
            c.arg(peers.join("ort_runner.py"));
            c
        }
        Engine::SentenceTransformers => {
            let mut c = Command::new(python()?);
            c.arg(peers.join("st_runner.py")).env("HF_HUB_OFFLINE", "1").env("TRANSFORMERS_OFFLINE", "1");
            c
        }
    };
    command.env("PYTHONDONTWRITEBYTECODE", "1");
    common(&mut command);
    let measured = measure(&mut command)?;
    let text = std::fs::read_to_string(&result).with_context(|| format!("cannot read {}", result.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("invalid JSON in {}", result.display()))?;
    let number = |key: &str| json.get(key).and_then(serde_json::Value::as_f64);
    let texts = number("texts").context("result without texts")?;
    let batch_s = number("batch_s").context("result without batch_s")?;
    Ok(Run {
        round,
        texts_per_s: texts / batch_s,
        p50_ms: number("single_p50_ms"),
        p99_ms: number("single_p99_ms"),
        peak_rss: measured.peak_rss,
        load_s: number("load_s").context("result without load_s")?,
        tokens: json.get("tokens").and_then(serde_json::Value::as_u64),
        version: json.get("version").and_then(serde_json::Value::as_str).unwrap_or("").to_string(),
        vectors,
        breakdown: match (number("tokenize_s"), number("infer_s"), number("pool_s")) {
            (Some(t), Some(i), Some(p)) => {
                Some((t, i, p, json.get("padded_tokens").and_then(serde_json::Value::as_u64).unwrap_or(0)))
            }
            _ => None,
        },
    })
}

/// The CLI as a user runs it: one process for one text (its wall time is the load time), one
/// for the corpus; texts/s is the corpus over the difference. No single-text latency: each
/// call of the CLI is a new process.
fn run_cli(setup: &Setup, model: &str, vectors: &Path, round: usize) -> anyhow::Result<Run> {
    let embed = setup.root.join("target").join("release").join(exe("embed"));
    let jsonl = vectors.with_extension("jsonl");
    let cli = |input: &Path, output: &Path| {
        let mut c = Command::new(&embed);
        c.args(["embed", "--format", "jsonl", "--input"])
            .arg(input)
            .arg("--output")
            .arg(output)
            .current_dir(&setup.work)
            .env("DEFAULT_MODEL", model)
            .env("MODEL_CACHE_DIR", &setup.models_dir)
            .env("ONNXRUNTIME_LIB_PATH", &setup.ort_library)
            .env("INTRA_OP_THREADS", setup.threads.to_string())
            .env("BATCH_SIZE", setup.batch_size.to_string())
            .env("EMBEDDING_CACHE_SIZE", "0")
            .env("LOG_LEVEL", "warn");
        for var in ["INTER_OP_THREADS", "MAX_SEQUENCE_LENGTH", "PRELOAD_MODELS", "MODEL_MEMORY_LIMIT", "ENABLE_METAL"] {
            c.env_remove(var);
        }
        c
    };
    let one = measure(&mut cli(&setup.one_text, &setup.work.join("one-text.jsonl")))?;
    let all = measure(&mut cli(&setup.corpus, &jsonl))?;
    let rows = read_jsonl_vectors(&jsonl)?;
    if rows.len() != setup.texts {
        bail!("the CLI wrote {} vectors for {} texts", rows.len(), setup.texts);
    }
    write_npy(vectors, &rows)?;
    let _ = std::fs::remove_file(&jsonl);
    let corpus_s = (all.wall_s - one.wall_s).max(1e-9);
    Ok(Run {
        round,
        texts_per_s: setup.texts as f64 / corpus_s,
        p50_ms: None,
        p99_ms: None,
        peak_rss: all.peak_rss,
        load_s: one.wall_s,
        tokens: None,
        version: "embed CLI (same library)".to_string(),
        vectors: vectors.to_path_buf(),
        breakdown: None,
    })
}

/// A finished process: its wall time and peak resident memory.
struct Measured {
    wall_s: f64,
    peak_rss: Option<u64>,
}

/// Runs `command` to completion; fails on a non-zero exit.
fn measure(command: &mut Command) -> anyhow::Result<Measured> {
    let started = Instant::now();
    let child = command.spawn().with_context(|| format!("cannot start {command:?}"))?;
    let (success, peak_rss, status) = wait_with_rusage(child)?;
    let wall_s = started.elapsed().as_secs_f64();
    if !success {
        bail!("{command:?} failed ({status})");
    }
    Ok(Measured { wall_s, peak_rss })
}

/// Waits for `child` and reads its peak RSS from the kernel's accounting (`wait4`).
#[cfg(unix)]
fn wait_with_rusage(child: std::process::Child) -> anyhow::Result<(bool, Option<u64>, String)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: `pid` is our child, not yet reaped (std's `Child` is never waited on here);
        // `status` and `usage` are valid for writes.
        let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if reaped == pid {
            break;
        }
        let err = std::io::Error::last_os_error();
        if err.kind() != std::io::ErrorKind::Interrupted {
            return Err(err).context("wait4 failed");
        }
    }
    drop(child);
    // Linux reports KiB, macOS bytes.
    let unit: u64 = if cfg!(target_os = "macos") { 1 } else { 1024 };
    let peak = u64::try_from(usage.ru_maxrss).ok().map(|v| v * unit);
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    let described = if libc::WIFEXITED(status) {
        format!("exit status {}", libc::WEXITSTATUS(status))
    } else {
        format!("wait status {status}")
    };
    Ok((success, peak, described))
}

/// Waits for `child`; no peak RSS on this platform.
#[cfg(not(unix))]
fn wait_with_rusage(mut child: std::process::Child) -> anyhow::Result<(bool, Option<u64>, String)> {
    let status = child.wait().context("cannot wait for the runner")?;
    Ok((status.success(), None, status.to_string()))
}

/// ONNX Runtime's fp32 GEMM peak on this machine (GFLOP/s), from `benches/peers/gemm_peak.py`.
fn gemm_peak(python: &Path, setup: &Setup) -> anyhow::Result<f64> {
    let out = Command::new(python)
        .arg(setup.root.join("benches").join("peers").join("gemm_peak.py"))
        .args(["--threads", &setup.threads.to_string()])
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run gemm_peak.py")?;
    if !out.status.success() {
        bail!("gemm_peak.py failed ({})", out.status);
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).context("gemm_peak.py printed invalid JSON")?;
    json.get("peak_gflops").and_then(serde_json::Value::as_f64).context("gemm_peak.py printed no peak_gflops")
}

/// The STS-B test file's sentences: both columns of each row, in file order (RFC 4180 quoting).
fn read_stsb(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    for (line_no, record) in parse_csv(&text).into_iter().enumerate() {
        if record.iter().all(String::is_empty) {
            continue;
        }
        if record.len() < 2 {
            bail!("{}: record {} has {} fields, expected 3", path.display(), line_no + 1, record.len());
        }
        for sentence in &record[..2] {
            if sentence.contains('\n') {
                bail!("{}: record {} holds a line break", path.display(), line_no + 1);
            }
            out.push(sentence.clone());
        }
    }
    Ok(out)
}

/// Parses CSV: comma-separated fields, double quotes around fields holding commas, quotes or
/// line breaks, `""` for a quote inside one.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    records
}

/// Reads the `"embedding"` of each line of the CLI's JSON Lines output, by `"index"`.
fn read_jsonl_vectors(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut rows: Vec<(u64, Vec<f32>)> = Vec::new();
    for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let value: serde_json::Value =
            serde_json::from_str(line).with_context(|| format!("{}: line {}: invalid JSON", path.display(), i + 1))?;
        let index = value.get("index").and_then(serde_json::Value::as_u64).unwrap_or(i as u64);
        let vector = value
            .get("embedding")
            .and_then(serde_json::Value::as_array)
            .with_context(|| format!("{}: line {}: no embedding", path.display(), i + 1))?
            .iter()
            .map(|v| v.as_f64().map(|f| f as f32))
            .collect::<Option<Vec<f32>>>()
            .with_context(|| format!("{}: line {}: a non-number in the embedding", path.display(), i + 1))?;
        rows.push((index, vector));
    }
    rows.sort_by_key(|(index, _)| *index);
    Ok(rows.into_iter().map(|(_, v)| v).collect())
}

/// Writes `rows` as a 2-D little-endian f32 `.npy` file.
fn write_npy(path: &Path, rows: &[Vec<f32>]) -> anyhow::Result<()> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", rows.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows.len() * dim * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&u16::try_from(header.len()).context("npy header too long")?.to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in rows.iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// Reads a 2-D little-endian f32 `.npy` file (format 1.0 or 2.0, C order) as rows.
fn read_npy(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let bad = || anyhow::anyhow!("{}: not a 2-D little-endian f32 .npy file", path.display());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(bad());
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(bad()),
    };
    let header = std::str::from_utf8(bytes.get(start..start + header_len).ok_or_else(bad)?).map_err(|_| bad())?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(bad());
    }
    let shape = header.split("'shape':").nth(1).ok_or_else(bad)?;
    let inside = shape.split('(').nth(1).and_then(|s| s.split(')').next()).ok_or_else(bad)?;
    let dims: Vec<usize> =
        inside.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
    let [rows, cols] = dims[..] else { return Err(bad()) };
    let data = &bytes[start + header_len..];
    if data.len() != rows * cols * 4 {
        return Err(bad());
    }
    Ok(data
        .chunks_exact(cols.max(1) * 4)
        .take(rows)
        .map(|row| row.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        .collect())
}

/// The least cosine between two sets of vectors, row by row.
fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> anyhow::Result<f64> {
    if a.len() != b.len() {
        bail!("{} vectors against {}", a.len(), b.len());
    }
    let mut least = f64::INFINITY;
    for (x, y) in a.iter().zip(b) {
        if x.len() != y.len() {
            bail!("vectors of width {} against {}", x.len(), y.len());
        }
        let dot: f64 = x.iter().zip(y).map(|(p, q)| f64::from(*p) * f64::from(*q)).sum();
        let nx: f64 = x.iter().map(|p| f64::from(*p).powi(2)).sum::<f64>().sqrt();
        let ny: f64 = y.iter().map(|q| f64::from(*q).powi(2)).sum::<f64>().sqrt();
        least = least.min(dot / (nx * ny).max(f64::MIN_POSITIVE));
    }
    Ok(least)
}

/// Each engine's least cosine with sentence-transformers over every round.
fn check_vectors(runs: &[(Engine, Vec<Run>)]) -> anyhow::Result<Vec<(Engine, f64)>> {
    let reference = runs
        .iter()
        .find(|(e, _)| *e == Engine::SentenceTransformers)
        .and_then(|(_, r)| r.last())
        .context("no sentence-transformers run to check against")?;
    let expected = read_npy(&reference.vectors)?;
    let mut out = Vec::new();
    for (engine, engine_runs) in runs {
        let mut least = f64::INFINITY;
        for run in engine_runs {
            let vectors = read_npy(&run.vectors)?;
            least =
                least.min(min_cosine(&vectors, &expected).with_context(|| {
                    format!("{} round {} against sentence-transformers", engine.name(), run.round + 1)
                })?);
        }
        out.push((*engine, least));
    }
    Ok(out)
}

/// Matmul FLOPs per token of a BERT-like encoder from its `config.json`: per layer the four
/// attention projections (4·h²) and the feed-forward pair (2·h·ff), two FLOPs per multiply-add.
/// Attention scores, which grow with the text's length, are left out (small for short texts).
fn flops_per_token(model_dir: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(model_dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let get = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
    let (h, ff, layers) = (get("hidden_size")?, get("intermediate_size")?, get("num_hidden_layers")?);
    Some(2.0 * layers * (4.0 * h * h + 2.0 * h * ff))
}

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    Some(if v.len().is_multiple_of(2) { (v[mid - 1] + v[mid]) / 2.0 } else { v[mid] })
}

/// Bytes in MiB.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A metric of a run.
#[derive(Clone, Copy)]
enum Metric {
    TextsPerS,
    P50,
    P99,
    Rss,
    Load,
}

impl Metric {
    fn of(self, run: &Run) -> Option<f64> {
        match self {
            Metric::TextsPerS => Some(run.texts_per_s),
            Metric::P50 => run.p50_ms,
            Metric::P99 => run.p99_ms,
            Metric::Rss => run.peak_rss.map(mib),
            Metric::Load => Some(run.load_s),
        }
    }
}

impl ModelReport {
    fn runs_of(&self, engine: Engine) -> &[Run] {
        self.runs.iter().find(|(e, _)| *e == engine).map_or(&[], |(_, r)| r.as_slice())
    }

    /// The median of a metric over an engine's rounds.
    fn median(&self, engine: Engine, metric: Metric) -> Option<f64> {
        median(&self.runs_of(engine).iter().filter_map(|r| metric.of(r)).collect::<Vec<_>>())
    }

    /// The least and greatest value of a metric over an engine's rounds.
    fn range(&self, engine: Engine, metric: Metric) -> Option<(f64, f64)> {
        let values: Vec<f64> = self.runs_of(engine).iter().filter_map(|r| metric.of(r)).collect();
        let lo = values.iter().copied().reduce(f64::min)?;
        let hi = values.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// The median over rounds of `engine`'s metric divided by `base`'s in the same round:
    /// interleaved runs compared pairwise, as the machine's speed drifts between rounds.
    fn ratio(&self, engine: Engine, base: Engine, metric: Metric) -> Option<f64> {
        let base_runs = self.runs_of(base);
        let ratios: Vec<f64> = self
            .runs_of(engine)
            .iter()
            .filter_map(|run| {
                let other = base_runs.iter().find(|b| b.round == run.round)?;
                Some(metric.of(run)? / metric.of(other)?)
            })
            .collect();
        median(&ratios)
    }

    /// The median over rounds of embed's metric divided by the best peer's in that round
    /// (`higher_is_better` for throughput).
    fn ratio_to_best_peer(&self, metric: Metric, higher_is_better: bool) -> Option<(f64, Engine)> {
        let mut ratios = Vec::new();
        let mut best_counts: Vec<(Engine, usize)> = Vec::new();
        for run in self.runs_of(Engine::Embed) {
            let ours = metric.of(run)?;
            let best = self
                .runs
                .iter()
                .filter(|(e, _)| e.is_peer())
                .filter_map(|(e, runs)| {
                    runs.iter().find(|r| r.round == run.round).and_then(|r| metric.of(r)).map(|v| (*e, v))
                })
                .reduce(|a, b| if (b.1 > a.1) == higher_is_better { b } else { a })?;
            ratios.push(ours / best.1);
            match best_counts.iter_mut().find(|(e, _)| *e == best.0) {
                Some((_, n)) => *n += 1,
                None => best_counts.push((best.0, 1)),
            }
        }
        let best = best_counts.iter().max_by_key(|(_, n)| *n)?.0;
        Some((median(&ratios)?, best))
    }

    fn corpus_tokens(&self) -> Option<u64> {
        self.runs_of(Engine::Embed).iter().find_map(|r| r.tokens)
    }

    /// The throughput bound by matmul FLOPs at the GEMM peak (texts/s).
    pub fn physical_limit(&self, gemm_gflops: Option<f64>, texts: usize) -> Option<f64> {
        let seconds = self.corpus_tokens()? as f64 * self.flops_per_token? / (gemm_gflops? * 1e9);
        Some(texts as f64 / seconds)
    }
}

fn fmt_opt(value: Option<f64>, digits: usize) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.digits$}"))
}

fn fmt_ratio(value: Option<f64>) -> String {
    value.map_or_else(|| "—".to_string(), |v| format!("{v:.2}×"))
}

fn check(ok: bool) -> &'static str {
    if ok { "met" } else { "**not met**" }
}

/// The CPU's model name, from `/proc/cpuinfo` where there is one.
fn cpu_name() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(str::trim)
                .map(String::from)
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Today's date (UTC) as YYYY-MM-DD.
fn today() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Howard Hinnant's civil_from_days.
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

fn report_markdown(
    reports: &[ModelReport],
    setup: &Setup,
    rounds: usize,
    gemm_peak: Option<f64>,
    command: &str,
) -> String {
    let mut md = String::new();
    let threads = setup.threads;
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!("Written by `{command}` on {}; rerun it rather than editing this file.\n\n", today()));
    md.push_str(&format!(
        "Machine: {}, {} logical CPUs, {} {}. Every engine runs with {threads} intra-op threads, \
         batches of {} texts, the same ONNX file of the model's folder (fp32, or int8 in \
         the int8 sections, where sentence-transformers still runs fp32 as the reference), as its \
         own process; \
         the engines run interleaved, {rounds} round(s), their order rotated each round. \
         Figures are medians over rounds; ratios are medians of per-round ratios (the machine's \
         speed drifts by up to 16% between runs, so only runs side by side are compared).\n\n",
        cpu_name(),
        std::thread::available_parallelism().map_or(0, usize::from),
        std::env::consts::OS,
        std::env::consts::ARCH,
        setup.batch_size
    ));
    md.push_str(&format!(
        "Corpus: the {} sentences of the STS-B test split (`stsb-en-test.csv`, both sentences of \
         each row, in file order). Single-text latency: {} calls, one text each, cycling through \
         the corpus's first texts, after the same warm-up for every engine.\n\n",
        setup.texts, setup.single
    ));
    md.push_str(&format!(
        "ONNX Runtime: every engine but sentence-transformers loads the same library, `{}` (the \
         `onnxruntime` Python package's own where its engine runs, else `cargo xtask fetch-ort`'s).\n\n",
        setup.ort_library.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    ));
    md.push_str("![throughput, latency, memory and load time of each engine](benchmarks.png)\n\n");
    for report in reports {
        md.push_str(&format!("## {}\n\n", report.model));
        md.push_str(
            "| engine | texts/s (range) | single p50 ms | single p99 ms | peak RSS MiB | load s | min cosine vs ST |\n",
        );
        md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
        for (engine, _) in &report.runs {
            let e = *engine;
            let range =
                report.range(e, Metric::TextsPerS).map_or_else(String::new, |(lo, hi)| format!(" ({lo:.0}–{hi:.0})"));
            let cosine = report.min_cosine.iter().find(|(x, _)| *x == e).map(|(_, c)| *c);
            let cosine = match (e, cosine) {
                (Engine::SentenceTransformers, _) if report.variant == "fp32" => "reference".to_string(),
                (Engine::SentenceTransformers, _) => "reference (fp32)".to_string(),
                (_, Some(c)) if c >= MIN_COSINE || report.variant != "fp32" => format!("{c:.6}"),
                (_, Some(c)) => format!("**{c:.6}** (< {MIN_COSINE})"),
                (_, None) => "—".to_string(),
            };
            md.push_str(&format!(
                "| {} | {}{range} | {} | {} | {} | {} | {cosine} |\n",
                if e.is_peer() { e.name().to_string() } else { format!("**{}**", e.name()) },
                fmt_opt(report.median(e, Metric::TextsPerS), 0),
                fmt_opt(report.median(e, Metric::P50), 2),
                fmt_opt(report.median(e, Metric::P99), 2),
                fmt_opt(report.median(e, Metric::Rss), 0),
                fmt_opt(report.median(e, Metric::Load), 2),
            ));
        }
        md.push_str(
            "\nEach engine against embed (engine ÷ embed, per round, median): above 1 is faster throughput, \
                     or slower latency, more memory, longer load.\n\n",
        );
        md.push_str("| engine | texts/s | single p50 | single p99 | peak RSS | load |\n");
        md.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for (engine, _) in report.runs.iter().filter(|(e, _)| *e != Engine::Embed) {
            let e = *engine;
            md.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                e.name(),
                fmt_ratio(report.ratio(e, Engine::Embed, Metric::TextsPerS)),
                fmt_ratio(report.ratio(e, Engine::Embed, Metric::P50)),
                fmt_ratio(report.ratio(e, Engine::Embed, Metric::P99)),
                fmt_ratio(report.ratio(e, Engine::Embed, Metric::Rss)),
                fmt_ratio(report.ratio(e, Engine::Embed, Metric::Load)),
            ));
        }
        md.push('\n');

        let limit = report.physical_limit(gemm_peak, setup.texts);
        if let (Some(fpt), Some(tokens), Some(peak), Some(limit)) =
            (report.flops_per_token, report.corpus_tokens(), gemm_peak, limit)
        {
            let reached: Vec<String> = LIBRARY_LAYOUTS
                .into_iter()
                .filter_map(|e| {
                    let ours = report.median(e, Metric::TextsPerS)?;
                    Some(format!("{} reaches {ours:.0} texts/s, {:.0}% of it", e.name(), 100.0 * ours / limit))
                })
                .collect();
            md.push_str(&format!(
                "**Physical limit.** {:.1} MFLOP of matmuls per token × {tokens} tokens (unpadded, \
                 special tokens included) = {:.1} GFLOP for the corpus; at the fp32 GEMM peak that \
                 ONNX Runtime reaches here, {peak:.0} GFLOP/s on {threads} threads \
                 (`benches/peers/gemm_peak.py`), that is {:.2} s, **{limit:.0} texts/s**. \
                 {}.\n\n",
                fpt / 1e6,
                tokens as f64 * fpt / 1e9,
                tokens as f64 * fpt / (peak * 1e9),
                reached.join("; ")
            ));
        }

        let embed_runs = report.runs_of(Engine::Embed);
        let share = |f: fn(&Run) -> Option<f64>| median(&embed_runs.iter().filter_map(f).collect::<Vec<_>>());
        if let (Some(total), Some(tokenize), Some(infer), Some(pool), Some(tokens)) = (
            median(&embed_runs.iter().map(|r| setup.texts as f64 / r.texts_per_s).collect::<Vec<_>>()),
            share(|r| r.breakdown.map(|b| b.0)),
            share(|r| r.breakdown.map(|b| b.1)),
            share(|r| r.breakdown.map(|b| b.2)),
            report.corpus_tokens(),
        ) {
            let padded = embed_runs.iter().find_map(|r| r.breakdown.map(|b| b.3)).unwrap_or(0);
            md.push_str(&format!(
                "**Where embed's corpus time goes** ({total:.2} s): tokenization {tokenize:.2} s, ONNX Runtime \
                 {infer:.2} s, pooling and normalization {pool:.3} s, the rest (sorting, packing, \
                 results) {:.2} s; {padded} positions run for {tokens} tokens ({:.1}% padding).\n\n",
                (total - tokenize - infer - pool).max(0.0),
                if padded > 0 { 100.0 * (1.0 - tokens as f64 / padded as f64) } else { 0.0 }
            ));
        }

        md.push_str("Targets:\n\n");
        for engine in LIBRARY_LAYOUTS {
            if report.variant == "int8"
                && let Some(ratio) = report.ratio(engine, Engine::OrtPython, Metric::TextsPerS)
            {
                md.push_str(&format!(
                    "- int8 texts/s ≥ 1.2× onnxruntime-python's on the same int8 file, {}: {ratio:.2}× — {}\n",
                    engine.name(),
                    check(ratio >= 1.2)
                ));
            }
        }
        if let Some(limit) = limit {
            for engine in LIBRARY_LAYOUTS {
                if let Some(ours) = report.median(engine, Metric::TextsPerS) {
                    md.push_str(&format!(
                        "- throughput ≥ 80% of the physical limit, {}: {:.0}% — {}\n",
                        engine.name(),
                        100.0 * ours / limit,
                        check(ours >= 0.8 * limit)
                    ));
                }
            }
        }
        let targets: [(&str, Metric, f64); 3] = [
            ("single-text p50 ≤ 0.8× the best peer's", Metric::P50, 0.8),
            ("peak RSS ≤ the best peer's", Metric::Rss, 1.0),
            ("load time ≤ the best peer's", Metric::Load, 1.0),
        ];
        for (label, metric, bound) in targets {
            if let Some((ratio, best)) = report.ratio_to_best_peer(metric, false) {
                md.push_str(&format!("- {label}: {ratio:.2}× {} — {}\n", best.name(), check(ratio <= bound)));
            }
        }
        md.push('\n');
    }

    md.push_str("## The engines\n\n");
    let mut versions: Vec<(Engine, String)> = Vec::new();
    for report in reports {
        for (engine, runs) in &report.runs {
            if let Some(run) = runs.first()
                && !versions.iter().any(|(e, _)| e == engine)
            {
                versions.push((*engine, run.version.clone()));
            }
        }
    }
    let describe = |engine: Engine| match engine {
        Engine::Embed => {
            "this project's library: `embed_core::Service` with its defaults \
                          (`benches/src/bin/embed-runner.rs`); the corpus in one `embed_batch` call."
        }
        Engine::EmbedSessions => {
            "the same library and call with `INFERENCE_SESSIONS` set to the thread count: one \
                               single-threaded ONNX Runtime session per thread (sharing pre-packed weights), \
                               batches run side by side; the layout the CLI picks for more than one batch of texts."
        }
        Engine::EmbedCli => {
            "the `embed` command: `embed embed --input corpus.txt --format jsonl --output …`, one process; \
                             load is the wall time of a one-text run (process start included), texts/s the corpus \
                             over the difference of the two runs; no single-text latency, as each call is a process."
        }
        Engine::Fastembed => {
            "the `fastembed` crate with `ort-load-dynamic` on the same ONNX Runtime library, \
                              the model given through `UserDefinedEmbeddingModel` (`benches/peers/fastembed-runner`); \
                              the corpus sorted by length (longest first) by the runner before the call and the \
                              vectors put back in order after it, inside the timed region, as a careful caller does."
        }
        Engine::OrtPython => {
            "ONNX Runtime's Python API on the same ONNX file with `tokenizers`, texts sorted by \
                              length, numpy pooling (`benches/peers/ort_runner.py`)."
        }
        Engine::SentenceTransformers => {
            "sentence-transformers on PyTorch with the model's own weights \
                                         (`benches/peers/st_runner.py`): the reference for the vectors. \
                                         Its load time includes importing torch."
        }
    };
    for (engine, version) in versions {
        md.push_str(&format!("- **{}** ({version}): {}\n", engine.name(), describe(engine)));
    }
    md.push_str(&format!(
        "\nPeak RSS is the kernel's high-water mark of each process (`wait4`), load time the engine's \
         own measure from the first import or call to a model ready to embed. Every fp32 engine's \
         vectors must reach cosine ≥ {MIN_COSINE} with sentence-transformers' for every text, or the \
         command fails.\n\n\
         Reproduce: `cargo xtask fetch-ort && cargo xtask bench` (`--model NAME`, `--rounds N`, \
         `--engine NAME`, `--quick` for a smoke run written to `target/bench/`).\n"
    ));
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_keep_quoted_commas_and_quotes() {
        let text = "a,b,1.0\n\"x, y\",\"say \"\"hi\"\"\",2\r\nlast,row,3";
        assert_eq!(parse_csv(text), [vec!["a", "b", "1.0"], vec!["x, y", "say \"hi\"", "2"], vec!["last", "row", "3"]]);
    }

    #[test]
    fn npy_round_trips() {
        let dir = std::env::temp_dir().join(format!("xtask-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v.npy");
        let rows = vec![vec![1.0f32, -2.5, 3.0], vec![0.0, 0.5, 7.25]];
        write_npy(&path, &rows).unwrap();
        assert_eq!(read_npy(&path).unwrap(), rows);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn minilm_and_mpnet_flops_per_token() {
        let dir = std::env::temp_dir().join(format!("xtask-flops-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let config = dir.join("config.json");
        std::fs::write(&config, r#"{"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}"#).unwrap();
        assert!((flops_per_token(&dir).unwrap() / 1e6 - 21.2).abs() < 0.05);
        std::fs::write(&config, r#"{"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}"#).unwrap();
        assert!((flops_per_token(&dir).unwrap() / 1e6 - 169.9).abs() < 0.05);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
