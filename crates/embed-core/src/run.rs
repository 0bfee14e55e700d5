//! Step two of embedding: running inputs made ready by step one (`prepare.rs`). The inputs of
//! any number of [`Prepared`]s of one model are ordered longest first, split into inference
//! calls by the [`BatchPolicy`] (`batching.rs`), and the calls run `concurrent_runs()` at a
//! time; each call is packed, run by the engine, pooled (leaving a prompt's tokens out where
//! the model says), put through the Dense layers and normalized, and every vector goes back
//! to its input's place (and into the embedding cache).
//!
//! This file knows the engine only through `embed-runtime`'s `Backend` seam.

use std::ops::ControlFlow;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use embed_runtime::{OutputKind, TokenBatch};

use crate::batching::BatchPolicy;
use crate::model::{Embedding, EmbeddingModel, Output};
use crate::pooling::{normalize, pool_into};
use crate::prepare::{Entry, Prepared, ReadyText};
use crate::{EmbedError, Service};

/// Where the outcome of each inference call goes, as the calls finish (on the threads that
/// ran them).
pub(crate) trait CallSink: Sync {
    /// The embeddings of the inputs at `indices` (in the order given), or the call's error.
    /// `Break` stops the calls not yet started.
    fn done(&self, indices: &[usize], outcome: Result<Vec<Embedding>, EmbedError>) -> ControlFlow<()>;

    /// Whether to stop before the next call.
    fn cancelled(&self) -> bool {
        false
    }
}

impl Service {
    /// Step two: runs prepared inputs, any number of [`Prepared`]s of one model and options
    /// ([`Prepared::runs_with`]), together: split into inference calls as the service's
    /// [`BatchPolicy`] says, run side by side where the engine can. Gives each `Prepared` its
    /// embeddings, in input order; computed ones go into the embedding cache.
    pub fn run(&self, parts: &[&Prepared]) -> Result<Vec<Vec<Embedding>>, EmbedError> {
        let Some(first) = parts.first() else { return Ok(Vec::new()) };
        if let Some(other) = parts.iter().find(|part| !first.runs_with(part)) {
            return Err(EmbedError::MixedRun { expected: first.describe(), found: other.describe() });
        }
        let ready: Vec<(usize, usize, &ReadyText)> = parts
            .iter()
            .enumerate()
            .flat_map(|(part, prepared)| prepared.ready().map(move |(index, text)| (part, index, text)))
            .collect();
        let texts: Vec<&ReadyText> = ready.iter().map(|&(_, _, text)| text).collect();
        let mut computed =
            first.model.run_ready(&texts, &self.inner.batching, first.normalize, first.output)?.into_iter();
        let mut answers = Vec::with_capacity(parts.len());
        for prepared in parts {
            let mut embeddings = Vec::with_capacity(prepared.len());
            for entry in &prepared.entries {
                match entry {
                    Entry::Cached(embedding) => embeddings.push(embedding.clone()),
                    Entry::Ready { key, .. } => {
                        let embedding = computed
                            .next()
                            .ok_or(EmbedError::LostEmbeddings { inputs: ready.len(), embeddings: ready.len() })?;
                        if let Some(key) = key {
                            self.inner.cache.put(key.clone(), embedding.clone());
                        }
                        embeddings.push(embedding);
                    }
                }
            }
            answers.push(embeddings);
        }
        Ok(answers)
    }

    /// Runs one [`Prepared`]: its embeddings, in input order.
    pub(crate) fn run_one(&self, prepared: &Prepared) -> Result<Vec<Embedding>, EmbedError> {
        let mut answers = self.run(&[prepared])?;
        answers.pop().ok_or(EmbedError::LostEmbeddings { inputs: prepared.len(), embeddings: 0 })
    }
}

/// Collects every call's embeddings in input order; the first error stops the calls.
struct Collect {
    slots: Mutex<Vec<Option<Embedding>>>,
    failure: Mutex<Option<EmbedError>>,
}

impl CallSink for Collect {
    fn done(&self, indices: &[usize], outcome: Result<Vec<Embedding>, EmbedError>) -> ControlFlow<()> {
        match outcome {
            Ok(embeddings) => {
                let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
                for (&index, embedding) in indices.iter().zip(embeddings) {
                    slots[index] = Some(embedding);
                }
                ControlFlow::Continue(())
            }
            Err(error) => {
                self.failure.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(error);
                ControlFlow::Break(())
            }
        }
    }
}

impl EmbeddingModel {
    /// Runs `texts` in the calls `policy` forms and gives their embeddings in order; the first
    /// failing call fails the whole.
    pub(crate) fn run_ready(
        &self,
        texts: &[&ReadyText],
        policy: &BatchPolicy,
        normalize: bool,
        output: Output,
    ) -> Result<Vec<Embedding>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let started = Instant::now();
        let collect = Collect { slots: Mutex::new(vec![None; texts.len()]), failure: Mutex::new(None) };
        self.run_calls(texts, policy, normalize, output, &collect);
        let outcome = match collect.failure.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(error) => Err(error),
            None => {
                let slots = collect.slots.into_inner().unwrap_or_else(PoisonError::into_inner);
                let filled = slots.iter().filter(|slot| slot.is_some()).count();
                slots
                    .into_iter()
                    .collect::<Option<Vec<_>>>()
                    .ok_or(EmbedError::LostEmbeddings { inputs: texts.len(), embeddings: filled })
            }
        };
        let tokens: usize = texts.iter().map(|text| text.len()).sum();
        match &outcome {
            // One line per call at debug; never the texts themselves.
            Ok(_) => tracing::debug!(
                model = %self.files.name,
                texts = texts.len(),
                tokens,
                elapsed_us = started.elapsed().as_micros() as u64,
                "embedded"
            ),
            Err(error) => {
                self.metrics.record_failure();
                tracing::debug!(model = %self.files.name, texts = texts.len(), error = error as &dyn std::error::Error, "embedding failed");
            }
        }
        outcome
    }

    /// Runs `texts` in the calls `policy` forms, longest texts first, `concurrent_runs()` calls
    /// at a time (on the caller's thread and scoped ones), each worker taking the next call in
    /// order with buffers of its own, and hands each call's outcome to `sink`. A call that
    /// panics is that call's error; a sink's `Break` (or `cancelled`) stops the calls not yet
    /// started.
    pub(crate) fn run_calls(
        &self,
        texts: &[&ReadyText],
        policy: &BatchPolicy,
        normalize: bool,
        output: Output,
        sink: &dyn CallSink,
    ) {
        let mut order: Vec<usize> = (0..texts.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
        let lengths: Vec<usize> = order.iter().map(|&i| texts[i].len()).collect();
        let calls = policy.calls(&lengths, self.backend.pads());
        let workers = self.concurrent_runs().clamp(1, calls.len().max(1));
        let next = AtomicUsize::new(0);
        let stop = AtomicBool::new(false);
        let work = || {
            let mut packed = PackedTexts::default();
            while let Some(call) = calls.get(next.fetch_add(1, Ordering::Relaxed)) {
                if stop.load(Ordering::Relaxed) || sink.cancelled() {
                    return;
                }
                let indices = &order[call.clone()];
                let outcome =
                    catch_unwind(AssertUnwindSafe(|| self.run_call(indices, texts, normalize, output, &mut packed)))
                        .unwrap_or_else(|_| {
                            tracing::error!(model = %self.files.name, "an inference call panicked");
                            Err(EmbedError::Panicked { during: "an inference call" })
                        });
                if sink.done(indices, outcome).is_break() {
                    stop.store(true, Ordering::Relaxed);
                    return;
                }
            }
        };
        std::thread::scope(|scope| {
            // A helper that cannot start leaves its share to the others: the caller's thread
            // runs every call that is left.
            let helpers: Vec<_> = (1..workers)
                .filter_map(|i| {
                    std::thread::Builder::new().name(format!("embed-call-{i}")).spawn_scoped(scope, work).ok()
                })
                .collect();
            work();
            for helper in helpers {
                let _ = helper.join();
            }
        });
    }

    /// Packs the texts at `indices`, runs them as one call, pools (leaving out each text's
    /// prompt tokens), applies the Dense layers and normalizes: one embedding per index, in
    /// order. With [`Output::Tokens`], each embedding is the text's token vectors as the
    /// engine gave them.
    fn run_call(
        &self,
        indices: &[usize],
        texts: &[&ReadyText],
        normalize_vectors: bool,
        output_kind: Output,
        packed: &mut PackedTexts,
    ) -> Result<Vec<Embedding>, EmbedError> {
        packed.fill(indices.iter().map(|&i| texts[i]));
        let infer_started = Instant::now();
        let output = self.backend.run(&TokenBatch {
            ids: &packed.ids,
            type_ids: &packed.type_ids,
            lengths: &packed.lengths,
            pad_id: self.tokenizer.pad_id(),
            pad_to: self.tokenizer.pad_to(),
        })?;
        let infer_elapsed = infer_started.elapsed();
        let leaves_prompt_out = indices.iter().any(|&i| texts[i].prompt_tokens > 0);
        if output.kind() == OutputKind::Pooled && output_kind == Output::Tokens {
            let message = "the file outputs pooled sentence embeddings (`sentence_embedding`), so embed cannot \
                           give each token's vector; expected the transformer alone (`last_hidden_state`), \
                           as embed's conversion exports it";
            return Err(EmbedError::ModelConfig { path: self.files.onnx.clone(), message: message.into() });
        }
        if output.kind() == OutputKind::Pooled && (!self.dense.is_empty() || leaves_prompt_out) {
            let message = "the file outputs pooled sentence embeddings (`sentence_embedding`), so embed cannot \
                           apply the model's Dense modules or leave its prompt out of pooling; expected the \
                           transformer alone (`last_hidden_state`), as embed's conversion exports it";
            return Err(EmbedError::ModelConfig { path: self.files.onnx.clone(), message: message.into() });
        }
        let pool_started = Instant::now();
        let hidden = output.hidden();
        let mut embeddings = Vec::with_capacity(indices.len());
        for (row, &index) in indices.iter().enumerate() {
            let text = texts[index];
            if output_kind == Output::Tokens {
                let vector = output.text(row).to_vec();
                embeddings.push(Embedding { vector, tokens: text.len(), truncated: text.tokens.truncated });
                continue;
            }
            let mut vector = vec![0.0; hidden];
            match output.kind() {
                OutputKind::TokenEmbeddings => {
                    pool_into(self.head.pooling.mode, output.text(row), hidden, text.prompt_tokens, &mut vector);
                }
                OutputKind::Pooled => vector.copy_from_slice(output.text(row)),
            }
            for layer in &self.dense {
                if vector.len() != layer.in_features() {
                    return Err(EmbedError::ModelConfig {
                        path: self.files.onnx.clone(),
                        message: format!(
                            "the pooled vector is {} wide, but the Dense module after it takes {}",
                            vector.len(),
                            layer.in_features()
                        ),
                    });
                }
                vector = layer.apply(&vector);
            }
            if normalize_vectors {
                normalize(&mut vector);
            }
            embeddings.push(Embedding { vector, tokens: text.len(), truncated: text.tokens.truncated });
        }
        let real_tokens = packed.ids.len();
        let longest = packed.lengths.iter().copied().max().unwrap_or(0).max(self.tokenizer.pad_to());
        let computed = if self.backend.pads() { longest * indices.len() } else { real_tokens };
        self.metrics.record_batch(indices.len(), real_tokens, computed, infer_elapsed, pool_started.elapsed());
        Ok(embeddings)
    }
}

/// The token ids of one call's texts, packed one after the other; reused across calls.
#[derive(Debug, Default)]
struct PackedTexts {
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    lengths: Vec<usize>,
}

impl PackedTexts {
    fn fill<'t>(&mut self, texts: impl Iterator<Item = &'t ReadyText>) {
        self.ids.clear();
        self.type_ids.clear();
        self.lengths.clear();
        for text in texts {
            self.ids.extend_from_slice(&text.tokens.ids);
            self.type_ids.extend_from_slice(&text.tokens.type_ids);
            self.lengths.push(text.len());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use embed_runtime::{Backend, BatchOutput, DeviceInUse, RuntimeError};
    use embed_tokenize::{Tokenizer, TokenizerOptions};

    use super::*;
    use crate::files::ModelFiles;

    /// A backend that answers pooled vectors, as an ONNX export with a `sentence_embedding`
    /// output does (stands in for such a file: whether it applied the Dense layer is unknowable).
    struct PooledBackend;

    impl Backend for PooledBackend {
        fn run(&self, batch: &TokenBatch<'_>) -> Result<BatchOutput, RuntimeError> {
            Ok(BatchOutput::pooled(vec![0.5; batch.texts() * 32], 32, batch.texts()))
        }

        fn hidden_size(&self) -> Option<usize> {
            Some(32)
        }

        fn device(&self) -> &DeviceInUse {
            &DeviceInUse::Cpu
        }

        fn engine(&self) -> String {
            "pooled stand-in".into()
        }

        fn pads(&self) -> bool {
            true
        }
    }

    #[test]
    fn a_pooled_output_with_a_dense_module_is_refused() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/architectures/bert-cls-dense");
        let files = ModelFiles::from_path(&dir).unwrap();
        let tokenizer = Tokenizer::from_dir(&dir, &TokenizerOptions::default()).unwrap();
        let model = EmbeddingModel::from_parts(files, tokenizer, Box::new(PooledBackend)).unwrap();
        let tokens = model.tokenizer.tokenize(&["a text"]).unwrap().remove(0);
        let text = ReadyText { tokens, prompt_tokens: 0 };
        let err = model.run_ready(&[&text], &BatchPolicy::default(), true, Output::Pooled).unwrap_err();
        assert!(matches!(&err, EmbedError::ModelConfig { path, .. } if path.ends_with("model.onnx")), "{err:?}");
    }
}
