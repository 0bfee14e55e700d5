//! Writing embeddings as JSON or JSON Lines, as they are computed.

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

/// Writes embeddings to `out` in one format as they come, a slice at a time, so that a long
/// input never has all its vectors in memory at once. The bytes are those of writing all the
/// embeddings at once: one JSON array of vectors, or one line per input numbered from 0.
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    format: Format,
    written: usize,
}

impl<'a> Writer<'a> {
    /// A writer of `format` to `out`; nothing is written yet.
    pub fn new(out: &'a mut dyn Write, format: Format) -> Self {
        Self { out, format, written: 0 }
    }

    /// Writes the next embeddings, in order.
    pub fn write(&mut self, embeddings: &[Embedding]) -> anyhow::Result<()> {
        for e in embeddings {
            match self.format {
                Format::Json => {
                    self.out.write_all(if self.written == 0 { b"[" } else { b"," })?;
                    serde_json::to_writer(&mut *self.out, &e.vector)?;
                }
                Format::Jsonl => {
                    let line =
                        Line { index: self.written, embedding: &e.vector, tokens: e.tokens, truncated: e.truncated };
                    serde_json::to_writer(&mut *self.out, &line)?;
                    writeln!(self.out)?;
                }
            }
            self.written += 1;
        }
        Ok(())
    }

    /// Ends the output (closes the JSON array) and flushes it.
    pub fn finish(self) -> anyhow::Result<()> {
        if self.format == Format::Json {
            self.out.write_all(if self.written == 0 { b"[]\n" } else { b"]\n" })?;
        }
        self.out.flush()?;
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::{Format, Writer};

    fn embedding(x: f32) -> embed_core::Embedding {
        embed_core::Embedding { vector: vec![x, -x], tokens: 3, truncated: false }
    }

    fn written(format: Format, slices: &[&[embed_core::Embedding]]) -> String {
        let mut out = Vec::new();
        let mut writer = Writer::new(&mut out, format);
        for slice in slices {
            writer.write(slice).expect("write to memory");
        }
        writer.finish().expect("write to memory");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn slices_write_the_bytes_of_one_array() {
        let (a, b, c) = (embedding(0.5), embedding(1.0), embedding(2.0));
        let all = [a.clone(), b.clone(), c.clone()];
        let one_array = serde_json::to_string(&all.iter().map(|e| &e.vector).collect::<Vec<_>>()).expect("json");
        assert_eq!(written(Format::Json, &[&all[..1], &[], &all[1..]]), format!("{one_array}\n"));
        assert_eq!(written(Format::Json, &[]), "[]\n");
        let lines = written(Format::Jsonl, &[&all[..2], &all[2..]]);
        let indices: Vec<u64> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("a JSON line")["index"].as_u64().expect("index")
            })
            .collect();
        assert_eq!(indices, [0, 1, 2]);
    }
}
