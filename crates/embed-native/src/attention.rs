//! Multi-head self-attention over a packed batch: each sequence attends over its own tokens
//! only, so no mask and no padded position is ever computed.
//!
//! Each `(sequence, head)` pair is one fused kernel call ([`Isa::attend`]: scores, MPNet's
//! relative position bias or rotary positions with ModernBERT's and Gemma3's sliding windows or
//! Qwen's causal mask, softmax and the weighted sum of the values, a block of query rows at a time; the
//! query was scaled at load), writing the head's columns of the context matrix. With grouped
//! query heads (the decoders), `heads / kv_heads` consecutive query heads read one key/value
//! head, where it lies.
//! The pairs are shared among the threads, each with scratch of its own. Knows nothing of
//! layers or weights.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::kernels::{BiasRows, HeadRows, Isa, MatMut, Parallel, Positions, SyncPtr};

/// One thread's buffer for attention.
#[derive(Debug, Default)]
pub(crate) struct AttentionScratch {
    floats: Vec<f32>,
}

/// MPNet's relative position bias for the longest sequence of a batch: for each head, the bias
/// of every relative position `j - i` in `-(longest - 1)..longest`.
#[derive(Debug)]
pub(crate) struct RelativeBias {
    /// `heads` rows of `2 · longest - 1` values.
    values: Vec<f32>,
    longest: usize,
}

impl RelativeBias {
    /// From the checkpoint's `relative_attention_bias` table (`buckets × heads`).
    pub fn new(table: &[f32], heads: usize, lengths: &[usize]) -> Self {
        let buckets = table.len() / heads;
        let longest = lengths.iter().copied().max().unwrap_or(1).max(1);
        let span = 2 * longest - 1;
        let mut values = vec![0.0; heads * span];
        for slot in 0..span {
            let relative = slot as i64 - (longest as i64 - 1);
            let bucket = relative_bucket(relative, buckets);
            for head in 0..heads {
                values[head * span + slot] = table[bucket * heads + head];
            }
        }
        Self { values, longest }
    }

    /// The bias of head `head` as rows over the keys, one per query (row `i` starts one
    /// value before row `i - 1`: the bias depends on `j - i` only).
    fn rows(&self, head: usize) -> BiasRows<'_> {
        let span = 2 * self.longest - 1;
        // Row 0 starts at the slot of j - i = -(longest - 1) + (longest - 1) - 0, i.e. j = 0.
        BiasRows { values: &self.values, first: head * span + self.longest - 1, step: -1 }
    }
}

/// MPNet's (and T5's) bucket of a relative position `key - query`: exact up to a distance of
/// `buckets / 4`, then logarithmic up to 128, in two halves by direction. Computed in `f32`
/// as the reference computes it, so the boundaries fall where its do.
fn relative_bucket(relative: i64, buckets: usize) -> usize {
    let half = (buckets / 2) as i64;
    let n = -relative;
    let mut bucket = if n < 0 { half } else { 0 };
    let n = n.abs();
    let exact = half / 2;
    if n < exact {
        bucket += n;
    } else {
        let scaled = (n as f32 / exact as f32).ln() / (128.0f32 / exact as f32).ln() * (half - exact) as f32;
        bucket += (exact + scaled as i64).min(half - 1);
    }
    bucket as usize
}

/// Writes into `context` (`tokens × heads·d`) the attention of every sequence and head, from
/// `qkv` (`tokens × (heads + 2·kv_heads)·d`: queries, keys, values; `heads` a multiple of
/// `kv_heads`), with MPNet's `bias` or the rotary table, window and causal mask of `positions`
/// (whose table covers the longest sequence).
#[allow(clippy::too_many_arguments, reason = "the pass's operands, grouped where they belong together")]
pub(crate) fn attention(
    isa: Isa,
    threads: &dyn Parallel,
    qkv: &[f32],
    context: &mut [f32],
    (lengths, offsets): (&[usize], &[usize]),
    (heads, kv_heads, d): (usize, usize, usize),
    (bias, positions): (Option<&RelativeBias>, Positions<'_>),
    scratch: &[Mutex<AttentionScratch>],
) {
    assert!(
        kv_heads >= 1 && heads.is_multiple_of(kv_heads),
        "{heads} query heads cannot share {kv_heads} key/value heads"
    );
    let (h, kvw) = (heads * d, kv_heads * d);
    let (ld, group) = (h + 2 * kvw, heads / kv_heads);
    let tokens: usize = lengths.iter().sum();
    assert!(qkv.len() >= tokens * ld && context.len() >= tokens * h, "buffers smaller than the batch");
    let pairs = lengths.len() * heads;
    let tasks = threads.width().min(pairs).min(scratch.len()).max(1);
    let next = AtomicUsize::new(0);
    let out = SyncPtr::new(context.as_mut_ptr());
    let task = |t: usize| {
        let mut guard = scratch[t].lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let floats = &mut guard.floats;
        loop {
            let pair = next.fetch_add(1, Ordering::Relaxed);
            if pair >= pairs {
                break;
            }
            let (sequence, head) = (pair / heads, pair % heads);
            let (start, len) = (offsets[sequence], lengths[sequence]);
            let shared = head / group;
            let rows = HeadRows {
                qkv: &qkv[start * ld..],
                ld,
                len,
                d,
                columns: [head * d, h + shared * d, h + kvw + shared * d],
            };
            let bias = bias.map(|bias| bias.rows(head));
            // SAFETY: rows `start..start + len`, columns `head·d..(head + 1)·d` of `context`
            // (checked to hold `tokens × h`) belong to this `(sequence, head)` pair alone, and
            // `context` is borrowed mutably until every task has returned.
            let target = unsafe { MatMut::from_raw(out.get().add(start * h + head * d), len, d, h) };
            isa.attend(&rows, bias.as_ref(), positions, target, floats);
        }
    };
    threads.run(tasks, &task);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_the_reference() {
        // MPNetEncoder.relative_position_bucket(torch.arange(-70, 70), num_buckets=32), torch 2.15.
        let expected = [
            14, 14, 14, 14, 14, 14, 14, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 13, 12, 12,
            12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 12, 11, 11, 11, 11, 11, 11, 11, 11, 11, 10, 10, 10, 10, 10, 10,
            10, 9, 9, 9, 9, 8, 8, 8, 8, 7, 6, 5, 4, 3, 2, 1, 0, 17, 18, 19, 20, 21, 22, 23, 24, 24, 24, 24, 25, 25, 25,
            25, 26, 26, 26, 26, 26, 26, 26, 27, 27, 27, 27, 27, 27, 27, 27, 27, 28, 28, 28, 28, 28, 28, 28, 28, 28, 28,
            28, 28, 28, 28, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 29, 30, 30, 30, 30, 30,
            30,
        ];
        let got: Vec<usize> = (-70..70).map(|r| relative_bucket(r, 32)).collect();
        assert_eq!(got, expected);
        assert_eq!(relative_bucket(-600, 32), 15);
        assert_eq!(relative_bucket(600, 32), 31);
    }
}
