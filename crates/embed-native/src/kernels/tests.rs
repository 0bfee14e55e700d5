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
fn softmax_matches_a_reference() {
    for isa in isas() {
        for n in [1, 5, 16, 17, 100, 513] {
            let mut x: Vec<f32> = values(n, 8).into_iter().map(|v| v * 30.0).collect();
            let original = x.clone();
            isa.softmax(&mut x);
            let max = original.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
            let total: f64 = original.iter().map(|&v| f64::from(v - max).exp()).sum();
            for j in 0..n {
                let want = f64::from(original[j] - max).exp() / total;
                assert!((f64::from(x[j]) - want).abs() < 1e-6, "{isa:?} n={n} [{j}]: {} vs {want}", x[j]);
            }
        }
    }
}
