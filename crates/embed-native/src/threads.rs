//! The engine's threads: the caller's own and `width - 1` helpers that spin briefly between
//! jobs, so that the thirty-odd parallel regions of a forward pass (each product, each
//! attention) start within a microsecond instead of waiting for a sleeping thread to be woken
//! (measured: a work-stealing pool spent about 12% of a single text's forward pass in futex
//! waits and wake-ups). A helper that finds no job for [`SPIN`] sleeps until the next one.
//!
//! One pass at a time uses the helpers. Passes running at the same time (the batches a caller
//! runs side by side, one per thread) each run their regions on their own thread, with no
//! synchronization at all; the helpers stay idle. Knows nothing of what the tasks compute.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::kernels::Parallel;

/// How long an idle helper spins for the next job before it sleeps.
const SPIN: Duration = Duration::from_micros(200);

/// One parallel region: `tasks` calls of `task`, claimed by index.
struct Job<'a> {
    task: &'a (dyn Fn(usize) + Sync),
    tasks: usize,
    next: AtomicUsize,
    done: AtomicUsize,
}

impl Job<'_> {
    /// Claims and runs tasks until none is left.
    fn work(&self) {
        loop {
            let index = self.next.fetch_add(1, Ordering::Relaxed);
            if index >= self.tasks {
                return;
            }
            (self.task)(index);
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
        let helpers = (1..width)
            .map(|i| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new().name(format!("embed-native-{i}")).spawn(move || helper(&shared))
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
    pub fn pass<R>(&self, work: impl FnOnce(&dyn Parallel) -> R) -> R {
        self.active.fetch_add(1, Ordering::SeqCst);
        let result = work(&Pass { threads: self });
        self.active.fetch_sub(1, Ordering::SeqCst);
        result
    }

    /// Runs one region on the caller and the helpers.
    fn run_shared(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        let job = Job { task, tasks, next: AtomicUsize::new(0), done: AtomicUsize::new(0) };
        let shared = &*self.shared;
        // SAFETY (of the lifetime change): the job is unpublished (null) and no helper is
        // inside it before this function returns; see the end of this function.
        let published = (&job as *const Job<'_>).cast_mut().cast::<Job<'static>>();
        shared.job.store(published, Ordering::SeqCst);
        shared.generation.fetch_add(1, Ordering::SeqCst);
        if *shared.sleeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner) > 0 {
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
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.generation.fetch_add(1, Ordering::SeqCst);
        {
            let _sleeping = self.shared.sleeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            self.shared.wake.notify_all();
        }
        for helper in self.helpers.drain(..) {
            let _ = helper.join();
        }
    }
}

/// A helper: waits for each new job (spinning, then asleep), works on it, repeats.
fn helper(shared: &Shared) {
    let mut seen = shared.generation.load(Ordering::SeqCst);
    loop {
        let started = Instant::now();
        let mut spins = 0u32;
        while shared.generation.load(Ordering::SeqCst) == seen {
            std::hint::spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && started.elapsed() > SPIN {
                let mut sleeping = shared.sleeping.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                *sleeping += 1;
                while shared.generation.load(Ordering::SeqCst) == seen {
                    sleeping = shared.wake.wait(sleeping).unwrap_or_else(std::sync::PoisonError::into_inner);
                }
                *sleeping -= 1;
            }
        }
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        seen = shared.generation.load(Ordering::SeqCst);
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
            && let Ok(_region) = self.threads.region.try_lock()
        {
            self.threads.run_shared(tasks, task);
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
}
