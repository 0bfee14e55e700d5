//! Dynamic batching across requests.
//!
//! Handlers prepare each request first (step one of embed-core: tokenized, counted, a text over
//! the maximum refused before it queues), split it into parts of at most a run's texts, and
//! push the parts onto one queue ([`Batcher::submit`]), each with a oneshot sender for its rows.
//! Worker threads (plain `std::thread`s, never the async runtime's) take the oldest part, add
//! other parts that may run with it (same model and options, [`embed_core::Prepared::runs_with`])
//! of similar length while the run still fits the run's [`BatchPolicy`] (real token counts:
//! every part knows its own), run it synchronously on the service (step two, which splits a
//! run into inference calls by the same policy), and send every part its own rows in order.
//!
//! When the queue holds less than a full run, a worker waits up to `batch_wait` after the
//! oldest part arrived for more. Parts whose client is gone (the receiver was dropped with the
//! handler's future: disconnect or timeout) are skipped, never run. A run that fails is run
//! again part by part, so one request's failure reaches only that request. This file knows
//! nothing of HTTP.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use embed_core::{BatchPolicy, CallShape, EmbedError, Embedding, Prepared, Service};
use tokio::sync::oneshot;

use crate::error::ServerError;
use crate::metrics::Metrics;

/// The batcher's limits.
#[derive(Debug, Clone)]
pub(crate) struct BatchConfig {
    /// What one run may hold: `MAX_BATCH_SIZE` texts, and the tokens of the inference calls
    /// those make room for.
    pub(crate) run: BatchPolicy,
    pub(crate) batch_wait: Duration,
    pub(crate) max_queued_inputs: usize,
    pub(crate) workers: usize,
}

/// The result a part receives: one embedding per input, in order.
pub(crate) type PartResult = Result<Vec<Embedding>, EmbedError>;

/// One part of a request waiting in the queue.
#[derive(Debug)]
pub(crate) struct Part {
    prepared: Prepared,
    /// The part as one call: its texts still to compute and their real token counts.
    shape: CallShape,
    reply: oneshot::Sender<PartResult>,
    enqueued: Instant,
}

impl Part {
    /// A part of `prepared` inputs, and where its rows will come.
    pub(crate) fn new(prepared: Prepared) -> (Self, oneshot::Receiver<PartResult>) {
        let (reply, receiver) = oneshot::channel();
        let shape = prepared.shape();
        (Self { prepared, shape, reply, enqueued: Instant::now() }, receiver)
    }

    fn inputs(&self) -> usize {
        self.prepared.len()
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
    /// Inputs of the queued parts.
    inputs: usize,
    /// Tokens of the queued parts' inputs to compute.
    tokens: usize,
    stopping: bool,
}

impl Queue {
    fn remove_counts(&mut self, part: &Part) {
        self.inputs -= part.inputs();
        self.tokens -= part.shape.tokens;
    }
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
    let (kept, gone): (VecDeque<Part>, VecDeque<Part>) =
        std::mem::take(&mut queue.parts).into_iter().partition(|p| !p.gone());
    queue.parts = kept;
    for part in &gone {
        queue.remove_counts(part);
    }
    if !gone.is_empty() {
        metrics.cancelled.fetch_add(gone.len() as u64, Ordering::Relaxed);
        tracing::debug!(parts = gone.len(), "dropped queued work of clients that left");
    }
    gone.len()
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
            queue: Mutex::new(Queue { parts: VecDeque::new(), inputs: 0, tokens: 0, stopping: false }),
            wake: Condvar::new(),
            config,
            service,
            metrics,
        });
        let batcher = Self { shared: Arc::clone(&shared), workers: Mutex::new(Vec::with_capacity(workers)) };
        for i in 0..workers {
            let shared = Arc::clone(&shared);
            let handle = std::thread::Builder::new()
                .name(format!("embed-batch-{i}"))
                .spawn(move || worker(&shared))
                .map_err(|source| ServerError::ThreadStart { name: "batching", source })?;
            batcher.workers.lock().unwrap_or_else(PoisonError::into_inner).push(handle);
        }
        Ok(batcher)
    }

    /// Queues the parts of one request, all or none.
    pub(crate) fn submit(&self, parts: Vec<Part>) -> Result<(), QueueFull> {
        let count: usize = parts.iter().map(Part::inputs).sum();
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
        queue.tokens += parts.iter().map(|p| p.shape.tokens).sum::<usize>();
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

/// Waits for work and forms the next run; `None` when stopping and the queue is empty.
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
        let full = queue.inputs >= config.run.max_texts || queue.tokens >= config.run.max_tokens;
        if full || queue.stopping || waited >= config.batch_wait {
            let batch = take_batch(&mut queue, &config.run);
            shared.publish_depth(&queue);
            return Some(batch);
        }
        let (guard, _) =
            shared.wake.wait_timeout(queue, config.batch_wait - waited).unwrap_or_else(PoisonError::into_inner);
        queue = guard;
    }
}

/// Takes the oldest part and the parts that may run with it, closest to it in length first,
/// while the run fits `run`.
fn take_batch(queue: &mut Queue, run: &BatchPolicy) -> Vec<Part> {
    let Some(first) = queue.parts.pop_front() else { return Vec::new() };
    queue.remove_counts(&first);
    let mut shape = first.shape;
    let mut candidates: Vec<(usize, usize)> = queue
        .parts
        .iter()
        .enumerate()
        .filter(|(_, part)| part.prepared.runs_with(&first.prepared))
        .map(|(i, part)| (i, part.shape.longest.abs_diff(first.shape.longest)))
        .collect();
    candidates.sort_by_key(|&(i, distance)| (distance, i));
    let mut texts = first.inputs();
    let mut chosen = Vec::new();
    for (i, _) in candidates {
        let part = &queue.parts[i];
        let grown = shape.merge(&part.shape);
        if texts + part.inputs() > run.max_texts || !run.admits(&grown) {
            continue;
        }
        shape = grown;
        texts += part.inputs();
        chosen.push(i);
        if texts == run.max_texts {
            break;
        }
    }
    // Remove from the back so earlier indices stay valid.
    chosen.sort_unstable();
    let mut batch = Vec::with_capacity(chosen.len() + 1);
    for &i in chosen.iter().rev() {
        if let Some(part) = queue.parts.remove(i) {
            queue.remove_counts(&part);
            batch.push(part);
        }
    }
    batch.push(first);
    batch.reverse();
    batch
}

/// Runs the parts of one run together; on failure of a run of several parts, runs each part
/// alone so an error reaches only the part that caused it.
fn run_batch(shared: &Shared, batch: Vec<Part>) {
    let batch: Vec<Part> = batch.into_iter().filter(|part| !part.gone()).collect();
    if batch.is_empty() {
        return;
    }
    let metrics = &shared.metrics;
    for part in &batch {
        metrics.queue_wait.observe(part.enqueued.elapsed().as_secs_f64());
    }
    let rows: usize = batch.iter().map(Part::inputs).sum();
    metrics.batches.fetch_add(1, Ordering::Relaxed);
    metrics.texts.fetch_add(rows as u64, Ordering::Relaxed);
    metrics.batch_texts.observe(rows as f64);
    let started = Instant::now();
    let prepared: Vec<&Prepared> = batch.iter().map(|part| &part.prepared).collect();
    let result = run(shared, &prepared);
    tracing::debug!(
        model = %batch[0].prepared.model().name(),
        parts = batch.len(),
        rows,
        elapsed_ms = started.elapsed().as_millis() as u64,
        ok = result.is_ok(),
        "batch run"
    );
    match result {
        Ok(answers) => {
            for (part, embeddings) in batch.into_iter().zip(answers) {
                count_tokens(metrics, &embeddings);
                let _ = part.reply.send(Ok(embeddings));
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
                let result = run(shared, &[&part.prepared]).and_then(|mut answers| {
                    answers.pop().ok_or(EmbedError::LostEmbeddings { inputs: part.inputs(), embeddings: 0 })
                });
                if let Ok(embeddings) = &result {
                    count_tokens(metrics, embeddings);
                }
                let _ = part.reply.send(result);
            }
        }
    }
}

fn count_tokens(metrics: &Metrics, embeddings: &[Embedding]) {
    metrics.tokens.fetch_add(embeddings.iter().map(|e| e.tokens as u64).sum(), Ordering::Relaxed);
}

/// Step two on the service. A panic becomes an error: a worker thread never dies of one run.
fn run(shared: &Shared, prepared: &[&Prepared]) -> Result<Vec<Vec<Embedding>>, EmbedError> {
    catch_unwind(AssertUnwindSafe(|| shared.service.run(prepared))).unwrap_or_else(|_| {
        tracing::error!("a server batch panicked");
        Err(EmbedError::Panicked { during: "a server batch" })
    })
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use embed_core::{CacheLimits, Config, EmbedOptions, OrtLibrary};

    use super::*;

    /// The real all-MiniLM-L6-v2 (native engine, no padding cost) whose tokenizer prepares the
    /// parts.
    fn service() -> &'static Service {
        static SERVICE: OnceLock<Service> = OnceLock::new();
        SERVICE.get_or_init(|| {
            let mut config = Config {
                model_cache_dir: embed_test_support::models_dir(),
                onnxruntime: OrtLibrary {
                    path: embed_test_support::ort_library_path(),
                    search_dirs: embed_test_support::ort_search_dirs(),
                },
                ..Config::default()
            };
            config.memory.cache = CacheLimits::OFF;
            Service::new(config)
                .unwrap_or_else(|e| panic!("cannot load the default model: {e} (run `cargo xtask test`)"))
        })
    }

    fn prepared(texts: &[&str], normalize: bool) -> Prepared {
        let options = EmbedOptions { normalize, ..EmbedOptions::default() };
        service().prepare(&service().default_model(), texts, &options).unwrap_or_else(|e| panic!("prepare: {e}"))
    }

    fn part(texts: &[&str]) -> Part {
        Part::new(prepared(texts, true)).0
    }

    fn queue(parts: Vec<Part>) -> Queue {
        let inputs = parts.iter().map(Part::inputs).sum();
        let tokens = parts.iter().map(|p| p.shape.tokens).sum();
        Queue { parts: parts.into(), inputs, tokens, stopping: false }
    }

    fn run(max_texts: usize, max_tokens: usize) -> BatchPolicy {
        BatchPolicy { max_texts, max_tokens }
    }

    fn first_texts(batch: &[Part]) -> Vec<usize> {
        batch.iter().map(|p| p.shape.longest).collect()
    }

    #[test]
    fn a_batch_takes_only_parts_that_may_run_together() {
        let raw = Part::new(prepared(&["y"], false)).0;
        let mut q = queue(vec![part(&["x"]), raw, part(&["z"])]);
        let batch = take_batch(&mut q, &run(64, 10_000));
        assert_eq!(batch.len(), 2);
        assert!(batch.iter().all(|p| p.prepared.runs_with(&batch[0].prepared)));
        assert_eq!((q.parts.len(), q.inputs, q.tokens), (1, 1, 3));
    }

    #[test]
    fn a_batch_respects_the_run_and_always_takes_the_oldest() {
        let long = "word ".repeat(200);
        let mut q = queue(vec![part(&[&long, &long]), part(&["short"]), part(&[&long])]);
        // The oldest part alone exceeds the budget: it still runs, alone.
        let batch = take_batch(&mut q, &run(64, 100));
        assert_eq!((batch.len(), batch[0].inputs()), (1, 2));
        let batch = take_batch(&mut q, &run(1, 100_000));
        assert_eq!(batch.len(), 1);
        assert_eq!(q.parts.len(), 1);
    }

    #[test]
    fn a_batch_prefers_parts_of_similar_length_and_keeps_queue_order() {
        let long = "word ".repeat(100);
        let mut q = queue(vec![part(&["hi"]), part(&[&long]), part(&["yo"]), part(&["ok"])]);
        let batch = take_batch(&mut q, &run(3, 100_000));
        assert_eq!(first_texts(&batch), [3, 3, 3]);
        assert_eq!(q.parts.len(), 1);
    }

    /// The budget counts real tokens: texts whose byte length says otherwise are batched by
    /// what the model will compute (an estimate of bytes / 4 would have taken 2,002 bytes of
    /// spaces for 502 tokens, and 55 CJK characters, 165 bytes, for 43).
    #[test]
    fn the_budget_counts_real_tokens_whatever_the_bytes_say() {
        let spaced = format!("a{}b", " ".repeat(2000));
        let cjk = "東京は大きい都市です。".repeat(5);
        let spaced_part = part(&[&spaced]);
        let cjk_part = part(&[&cjk]);
        assert_eq!(spaced_part.shape.tokens, 4, "[CLS] a b [SEP]");
        assert!(cjk_part.shape.tokens > 50, "{} tokens for {} bytes", cjk_part.shape.tokens, cjk.len());
        // Ten parts of 2,000 bytes fit a budget of 40 tokens.
        let mut q = queue((0..10).map(|_| part(&[&spaced])).collect());
        assert_eq!(take_batch(&mut q, &run(64, 40)).len(), 10);
        // Two parts of 150 bytes of CJK do not fit a budget of 100 tokens.
        let mut q = queue(vec![part(&[&cjk]), part(&[&cjk])]);
        assert_eq!(take_batch(&mut q, &run(64, 100)).len(), 1);
    }

    /// A run that fails is run again part by part, so that a failure reaches only its part:
    /// here the run fails for real (the service refuses to run inputs of two options together)
    /// and each part, run alone, gets its own rows.
    #[test]
    fn a_failed_run_is_run_again_part_by_part() {
        let metrics = Arc::new(Metrics::new());
        let shared = Shared {
            queue: Mutex::new(queue(Vec::new())),
            wake: Condvar::new(),
            config: BatchConfig {
                run: BatchPolicy::default(),
                batch_wait: Duration::ZERO,
                max_queued_inputs: 16,
                workers: 1,
            },
            service: service().clone(),
            metrics: Arc::clone(&metrics),
        };
        let (normalized, normalized_rows) = Part::new(prepared(&["a text"], true));
        let (raw, raw_rows) = Part::new(prepared(&["a text", "another"], false));
        run_batch(&shared, vec![normalized, raw]);
        let normalized = normalized_rows.blocking_recv().map(|rows| rows.map(|r| r.len()));
        let raw = raw_rows.blocking_recv().map(|rows| rows.map(|r| r.len()));
        assert!(matches!(normalized, Ok(Ok(1))), "{normalized:?}");
        assert!(matches!(raw, Ok(Ok(2))), "{raw:?}");
        assert_eq!(metrics.batch_retries.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn parts_whose_client_left_are_purged() {
        let (kept, _receiver) = Part::new(prepared(&["x"], true));
        let (dropped, receiver) = Part::new(prepared(&["y", "z"], true));
        drop(receiver);
        let metrics = Metrics::new();
        let mut q = queue(vec![kept, dropped]);
        assert_eq!(purge(&mut q, &metrics), 1);
        assert_eq!((q.parts.len(), q.inputs, q.tokens), (1, 1, 3));
        assert_eq!(metrics.cancelled.load(Ordering::Relaxed), 1);
    }
}
