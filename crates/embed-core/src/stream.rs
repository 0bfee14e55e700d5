//! Async batches (the seed's `BatchEmbedAsync`): many texts in, `(index, result)` pairs out
//! as each batch finishes, as a [`Stream`](futures_core::Stream).
//!
//! The work runs on a dedicated thread, never on the caller's async runtime; the stream only
//! receives. Dropping the stream cancels the work after the batch in progress. Every input
//! is answered exactly once: a batch that fails gives its error to each of its texts. The
//! stream works with any executor (it uses `futures-channel`, not a runtime's channel).

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use futures_channel::mpsc;
use futures_core::Stream;

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

impl Service {
    /// Embeds `texts` with the default model on a dedicated thread, yielding each input's
    /// `(index, result)` as its batch finishes. Texts of similar length share a batch.
    pub fn embed_stream(&self, texts: Vec<String>, options: EmbedOptions) -> EmbedStream {
        // The worker never blocks on a slow reader; what it sends is what the caller asked for.
        let (sender, receiver) = mpsc::unbounded::<Vec<StreamItem>>();
        let count = texts.len();
        let cancelled = Arc::new(AtomicBool::new(false));
        let stop = Arc::clone(&cancelled);
        let service = self.clone();
        let spawned = std::thread::Builder::new().name("embed-stream".into()).spawn(move || {
            let mut order: Vec<usize> = (0..texts.len()).collect();
            order.sort_by_key(|&i| std::cmp::Reverse(texts[i].len()));
            for chunk in order.chunks(options.batch_size.max(1)) {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let batch: Vec<&str> = chunk.iter().map(|&i| texts[i].as_str()).collect();
                let answers: Vec<StreamItem> = match service.embed_with(&batch, &options) {
                    Ok(embeddings) => chunk.iter().copied().zip(embeddings.into_iter().map(Ok)).collect(),
                    Err(error) => {
                        let error = Arc::new(error);
                        chunk.iter().map(|&i| (i, Err(Arc::clone(&error)))).collect()
                    }
                };
                if sender.unbounded_send(answers).is_err() {
                    return; // The stream was dropped.
                }
            }
        });
        if let Err(error) = spawned {
            // No thread: answer every input with the error rather than hang.
            let error = Arc::new(EmbedError::Config(format!("cannot start the embedding thread: {error}")));
            let (sender, receiver) = mpsc::unbounded();
            let answers = (0..count).map(|i| (i, Err(Arc::clone(&error)))).collect();
            let _ = sender.unbounded_send(answers);
            return EmbedStream { receiver, pending: Vec::new().into_iter(), cancelled };
        }
        EmbedStream { receiver, pending: Vec::new().into_iter(), cancelled }
    }
}
