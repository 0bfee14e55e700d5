//! Elementary functions on vectors: `exp`, `erf`, `tanh`, the two GELUs and SiLU, written once over
//! [`Simd`]. Accuracy is tested against `f64` references in `tests` below; this file knows
//! nothing of where the values come from.

use super::simd::Simd;

/// `e^x`, within about 2 ulp (Cephes' `expf`: `x = n ln 2 + r`, a degree-6 polynomial in `r`,
/// scaled by `2^n`). Inputs are clamped to `[-87.3, 88.7]`, so it never overflows.
#[inline(always)]
pub(crate) unsafe fn exp<S: Simd>(x: S::V) -> S::V {
    // SAFETY (all calls below): the caller runs on `S`'s instruction set.
    unsafe {
        let x = S::min(S::max(x, S::splat(-87.3)), S::splat(88.7));
        let n = S::round(S::mul(x, S::splat(std::f32::consts::LOG2_E)));
        // ln 2 in two parts, so `n * LN2_HI` is exact.
        let r = S::fma(n, S::splat(-0.693_359_4), x);
        let r = S::fma(n, S::splat(2.121_944_4e-4), r);
        let mut p = S::splat(1.987_569_1e-4);
        p = S::fma(p, r, S::splat(1.398_199_9e-3));
        p = S::fma(p, r, S::splat(8.333_452e-3));
        p = S::fma(p, r, S::splat(4.166_579_6e-2));
        p = S::fma(p, r, S::splat(0.166_666_65));
        p = S::fma(p, r, S::splat(0.5));
        let r2 = S::mul(r, r);
        let y = S::add(S::fma(p, r2, r), S::splat(1.0));
        S::mul(y, S::pow2(n))
    }
}

/// The error function, within 4e-7 absolute (6.5e-8 in exact arithmetic, the rest is `f32` rounding near ±4): a rational approximation odd in `x` on
/// `[-4, 4]` (where `erf` reaches ±1 in `f32`), as in Eigen and XLA.
#[inline(always)]
pub(crate) unsafe fn erf<S: Simd>(x: S::V) -> S::V {
    // SAFETY (all calls below): the caller runs on `S`'s instruction set.
    unsafe {
        let x = S::min(S::max(x, S::splat(-4.0)), S::splat(4.0));
        let x2 = S::mul(x, x);
        let mut p = S::fma(x2, S::splat(-2.726_142_4e-10), S::splat(2.770_681_5e-8));
        p = S::fma(x2, p, S::splat(-2.101_024e-6));
        p = S::fma(x2, p, S::splat(-5.692_506_2e-5));
        p = S::fma(x2, p, S::splat(-7.349_906_4e-4));
        p = S::fma(x2, p, S::splat(-2.954_6e-3));
        p = S::fma(x2, p, S::splat(-1.609_603_3e-2));
        p = S::mul(x, p);
        let mut q = S::fma(x2, S::splat(-1.456_607_15e-5), S::splat(-2.133_740_5e-4));
        q = S::fma(x2, q, S::splat(-1.682_827e-3));
        q = S::fma(x2, q, S::splat(-7.373_329_3e-3));
        q = S::fma(x2, q, S::splat(-1.426_473_9e-2));
        // The ratio overshoots ±1 by up to 2 ulp near the ends of the range.
        S::min(S::max(S::div(p, q), S::splat(-1.0)), S::splat(1.0))
    }
}

/// `tanh`, as `1 - 2 / (e^{2x} + 1)` (exact to a few ulp away from 0, and to about 1e-7
/// absolute near it).
#[inline(always)]
pub(crate) unsafe fn tanh<S: Simd>(x: S::V) -> S::V {
    // SAFETY (all calls below): the caller runs on `S`'s instruction set.
    unsafe {
        let e = exp::<S>(S::add(x, x));
        S::sub(S::splat(1.0), S::div(S::splat(2.0), S::add(e, S::splat(1.0))))
    }
}

/// Which GELU a model uses (`hidden_act` of its `config.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gelu {
    /// `x Φ(x)` with the exact `erf` (`gelu`, BERT's and every seed model's).
    Erf,
    /// The tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    Tanh,
}

/// `x Φ(x)`, exact or tanh-approximated.
#[inline(always)]
pub(crate) unsafe fn gelu<S: Simd>(x: S::V, kind: Gelu) -> S::V {
    // SAFETY (all calls below): the caller runs on `S`'s instruction set.
    unsafe {
        let half_x = S::mul(x, S::splat(0.5));
        let inner = match kind {
            Gelu::Erf => erf::<S>(S::mul(x, S::splat(std::f32::consts::FRAC_1_SQRT_2))),
            Gelu::Tanh => {
                // sqrt(2 / pi) * (x + 0.044715 x^3)
                let x3 = S::mul(S::mul(x, x), x);
                tanh::<S>(S::mul(S::splat(0.797_884_6), S::fma(x3, S::splat(0.044_715), x)))
            }
        };
        S::fma(half_x, inner, half_x)
    }
}

/// SiLU (swish), `x · sigmoid(x)`, as `x / (1 + e^-x)`: within a few ulp, and 0 (not NaN) far
/// below 0, where `exp` clamps.
#[inline(always)]
pub(crate) unsafe fn silu<S: Simd>(x: S::V) -> S::V {
    // SAFETY (all calls below): the caller runs on `S`'s instruction set.
    unsafe {
        let e = exp::<S>(S::sub(S::splat(0.0), x));
        S::div(x, S::add(e, S::splat(1.0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::simd::Portable;

    fn apply(f: impl Fn([f32; 8]) -> [f32; 8], x: f32) -> f32 {
        f([x; 8])[0]
    }

    fn grid() -> impl Iterator<Item = f32> {
        (-12_000..=12_000).map(|i| i as f32 / 1000.0)
    }

    #[test]
    fn exp_is_within_a_few_ulp() {
        for x in grid().chain((-870..=880).map(|i| i as f32 / 10.0)) {
            // SAFETY: the portable implementation runs anywhere.
            let got = apply(|v| unsafe { exp::<Portable>(v) }, x);
            let want = f64::from(x).exp();
            let rel = ((f64::from(got) - want) / want).abs();
            assert!(rel < 3e-7, "exp({x}) = {got}, want {want} (rel {rel:e})");
        }
    }

    #[test]
    fn erf_is_within_4e7() {
        let mut worst = 0.0f64;
        for x in grid() {
            // SAFETY: the portable implementation runs anywhere.
            let got = apply(|v| unsafe { erf::<Portable>(v) }, x);
            let want = libm::erf(f64::from(x));
            worst = worst.max((f64::from(got) - want).abs());
            assert!((f64::from(got) - want).abs() < 4e-7, "erf({x}) = {got}, want {want}");
        }
        eprintln!("worst erf error {worst:e}");
    }

    #[test]
    fn gelus_match_their_definitions() {
        for x in grid() {
            let x64 = f64::from(x);
            // SAFETY: the portable implementation runs anywhere.
            let exact = apply(|v| unsafe { gelu::<Portable>(v, Gelu::Erf) }, x);
            let want = 0.5 * x64 * (1.0 + libm::erf(x64 / std::f64::consts::SQRT_2));
            assert!((f64::from(exact) - want).abs() < 1e-6 * x64.abs().max(1.0), "gelu({x}) = {exact}, want {want}");
            // SAFETY: as above.
            let approx = apply(|v| unsafe { gelu::<Portable>(v, Gelu::Tanh) }, x);
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3));
            let want = 0.5 * x64 * (1.0 + inner.tanh());
            assert!(
                (f64::from(approx) - want).abs() < 1e-6 * x64.abs().max(1.0),
                "gelu_new({x}) = {approx}, want {want}"
            );
        }
    }

    #[test]
    fn silu_matches_its_definition() {
        for x in grid().chain((-1000..=1000).map(|i| i as f32 / 10.0)) {
            let x64 = f64::from(x);
            // SAFETY: the portable implementation runs anywhere.
            let got = apply(|v| unsafe { silu::<Portable>(v) }, x);
            let want = x64 / (1.0 + (-x64).exp());
            assert!((f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1e-30), "silu({x}) = {got}, want {want}");
        }
    }
}
