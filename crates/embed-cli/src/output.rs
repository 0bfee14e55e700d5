//! Writing embeddings as JSON or JSON Lines.

use std::io::Write;

use embed_core::Embedding;

/// Output formats of `embed embed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// One JSON array of vectors.
    Json,
    /// One object per input, in input order.
    Jsonl,
}

#[derive(serde::Serialize)]
struct Line<'a> {
    index: usize,
    embedding: &'a [f32],
    tokens: usize,
    truncated: bool,
}

/// Writes `embeddings` to `out` in `format`.
pub fn write(out: &mut dyn Write, format: Format, embeddings: &[Embedding]) -> anyhow::Result<()> {
    match format {
        Format::Json => {
            let vectors: Vec<&[f32]> = embeddings.iter().map(|e| e.vector.as_slice()).collect();
            serde_json::to_writer(&mut *out, &vectors)?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for (index, e) in embeddings.iter().enumerate() {
                serde_json::to_writer(
                    &mut *out,
                    &Line { index, embedding: &e.vector, tokens: e.tokens, truncated: e.truncated },
                )?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
