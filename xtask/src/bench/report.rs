//! `docs/benchmarks.md`: each section's table, ratios against this project's native engine,
//! the physical limit and how far each engine is from it, where the library's time goes, and
//! the targets. Knows the figures, not how they were measured.

use std::fmt::Write as _;

use super::Setup;
use super::corpus::Corpus;
use super::engines::{Engine, OURS, Run};
use super::peaks::Peaks;

/// Least cosine between an fp32 engine's vector and sentence-transformers' for the same text.
pub const MIN_COSINE: f64 = 0.9999;

/// Everything measured for one model on one corpus.
#[derive(Debug)]
pub struct Section {
    /// The model.
    pub model: String,
    /// The corpus.
    pub corpus: Corpus,
    /// Texts in the corpus.
    pub texts: usize,
    /// The variant the engines ran (sentence-transformers always runs the fp32 weights).
    pub variant: &'static str,
    /// Runs of each engine, in engine order.
    pub runs: Vec<(Engine, Vec<Run>)>,
    /// Least cosine with sentence-transformers over every text and round, per engine.
    pub min_cosine: Vec<(Engine, f64)>,
    /// Matmul FLOPs per token and per pair of tokens of a text (attention), from `config.json`.
    pub flops: Option<(f64, f64)>,
}

/// A metric of a run.
#[derive(Clone, Copy)]
pub enum Metric {
    TextsPerS,
    P50,
    P99,
    Rss,
    Load,
}

impl Metric {
    pub fn of(self, run: &Run) -> Option<f64> {
        match self {
            Metric::TextsPerS => Some(run.texts_per_s),
            Metric::P50 => run.p50_ms,
            Metric::P99 => run.p99_ms,
            Metric::Rss => run.peak_rss.map(mib),
            Metric::Load => Some(run.load_s),
        }
    }
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

/// Matmul FLOPs of a BERT-like encoder from its `config.json`: per token, the four attention
/// projections (4·h²) and the feed-forward pair (2·h·ff) of every layer; per pair of tokens of
/// one text, the scores and the weighted sum of attention (2·h); two FLOPs per multiply-add.
pub fn flops(model_dir: &std::path::Path) -> Option<(f64, f64)> {
    let text = std::fs::read_to_string(model_dir.join("config.json")).ok()?;
    let config: serde_json::Value = serde_json::from_str(&text).ok()?;
    let get = |key: &str| config.get(key).and_then(serde_json::Value::as_f64);
    let (h, ff, layers) = (get("hidden_size")?, get("intermediate_size")?, get("num_hidden_layers")?);
    Some((2.0 * layers * (4.0 * h * h + 2.0 * h * ff), 2.0 * layers * 2.0 * h))
}

impl Section {
    /// Its title.
    pub fn title(&self) -> String {
        match self.variant {
            "fp32" => format!("{} — {}", self.model, self.corpus.name()),
            variant => format!("{} {variant} — {}", self.model, self.corpus.name()),
        }
    }

    pub fn runs_of(&self, engine: Engine) -> &[Run] {
        self.runs.iter().find(|(e, _)| *e == engine).map_or(&[], |(_, r)| r.as_slice())
    }

    /// The median of a metric over an engine's rounds.
    pub fn median(&self, engine: Engine, metric: Metric) -> Option<f64> {
        median(&self.runs_of(engine).iter().filter_map(|r| metric.of(r)).collect::<Vec<_>>())
    }

    /// The least and greatest value of a metric over an engine's rounds.
    fn range(&self, engine: Engine, metric: Metric) -> Option<(f64, f64)> {
        let values: Vec<f64> = self.runs_of(engine).iter().filter_map(|r| metric.of(r)).collect();
        let lo = values.iter().copied().reduce(f64::min)?;
        let hi = values.iter().copied().reduce(f64::max)?;
        Some((lo, hi))
    }

    /// The engine every other is compared with: in the int8 sections the library on ONNX
    /// Runtime on the fp32 file where it ran (int8 is judged against fp32 of the same engine);
    /// else the native engine where it ran, else the library on ONNX Runtime.
    pub fn base(&self) -> Engine {
        if self.variant != "fp32" && !self.runs_of(Engine::EmbedOnnxFp32).is_empty() {
            Engine::EmbedOnnxFp32
        } else if self.runs_of(OURS).is_empty() {
            Engine::EmbedOnnx
        } else {
            OURS
        }
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

    /// The median over rounds of our metric divided by the best peer's in that round
    /// (`higher_is_better` for throughput), and the peer that was best most often.
    fn ratio_to_best_peer(&self, metric: Metric, higher_is_better: bool) -> Option<(f64, Engine)> {
        let mut ratios = Vec::new();
        let mut best_counts: Vec<(Engine, usize)> = Vec::new();
        for run in self.runs_of(self.base()) {
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

    /// Tokens of the corpus and their squares summed per text, as the library counted them.
    fn corpus_tokens(&self) -> Option<(u64, u64)> {
        self.runs.iter().flat_map(|(_, runs)| runs).find_map(|r| r.tokens)
    }

    /// The corpus's matmul FLOPs.
    fn corpus_flops(&self) -> Option<f64> {
        let (per_token, per_pair) = self.flops?;
        let (tokens, squares) = self.corpus_tokens()?;
        Some(tokens as f64 * per_token + squares as f64 * per_pair)
    }

    /// The throughput bound by matmul FLOPs at the GEMM peak (texts/s).
    pub fn physical_limit(&self, gemm_gflops: Option<f64>) -> Option<f64> {
        let seconds = self.corpus_flops()? / (gemm_gflops? * 1e9);
        Some(self.texts as f64 / seconds)
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
pub fn cpu_name() -> String {
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

/// The vector instruction sets of this CPU that decide the kernels' speed (int8 dot products
/// included), from the flags `/proc/cpuinfo` lists.
pub fn cpu_features() -> String {
    const WANTED: [&str; 8] = ["avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8", "amx_bf16", "asimddp"];
    let flags = std::fs::read_to_string("/proc/cpuinfo").ok().and_then(|t| {
        t.lines()
            .find(|l| l.starts_with("flags") || l.starts_with("Features"))
            .and_then(|l| l.split(':').nth(1))
            .map(|f| f.split_whitespace().map(str::to_string).collect::<Vec<_>>())
    });
    match flags {
        Some(flags) => {
            let found: Vec<&str> = WANTED.into_iter().filter(|w| flags.iter().any(|f| f == w)).collect();
            if found.is_empty() { "no AVX2, AVX-512, VNNI or AMX".to_string() } else { found.join(", ") }
        }
        None => std::env::consts::ARCH.to_string(),
    }
}

/// The int8 dot-product instructions of this CPU, which decide whether int8 beats fp32, from the
/// flags `/proc/cpuinfo` lists: `AVX512-VNNI, AMX`, or `none`.
pub fn int8_dot_products() -> String {
    const NAMED: [(&str, &str); 4] =
        [("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"), ("amx_int8", "AMX"), ("asimddp", "Arm dot product")];
    let flags = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags: Vec<&str> = flags
        .lines()
        .find(|l| l.starts_with("flags") || l.starts_with("Features"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(Vec::new, |f| f.split_whitespace().collect());
    let found: Vec<&str> = NAMED.iter().filter(|(flag, _)| flags.contains(flag)).map(|(_, name)| *name).collect();
    if found.is_empty() { "none".to_string() } else { found.join(", ") }
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

/// The share of the physical limit the issue asks of the native engine, for a model and
/// corpus where it asks one.
fn limit_target(model: &str, corpus: Corpus) -> Option<f64> {
    match (model, corpus) {
        ("all-MiniLM-L6-v2", Corpus::Stsb) => Some(0.85),
        ("all-mpnet-base-v2", Corpus::Stsb) => Some(0.90),
        _ => None,
    }
}

/// The markdown report.
pub fn markdown(sections: &[Section], setup: &Setup, rounds: usize, peaks: Peaks, command: &str) -> String {
    let mut md = String::new();
    let threads = setup.threads;
    let _ = writeln!(md, "# Benchmarks\n");
    let _ = writeln!(md, "Written by `{command}` on {}; rerun it rather than editing this file.\n", today());
    let _ = writeln!(
        md,
        "Machine: {} ({}), {} logical CPUs, {} {}. Every engine runs with {threads} threads, batches of {} \
         texts, as its own process; the ONNX Runtime engines run the same ONNX file of the model's folder \
         (fp32, or int8 in the int8 sections), the native engine and sentence-transformers its \
         `model.safetensors`. The engines run interleaved, {rounds} round(s), their order rotated each round. \
         Figures are medians over rounds; ratios are medians of per-round ratios (the machine's speed drifts \
         between runs, so only runs side by side are compared).\n",
        cpu_name(),
        cpu_features(),
        std::thread::available_parallelism().map_or(0, usize::from),
        std::env::consts::OS,
        std::env::consts::ARCH,
        setup.batch_size
    );
    let _ = writeln!(
        md,
        "Single-text latency: {} calls, one text each, cycling through the corpus's first texts, after the same \
         warm-up for every engine. ONNX Runtime: every engine but sentence-transformers loads the same library, \
         `{}`.\n",
        setup.single,
        setup.ort_library.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    );
    let _ = writeln!(
        md,
        "GEMM peaks on this machine, {threads} threads, measured each round and given as medians: ONNX Runtime's \
         MatMul {} GFLOP/s (`benches/peers/gemm_peak.py`), the native engine's kernels {} GFLOP/s \
         (`embed-runner --gemm-probe`). The physical limit of a section is its matmul FLOPs at the higher of the \
         two.\n",
        fmt_opt(peaks.onnx, 0),
        fmt_opt(peaks.native, 0)
    );
    md.push_str("![throughput, latency, memory and load time of each engine](benchmarks.png)\n\n");
    for section in sections {
        write_section(&mut md, section, peaks);
    }
    md.push_str("## The engines\n\n");
    let mut versions: Vec<(Engine, String)> = Vec::new();
    for section in sections {
        for (engine, runs) in &section.runs {
            if let Some(run) = runs.first()
                && !versions.iter().any(|(e, _)| e == engine)
            {
                versions.push((*engine, run.version.clone()));
            }
        }
    }
    for (engine, version) in versions {
        let _ = writeln!(md, "- **{}** ({version}): {}", engine.name(), engine.describe());
    }
    let _ = writeln!(
        md,
        "\nPeak RSS is the kernel's high-water mark of each process (`wait4`), load time the engine's own measure \
         from the first import or call to a model ready to embed. Every fp32 engine's vectors must reach cosine \
         ≥ {MIN_COSINE} with sentence-transformers' for every text, or the command fails.\n\n\
         Reproduce: `cargo xtask fetch-ort && cargo xtask bench` (`--model NAME`, `--rounds N`, `--engine NAME`, \
         `--corpus stsb|passages`, `--quick` for a smoke run written to `target/bench/`)."
    );
    md
}

fn write_section(md: &mut String, section: &Section, peaks: Peaks) {
    let base = section.base();
    let _ = writeln!(md, "## {}\n", section.title());
    let _ = writeln!(md, "Corpus: {}.\n", section.corpus.describe(section.texts));
    md.push_str(
        "| engine | texts/s (range) | single p50 ms | single p99 ms | peak RSS MiB | load s | min cosine vs ST |\n",
    );
    md.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for (engine, _) in &section.runs {
        let e = *engine;
        let range =
            section.range(e, Metric::TextsPerS).map_or_else(String::new, |(lo, hi)| format!(" ({lo:.0}–{hi:.0})"));
        let cosine = section.min_cosine.iter().find(|(x, _)| *x == e).map(|(_, c)| *c);
        let cosine = match (e, cosine) {
            (Engine::SentenceTransformers, _) if section.variant == "fp32" => "reference".to_string(),
            (Engine::SentenceTransformers, _) => "reference (fp32)".to_string(),
            (_, Some(c)) if c >= MIN_COSINE || section.variant != "fp32" => format!("{c:.6}"),
            (_, Some(c)) => format!("**{c:.6}** (< {MIN_COSINE})"),
            (_, None) => "—".to_string(),
        };
        let _ = writeln!(
            md,
            "| {} | {}{range} | {} | {} | {} | {} | {cosine} |",
            if e.is_peer() { e.name().to_string() } else { format!("**{}**", e.name()) },
            fmt_opt(section.median(e, Metric::TextsPerS), 0),
            fmt_opt(section.median(e, Metric::P50), 2),
            fmt_opt(section.median(e, Metric::P99), 2),
            fmt_opt(section.median(e, Metric::Rss), 0),
            fmt_opt(section.median(e, Metric::Load), 2),
        );
    }
    let _ = writeln!(
        md,
        "\nEach engine against {} (engine ÷ {}, per round, median): above 1 is faster throughput, or slower \
         latency, more memory, longer load.\n",
        base.name(),
        base.name()
    );
    md.push_str("| engine | texts/s | single p50 | single p99 | peak RSS | load |\n");
    md.push_str("| --- | ---: | ---: | ---: | ---: | ---: |\n");
    for (engine, _) in section.runs.iter().filter(|(e, _)| *e != base) {
        let e = *engine;
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            e.name(),
            fmt_ratio(section.ratio(e, base, Metric::TextsPerS)),
            fmt_ratio(section.ratio(e, base, Metric::P50)),
            fmt_ratio(section.ratio(e, base, Metric::P99)),
            fmt_ratio(section.ratio(e, base, Metric::Rss)),
            fmt_ratio(section.ratio(e, base, Metric::Load)),
        );
    }
    md.push('\n');

    let best_peak = peaks.best();
    let limit = section.physical_limit(best_peak);
    if let (Some(corpus_flops), Some(peak), Some(limit)) = (section.corpus_flops(), best_peak, limit) {
        let reached: Vec<String> = section
            .runs
            .iter()
            .filter_map(|(e, _)| {
                let texts_per_s = section.median(*e, Metric::TextsPerS)?;
                Some(format!("{} {:.0}%", e.name(), 100.0 * texts_per_s / limit))
            })
            .collect();
        let _ = writeln!(
            md,
            "**Physical limit.** {:.1} GFLOP of matmuls for the corpus (projections and feed-forward per token, \
             attention per pair of tokens of a text, special tokens included, no padding) at {peak:.0} GFLOP/s is \
             {:.2} s, **{limit:.0} texts/s**. Share of it reached: {}.\n",
            corpus_flops / 1e9,
            corpus_flops / (peak * 1e9),
            reached.join(", ")
        );
    }

    let runs = section.runs_of(base);
    let share = |f: fn(&Run) -> Option<f64>| median(&runs.iter().filter_map(f).collect::<Vec<_>>());
    if let (Some(total), Some(tokenize), Some(infer), Some(pool), Some((tokens, _))) = (
        median(&runs.iter().map(|r| section.texts as f64 / r.texts_per_s).collect::<Vec<_>>()),
        share(|r| r.breakdown.map(|b| b.0)),
        share(|r| r.breakdown.map(|b| b.1)),
        share(|r| r.breakdown.map(|b| b.2)),
        section.corpus_tokens(),
    ) {
        let padded = runs.iter().find_map(|r| r.breakdown.map(|b| b.3)).unwrap_or(0);
        let _ = writeln!(
            md,
            "**Where {}'s corpus time goes** ({total:.2} s wall; the stages below are summed over the batches \
             that run side by side): tokenization {tokenize:.2} s, the engine {infer:.2} s, pooling and \
             normalization {pool:.3} s; {padded} positions run for {tokens} tokens ({:.1}% padding).\n",
            base.name(),
            if padded > 0 { 100.0 * (1.0 - tokens as f64 / padded as f64) } else { 0.0 }
        );
    }

    if section.variant != "fp32" {
        write_int8_targets(md, section);
        return;
    }
    md.push_str("Targets (the native engine):\n\n");
    if let Some((ratio, best)) = section.ratio_to_best_peer(Metric::TextsPerS, true) {
        let _ = writeln!(md, "- texts/s ≥ 1.3× the best peer's: {ratio:.2}× {} — {}", best.name(), check(ratio >= 1.3));
    }
    if let (Some(target), Some(limit), Some(ours)) =
        (limit_target(&section.model, section.corpus), limit, section.median(base, Metric::TextsPerS))
    {
        let share = ours / limit;
        let _ = writeln!(
            md,
            "- texts/s ≥ {:.0}% of the physical limit: {:.0}% — {}",
            100.0 * target,
            100.0 * share,
            check(share >= target)
        );
    }
    let latency =
        (section.corpus == Corpus::Stsb).then_some(("single short text p50 ≤ 0.6× the best peer's", Metric::P50, 0.6));
    for (label, metric, bound) in latency
        .into_iter()
        .chain([("peak RSS ≤ the best peer's", Metric::Rss, 1.0), ("load time ≤ the best peer's", Metric::Load, 1.0)])
    {
        if let Some((ratio, best)) = section.ratio_to_best_peer(metric, false) {
            let _ = writeln!(md, "- {label}: {ratio:.2}× {} — {}", best.name(), check(ratio <= bound));
        }
    }
    md.push('\n');
}

/// The int8 section's verdict: int8 against fp32 of the same engine (ONNX Runtime), in the same
/// rounds, with the CPU's int8 dot-product instructions that decide it, and the native engine's
/// fp32 beside it.
fn write_int8_targets(md: &mut String, section: &Section) {
    let base = Engine::EmbedOnnxFp32;
    if section.runs_of(base).is_empty() || section.runs_of(Engine::EmbedOnnx).is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "int8 dot-product instructions of this CPU: **{}** (int8 beats fp32 only with AVX512-VNNI, AVX-VNNI, AMX \
         or Arm's dot product).\n",
        int8_dot_products()
    );
    md.push_str("Targets (embed-onnx on the int8 file ÷ embed-onnx-fp32, per round, median):\n\n");
    for (label, metric, bound, higher) in [
        ("texts/s ≥ 1.5× fp32's", Metric::TextsPerS, 1.5, true),
        ("single short text p50 ≤ 0.7× fp32's", Metric::P50, 0.7, false),
        ("peak RSS ≤ fp32's", Metric::Rss, 1.0, false),
    ] {
        if let Some(ratio) = section.ratio(Engine::EmbedOnnx, base, metric) {
            let ok = if higher { ratio >= bound } else { ratio <= bound };
            let _ = writeln!(md, "- {label}: {ratio:.2}× — {}", check(ok));
        }
    }
    if let Some(ratio) = section.ratio(Engine::EmbedOnnx, OURS, Metric::TextsPerS) {
        let _ = writeln!(
            md,
            "- for comparison, int8 on ONNX Runtime ÷ the native engine's fp32 (the default engine for fp32): \
             texts/s {ratio:.2}×, single p50 {}",
            fmt_ratio(section.ratio(Engine::EmbedOnnx, OURS, Metric::P50))
        );
    }
    md.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minilm_and_mpnet_flops() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config.json");
        std::fs::write(&config, r#"{"hidden_size": 384, "intermediate_size": 1536, "num_hidden_layers": 6}"#).unwrap();
        let (per_token, per_pair) = flops(dir.path()).unwrap();
        assert!((per_token / 1e6 - 21.2).abs() < 0.05);
        assert_eq!(per_pair, 2.0 * 6.0 * 2.0 * 384.0);
        std::fs::write(&config, r#"{"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12}"#).unwrap();
        assert!((flops(dir.path()).unwrap().0 / 1e6 - 169.9).abs() < 0.05);
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&[]), None);
    }
}
