//! Integration tests of embed-tokenize with a real model's tokenizer files (all-MiniLM-L6-v2,
//! found under `$MODEL_CACHE_DIR` or the workspace's `models/`) and the architecture fixtures'
//! (`fixtures/architectures/`). Regression tests for what the fuzz targets in `fuzz/` found live
//! here.

use std::path::PathBuf;

use embed_test_support::fixture_dir;
use embed_tokenize::{TokenizeError, Tokenizer, TokenizerOptions, TruncationSide};

fn model_dir() -> PathBuf {
    embed_test_support::model_dir("all-MiniLM-L6-v2")
}

fn tokenizer(max_length: Option<usize>, truncation: Option<TruncationSide>) -> Result<Tokenizer, TokenizeError> {
    Tokenizer::from_dir(&model_dir(), &TokenizerOptions { max_length, truncation, pad_to_max_length: false })
}

/// Found by the `tokenize_batch` fuzz target: a maximum length at or under the two special
/// tokens overflowed inside the tokenizers library (a panic in debug builds; in release no
/// truncation at all, so texts longer than the maximum reached the model).
#[test]
fn a_maximum_without_room_for_text_is_refused() {
    for max_length in [1, 2] {
        for side in [None, Some(TruncationSide::Left)] {
            let error = tokenizer(Some(max_length), side).expect_err("no room for text");
            assert!(matches!(error, TokenizeError::MaxLength { found, .. } if found == max_length), "{error:?}");
        }
    }
}

#[test]
fn the_smallest_maximum_keeps_one_token_of_text_on_either_side() {
    let tokenizer = tokenizer(Some(3), None).expect("room for one token");
    let text = "first middle last";
    for (side, kept) in [(TruncationSide::Right, "first"), (TruncationSide::Left, "last")] {
        let rows = tokenizer.tokenize_with(&[text], Some(side)).expect("tokenize");
        assert_eq!(rows[0].len(), 3, "{side:?}");
        assert!(rows[0].truncated);
        let alone = tokenizer.tokenize(&[kept]).expect("tokenize");
        assert_eq!(rows[0].ids, alone[0].ids, "{side:?} keeps `{kept}`");
        let ids = tokenizer.from_ids(&[vec![1000, 2000, 3000]], Some(side)).expect("ids");
        assert_eq!(ids[0].ids[1], if side == TruncationSide::Right { 1000 } else { 3000 });
        assert_eq!(ids[0].len(), 3);
    }
}

fn fixture_tokenizer(dir: &std::path::Path) -> Tokenizer {
    Tokenizer::from_dir(dir, &TokenizerOptions::default()).expect("the fixture's tokenizer")
}

/// sentence-transformers leaves a prompt out of pooling by its length tokenized alone, less a
/// trailing special token (21 for this prompt under this tokenizer, as sentence-transformers
/// computed it when the fixture was made).
#[test]
fn a_prompt_s_length_drops_the_trailing_special_token() {
    let prompt = "Represent the question for retrieving supporting documents: ";
    let bert = fixture_tokenizer(&fixture_dir("bert-prompt-excluded"));
    assert_eq!(bert.prompt_tokens(prompt).unwrap(), 21);
    for fixture in ["roberta-bpe", "bert-unigram-xlmr", "mpnet"] {
        let tokenizer = fixture_tokenizer(&fixture_dir(fixture));
        let alone = tokenizer.tokenize(&[prompt]).unwrap()[0].len();
        assert_eq!(tokenizer.prompt_tokens(prompt).unwrap(), alone - 1, "{fixture}: </s> is special");
    }
}

/// `do_lower_case: true` in `sentence_bert_config.json` lowercases before a cased tokenizer.
#[test]
fn do_lower_case_lowercases_before_the_tokenizer() {
    let cased = fixture_dir("bert-cls-dense");
    let copy = tempfile::tempdir().unwrap();
    for file in ["tokenizer.json", "tokenizer_config.json", "config.json"] {
        std::fs::copy(cased.join(file), copy.path().join(file)).unwrap();
    }
    std::fs::write(copy.path().join("sentence_bert_config.json"), r#"{"max_seq_length": 256, "do_lower_case": true}"#)
        .unwrap();
    let as_saved = fixture_tokenizer(&cased);
    let lowercasing = fixture_tokenizer(copy.path());
    let ids = |tokenizer: &Tokenizer, text: &str| tokenizer.tokenize(&[text]).unwrap().remove(0).ids;
    assert_ne!(ids(&as_saved, "The Cat SITS"), ids(&as_saved, "the cat sits"), "the fixture's tokenizer is cased");
    assert_eq!(ids(&lowercasing, "The Cat SITS"), ids(&as_saved, "the cat sits"));
    assert_eq!(lowercasing.max_length(), 256);
}
