//! Measurements of the kernels alone, for reports: the GEMM rate on a given shape.
//! Knows nothing of models.

use std::time::Instant;

use crate::kernels::{Epilogue, Isa, MatMut, MatRef, Panels};
use crate::threads::Threads;

/// The rate, in GFLOP/s, of `A (m × k) · Wᵀ (k × n)` on this CPU's best instruction set
/// with `threads` threads, from the fastest of `repeats` timed runs (after one warm-up run).
pub fn gemm_gflops(m: usize, k: usize, n: usize, threads: usize, repeats: usize) -> f64 {
    let isa = Isa::detect();
    let pool = Threads::new(threads).expect("a thread pool");
    let a: Vec<f32> = (0..m * k).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
    let w: Vec<f32> = (0..n * k).map(|i| ((i % 89) as f32 - 44.0) / 89.0).collect();
    let panels = Panels::pack(isa, &w, n, k, k, None);
    let mut out = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..=repeats {
        let started = Instant::now();
        pool.pass(|threads| {
            isa.matmul(
                threads,
                MatRef { data: &a, rows: m, cols: k, stride: k },
                &panels,
                MatMut::new(&mut out, m, n, n),
                Epilogue::Store,
            );
        });
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}
