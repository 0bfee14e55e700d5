//! Embedding a long document: cut it into chunks that fit the model ([`crate::chunk`]), embed
//! the chunks, and pool them into one document vector.
//!
//! Chunks are embedded through [`Service::embed_with`], so they go through the embedding cache
//! like any text. Nothing here knows ONNX Runtime.

use crate::chunk::{Chunking, chunk_with_prompt};
use crate::model::{EmbedOptions, Embedding};
use crate::pooling::normalize;
use crate::{EmbedError, Service};

/// One chunk of a document with its embedding.
#[derive(Debug, Clone, PartialEq)]
pub struct ChunkEmbedding {
    /// Byte offset of the chunk in the document.
    pub start: usize,
    /// Byte offset just past the chunk's end.
    pub end: usize,
    /// The chunk's text (`&document[start..end]`).
    pub text: String,
    /// Its embedding; `tokens` counts the special tokens and prompt too.
    pub embedding: Embedding,
}

/// A document's chunks and the vector pooled from them.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentEmbedding {
    /// The chunks, in document order.
    pub chunks: Vec<ChunkEmbedding>,
    /// The chunk vectors averaged with each chunk weighted by the tokens of its text, then
    /// scaled to unit length when the options normalize. A document of one chunk gets that
    /// chunk's vector.
    pub document: Vec<f32>,
}

impl Service {
    /// Embeds a document of any length: cuts it as `chunking` says (every chunk within the
    /// model's maximum length, leaving room for the prompt the options name), embeds the
    /// chunks with `options`, and pools them into one vector.
    ///
    /// ```no_run
    /// let service = embed_core::Service::new(embed_core::Config::default())?;
    /// let long = "A sentence about embeddings. ".repeat(500);
    /// let chunking: embed_core::Chunking = "tokens:200:40".parse()?;
    /// let doc = service.embed_document(&long, &chunking, service.default_options())?;
    /// assert!(doc.chunks.len() > 1);
    /// assert_eq!(doc.document.len(), 384);
    /// # Ok::<(), embed_core::EmbedError>(())
    /// ```
    pub fn embed_document(
        &self,
        text: &str,
        chunking: &Chunking,
        options: &EmbedOptions,
    ) -> Result<DocumentEmbedding, EmbedError> {
        let model = self.model();
        let prompt = model.prompt_text(options.prompt.as_deref())?.unwrap_or("");
        let chunks = chunk_with_prompt(text, chunking, &model.tokenizer, prompt)?;
        let texts: Vec<&str> = chunks.iter().map(|chunk| chunk.text(text)).collect();
        let embeddings = self.embed_with(&texts, options)?;
        let width = embeddings.first().map_or(0, |e| e.vector.len());
        let mut sums = vec![0.0f64; width];
        let mut total = 0.0f64;
        for (chunk, embedding) in chunks.iter().zip(&embeddings) {
            // At least 1, so that a document of only whitespace still has a vector.
            let weight = chunk.tokens.max(1) as f64;
            total += weight;
            for (sum, value) in sums.iter_mut().zip(&embedding.vector) {
                *sum += weight * f64::from(*value);
            }
        }
        let mut document: Vec<f32> = sums.iter().map(|sum| (sum / total.max(1.0)) as f32).collect();
        if options.normalize {
            normalize(&mut document);
        }
        let chunks = chunks
            .iter()
            .zip(embeddings)
            .map(|(chunk, embedding)| ChunkEmbedding {
                start: chunk.start,
                end: chunk.end,
                text: chunk.text(text).to_string(),
                embedding,
            })
            .collect();
        Ok(DocumentEmbedding { chunks, document })
    }
}
