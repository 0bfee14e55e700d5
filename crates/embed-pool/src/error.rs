//! The one error type of `embed-pool`.
//!
//! Every failure names the model or the value it was about; a loader's cause is kept as a
//! source. This file must not know how the pool is organised, nor what a model is.

use std::sync::Arc;
use std::time::Duration;

/// The error a [`Loader`](crate::Loader) returns: any error, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A loader's error shared by every caller that waited for the same load.
pub type SharedError = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Errors from the pool and from [`parse_bytes`](crate::parse_bytes).
///
/// It is `Clone` because one failed load is reported to every caller that waited for it.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// A byte size could not be parsed.
    #[error("invalid byte size {value:?}: expected {expected}")]
    InvalidBytes {
        /// The text as given.
        value: String,
        /// What was expected instead.
        expected: &'static str,
    },
    /// The loader failed; the next request for the model tries again.
    #[error("loading model {name:?} failed")]
    Load {
        /// The model asked for.
        name: String,
        /// The loader's error.
        #[source]
        source: SharedError,
    },
    /// The loader panicked; the next request for the model tries again.
    #[error("loading model {name:?} failed: the loader panicked")]
    LoaderPanicked {
        /// The model asked for.
        name: String,
    },
    /// The model alone is larger than the whole budget.
    #[error("model {name:?} needs {bytes} bytes, more than the whole budget of {budget} bytes")]
    ModelTooLarge {
        /// The model asked for.
        name: String,
        /// What it costs (measured, or the loader's estimate before loading).
        bytes: u64,
        /// The pool's budget.
        budget: u64,
    },
    /// Pinned models, which are never evicted, leave too little of the budget for the model.
    #[error(
        "model {name:?} needs {bytes} bytes, but pinned models already hold {pinned_bytes} of the {budget}-byte budget"
    )]
    PinnedExceedBudget {
        /// The model asked for.
        name: String,
        /// What it costs.
        bytes: u64,
        /// Bytes held by loaded pinned models.
        pinned_bytes: u64,
        /// The pool's budget.
        budget: u64,
    },
    /// Every evictable model is in use and none was released within the wait timeout.
    #[error(
        "no room for model {name:?} ({bytes} bytes) within the wait timeout of {wait_timeout:?}: {in_use_bytes} of the {budget}-byte budget are held by models in use or loading"
    )]
    BudgetExhausted {
        /// The model asked for.
        name: String,
        /// What it costs.
        bytes: u64,
        /// Bytes counted against the budget when the wait ended.
        in_use_bytes: u64,
        /// The pool's budget.
        budget: u64,
        /// How long the request waited for a release (zero: it did not wait).
        wait_timeout: Duration,
    },
    /// [`Pool::evict_idle`](crate::Pool::evict_idle) was asked to evict a model in use.
    #[error("model {name:?} is in use by {holders} holder(s) and cannot be evicted")]
    InUse {
        /// The model asked for.
        name: String,
        /// How many handles hold it.
        holders: usize,
    },
    /// [`Pool::evict_idle`](crate::Pool::evict_idle) was asked to evict a pinned model.
    #[error("model {name:?} is pinned and cannot be evicted")]
    Pinned {
        /// The model asked for.
        name: String,
    },
}
