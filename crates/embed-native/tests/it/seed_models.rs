//! The real seed models against sentence-transformers: the committed reference vectors,
//! tokenized by embed-tokenize, pooled here as sentence-transformers pools.

use embed_native::{NativeModel, NativeOptions, PackedBatch};
use embed_test_support::{cosine, model_dir, workspace_root};
use embed_tokenize::{Tokenizer, TokenizerOptions};

#[derive(serde::Deserialize)]
struct Fixture {
    texts: Vec<String>,
    token_counts: Vec<usize>,
    embeddings: Vec<Vec<f32>>,
}

fn fixture(model: &str) -> Fixture {
    let path = workspace_root().join("crates/embed-core/tests/fixtures").join(format!("{model}.json"));
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Mean-pooled vectors of `texts` as one packed batch.
fn embed(model: &NativeModel, tokenizer: &Tokenizer, texts: &[String]) -> (Vec<Vec<f32>>, Vec<usize>) {
    let tokenized = tokenizer.tokenize(texts).unwrap();
    let ids: Vec<u32> = tokenized.iter().flat_map(|t| t.ids.iter().copied()).collect();
    let type_ids: Vec<u32> = tokenized.iter().flat_map(|t| t.type_ids.iter().copied()).collect();
    let lengths: Vec<usize> = tokenized.iter().map(|t| t.len()).collect();
    let h = model.config().hidden;
    let vectors = model
        .forward(&PackedBatch { ids: &ids, type_ids: &type_ids, lengths: &lengths }, |hidden| {
            let mut start = 0;
            lengths
                .iter()
                .map(|&len| {
                    let mut mean = vec![0.0f32; h];
                    for row in hidden[start * h..(start + len) * h].chunks_exact(h) {
                        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
                    }
                    start += len;
                    mean.iter_mut().for_each(|m| *m /= len as f32);
                    mean
                })
                .collect()
        })
        .unwrap();
    (vectors, lengths)
}

#[test]
fn seed_models_give_sentence_transformers_vectors() {
    for name in ["all-MiniLM-L6-v2", "all-mpnet-base-v2"] {
        let dir = model_dir(name);
        let model = NativeModel::load(&dir, &NativeOptions::default()).unwrap();
        let tokenizer = Tokenizer::from_dir(&dir, &TokenizerOptions::default()).unwrap();
        let fixture = fixture(name);
        let (vectors, lengths) = embed(&model, &tokenizer, &fixture.texts);
        assert_eq!(lengths, fixture.token_counts, "{name}");
        let worst = vectors.iter().zip(&fixture.embeddings).map(|(a, b)| cosine(a, b)).fold(1.0, f64::min);
        eprintln!("{name}: min cosine {worst:.7} over {} texts ({:?})", fixture.texts.len(), model.isa());
        assert!(worst >= 0.99999, "{name}: min cosine {worst}");
    }
}
