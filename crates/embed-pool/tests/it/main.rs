//! Integration tests of `embed-pool` with fake loaders: eviction order, budget arithmetic,
//! single flight, failure retry, in-use protection, waiting, pinning and preloading.
//!
//! Hermetic: models are strings with made-up costs. Threads meet through gates and the
//! pool's own statistics, never through sleeps. These tests must not know the pool's
//! internals, only its public API.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use embed_pool::{BoxError, Loaded, Loader, ModelState, Pool, PoolConfig, PoolError, PoolStats};

/// Long enough never to be reached when the code is right; reached, it fails the test
/// instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(30);

/// A model: its name, so tests can tell which one they got.
type Model = String;

/// A loader whose models cost what `sizes` says (10 bytes when not listed) and that counts
/// its calls.
fn sized(sizes: &[(&str, u64)]) -> (impl Loader<Model> + 'static, Arc<AtomicUsize>) {
    let sizes: HashMap<String, u64> = sizes.iter().map(|&(n, b)| (n.to_owned(), b)).collect();
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let loader = move |name: &str| -> Result<Loaded<Model>, BoxError> {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok(Loaded::new(name.to_owned(), sizes.get(name).copied().unwrap_or(10)))
    };
    (loader, calls)
}

fn budget(bytes: u64) -> PoolConfig {
    PoolConfig { budget_bytes: Some(bytes), wait_timeout: Duration::ZERO, ..PoolConfig::default() }
}

fn state(stats: &PoolStats, name: &str) -> ModelState {
    stats.model(name).map_or(ModelState::Unloaded, |model| model.state)
}

fn loaded(pool: &Pool<Model>) -> Vec<String> {
    let stats = pool.stats();
    stats.models.iter().filter(|model| model.state == ModelState::Loaded).map(|model| model.name.clone()).collect()
}

/// Polls `condition` (no sleeping: it yields) until it holds; fails the test after
/// [`PATIENCE`].
fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::yield_now();
    }
}

/// A one-way gate that loaders wait at until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

impl Gate {
    fn open(&self) {
        *self.open.lock().expect("gate lock") = true;
        self.opened.notify_all();
    }

    fn pass(&self) -> Result<(), BoxError> {
        let open = self.open.lock().expect("gate lock");
        let (open, _) = self.opened.wait_timeout_while(open, PATIENCE, |open| !*open).expect("gate lock");
        if *open { Ok(()) } else { Err("the test never opened the gate".into()) }
    }
}

#[test]
fn loads_on_first_use_and_shares_afterwards() {
    let (loader, calls) = sized(&[]);
    let pool = Pool::new(loader, PoolConfig::default());
    let first = pool.get("a").expect("first get");
    let second = pool.get("a").expect("second get");
    assert_eq!(*first, "a");
    assert!(std::ptr::eq(&*first, &*second), "both share one model");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = pool.stats();
    let model = stats.model("a").expect("known");
    assert_eq!((stats.loads, stats.hits), (1, 1));
    assert_eq!((model.holders, model.bytes), (2, Some(10)));
    assert!(model.last_load_time.is_some() && model.last_used.is_some());
    assert_eq!(stats.budget_bytes, None);
}

#[test]
fn evicts_the_least_recently_used_idle_model() {
    let (loader, calls) = sized(&[]);
    let pool = Pool::new(loader, budget(30));
    for name in ["a", "b", "c"] {
        drop(pool.get(name).expect(name));
    }
    drop(pool.get("a").expect("touch a")); // order now, least recent first: b, c, a
    drop(pool.get("d").expect("d"));
    assert_eq!(loaded(&pool), ["a", "c", "d"]);
    drop(pool.get("e").expect("e"));
    assert_eq!(loaded(&pool), ["a", "d", "e"]);
    let stats = pool.stats();
    assert_eq!(stats.evictions, 2);
    assert_eq!(stats.model("b").map(|m| m.evictions), Some(1));
    assert_eq!(stats.bytes_in_use, 30);
    assert_eq!(calls.load(Ordering::SeqCst), 5);
    // An evicted model loads again on its next request.
    drop(pool.get("b").expect("b again"));
    assert_eq!(pool.stats().model("b").map(|m| m.loads), Some(2));
}

#[test]
fn budget_arithmetic_allows_an_exact_fit_and_evicts_only_what_is_needed() {
    let (loader, _) = sized(&[("a", 40), ("b", 25), ("c", 35), ("d", 30)]);
    let pool = Pool::new(loader, budget(100));
    for name in ["a", "b", "c"] {
        drop(pool.get(name).expect(name));
    }
    assert_eq!(pool.stats().bytes_in_use, 100);
    assert_eq!(pool.stats().evictions, 0);
    // d needs 30: evicting a (40, least recent) is enough; b stays.
    drop(pool.get("d").expect("d"));
    let stats = pool.stats();
    assert_eq!(loaded(&pool), ["b", "c", "d"]);
    assert_eq!((stats.bytes_in_use, stats.evictions), (90, 1));
}

#[test]
fn a_held_model_is_never_evicted_and_a_full_budget_fails_at_once_with_zero_timeout() {
    let (loader, _) = sized(&[("a", 60), ("b", 60)]);
    let pool = Pool::new(loader, budget(100));
    let a = pool.get("a").expect("a");
    let error = pool.get("b").expect_err("no room while a is held");
    assert!(matches!(error, PoolError::BudgetExhausted { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "no room for model \"b\" (60 bytes) within the wait timeout of 0ns: 60 of the 100-byte budget are held by models in use or loading"
    );
    assert_eq!(loaded(&pool), ["a"]);
    assert_eq!(*a, "a");
    assert_eq!(pool.stats().bytes_in_use, 60);
    assert_eq!(pool.stats().model("b").map(|m| m.load_failures), Some(1));
    drop(a);
    drop(pool.get("b").expect("b once a is released"));
    assert_eq!(loaded(&pool), ["b"]);
}

#[test]
fn a_full_budget_waits_for_a_release() {
    let (loader, _) = sized(&[("a", 60), ("b", 60)]);
    let config = PoolConfig { wait_timeout: PATIENCE, ..budget(100) };
    let pool = Pool::new(loader, config);
    let a = pool.get("a").expect("a");
    let waiter = {
        let pool = pool.clone();
        thread::spawn(move || pool.get("b").map(|b| b.name().to_owned()))
    };
    wait_until("the request for b waits for room", || pool.stats().waiting_for_room == 1);
    assert_eq!(state(&pool.stats(), "b"), ModelState::Loading);
    assert_eq!(loaded(&pool), ["a"], "a is held, so it stays");
    drop(a);
    let b = waiter.join().expect("waiter thread");
    assert_eq!(b.expect("b after the release"), "b");
    assert_eq!(loaded(&pool), ["b"]);
    assert_eq!(pool.stats().evictions, 1);
}

#[test]
fn a_model_larger_than_the_budget_is_an_error() {
    let (loader, _) = sized(&[("huge", 150)]);
    let pool = Pool::new(loader, budget(100));
    let error = pool.get("huge").expect_err("too large");
    assert_eq!(error.to_string(), "model \"huge\" needs 150 bytes, more than the whole budget of 100 bytes");
    assert_eq!(pool.stats().bytes_in_use, 0);
    assert_eq!(state(&pool.stats(), "huge"), ModelState::Unloaded);
}

/// A loader that knows costs beforehand and tracks how many loads run at once.
#[derive(Clone)]
struct EstimatingLoader(Arc<Estimating>);

struct Estimating {
    bytes: u64,
    running: AtomicUsize,
    most_running: AtomicUsize,
    calls: AtomicUsize,
}

impl Loader<Model> for EstimatingLoader {
    fn load(&self, name: &str) -> Result<Loaded<Model>, BoxError> {
        let this = &self.0;
        this.calls.fetch_add(1, Ordering::SeqCst);
        let running = this.running.fetch_add(1, Ordering::SeqCst) + 1;
        this.most_running.fetch_max(running, Ordering::SeqCst);
        thread::yield_now();
        this.running.fetch_sub(1, Ordering::SeqCst);
        Ok(Loaded::new(name.to_owned(), this.bytes))
    }

    fn estimate_bytes(&self, _name: &str) -> Option<u64> {
        Some(self.0.bytes)
    }
}

fn estimating(bytes: u64) -> EstimatingLoader {
    EstimatingLoader(Arc::new(Estimating {
        bytes,
        running: AtomicUsize::new(0),
        most_running: AtomicUsize::new(0),
        calls: AtomicUsize::new(0),
    }))
}

#[test]
fn an_estimate_larger_than_the_budget_fails_without_loading() {
    let loader = estimating(150);
    let pool = Pool::new(loader.clone(), budget(100));
    let error = pool.get("huge").expect_err("too large");
    assert!(matches!(error, PoolError::ModelTooLarge { bytes: 150, budget: 100, .. }));
    assert_eq!(loader.0.calls.load(Ordering::SeqCst), 0);
}

#[test]
fn estimates_keep_parallel_preloads_within_the_budget() {
    let loader = estimating(60);
    let config = PoolConfig { wait_timeout: PATIENCE, preload_parallelism: 3, ..budget(100) };
    let pool = Pool::new(loader.clone(), config);
    let report = pool.preload(&["a", "b", "c"]);
    for outcome in &report {
        assert!(outcome.result.is_ok(), "{}: {:?}", outcome.name, outcome.result);
    }
    assert_eq!(loader.0.most_running.load(Ordering::SeqCst), 1, "two 60-byte loads never overlap");
    let stats = pool.stats();
    assert_eq!((stats.loads, stats.evictions, stats.bytes_in_use), (3, 2, 60));
    assert_eq!(stats.bytes_reserved, 0);
}

#[test]
fn pinned_models_are_never_evicted() {
    let (loader, _) = sized(&[("pinned", 60), ("b", 30), ("c", 30), ("big", 50)]);
    let config = PoolConfig { pinned: vec!["pinned".to_owned()], ..budget(100) };
    let pool = Pool::new(loader, config);
    assert_eq!(state(&pool.stats(), "pinned"), ModelState::Unloaded);
    assert!(pool.stats().model("pinned").is_some_and(|m| m.pinned));
    let report = pool.preload(&["pinned"]);
    assert!(report[0].result.is_ok());
    drop(pool.get("b").expect("b"));
    // c needs room: b goes although the idle pinned model is less recently used.
    drop(pool.get("c").expect("c"));
    assert_eq!(loaded(&pool), ["c", "pinned"]);
    let error = pool.get("big").expect_err("pinned leaves 40 bytes");
    assert_eq!(
        error.to_string(),
        "model \"big\" needs 50 bytes, but pinned models already hold 60 of the 100-byte budget"
    );
    let error = pool.evict_idle("pinned").expect_err("pinned");
    assert!(matches!(error, PoolError::Pinned { .. }), "{error:?}");
    assert_eq!(pool.stats().bytes_pinned, 60);
}

#[test]
fn pinned_models_that_exceed_the_budget_are_reported() {
    let (loader, _) = sized(&[("p1", 60), ("p2", 60)]);
    let config = PoolConfig { pinned: vec!["p1".to_owned(), "p2".to_owned()], preload_parallelism: 1, ..budget(100) };
    let pool = Pool::new(loader, config);
    let report = pool.preload(&["p1", "p2"]);
    assert!(report[0].result.is_ok());
    let error = report[1].result.as_ref().expect_err("p2 does not fit");
    assert!(matches!(error, PoolError::PinnedExceedBudget { .. }), "{error:?}");
}

#[test]
fn many_threads_asking_for_one_model_cause_one_load() {
    const THREADS: usize = 16;
    let gate = Arc::new(Gate::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = {
        let (gate, calls) = (Arc::clone(&gate), Arc::clone(&calls));
        move |name: &str| -> Result<Loaded<Model>, BoxError> {
            calls.fetch_add(1, Ordering::SeqCst);
            gate.pass()?;
            Ok(Loaded::new(name.to_owned(), 10))
        }
    };
    let pool = Pool::new(loader, PoolConfig::default());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || pool.get("m").map(|m| std::ptr::from_ref(&*m) as usize))
        })
        .collect();
    wait_until("every other thread waits for the one load", || {
        pool.stats().model("m").is_some_and(|m| m.waiting == THREADS - 1)
    });
    gate.open();
    let addresses: Vec<usize> = threads.into_iter().map(|t| t.join().expect("thread").expect("get")).collect();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(addresses.windows(2).all(|w| w[0] == w[1]), "one shared model");
    let stats = pool.stats();
    assert_eq!((stats.loads, stats.hits), (1, THREADS as u64 - 1));
}

#[test]
fn a_failed_load_is_reported_to_every_waiter_and_retried_next_time() {
    const THREADS: usize = 8;
    let gate = Arc::new(Gate::default());
    let calls = Arc::new(AtomicUsize::new(0));
    let loader = {
        let (gate, calls) = (Arc::clone(&gate), Arc::clone(&calls));
        move |name: &str| -> Result<Loaded<Model>, BoxError> {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            gate.pass()?;
            if call == 0 {
                return Err("disk on fire".into());
            }
            Ok(Loaded::new(name.to_owned(), 10))
        }
    };
    let pool = Pool::new(loader, PoolConfig::default());
    let threads: Vec<_> = (0..THREADS)
        .map(|_| {
            let pool = pool.clone();
            thread::spawn(move || pool.get("m").map(drop))
        })
        .collect();
    wait_until("every other thread waits for the one load", || {
        pool.stats().model("m").is_some_and(|m| m.waiting == THREADS - 1)
    });
    gate.open();
    for thread in threads {
        let error = thread.join().expect("thread").expect_err("the load failed");
        assert_eq!(error.to_string(), "loading model \"m\" failed");
        let source = std::error::Error::source(&error).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk on fire"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let stats = pool.stats();
    let model = stats.model("m").expect("known");
    assert_eq!((model.load_failures, model.state), (1, ModelState::Unloaded));
    assert!(model.last_error.is_some());

    let model = pool.get("m").expect("retried");
    assert_eq!(*model, "m");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(pool.stats().model("m").is_some_and(|m| m.last_error.is_none()));
}

#[test]
fn loading_one_model_does_not_block_another() {
    let gate = Arc::new(Gate::default());
    let (started_tx, started_rx) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let loader = {
        let gate = Arc::clone(&gate);
        move |name: &str| -> Result<Loaded<Model>, BoxError> {
            if name == "slow" {
                started_tx.lock().expect("lock").send(())?;
                gate.pass()?;
            }
            Ok(Loaded::new(name.to_owned(), 10))
        }
    };
    let pool = Pool::new(loader, PoolConfig::default());
    let slow = {
        let pool = pool.clone();
        thread::spawn(move || pool.get("slow").map(drop))
    };
    started_rx.recv_timeout(PATIENCE).expect("slow load started");
    let (done_tx, done_rx) = mpsc::channel();
    let fast = {
        let pool = pool.clone();
        thread::spawn(move || done_tx.send(pool.get("fast").map(drop)))
    };
    let fast_result = done_rx.recv_timeout(PATIENCE);
    // Open the gate before asserting, so a failure does not leave the slow load hanging.
    gate.open();
    fast_result.expect("fast model loads while the slow one is loading").expect("fast get");
    fast.join().expect("fast thread").expect("send");
    slow.join().expect("slow thread").expect("slow get");
}

#[test]
fn preload_reports_every_model_and_runs_loads_in_parallel() {
    // "a" and "b" each wait until both are loading: they finish only if run in parallel.
    let arrivals = Arc::new((Mutex::new(0_usize), Condvar::new()));
    let loader = {
        let arrivals = Arc::clone(&arrivals);
        move |name: &str| -> Result<Loaded<Model>, BoxError> {
            match name {
                "broken" => return Err("no such file".into()),
                "a" | "b" => {
                    let (count, changed) = &*arrivals;
                    let mut count = count.lock().expect("lock");
                    *count += 1;
                    changed.notify_all();
                    let (count, _) = changed.wait_timeout_while(count, PATIENCE, |count| *count < 2).expect("lock");
                    if *count < 2 {
                        return Err("loads did not run in parallel".into());
                    }
                }
                _ => {}
            }
            Ok(Loaded::new(name.to_owned(), 10))
        }
    };
    let config = PoolConfig { preload_parallelism: 2, ..PoolConfig::default() };
    let pool = Pool::new(loader, config);
    let report = pool.preload(&["a", "broken", "b", "c"]);
    let names: Vec<&str> = report.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["a", "broken", "b", "c"]);
    for outcome in &report {
        if outcome.name == "broken" {
            let error = outcome.result.as_ref().expect_err("broken fails");
            let source = std::error::Error::source(error).map(ToString::to_string);
            assert_eq!(source.as_deref(), Some("no such file"));
        } else {
            assert!(outcome.result.is_ok(), "{}: {:?}", outcome.name, outcome.result);
        }
    }
    assert_eq!(loaded(&pool), ["a", "b", "c"]);
    let stats = pool.stats();
    assert_eq!((stats.loads, stats.load_failures), (3, 1));
}

#[test]
fn a_panicking_loader_is_reported_and_retried() {
    let calls = AtomicUsize::new(0);
    let loader = move |name: &str| -> Result<Loaded<Model>, BoxError> {
        assert!(calls.fetch_add(1, Ordering::SeqCst) > 0, "first load panics");
        Ok(Loaded::new(name.to_owned(), 10))
    };
    let pool = Pool::new(loader, PoolConfig::default());
    let report = pool.preload(&["m"]);
    let error = report[0].result.as_ref().expect_err("panicked");
    assert!(matches!(error, PoolError::LoaderPanicked { .. }), "{error:?}");
    assert_eq!(state(&pool.stats(), "m"), ModelState::Unloaded);
    assert_eq!(*pool.get("m").expect("retried"), "m");
}

#[test]
fn evict_idle_evicts_only_idle_models() {
    let (loader, _) = sized(&[]);
    let pool = Pool::new(loader, PoolConfig::default());
    let held = pool.get("held").expect("held");
    let second = held.clone();
    drop(pool.get("idle").expect("idle"));
    assert_eq!(pool.stats().model("held").map(|m| m.holders), Some(2));
    let error = pool.evict_idle("held").expect_err("in use");
    assert_eq!(error.to_string(), "model \"held\" is in use by 2 holder(s) and cannot be evicted");
    assert_eq!(pool.evict_idle("idle").ok(), Some(true));
    assert_eq!(pool.evict_idle("idle").ok(), Some(false));
    assert_eq!(pool.evict_idle("never").ok(), Some(false));
    drop((held, second));
    assert_eq!(pool.stats().model("held").map(|m| m.holders), Some(0));
    assert_eq!(pool.evict_idle("held").ok(), Some(true));
    assert_eq!(pool.stats().bytes_in_use, 0);
}
