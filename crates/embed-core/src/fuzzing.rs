//! What the fuzz targets (`fuzz/`) reach behind the `fuzzing` feature: the document chunker over
//! a tokenizer they build themselves, so they need no model. Not a stable API; nothing else
//! should use it.

pub use embed_tokenize::{SentenceTransformersConfig, Tokenizer, TokenizerOptions};

use crate::{Chunk, Chunking, EmbedError};

/// Cuts `text` as [`crate::EmbeddingModel::chunk`] does, with `tokenizer`.
pub fn chunk_document(text: &str, chunking: &Chunking, tokenizer: &Tokenizer) -> Result<Vec<Chunk>, EmbedError> {
    crate::chunk::chunk_document(text, chunking, tokenizer)
}
