//! The engine's threads: a rayon pool of its own (never the global one, which tokenization
//! uses), sized to the cores it may use. A forward pass runs inside the pool ([`Threads::install`]),
//! so the products and attention it splits into tasks reach the other threads without a
//! wake-up from outside. Knows nothing of what the tasks compute.

use crate::kernels::Parallel;

/// A pool of `width` threads.
#[derive(Debug)]
pub(crate) struct Threads {
    pool: rayon::ThreadPool,
}

impl Threads {
    /// A pool of `width` threads named `embed-native-<i>`.
    pub fn new(width: usize) -> Result<Self, rayon::ThreadPoolBuildError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(width.max(1))
            .thread_name(|i| format!("embed-native-{i}"))
            .build()?;
        Ok(Self { pool })
    }

    /// Runs `work` on one of the pool's threads and returns its result.
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
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
