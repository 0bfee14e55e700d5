//! Shared helpers: where the models and ONNX Runtime are, fixtures, STS-B, statistics.

use std::path::PathBuf;
use std::sync::OnceLock;

use embed_core::{Config, OrtLibrary, Service};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn models_dir() -> PathBuf {
    std::env::var_os("MODEL_CACHE_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("models"))
}

pub fn ort_library() -> OrtLibrary {
    OrtLibrary {
        path: std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|p| !p.is_empty()).map(PathBuf::from),
        search_dirs: vec![workspace_root().join("libs")],
    }
}

pub fn config(model: &str) -> Config {
    Config { model: model.to_string(), model_cache_dir: models_dir(), onnxruntime: ort_library(), ..Config::default() }
}

/// A service for `model`, failing with the command that fetches it when it is missing.
pub fn service(model: &str) -> Service {
    Service::new(config(model)).unwrap_or_else(|e| {
        panic!("cannot load {model}: {e}\n(run `cargo xtask test`, which fetches ONNX Runtime and the test models)")
    })
}

#[derive(serde::Deserialize)]
pub struct Fixture {
    pub texts: Vec<String>,
    pub token_counts: Vec<usize>,
    pub embeddings: Vec<Vec<f32>>,
    pub stsb_test_spearman: f64,
}

pub fn fixture(model: &str) -> Fixture {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(format!("{model}.json"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("invalid {}: {e}", path.display()))
}

/// The error with its causes, as the CLI prints it (`{:#}` of anyhow).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different widths");
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// STS-B test pairs: (sentence1, sentence2, gold score).
pub fn stsb_test() -> &'static [(String, String, f64)] {
    static PAIRS: OnceLock<Vec<(String, String, f64)>> = OnceLock::new();
    PAIRS.get_or_init(|| {
        let path = workspace_root().join("data/stsb/stsb-en-test.csv");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let mut reader = CsvReader::new(&text);
        let mut pairs = Vec::new();
        while let Some(row) = reader.next_row() {
            assert_eq!(row.len(), 3, "bad STS-B row {row:?}");
            pairs.push((row[0].clone(), row[1].clone(), row[2].parse().expect("numeric score")));
        }
        assert_eq!(pairs.len(), 1379);
        pairs
    })
}

/// Spearman correlation of cosine similarities with gold scores over STS-B test.
pub fn stsb_spearman(service: &Service) -> f64 {
    let pairs = stsb_test();
    let sentences: Vec<&str> = pairs.iter().flat_map(|(a, b, _)| [a.as_str(), b.as_str()]).collect();
    let vectors = service.embed_batch(&sentences).expect("embedding STS-B");
    let predicted: Vec<f64> = vectors.chunks(2).map(|pair| cosine(&pair[0], &pair[1])).collect();
    let gold: Vec<f64> = pairs.iter().map(|p| p.2).collect();
    spearman(&predicted, &gold)
}

pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    let (ra, rb) = (ranks(a), ranks(b));
    let mean = (a.len() as f64 + 1.0) / 2.0;
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - mean) * (y - mean)).sum();
    let va: f64 = ra.iter().map(|x| (x - mean).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mean).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// 1-based ranks, ties sharing their average rank.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            ranks[i] = rank;
        }
        start = end + 1;
    }
    ranks
}

/// A minimal RFC 4180 reader (quoted fields, doubled quotes), enough for STS-B.
struct CsvReader<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl<'a> CsvReader<'a> {
    fn new(text: &'a str) -> Self {
        Self { chars: text.chars().peekable() }
    }

    fn next_row(&mut self) -> Option<Vec<String>> {
        self.chars.peek()?;
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        while let Some(c) = self.chars.next() {
            match (quoted, c) {
                (true, '"') if self.chars.peek() == Some(&'"') => {
                    self.chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, ',') => row.push(std::mem::take(&mut field)),
                (false, '\n') => break,
                (false, '\r') => {}
                (false, c) => field.push(c),
            }
        }
        row.push(field);
        Some(row)
    }
}

#[test]
fn spearman_matches_a_hand_computed_value() {
    // Ranks of a: 1 2 3 4; of b: 1 3 2 4 -> rho = 1 - 6*2/(4*15) = 0.8
    let rho = spearman(&[0.1, 0.2, 0.3, 0.4], &[1.0, 3.0, 2.0, 4.0]);
    assert!((rho - 0.8).abs() < 1e-12, "{rho}");
    assert_eq!(ranks(&[5.0, 1.0, 5.0]), [2.5, 1.0, 2.5]);
}
