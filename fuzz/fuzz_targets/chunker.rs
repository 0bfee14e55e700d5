//! Fuzz target: embed-core's chunking of long documents (`chunk_document`) with
//! all-MiniLM-L6-v2's real tokenizer, arbitrary text and arbitrary chunk settings (token
//! windows with overlap, sentences, paragraphs), at the model's maximum length and at small
//! ones so that short inputs make many chunks.
//!
//! Invariants: a valid setting always chunks, an invalid one is refused; chunks are non-empty
//! slices of the text on char boundaries, in document order, without surrounding whitespace,
//! each at most the limit in tokens (its own text tokenized alone); together they cover every
//! non-whitespace character; only token windows with overlap share text. Infinite loops show
//! up as libFuzzer timeouts.

#![no_main]

mod common;

use embed_core::fuzzing::chunk_document;
use embed_core::{Chunking, EmbedError};
use embed_tokenize::TokenizerOptions;
use libfuzzer_sys::fuzz_target;

/// Maximum lengths tried: the model's (256), and small ones (room for 1, 3 and 14 tokens).
const MAX_LENGTHS: [Option<usize>; 4] = [None, Some(3), Some(5), Some(16)];

fuzz_target!(|data: &[u8]| {
    let [settings, size, overlap, rest @ ..] = data else {
        return;
    };
    let options = TokenizerOptions { max_length: MAX_LENGTHS[usize::from(settings & 3)], ..Default::default() };
    let tokenizer = common::tokenizer(&options).expect("the tokenizer loads");
    let room = tokenizer.max_length() - tokenizer.special_tokens_count();
    // Sizes around the room (some invalid), or unset; wide sizes when bit 4 is set.
    let number = |byte: u8| -> Option<usize> {
        match byte {
            0 => None,
            b if settings & 16 != 0 => Some(usize::from(b) * 2),
            b => Some(usize::from(b) % (room + 3)),
        }
    };
    let chunking = match (settings >> 2) & 3 {
        0 | 1 => Chunking::Tokens { size: number(*size), overlap: number(*overlap).unwrap_or(0) },
        2 => Chunking::Sentences { max_tokens: number(*size) },
        _ => Chunking::Paragraphs { max_tokens: number(*size) },
    };
    let (limit, valid) = match chunking {
        Chunking::Tokens { size, overlap } => {
            let size = size.unwrap_or(room);
            (size, size >= 1 && overlap < size && size <= room)
        }
        Chunking::Sentences { max_tokens } | Chunking::Paragraphs { max_tokens } => {
            let max = max_tokens.unwrap_or(room);
            (max, max >= 1 && max <= room)
        }
    };
    let text = String::from_utf8_lossy(rest);
    let text = text.as_ref();
    let chunks = match chunk_document(text, &chunking, &tokenizer) {
        Ok(chunks) => {
            assert!(valid, "{chunking} accepted with {room} tokens of room");
            chunks
        }
        Err(EmbedError::Chunking { .. }) if !valid => return,
        Err(error) => panic!("{chunking} refused ({room} tokens of room): {error}"),
    };
    assert!(!chunks.is_empty(), "no chunks");
    let special = tokenizer.special_tokens_count();
    if text.trim().is_empty() {
        assert_eq!(chunks.len(), 1);
        assert_eq!((chunks[0].start, chunks[0].end), (0, text.len()));
    }
    for chunk in &chunks {
        assert!(
            chunk.start <= chunk.end && chunk.end <= text.len(),
            "{chunk:?} outside the text of {} bytes",
            text.len()
        );
        assert!(text.is_char_boundary(chunk.start) && text.is_char_boundary(chunk.end), "{chunk:?} cuts a character");
        let slice = chunk.text(text);
        let tokens = tokenizer.count_tokens(slice).expect("count tokens") - special;
        assert_eq!(chunk.tokens, tokens, "{chunk:?} {slice:?}: tokens counted alone");
        assert!(chunk.tokens <= limit, "{chunk:?} {slice:?}: {tokens} tokens over the limit {limit} ({chunking})");
        if !text.trim().is_empty() {
            assert!(!slice.is_empty() && slice.trim() == slice, "{chunk:?} {slice:?}: empty or untrimmed");
        }
    }
    let overlapping = matches!(chunking, Chunking::Tokens { overlap, .. } if overlap > 0);
    for pair in chunks.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert!(a.start <= b.start && a.end < b.end, "chunks out of order: {a:?} then {b:?}");
        if !overlapping {
            assert!(a.end <= b.start, "chunks overlap without an overlap asked: {a:?} then {b:?}");
        }
    }
    // Every non-whitespace character lies in a chunk (chunks are ordered by start).
    let mut next = 0;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            continue;
        }
        while next < chunks.len() && chunks[next].end <= i {
            next += 1;
        }
        let covered = chunks[next..].iter().take_while(|ch| ch.start <= i).any(|ch| i < ch.end);
        assert!(covered, "{c:?} at byte {i} is in no chunk: {chunks:?}");
    }
});
