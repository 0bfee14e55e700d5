//! The batching policy: how inputs made ready for a model ([`crate::Prepared`]) become
//! inference calls. The one place that decides it, for the library (`embed_batch`,
//! `embed_with`), [`crate::Service::embed_stream`] and the HTTP server's batcher.
//!
//! One inference call holds at most [`BatchPolicy::max_texts`] texts (`BATCH_SIZE`) and at most
//! [`BatchPolicy::max_tokens`] tokens (`MAX_BATCH_TOKENS`), counted as the engine computes them:
//! every row padded to the call's longest text where the engine pads (ONNX Runtime), the real
//! tokens alone where it does not (the native engine). Where the engine pads, a text much
//! shorter than the call's longest also starts a new call ([`MAX_PADDING_SHARE`]). A text alone
//! is always a call, whatever its length. This file knows nothing of tokenizers or engines.

use std::ops::Range;

use crate::EmbedError;

/// Texts per inference call unless configured (`BATCH_SIZE`).
pub const DEFAULT_BATCH_SIZE: usize = 32;

/// Tokens per inference call unless configured (`MAX_BATCH_TOKENS`): 32 texts of 512 tokens.
pub const DEFAULT_MAX_BATCH_TOKENS: usize = 16_384;

/// Most padding a call may carry where the engine pads, as a share of its positions: a text
/// much shorter than the call's longest starts a new call instead, since on a CPU a padded
/// position costs as much as a real one and a smaller call costs little more per text.
pub const MAX_PADDING_SHARE: f64 = 0.2;

/// How many texts and tokens one inference call may hold.
///
/// ```
/// use embed_core::{BatchPolicy, CallShape};
///
/// let policy = BatchPolicy { max_texts: 2, max_tokens: 100 };
/// // Longest first: three texts make two calls.
/// assert_eq!(policy.calls(&[40, 30, 20], false), [0..2, 2..3]);
/// assert!(policy.admits(&CallShape::of(&[40, 30], false)));
/// // Padded, 40 + 60 positions hold too much padding for one call.
/// assert!(!policy.admits(&CallShape::of(&[40, 20], true)));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPolicy {
    /// Most texts in one inference call (`BATCH_SIZE`).
    pub max_texts: usize,
    /// Most tokens in one inference call (`MAX_BATCH_TOKENS`): rows × the longest row where
    /// the engine pads, the texts' own tokens where it does not.
    pub max_tokens: usize,
}

impl Default for BatchPolicy {
    fn default() -> Self {
        Self { max_texts: DEFAULT_BATCH_SIZE, max_tokens: DEFAULT_MAX_BATCH_TOKENS }
    }
}

/// What one inference call would hold: enough to tell whether it fits a [`BatchPolicy`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallShape {
    /// Texts.
    pub texts: usize,
    /// Their tokens, special tokens included.
    pub tokens: usize,
    /// Tokens of the longest text.
    pub longest: usize,
    /// Tokens of the shortest text.
    pub shortest: usize,
    /// Whether the engine pads every row to the longest.
    pub pads: bool,
}

impl CallShape {
    /// The shape of a call of texts of these token `lengths`.
    pub fn of(lengths: &[usize], pads: bool) -> Self {
        lengths.iter().fold(Self { pads, ..Self::default() }, |shape, &len| shape.with(len))
    }

    /// This call with one more text of `tokens` tokens.
    #[must_use]
    pub fn with(self, tokens: usize) -> Self {
        self.merge(&Self { texts: 1, tokens, longest: tokens, shortest: tokens, pads: self.pads })
    }

    /// This call and `other` as one call.
    #[must_use]
    pub fn merge(&self, other: &Self) -> Self {
        if self.texts == 0 {
            return Self { pads: self.pads || other.pads, ..*other };
        }
        if other.texts == 0 {
            return *self;
        }
        Self {
            texts: self.texts + other.texts,
            tokens: self.tokens + other.tokens,
            longest: self.longest.max(other.longest),
            shortest: self.shortest.min(other.shortest),
            pads: self.pads || other.pads,
        }
    }

    /// Positions the engine computes: every row at the longest where it pads, the tokens
    /// alone where it does not.
    pub fn cost(&self) -> usize {
        if self.pads { self.texts * self.longest } else { self.tokens }
    }
}

impl BatchPolicy {
    /// Checks the limits: each at least 1.
    pub(crate) fn validate(&self) -> Result<(), EmbedError> {
        for (setting, value) in [("batch_size", self.max_texts), ("max_batch_tokens", self.max_tokens)] {
            if value == 0 {
                return Err(EmbedError::InvalidSetting {
                    setting,
                    expected: "at least 1".into(),
                    found: value.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Whether one inference call of this shape fits: a single text always does.
    pub fn admits(&self, call: &CallShape) -> bool {
        if call.texts <= 1 {
            return true;
        }
        let padding_ok = !call.pads || call.shortest as f64 >= call.longest as f64 * (1.0 - MAX_PADDING_SHARE);
        call.texts <= self.max_texts && call.cost() <= self.max_tokens && padding_ok
    }

    /// Splits texts of token `lengths`, sorted longest first, into inference calls: ranges of
    /// `lengths`, in order, each as long as [`BatchPolicy::admits`] allows.
    pub fn calls(&self, lengths: &[usize], pads: bool) -> Vec<Range<usize>> {
        let mut calls = Vec::new();
        let mut start = 0;
        while start < lengths.len() {
            let mut shape = CallShape { pads, ..CallShape::default() }.with(lengths[start]);
            let mut end = start + 1;
            while end < lengths.len() {
                let grown = shape.with(lengths[end]);
                if !self.admits(&grown) {
                    break;
                }
                shape = grown;
                end += 1;
            }
            calls.push(start..end);
            start = end;
        }
        calls
    }

    /// The policy of a run of up to `max_texts` texts made of calls of this policy: as many
    /// tokens as those calls hold together. The HTTP server gathers runs of this shape
    /// (`MAX_BATCH_SIZE` texts) and this policy then splits each into calls.
    #[must_use]
    pub fn for_runs_of(&self, max_texts: usize) -> Self {
        let calls = max_texts.div_ceil(self.max_texts.max(1)).max(1);
        Self { max_texts, max_tokens: self.max_tokens.saturating_mul(calls) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_cap_texts_and_padding_where_the_engine_pads() {
        let lengths = [100, 95, 90, 81, 79, 40, 39, 38, 37, 36, 10];
        let policy = BatchPolicy { max_texts: 3, max_tokens: 10_000 };
        assert_eq!(policy.calls(&lengths, true), [0..3, 3..5, 5..8, 8..10, 10..11]);
        // Without padding, only the size caps a call.
        assert_eq!(policy.calls(&lengths, false), [0..3, 3..6, 6..9, 9..11]);
    }

    #[test]
    fn the_token_budget_counts_padded_positions_only_where_the_engine_pads() {
        let policy = BatchPolicy { max_texts: 64, max_tokens: 200 };
        // Padded: 3 rows of 100 exceed 200; packed: 100 + 90 + 5 do not.
        assert_eq!(policy.calls(&[100, 90, 85], true), [0..2, 2..3]);
        assert_eq!(policy.calls(&[100, 90, 5], false), vec![(0..3)]);
        // A text over the budget still runs, alone.
        assert_eq!(policy.calls(&[500, 10], false), [0..1, 1..2]);
    }

    #[test]
    fn shapes_merge_and_runs_scale_the_budget() {
        let a = CallShape::of(&[10, 8], false);
        let b = CallShape::of(&[12], false);
        assert_eq!(a.merge(&b), CallShape { texts: 3, tokens: 30, longest: 12, shortest: 8, pads: false });
        assert_eq!(CallShape::default().merge(&b), b);
        let policy = BatchPolicy { max_texts: 32, max_tokens: 1000 };
        assert_eq!(policy.for_runs_of(64), BatchPolicy { max_texts: 64, max_tokens: 2000 });
        assert_eq!(policy.for_runs_of(32), policy);
        assert!(matches!(
            BatchPolicy { max_texts: 0, ..policy }.validate(),
            Err(EmbedError::InvalidSetting { setting: "batch_size", .. })
        ));
    }
}
