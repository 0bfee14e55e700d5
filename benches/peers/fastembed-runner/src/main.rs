//! The fastembed-rs engine of the peer benchmark: fastembed's user-defined model API fed with
//! the ONNX file and tokenizer files of the same model folder the other engines read (it cannot
//! download models here), `--threads` intra-op threads, batches of `--batch-size` texts.
//! fastembed batches texts in the order it is given and pads each batch to its longest text,
//! so the runner does what a careful caller does: it sorts the corpus by length (in bytes,
//! longest first) before the call and puts the vectors back in corpus order after it, both
//! inside the timed region.
//!
//! Same command line, warm-up, timing and outputs (JSON result, `.npy` vectors) as the other
//! runners; it knows nothing of them or of the harness's report.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

struct Args {
    model: String,
    models_dir: PathBuf,
    variant: String,
    threads: usize,
    batch_size: usize,
    corpus: PathBuf,
    single: usize,
    vectors: PathBuf,
    result: PathBuf,
}

fn parse_args() -> Result<Args> {
    let mut model = None;
    let mut models_dir = None;
    let mut variant = "fp32".to_string();
    let mut threads = 2;
    let mut batch_size = 32;
    let mut corpus = None;
    let mut single = 200;
    let mut vectors = None;
    let mut result = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => model = Some(value()?),
            "--models-dir" => models_dir = Some(PathBuf::from(value()?)),
            "--variant" => variant = value()?,
            "--threads" => threads = value()?.parse()?,
            "--batch-size" => batch_size = value()?.parse()?,
            "--corpus" => corpus = Some(PathBuf::from(value()?)),
            "--single" => single = value()?.parse()?,
            "--vectors" => vectors = Some(PathBuf::from(value()?)),
            "--result" => result = Some(PathBuf::from(value()?)),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    Ok(Args {
        model: model.ok_or("--model is required")?,
        models_dir: models_dir.ok_or("--models-dir is required")?,
        variant,
        threads,
        batch_size,
        corpus: corpus.ok_or("--corpus is required")?,
        single,
        vectors: vectors.ok_or("--vectors is required")?,
        result: result.ok_or("--result is required")?,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()).into())
}

fn read_json(path: &Path) -> Result<serde_json::Value> {
    Ok(serde_json::from_slice(&read(path)?)?)
}

/// Nearest-rank percentile, as every runner computes it.
fn percentile(values: &[f64], q: f64) -> f64 {
    let mut ordered = values.to_vec();
    ordered.sort_by(f64::total_cmp);
    let rank = ((ordered.len() as f64 * q / 100.0).ceil() as usize).max(1);
    ordered[rank - 1]
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
    for row in rows {
        for v in row {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    std::fs::write(path, out).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

fn run() -> Result<()> {
    let args = parse_args()?;
    let corpus_text = String::from_utf8(read(&args.corpus)?)?;
    let corpus: Vec<&str> = corpus_text.strip_suffix('\n').unwrap_or(&corpus_text).split('\n').collect();
    let dir = args.models_dir.join(&args.model);
    let onnx = dir.join("onnx").join(if args.variant == "int8" { "model_int8.onnx" } else { "model.onnx" });

    let load_started = Instant::now();
    let max_length = read_json(&dir.join("sentence_bert_config.json"))?["max_seq_length"]
        .as_u64()
        .ok_or("sentence_bert_config.json has no max_seq_length")? as usize;
    let pooling_config = read_json(&dir.join("1_Pooling").join("config.json"))?;
    let pooling = if pooling_config["pooling_mode_cls_token"].as_bool() == Some(true) {
        Pooling::Cls
    } else if pooling_config["pooling_mode_mean_tokens"].as_bool() == Some(true) {
        Pooling::Mean
    } else {
        return Err("only cls and mean pooling are implemented by this runner".into());
    };
    let tokenizer_files = TokenizerFiles {
        tokenizer_file: read(&dir.join("tokenizer.json"))?,
        config_file: read(&dir.join("config.json"))?,
        special_tokens_map_file: read(&dir.join("special_tokens_map.json"))?,
        tokenizer_config_file: read(&dir.join("tokenizer_config.json"))?,
    };
    let model = UserDefinedEmbeddingModel::new(read(&onnx)?, tokenizer_files).with_pooling(pooling);
    let options = InitOptionsUserDefined::new().with_max_length(max_length).with_intra_threads(args.threads);
    let mut engine = TextEmbedding::try_new_from_user_defined(model, options)?;
    let load_s = load_started.elapsed().as_secs_f64();

    // The warm-up every runner does: one batch of the first 32 texts, one single text.
    engine.embed(&corpus[..corpus.len().min(32)], Some(args.batch_size))?;
    engine.embed([corpus[0]], None)?;

    let mut single_ms = Vec::with_capacity(args.single);
    for i in 0..args.single {
        let text = corpus[i % corpus.len()];
        let started = Instant::now();
        engine.embed([text], None)?;
        single_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }

    let batch_started = Instant::now();
    let mut order: Vec<usize> = (0..corpus.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(corpus[i].len()));
    let sorted: Vec<&str> = order.iter().map(|&i| corpus[i]).collect();
    let sorted_vectors = engine.embed(&sorted, Some(args.batch_size))?;
    let mut vectors = vec![Vec::new(); corpus.len()];
    for (vector, &i) in sorted_vectors.into_iter().zip(&order) {
        vectors[i] = vector;
    }
    let batch_s = batch_started.elapsed().as_secs_f64();

    write_npy(&args.vectors, &vectors)?;
    let result = serde_json::json!({
        "engine": "fastembed-rs",
        "version": "fastembed 7.5.0 (ort-load-dynamic), corpus sorted by length by the caller",
        "model": args.model,
        "variant": args.variant,
        "threads": args.threads,
        "batch_size": args.batch_size,
        "texts": corpus.len(),
        "dimension": vectors.first().map_or(0, Vec::len),
        "load_s": load_s,
        "batch_s": batch_s,
        "single_calls": single_ms.len(),
        "single_p50_ms": if single_ms.is_empty() { None } else { Some(percentile(&single_ms, 50.0)) },
        "single_p99_ms": if single_ms.is_empty() { None } else { Some(percentile(&single_ms, 99.0)) },
    });
    std::fs::write(&args.result, format!("{result:#}\n"))
        .map_err(|e| format!("cannot write {}: {e}", args.result.display()))?;
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
