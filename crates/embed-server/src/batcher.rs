//! Dynamic batching across requests.
//!
//! Handlers split each request into parts of at most `max_batch_size` inputs and push the
//! parts onto one queue ([`Batcher::submit`]), each with a oneshot sender for its rows. Worker
//! threads (plain `std::thread`s, never the async runtime's) take the oldest part, add other
//! parts with the same [`GroupKey`] (same model and options that change vectors) of similar
//! length while the batch stays under `max_batch_tokens` and `max_batch_size`, run the batch
//! synchronously on the service, and send every part its own rows in order.
//!
//! When the queue holds less than a full batch, a worker waits up to `batch_wait` after the
//! oldest part arrived for more. Parts whose client is gone (the receiver was dropped with the
//! handler's future: disconnect or timeout) are skipped, never run. A batch that fails is run
//! again part by part, so one request's bad input (a text over the limit with truncation off)
//! fails only that request.
//!
//! The token count used for the budget is an estimate, `bytes / 4 + 2` for texts (capped at
//! the model's maximum length), exact for token ids: tokenizing twice would cost more than the
//! estimate's error. The cost of a batch is rows × its longest part's estimate, padding
//! included. This file knows nothing of HTTP.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use embed_core::{EmbedError, EmbedOptions, Embedding, Service, TruncationSide};
use tokio::sync::oneshot;

use crate::ServerConfig;
use crate::error::ServerError;
use crate::metrics::Metrics;

/// The batcher's limits.
#[derive(Debug, Clone)]
pub(crate) struct BatchConfig {
    pub(crate) max_batch_tokens: usize,
    pub(crate) max_batch_size: usize,
    pub(crate) batch_wait: Duration,
    pub(crate) max_queued_inputs: usize,
    pub(crate) workers: usize,
}

impl From<&ServerConfig> for BatchConfig {
    fn from(config: &ServerConfig) -> Self {
        Self {
            max_batch_tokens: config.max_batch_tokens,
            max_batch_size: config.max_batch_size,
            batch_wait: config.batch_wait,
            max_queued_inputs: config.max_queued_inputs,
            workers: config.workers,
        }
    }
}

/// What must be equal for two parts to share a batch: the model and every option that changes
/// the vectors or the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GroupKey {
    /// The model's resolved name.
    pub(crate) model: String,
    pub(crate) normalize: bool,
    pub(crate) prompt: Option<String>,
    pub(crate) truncation: Option<TruncationSide>,
    pub(crate) truncate: bool,
    /// Token ids rather than texts.
    pub(crate) token_ids: bool,
}

/// The inputs of one part.
#[derive(Debug)]
pub(crate) enum Inputs {
    Texts(Vec<String>),
    TokenIds(Vec<Vec<u32>>),
}

impl Inputs {
    fn len(&self) -> usize {
        match self {
            Self::Texts(texts) => texts.len(),
            Self::TokenIds(ids) => ids.len(),
        }
    }
}

/// The result a part receives: one embedding per input, in order.
pub(crate) type PartResult = Result<Vec<Embedding>, EmbedError>;

/// One part of a request waiting in the queue.
#[derive(Debug)]
pub(crate) struct Part {
    key: GroupKey,
    inputs: Inputs,
    /// Estimated tokens of the longest input.
    longest: usize,
    reply: oneshot::Sender<PartResult>,
    enqueued: Instant,
}

impl Part {
    /// A part of `inputs` for `key`; `max_length` is the model's maximum tokens per input.
    pub(crate) fn new(key: GroupKey, inputs: Inputs, max_length: usize) -> (Self, oneshot::Receiver<PartResult>) {
        let longest = match &inputs {
            Inputs::Texts(texts) => texts.iter().map(|t| t.len() / 4 + 2).max().unwrap_or(0),
            Inputs::TokenIds(ids) => ids.iter().map(Vec::len).max().unwrap_or(0),
        }
        .min(max_length.max(1));
        let (reply, receiver) = oneshot::channel();
        (Self { key, inputs, longest, reply, enqueued: Instant::now() }, receiver)
    }

    fn gone(&self) -> bool {
        self.reply.is_closed()
    }
}

/// Refusal to queue: the queue is full.
#[derive(Debug)]
pub(crate) struct QueueFull {
    pub(crate) queued: usize,
    pub(crate) limit: usize,
}

struct Queue {
    parts: VecDeque<Part>,
    inputs: usize,
    stopping: bool,
}

struct Shared {
    queue: Mutex<Queue>,
    wake: Condvar,
    config: BatchConfig,
    service: Service,
    metrics: Arc<Metrics>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish_depth(&self, queue: &Queue) {
        self.metrics.queued_inputs.store(queue.inputs as u64, Ordering::Relaxed);
        self.metrics.queued_requests.store(queue.parts.len() as u64, Ordering::Relaxed);
    }
}

/// Drops parts whose client is gone; returns how many.
fn purge(queue: &mut Queue, metrics: &Metrics) -> usize {
    let before = queue.parts.len();
    let mut freed = 0;
    queue.parts.retain(|part| {
        let gone = part.gone();
        if gone {
            freed += part.inputs.len();
        }
        !gone
    });
    queue.inputs -= freed;
    let dropped = before - queue.parts.len();
    if dropped > 0 {
        metrics.cancelled.fetch_add(dropped as u64, Ordering::Relaxed);
        tracing::debug!(parts = dropped, inputs = freed, "dropped queued work of clients that left");
    }
    dropped
}

/// The queue and its worker threads.
pub(crate) struct Batcher {
    shared: Arc<Shared>,
    workers: Mutex<Vec<JoinHandle<()>>>,
}

impl Batcher {
    /// Starts `config.workers` threads over `service`.
    pub(crate) fn start(service: Service, config: BatchConfig, metrics: Arc<Metrics>) -> Result<Self, ServerError> {
        let workers = config.workers;
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue { parts: VecDeque::new(), inputs: 0, stopping: false }),
            wake: Condvar::new(),
            config,
            service,
            metrics,
        });
        let mut handles = Vec::with_capacity(workers);
        for i in 0..workers {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("embed-batch-{i}"))
                .spawn(move || worker(&shared))
                .map_err(|e| ServerError::Config(format!("cannot start a batching thread: {e}")))?;
            handles.push(handle);
        }
        Ok(Self { shared, workers: Mutex::new(handles) })
    }

    /// Queues the parts of one request, all or none.
    pub(crate) fn submit(&self, parts: Vec<Part>) -> Result<(), QueueFull> {
        let count: usize = parts.iter().map(|p| p.inputs.len()).sum();
        let limit = self.shared.config.max_queued_inputs;
        let mut queue = self.shared.lock();
        if queue.stopping {
            return Err(QueueFull { queued: queue.inputs, limit });
        }
        if queue.inputs + count > limit {
            purge(&mut queue, &self.shared.metrics);
            if queue.inputs + count > limit {
                self.shared.metrics.rejected_full.fetch_add(1, Ordering::Relaxed);
                return Err(QueueFull { queued: queue.inputs, limit });
            }
        }
        queue.inputs += count;
        queue.parts.extend(parts);
        self.shared.publish_depth(&queue);
        drop(queue);
        self.shared.wake.notify_all();
        Ok(())
    }

    /// Lets the workers finish what is queued (skipping parts whose client left), then joins
    /// them. Blocks.
    pub(crate) fn stop(&self) {
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
        let handles = std::mem::take(&mut *self.workers.lock().unwrap_or_else(PoisonError::into_inner));
        for handle in handles {
            let _ = handle.join();
        }
    }
}

impl Drop for Batcher {
    fn drop(&mut self) {
        // Workers hold an `Arc<Shared>`; tell them to leave so the service is released.
        self.shared.lock().stopping = true;
        self.shared.wake.notify_all();
    }
}

fn worker(shared: &Shared) {
    while let Some(batch) = next_batch(shared) {
        run_batch(shared, batch);
    }
}

/// Waits for work and forms the next batch; `None` when stopping and the queue is empty.
fn next_batch(shared: &Shared) -> Option<Vec<Part>> {
    let config = &shared.config;
    let mut queue = shared.lock();
    loop {
        purge(&mut queue, &shared.metrics);
        let Some(oldest) = queue.parts.front() else {
            shared.publish_depth(&queue);
            if queue.stopping {
                return None;
            }
            queue = shared.wake.wait(queue).unwrap_or_else(PoisonError::into_inner);
            continue;
        };
        let waited = oldest.enqueued.elapsed();
        let full = queue.inputs >= config.max_batch_size
            || queue.parts.iter().map(|p| p.inputs.len() * p.longest).sum::<usize>() >= config.max_batch_tokens;
        if full || queue.stopping || waited >= config.batch_wait {
            let batch = take_batch(&mut queue, config);
            shared.publish_depth(&queue);
            return Some(batch);
        }
        let (guard, _) =
            shared.wake.wait_timeout(queue, config.batch_wait - waited).unwrap_or_else(PoisonError::into_inner);
        queue = guard;
    }
}

/// Takes the oldest part and the compatible parts closest to it in length that fit.
fn take_batch(queue: &mut Queue, config: &BatchConfig) -> Vec<Part> {
    let Some(first) = queue.parts.pop_front() else { return Vec::new() };
    let mut rows = first.inputs.len();
    let mut longest = first.longest;
    let mut candidates: Vec<(usize, usize)> = queue
        .parts
        .iter()
        .enumerate()
        .filter(|(_, part)| part.key == first.key)
        .map(|(i, part)| (i, part.longest.abs_diff(first.longest)))
        .collect();
    candidates.sort_by_key(|&(i, distance)| (distance, i));
    let mut chosen = Vec::new();
    for (i, _) in candidates {
        let part = &queue.parts[i];
        let new_rows = rows + part.inputs.len();
        let new_longest = longest.max(part.longest);
        if new_rows > config.max_batch_size || new_rows * new_longest > config.max_batch_tokens {
            continue;
        }
        rows = new_rows;
        longest = new_longest;
        chosen.push(i);
        if rows == config.max_batch_size {
            break;
        }
    }
    // Remove from the back so earlier indices stay valid.
    chosen.sort_unstable();
    let mut batch = Vec::with_capacity(chosen.len() + 1);
    for &i in chosen.iter().rev() {
        if let Some(part) = queue.parts.remove(i) {
            batch.push(part);
        }
    }
    batch.push(first);
    batch.reverse();
    queue.inputs -= batch.iter().map(|p| p.inputs.len()).sum::<usize>();
    batch
}

fn options_for(shared: &Shared, key: &GroupKey) -> EmbedOptions {
    EmbedOptions {
        normalize: key.normalize,
        prompt: key.prompt.clone(),
        truncation: key.truncation,
        truncate: key.truncate,
        ..shared.service.default_options().clone()
    }
}

/// Runs the parts of one batch in one call; on failure of a batch of several parts, runs each
/// part alone so an error reaches only the part that caused it.
fn run_batch(shared: &Shared, batch: Vec<Part>) {
    let batch: Vec<Part> = batch.into_iter().filter(|part| !part.gone()).collect();
    if batch.is_empty() {
        return;
    }
    let metrics = &shared.metrics;
    for part in &batch {
        metrics.queue_wait.observe(part.enqueued.elapsed().as_secs_f64());
    }
    let key = batch[0].key.clone();
    let options = options_for(shared, &key);
    let rows: usize = batch.iter().map(|p| p.inputs.len()).sum();
    metrics.batches.fetch_add(1, Ordering::Relaxed);
    metrics.texts.fetch_add(rows as u64, Ordering::Relaxed);
    metrics.batch_texts.observe(rows as f64);
    let started = Instant::now();
    let result = run(shared, &key, &options, batch.iter().map(|p| &p.inputs));
    tracing::debug!(
        model = %key.model,
        parts = batch.len(),
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(),
        "batch run"
    );
    match result {
        Ok(embeddings) => {
            metrics.tokens.fetch_add(embeddings.iter().map(|e| e.tokens as u64).sum(), Ordering::Relaxed);
            let mut rest = embeddings.into_iter();
            for part in batch {
                let rows: Vec<Embedding> = rest.by_ref().take(part.inputs.len()).collect();
                let _ = part.reply.send(Ok(rows));
            }
        }
        Err(error) if batch.len() == 1 => {
            if let Some(part) = batch.into_iter().next() {
                let _ = part.reply.send(Err(error));
            }
        }
        Err(_) => {
            metrics.batch_retries.fetch_add(1, Ordering::Relaxed);
            for part in batch {
                if part.gone() {
                    continue;
                }
                let result = run(shared, &key, &options, std::iter::once(&part.inputs));
                if let Ok(embeddings) = &result {
                    metrics.tokens.fetch_add(embeddings.iter().map(|e| e.tokens as u64).sum(), Ordering::Relaxed);
                }
                let _ = part.reply.send(result);
            }
        }
    }
}

/// One call to the service over the inputs of several parts, concatenated in order. A panic
/// becomes an error: a worker thread never dies of one batch.
fn run<'a>(
    shared: &Shared,
    key: &GroupKey,
    options: &EmbedOptions,
    inputs: impl Iterator<Item = &'a Inputs> + Clone,
) -> PartResult {
    let expected: usize = inputs.clone().map(Inputs::len).sum();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        if key.token_ids {
            let ids: Vec<Vec<u32>> = inputs
                .flat_map(|i| match i {
                    Inputs::TokenIds(ids) => ids.clone(),
                    Inputs::Texts(_) => Vec::new(),
                })
                .collect();
            shared.service.embed_tokens_with_model(&key.model, &ids, options)
        } else {
            let texts: Vec<&str> = inputs
                .flat_map(|i| match i {
                    Inputs::Texts(texts) => texts.iter().map(String::as_str).collect::<Vec<_>>(),
                    Inputs::TokenIds(_) => Vec::new(),
                })
                .collect();
            shared.service.embed_with_model(&key.model, &texts, options)
        }
    }));
    match outcome {
        Ok(Ok(embeddings)) if embeddings.len() == expected => Ok(embeddings),
        Ok(Ok(embeddings)) => {
            Err(EmbedError::Config(format!("internal error: {} embeddings for {expected} inputs", embeddings.len())))
        }
        Ok(Err(error)) => Err(error),
        Err(_) => {
            tracing::error!(model = %key.model, "a batch panicked");
            Err(EmbedError::Config("internal error: the batch panicked".into()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str) -> GroupKey {
        GroupKey {
            model: model.into(),
            normalize: true,
            prompt: None,
            truncation: None,
            truncate: true,
            token_ids: false,
        }
    }

    fn part(model: &str, texts: &[&str]) -> Part {
        Part::new(key(model), Inputs::Texts(texts.iter().map(|t| t.to_string()).collect()), 256).0
    }

    fn queue(parts: Vec<Part>) -> Queue {
        let inputs = parts.iter().map(|p| p.inputs.len()).sum();
        Queue { parts: parts.into(), inputs, stopping: false }
    }

    fn config(max_batch_size: usize, max_batch_tokens: usize) -> BatchConfig {
        BatchConfig {
            max_batch_tokens,
            max_batch_size,
            batch_wait: Duration::ZERO,
            max_queued_inputs: 1000,
            workers: 1,
        }
    }

    #[test]
    fn a_batch_takes_only_parts_of_the_same_key() {
        let mut q = queue(vec![part("a", &["x"]), part("b", &["y"]), part("a", &["z"])]);
        let batch = take_batch(&mut q, &config(64, 10_000));
        assert_eq!(batch.len(), 2);
        assert!(batch.iter().all(|p| p.key.model == "a"));
        assert_eq!(q.parts.len(), 1);
        assert_eq!(q.inputs, 1);
    }

    #[test]
    fn a_batch_respects_size_and_token_budget_and_always_takes_the_oldest() {
        let long = "word ".repeat(200);
        let mut q = queue(vec![part("a", &[&long, &long]), part("a", &["short"]), part("a", &[&long])]);
        // The oldest part alone exceeds the budget: it still runs, alone.
        let batch = take_batch(&mut q, &config(64, 100));
        assert_eq!(batch.len(), 1);
        assert_eq!(batch[0].inputs.len(), 2);
        let batch = take_batch(&mut q, &config(1, 100_000));
        assert_eq!(batch.len(), 1);
        assert_eq!(q.parts.len(), 1);
    }

    #[test]
    fn a_batch_prefers_parts_of_similar_length_and_keeps_queue_order() {
        let long = "word ".repeat(100);
        let mut q = queue(vec![part("a", &["hi"]), part("a", &[&long]), part("a", &["yo"]), part("a", &["ok"])]);
        let batch = take_batch(&mut q, &config(3, 100_000));
        let texts: Vec<&str> = batch
            .iter()
            .map(|p| match &p.inputs {
                Inputs::Texts(t) => t[0].as_str(),
                Inputs::TokenIds(_) => "",
            })
            .collect();
        assert_eq!(texts, ["hi", "yo", "ok"]);
        assert_eq!(q.parts.len(), 1);
    }

    #[test]
    fn parts_whose_client_left_are_purged() {
        let (kept, _receiver) = Part::new(key("a"), Inputs::Texts(vec!["x".into()]), 256);
        let (dropped, receiver) = Part::new(key("a"), Inputs::Texts(vec!["y".into(), "z".into()]), 256);
        drop(receiver);
        let metrics = Metrics::new();
        let mut q = queue(vec![kept, dropped]);
        assert_eq!(purge(&mut q, &metrics), 1);
        assert_eq!((q.parts.len(), q.inputs), (1, 1));
        assert_eq!(metrics.cancelled.load(Ordering::Relaxed), 1);
    }
}
