//! A counting global allocator for the benchmarks: every allocation of the Rust side is
//! counted (calls and bytes) and the live heap's high-water mark is tracked, so a benchmark
//! can report allocations and memory per operation next to criterion's time per operation.
//!
//! ONNX Runtime allocates through its own C++ allocator and arena, which this does not see;
//! the figures are the Rust side's (tokenizer, buffers, pooling, HTTP). Knows nothing of
//! embedding.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Wraps the system allocator and counts. Install it with `#[global_allocator]`.
pub struct CountingAllocator;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static ALLOCATED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

fn grew(bytes: usize) {
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    ALLOCATED_BYTES.fetch_add(bytes, Ordering::Relaxed);
    let live = LIVE_BYTES.fetch_add(bytes, Ordering::Relaxed) + bytes;
    PEAK_LIVE_BYTES.fetch_max(live, Ordering::Relaxed);
}

fn shrank(bytes: usize) {
    LIVE_BYTES.fetch_sub(bytes, Ordering::Relaxed);
}

// SAFETY: every call is forwarded to `System` unchanged; the counters are side effects only.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) };
        shrank(layout.size());
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            shrank(layout.size());
            grew(new_size);
        }
        new
    }
}

/// What one operation allocated, averaged over the calls measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AllocationsPerOp {
    /// Allocation calls (reallocations count as one).
    pub allocations: f64,
    /// Bytes requested.
    pub bytes: f64,
    /// Highest live heap above the level before the calls: the memory an operation holds at
    /// its peak.
    pub peak_bytes: usize,
}

/// Runs `op` `calls` times and reports its allocations per call. Other threads' allocations
/// during the calls count too, which is what a server benchmark wants.
pub fn measure(calls: usize, mut op: impl FnMut()) -> AllocationsPerOp {
    let calls = calls.max(1);
    let live_before = LIVE_BYTES.load(Ordering::Relaxed);
    PEAK_LIVE_BYTES.store(live_before, Ordering::Relaxed);
    let allocations_before = ALLOCATIONS.load(Ordering::Relaxed);
    let bytes_before = ALLOCATED_BYTES.load(Ordering::Relaxed);
    for _ in 0..calls {
        op();
    }
    let allocations = ALLOCATIONS.load(Ordering::Relaxed) - allocations_before;
    let bytes = ALLOCATED_BYTES.load(Ordering::Relaxed) - bytes_before;
    AllocationsPerOp {
        allocations: allocations as f64 / calls as f64,
        bytes: bytes as f64 / calls as f64,
        peak_bytes: PEAK_LIVE_BYTES.load(Ordering::Relaxed).saturating_sub(live_before),
    }
}

/// A table of allocation figures, one row per benchmark, in Markdown.
#[derive(Debug, Default)]
pub struct AllocationReport {
    rows: Vec<(String, AllocationsPerOp)>,
}

impl AllocationReport {
    /// An empty report.
    pub const fn new() -> Self {
        Self { rows: Vec::new() }
    }

    /// Adds a row.
    pub fn add(&mut self, name: impl Into<String>, figures: AllocationsPerOp) {
        self.rows.push((name.into(), figures));
    }

    /// The table in Markdown.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| benchmark | allocations/op | bytes allocated/op | peak heap/op |\n| --- | ---: | ---: | ---: |\n",
        );
        for (name, f) in &self.rows {
            out.push_str(&format!(
                "| {name} | {:.1} | {} | {} |\n",
                f.allocations,
                human_bytes(f.bytes),
                human_bytes(f.peak_bytes as f64)
            ));
        }
        out
    }
}

fn human_bytes(bytes: f64) -> String {
    if bytes >= 1024.0 * 1024.0 {
        format!("{:.2} MiB", bytes / (1024.0 * 1024.0))
    } else if bytes >= 1024.0 {
        format!("{:.1} KiB", bytes / 1024.0)
    } else {
        format!("{bytes:.0} B")
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn bytes_read_as_humans_read_them() {
        assert_eq!(human_bytes(512.0), "512 B");
        assert_eq!(human_bytes(2048.0), "2.0 KiB");
        assert_eq!(human_bytes(3.0 * 1024.0 * 1024.0), "3.00 MiB");
    }
}
