//! The snapshot that [`Pool::stats`](crate::Pool::stats) returns.
//!
//! Plain data, copied out under the registry's lock: this file must not know how the pool
//! loads, waits or evicts.

use std::time::{Duration, Instant};

use crate::PoolError;

/// Whether a model is in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ModelState {
    /// Not in memory: never asked for, failed, or evicted.
    Unloaded,
    /// A load is under way (including a loaded model waiting for room in the budget).
    Loading,
    /// In memory and counted against the budget.
    Loaded,
}

/// What the pool knows about one model.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ModelStats {
    /// The model's name.
    pub name: String,
    /// Whether it is in memory now.
    pub state: ModelState,
    /// Whether it is pinned (never evicted once loaded).
    pub pinned: bool,
    /// Its cost in bytes as last measured, when it was ever loaded.
    pub bytes: Option<u64>,
    /// Handles that hold it now.
    pub holders: usize,
    /// Callers waiting for its load to finish.
    pub waiting: usize,
    /// Successful loads (more than one means it was evicted and loaded again).
    pub loads: u64,
    /// Load attempts that did not leave it in memory (loader error or panic, no room).
    pub load_failures: u64,
    /// Times it was evicted.
    pub evictions: u64,
    /// Requests served without loading.
    pub hits: u64,
    /// How long its last successful load took (the loader's call alone).
    pub last_load_time: Option<Duration>,
    /// The time spent in all its successful loads.
    pub total_load_time: Duration,
    /// When it was last handed out or released.
    pub last_used: Option<Instant>,
    /// The error of its last failed attempt, if it has failed since its last success.
    pub last_error: Option<PoolError>,
}

/// A snapshot of the pool.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PoolStats {
    /// The budget in bytes; `None` when unlimited.
    pub budget_bytes: Option<u64>,
    /// Bytes of the models in memory, held or idle.
    pub bytes_in_use: u64,
    /// The part of `bytes_in_use` held by pinned models.
    pub bytes_pinned: u64,
    /// Bytes set aside for loads under way, from the loader's estimates.
    pub bytes_reserved: u64,
    /// Successful loads of all models.
    pub loads: u64,
    /// Failed load attempts of all models.
    pub load_failures: u64,
    /// Evictions of all models.
    pub evictions: u64,
    /// Requests served without loading.
    pub hits: u64,
    /// Requests waiting now for a model in use to be released.
    pub waiting_for_room: usize,
    /// Every model the pool has been asked for or has pinned, sorted by name.
    pub models: Vec<ModelStats>,
}

impl PoolStats {
    /// The statistics of the model `name`, if the pool knows it.
    #[must_use]
    pub fn model(&self, name: &str) -> Option<&ModelStats> {
        self.models.iter().find(|model| model.name == name)
    }
}
