//! Long documents: chunk boundaries on Unicode text (CJK, emoji, combining accents) and the
//! document embedding pooled from the chunks, on real tokenizers and the real model.

use embed_core::{Chunk, Chunking, EmbedOptions, Service, normalize};
use embed_tokenize::{Tokenizer, TokenizerOptions};
use unicode_segmentation::UnicodeSegmentation;

use crate::support::{cosine, models_dir, service, service_with_batches_of};

const MODEL: &str = "all-MiniLM-L6-v2";

/// The chunks `model` cuts `text` into.
fn chunk(model: &Service, text: &str, chunking: &Chunking) -> Result<Vec<Chunk>, embed_core::EmbedError> {
    model.model().chunk(text, chunking)
}

fn tokenizer(model: &str) -> Tokenizer {
    Tokenizer::from_dir(&models_dir().join(model), &TokenizerOptions::default())
        .unwrap_or_else(|e| panic!("cannot load the tokenizer of {model}: {e} (run `cargo xtask test`)"))
}

/// A deterministic document of about 3000 tokens: English, Chinese, Japanese and Korean
/// sentences, emoji (a ZWJ sequence and a flag among them), precomposed and combining
/// accents, paragraphs separated by blank lines (one with trailing spaces), one sentence far
/// longer than the model takes and one paragraph longer than it too.
fn long_document() -> String {
    long_document_and_paragraphs().0
}

/// [`long_document`] and the byte offsets where its paragraphs start.
fn long_document_and_paragraphs() -> (String, Vec<usize>) {
    const SENTENCES: &[&str] = &[
        "The quick brown fox jumps over the lazy dog near the riverbank.",
        "机器学习是人工智能的一个分支，它使计算机能够从数据中学习。",
        "東京は日本の首都であり、世界最大の都市圏の一つです。",
        "한국어 문장도 여기에 포함되어 있습니다.",
        "Emoji like 🚀, 👩\u{200d}💻 and 🇫🇷 should never be cut in half!",
        "Cafe\u{301} au lait, nai\u{308}ve re\u{301}sume\u{301}s and An\u{303}o Nuevo use combining marks.",
        "Café, naïve, façade and Ångström are written with precomposed letters.",
        "Sentence embeddings map text to vectors that capture meaning?",
        "Ελληνικά και русский текст тоже встречаются здесь.",
        "数据 🤖 and words mixed together, 混合在一起 — with dashes… and ellipses.",
    ];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move |n: usize| {
        state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        ((state >> 33) % n as u64) as usize
    };
    let mut paragraphs = Vec::new();
    for p in 0..28 {
        let sentences = 2 + next(6);
        let mut paragraph: Vec<String> = (0..sentences).map(|_| SENTENCES[next(SENTENCES.len())].to_string()).collect();
        if p == 7 {
            // One sentence of about 450 tokens, with no sentence boundary inside.
            let words: Vec<&str> = (0..150).map(|i| ["alpha", "βeta", "ガンマ", "del\u{301}ta", "🙂"][i % 5]).collect();
            paragraph.push(words.join(" ") + ".");
        }
        if p == 15 {
            // One paragraph of about 400 tokens made of ordinary sentences.
            paragraph.extend((0..30).map(|i| SENTENCES[i % SENTENCES.len()].to_string()));
        }
        paragraphs.push(paragraph.join(if p % 3 == 0 { "\n" } else { " " }));
    }
    let mut document = String::from("\n  ");
    let mut starts = Vec::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if i > 0 {
            document.push_str(if i % 4 == 0 { "  \n \t\n" } else { "\n\n" });
        }
        starts.push(document.len());
        document.push_str(paragraph);
    }
    document.push_str("\n\n");
    (document, starts)
}

/// Byte ranges of the tokens of `document` (a test-side copy of what the chunker sees).
fn tokens_between(spans: &[(usize, usize)], start: usize, end: usize) -> usize {
    spans.iter().filter(|(s, _)| (start..end).contains(s)).count()
}

/// Properties every chunking must have; returns the chunks' texts.
fn check_chunks<'d>(document: &'d str, chunks: &[Chunk], tokenizer: &Tokenizer, what: &str) -> Vec<&'d str> {
    assert!(!chunks.is_empty(), "{what}: no chunks");
    let mut texts = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        let text = document
            .get(chunk.start..chunk.end)
            .unwrap_or_else(|| panic!("{what}: chunk {i} {}..{} is not a char-boundary slice", chunk.start, chunk.end));
        assert_eq!(chunk.text(document), text);
        assert!(!text.is_empty(), "{what}: chunk {i} is empty");
        assert_eq!(text, text.trim(), "{what}: chunk {i} is not trimmed");
        let tokens = tokenizer.count_tokens(text).expect("counting tokens");
        assert!(
            tokens <= tokenizer.max_length(),
            "{what}: chunk {i} has {tokens} tokens, more than {}",
            tokenizer.max_length()
        );
        assert_eq!(chunk.tokens + tokenizer.special_tokens_count(), tokens, "{what}: chunk {i} miscounts its tokens");
        texts.push(text);
    }
    // In order, and covering the document: only whitespace outside the chunks.
    assert!(document[..chunks[0].start].trim().is_empty(), "{what}: text before the first chunk");
    assert!(document[chunks[chunks.len() - 1].end..].trim().is_empty(), "{what}: text after the last chunk");
    for (i, pair) in chunks.windows(2).enumerate() {
        let (a, b) = (pair[0], pair[1]);
        assert!(a.start < b.start && a.end < b.end, "{what}: chunks {i} and {} out of order", i + 1);
        if b.start > a.end {
            assert!(document[a.end..b.start].trim().is_empty(), "{what}: text lost between chunks {i} and {}", i + 1);
        }
    }
    texts
}

#[test]
fn token_spans_are_byte_offsets_on_non_ascii_text() {
    let tokenizer = tokenizer(MODEL);
    assert_eq!(tokenizer.special_tokens_count(), 2, "[CLS] and [SEP]");
    let text = "Cafe\u{301} 漢字 🚀 Ångström ok";
    let spans = tokenizer.token_spans(text).unwrap();
    let pieces: Vec<&str> = spans.iter().map(|&(s, e)| text.get(s..e).expect("char-boundary slice")).collect();
    // Uncased BERT drops the combining accent (no token covers it), splits CJK characters and
    // words it does not know; offsets count bytes, not chars.
    assert_eq!(pieces, ["Cafe", "漢", "字", "🚀", "Ång", "ström", "ok"], "{spans:?}");
    assert_eq!(spans[1], (7, 10));
    assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "ordered, disjoint: {spans:?}");
    assert_eq!(spans.len() + 2, tokenizer.count_tokens(text).unwrap(), "no special tokens, no truncation");
    let long = "word ".repeat(1000);
    assert_eq!(tokenizer.token_spans(&long).unwrap().len(), 1000, "not truncated");
}

#[test]
fn every_strategy_cuts_unicode_text_into_valid_fitting_chunks() {
    let document = long_document();
    for model in [MODEL, "all-mpnet-base-v2"] {
        let tokenizer = tokenizer(model);
        let chunker = service(model);
        let total = tokenizer.token_spans(&document).unwrap().len();
        assert!((2500..4500).contains(&total), "the test document should have about 3000 tokens, has {total}");
        for spec in ["tokens", "tokens:100", "sentences", "sentences:60", "paragraphs", "paragraphs:80"] {
            let chunking: Chunking = spec.parse().unwrap();
            let chunks = chunk(&chunker, &document, &chunking).unwrap();
            let what = format!("{model} {spec}");
            check_chunks(&document, &chunks, &tokenizer, &what);
            assert!(chunks.windows(2).all(|w| w[0].end <= w[1].start), "{what}: chunks overlap");
            let room = tokenizer.max_length() - tokenizer.special_tokens_count();
            let limit = match chunking {
                Chunking::Tokens { size, .. } => size.unwrap_or(room),
                Chunking::Sentences { max_tokens } | Chunking::Paragraphs { max_tokens } => max_tokens.unwrap_or(room),
            };
            assert!(chunks.iter().all(|c| c.tokens <= limit), "{what}: a chunk over {limit} tokens");
            assert!(chunks.len() >= total.div_ceil(limit), "{what}: too few chunks");
        }
    }
}

#[test]
fn token_windows_overlap_as_asked() {
    let document = long_document();
    let tokenizer = tokenizer(MODEL);
    let chunker = service(MODEL);
    let spans = tokenizer.token_spans(&document).unwrap();
    for (size, overlap) in [(100, 30), (254, 50), (37, 36), (64, 0)] {
        let chunking = Chunking::Tokens { size: Some(size), overlap };
        let chunks = chunk(&chunker, &document, &chunking).unwrap();
        let what = chunking.to_string();
        check_chunks(&document, &chunks, &tokenizer, &what);
        // A window holds fewer than `size` of the document's tokens (and the next one starts
        // earlier) only where the ideal cut would split one character's tokens (Hangul
        // syllables decompose into jamo) or, cut inside a word, its text tokenizes alone into
        // more tokens than in the document.
        let mut exact = 0;
        for (i, chunk) in chunks.iter().enumerate() {
            let tokens = tokens_between(&spans, chunk.start, chunk.end);
            assert!(tokens <= size && chunk.tokens <= size, "{what}: chunk {i} has {tokens} tokens");
            if i + 1 == chunks.len() {
                let first = spans.partition_point(|&(s, _)| s < chunk.start);
                assert_eq!(first + tokens, spans.len(), "{what}: the last chunk ends the document");
                break;
            }
            let shared = tokens_between(&spans, chunks[i + 1].start, chunk.end);
            // Windows moved or dropped (one shrunk inside the one before) share a few tokens
            // more or less; most share exactly `overlap`.
            assert!(
                shared + 3 >= overlap && shared <= overlap + 3,
                "{what}: chunks {i} and {} share {shared} tokens",
                i + 1
            );
            exact += usize::from(tokens == size && chunk.tokens == size && shared == overlap);
        }
        assert!(exact * 10 >= chunks.len() * 8, "{what}: only {exact} of {} windows are exact", chunks.len());
    }
}

#[test]
fn sentences_and_paragraphs_cut_at_their_boundaries() {
    let (document, paragraph_starts) = long_document_and_paragraphs();
    let chunker = service(MODEL);
    let trimmed_start = |s: usize, text: &str| s + (text.len() - text.trim_start().len());
    let sentence_starts: Vec<usize> =
        document.split_sentence_bound_indices().map(|(s, text)| trimmed_start(s, text)).collect();
    let sentences = chunk(&chunker, &document, &Chunking::Sentences { max_tokens: None }).unwrap();
    let off_boundary = sentences.iter().filter(|c| !sentence_starts.contains(&c.start)).count();
    // Only the windows that continue the one overlong sentence start elsewhere.
    assert!((1..=2).contains(&off_boundary), "{off_boundary} sentence chunks start inside a sentence");
    assert!(sentences.len() < sentence_starts.len() / 2, "sentences are packed together");

    let paragraphs = chunk(&chunker, &document, &Chunking::Paragraphs { max_tokens: None }).unwrap();
    let inside: Vec<&str> =
        paragraphs.iter().filter(|c| !paragraph_starts.contains(&c.start)).map(|c| c.text(&document)).collect();
    // The two overlong paragraphs are cut by sentences (and the long sentence by tokens).
    // The two overlong paragraphs are cut by sentences, and the long sentence by tokens.
    assert!((2..=6).contains(&inside.len()), "{} paragraph chunks start inside a paragraph: {inside:#?}", inside.len());
    assert!(paragraphs.len() < 28, "short paragraphs are packed together");
}

#[test]
fn an_empty_or_blank_document_is_one_chunk_of_the_whole_text() {
    let chunker = service(MODEL);
    for text in ["", "   \n\n \t "] {
        for spec in ["tokens", "sentences", "paragraphs:10"] {
            let chunks = chunk(&chunker, text, &spec.parse().unwrap()).unwrap();
            assert_eq!(chunks, [Chunk { start: 0, end: text.len(), tokens: 0 }], "{text:?} {spec}");
        }
    }
}

#[test]
fn sizes_the_model_cannot_take_are_errors() {
    let chunker = service(MODEL);
    let cases = [
        (
            Chunking::Tokens { size: Some(300), overlap: 0 },
            "invalid chunking `tokens:300`: the size (300 tokens) exceeds the 254 tokens of text the model takes \
             (its maximum length 256 less 2 special tokens)",
        ),
        (
            Chunking::Tokens { size: None, overlap: 254 },
            "invalid chunking `tokens::254`: the overlap (254) must be less than the size (254), and the size at least 1",
        ),
        (
            Chunking::Sentences { max_tokens: Some(255) },
            "invalid chunking `sentences:255`: the maximum (255 tokens) exceeds the 254 tokens of text the model takes \
             (its maximum length 256 less 2 special tokens)",
        ),
    ];
    for (chunking, message) in cases {
        let error = chunk(&chunker, "some text", &chunking).expect_err(message);
        assert_eq!(error.to_string(), message);
    }
    for (spec, message) in [
        ("tokens:10:10", "invalid chunking `tokens:10:10`: the overlap (10) must be less than the size (10)"),
        ("tokens:0", "invalid chunking `tokens:0`: the size must be at least 1, found 0"),
        (
            "words",
            "invalid chunking `words`: expected tokens[:SIZE[:OVERLAP]], sentences[:MAX_TOKENS] or paragraphs[:MAX_TOKENS]",
        ),
    ] {
        assert_eq!(spec.parse::<Chunking>().expect_err(spec).to_string(), message);
    }
}

#[test]
fn a_short_document_is_embedded_as_one_text() {
    let service = service(MODEL);
    let text = "Café 漢字 🚀: a short document that fits the model.";
    for spec in ["tokens", "tokens:100:20", "sentences", "paragraphs"] {
        let doc = service.embed_document(text, &spec.parse().unwrap(), service.default_options()).unwrap();
        assert_eq!(doc.chunks.len(), 1, "{spec}");
        let chunk = &doc.chunks[0];
        assert_eq!((chunk.start, chunk.end, chunk.text.as_str()), (0, text.len(), text));
        let alone = service.embed(text).unwrap();
        assert!(cosine(&chunk.embedding.vector, &alone) >= 0.99999, "{spec}");
        assert!(cosine(&doc.document, &alone) >= 0.99999, "{spec}");
        assert!(doc.document.iter().zip(&alone).all(|(a, b)| (a - b).abs() < 1e-6), "{spec}");
    }
    let empty =
        service.embed_document("", &Chunking::Sentences { max_tokens: None }, service.default_options()).unwrap();
    assert_eq!(empty.chunks.len(), 1);
    assert!(cosine(&empty.document, &service.embed("").unwrap()) >= 0.99999);
}

#[test]
fn a_long_document_gets_fitting_chunks_and_a_token_weighted_mean() {
    let service = service_with_batches_of(MODEL, 8);
    let document = long_document();
    let doc = service.embed_document(&document, &"tokens:200:40".parse().unwrap(), service.default_options()).unwrap();
    assert!(doc.chunks.len() > 10, "{} chunks", doc.chunks.len());
    let mut expected = vec![0.0f64; doc.document.len()];
    let mut total = 0.0;
    for (i, chunk) in doc.chunks.iter().enumerate() {
        assert_eq!(chunk.text, document[chunk.start..chunk.end], "chunk {i}");
        assert!(!chunk.embedding.truncated, "chunk {i} was truncated");
        assert!(chunk.embedding.tokens <= 202, "chunk {i} has {} tokens", chunk.embedding.tokens);
        let weight = (chunk.embedding.tokens - 2) as f64;
        total += weight;
        for (sum, value) in expected.iter_mut().zip(&chunk.embedding.vector) {
            *sum += weight * f64::from(*value);
        }
    }
    let mut expected: Vec<f32> = expected.iter().map(|v| (v / total) as f32).collect();
    normalize(&mut expected);
    assert!(cosine(&doc.document, &expected) >= 0.99999);
    let norm: f32 = doc.document.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    // A chunk embedded inside the document equals the chunk embedded alone.
    for chunk in [&doc.chunks[0], &doc.chunks[doc.chunks.len() / 2], &doc.chunks[doc.chunks.len() - 1]] {
        assert!(cosine(&chunk.embedding.vector, &service.embed(&chunk.text).unwrap()) >= 0.99999);
    }
    let unknown = EmbedOptions { prompt: Some("query".into()), ..service.default_options().clone() };
    let error = service.embed_document(&document, &"sentences".parse().unwrap(), &unknown).unwrap_err();
    assert!(matches!(&error, embed_core::EmbedError::UnknownPrompt { prompt, .. } if prompt == "query"), "{error:?}");
}

/// Found by the `chunker` fuzz target: with a limit of a token or two, a window holding one
/// token of the document could come out longer tokenized alone (`ffa`, cut from `unaffable`,
/// is `ff ##a`) and was kept over the limit; such a piece is now cut by characters.
#[test]
fn a_word_piece_over_a_tiny_limit_is_cut_by_characters() {
    let tokenizer = tokenizer(MODEL);
    let chunker = service(MODEL);
    let document = "unaffable antidisestablishmentarianism";
    for (size, overlap) in [(1, 0), (2, 0), (2, 1), (3, 1)] {
        let chunking = Chunking::Tokens { size: Some(size), overlap };
        let chunks = chunk(&chunker, document, &chunking).expect("chunks");
        check_chunks(document, &chunks, &tokenizer, &chunking.to_string());
        for chunk in &chunks {
            assert!(chunk.tokens <= size, "{chunking}: {:?} has {} tokens", chunk.text(document), chunk.tokens);
        }
    }
    for chunking in [Chunking::Sentences { max_tokens: Some(1) }, Chunking::Paragraphs { max_tokens: Some(1) }] {
        let chunks = chunk(&chunker, document, &chunking).expect("chunks");
        check_chunks(document, &chunks, &tokenizer, &chunking.to_string());
        assert!(chunks.iter().all(|c| c.tokens <= 1), "{chunking}: {chunks:?}");
    }
}
