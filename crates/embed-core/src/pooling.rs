//! Pooling token embeddings into one sentence embedding, as sentence-transformers'
//! `Pooling` module does, and L2 normalization.
//!
//! The mode comes from the model's Pooling config (read by `sentence_transformers.rs`). This
//! file knows nothing of tokenizers or engines beyond the token rows it is handed.

use embed_manifest::Pooling;

/// Pools one text's token embeddings (its tokens only: `tokens.len() / hidden` rows of
/// `hidden`, row-major) into `out` (`hidden` values), leaving out its first `skip` tokens (a
/// prompt the model excludes from pooling). As sentence-transformers does, `cls` takes the
/// first token kept, weighted mean weighs the token at position `i` (from 1, prompt counted)
/// `i` times, and a text with no token kept pools to zeros.
pub(crate) fn pool_into(mode: Pooling, tokens: &[f32], hidden: usize, skip: usize, out: &mut [f32]) {
    debug_assert_eq!(out.len(), hidden);
    let count = tokens.len() / hidden;
    let row = |position: usize| &tokens[position * hidden..(position + 1) * hidden];
    if skip >= count {
        out.fill(0.0);
        return;
    }
    match mode {
        Pooling::Cls => out.copy_from_slice(row(skip)),
        Pooling::LastToken => out.copy_from_slice(row(count - 1)),
        Pooling::Max => {
            out.copy_from_slice(row(skip));
            for position in skip + 1..count {
                for (o, v) in out.iter_mut().zip(row(position)) {
                    *o = o.max(*v);
                }
            }
        }
        Pooling::Mean | Pooling::MeanSqrtLen | Pooling::WeightedMean => {
            out.fill(0.0);
            let mut total = 0f32;
            for position in skip..count {
                let weight = if mode == Pooling::WeightedMean { (position + 1) as f32 } else { 1.0 };
                total += weight;
                for (o, v) in out.iter_mut().zip(row(position)) {
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

    const TOKENS: [f32; 4] = [1.0, 2.0, 3.0, 4.0];

    fn pooled(mode: Pooling) -> Vec<f32> {
        let mut out = vec![0.0; 2];
        pool_into(mode, &TOKENS, 2, 0, &mut out);
        out
    }

    #[test]
    fn pooling_takes_every_token() {
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
    fn a_skipped_prompt_moves_cls_and_skipping_everything_gives_zeros() {
        let mut out = vec![0.0; 2];
        pool_into(Pooling::Cls, &TOKENS, 2, 1, &mut out);
        assert_eq!(out, [3.0, 4.0]);
        // The kept token is at position 2: weight 2 of 2.
        pool_into(Pooling::WeightedMean, &TOKENS, 2, 1, &mut out);
        assert_eq!(out, [3.0, 4.0]);
        for mode in [Pooling::Mean, Pooling::Max, Pooling::LastToken, Pooling::WeightedMean] {
            pool_into(mode, &TOKENS, 2, 2, &mut out);
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
