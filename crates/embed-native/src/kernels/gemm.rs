//! The matrix product every linear layer and attention runs on, written once over [`Simd`]:
//! `C = A · Wᵀ + bias`, then an epilogue (GELU, a gated GELU or SiLU, or adding into `C` for a
//! residual).
//!
//! `W` (`n × k`, PyTorch's `Linear` layout) is packed once into panels of `NR = NV · LANES`
//! output columns: panel `p` holds, for each `kk` in `0..k`, the `NR` values `W[p·NR + j][kk]`,
//! so the micro-kernel reads it with unit stride. `A` (`m × k`) is read where it lies, row-major
//! (packing it cost more than the strided broadcasts it saves): for each `kk` the micro-kernel
//! loads `NV` vectors of the panel, broadcasts one value from each of its `MR` rows and does
//! `MR · NV` FMAs into registers, and writes its `MR × NR` tile once, after the epilogue. Rows
//! of `A` are processed in chunks of at most [`CHUNK_FLOATS`] floats so a chunk stays in the L2
//! cache while every panel streams past it.
//!
//! A gated layer (GeGLU: `gelu(x · Vᵀ) ⊙ (x · Gᵀ)`, or SwiGLU with SiLU for GELU) is packed with the value rows of `NR / 2`
//! outputs and the gate rows of the same outputs in one panel ([`super::Panels::pack_gated`]):
//! its tile holds both halves in registers, and its epilogue stores `NR / 2` products, so the
//! `2 · n`-wide intermediate never reaches memory.
//!
//! This file knows nothing of threads (the caller hands each thread a range of panels), of
//! transformers or of instruction sets.

use super::math::{Gelu, gelu, silu};
use super::simd::Simd;

/// Most floats of `A` swept by one pass over the panels (512 KiB): fits the L2 cache
/// of every CPU this runs on with room for the panel being read.
const CHUNK_FLOATS: usize = 128 * 1024;

/// How far ahead of the micro-kernel the panel is prefetched, in floats.
const PREFETCH_FLOATS: usize = 1024;

/// What happens to a tile of `A · Wᵀ + bias` before it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// Store it.
    Store,
    /// Store its GELU.
    Gelu(Gelu),
    /// Add it to what `C` holds (the residual stream).
    Accumulate,
    /// Panels packed gated: store the GELU of each value column times its gate column.
    GeGlu(Gelu),
    /// Panels packed gated: store the SiLU of each value column times its gate column.
    SwiGlu,
}

impl Epilogue {
    /// Whether it takes gated panels ([`super::Panels::pack_gated`]).
    pub(crate) fn gated(self) -> bool {
        matches!(self, Self::GeGlu(_) | Self::SwiGlu)
    }
}

/// Where a product goes and what it starts from.
pub(crate) struct GemmTarget {
    /// `C`'s first element (row 0, column 0 of the whole product, not of the panel range).
    pub c: *mut f32,
    /// `C`'s row stride.
    pub ldc: usize,
    /// Columns of `C` that exist (`n` of `W`, or the outputs of gated panels); panel columns
    /// past it are not stored.
    pub n: usize,
}

/// `C[.., panels] = A · Wᵀ + bias` for the panels `first..last`, then `epilogue`. With
/// a gated epilogue ([`Epilogue::gated`]) each panel holds `NR / 2` outputs (see the file's doc).
///
/// # Safety
/// Runs on `S`'s instruction set. `a` holds `m` rows of `k` floats at stride `lda`; `panels` holds at least `last · NR · k` floats and `bias` `last · NR`;
/// `target.c` is valid for `m` rows of `target.ldc` floats covering columns
/// `first · W .. min(last · W, target.n)` (`W`: `NR`, or `NR / 2` gated), and no other thread
/// writes them meanwhile.
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the kernel's raw operands, wrapped by a safe caller")]
pub(crate) unsafe fn gemm<S: Simd, const MR: usize, const NV: usize>(
    a: *const f32,
    lda: usize,
    m: usize,
    k: usize,
    panels: *const f32,
    bias: *const f32,
    (first, last): (usize, usize),
    target: &GemmTarget,
    epilogue: Epilogue,
) {
    const { assert!(NV.is_multiple_of(2), "a gated tile splits its vectors in two halves") };
    let nr = NV * S::LANES;
    // Output columns per panel.
    let width = if epilogue.gated() { nr / 2 } else { nr };
    let chunk_rows = (CHUNK_FLOATS / lda.max(1)).max(MR) / MR * MR;
    let mut chunk = 0;
    while chunk < m {
        let chunk_end = (chunk + chunk_rows).min(m);
        for panel in first..last {
            let col = panel * width;
            let cols = width.min(target.n - col);
            // SAFETY: `panel < last`, so the panel's `k · nr` floats and `nr` biases exist.
            let (w, b) = unsafe { (panels.add(panel * nr * k), bias.add(panel * nr)) };
            let mut row = chunk;
            while row < chunk_end {
                let rows = MR.min(chunk_end - row);
                // SAFETY: rows `row..row + rows` of `A` exist; the tile `row.., col..` is inside `C`.
                unsafe {
                    let a = a.add(row * lda);
                    let c = target.c.add(row * target.ldc + col);
                    tile_dispatch::<S, MR, NV>(rows, k, a, lda, w, b, c, target.ldc, cols, epilogue);
                }
                row += rows;
            }
        }
        chunk = chunk_end;
    }
}

/// Calls [`tile`] with `rows` as a constant (the last block of a product has fewer than `MR`).
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the kernel's raw operands")]
unsafe fn tile_dispatch<S: Simd, const MR: usize, const NV: usize>(
    rows: usize,
    k: usize,
    a: *const f32,
    lda: usize,
    w: *const f32,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    epilogue: Epilogue,
) {
    macro_rules! rows {
        ($($r:literal)*) => {
            match rows {
                $($r if $r <= MR => tile::<S, $r, NV>(k, a, lda, w, bias, c, ldc, cols, epilogue),)*
                _ => unreachable!("a block has 1..=MR rows"),
            }
        };
    }
    // SAFETY: forwarded from the caller; `rows <= MR` is the block's real row count.
    unsafe { rows!(1 2 3 4 5 6 7 8 9 10 11 12 13 14) }
}

/// One `R × (NV · LANES)` tile: `R` rows of `A` against one panel, accumulated in
/// registers over all of `k`, then biased, passed through the epilogue and stored (masked to
/// `cols` columns; gated, the first `NV / 2` vectors of a row are values, the others their
/// gates, and `cols ≤ NV / 2 · LANES`).
#[inline(always)]
#[allow(clippy::too_many_arguments, reason = "the kernel's raw operands")]
unsafe fn tile<S: Simd, const R: usize, const NV: usize>(
    k: usize,
    a: *const f32,
    lda: usize,
    w: *const f32,
    bias: *const f32,
    c: *mut f32,
    ldc: usize,
    cols: usize,
    epilogue: Epilogue,
) {
    // SAFETY (the whole body): `a` holds `R` rows of `k` floats at stride `lda`, `w` `k · NV · LANES`, `bias`
    // `NV · LANES`; `c` is valid for `R` rows of `cols` floats at stride `ldc`.
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; R];
        let mut w = w;
        for kk in 0..k {
            // The panel streams from memory when few rows reuse it: ask for it ahead (past the
            // panel's end too: a prefetch is a hint and never faults, and the pointer is only
            // computed, with wrapping arithmetic, never read).
            for v in 0..NV {
                S::prefetch(w.wrapping_add(PREFETCH_FLOATS + v * S::LANES));
            }
            let mut wv = [S::splat(0.0); NV];
            for (v, slot) in wv.iter_mut().enumerate() {
                *slot = S::load(w.add(v * S::LANES));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = S::splat(*a.add(r * lda + kk));
                for v in 0..NV {
                    row[v] = S::fma(av, wv[v], row[v]);
                }
            }
            w = w.add(NV * S::LANES);
        }
        if epilogue.gated() {
            let half = NV / 2;
            for (r, row) in acc.iter().enumerate() {
                let out = c.add(r * ldc);
                for v in 0..half {
                    let offset = v * S::LANES;
                    if offset >= cols {
                        break;
                    }
                    let lanes = S::LANES.min(cols - offset);
                    let value = S::add(row[v], S::load(bias.add(offset)));
                    let gate = S::add(row[v + half], S::load(bias.add(offset + half * S::LANES)));
                    let active = match epilogue {
                        Epilogue::GeGlu(kind) => gelu::<S>(value, kind),
                        _ => silu::<S>(value),
                    };
                    let product = S::mul(active, gate);
                    if lanes == S::LANES {
                        S::store(out.add(offset), product);
                    } else {
                        S::store_n(out.add(offset), product, lanes);
                    }
                }
            }
            return;
        }
        for (r, row) in acc.iter().enumerate() {
            let out = c.add(r * ldc);
            for (v, &sum) in row.iter().enumerate() {
                let offset = v * S::LANES;
                if offset >= cols {
                    break;
                }
                let lanes = S::LANES.min(cols - offset);
                let mut value = S::add(sum, S::load(bias.add(offset)));
                match epilogue {
                    Epilogue::Store | Epilogue::GeGlu(_) | Epilogue::SwiGlu => {}
                    Epilogue::Gelu(kind) => value = gelu::<S>(value, kind),
                    Epilogue::Accumulate => {
                        let old = if lanes == S::LANES {
                            S::load(out.add(offset))
                        } else {
                            S::load_n(out.add(offset), lanes)
                        };
                        value = S::add(value, old);
                    }
                }
                if lanes == S::LANES {
                    S::store(out.add(offset), value);
                } else {
                    S::store_n(out.add(offset), value, lanes);
                }
            }
        }
    }
}

/// Packs `w` (`n × k`, row stride `ldw`) into panels of `nr` rows of `w`, each `kk`-major
/// (see the file's doc), zero-filling the columns of the last panel past `n`. `out` must hold
/// `n.div_ceil(nr) · nr · k` floats. Writes go in order; reads gather down the rows, whose
/// `nr` current lines stay in the L1 cache.
pub(crate) fn pack_w(w: &[f32], n: usize, k: usize, ldw: usize, nr: usize, out: &mut [f32]) {
    for (panel, dst) in out.chunks_exact_mut(nr * k).enumerate().take(n.div_ceil(nr)) {
        let first = panel * nr;
        let rows = nr.min(n - first);
        for (kk, line) in dst.chunks_exact_mut(nr).enumerate() {
            for (j, slot) in line[..rows].iter_mut().enumerate() {
                *slot = w[(first + j) * ldw + kk];
            }
            line[rows..].fill(0.0);
        }
    }
}
