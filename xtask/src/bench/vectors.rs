//! The vectors each engine wrote, read back and checked against sentence-transformers': the
//! runners' `.npy` files and the CLI's JSON Lines. Knows nothing of how they were computed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Where a run's vectors are.
#[derive(Debug, Clone)]
pub enum Vectors {
    /// A 2-D little-endian f32 `.npy` file (the runners').
    Npy(PathBuf),
    /// The CLI's JSON Lines output (`"index"`, `"embedding"`).
    Jsonl(PathBuf),
}

impl Vectors {
    /// The vectors, one row per text, in corpus order.
    pub fn read(&self) -> anyhow::Result<Vec<Vec<f32>>> {
        match self {
            Vectors::Npy(path) => read_npy(path),
            Vectors::Jsonl(path) => read_jsonl(path),
        }
    }
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

/// Reads the `"embedding"` of each line of the CLI's JSON Lines output, by `"index"`.
fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Vec<f32>>> {
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

/// The least cosine between two sets of vectors, row by row.
pub fn min_cosine(a: &[Vec<f32>], b: &[Vec<f32>]) -> anyhow::Result<f64> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_and_jsonl_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let npy = dir.path().join("v.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
        bytes.extend_from_slice(header.as_bytes());
        for v in [1.0f32, -2.5, 3.0, 0.0, 0.5, 7.25] {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        std::fs::write(&npy, bytes).unwrap();
        let rows = vec![vec![1.0f32, -2.5, 3.0], vec![0.0, 0.5, 7.25]];
        assert_eq!(Vectors::Npy(npy).read().unwrap(), rows);
        let jsonl = dir.path().join("v.jsonl");
        std::fs::write(&jsonl, "{\"index\":1,\"embedding\":[0,0.5,7.25]}\n{\"index\":0,\"embedding\":[1,-2.5,3]}\n")
            .unwrap();
        assert_eq!(Vectors::Jsonl(jsonl).read().unwrap(), rows);
        assert!((min_cosine(&rows, &rows).unwrap() - 1.0).abs() < 1e-12);
    }
}
