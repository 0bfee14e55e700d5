//! The engines compared, and how each one runs: a runner under `benches/` (`embed-runner`,
//! `benches/peers/*`) that takes one command line and writes a JSON result and an `.npy` file
//! of vectors, or the `embed` command itself. Knows nothing of reports.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::Setup;
use super::process::measure;
use super::vectors::Vectors;

/// The engines compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// This project's library on its native engine, with its defaults
    /// (`benches/src/bin/embed-runner.rs`): the default for fp32 models.
    #[value(name = "embed-native")]
    EmbedNative,
    /// The same library on ONNX Runtime, one session with every thread.
    #[value(name = "embed-onnx")]
    EmbedOnnx,
    /// The same library on ONNX Runtime with one single-threaded session per thread, batches
    /// run side by side (`INFERENCE_SESSIONS`).
    #[value(name = "embed-onnx-sessions")]
    EmbedOnnxSessions,
    /// In the int8 sections: the library on ONNX Runtime on the fp32 file, what int8 is
    /// compared with (the same engine, in the same run).
    #[value(name = "embed-onnx-fp32")]
    EmbedOnnxFp32,
    /// This project's `embed` command, one process per corpus, its default engine.
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

/// Every engine, in report order.
pub const ALL_ENGINES: [Engine; 8] = [
    Engine::EmbedNative,
    Engine::EmbedOnnx,
    Engine::EmbedOnnxSessions,
    Engine::EmbedOnnxFp32,
    Engine::EmbedCli,
    Engine::Fastembed,
    Engine::OrtPython,
    Engine::SentenceTransformers,
];

/// The engine every other is compared with, and the targets are checked for.
pub const OURS: Engine = Engine::EmbedNative;

impl Engine {
    /// The name in reports and file names.
    pub fn name(self) -> &'static str {
        match self {
            Engine::EmbedNative => "embed-native",
            Engine::EmbedOnnx => "embed-onnx",
            Engine::EmbedOnnxSessions => "embed-onnx-sessions",
            Engine::EmbedOnnxFp32 => "embed-onnx-fp32",
            Engine::EmbedCli => "embed-cli",
            Engine::Fastembed => "fastembed-rs",
            Engine::OrtPython => "onnxruntime-python",
            Engine::SentenceTransformers => "sentence-transformers",
        }
    }

    /// A peer: an engine that is not this project's.
    pub fn is_peer(self) -> bool {
        matches!(self, Engine::Fastembed | Engine::OrtPython | Engine::SentenceTransformers)
    }

    /// Whether it runs in a section of `variant`. The int8 sections run the engines that run
    /// the int8 ONNX file, and beside them, on fp32 weights: the same library on ONNX Runtime
    /// (int8's own baseline), the native engine (the default engine for fp32) and the
    /// reference. The CLI runs only the fp32 sections, and the fp32 baseline only the int8 ones.
    pub fn runs_in(self, variant: &str) -> bool {
        match self {
            Engine::EmbedCli => variant == "fp32",
            Engine::EmbedOnnxFp32 => variant != "fp32",
            _ => true,
        }
    }

    /// The variant it runs in a section of `variant`: the section's, or fp32 for the engines
    /// that are there as fp32 baselines.
    pub fn variant(self, variant: &str) -> &str {
        match self {
            Engine::EmbedNative | Engine::EmbedOnnxFp32 | Engine::SentenceTransformers => "fp32",
            _ => variant,
        }
    }

    /// What it is, for the report.
    pub fn describe(self) -> &'static str {
        match self {
            Engine::EmbedNative => {
                "this project's library on its native engine (`embed_core::Service` with its defaults but the \
                 embedding cache off, as the peers have none; `benches/src/bin/embed-runner.rs`): `model.safetensors`, packed batches, batches side by side \
                 (one per thread) for the corpus, one batch on every thread for a single text."
            }
            Engine::EmbedOnnx => {
                "the same library and call on ONNX Runtime (`--backend onnx`), one session with every thread."
            }
            Engine::EmbedOnnxSessions => {
                "the same library on ONNX Runtime with `INFERENCE_SESSIONS` set to the thread count: one \
                 single-threaded session per thread (sharing pre-packed weights), batches run side by side."
            }
            Engine::EmbedOnnxFp32 => {
                "in the int8 sections, the library on ONNX Runtime (`--backend onnx`) on the model's fp32 \
                 file: the baseline int8 is judged against, the same engine in the same run."
            }
            Engine::EmbedCli => {
                "the `embed` command with its defaults: `embed embed --input corpus.txt --format jsonl --output …`, \
                 one process; load is the wall time of a one-text run (process start included), texts/s the \
                 corpus over the difference of the two runs; no single-text latency, as each call is a process."
            }
            Engine::Fastembed => {
                "the `fastembed` crate with `ort-load-dynamic` on the same ONNX Runtime library, the model given \
                 through `UserDefinedEmbeddingModel` (`benches/peers/fastembed-runner`); the corpus sorted by \
                 length (longest first) by the runner before the call and the vectors put back in order after \
                 it, inside the timed region, as a careful caller does."
            }
            Engine::OrtPython => {
                "ONNX Runtime's Python API on the same ONNX file with `tokenizers`, texts sorted by length, \
                 numpy pooling (`benches/peers/ort_runner.py`)."
            }
            Engine::SentenceTransformers => {
                "sentence-transformers on PyTorch with the model's own weights (`benches/peers/st_runner.py`): \
                 the reference for the vectors. Its load time includes importing torch."
            }
        }
    }
}

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
    /// Tokens of the corpus as the engine counted them, and the sum of each text's tokens
    /// squared (attention's work grows with it); this project's library only.
    pub tokens: Option<(u64, u64)>,
    /// The engine's versions, as it reports them.
    pub version: String,
    /// The vectors of the corpus.
    pub vectors: Vectors,
    /// Where the library's corpus time went: tokenization, inference, pooling (s), and the
    /// positions run through the model, padding included.
    pub breakdown: Option<(f64, f64, f64, u64)>,
}

fn exe(name: &str) -> String {
    format!("{name}{}", std::env::consts::EXE_SUFFIX)
}

/// Runs `engine` once on `model`'s `variant` and reads back its result.
pub fn run_engine(
    setup: &Setup,
    engine: Engine,
    model: &str,
    variant: &str,
    dir: &Path,
    round: usize,
) -> anyhow::Result<Run> {
    // sentence-transformers runs the model's own fp32 weights: the reference for every variant.
    let variant = engine.variant(variant);
    let stem = format!("{}-r{}", engine.name(), round + 1);
    let result = dir.join(format!("{stem}.json"));
    let vectors = dir.join(format!("{stem}.npy"));
    let _ = std::fs::remove_file(&result);
    let _ = std::fs::remove_file(&vectors);
    let python = || setup.python.clone().context("the python venv was not prepared");
    let peers = setup.root.join("benches").join("peers");
    let runner = || {
        let mut c = Command::new(setup.root.join("target").join("release").join(exe("embed-runner")));
        c.arg("--ort-library").arg(&setup.ort_library);
        c
    };
    let mut command = match engine {
        Engine::EmbedCli => return run_cli(setup, model, &vectors.with_extension("jsonl"), round),
        Engine::EmbedNative => {
            let mut c = runner();
            c.args(["--backend", "native"]);
            c
        }
        Engine::EmbedOnnx | Engine::EmbedOnnxFp32 => {
            let mut c = runner();
            c.args(["--backend", "onnx"]);
            c
        }
        Engine::EmbedOnnxSessions => {
            let mut c = runner();
            c.args(["--backend", "onnx", "--sessions", &setup.threads.to_string()]);
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
    command
        .env("PYTHONDONTWRITEBYTECODE", "1")
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
    let measured = measure(&mut command)?;
    let text = std::fs::read_to_string(&result).with_context(|| format!("cannot read {}", result.display()))?;
    let json: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("invalid JSON in {}", result.display()))?;
    let number = |key: &str| json.get(key).and_then(serde_json::Value::as_f64);
    let count = |key: &str| json.get(key).and_then(serde_json::Value::as_u64);
    let texts = number("texts").context("result without texts")?;
    let batch_s = number("batch_s").context("result without batch_s")?;
    // Every text of the corpus must have been computed: fewer positions run than the corpus
    // has tokens means some were answered from somewhere else (an embedding cache).
    if let (Some(positions), Some(tokens)) = (count("padded_tokens"), count("tokens"))
        && positions < tokens
    {
        anyhow::bail!(
            "the runner ran {positions} positions for a corpus of {tokens} tokens: texts were not computed \
             (is the embedding cache on?)"
        );
    }
    Ok(Run {
        round,
        texts_per_s: texts / batch_s,
        p50_ms: number("single_p50_ms"),
        p99_ms: number("single_p99_ms"),
        peak_rss: measured.peak_rss,
        load_s: number("load_s").context("result without load_s")?,
        tokens: count("tokens").zip(count("tokens_squared")),
        version: json.get("version").and_then(serde_json::Value::as_str).unwrap_or("").to_string(),
        vectors: Vectors::Npy(vectors),
        breakdown: match (number("tokenize_s"), number("infer_s"), number("pool_s")) {
            (Some(t), Some(i), Some(p)) => Some((t, i, p, count("padded_tokens").unwrap_or(0))),
            _ => None,
        },
    })
}

/// The CLI as a user runs it: one process for one text (its wall time is the load time), one
/// for the corpus; texts/s is the corpus over the difference. No single-text latency: each
/// call of the CLI is a new process.
fn run_cli(setup: &Setup, model: &str, jsonl: &Path, round: usize) -> anyhow::Result<Run> {
    let embed = setup.root.join("target").join("release").join(exe("embed"));
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
            .env("LOG_LEVEL", "warn")
            .env("EMBED_OFFLINE", "1");
        for var in [
            "INTER_OP_THREADS",
            "MAX_SEQUENCE_LENGTH",
            "PRELOAD_MODELS",
            "MODEL_MEMORY_LIMIT",
            "ENABLE_METAL",
            "EMBED_BACKEND",
        ] {
            c.env_remove(var);
        }
        c
    };
    let one = measure(&mut cli(&setup.one_text, &setup.work.join("one-text.jsonl")))?;
    let all = measure(&mut cli(&setup.corpus, jsonl))?;
    let vectors = Vectors::Jsonl(PathBuf::from(jsonl));
    let rows = vectors.read()?.len();
    if rows != setup.texts {
        bail!("the CLI wrote {rows} vectors for {} texts", setup.texts);
    }
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
        vectors,
        breakdown: None,
    })
}
