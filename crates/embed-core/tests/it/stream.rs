//! Async batches: every input answered exactly once, errors per input or per call,
//! cancellation by drop.

use embed_core::{EmbedError, EmbedOptions};
use futures_executor::block_on;
use futures_util::StreamExt;

use crate::support::{cosine, service_with_batches_of};

#[test]
fn every_input_is_answered_once_with_its_own_vector() {
    let service = service_with_batches_of("all-MiniLM-L6-v2", 8);
    let texts: Vec<String> = (0..70).map(|i| format!("text number {i} {}", "x ".repeat(i % 13))).collect();
    let answers: Vec<_> = block_on(service.embed_stream(texts.clone(), EmbedOptions::default()).collect());
    assert_eq!(answers.len(), texts.len());
    let mut seen = vec![false; texts.len()];
    for (index, result) in answers {
        assert!(!seen[index], "input {index} answered twice");
        seen[index] = true;
        let vector = result.unwrap().vector;
        assert!(cosine(&vector, &service.embed(&texts[index]).unwrap()) >= 0.999999);
    }
}

#[test]
fn a_refused_input_gets_its_own_error_and_the_others_their_vectors() {
    let service = service_with_batches_of("all-MiniLM-L6-v2", 2);
    let mut texts: Vec<String> = (0..5).map(|i| format!("short {i}")).collect();
    texts.insert(2, "long ".repeat(400));
    let options = EmbedOptions { truncate: false, ..EmbedOptions::default() };
    let answers: Vec<_> = block_on(service.embed_stream(texts, options).collect());
    assert_eq!(answers.len(), 6);
    let failed: Vec<_> = answers.iter().filter_map(|(i, r)| r.as_ref().err().map(|e| (*i, e))).collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(matches!(failed[0], (2, error) if matches!(**error, EmbedError::TooLong { index: 2, max: 256, .. })));
    assert_eq!(answers.iter().filter(|(_, r)| r.is_ok()).count(), 5);
}

#[test]
fn dropping_the_stream_stops_the_work() {
    let service = service_with_batches_of("all-MiniLM-L6-v2", 4);
    let texts: Vec<String> = (0..2000).map(|i| format!("a text to embed, number {i}")).collect();
    let before = service.metrics().batches;
    let mut stream = service.embed_stream(texts, EmbedOptions::default());
    let first = block_on(stream.next()).expect("a first answer");
    assert!(first.1.is_ok());
    drop(stream);
    // The worker notices the drop before its next batch; give it the time of a few batches.
    let mut batches = service.metrics().batches;
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        let now = service.metrics().batches;
        if now == batches {
            break;
        }
        batches = now;
    }
    assert!(batches - before < 500, "{} of 500 batches ran after the stream was dropped", batches - before);
}
