//! Every kernel on every instruction set this CPU has, against plain `f64` loops.

use super::*;

fn isas() -> Vec<Isa> {
    [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Portable].into_iter().filter(|isa| isa.available()).collect()
}

/// Deterministic values in about [-1, 1].
fn values(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// The caller alone.
struct Serial;

impl Parallel for Serial {
    fn width(&self) -> usize {
        1
    }
    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        (0..tasks).for_each(task);
    }
}

/// Tasks on scoped threads of their own, so the panel split is exercised.
struct Spawned(usize);

impl Parallel for Spawned {
    fn width(&self) -> usize {
        self.0
    }
    fn run(&self, tasks: usize, task: &(dyn Fn(usize) + Sync)) {
        std::thread::scope(|scope| {
            for t in 0..tasks {
                scope.spawn(move || task(t));
            }
        });
    }
}

fn reference(a: &[f32], lda: usize, w: &[f32], bias: &[f32], m: usize, n: usize, k: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * n];
    for i in 0..m {
        for j in 0..n {
            let dot: f64 = (0..k).map(|kk| f64::from(a[i * lda + kk]) * f64::from(w[j * k + kk])).sum();
            out[i * n + j] = dot + f64::from(bias[j]);
        }
    }
    out
}

#[test]
fn matmul_matches_a_reference_for_every_shape_and_epilogue() {
    let pool = Spawned(2);
    let shapes = [(1, 1, 1), (1, 384, 1152), (7, 384, 1536), (13, 33, 65), (14, 32, 32), (29, 17, 100), (200, 96, 70)];
    for isa in isas() {
        for &(m, k, n) in &shapes {
            let lda = k + 3;
            let a = values(m * lda, 1);
            let w = values(n * k, 2);
            let bias = values(n, 3);
            let want = reference(&a, lda, &w, &bias, m, n, k);
            let panels = Panels::pack(isa, &w, n, k, k, Some(&bias));
            for threads in [&Serial as &dyn Parallel, &pool] {
                for epilogue in [Epilogue::Store, Epilogue::Accumulate, Epilogue::Gelu(Gelu::Erf)] {
                    let ldc = n + 5;
                    let start = values(m * ldc, 4);
                    let mut out = start.clone();
                    let a_view = MatRef { data: &a, rows: m, cols: k, stride: lda };
                    let out_view = MatMut::new(&mut out, m, n, ldc);
                    isa.matmul(threads, a_view, &panels, out_view, epilogue);
                    for i in 0..m {
                        for j in 0..ldc {
                            let got = f64::from(out[i * ldc + j]);
                            let expected = if j >= n {
                                f64::from(start[i * ldc + j])
                            } else {
                                let x = want[i * n + j];
                                match epilogue {
                                    Epilogue::Store => x,
                                    Epilogue::Accumulate => x + f64::from(start[i * ldc + j]),
                                    Epilogue::Gelu(_) => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
                                    Epilogue::GeGlu(_) | Epilogue::SwiGlu => {
                                        unreachable!("gated panels are tested below")
                                    }
                                }
                            };
                            let tolerance = 1e-5 * (k as f64).sqrt() * expected.abs().max(1.0);
                            assert!(
                                (got - expected).abs() < tolerance,
                                "{isa:?} {m}x{k}x{n} {epilogue:?} at ({i}, {j}): {got} vs {expected}"
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn layer_norm_matches_a_reference() {
    for isa in isas() {
        for n in [1, 7, 16, 32, 33, 384, 1000] {
            let rows = 3;
            let stride = n + 2;
            let mut x = values(rows * stride, 5);
            let original = x.clone();
            let gamma = values(n, 6);
            let beta = values(n, 7);
            isa.layer_norm(&mut x, rows, stride, &gamma, &beta, 1e-12);
            for r in 0..rows {
                let row: Vec<f64> = original[r * stride..r * stride + n].iter().map(|&v| f64::from(v)).collect();
                let mean = row.iter().sum::<f64>() / n as f64;
                let var = row.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
                for j in 0..n {
                    let want = (row[j] - mean) / (var + 1e-12).sqrt() * f64::from(gamma[j]) + f64::from(beta[j]);
                    let got = f64::from(x[r * stride + j]);
                    assert!(
                        (got - want).abs() < 1e-4 * want.abs().max(1.0),
                        "{isa:?} n={n} ({r}, {j}): {got} vs {want}"
                    );
                }
                assert_eq!(x[r * stride + n..r * stride + stride], original[r * stride + n..r * stride + stride]);
            }
        }
    }
}

#[test]
fn rms_norm_matches_a_reference() {
    for isa in isas() {
        for n in [1, 6, 7, 16, 32, 33, 128, 1000] {
            let rows = 3;
            let stride = n + 2;
            let original = values(rows * stride, 8);
            let gamma = values(n, 9);
            let mut in_place = original.clone();
            isa.rms_norm(&mut in_place, rows, stride, &gamma, 1e-6);
            let mut into = vec![f32::NAN; rows * stride];
            isa.rms_norm_into(&original, &mut into, rows, stride, &gamma, 1e-6);
            // Added into a residual row (Gemma3's normalized block outputs).
            let residual = values(rows * stride, 10);
            let mut added = residual.clone();
            isa.rms_norm_add(&original, &mut added, rows, stride, &gamma, 1e-6);
            for r in 0..rows {
                let row: Vec<f64> = original[r * stride..r * stride + n].iter().map(|&v| f64::from(v)).collect();
                let scale = 1.0 / (row.iter().map(|v| v * v).sum::<f64>() / n as f64 + 1e-6).sqrt();
                for j in 0..n {
                    let want = row[j] * scale * f64::from(gamma[j]);
                    let sum = (f64::from(added[r * stride + j]), want + f64::from(residual[r * stride + j]));
                    for (got, want) in
                        [(f64::from(in_place[r * stride + j]), want), (f64::from(into[r * stride + j]), want), sum]
                    {
                        assert!(
                            (got - want).abs() < 1e-5 * want.abs().max(1.0),
                            "{isa:?} n={n} ({r}, {j}): {got} vs {want}"
                        );
                    }
                }
                assert_eq!(added[r * stride + n..r * stride + stride], residual[r * stride + n..r * stride + stride]);
                assert_eq!(
                    in_place[r * stride + n..r * stride + stride],
                    original[r * stride + n..r * stride + stride]
                );
                assert!(into[r * stride + n..r * stride + stride].iter().all(|v| v.is_nan()), "wrote past the row");
            }
        }
    }
}

/// `softmax(q · kᵀ + bias) · v` for one head, in `f64`; `bias(i, j)` per score.
fn attention_reference(head: &HeadRows<'_>, bias: impl Fn(usize, usize) -> f64) -> Vec<f64> {
    let (len, d, ld) = (head.len, head.d, head.ld);
    let [q, k, v] = head.columns;
    let at = |row: usize, column: usize| f64::from(head.qkv[row * ld + column]);
    let mut out = vec![0.0; len * d];
    for i in 0..len {
        let scores: Vec<f64> =
            (0..len).map(|j| (0..d).map(|c| at(i, q + c) * at(j, k + c)).sum::<f64>() + bias(i, j)).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        for c in 0..d {
            out[i * d + c] = (0..len).map(|j| weights[j] / total * at(j, v + c)).sum();
        }
    }
    out
}

#[test]
fn attend_matches_a_reference_for_every_length_width_and_bias() {
    for isa in isas() {
        let mut scratch = Vec::new();
        // Widths with and without a partial vector; lengths around every vector boundary.
        for d in [32, 64, 20] {
            for len in [1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 70] {
                let heads = 2;
                let h = heads * d;
                let ld = 3 * h + 5;
                let qkv: Vec<f32> = values(len * ld, len as u64).into_iter().map(|x| x * 2.0).collect();
                let line = values(3 * len, 9);
                for biased in [false, true] {
                    let head = 1;
                    let rows = HeadRows { qkv: &qkv, ld, len, d, columns: [head * d, h + head * d, 2 * h + head * d] };
                    let bias = BiasRows { values: &line, first: 2 * len, step: -1 };
                    let want =
                        attention_reference(&rows, |i, j| if biased { f64::from(line[2 * len - i + j]) } else { 0.0 });
                    let ldo = d + 3;
                    let mut out = vec![f32::NAN; len * ldo];
                    let out_view = MatMut::new(&mut out, len, d, ldo);
                    isa.attend(&rows, biased.then_some(&bias), Positions::default(), out_view, &mut scratch);
                    for i in 0..len {
                        for c in 0..d {
                            let (got, want) = (f64::from(out[i * ldo + c]), want[i * d + c]);
                            assert!(
                                (got - want).abs() < 2e-5,
                                "{isa:?} d={d} len={len} bias={biased} [{i}][{c}]: {got} vs {want}"
                            );
                        }
                        assert!(out[i * ldo + d..(i + 1) * ldo].iter().all(|x| x.is_nan()), "wrote past the head");
                    }
                }
            }
        }
    }
}

#[test]
#[should_panic(expected = "outside its")]
fn attend_refuses_a_bias_shorter_than_its_rows() {
    let isa = Isa::detect();
    let qkv = values(4 * 12, 1);
    let rows = HeadRows { qkv: &qkv, ld: 12, len: 4, d: 4, columns: [0, 4, 8] };
    let line = values(5, 2);
    let mut out = vec![0.0; 16];
    isa.attend(
        &rows,
        Some(&BiasRows { values: &line, first: 3, step: -1 }),
        Positions::default(),
        MatMut::new(&mut out, 4, 4, 4),
        &mut Vec::new(),
    );
}

#[test]
fn gated_matmul_matches_a_reference() {
    let pool = Spawned(3);
    // Outputs around the half panel of every instruction set (8 and 16), with and without bias.
    for isa in isas() {
        for &(m, k, n) in &[(1, 1, 1), (5, 32, 7), (14, 32, 64), (17, 33, 40), (29, 96, 100)] {
            let lda = k + 1;
            let a = values(m * lda, 11);
            let w = values(2 * n * k, 12);
            for bias in [None, Some(values(2 * n, 13))] {
                let zeros = vec![0.0; 2 * n];
                let full = reference(&a, lda, &w, bias.as_deref().unwrap_or(&zeros), m, 2 * n, k);
                let panels = Panels::pack_gated(isa, &w, n, k, bias.as_deref());
                for (threads, epilogue) in [
                    (&Serial as &dyn Parallel, Epilogue::GeGlu(Gelu::Erf)),
                    (&pool, Epilogue::GeGlu(Gelu::Erf)),
                    (&Serial, Epilogue::SwiGlu),
                    (&pool, Epilogue::SwiGlu),
                ] {
                    let ldc = n + 2;
                    let mut out = vec![f32::NAN; m * ldc];
                    let a_view = MatRef { data: &a, rows: m, cols: k, stride: lda };
                    isa.matmul(threads, a_view, &panels, MatMut::new(&mut out, m, n, ldc), epilogue);
                    for i in 0..m {
                        for j in 0..n {
                            let (x, gate) = (full[i * 2 * n + j], full[i * 2 * n + n + j]);
                            let active = match epilogue {
                                Epilogue::SwiGlu => x / (1.0 + (-x).exp()),
                                _ => 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)),
                            };
                            let want = active * gate;
                            let got = f64::from(out[i * ldc + j]);
                            let tolerance = 1e-5 * (k as f64).sqrt() * want.abs().max(1.0);
                            assert!(
                                (got - want).abs() < tolerance,
                                "{isa:?} {m}x{k}x{n} {epilogue:?} at ({i}, {j}): {got} vs {want}"
                            );
                        }
                        assert!(out[i * ldc + n..(i + 1) * ldc].iter().all(|x| x.is_nan()), "wrote past the outputs");
                    }
                }
            }
        }
    }
}

#[test]
fn gated_tiles_of_four_vectors_match_a_reference() {
    // NEON's tiles are four vectors wide; here the portable vectors run such tiles on panels
    // packed 32 wide (AVX-512's width: four vectors of eight), so the split of a tile into
    // values and gates is checked for four vectors on any CPU.
    let (m, k, n) = (7, 12, 21);
    let a = values(m * k, 31);
    let w = values(2 * n * k, 32);
    let bias = values(2 * n, 33);
    let full = reference(&a, k, &w, &bias, m, 2 * n, k);
    let panels = Panels::pack_gated(Isa::Avx512, &w, n, k, Some(&bias));
    let mut out = vec![f32::NAN; m * n];
    let target = gemm::GemmTarget { c: out.as_mut_ptr(), ldc: n, n };
    // SAFETY: the portable vectors run anywhere; `a` holds `m` rows of `k`; the panels hold
    // `panel_count` panels of 32 · k floats and 32 biases each, 16 outputs per panel, which
    // `out` (`m × n`) covers.
    unsafe {
        gemm::gemm::<simd::Portable, 6, 4>(
            a.as_ptr(),
            k,
            m,
            k,
            panels.data.as_slice().as_ptr(),
            panels.bias.as_slice().as_ptr(),
            (0, panels.panel_count()),
            &target,
            Epilogue::GeGlu(Gelu::Erf),
        );
    }
    for i in 0..m {
        for j in 0..n {
            let (x, gate) = (full[i * 2 * n + j], full[i * 2 * n + n + j]);
            let want = 0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2)) * gate;
            let got = f64::from(out[i * n + j]);
            assert!((got - want).abs() < 1e-4 * want.abs().max(1.0), "({i}, {j}): {got} vs {want}");
        }
    }
}

#[test]
#[should_panic(expected = "gated panels take a gated epilogue")]
fn gated_panels_refuse_another_epilogue() {
    let isa = Isa::detect();
    let panels = Panels::pack_gated(isa, &values(2 * 4 * 4, 1), 4, 4, None);
    let (a, mut out) = (values(4, 2), vec![0.0; 4]);
    let a_view = MatRef { data: &a, rows: 1, cols: 4, stride: 4 };
    isa.matmul(&Serial, a_view, &panels, MatMut::new(&mut out, 1, 4, 4), Epilogue::Store);
}

#[test]
fn layer_norm_into_leaves_its_input_and_matches_in_place() {
    for isa in isas() {
        for n in [3, 16, 40] {
            let (rows, stride) = (4, n + 1);
            let x = values(rows * stride, 21);
            let (gamma, beta) = (values(n, 22), values(n, 23));
            let mut in_place = x.clone();
            isa.layer_norm(&mut in_place, rows, stride, &gamma, &beta, 1e-5);
            let mut out = vec![7.0; rows * stride];
            isa.layer_norm_into(&x, &mut out, rows, stride, &gamma, &beta, 1e-5);
            for r in 0..rows {
                let row = r * stride..r * stride + n;
                assert_eq!(out[row.clone()], in_place[row], "{isa:?} n={n} row {r}");
                assert_eq!(out[r * stride + n], 7.0, "wrote past the row");
            }
        }
    }
}

/// Rotary rows for `len` positions of width `d`: each position's `d / 2` cosines, then sines.
fn rotary_table(len: usize, d: usize, base: f64) -> Vec<f32> {
    let mut table = Vec::new();
    for p in 0..len {
        let angles: Vec<f64> = (0..d / 2).map(|i| p as f64 / base.powf(2.0 * i as f64 / d as f64)).collect();
        table.extend(angles.iter().map(|a| a.cos() as f32));
        table.extend(angles.iter().map(|a| a.sin() as f32));
    }
    table
}

/// `softmax(rot(q) · rot(k)ᵀ + mask) · v` for one head in `f64`, the mask keeping the keys at
/// most `reach` from each query.
fn rotary_reference(head: &HeadRows<'_>, table: &[f32], reach: usize, causal: bool) -> Vec<f64> {
    let (len, d, ld, half) = (head.len, head.d, head.ld, head.d / 2);
    let rotate = |row: usize, column: usize| -> Vec<f64> {
        let x = |c: usize| f64::from(head.qkv[row * ld + column + c]);
        let (cos, sin) = (|f: usize| f64::from(table[row * d + f]), |f: usize| f64::from(table[row * d + half + f]));
        (0..d)
            .map(|c| {
                if c < half {
                    x(c) * cos(c) - x(c + half) * sin(c)
                } else {
                    x(c) * cos(c - half) + x(c - half) * sin(c - half)
                }
            })
            .collect()
    };
    let [q, k, v] = head.columns;
    let (queries, keys): (Vec<_>, Vec<_>) = (0..len).map(|i| (rotate(i, q), rotate(i, k))).unzip();
    let mut out = vec![0.0; len * d];
    for i in 0..len {
        let seen: Vec<usize> = (0..len).filter(|&j| i.abs_diff(j) <= reach && (!causal || j <= i)).collect();
        let scores: Vec<f64> = seen.iter().map(|&j| (0..d).map(|c| queries[i][c] * keys[j][c]).sum()).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let weights: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
        let total: f64 = weights.iter().sum();
        for c in 0..d {
            out[i * d + c] =
                seen.iter().zip(&weights).map(|(&j, w)| w / total * f64::from(head.qkv[j * ld + v + c])).sum();
        }
    }
    out
}

#[test]
fn attend_with_rotary_positions_and_a_sliding_window_or_a_causal_mask_matches_a_reference() {
    for isa in isas() {
        let mut scratch = Vec::new();
        for d in [8, 64, 20] {
            for len in [1, 2, 5, 9, 16, 17, 33, 70] {
                let heads = 2;
                let h = heads * d;
                let ld = 3 * h + 3;
                let qkv: Vec<f32> = values(len * ld, 100 + len as u64).into_iter().map(|x| x * 2.0).collect();
                let table = rotary_table(len, d, 100.0);
                // No window, windows narrower than a vector, around one and two, and wider than
                // the sequence; a causal mask (a decoder's, without a window) and with one.
                let windows = [None, Some(0), Some(1), Some(4), Some(7), Some(8), Some(20), Some(100)];
                let masks = windows.map(|reach| (reach, false)).into_iter().chain([(None, true), (Some(4), true)]);
                for (reach, causal) in masks {
                    let head = 1;
                    let rows = HeadRows { qkv: &qkv, ld, len, d, columns: [head * d, h + head * d, 2 * h + head * d] };
                    let want = rotary_reference(&rows, &table, reach.unwrap_or(usize::MAX), causal);
                    let ldo = d + 1;
                    let mut out = vec![f32::NAN; len * ldo];
                    let positions = Positions { rotary: Some(&table), reach, causal };
                    isa.attend(&rows, None, positions, MatMut::new(&mut out, len, d, ldo), &mut scratch);
                    for i in 0..len {
                        for c in 0..d {
                            let (got, want) = (f64::from(out[i * ldo + c]), want[i * d + c]);
                            assert!(
                                (got - want).abs() < 2e-5,
                                "{isa:?} d={d} len={len} reach={reach:?} causal={causal} [{i}][{c}]: {got} vs {want}"
                            );
                        }
                        assert!(out[i * ldo + d].is_nan(), "wrote past the head");
                    }
                }
            }
        }
    }
}

#[test]
fn a_window_without_rotary_positions_and_with_a_bias_matches_a_reference() {
    for isa in isas() {
        let mut scratch = Vec::new();
        let (d, len, reach) = (16, 40, 6);
        let ld = 3 * d;
        let qkv = values(len * ld, 5);
        let line = values(3 * len, 6);
        let rows = HeadRows { qkv: &qkv, ld, len, d, columns: [0, d, 2 * d] };
        let bias = BiasRows { values: &line, first: 2 * len, step: -1 };
        let want = attention_reference(&rows, |i, j| {
            if i.abs_diff(j) <= reach { f64::from(line[2 * len - i + j]) } else { f64::NEG_INFINITY }
        });
        let mut out = vec![0.0; len * d];
        let positions = Positions { rotary: None, reach: Some(reach), causal: false };
        isa.attend(&rows, Some(&bias), positions, MatMut::new(&mut out, len, d, d), &mut scratch);
        for (i, (got, want)) in out.iter().zip(&want).enumerate() {
            assert!((f64::from(*got) - want).abs() < 2e-5, "{isa:?} [{}][{}]: {got} vs {want}", i / d, i % d);
        }
    }
}

#[test]
#[should_panic(expected = "the rotary table holds")]
fn attend_refuses_a_rotary_table_shorter_than_the_head() {
    let isa = Isa::detect();
    let qkv = values(4 * 12, 1);
    let rows = HeadRows { qkv: &qkv, ld: 12, len: 4, d: 4, columns: [0, 4, 8] };
    let table = rotary_table(3, 4, 10.0);
    let mut out = vec![0.0; 16];
    let positions = Positions { rotary: Some(&table), reach: None, causal: false };
    isa.attend(&rows, None, positions, MatMut::new(&mut out, 4, 4, 4), &mut Vec::new());
}
