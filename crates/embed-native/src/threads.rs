//! The engine's threads: a rayon pool of its own (never the global one, which tokenization
//! uses), sized to the cores it may use. A forward pass runs inside the pool ([`Threads::install`]),
//! so the products and attention it splits into tasks reach the other threads without a
//! wake-up from outside. Passes running at the same time share the pool: each splits its work
//! among its share of the threads ([`Threads::share`]), so two passes on two threads run side
//! by side, one thread each, with no synchronization between them. Knows nothing of what the
//! tasks compute.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernels::Parallel;

/// A pool of `width` threads.
#[derive(Debug)]
pub(crate) struct Threads {
    pool: rayon::ThreadPool,
    /// Passes running now.
    active: AtomicUsize,
}

impl Threads {
    /// A pool of `width` threads named `embed-native-<i>`.
    pub fn new(width: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(width.max(1))
            .thread_name(|i| format!("embed-native-{i}"))
            .build()?;
        Ok(Self { pool, active: AtomicUsize::new(0) })
    }

    /// Runs `work` (one pass) on one of the pool's threads and returns its result.
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.active.fetch_add(1, Ordering::Relaxed);
        let result = self.pool.install(work);
        self.active.fetch_sub(1, Ordering::Relaxed);
        result
    }

    /// This pass's share of the pool: all of it while it runs alone, one thread of it while
    /// as many passes run as there are threads.
    pub fn share(&self) -> Share<'_> {
        Share { threads: self }
    }
}

/// A pass's share of the pool, judged at each split (passes start and end meanwhile).
pub(crate) struct Share<'a> {
    threads: &'a Threads,
}

impl Parallel for Share<'_> {
    fn width(&self) -> usize {
        let active = self.threads.active.load(Ordering::Relaxed).max(1);
        (self.threads.width() / active).max(1)
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        self.threads.run(tasks, task);
    }
}

impl Parallel for Threads {
    fn width(&self) -> usize {
        self.pool.current_num_threads()
    }

    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        if tasks <= 1 {
            (0..tasks).for_each(task);
            return;
        }
        self.pool.scope(|scope| {
            for t in 1..tasks {
                scope.spawn(move |_| task(t));
            }
            task(0);
        });
    }
}
