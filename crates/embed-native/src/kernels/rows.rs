//! Row-wise passes written once over [`Simd`]: LayerNorm and RMSNorm, in place or into another
//! row (RMSNorm also added into another row), reading their row from cache two or three times;
//! this file knows nothing of what the rows hold.

use super::simd::Simd;

/// `out = (x - mean) / sqrt(var + eps) * gamma + beta` over one row of `n` floats (the mean and
/// the biased variance as PyTorch's `LayerNorm` takes them); `out` may be `x` (in place).
///
/// # Safety
/// Runs on `S`'s instruction set; `x`, `out`, `gamma` and `beta` each hold `n` floats; `out` is
/// `x` or overlaps it nowhere.
#[inline(always)]
pub(crate) unsafe fn layer_norm<S: Simd>(
    x: *const f32,
    out: *mut f32,
    n: usize,
    gamma: *const f32,
    beta: *const f32,
    eps: f32,
) {
    let full = n / S::LANES * S::LANES;
    let tail = n - full;
    // SAFETY (the whole body): every access is below `n` floats from its pointer.
    unsafe {
        let mut sum = S::splat(0.0);
        let mut i = 0;
        while i < full {
            sum = S::add(sum, S::load(x.add(i)));
            i += S::LANES;
        }
        if tail > 0 {
            sum = S::add(sum, S::load_n(x.add(full), tail));
        }
        let mean = S::sum(sum) / n as f32;
        let mean_v = S::splat(mean);
        let mut squares = S::splat(0.0);
        i = 0;
        while i < full {
            let d = S::sub(S::load(x.add(i)), mean_v);
            squares = S::fma(d, d, squares);
            i += S::LANES;
        }
        if tail > 0 {
            // The zero lanes past the tail would add `mean²` each: mask them by loading the
            // centred values through a zeroed buffer.
            let d = S::sub(S::load_n(x.add(full), tail), mean_v);
            let d = S::mul(d, S::load_n(ONES.as_ptr(), tail));
            squares = S::fma(d, d, squares);
        }
        let var = S::sum(squares) / n as f32;
        let scale = S::splat(1.0 / (var + eps).sqrt());
        i = 0;
        while i < full {
            let d = S::mul(S::sub(S::load(x.add(i)), mean_v), scale);
            // Each element is read before it is written, so `out` may be `x`.
            S::store(out.add(i), S::fma(d, S::load(gamma.add(i)), S::load(beta.add(i))));
            i += S::LANES;
        }
        if tail > 0 {
            let d = S::mul(S::sub(S::load_n(x.add(full), tail), mean_v), scale);
            let y = S::fma(d, S::load_n(gamma.add(full), tail), S::load_n(beta.add(full), tail));
            S::store_n(out.add(full), y, tail);
        }
    }
}

/// `out = x / sqrt(mean(x²) + eps) * gamma` over one row of `n` floats (as Hugging Face's
/// `LlamaRMSNorm` and its copies take it: the row scaled, then multiplied by the weight), or,
/// with `ADD`, `out += ` that (a normalized block's output added into the residual stream);
/// `out` may be `x` (in place) without `ADD`.
///
/// # Safety
/// Runs on `S`'s instruction set; `x`, `out` and `gamma` each hold `n` floats; `out` overlaps `x`
/// nowhere, or is `x` without `ADD`.
#[inline(always)]
pub(crate) unsafe fn rms_norm<S: Simd, const ADD: bool>(
    x: *const f32,
    out: *mut f32,
    n: usize,
    gamma: *const f32,
    eps: f32,
) {
    let full = n / S::LANES * S::LANES;
    let tail = n - full;
    // SAFETY (the whole body): every access is below `n` floats from its pointer.
    unsafe {
        let mut squares = S::splat(0.0);
        let mut i = 0;
        while i < full {
            let v = S::load(x.add(i));
            squares = S::fma(v, v, squares);
            i += S::LANES;
        }
        if tail > 0 {
            // `load_n` zero-fills the lanes past the tail, which add nothing.
            let v = S::load_n(x.add(full), tail);
            squares = S::fma(v, v, squares);
        }
        let scale = S::splat(1.0 / (S::sum(squares) / n as f32 + eps).sqrt());
        i = 0;
        while i < full {
            // Each element is read before it is written, so `out` may be `x`.
            let mut y = S::mul(S::mul(S::load(x.add(i)), scale), S::load(gamma.add(i)));
            if ADD {
                y = S::add(S::load(out.add(i)), y);
            }
            S::store(out.add(i), y);
            i += S::LANES;
        }
        if tail > 0 {
            let mut y = S::mul(S::mul(S::load_n(x.add(full), tail), scale), S::load_n(gamma.add(full), tail));
            if ADD {
                y = S::add(S::load_n(out.add(full), tail), y);
            }
            S::store_n(out.add(full), y, tail);
        }
    }
}

/// Ones, to mask a vector's tail (long enough for the widest vector).
static ONES: [f32; 16] = [1.0; 16];
