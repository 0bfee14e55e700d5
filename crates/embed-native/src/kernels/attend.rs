//! One head of attention over one sequence, fused, written once over [`Simd`]:
//! `out = softmax(Q · Kᵀ + bias) · V`, a block of query rows at a time.
//!
//! The keys are transposed once into a `d × lp` scratch (`lp`: the length rounded up to whole
//! vectors, zero-filled), so a block of scores is a small register-tiled product; the block's
//! rows get their bias and softmax while they are still in the L1 cache, and the context of
//! the block is accumulated in registers straight from the value rows where they lie. No
//! score matrix larger than `R × lp` exists and nothing is packed but the keys: for the short
//! sequences embeddings mostly see, this is several times faster than two general products
//! with their packing, and for long ones it runs at the products' rate.
//!
//! Two options serve rotary models (ModernBERT, the decoders). A rotary table rotates each key as
//! it is transposed and each block's queries as they are copied into the scratch (the rotate-half
//! convention of Hugging Face's `apply_rotary_pos_emb`). A sliding window lets query `i` see
//! only the keys `j` with `|i - j| ≤ reach`: a block then scores, normalizes and sums only the
//! band of whole vectors its rows' windows cover, so a windowed head takes time linear in its
//! length (memory is linear in it either way). A causal head (decoders: Qwen) lets query `i`
//! see only the keys `j ≤ i`, the same band logic with no keys after the row.
//!
//! This file knows nothing of transformers, heads or threads: rows, strides and lengths only.

use super::math::exp;
use super::simd::Simd;

/// Where one head of one sequence lies and where its context goes.
pub(crate) struct Head {
    /// The first query, key and value rows of the head (its column offset applied).
    pub q: *const f32,
    pub k: *const f32,
    pub v: *const f32,
    /// Row stride of `q`, `k` and `v`.
    pub ld: usize,
    /// Tokens of the sequence.
    pub len: usize,
    /// Width of the head.
    pub d: usize,
    /// The bias of query row 0 over the keys (`len` floats), or null for none; the bias of row
    /// `i` starts `i · bias_step` floats from it (MPNet's relative bias is a Toeplitz matrix:
    /// `bias_step = -1`).
    pub bias: *const f32,
    pub bias_step: isize,
    /// The rotary table, or null for none: for each position `0..len`, `d / 2` cosines then
    /// `d / 2` sines (`d` even).
    pub rotary: *const f32,
    /// Query `i` attends to the keys `j` with `|i - j| ≤ reach` (`usize::MAX`: to all)...
    pub reach: usize,
    /// ...and, where `causal`, only to those with `j ≤ i`.
    pub causal: bool,
    /// The context's first row (its column offset applied) and row stride.
    pub out: *mut f32,
    pub ldo: usize,
}

/// Floats of scratch [`attend`] needs for a head of `len` tokens and width `d`, with `R` rows
/// per block: the transposed keys, a block's scores and its rotated queries.
pub(crate) fn scratch_floats<S: Simd>(len: usize, d: usize, rows: usize) -> usize {
    let lp = len.div_ceil(S::LANES) * S::LANES;
    d * lp + rows * lp + rows * d
}

/// `out = softmax(q · kᵀ + bias) · v` for one head, `R` query rows per block.
///
/// # Safety
/// Runs on `S`'s instruction set. `q`, `k` and `v` hold `len ≥ 1` rows of `d ≥ 1` floats at
/// stride `ld`; `bias` is null or valid for the `len` floats of every row `i < len` as
/// described on [`Head`]; `rotary` is null or holds `len · d` floats, `d` even; `out` is valid
/// for writes of `len` rows of `d` floats at stride `ldo` and aliases none of the inputs;
/// `scratch` holds [`scratch_floats`]`::<S>(len, d, R)` floats.
#[inline(always)]
pub(crate) unsafe fn attend<S: Simd, const R: usize>(head: &Head, scratch: *mut f32) {
    let (len, d) = (head.len, head.d);
    let lp = len.div_ceil(S::LANES) * S::LANES;
    let kt = scratch;
    // SAFETY (the whole body): every row index is below `len`, every column below `d` (or
    // `lp` in the scratch, which holds `d · lp + R · lp + R · d` floats); the caller's contract
    // covers the rest.
    unsafe {
        let scores = scratch.add(d * lp);
        let queries = scores.add(R * lp);
        let half = d / 2;
        for c in 0..d {
            let line = kt.add(c * lp);
            if head.rotary.is_null() {
                for j in 0..len {
                    *line.add(j) = *head.k.add(j * head.ld + c);
                }
            } else {
                // Column `c` turns with its partner in the other half, at frequency `f`.
                let (partner, sign, f) = if c < half { (c + half, -1.0, c) } else { (c - half, 1.0, c - half) };
                for j in 0..len {
                    let key = head.k.add(j * head.ld);
                    let table = head.rotary.add(j * d);
                    *line.add(j) = *key.add(c) * *table.add(f) + sign * *key.add(partner) * *table.add(half + f);
                }
            }
            for j in len..lp {
                *line.add(j) = 0.0;
            }
        }
        let mut row = 0;
        while row < len {
            let rows = R.min(len - row);
            block_dispatch::<S, R>(head, row, rows, kt, lp, scores, queries);
            row += rows;
        }
    }
}

/// Query rows `row..row + rows`, rotated by the table, into `out` (`rows` rows of `d`, dense).
///
/// # Safety
/// `head.rotary` is not null and the rows exist (see [`attend`]); `out` holds `rows · d` floats.
#[inline(always)]
unsafe fn rotate_queries(head: &Head, row: usize, rows: usize, out: *mut f32) {
    let (d, half) = (head.d, head.d / 2);
    // SAFETY (the whole body): rows below `len`, columns below `d`; see `attend`.
    unsafe {
        for r in 0..rows {
            let query = head.q.add((row + r) * head.ld);
            let table = head.rotary.add((row + r) * d);
            let target = out.add(r * d);
            for f in 0..half {
                let (cos, sin) = (*table.add(f), *table.add(half + f));
                let (x1, x2) = (*query.add(f), *query.add(half + f));
                *target.add(f) = x1 * cos + -x2 * sin;
                *target.add(half + f) = x2 * cos + x1 * sin;
            }
        }
    }
}

/// The keys query `i` of `head` attends to: `first..end`.
#[inline(always)]
fn window(head: &Head, i: usize) -> (usize, usize) {
    let ahead = if head.causal { 0 } else { head.reach };
    (i.saturating_sub(head.reach), head.len.min(i.saturating_add(ahead).saturating_add(1)))
}

/// Calls [`block`] with `rows` as a constant (the last block of a head has fewer than `R`).
#[inline(always)]
unsafe fn block_dispatch<S: Simd, const R: usize>(
    head: &Head,
    row: usize,
    rows: usize,
    kt: *const f32,
    lp: usize,
    scores: *mut f32,
    queries: *mut f32,
) {
    macro_rules! rows {
        ($($r:literal)*) => {
            match rows {
                $($r if $r <= R => block::<S, $r>(head, row, kt, lp, scores, queries),)*
                _ => unreachable!("a block has 1..=R rows"),
            }
        };
    }
    // SAFETY: forwarded from the caller; `rows <= R` rows from `row` exist.
    unsafe { rows!(1 2 3 4 5 6 7 8) }
}

/// Query rows `row..row + B` of the head: scores, bias, softmax, context, over the whole
/// vectors of keys `c0..c1` that the rows' windows cover (all of `0..lp` without a window).
#[inline(always)]
unsafe fn block<S: Simd, const B: usize>(
    head: &Head,
    row: usize,
    kt: *const f32,
    lp: usize,
    scores: *mut f32,
    queries: *mut f32,
) {
    let (len, d, ld) = (head.len, head.d, head.ld);
    let lanes = S::LANES;
    // A window moves with its row: the band starts at the first row's and ends at the last's.
    let c0 = window(head, row).0 / lanes * lanes;
    let c1 = window(head, row + B - 1).1.div_ceil(lanes) * lanes;
    // SAFETY (the whole body): rows `row..row + B` are below `len`, and `c0..c1` lies in
    // `0..lp`; see `attend`.
    unsafe {
        let (q, ldq) = if head.rotary.is_null() {
            (head.q.add(row * ld), ld)
        } else {
            rotate_queries(head, row, B, queries);
            (queries.cast_const(), d)
        };
        let mut col = c0;
        while col + 2 * lanes <= c1 {
            score_tile::<S, B, 2>(q, ldq, d, kt.add(col), lp, scores.add(col));
            col += 2 * lanes;
        }
        if col < c1 {
            score_tile::<S, B, 1>(q, ldq, d, kt.add(col), lp, scores.add(col));
        }
        for r in 0..B {
            let (first, end) = window(head, row + r);
            let (from, to) = (first / lanes * lanes, end.div_ceil(lanes) * lanes);
            let line = scores.add(r * lp);
            if !head.bias.is_null() {
                let bias = head.bias.offset((row + r) as isize * head.bias_step);
                add_bias::<S>(line.add(from), bias.add(from), end - from);
            }
            // The row's last vector gets `-inf` in its lanes from `end` on, and its first in
            // those before `first` (vector operations only: scalar stores under a vector load
            // would stall its store forwarding).
            let last = line.add(to - lanes);
            let pad = S::load(PAD.as_ptr().add(PAD.len() / 2 - lanes + (to - end)));
            S::store(last, S::add(S::load(last), pad));
            let keep = S::load(KEEP.as_ptr().add(KEEP.len() / 2 - lanes + (to - end)));
            let keep_first = (first > from).then(|| {
                let skip = first - from;
                let pad = S::load(PAD_FRONT.as_ptr().add(PAD_FRONT.len() / 2 - skip));
                S::store(line.add(from), S::add(S::load(line.add(from)), pad));
                S::load(KEEP_FRONT.as_ptr().add(KEEP_FRONT.len() / 2 - skip))
            });
            softmax_padded::<S>(line.add(from), to - from, keep_first, keep);
            // The keys of the band outside this row's window weigh nothing.
            for j in (c0..from).chain(to..c1).step_by(lanes) {
                S::store(line.add(j), S::splat(0.0));
            }
        }
        let out = head.out.add(row * head.ldo);
        let (p, v, keys) = (scores.add(c0).cast_const(), head.v.add(c0 * ld), len.min(c1) - c0);
        let mut col = 0;
        while col + 2 * lanes <= d {
            context_tile::<S, B, 2>(p, lp, v.add(col), ld, keys, out.add(col), head.ldo, lanes);
            col += 2 * lanes;
        }
        if col + lanes <= d {
            context_tile::<S, B, 1>(p, lp, v.add(col), ld, keys, out.add(col), head.ldo, lanes);
            col += lanes;
        }
        if col < d {
            context_tile::<S, B, 1>(p, lp, v.add(col), ld, keys, out.add(col), head.ldo, d - col);
        }
    }
}

/// Zeros, then `-inf`: a vector read at `LANES - pads` from the middle has `pads` lanes of
/// `-inf` at its end (long enough for the widest vector).
static PAD: [f32; 32] = {
    let mut pad = [0.0; 32];
    let mut i = 16;
    while i < 32 {
        pad[i] = f32::NEG_INFINITY;
        i += 1;
    }
    pad
};

/// `-inf`, then zeros: a vector read at `skip` before the middle has `skip` lanes of `-inf` at
/// its start.
static PAD_FRONT: [f32; 32] = {
    let mut pad = [0.0; 32];
    let mut i = 0;
    while i < 16 {
        pad[i] = f32::NEG_INFINITY;
        i += 1;
    }
    pad
};

/// `line[j] += bias[j]` for `j < len`, where `line` holds whole vectors past `len`.
#[inline(always)]
unsafe fn add_bias<S: Simd>(line: *mut f32, bias: *const f32, len: usize) {
    // SAFETY (the whole body): both hold `len` floats.
    unsafe {
        let mut j = 0;
        while j + S::LANES <= len {
            S::store(line.add(j), S::add(S::load(line.add(j)), S::load(bias.add(j))));
            j += S::LANES;
        }
        if j < len {
            // The whole vector: its lanes past `len` get zeros (and `-inf` after).
            S::store(line.add(j), S::add(S::load(line.add(j)), S::load_n(bias.add(j), len - j)));
        }
    }
}

/// Ones, then zeros: read as `PAD` is, a vector that keeps all but its last `pads` lanes.
static KEEP: [f32; 32] = {
    let mut keep = [0.0; 32];
    let mut i = 0;
    while i < 16 {
        keep[i] = 1.0;
        i += 1;
    }
    keep
};

/// Zeros, then ones: read as `PAD_FRONT` is, a vector that drops its first `skip` lanes.
static KEEP_FRONT: [f32; 32] = {
    let mut keep = [0.0; 32];
    let mut i = 16;
    while i < 32 {
        keep[i] = 1.0;
        i += 1;
    }
    keep
};

/// Softmax in place of a row of `lp` floats, a whole number of vectors, whose padding lanes
/// hold `-inf`: whole vectors only, no scalar tail. The last vector's `exp` is multiplied by
/// `keep` (zero in the padding lanes), and the first's by `keep_first` where the row starts
/// with padding: `exp` clamps its input, so `-inf` gives `e^-87.3`, and that times the scale
/// would be subnormal, which costs the CPU a slow assist per lane.
#[inline(always)]
unsafe fn softmax_padded<S: Simd>(line: *mut f32, lp: usize, keep_first: Option<S::V>, keep: S::V) {
    // SAFETY (the whole body): `line` holds `lp` floats, a multiple of `LANES`.
    unsafe {
        let mut max = S::load(line);
        let mut j = S::LANES;
        while j < lp {
            max = S::max(max, S::load(line.add(j)));
            j += S::LANES;
        }
        let top = S::splat(S::hmax(max));
        let mut sum = S::splat(0.0);
        j = 0;
        while j < lp {
            let mut e = exp::<S>(S::sub(S::load(line.add(j)), top));
            if j == 0
                && let Some(keep_first) = keep_first
            {
                e = S::mul(e, keep_first);
            }
            if j + S::LANES == lp {
                e = S::mul(e, keep);
            }
            S::store(line.add(j), e);
            sum = S::add(sum, e);
            j += S::LANES;
        }
        let scale = S::splat(1.0 / S::sum(sum));
        j = 0;
        while j < lp {
            S::store(line.add(j), S::mul(S::load(line.add(j)), scale));
            j += S::LANES;
        }
    }
}

/// `scores[r][0..NV·LANES] = Σ_c q[r][c] · kt[c][0..NV·LANES]` for `B` rows.
#[inline(always)]
unsafe fn score_tile<S: Simd, const B: usize, const NV: usize>(
    q: *const f32,
    ld: usize,
    d: usize,
    kt: *const f32,
    lp: usize,
    scores: *mut f32,
) {
    // SAFETY (the whole body): `q` holds `B` rows of `d` at `ld`, `kt` `d` lines of `lp` with
    // `NV` vectors from it, `scores` `B` lines of `lp` with `NV` vectors from it.
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; B];
        for c in 0..d {
            let line = kt.add(c * lp);
            let mut kv = [S::splat(0.0); NV];
            for (v, slot) in kv.iter_mut().enumerate() {
                *slot = S::load(line.add(v * S::LANES));
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let qv = S::splat(*q.add(r * ld + c));
                for v in 0..NV {
                    acc[v] = S::fma(qv, kv[v], acc[v]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                S::store(scores.add(r * lp + v * S::LANES), sum);
            }
        }
    }
}

/// `out[r][0..width] = Σ_j p[r][j] · v[j][0..width]` for `B` rows, where `width` is
/// `NV · LANES`, or `width < LANES` with `NV = 1` (masked loads and stores).
#[allow(clippy::too_many_arguments, reason = "the tile's raw operands")]
#[inline(always)]
unsafe fn context_tile<S: Simd, const B: usize, const NV: usize>(
    p: *const f32,
    lp: usize,
    v: *const f32,
    ld: usize,
    len: usize,
    out: *mut f32,
    ldo: usize,
    width: usize,
) {
    let masked = width < S::LANES;
    // SAFETY (the whole body): `p` holds `B` lines of `lp ≥ len`, `v` `len` rows at `ld` with
    // `width` (or `NV · LANES`) floats from it, `out` `B` rows at `ldo` likewise.
    unsafe {
        let mut acc = [[S::splat(0.0); NV]; B];
        for j in 0..len {
            let value = v.add(j * ld);
            let mut vv = [S::splat(0.0); NV];
            for (i, slot) in vv.iter_mut().enumerate() {
                *slot = if masked { S::load_n(value, width) } else { S::load(value.add(i * S::LANES)) };
            }
            for (r, acc) in acc.iter_mut().enumerate() {
                let weight = S::splat(*p.add(r * lp + j));
                for i in 0..NV {
                    acc[i] = S::fma(weight, vv[i], acc[i]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let out = out.add(r * ldo);
            for (i, &sum) in acc.iter().enumerate() {
                if masked {
                    S::store_n(out, sum, width);
                } else {
                    S::store(out.add(i * S::LANES), sum);
                }
            }
        }
    }
}
