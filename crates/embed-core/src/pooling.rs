//! Pooling token embeddings into one sentence embedding, as sentence-transformers'
//! `Pooling` module does, and L2 normalization.
//!
//! The mode comes from the model's Pooling config (read by `sentence_transformers.rs`). This
//! file knows nothing of tokenizers or ONNX Runtime beyond the flat buffers it is handed.

use embed_manifest::Pooling;

/// Pools one text's token embeddings (`seq_len * hidden`, row-major) under its attention mask
/// into `out` (`hidden` values). As sentence-transformers does, `cls` takes the first position
/// the mask keeps (the first, unless a prompt is excluded from pooling), and a text the mask
/// keeps nothing of pools to zeros.
pub fn pool_into(mode: Pooling, tokens: &[f32], mask: &[i64], hidden: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), hidden);
    let rows = || tokens.chunks_exact(hidden).zip(mask).enumerate().filter(|(_, (_, m))| **m != 0);
    let row = |position: usize| &tokens[position * hidden..(position + 1) * hidden];
    match mode {
        Pooling::Cls => out.copy_from_slice(row(mask.iter().position(|&m| m != 0).unwrap_or(0))),
        Pooling::LastToken => match mask.iter().rposition(|&m| m != 0) {
            Some(last) => out.copy_from_slice(row(last)),
            None => out.fill(0.0),
        },
        Pooling::Max => {
            out.fill(f32::NEG_INFINITY);
            let mut any = false;
            for (_, (values, _)) in rows() {
                any = true;
                for (o, v) in out.iter_mut().zip(values) {
                    *o = o.max(*v);
                }
            }
            if !any {
                out.fill(0.0);
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLen | Pooling::WeightedMean => {
            out.fill(0.0);
            let mut total = 0f32;
            for (position, (values, _)) in rows() {
                // Weighted mean counts the i-th position (from 1) i times.
                let weight = if mode == Pooling::WeightedMean { (position + 1) as f32 } else { 1.0 };
                total += weight;
                for (o, v) in out.iter_mut().zip(values) {
                    *o += weight * *v;
                }
            }
            // sentence-transformers clamps the divisor to at least 1e-9.
            let total = total.max(1e-9);
            let divisor = if mode == Pooling::MeanSqrtLen { total.sqrt() } else { total };
            for o in out.iter_mut() {
                *o /= divisor;
            }
        }
    }
}

/// Scales `v` to unit length (as `torch.nn.functional.normalize`, which divides by
/// `max(norm, 1e-12)`).
pub fn normalize(v: &mut [f32]) {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-12);
    for x in v.iter_mut() {
        *x /= norm;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKENS: [f32; 6] = [1.0, 2.0, 3.0, 4.0, 100.0, 100.0];
    const MASK: [i64; 3] = [1, 1, 0];

    fn pooled(mode: Pooling) -> Vec<f32> {
        let mut out = vec![0.0; 2];
        pool_into(mode, &TOKENS, &MASK, 2, &mut out);
        out
    }

    #[test]
    fn pooling_ignores_padding() {
        assert_eq!(pooled(Pooling::Mean), [2.0, 3.0]);
        assert_eq!(pooled(Pooling::Max), [3.0, 4.0]);
        assert_eq!(pooled(Pooling::Cls), [1.0, 2.0]);
        assert_eq!(pooled(Pooling::LastToken), [3.0, 4.0]);
        let sqrt = pooled(Pooling::MeanSqrtLen);
        assert!((sqrt[0] - 4.0 / 2f32.sqrt()).abs() < 1e-6);
        // Positions 1 and 2 weigh 1 and 2: (1*1 + 2*3) / 3, (1*2 + 2*4) / 3.
        let weighted = pooled(Pooling::WeightedMean);
        assert!((weighted[0] - 7.0 / 3.0).abs() < 1e-6 && (weighted[1] - 10.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn a_mask_that_starts_late_moves_cls_and_one_that_keeps_nothing_gives_zeros() {
        let mut out = vec![0.0; 2];
        pool_into(Pooling::Cls, &TOKENS, &[0, 1, 0], 2, &mut out);
        assert_eq!(out, [3.0, 4.0]);
        for mode in [Pooling::Mean, Pooling::Max, Pooling::LastToken, Pooling::WeightedMean] {
            pool_into(mode, &TOKENS, &[0, 0, 0], 2, &mut out);
            assert_eq!(out, [0.0, 0.0], "{mode:?}");
        }
    }

    #[test]
    fn normalize_gives_unit_length_and_keeps_zero() {
        let mut v = [3.0, 4.0];
        normalize(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut zero = [0.0, 0.0];
        normalize(&mut zero);
        assert_eq!(zero, [0.0, 0.0]);
    }
}
