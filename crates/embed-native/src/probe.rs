//! Measurements for reports: the GEMM rate on a given shape, and the per-core rates of the
//! multiply-add instructions a GEMM could rest on (fp32, bf16, int8). Knows nothing of models.

use std::time::Instant;

use crate::kernels::{Epilogue, Isa, MatMut, MatRef, Panels, leading_dimension};
use crate::threads::Threads;

/// The rate, in GFLOP/s, of `A (m × k) · Wᵀ (k × n)` on this CPU's best instruction set
/// with `threads` threads, from the fastest of `repeats` timed runs (after one warm-up run);
/// `A`'s rows lie at the stride the engine gives its activations.
pub fn gemm_gflops(m: usize, k: usize, n: usize, threads: usize, repeats: usize) -> f64 {
    let isa = Isa::detect();
    let pool = Threads::new(threads).expect("a thread pool");
    let lda = leading_dimension(k);
    let a: Vec<f32> = (0..m * lda).map(|i| ((i % 97) as f32 - 48.0) / 97.0).collect();
    let w: Vec<f32> = (0..n * k).map(|i| ((i % 89) as f32 - 44.0) / 89.0).collect();
    let panels = Panels::pack(isa, &w, n, k, k, None);
    let mut out = vec![0.0f32; m * n];
    let mut best = f64::INFINITY;
    for _ in 0..=repeats {
        let started = Instant::now();
        pool.pass(|threads| {
            isa.matmul(
                threads,
                MatRef { data: &a, rows: m, cols: k, stride: lda },
                &panels,
                MatMut::new(&mut out, m, n, n),
                Epilogue::Store,
            );
        });
        best = best.min(started.elapsed().as_secs_f64());
    }
    2.0 * (m * k * n) as f64 / best / 1e9
}

/// The rate of one multiply-add instruction on one core, measured by [`instruction_rates`].
#[derive(Debug, Clone, PartialEq)]
pub struct InstructionRate {
    /// The instruction, as the vendors' manuals name it, with its register width.
    pub instruction: &'static str,
    /// The number format it multiplies (`fp32`, `bf16`, `int8`).
    pub format: &'static str,
    /// Instructions per second on one core, in billions.
    pub giga_per_second: f64,
    /// Multiply-adds one instruction does.
    pub multiply_adds: u32,
}

impl InstructionRate {
    /// Multiply-adds per second on one core, in billions.
    pub fn giga_multiply_adds(&self) -> f64 {
        self.giga_per_second * f64::from(self.multiply_adds)
    }
}

/// Per-core rates of the 512-bit multiply-add instructions a GEMM could rest on, those the CPU
/// has: `vfmadd231ps` (fp32, what the kernels use), `vdpbf16ps` (AVX512-BF16: bf16 pairs into
/// fp32) and `vpdpbusd` (AVX512-VNNI: u8 × s8 quads into int32). Each runs `iterations` rounds
/// of 12 independent accumulators (enough to hide its latency) on the calling thread, the best
/// of 3 timed runs. What a number format would buy is the ratio of multiply-adds per second;
/// an empty list where the CPU has no AVX-512 (or is not x86-64).
pub fn instruction_rates(iterations: u64) -> Vec<InstructionRate> {
    #[cfg(target_arch = "x86_64")]
    {
        x86::rates(iterations)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = iterations;
        Vec::new()
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::time::Instant;

    use super::InstructionRate;

    /// Independent accumulators per round.
    const CHAINS: usize = 12;

    /// Keeps the compiler from merging rounds, without sending the accumulators to memory
    /// (which would time stores and loads instead of the instruction).
    #[inline(always)]
    fn barrier() {
        // SAFETY: an empty instruction sequence that touches no memory, stack or flags.
        unsafe { std::arch::asm!("", options(nomem, nostack, preserves_flags)) }
    }

    #[target_feature(enable = "avx512f")]
    fn fmadd(iterations: u64) -> __m512 {
        let mut acc = [_mm512_set1_ps(0.0); CHAINS];
        let (a, b) = (_mm512_set1_ps(1.0001), _mm512_set1_ps(0.9999));
        for _ in 0..iterations {
            for r in &mut acc {
                *r = _mm512_fmadd_ps(a, b, *r);
            }
            barrier();
        }
        acc.iter().fold(_mm512_setzero_ps(), |s, v| _mm512_add_ps(s, *v))
    }

    #[target_feature(enable = "avx512f,avx512bf16")]
    fn dpbf16(iterations: u64) -> __m512 {
        let mut acc = [_mm512_set1_ps(0.0); CHAINS];
        let a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0), _mm512_set1_ps(1.0));
        let b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5), _mm512_set1_ps(0.5));
        for _ in 0..iterations {
            for r in &mut acc {
                *r = _mm512_dpbf16_ps(*r, a, b);
            }
            barrier();
        }
        acc.iter().fold(_mm512_setzero_ps(), |s, v| _mm512_add_ps(s, *v))
    }

    #[target_feature(enable = "avx512f,avx512vnni")]
    fn dpbusd(iterations: u64) -> __m512i {
        let mut acc = [_mm512_set1_epi32(0); CHAINS];
        let (a, b) = (_mm512_set1_epi8(3), _mm512_set1_epi8(-2));
        for _ in 0..iterations {
            for r in &mut acc {
                *r = _mm512_dpbusd_epi32(*r, a, b);
            }
            barrier();
        }
        acc.iter().fold(_mm512_setzero_si512(), |s, v| _mm512_add_epi32(s, *v))
    }

    /// Billions of instructions per second of `run`, the best of 3 runs.
    fn giga_per_second<T>(iterations: u64, run: impl Fn() -> T) -> f64 {
        let best = (0..3)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(run());
                started.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        (iterations * CHAINS as u64) as f64 / best.max(1e-12) / 1e9
    }

    pub(super) fn rates(iterations: u64) -> Vec<InstructionRate> {
        let mut rates = Vec::new();
        if !is_x86_feature_detected!("avx512f") {
            return rates;
        }
        let rate = |instruction, format, multiply_adds, giga_per_second| InstructionRate {
            instruction,
            format,
            giga_per_second,
            multiply_adds,
        };
        // SAFETY: each function runs only where the CPU has the features it is compiled for.
        let fp32 = giga_per_second(iterations, || unsafe { fmadd(iterations) });
        rates.push(rate("vfmadd231ps zmm", "fp32", 16, fp32));
        if is_x86_feature_detected!("avx512bf16") {
            // SAFETY: as above.
            let bf16 = giga_per_second(iterations, || unsafe { dpbf16(iterations) });
            rates.push(rate("vdpbf16ps zmm", "bf16", 32, bf16));
        }
        if is_x86_feature_detected!("avx512vnni") {
            // SAFETY: as above.
            let int8 = giga_per_second(iterations, || unsafe { dpbusd(iterations) });
            rates.push(rate("vpdpbusd zmm", "int8", 64, int8));
        }
        rates
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instruction_rates_name_what_the_cpu_has() {
        let rates = instruction_rates(20_000);
        #[cfg(target_arch = "x86_64")]
        {
            assert_eq!(!rates.is_empty(), is_x86_feature_detected!("avx512f"), "{rates:?}");
            let has = |format: &str| rates.iter().any(|r| r.format == format);
            if !rates.is_empty() {
                assert_eq!(has("bf16"), is_x86_feature_detected!("avx512bf16"), "{rates:?}");
                assert_eq!(has("int8"), is_x86_feature_detected!("avx512vnni"), "{rates:?}");
            }
        }
        assert!(rates.iter().all(|r| r.giga_per_second > 0.0 && r.giga_multiply_adds() > r.giga_per_second));
    }
}
