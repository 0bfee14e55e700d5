//! Async batches (the seed's `BatchEmbedAsync`): many texts in, `(index, result)` pairs out
//! as each batch finishes, as a [`Stream`](futures_core::Stream).
//!
//! The work runs on a dedicated thread, never on the caller's async runtime; the stream only
//! receives. It takes the library's two steps (prepare, then run in the calls the batching
//! policy forms), answering each call as it finishes. Dropping the stream cancels the work
//! after the calls in progress. Every input is answered exactly once: a text refused when
//! prepared gets its own error, a call that fails gives its error to each of its texts. The
//! stream works with any executor (it uses `futures-channel`, not a runtime's channel).

use std::ops::ControlFlow;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_core::Stream;

use crate::prepare::Entry;
use crate::run::CallSink;
use crate::{EmbedError, EmbedOptions, Embedding, Service};

/// One answer of an [`EmbedStream`]: the input's index and its embedding or error (shared by
/// every text of the batch that failed).
pub type StreamItem = (usize, Result<Embedding, Arc<EmbedError>>);

/// The answers of [`Service::embed_stream`], in the order batches finish.
#[derive(Debug)]
pub struct EmbedStream {
    receiver: mpsc::UnboundedReceiver<Vec<StreamItem>>,
    pending: std::vec::IntoIter<StreamItem>,
    cancelled: Arc<AtomicBool>,
}

impl Stream for EmbedStream {
    type Item = StreamItem;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<StreamItem>> {
        loop {
            if let Some(item) = self.pending.next() {
                return Poll::Ready(Some(item));
            }
            match Pin::new(&mut self.receiver).poll_next(cx) {
                Poll::Ready(Some(batch)) => self.pending = batch.into_iter(),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl Drop for EmbedStream {
    fn drop(&mut self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }
}

/// Sends each call's answers to the stream as it finishes; stops once the stream is dropped.
struct StreamSink<'a> {
    sender: mpsc::UnboundedSender<Vec<StreamItem>>,
    /// The position among the inputs of each prepared input that runs.
    positions: Vec<usize>,
    cancelled: &'a AtomicBool,
    service: &'a Service,
    keys: Vec<Option<crate::cache::CacheKey>>,
}

impl CallSink for StreamSink<'_> {
    fn done(&self, indices: &[usize], outcome: Result<Vec<Embedding>, EmbedError>) -> ControlFlow<()> {
        let answers: Vec<StreamItem> = match outcome {
            Ok(embeddings) => indices
                .iter()
                .zip(embeddings)
                .map(|(&i, embedding)| {
                    if let Some(key) = &self.keys[i] {
                        self.service.inner.cache.put(key.clone(), embedding.clone());
                    }
                    (self.positions[i], Ok(embedding))
                })
                .collect(),
            Err(error) => {
                let error = Arc::new(error);
                indices.iter().map(|&i| (self.positions[i], Err(Arc::clone(&error)))).collect()
            }
        };
        if self.sender.unbounded_send(answers).is_err() {
            return ControlFlow::Break(()); // The stream was dropped.
        }
        ControlFlow::Continue(())
    }

    fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }
}

impl Service {
    /// Embeds `texts` with the default model on a dedicated thread, yielding each input's
    /// `(index, result)` as its inference call finishes. The texts are prepared first (a text
    /// refused then, such as one over the maximum with truncation off, is answered with its own
    /// error at once), then run in the calls the batching policy forms, longest texts first; a
    /// call that fails gives its error to each of its texts.
    pub fn embed_stream(&self, texts: Vec<String>, options: EmbedOptions) -> EmbedStream {
        // The worker never blocks on a slow reader; what it sends is what the caller asked for.
        let (sender, receiver) = mpsc::unbounded::<Vec<StreamItem>>();
        let count = texts.len();
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancelled);
        let service = self.clone();
        let worker_sender = sender.clone();
        let spawned = std::thread::Builder::new()
            .name("embed-stream".into())
            .spawn(move || service.stream_into(&texts, &options, worker_sender, &stop));
        if let Err(source) = spawned {
            // No thread: answer every input with the error rather than hang.
            let error = Arc::new(EmbedError::ThreadStart { name: "embed-stream", source });
            let _ = sender.unbounded_send((0..count).map(|i| (i, Err(Arc::clone(&error)))).collect());
        }
        EmbedStream { receiver, pending: Vec::new().into_iter(), cancelled }
    }

    /// The stream's work, on its thread.
    fn stream_into(
        &self,
        texts: &[String],
        options: &EmbedOptions,
        sender: mpsc::UnboundedSender<Vec<StreamItem>>,
        cancelled: &AtomicBool,
    ) {
        let model = self.default_model();
        let (prepared, refused) = match self.prepare_leniently(&model, texts, options) {
            Ok(prepared) => prepared,
            Err(error) => {
                let error = Arc::new(error);
                let _ = sender.unbounded_send((0..texts.len()).map(|i| (i, Err(Arc::clone(&error)))).collect());
                return;
            }
        };
        // The prepared inputs are the texts not refused, in order.
        let mut refused_at = refused.iter().map(|(i, _)| *i).peekable();
        let mut positions_of_entries = Vec::with_capacity(prepared.len());
        for position in 0..texts.len() {
            if refused_at.peek() == Some(&position) {
                refused_at.next();
            } else {
                positions_of_entries.push(position);
            }
        }
        let mut first: Vec<StreamItem> = refused.into_iter().map(|(i, error)| (i, Err(Arc::new(error)))).collect();
        let mut ready = Vec::new();
        let mut positions = Vec::new();
        let mut keys = Vec::new();
        for (entry, &position) in prepared.entries.iter().zip(&positions_of_entries) {
            match entry {
                Entry::Cached(embedding) => first.push((position, Ok(embedding.clone()))),
                Entry::Ready { text, key } => {
                    ready.push(text);
                    positions.push(position);
                    keys.push(key.clone());
                }
            }
        }
        if !first.is_empty() && sender.unbounded_send(first).is_err() {
            return;
        }
        let sink = StreamSink { sender, positions, cancelled, service: self, keys };
        model.run_calls(&ready, &self.inner.batching, prepared.normalize, prepared.output, &sink);
    }
}
