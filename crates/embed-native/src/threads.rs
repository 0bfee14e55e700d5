//! The engine's threads: the caller's own and `width - 1` helpers that spin briefly between
//! jobs, so that the thirty-odd parallel regions of a forward pass (each product, each
//! attention) start within a microsecond instead of waiting for a sleeping thread to be woken
//! (measured: a work-stealing pool spent about 12% of a single text's forward pass in futex
//! waits and wake-ups). A helper that finds no job for [`SPIN`] sleeps until the next one.
//!
//! One pass at a time uses the helpers. Passes running at the same time (the batches a caller
//! runs side by side, one per thread) each run their regions on their own thread, with no
//! synchronization at all; the helpers stay idle. Knows nothing of what the tasks compute.
//!
//! A task that panics, on the caller or on a helper, is caught where it ran; the region still
//! ends as usual (every other task run, the job unpublished, every helper out of it), and only
//! then is the first panic raised again on the caller. So no helper ever touches a job the
//! caller has left, no helper dies, and the pool works at full width afterwards.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::kernels::Parallel;

/// How long an idle helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// What a panicking task left: raised again on the caller once its region is over.
type Panic = Box<dyn Any + Send + 'static>;

/// One parallel region: `tasks` calls of `task`, claimed by index.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
    /// The first task's panic, if one panicked.
    panic: Mutex<Option<Panic>>,
}

impl Job<'_> {
    /// Claims and runs tasks until none is left; a task's panic is kept, and counts as done.
    fn work(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.tasks {
                return;
            }
            // The panic is raised again on the caller after the region, so whatever the task
            // left half-done is seen as a panic by the pass that owns it.
            if let Err(panic) = std::panic::catch_unwind(AssertUnwindSafe(|| (self.task)(index))) {
                self.panic.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(panic);
            }
            self.done.fetch_add(1, Ordering::Release);
        }
    }
}

/// What the caller and the helpers share.
struct Shared {
    /// The job of the current region, or null between regions.
    job: AtomicPtr<Job<'static>>,
    /// Bumped for each new job; helpers wait for it to move.
    generation: AtomicU64,
    /// Helpers between reading `job` and being done with it.
    inside: AtomicUsize,
    /// Helpers asleep, and the condition that wakes them.
    sleeping: Mutex<usize>,
    wake: Condvar,
    /// Set when the pool is dropped.
    stop: std::sync::atomic::AtomicBool,
}

/// The engine's threads: `width` in all, the caller's included.
pub(crate) struct Threads {
    shared: Arc<Shared>,
    helpers: Vec<std::thread::JoinHandle<()>>,
    width: usize,
    /// Held by the pass whose region uses the helpers.
    region: Mutex<()>,
    /// Passes running now.
    active: AtomicUsize,
}

impl std::fmt::Debug for Threads {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Threads").field("width", &self.width).finish_non_exhaustive()
    }
}

impl Threads {
    /// `width` threads in all: the caller's and `width - 1` helpers named `embed-native-<i>`.
    pub fn new(width: usize) -> std::io::Result<Self> {
        let width = width.max(1);
        let shared = Arc::new(Shared {
            job: AtomicPtr::new(std::ptr::null_mut()),
            generation: AtomicU64::new(0),
            inside: AtomicUsize::new(0),
            sleeping: Mutex::new(0),
            wake: Condvar::new(),
            stop: std::sync::atomic::AtomicBool::new(false),
        });
        let start = shared.generation.load(Ordering::SeqCst);
        let helpers = (1..width)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new().name(format!("embed-native-{i}")).spawn(move || helper(&shared, start))
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        Ok(Self { shared, helpers, width, region: Mutex::new(()), active: AtomicUsize::new(0) })
    }

    /// Threads in all.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Runs `work` (one pass) on the calling thread, its regions shared with the helpers
    /// while no other pass runs.
    /// A panic in `work` leaves the pool as it was: the pass no longer counts as running.
    pub fn pass<R>(&self, work: impl FnOnce(&dyn Parallel) -> R) -> R {
        /// Counts a pass as running while it lives, on every way out.
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        self.active.fetch_add(1, Ordering::SeqCst);
        let _running = Running(&self.active);
        work(&Pass { threads: self })
    }

    /// Runs one region on the caller and the helpers; returns the first task's panic, if any,
    /// once the region is over (the job unpublished and every helper out of it).
    fn run_shared(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) -> Result<(), Panic> {
        let job = Job { task, tasks, next: AtomicUsize::new(0), done: AtomicUsize::new(0), panic: Mutex::new(None) };
        let shared = &*self.shared;
        // SAFETY (of the lifetime change): the job is unpublished (null) and no helper is
        // inside it before this function returns; see the end of this function.
        let published = (&job as *const Job<'_>).cast_mut().cast::<Job<'static>>();
        shared.job.store(published, Ordering::SeqCst);
        shared.generation.fetch_add(1, Ordering::SeqCst);
        if *shared.sleeping.lock().unwrap_or_else(PoisonError::into_inner) > 0 {
            shared.wake.notify_all();
        }
        job.work();
        while job.done.load(Ordering::Acquire) < tasks {
            std::hint::spin_loop();
        }
        // Unpublish, then wait for helpers that read the pointer to leave: a helper counts
        // itself `inside` before it reads `job`, so (both sequentially consistent) either it
        // reads null, or this loop sees it and waits.
        shared.job.store(std::ptr::null_mut(), Ordering::SeqCst);
        while shared.inside.load(Ordering::SeqCst) > 0 {
            std::hint::spin_loop();
        }
        job.panic.into_inner().unwrap_or_else(PoisonError::into_inner).map_or(Ok(()), Err)
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        {
            let _sleeping = self.shared.sleeping.lock().unwrap_or_else(PoisonError::into_inner);
            self.shared.wake.notify_all();
        }
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

/// A helper: waits for each new job (spinning, then asleep), works on it, repeats.
///
/// `seen` is the generation when the pool was made, before any job: a helper that starts late
/// must not take a job's or the drop's generation, which it would then wait past forever.
fn helper(shared: &Shared, mut seen: u64) {
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        let mut now = shared.generation.load(Ordering::SeqCst);
        while now == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && started.elapsed() > SPIN {
                let mut sleeping = shared.sleeping.lock().unwrap_or_else(PoisonError::into_inner);
                *sleeping += 1;
                while shared.generation.load(Ordering::SeqCst) == seen {
                    sleeping = shared.wake.wait(sleeping).unwrap_or_else(PoisonError::into_inner);
                }
                *sleeping -= 1;
            }
            now = shared.generation.load(Ordering::SeqCst);
        }
        // The generation seen is the one observed here, never a later one: a bump that comes
        // after this point (the next job's, or the drop's) ends the next wait at once.
        seen = now;
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        shared.inside.fetch_add(1, Ordering::SeqCst);
        let job = shared.job.load(Ordering::SeqCst);
        if !job.is_null() {
            // SAFETY: the caller keeps the job alive until `inside` is back to zero after it
            // unpublished the job (see `run_shared`), and this helper is counted inside.
            unsafe { &*job }.work();
        }
        shared.inside.fetch_sub(1, Ordering::SeqCst);
    }
}

/// One pass's view of the threads: its regions use the helpers while it runs alone.
struct Pass<'a> {
    threads: &'a Threads,
}

impl Parallel for Pass<'_> {
    fn width(&self) -> usize {
        if self.threads.active.load(Ordering::Relaxed) > 1 { 1 } else { self.threads.width }
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        if tasks > 1
            && self.width() > 1
            && let Ok(region) = self.threads.region.try_lock()
        {
            let result = self.threads.run_shared(tasks, task);
            // The region is free again before the panic goes on, so it is never poisoned.
            drop(region);
            if let Err(panic) = result {
                std::panic::resume_unwind(panic);
            }
            return;
        }
        (0..tasks).for_each(task);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once_alone_and_side_by_side() {
        let threads = Threads::new(3).unwrap();
        for tasks in [0, 1, 2, 5, 64] {
            let counts: Vec<AtomicUsize> = (0..tasks).map(|_| AtomicUsize::new(0)).collect();
            threads.pass(|parallel| {
                for _ in 0..100 {
                    parallel.run(tasks, &|i| {
                        counts[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert!(counts.iter().all(|c| c.load(Ordering::Relaxed) == 100), "{tasks} tasks");
        }
        // Passes at once: each runs its regions on its own thread.
        let total = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    threads.pass(|parallel| {
                        for _ in 0..200 {
                            parallel.run(7, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    });
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 200 * 7);
        // Helpers that went to sleep wake for the next job.
        std::thread::sleep(SPIN * 5);
        let after_sleep = AtomicUsize::new(0);
        threads.pass(|parallel| {
            parallel.run(16, &|_| {
                after_sleep.fetch_add(1, Ordering::Relaxed);
            })
        });
        assert_eq!(after_sleep.load(Ordering::Relaxed), 16);
    }

    #[test]
    fn dropping_right_after_a_pass_never_waits_forever() {
        // A helper that started after the pass and the drop once took the drop's generation
        // as its starting point and waited for the next one forever; repeat the race.
        for round in 0..2_000 {
            let threads = Threads::new(2 + round % 2).unwrap();
            let ran = AtomicUsize::new(0);
            threads.pass(|parallel| {
                parallel.run(4, &|_| {
                    ran.fetch_add(1, Ordering::Relaxed);
                })
            });
            drop(threads);
            assert_eq!(ran.load(Ordering::Relaxed), 4);
        }
    }

    /// Whether the running thread is one of the pool's helpers.
    fn on_helper() -> bool {
        std::thread::current().name().is_some_and(|name| name.starts_with("embed-native-"))
    }

    /// Runs a region of two tasks on a pool of two threads, one task on the caller and one on
    /// the helper (each waits until the other has started, so neither thread takes both), the
    /// helper's or the caller's panicking; returns the message of the panic the caller got.
    fn region_panicking_on(threads: &Threads, helper_panics: bool) -> String {
        let started = [AtomicUsize::new(0), AtomicUsize::new(0)];
        let wait_for = |flag: &AtomicUsize| {
            let deadline = Instant::now() + Duration::from_secs(10);
            while flag.load(Ordering::SeqCst) == 0 {
                assert!(Instant::now() < deadline, "the other thread took no task");
                std::hint::spin_loop();
            }
        };
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            threads.pass(|parallel| {
                parallel.run(2, &|_| {
                    let (mine, other) = if on_helper() { (0, 1) } else { (1, 0) };
                    started[mine].store(1, Ordering::SeqCst);
                    wait_for(&started[other]);
                    match (on_helper(), helper_panics) {
                        (true, true) => panic!("injected on a helper"),
                        (false, false) => panic!("injected on the caller"),
                        _ => {}
                    }
                })
            })
        }));
        let panic = result.expect_err("the task's panic reaches the caller");
        panic.downcast_ref::<&str>().map(|message| (*message).to_string()).unwrap_or_default()
    }

    #[test]
    fn a_panicking_task_reaches_the_caller_and_leaves_the_pool_whole() {
        let threads = Threads::new(2).unwrap();
        for _ in 0..3 {
            assert_eq!(region_panicking_on(&threads, true), "injected on a helper");
            assert_eq!(region_panicking_on(&threads, false), "injected on the caller");
        }
        // 1,000 passes after the panics: full width, the helper working, the same results.
        let expected: Vec<u64> = (0..64u64).map(|i| i * i + 7).collect();
        let on_helpers = AtomicUsize::new(0);
        for _ in 0..1_000 {
            let slots: Vec<AtomicU64> = (0..64).map(|_| AtomicU64::new(0)).collect();
            threads.pass(|parallel| {
                assert_eq!(parallel.width(), 2, "a panicking pass left the pool counted as busy");
                parallel.run(64, &|i| {
                    if on_helper() {
                        on_helpers.fetch_add(1, Ordering::Relaxed);
                    }
                    for _ in 0..50 {
                        std::hint::spin_loop();
                    }
                    slots[i].store(i as u64 * i as u64 + 7, Ordering::Relaxed);
                });
            });
            let got: Vec<u64> = slots.iter().map(|slot| slot.load(Ordering::Relaxed)).collect();
            assert_eq!(got, expected);
        }
        assert!(on_helpers.load(Ordering::Relaxed) > 0, "the helper took no task after the panics");
    }
}
