//! `embed-runner`: this project's library as one engine of the peer benchmark
//! (`cargo xtask bench`). Loads a model through `embed_core::Service` with its defaults (no
//! embedding cache, batches of `--batch-size`) on the engine `--backend` names, then times
//! single texts and the whole corpus. `--gemm-probe` instead prints the native engine's GEMM
//! peak on the seed models' shapes, and `--instruction-probe` one core's rates of the fp32,
//! bf16 and int8 multiply-add instructions the CPU has.
//!
//! Same command line, warm-up, timing and outputs (JSON result, `.npy` vectors) as the peers'
//! runners under `benches/peers/`; it knows nothing of them or of the harness's report.

use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

type Result<T> = std::result::Result<T, Box<dyn Error>>;

struct Args {
    model: String,
    models_dir: PathBuf,
    variant: String,
    threads: usize,
    sessions: usize,
    batch_size: usize,
    corpus: PathBuf,
    single: usize,
    vectors: PathBuf,
    result: PathBuf,
    ort_library: Option<PathBuf>,
    backend: embed_core::BackendChoice,
}

fn parse_args() -> Result<Args> {
    let mut model = None;
    let mut models_dir = None;
    let mut variant = "fp32".to_string();
    let mut threads = 2;
    let mut sessions = 1;
    let mut batch_size = 32;
    let mut corpus = None;
    let mut single = 200;
    let mut vectors = None;
    let mut result = None;
    let mut ort_library = None;
    let mut backend = embed_core::BackendChoice::Auto;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => model = Some(value()?),
            "--models-dir" => models_dir = Some(PathBuf::from(value()?)),
            "--variant" => variant = value()?,
            "--threads" => threads = value()?.parse()?,
            "--sessions" => sessions = value()?.parse()?,
            "--batch-size" => batch_size = value()?.parse()?,
            "--corpus" => corpus = Some(PathBuf::from(value()?)),
            "--single" => single = value()?.parse()?,
            "--vectors" => vectors = Some(PathBuf::from(value()?)),
            "--result" => result = Some(PathBuf::from(value()?)),
            "--ort-library" => ort_library = Some(PathBuf::from(value()?)),
            "--backend" => backend = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(Args {
        model: model.ok_or("--model is required")?,
        models_dir: models_dir.ok_or("--models-dir is required")?,
        variant,
        threads,
        sessions,
        batch_size,
        corpus: corpus.ok_or("--corpus is required")?,
        single,
        vectors: vectors.ok_or("--vectors is required")?,
        result: result.ok_or("--result is required")?,
        ort_library,
        backend,
    })
}

/// Nearest-rank percentile, as every runner computes it.
fn percentile(values: &[f64], q: f64) -> Option<f64> {
    let mut ordered = values.to_vec();
    ordered.sort_by(f64::total_cmp);
    let rank = ((ordered.len() as f64 * q / 100.0).ceil() as usize).max(1);
    ordered.get(rank - 1).copied()
}

/// Writes `rows` as a 2-D little-endian f32 `.npy` file.
fn write_npy(path: &Path, rows: &[Vec<f32>]) -> Result<()> {
    let dim = rows.first().map_or(0, Vec::len);
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}", rows.len());
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + rows.len() * dim * 4);
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in rows.iter().flatten() {
        out.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::write(path, out).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn json_number(value: Option<f64>) -> String {
    value.map_or_else(|| "null".to_string(), |v| format!("{v}"))
}

/// The shapes the GEMM peak is measured on (`m`, `k`, `n`): the feed-forward layers of
/// all-MiniLM-L6-v2 and all-mpnet-base-v2 over 1024 tokens, and a square one, as
/// `benches/peers/gemm_peak.py` measures ONNX Runtime.
const GEMM_SHAPES: [(usize, usize, usize); 5] =
    [(1024, 1024, 1024), (1024, 384, 1536), (1024, 1536, 384), (1024, 768, 3072), (1024, 3072, 768)];

/// Prints `{"threads", "isa", "peak_gflops", "shapes": [...]}`: the best rate of the native
/// engine's kernels over the shapes.
fn gemm_probe(threads: usize) {
    let mut shapes = String::new();
    let mut peak = 0.0f64;
    for (i, (m, k, n)) in GEMM_SHAPES.into_iter().enumerate() {
        let rate = embed_native::gemm_gflops(m, k, n, threads, 10);
        peak = peak.max(rate);
        let comma = if i + 1 < GEMM_SHAPES.len() { "," } else { "" };
        let _ = write!(shapes, "{{\"m\": {m}, \"k\": {k}, \"n\": {n}, \"gflops\": {rate}}}{comma}");
    }
    println!(
        "{{\"threads\": {threads}, \"isa\": \"{}\", \"peak_gflops\": {peak}, \"shapes\": [{shapes}]}}",
        embed_native::Isa::detect().name()
    );
}

/// Prints `{"instructions": [...]}`: the per-core rates of the multiply-add instructions the
/// CPU has (fp32 FMA, bf16 and int8 dot products), as `embed_native::instruction_rates`
/// measures them on the calling thread.
fn instruction_probe() {
    let rates: Vec<String> = embed_native::instruction_rates(20_000_000)
        .iter()
        .map(|r| {
            format!(
                "{{\"instruction\": \"{}\", \"format\": \"{}\", \"giga_per_second\": {:.3}, \"giga_multiply_adds\": {:.1}}}",
                r.instruction,
                r.format,
                r.giga_per_second,
                r.giga_multiply_adds()
            )
        })
        .collect();
    println!("{{\"instructions\": [{}]}}", rates.join(", "));
}

fn run() -> Result<()> {
    let mut argv = std::env::args().skip(1);
    let first = argv.next();
    if first.as_deref() == Some("--instruction-probe") {
        instruction_probe();
        return Ok(());
    }
    if first.as_deref() == Some("--gemm-probe") {
        let threads = match (argv.next().as_deref(), argv.next()) {
            (Some("--threads"), Some(n)) => n.parse()?,
            _ => 2,
        };
        gemm_probe(threads);
        return Ok(());
    }
    let args = parse_args()?;
    let corpus_text =
        std::fs::read_to_string(&args.corpus).map_err(|e| format!("cannot read {}: {e}", args.corpus.display()))?;
    let corpus: Vec<&str> = corpus_text.strip_suffix('\n').unwrap_or(&corpus_text).split('\n').collect();
    let spec = if args.variant == "fp32" { args.model.clone() } else { format!("{}:{}", args.model, args.variant) };

    let load_started = Instant::now();
    let service = embed_core::Service::new(embed_core::Config {
        model: spec,
        model_cache_dir: args.models_dir.clone(),
        batching: embed_core::BatchPolicy { max_texts: args.batch_size, ..Default::default() },
        runtime: embed_core::RuntimeConfig {
            intra_op_threads: Some((args.threads / args.sessions.max(1)).max(1)),
            sessions: Some(args.sessions),
            ..Default::default()
        },
        onnxruntime: embed_core::OrtLibrary {
            path: args.ort_library.clone(),
            search_dirs: vec![benches::workspace_root().join("libs")],
        },
        backend: args.backend,
        // The cache off, as every peer has none: the single-text calls below would otherwise
        // answer part of the corpus from it.
        memory: benches::uncached(),
        ..embed_core::Config::default()
    })?;
    let load_s = load_started.elapsed().as_secs_f64();

    // The warm-up every runner does: one batch of the first 32 texts, one single text.
    service.embed_batch(&corpus[..corpus.len().min(32)])?;
    service.embed(corpus[0])?;

    let mut single_ms = Vec::with_capacity(args.single);
    for i in 0..args.single {
        let text = corpus[i % corpus.len()];
        let started = Instant::now();
        service.embed(text)?;
        single_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let before = service.metrics();
    let batch_started = Instant::now();
    let embeddings = service.embed_with(&corpus, service.default_options())?;
    let batch_s = batch_started.elapsed().as_secs_f64();
    // Where the corpus's time went, from the service's own metrics.
    let after = service.metrics();
    let tokenize_s = after.tokenize_seconds.sum - before.tokenize_seconds.sum;
    let infer_s = after.infer_seconds.sum - before.infer_seconds.sum;
    let pool_s = after.pool_seconds.sum - before.pool_seconds.sum;
    let padded_tokens = after.padded_tokens - before.padded_tokens;

    let tokens: usize = embeddings.iter().map(|e| e.tokens).sum();
    let tokens_squared: usize = embeddings.iter().map(|e| e.tokens * e.tokens).sum();
    let vectors: Vec<Vec<f32>> = embeddings.into_iter().map(|e| e.vector).collect();
    write_npy(&args.vectors, &vectors)?;
    let mut result = String::from("{\n");
    let fields = [
        ("engine", "\"embed\"".to_string()),
        ("version", format!("\"embed {}, {}\"", env!("CARGO_PKG_VERSION"), service.model().engine())),
        ("model", format!("\"{}\"", args.model)),
        ("variant", format!("\"{}\"", args.variant)),
        ("threads", args.threads.to_string()),
        ("sessions", args.sessions.to_string()),
        ("batch_size", args.batch_size.to_string()),
        ("texts", corpus.len().to_string()),
        ("tokens", tokens.to_string()),
        ("tokens_squared", tokens_squared.to_string()),
        ("dimension", vectors.first().map_or(0, Vec::len).to_string()),
        ("load_s", format!("{load_s}")),
        ("batch_s", format!("{batch_s}")),
        ("tokenize_s", format!("{tokenize_s}")),
        ("infer_s", format!("{infer_s}")),
        ("pool_s", format!("{pool_s}")),
        ("padded_tokens", padded_tokens.to_string()),
        ("single_calls", single_ms.len().to_string()),
        ("single_p50_ms", json_number(percentile(&single_ms, 50.0))),
        ("single_p99_ms", json_number(percentile(&single_ms, 99.0))),
    ];
    for (i, (key, value)) in fields.iter().enumerate() {
        let comma = if i + 1 < fields.len() { "," } else { "" };
        let _ = writeln!(result, " \"{key}\": {value}{comma}");
    }
    result.push_str("}\n");
    std::fs::write(&args.result, result).map_err(|e| format!("cannot write {}: {e}", args.result.display()))?;
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}
