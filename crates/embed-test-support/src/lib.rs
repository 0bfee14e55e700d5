//! embed-test-support: the one place embed's tests, examples and benchmarks find what they
//! run on, and the small checks they share.
//!
//! - Where things are: the workspace root, the test models (`MODEL_CACHE_DIR`, else the
//!   workspace's `models/`, as `cargo xtask fetch-models` fills it), ONNX Runtime
//!   (`ONNXRUNTIME_LIB_PATH`, else `libs/` as `cargo xtask fetch-ort` fills it), the
//!   architecture fixtures (`fixtures/architectures/`), the STS-B splits (`data/stsb/`).
//! - Checks: cosine similarity, an error with its causes as the binaries print it, the
//!   Spearman correlation.
//! - A reader of RFC 4180 CSV (quoted fields, doubled quotes), as the STS-B files are written.
//!
//! Test support only (never published): it reads environment variables, which the libraries
//! do not. It depends on no crate of embed, so any crate's tests can use it; building a
//! service from these paths is the tests' own business.

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the test models are: `MODEL_CACHE_DIR`, else the workspace's `models/`.
pub fn models_dir() -> PathBuf {
    std::env::var_os("MODEL_CACHE_DIR")
        .filter(|dir| !dir.is_empty())
        .map_or_else(|| workspace_root().join("models"), PathBuf::from)
}

/// The directory of the fetched model `name`, failing with the command that fetches it when
/// it holds no `tokenizer.json`.
pub fn model_dir(name: &str) -> PathBuf {
    let dir = models_dir().join(name);
    assert!(
        dir.join("tokenizer.json").is_file(),
        "no {name} in {} (run `cargo xtask test`, which fetches the test models)",
        models_dir().display()
    );
    dir
}

/// The ONNX Runtime library the user chose (`ONNXRUNTIME_LIB_PATH`), if any.
pub fn ort_library_path() -> Option<PathBuf> {
    std::env::var_os("ONNXRUNTIME_LIB_PATH").filter(|path| !path.is_empty()).map(PathBuf::from)
}

/// The folders searched for ONNX Runtime when no library is chosen: the workspace's `libs/`.
pub fn ort_search_dirs() -> Vec<PathBuf> {
    vec![workspace_root().join("libs")]
}

/// The architecture fixture `name` (`fixtures/architectures/<name>`).
pub fn fixture_dir(name: &str) -> PathBuf {
    workspace_root().join("fixtures/architectures").join(name)
}

/// Every architecture fixture, by name, in order.
pub fn fixture_names() -> Vec<String> {
    let dir = workspace_root().join("fixtures/architectures");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .filter(|entry| entry.path().join("reference.json").is_file())
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// Cosine similarity, in f64.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len(), "vectors of different widths");
    let dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from(*x) * f64::from(*y)).sum();
    let na: f64 = a.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    let nb: f64 = b.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (na * nb).max(1e-12)
}

/// The error with its causes, `: `-separated, as the binaries print it (`{:#}` of anyhow).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// The rows of an RFC 4180 CSV text (quoted fields, doubled quotes, `\n` or `\r\n`).
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        let mut row = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
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
        rows.push(row);
    }
    rows
}

/// One STS-B pair: two sentences and their gold similarity (0 to 5).
#[derive(Debug, Clone, PartialEq)]
pub struct StsbPair {
    /// The first sentence.
    pub first: String,
    /// The second sentence.
    pub second: String,
    /// The gold score.
    pub score: f64,
}

/// The STS-B test split (`data/stsb/stsb-en-test.csv`): 1,379 pairs, in file order.
pub fn stsb_test() -> Vec<StsbPair> {
    let path = workspace_root().join("data/stsb/stsb-en-test.csv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let pairs: Vec<StsbPair> = csv_rows(&text)
        .into_iter()
        .map(|row| match <[String; 3]>::try_from(row) {
            Ok([first, second, score]) => StsbPair {
                first,
                second,
                score: score
                    .parse()
                    .unwrap_or_else(|_| panic!("a numeric score in {}, found `{score}`", path.display())),
            },
            Err(row) => panic!("three fields per row of {}, found {row:?}", path.display()),
        })
        .collect();
    assert_eq!(pairs.len(), 1379, "pairs of {}", path.display());
    pairs
}

/// Every sentence of the STS-B test split, both of each pair, in file order (2,758 texts).
pub fn stsb_sentences() -> Vec<String> {
    stsb_test().into_iter().flat_map(|pair| [pair.first, pair.second]).collect()
}

/// Spearman's rank correlation of `a` and `b`.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_matches_a_hand_computed_value() {
        // Ranks of a: 1 2 3 4; of b: 1 3 2 4 -> rho = 1 - 6*2/(4*15) = 0.8
        let rho = spearman(&[0.1, 0.2, 0.3, 0.4], &[1.0, 3.0, 2.0, 4.0]);
        assert!((rho - 0.8).abs() < 1e-12, "{rho}");
        assert_eq!(ranks(&[5.0, 1.0, 5.0]), [2.5, 1.0, 2.5]);
    }

    #[test]
    fn csv_fields_keep_quoted_commas_and_quotes() {
        let rows = csv_rows("a,\"b, c\",\"say \"\"hi\"\"\"\r\nd,e,f\n");
        assert_eq!(rows, [vec!["a", "b, c", "say \"hi\""], vec!["d", "e", "f"]]);
    }

    #[test]
    fn the_stsb_test_split_is_in_the_repository() {
        let pairs = stsb_test();
        assert!(pairs.iter().all(|p| (0.0..=5.0).contains(&p.score)));
        assert_eq!(stsb_sentences().len(), 2 * 1379);
    }
}
