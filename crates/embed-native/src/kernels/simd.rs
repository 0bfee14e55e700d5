//! The vector vocabulary the kernels are written in, once: [`Simd`], and its implementations
//! for AVX-512, AVX2+FMA, NEON and plain Rust.
//!
//! Every kernel of this crate is generic over `Simd` and `#[inline(always)]`; a function with
//! `#[target_feature]` per instruction set (in `dispatch.rs`) instantiates it, so the generic
//! code is compiled with that instruction set's registers. This file knows nothing of
//! matrices or transformers.
//!
//! Every method is `unsafe`: the caller must run on a CPU with the implementation's
//! instruction set (checked once, when [`super::Isa`] is detected), and pointer methods read or
//! write `LANES` (or `n`) `f32`s at the pointer.

#![allow(unsafe_op_in_unsafe_fn, reason = "every fn here is a thin wrapper over one intrinsic")]

/// One instruction set's `f32` vectors.
pub(crate) trait Simd: Copy {
    /// A vector of `LANES` floats.
    type V: Copy;
    /// Floats per vector.
    const LANES: usize;

    unsafe fn splat(x: f32) -> Self::V;
    unsafe fn load(p: *const f32) -> Self::V;
    unsafe fn store(p: *mut f32, v: Self::V);
    /// The first `n < LANES` floats at `p`; the other lanes are zero.
    unsafe fn load_n(p: *const f32, n: usize) -> Self::V;
    /// Writes the first `n < LANES` lanes to `p`.
    unsafe fn store_n(p: *mut f32, v: Self::V, n: usize);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// `a * b + c`, fused where the hardware fuses.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// Rounds to the nearest integer (ties to even).
    unsafe fn round(a: Self::V) -> Self::V;
    /// `2^n` for integral `n` in `-126..=127`.
    unsafe fn pow2(n: Self::V) -> Self::V;
    /// The sum of the lanes.
    unsafe fn sum(v: Self::V) -> f32;
    /// The largest lane.
    unsafe fn hmax(v: Self::V) -> f32;
    /// Asks for the cache line at `p` ahead of its use; a hint, never a fault.
    #[inline(always)]
    unsafe fn prefetch(p: *const f32) {
        let _ = p;
    }
}

/// Plain Rust: eight lanes in an array, which the compiler vectorizes where it can. Used where
/// no instruction set below is available.
#[derive(Clone, Copy)]
pub(crate) struct Portable;

impl Simd for Portable {
    type V = [f32; 8];
    const LANES: usize = 8;

    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        [x; 8]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        std::ptr::read_unaligned(p.cast::<[f32; 8]>())
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        std::ptr::write_unaligned(p.cast::<[f32; 8]>(), v);
    }
    #[inline(always)]
    unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
        let mut v = [0.0; 8];
        std::ptr::copy_nonoverlapping(p, v.as_mut_ptr(), n);
        v
    }
    #[inline(always)]
    unsafe fn store_n(p: *mut f32, v: Self::V, n: usize) {
        std::ptr::copy_nonoverlapping(v.as_ptr(), p, n);
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] - b[i])
    }
    #[inline(always)]
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i] / b[i])
    }
    #[inline(always)]
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| if a[i] > b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V {
        std::array::from_fn(|i| if a[i] < b[i] { a[i] } else { b[i] })
    }
    #[inline(always)]
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i].mul_add(b[i], c[i]))
    }
    #[inline(always)]
    unsafe fn round(a: Self::V) -> Self::V {
        std::array::from_fn(|i| a[i].round_ties_even())
    }
    #[inline(always)]
    unsafe fn pow2(n: Self::V) -> Self::V {
        std::array::from_fn(|i| f32::from_bits(((n[i] as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    unsafe fn sum(v: Self::V) -> f32 {
        ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
    }
    #[inline(always)]
    unsafe fn hmax(v: Self::V) -> f32 {
        v.into_iter().fold(f32::NEG_INFINITY, f32::max)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// AVX-512F: sixteen lanes, masked loads and stores for tails.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512;

    impl Simd for Avx512 {
        type V = __m512;
        const LANES: usize = 16;

        #[inline(always)]
        unsafe fn splat(x: f32) -> Self::V {
            _mm512_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::V {
            _mm512_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self::V) {
            _mm512_storeu_ps(p, v);
        }
        #[inline(always)]
        unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
            _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p)
        }
        #[inline(always)]
        unsafe fn store_n(p: *mut f32, v: Self::V, n: usize) {
            _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v);
        }
        #[inline(always)]
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            _mm512_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
            _mm512_sub_ps(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
            _mm512_mul_ps(a, b)
        }
        #[inline(always)]
        unsafe fn div(a: Self::V, b: Self::V) -> Self::V {
            _mm512_div_ps(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
            _mm512_max_ps(a, b)
        }
        #[inline(always)]
        unsafe fn min(a: Self::V, b: Self::V) -> Self::V {
            _mm512_min_ps(a, b)
        }
        #[inline(always)]
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            _mm512_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn round(a: Self::V) -> Self::V {
            _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a)
        }
        #[inline(always)]
        unsafe fn pow2(n: Self::V) -> Self::V {
            let bits = _mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)));
            _mm512_castsi512_ps(bits)
        }
        #[inline(always)]
        unsafe fn sum(v: Self::V) -> f32 {
            _mm512_reduce_add_ps(v)
        }
        #[inline(always)]
        unsafe fn hmax(v: Self::V) -> f32 {
            _mm512_reduce_max_ps(v)
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
        }
    }

    /// AVX2 with FMA: eight lanes; tails go through a stack buffer.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2;

    impl Simd for Avx2 {
        type V = __m256;
        const LANES: usize = 8;

        #[inline(always)]
        unsafe fn splat(x: f32) -> Self::V {
            _mm256_set1_ps(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::V {
            _mm256_loadu_ps(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self::V) {
            _mm256_storeu_ps(p, v);
        }
        #[inline(always)]
        unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
            let mut buf = [0.0f32; 8];
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            _mm256_loadu_ps(buf.as_ptr())
        }
        #[inline(always)]
        unsafe fn store_n(p: *mut f32, v: Self::V, n: usize) {
            let mut buf = [0.0f32; 8];
            _mm256_storeu_ps(buf.as_mut_ptr(), v);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
        #[inline(always)]
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            _mm256_add_ps(a, b)
        }
        #[inline(always)]
        unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
            _mm256_sub_ps(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
            _mm256_mul_ps(a, b)
        }
        #[inline(always)]
        unsafe fn div(a: Self::V, b: Self::V) -> Self::V {
            _mm256_div_ps(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
            _mm256_max_ps(a, b)
        }
        #[inline(always)]
        unsafe fn min(a: Self::V, b: Self::V) -> Self::V {
            _mm256_min_ps(a, b)
        }
        #[inline(always)]
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            _mm256_fmadd_ps(a, b, c)
        }
        #[inline(always)]
        unsafe fn round(a: Self::V) -> Self::V {
            _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(a)
        }
        #[inline(always)]
        unsafe fn pow2(n: Self::V) -> Self::V {
            let bits = _mm256_slli_epi32::<23>(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)));
            _mm256_castsi256_ps(bits)
        }
        #[inline(always)]
        unsafe fn sum(v: Self::V) -> f32 {
            let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
            _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
        }
        #[inline(always)]
        unsafe fn hmax(v: Self::V) -> f32 {
            let pair = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
            let pair = _mm_max_ps(pair, _mm_movehl_ps(pair, pair));
            _mm_cvtss_f32(_mm_max_ss(pair, _mm_movehdup_ps(pair)))
        }
        #[inline(always)]
        unsafe fn prefetch(p: *const f32) {
            _mm_prefetch::<_MM_HINT_T0>(p.cast::<i8>());
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub(crate) use arm::Neon;

#[cfg(target_arch = "aarch64")]
mod arm {
    use std::arch::aarch64::*;

    use super::Simd;

    /// NEON: four lanes; tails go through a stack buffer.
    #[derive(Clone, Copy)]
    pub(crate) struct Neon;

    impl Simd for Neon {
        type V = float32x4_t;
        const LANES: usize = 4;

        #[inline(always)]
        unsafe fn splat(x: f32) -> Self::V {
            vdupq_n_f32(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> Self::V {
            vld1q_f32(p)
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: Self::V) {
            vst1q_f32(p, v);
        }
        #[inline(always)]
        unsafe fn load_n(p: *const f32, n: usize) -> Self::V {
            let mut buf = [0.0f32; 4];
            std::ptr::copy_nonoverlapping(p, buf.as_mut_ptr(), n);
            vld1q_f32(buf.as_ptr())
        }
        #[inline(always)]
        unsafe fn store_n(p: *mut f32, v: Self::V, n: usize) {
            let mut buf = [0.0f32; 4];
            vst1q_f32(buf.as_mut_ptr(), v);
            std::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        }
        #[inline(always)]
        unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
            vaddq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
            vsubq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
            vmulq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn div(a: Self::V, b: Self::V) -> Self::V {
            vdivq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn max(a: Self::V, b: Self::V) -> Self::V {
            vmaxq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn min(a: Self::V, b: Self::V) -> Self::V {
            vminq_f32(a, b)
        }
        #[inline(always)]
        unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
            vfmaq_f32(c, a, b)
        }
        #[inline(always)]
        unsafe fn round(a: Self::V) -> Self::V {
            vrndnq_f32(a)
        }
        #[inline(always)]
        unsafe fn pow2(n: Self::V) -> Self::V {
            let bits = vshlq_n_s32::<23>(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)));
            vreinterpretq_f32_s32(bits)
        }
        #[inline(always)]
        unsafe fn sum(v: Self::V) -> f32 {
            vaddvq_f32(v)
        }
        #[inline(always)]
        unsafe fn hmax(v: Self::V) -> f32 {
            vmaxvq_f32(v)
        }
    }
}
