//! The registry: loads models on first use through a caller's [`Loader`], shares them through
//! [`Handle`]s, and keeps their total cost under a budget by evicting the least recently used
//! idle model.
//!
//! One mutex guards the registry's state and one condition variable announces every change
//! (a load finished, a handle released, a model evicted). The lock is never held while the
//! loader runs or while a model is dropped. This file must not know what a model is: no
//! ONNX Runtime, no tokenizer.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroUsize;
use std::ops::Deref;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::PoolError;
use crate::error::BoxError;
use crate::stats::{ModelState, ModelStats, PoolStats};

/// Loads a model by name; the pool calls it without holding any lock, possibly from several
/// threads at once for different names, never twice at once for the same name.
///
/// A closure `Fn(&str) -> Result<Loaded<M>, BoxError>` is a loader.
pub trait Loader<M>: Send + Sync {
    /// Loads the model `name` and says what it costs in bytes.
    ///
    /// # Errors
    ///
    /// Any error; the pool reports it as [`PoolError::Load`] to every caller waiting for
    /// this load, and tries again on the next request.
    fn load(&self, name: &str) -> Result<Loaded<M>, BoxError>;

    /// What loading `name` will cost, if known beforehand (say, from the size of its
    /// weights). The pool then makes room before loading, rejects a model larger than the
    /// budget without loading it, and keeps parallel loads from overrunning the budget
    /// together. The default knows nothing.
    fn estimate_bytes(&self, name: &str) -> Option<u64> {
        let _ = name;
        None
    }
}

impl<M, F> Loader<M> for F
where
    F: Fn(&str) -> Result<Loaded<M>, BoxError> + Send + Sync,
{
    fn load(&self, name: &str) -> Result<Loaded<M>, BoxError> {
        self(name)
    }
}

/// A loaded model and its cost.
#[derive(Debug)]
pub struct Loaded<M> {
    /// The model.
    pub model: M,
    /// What it costs in bytes, counted against the budget while it stays loaded.
    /// [`measure_rss_growth`](crate::measure_rss_growth) gives an approximate figure.
    pub bytes: u64,
}

impl<M> Loaded<M> {
    /// A model that costs `bytes`.
    pub fn new(model: M, bytes: u64) -> Self {
        Self { model, bytes }
    }
}

/// How a [`Pool`] behaves.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// The most bytes the loaded models may cost together; `None` for no limit. See
    /// [`parse_bytes`](crate::parse_bytes) for reading it from text.
    pub budget_bytes: Option<u64>,
    /// Models that, once loaded, are never evicted. They are loaded on first use like any
    /// other; pass them to [`Pool::preload`] to load them at start-up.
    pub pinned: Vec<String>,
    /// How long a request waits for a model in use to be released when the budget is full
    /// and nothing idle can be evicted. `Duration::ZERO` fails at once.
    pub wait_timeout: Duration,
    /// How many models [`Pool::preload`] loads at once; 0 means the number of CPUs.
    pub preload_parallelism: usize,
}

impl Default for PoolConfig {
    /// No budget, nothing pinned, a 30-second wait, preloads on every CPU.
    fn default() -> Self {
        Self { budget_bytes: None, pinned: Vec::new(), wait_timeout: Duration::from_secs(30), preload_parallelism: 0 }
    }
}

/// The outcome of preloading one model.
#[derive(Debug)]
#[non_exhaustive]
pub struct PreloadOutcome {
    /// The model.
    pub name: String,
    /// `Ok` when it was loaded (or already was); the cause otherwise.
    pub result: Result<(), PoolError>,
}

/// A memory-budgeted registry of loaded models, shared by reference or by cloning (clones
/// share one registry).
///
/// # Semantics
///
/// - **Loading**: [`get`](Self::get) loads a model on its first request and shares it; later
///   requests only take a lock. Concurrent requests for a model being loaded wait for that
///   one load (single flight). A failed load is reported to all of them and is not
///   remembered: the next request tries again. Loading one model never delays requests for
///   another.
/// - **Budget**: each model costs what its loader said. Before a new model is admitted, the
///   least recently used *idle* models (no [`Handle`] alive, not pinned) are evicted until it
///   fits; "used" means handed out or released. Nothing is evicted unless that makes enough
///   room. A model held by a handle is never evicted, so a model is never dropped from under
///   a caller, and its bytes count against the budget until it is both released and
///   evicted.
/// - **When everything is in use**: the request waits up to
///   [`PoolConfig::wait_timeout`] for handles to be released, then fails with
///   [`PoolError::BudgetExhausted`]; a zero timeout fails at once. A thread that waits while
///   itself holding the handles that would make room waits out the whole timeout.
/// - **Errors found at once**: a model larger than the whole budget
///   ([`PoolError::ModelTooLarge`]) and a model that does not fit beside the loaded pinned
///   models ([`PoolError::PinnedExceedBudget`]).
/// - When the loader's cost is known only after loading, the model is briefly in memory
///   beyond the budget while room is made, and a rejected model is dropped.
///
/// # Example
///
/// ```
/// use embed_pool::{Loaded, Pool, PoolConfig, parse_bytes};
///
/// // A loader: here every "model" is a string costing 400 MiB.
/// let loader = |name: &str| -> Result<Loaded<String>, embed_pool::BoxError> {
///     Ok(Loaded::new(format!("weights of {name}"), parse_bytes("400MiB")?))
/// };
/// let config = PoolConfig {
///     budget_bytes: Some(parse_bytes("1GiB")?),
///     pinned: vec!["small".to_owned()],
///     ..PoolConfig::default()
/// };
/// let pool = Pool::new(loader, config);
///
/// for outcome in pool.preload(&["small"]) {
///     outcome.result?;
/// }
/// let model = pool.get("base")?; // loaded now, shared from here on
/// assert_eq!(*model, "weights of base");
/// drop(model);
///
/// // A third model does not fit: "base" is idle and not pinned, so it goes.
/// let _large = pool.get("large")?;
/// let stats = pool.stats();
/// assert_eq!(stats.evictions, 1);
/// assert_eq!(stats.bytes_in_use, 2 * parse_bytes("400MiB")?);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Pool<M> {
    shared: Arc<Shared<M>>,
}

impl<M> Clone for Pool<M> {
    fn clone(&self) -> Self {
        Self { shared: Arc::clone(&self.shared) }
    }
}

impl<M> std::fmt::Debug for Pool<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("budget_bytes", &self.shared.budget)
            .field("pinned", &self.shared.pinned)
            .finish_non_exhaustive()
    }
}

/// A shared, read-only use of a loaded model. While any handle to a model is alive the model
/// is not evicted; dropping the last one makes it idle (and the most recently used).
pub struct Handle<M> {
    entry: Arc<Entry<M>>,
    shared: Arc<Shared<M>>,
}

impl<M> Handle<M> {
    /// The model's name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.entry.name
    }

    /// What the model costs in bytes, as its loader said.
    #[must_use]
    pub fn bytes(&self) -> u64 {
        self.entry.bytes
    }
}

impl<M> Deref for Handle<M> {
    type Target = M;

    fn deref(&self) -> &M {
        &self.entry.model
    }
}

impl<M> Clone for Handle<M> {
    fn clone(&self) -> Self {
        let mut state = self.shared.lock();
        if let Some(resident) = state.resident.peek_mut(&self.entry.name) {
            resident.holders += 1;
        }
        drop(state);
        Self { entry: Arc::clone(&self.entry), shared: Arc::clone(&self.shared) }
    }
}

impl<M> Drop for Handle<M> {
    fn drop(&mut self) {
        let mut state = self.shared.lock();
        let name = &self.entry.name;
        // A held model is never evicted, so it is still the resident one.
        let Some(resident) = state.resident.get_mut(name) else {
            return;
        };
        debug_assert!(Arc::ptr_eq(&resident.entry, &self.entry));
        resident.holders = resident.holders.saturating_sub(1);
        if resident.holders == 0 {
            state.counters(name).last_used = Some(Instant::now());
            drop(state);
            self.shared.changed.notify_all();
        }
    }
}

impl<M> std::fmt::Debug for Handle<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handle")
            .field("name", &self.entry.name)
            .field("bytes", &self.entry.bytes)
            .finish_non_exhaustive()
    }
}

struct Shared<M> {
    loader: Box<dyn Loader<M>>,
    budget: Option<u64>,
    pinned: HashSet<String>,
    wait_timeout: Duration,
    preload_parallelism: usize,
    state: Mutex<State<M>>,
    /// Announces every change of `state` that may let a waiter go on.
    changed: Condvar,
}

impl<M> Shared<M> {
    /// The state; a panic elsewhere never leaves it half-changed, so poisoning is ignored.
    fn lock(&self) -> MutexGuard<'_, State<M>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Models taken out of the registry, to be dropped once its lock is released.
type Evicted<M> = Vec<Arc<Entry<M>>>;

struct Entry<M> {
    name: String,
    model: M,
    bytes: u64,
}

struct Resident<M> {
    entry: Arc<Entry<M>>,
    holders: usize,
    pinned: bool,
}

/// One load under way; requests for the same model wait for its outcome.
#[derive(Default)]
struct Flight {
    /// Set, under the state lock, when the load ends.
    outcome: OnceLock<Result<(), PoolError>>,
}

#[derive(Default)]
struct Counters {
    bytes: Option<u64>,
    waiting: usize,
    loads: u64,
    load_failures: u64,
    evictions: u64,
    hits: u64,
    last_load_time: Option<Duration>,
    total_load_time: Duration,
    last_used: Option<Instant>,
    last_error: Option<PoolError>,
}

struct State<M> {
    /// Loaded models, most recently used first.
    resident: LruCache<String, Resident<M>>,
    /// Loads under way.
    flights: HashMap<String, Arc<Flight>>,
    /// Per-model statistics, kept across evictions.
    models: HashMap<String, Counters>,
    resident_bytes: u64,
    pinned_bytes: u64,
    reserved_bytes: u64,
    waiting_for_room: usize,
    loads: u64,
    load_failures: u64,
    evictions: u64,
    hits: u64,
}

impl<M> State<M> {
    fn counters(&mut self, name: &str) -> &mut Counters {
        if !self.models.contains_key(name) {
            self.models.insert(name.to_owned(), Counters::default());
        }
        self.models.get_mut(name).unwrap_or_else(|| unreachable!("inserted above"))
    }

    /// Bytes of idle, unpinned models: what eviction could free now.
    fn evictable_bytes(&self) -> u64 {
        self.resident
            .iter()
            .filter(|(_, resident)| resident.holders == 0 && !resident.pinned)
            .map(|(_, resident)| resident.entry.bytes)
            .sum()
    }

    /// Evicts the least recently used idle, unpinned model and returns it, to be dropped
    /// once the lock is released.
    fn evict_lru_idle(&mut self) -> Option<Arc<Entry<M>>> {
        let name = self
            .resident
            .iter()
            .rev()
            .find(|(_, resident)| resident.holders == 0 && !resident.pinned)
            .map(|(name, _)| name.clone())?;
        self.evict(&name)
    }

    fn evict(&mut self, name: &str) -> Option<Arc<Entry<M>>> {
        let resident = self.resident.pop(name)?;
        self.resident_bytes -= resident.entry.bytes;
        if resident.pinned {
            self.pinned_bytes -= resident.entry.bytes;
        }
        self.evictions += 1;
        self.counters(name).evictions += 1;
        tracing::info!(model = name, bytes = resident.entry.bytes, "evicted model");
        Some(resident.entry)
    }
}

impl<M: Send + Sync + 'static> Pool<M> {
    /// A pool that loads models through `loader`. Nothing is loaded yet.
    pub fn new(loader: impl Loader<M> + 'static, config: PoolConfig) -> Self {
        let preload_parallelism = if config.preload_parallelism == 0 {
            std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
        } else {
            config.preload_parallelism
        };
        let pinned: HashSet<String> = config.pinned.into_iter().collect();
        let mut models = HashMap::new();
        for name in &pinned {
            models.insert(name.clone(), Counters::default());
        }
        Self {
            shared: Arc::new(Shared {
                loader: Box::new(loader),
                budget: config.budget_bytes,
                pinned,
                wait_timeout: config.wait_timeout,
                preload_parallelism,
                state: Mutex::new(State {
                    resident: LruCache::unbounded(),
                    flights: HashMap::new(),
                    models,
                    resident_bytes: 0,
                    pinned_bytes: 0,
                    reserved_bytes: 0,
                    waiting_for_room: 0,
                    loads: 0,
                    load_failures: 0,
                    evictions: 0,
                    hits: 0,
                }),
                changed: Condvar::new(),
            }),
        }
    }

    /// The model `name`, loaded now if it is not in memory.
    ///
    /// # Errors
    ///
    /// [`PoolError::Load`] or [`PoolError::LoaderPanicked`] when the load (this request's or
    /// the one it waited for) failed; [`PoolError::ModelTooLarge`],
    /// [`PoolError::PinnedExceedBudget`] or [`PoolError::BudgetExhausted`] when the model
    /// does not fit in the budget.
    ///
    /// # Panics
    ///
    /// When the loader panics in this request's own load; the requests waiting for it get
    /// [`PoolError::LoaderPanicked`].
    pub fn get(&self, name: &str) -> Result<Handle<M>, PoolError> {
        let mut state = self.shared.lock();
        loop {
            if let Some(resident) = state.resident.get_mut(name) {
                resident.holders += 1;
                let entry = Arc::clone(&resident.entry);
                state.hits += 1;
                let counters = state.counters(name);
                counters.hits += 1;
                counters.last_used = Some(Instant::now());
                return Ok(self.handle(entry));
            }
            let Some(flight) = state.flights.get(name).cloned() else {
                return self.load(state, name);
            };
            state.counters(name).waiting += 1;
            while flight.outcome.get().is_none() {
                state = self.wait(state, None);
            }
            state.counters(name).waiting -= 1;
            if let Some(Err(error)) = flight.outcome.get() {
                return Err(error.clone());
            }
            // Loaded: take it from the registry (or load again if it was evicted since).
        }
    }

    /// Loads `names` (those not loaded yet), up to [`PoolConfig::preload_parallelism`] at
    /// once, and reports each; one failure does not stop the others. A loader that knows
    /// costs beforehand ([`Loader::estimate_bytes`]) keeps parallel loads within the budget;
    /// without estimates, parallel loads may overrun it while they run.
    ///
    /// Preloaded models stay loaded while the budget allows; only pinned ones are sure to.
    pub fn preload(&self, names: &[impl AsRef<str> + Sync]) -> Vec<PreloadOutcome> {
        let next = AtomicUsize::new(0);
        let threads = self.shared.preload_parallelism.clamp(1, names.len().max(1));
        let mut results: Vec<(usize, Result<(), PoolError>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let index = next.fetch_add(1, Ordering::Relaxed);
                            let Some(name) = names.get(index) else {
                                break done;
                            };
                            let name = name.as_ref();
                            let result = catch_unwind(AssertUnwindSafe(|| self.get(name)))
                                .unwrap_or_else(|_| Err(PoolError::LoaderPanicked { name: name.to_owned() }))
                                .map(drop);
                            done.push((index, result));
                        }
                    })
                })
                .collect();
            workers.into_iter().flat_map(|worker| worker.join().unwrap_or_default()).collect()
        });
        results.sort_by_key(|(index, _)| *index);
        results
            .into_iter()
            .map(|(index, result)| PreloadOutcome { name: names[index].as_ref().to_owned(), result })
            .collect()
    }

    /// Evicts `name` now if it is loaded and idle. Returns whether it was loaded.
    ///
    /// # Errors
    ///
    /// [`PoolError::Pinned`] for a loaded pinned model, [`PoolError::InUse`] for a model
    /// that a handle holds.
    pub fn evict_idle(&self, name: &str) -> Result<bool, PoolError> {
        let mut state = self.shared.lock();
        let Some(resident) = state.resident.peek(name) else {
            return Ok(false);
        };
        if resident.pinned {
            return Err(PoolError::Pinned { name: name.to_owned() });
        }
        if resident.holders > 0 {
            return Err(PoolError::InUse { name: name.to_owned(), holders: resident.holders });
        }
        let evicted = state.evict(name);
        drop(state);
        self.shared.changed.notify_all();
        drop(evicted);
        Ok(true)
    }

    /// A snapshot of the pool's counters and of every model it knows.
    #[must_use]
    pub fn stats(&self) -> PoolStats {
        let state = self.shared.lock();
        let mut models: Vec<ModelStats> = state
            .models
            .iter()
            .map(|(name, counters)| {
                let resident = state.resident.peek(name);
                let state = if resident.is_some() {
                    ModelState::Loaded
                } else if state.flights.contains_key(name) {
                    ModelState::Loading
                } else {
                    ModelState::Unloaded
                };
                ModelStats {
                    name: name.clone(),
                    state,
                    pinned: self.shared.pinned.contains(name),
                    bytes: counters.bytes,
                    holders: resident.map_or(0, |resident| resident.holders),
                    waiting: counters.waiting,
                    loads: counters.loads,
                    load_failures: counters.load_failures,
                    evictions: counters.evictions,
                    hits: counters.hits,
                    last_load_time: counters.last_load_time,
                    total_load_time: counters.total_load_time,
                    last_used: counters.last_used,
                    last_error: counters.last_error.clone(),
                }
            })
            .collect();
        models.sort_by(|a, b| a.name.cmp(&b.name));
        PoolStats {
            budget_bytes: self.shared.budget,
            bytes_in_use: state.resident_bytes,
            bytes_pinned: state.pinned_bytes,
            bytes_reserved: state.reserved_bytes,
            loads: state.loads,
            load_failures: state.load_failures,
            evictions: state.evictions,
            hits: state.hits,
            waiting_for_room: state.waiting_for_room,
            models,
        }
    }

    fn handle(&self, entry: Arc<Entry<M>>) -> Handle<M> {
        Handle { entry, shared: Arc::clone(&self.shared) }
    }

    /// Waits for a change of state, at most until `deadline`.
    fn wait<'a>(&'a self, state: MutexGuard<'a, State<M>>, deadline: Option<Instant>) -> MutexGuard<'a, State<M>> {
        match deadline {
            None => self.shared.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                self.shared.changed.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0
            }
        }
    }

    /// Loads `name`, which is neither loaded nor loading, as the one flight for it.
    fn load(&self, mut state: MutexGuard<'_, State<M>>, name: &str) -> Result<Handle<M>, PoolError> {
        let flight = Arc::new(Flight::default());
        state.flights.insert(name.to_owned(), Arc::clone(&flight));
        state.counters(name);
        drop(state);
        let mut landing = Landing { shared: &self.shared, name, flight, reserved: 0, finished: false };

        let estimate = self.shared.loader.estimate_bytes(name);
        if let Some(estimate) = estimate {
            let state = self.shared.lock();
            let (mut state, room) = self.make_room(state, name, estimate);
            match room {
                Ok(evicted) => {
                    state.reserved_bytes += estimate;
                    landing.reserved = estimate;
                    drop(state);
                    drop(evicted);
                }
                Err(error) => return Err(landing.fail(state, error)),
            }
        }

        tracing::debug!(model = name, "loading model");
        let started = Instant::now();
        let loaded = self.shared.loader.load(name);
        let elapsed = started.elapsed();

        let mut state = self.shared.lock();
        state.reserved_bytes -= landing.reserved;
        landing.reserved = 0;
        let loaded = match loaded {
            Ok(loaded) => loaded,
            Err(source) => {
                let error = PoolError::Load { name: name.to_owned(), source: Arc::from(source) };
                return Err(landing.fail(state, error));
            }
        };
        let (mut state, room) = self.make_room(state, name, loaded.bytes);
        let evicted = match room {
            Ok(evicted) => evicted,
            Err(error) => {
                let error = landing.fail(state, error);
                drop(loaded);
                return Err(error);
            }
        };
        let pinned = self.shared.pinned.contains(name);
        let entry = Arc::new(Entry { name: name.to_owned(), model: loaded.model, bytes: loaded.bytes });
        state.resident.push(name.to_owned(), Resident { entry: Arc::clone(&entry), holders: 1, pinned });
        state.resident_bytes += entry.bytes;
        if pinned {
            state.pinned_bytes += entry.bytes;
        }
        state.loads += 1;
        let counters = state.counters(name);
        counters.loads += 1;
        counters.bytes = Some(entry.bytes);
        counters.last_load_time = Some(elapsed);
        counters.total_load_time += elapsed;
        counters.last_used = Some(Instant::now());
        counters.last_error = None;
        tracing::info!(model = name, bytes = entry.bytes, load_ms = elapsed.as_millis(), pinned, "loaded model");
        landing.finish(state, Ok(()));
        drop(evicted);
        Ok(self.handle(entry))
    }

    /// Evicts idle models, least recently used first, until `bytes` more fit in the budget,
    /// waiting for releases if evicting every idle model would not be enough. Returns the
    /// evicted models, to be dropped once the lock is released.
    fn make_room<'a>(
        &'a self,
        mut state: MutexGuard<'a, State<M>>,
        name: &str,
        bytes: u64,
    ) -> (MutexGuard<'a, State<M>>, Result<Evicted<M>, PoolError>) {
        let mut evicted = Vec::new();
        let Some(budget) = self.shared.budget else {
            return (state, Ok(evicted));
        };
        if bytes > budget {
            let error = PoolError::ModelTooLarge { name: name.to_owned(), bytes, budget };
            return (state, Err(error));
        }
        let deadline = Instant::now().checked_add(self.shared.wait_timeout);
        loop {
            if state.pinned_bytes + bytes > budget {
                let error = PoolError::PinnedExceedBudget {
                    name: name.to_owned(),
                    bytes,
                    pinned_bytes: state.pinned_bytes,
                    budget,
                };
                return (state, Err(error));
            }
            let used = state.resident_bytes + state.reserved_bytes;
            if used + bytes <= budget {
                return (state, Ok(evicted));
            }
            if used - state.evictable_bytes() + bytes <= budget {
                while state.resident_bytes + state.reserved_bytes + bytes > budget {
                    match state.evict_lru_idle() {
                        Some(entry) => evicted.push(entry),
                        None => break,
                    }
                }
                continue;
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                let error = PoolError::BudgetExhausted {
                    name: name.to_owned(),
                    bytes,
                    in_use_bytes: used,
                    budget,
                    wait_timeout: self.shared.wait_timeout,
                };
                return (state, Err(error));
            }
            tracing::debug!(model = name, bytes, used, budget, "waiting for room");
            state.waiting_for_room += 1;
            state = self.wait(state, deadline);
            state.waiting_for_room -= 1;
        }
    }
}

/// Ends a flight: records its outcome for the requests waiting on it, and frees its name for
/// the next load. Dropped without [`finish`](Self::finish) (the loader panicked), it ends the
/// flight as failed.
struct Landing<'a, M> {
    shared: &'a Shared<M>,
    name: &'a str,
    flight: Arc<Flight>,
    reserved: u64,
    finished: bool,
}

impl<M> Landing<'_, M> {
    fn finish(&mut self, mut state: MutexGuard<'_, State<M>>, outcome: Result<(), PoolError>) {
        self.finished = true;
        state.reserved_bytes -= std::mem::take(&mut self.reserved);
        if let Err(error) = &outcome {
            state.load_failures += 1;
            let counters = state.counters(self.name);
            counters.load_failures += 1;
            counters.last_error = Some(error.clone());
            // The error goes back to the caller, who reports it: logging it here too would say it twice.
            tracing::debug!(model = self.name, error = %ErrorChain(error), "model not loaded");
        }
        let _ = self.flight.outcome.set(outcome);
        state.flights.remove(self.name);
        drop(state);
        self.shared.changed.notify_all();
    }

    fn fail(mut self, state: MutexGuard<'_, State<M>>, error: PoolError) -> PoolError {
        self.finish(state, Err(error.clone()));
        error
    }
}

impl<M> Drop for Landing<'_, M> {
    fn drop(&mut self) {
        if !self.finished {
            let state = self.shared.lock();
            let error = PoolError::LoaderPanicked { name: self.name.to_owned() };
            self.finish(state, Err(error));
        }
    }
}

/// Shows an error with its sources, `: `-separated, for logs.
struct ErrorChain<'a>(&'a PoolError);

impl std::fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sized(bytes: &'static [(&'static str, u64)]) -> impl Loader<String> + 'static {
        move |name: &str| -> Result<Loaded<String>, BoxError> {
            let size = bytes.iter().find(|(n, _)| *n == name).map_or(10, |(_, b)| *b);
            Ok(Loaded::new(name.to_owned(), size))
        }
    }

    fn budget(bytes: u64) -> PoolConfig {
        PoolConfig { budget_bytes: Some(bytes), wait_timeout: Duration::ZERO, ..PoolConfig::default() }
    }

    #[test]
    fn pool_and_handle_are_send_and_sync() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<Pool<String>>();
        send_sync::<Handle<String>>();
        send_sync::<PoolError>();
    }

    #[test]
    fn nothing_is_evicted_unless_that_makes_enough_room() {
        let pool = Pool::new(sized(&[("held", 60), ("idle", 30), ("new", 50)]), budget(100));
        let held = pool.get("held").expect("held");
        drop(pool.get("idle").expect("idle"));
        let error = pool.get("new").expect_err("60 held + 50 > 100");
        assert!(matches!(error, PoolError::BudgetExhausted { .. }), "{error:?}");
        let state = pool.shared.lock();
        assert!(state.resident.contains("idle"), "evicting it would not have helped");
        assert_eq!((state.resident_bytes, state.evictions), (90, 0));
        drop(state);
        drop(held);
    }

    #[test]
    fn without_a_budget_nothing_is_evicted() {
        let pool = Pool::new(sized(&[("a", u64::MAX / 4)]), PoolConfig::default());
        for name in ["a", "b", "c"] {
            drop(pool.get(name).expect(name));
        }
        let stats = pool.stats();
        assert_eq!((stats.loads, stats.evictions), (3, 0));
    }

    #[test]
    fn a_handle_outlives_its_pool() {
        let pool = Pool::new(sized(&[]), PoolConfig::default());
        let handle = pool.get("a").expect("a");
        drop(pool);
        assert_eq!((handle.name(), handle.bytes(), handle.as_str()), ("a", 10, "a"));
        assert_eq!(format!("{handle:?}"), "Handle { name: \"a\", bytes: 10, .. }");
    }

    #[test]
    fn a_release_counts_as_use_for_eviction_order() {
        let pool = Pool::new(sized(&[]), budget(20));
        let a = pool.get("a").expect("a");
        drop(pool.get("b").expect("b"));
        drop(a); // a released after b: b is now the least recently used
        drop(pool.get("c").expect("c"));
        let state = pool.shared.lock();
        assert!(state.resident.contains("a") && !state.resident.contains("b"));
    }

    #[test]
    fn the_error_chain_shows_every_cause() {
        let error = PoolError::Load { name: "m".to_owned(), source: Arc::new(std::io::Error::other("disk on fire")) };
        assert_eq!(ErrorChain(&error).to_string(), "loading model \"m\" failed: disk on fire");
    }
}
