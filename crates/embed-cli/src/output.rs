//! Writing embeddings as JSON or JSON Lines.

use std::io::Write;

use embed_core::{DocumentEmbedding, Embedding};

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

#[derive(serde::Serialize)]
struct ChunkOut<'a> {
    start: usize,
    end: usize,
    tokens: usize,
    embedding: &'a [f32],
}

#[derive(serde::Serialize)]
struct DocumentOut<'a> {
    index: usize,
    embedding: &'a [f32],
    chunks: Vec<ChunkOut<'a>>,
}

/// Writes document embeddings: the document vector and each chunk's span (byte offsets),
/// tokens and vector; `json` as one array, `jsonl` one document per line.
pub fn write_documents(out: &mut dyn Write, format: Format, documents: &[DocumentEmbedding]) -> anyhow::Result<()> {
    let rows = documents.iter().enumerate().map(|(index, d)| DocumentOut {
        index,
        embedding: &d.document,
        chunks: d
            .chunks
            .iter()
            .map(|c| ChunkOut {
                start: c.start,
                end: c.end,
                tokens: c.embedding.tokens,
                embedding: &c.embedding.vector,
            })
            .collect(),
    });
    match format {
        Format::Json => {
            serde_json::to_writer(&mut *out, &rows.collect::<Vec<_>>())?;
            writeln!(out)?;
        }
        Format::Jsonl => {
            for row in rows {
                serde_json::to_writer(&mut *out, &row)?;
                writeln!(out)?;
            }
        }
    }
    Ok(())
}
