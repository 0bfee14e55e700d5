//! Fuzz target: embed-tokenize with all-MiniLM-L6-v2's real tokenizer. Arbitrary bytes become a
//! batch of texts (split on 0xFF, each part decoded lossily) or of token ids, tokenized with
//! options drawn from a small set (maximum length, truncation side, padding), then packed into
//! a `TokenBatch` and padded into the `PaddedBatch` ONNX Runtime is given.
//!
//! Invariants: every input gets exactly one row (or the whole batch a clear error); no row is
//! longer than the maximum length; a row is truncated exactly when the untruncated count is
//! over the maximum; a text tokenizes the same inside the batch and alone; the attention mask
//! is 1 on the row's tokens and 0 on the padding; a reused batch equals a fresh one.

#![no_main]

mod common;

use std::sync::Mutex;

use embed_runtime::{PaddedBatch, TokenBatch};
use embed_tokenize::{TokenizedText, Tokenizer, TokenizerOptions, TruncationSide};
use libfuzzer_sys::fuzz_target;

/// Maximum lengths the target tries (`None`: the model's 256). Tiny ones leave little or no
/// room besides `[CLS]` and `[SEP]`; 513 is over the model's 512 positions.
const MAX_LENGTHS: [Option<usize>; 8] = [None, Some(1), Some(2), Some(3), Some(5), Some(16), Some(512), Some(513)];

/// One batch buffer reused across runs, as the library's callers reuse theirs.
static REUSED: Mutex<Option<PaddedBatch>> = Mutex::new(None);

fuzz_target!(|data: &[u8]| {
    let Some((&settings, rest)) = data.split_first() else {
        return;
    };
    let options = TokenizerOptions {
        max_length: MAX_LENGTHS[usize::from(settings & 7)],
        truncation: (settings & 8 != 0).then_some(TruncationSide::Left),
        pad_to_max_length: settings & 16 != 0,
    };
    let side = match (settings >> 5) & 3 {
        0 => None,
        1 => Some(TruncationSide::Right),
        _ => Some(TruncationSide::Left),
    };
    let token_ids = settings & 128 != 0;
    let tokenizer = match common::tokenizer(&options) {
        Ok(tokenizer) => tokenizer,
        Err(message) => {
            assert!(!message.is_empty(), "a refused option set says why");
            return;
        }
    };
    assert!(
        tokenizer.max_length() > tokenizer.special_tokens_count(),
        "options {options:?} accepted though max length {} leaves no room after {} special tokens",
        tokenizer.max_length(),
        tokenizer.special_tokens_count()
    );
    let rows = if token_ids { check_ids(&tokenizer, rest, side) } else { check_texts(&tokenizer, rest, side) };
    if let Some(rows) = rows {
        check_pack(&tokenizer, &options, &rows);
    }
});

/// Texts: tokenized in a batch, alone, and counted without truncation.
fn check_texts(tokenizer: &Tokenizer, bytes: &[u8], side: Option<TruncationSide>) -> Option<Vec<TokenizedText>> {
    let texts: Vec<String> =
        bytes.split(|&b| b == 0xFF).map(|part| String::from_utf8_lossy(part).into_owned()).collect();
    let rows = match tokenizer.tokenize_with(&texts, side) {
        Ok(rows) => rows,
        Err(error) => {
            assert!(!error.to_string().is_empty());
            return None;
        }
    };
    assert_eq!(rows.len(), texts.len(), "one row per text");
    let max = tokenizer.max_length();
    for (text, row) in texts.iter().zip(&rows) {
        check_row(tokenizer, row);
        let alone = tokenizer
            .tokenize_with(std::slice::from_ref(text), side)
            .expect("a text tokenized in a batch tokenizes alone");
        assert_eq!(alone.as_slice(), std::slice::from_ref(row), "{text:?}: batch and alone differ");
        let count = tokenizer.count_tokens(text).expect("count tokens");
        assert_eq!(row.len(), count.min(max), "{text:?}: {count} tokens before truncation to {max}");
        assert_eq!(row.truncated, count > max, "{text:?}: truncation flag with {count} tokens and maximum {max}");
    }
    Some(rows)
}

/// Token ids: bytes taken four at a time, lists split on a 0xFFFFFFFF id; ids are kept as
/// they are when the first byte is odd (mostly outside the vocabulary), else folded into it.
fn check_ids(tokenizer: &Tokenizer, bytes: &[u8], side: Option<TruncationSide>) -> Option<Vec<TokenizedText>> {
    let vocab = tokenizer.vocab_size();
    let raw = bytes.first().is_some_and(|b| b & 1 == 1);
    let words: Vec<u32> = bytes.chunks_exact(4).map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]])).collect();
    let lists: Vec<Vec<u32>> = words
        .split(|&w| w == u32::MAX)
        .map(|list| list.iter().map(|&id| if raw { id } else { id % (vocab as u32 + 4) }).collect())
        .collect();
    let result = tokenizer.from_ids(&lists, side);
    let outside = lists.iter().flatten().find(|&&id| id as usize >= vocab);
    let rows = match (result, outside) {
        (Err(error), Some(id)) => {
            let message = error.to_string();
            assert!(message.contains(&id.to_string()) && message.contains("outside the vocabulary"), "{message}");
            return None;
        }
        (Err(error), None) => panic!("valid ids refused: {error}"),
        (Ok(_), Some(id)) => panic!("id {id} outside the vocabulary of {vocab} accepted"),
        (Ok(rows), None) => rows,
    };
    assert_eq!(rows.len(), lists.len(), "one row per list of ids");
    let max = tokenizer.max_length();
    let special = tokenizer.special_tokens_count();
    let left = side.unwrap_or(tokenizer.truncation_side()) == TruncationSide::Left;
    for (ids, row) in lists.iter().zip(&rows) {
        check_row(tokenizer, row);
        let full = ids.len() + special;
        assert_eq!(row.len(), full.min(max), "{} ids, maximum {max}", ids.len());
        assert_eq!(row.truncated, full > max);
        // [CLS] ids [SEP]: the kept ids are the first ones (right truncation) or the last ones.
        let kept = row.len() - special;
        let expected = if left { &ids[ids.len() - kept..] } else { &ids[..kept] };
        assert_eq!(&row.ids[1..1 + kept], expected, "kept ids on the {} side", if left { "left" } else { "right" });
    }
    Some(rows)
}

fn check_row(tokenizer: &Tokenizer, row: &TokenizedText) {
    assert!(
        row.len() <= tokenizer.max_length(),
        "row of {} tokens over the maximum {}",
        row.len(),
        tokenizer.max_length()
    );
    assert!(row.len() >= tokenizer.special_tokens_count(), "row lost its special tokens: {row:?}");
    assert_eq!(row.type_ids.len(), row.ids.len());
    assert!(row.ids.iter().all(|&id| (id as usize) < tokenizer.vocab_size()));
}

/// Packing and padding: shapes, the attention mask, and a reused buffer equal to a fresh one.
fn check_pack(tokenizer: &Tokenizer, options: &TokenizerOptions, rows: &[TokenizedText]) {
    let ids: Vec<u32> = rows.iter().flat_map(|r| r.ids.iter().copied()).collect();
    let type_ids: Vec<u32> = rows.iter().flat_map(|r| r.type_ids.iter().copied()).collect();
    let lengths: Vec<usize> = rows.iter().map(TokenizedText::len).collect();
    let batch =
        TokenBatch { ids: &ids, type_ids: &type_ids, lengths: &lengths, pad_id: tokenizer.pad_id(), pad_to: tokenizer.pad_to() };
    batch.check().expect("a tokenized batch is consistent");
    let mut fresh = PaddedBatch::default();
    fresh.fill(&batch);
    let longest = lengths.iter().copied().max().unwrap_or(0);
    assert_eq!(fresh.rows, rows.len());
    let expected_len = if options.pad_to_max_length && !rows.is_empty() { tokenizer.max_length() } else { longest };
    assert_eq!(fresh.seq_len, expected_len);
    assert!(fresh.seq_len <= tokenizer.max_length());
    let total = fresh.rows * fresh.seq_len;
    assert_eq!((fresh.input_ids.len(), fresh.attention_mask.len(), fresh.token_type_ids.len()), (total, total, total));
    assert_eq!(ids.len(), fresh.attention_mask.iter().sum::<i64>() as usize);
    for (r, row) in rows.iter().enumerate() {
        let span = r * fresh.seq_len..(r + 1) * fresh.seq_len;
        let mask = &fresh.attention_mask[span.clone()];
        assert!(mask[..row.len()].iter().all(|&m| m == 1) && mask[row.len()..].iter().all(|&m| m == 0));
        let padded_ids = &fresh.input_ids[span];
        assert!(padded_ids[..row.len()].iter().zip(&row.ids).all(|(&a, &b)| a == i64::from(b)));
        assert!(padded_ids[row.len()..].iter().all(|&a| a == i64::from(tokenizer.pad_id())));
    }
    let mut reused = REUSED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let padded = reused.get_or_insert_with(PaddedBatch::default);
    padded.fill(&batch);
    assert_eq!(
        (&padded.input_ids, &padded.attention_mask, &padded.token_type_ids, padded.rows, padded.seq_len),
        (&fresh.input_ids, &fresh.attention_mask, &fresh.token_type_ids, fresh.rows, fresh.seq_len),
        "a reused batch differs from a fresh one"
    );
}
