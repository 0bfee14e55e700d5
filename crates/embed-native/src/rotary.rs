//! Rotary position embeddings (RoPE) as Hugging Face's ModernBERT, Qwen and Gemma3 compute them:
//! the inverse frequencies of a base, and a table of each position's cosines and sines, which the attention
//! kernel turns queries and keys by. Each step is rounded to `f32` where the reference rounds
//! (`1 / base^(2i/d)`, then `position · frequency`, then the cosine and sine of that), so the
//! angles of long sequences come out as its do.
//!
//! Knows nothing of layers, weights or kernels.

/// The inverse frequencies of one rotary base for heads of width `d`: `d / 2` values.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Frequencies(Vec<f32>);

impl Frequencies {
    /// `1 / base^(2i / d)` for `i` in `0..d / 2` (`d` even).
    pub fn new(base: f64, d: usize) -> Self {
        Self(
            (0..d / 2)
                .map(|i| {
                    let exponent = (2 * i) as f32 / d as f32;
                    1.0 / (base.powf(f64::from(exponent)) as f32)
                })
                .collect(),
        )
    }
}

/// The cosines and sines of positions `0..positions` for one [`Frequencies`]: position `p`'s
/// row holds `d / 2` cosines, then `d / 2` sines. It grows to the longest sequence it is asked
/// for and is kept from call to call.
#[derive(Debug, Default)]
pub(crate) struct RotaryTable {
    values: Vec<f32>,
    positions: usize,
}

impl RotaryTable {
    /// Computes the rows of positions `0..positions` the table does not hold yet.
    pub fn cover(&mut self, frequencies: &Frequencies, positions: usize) {
        for position in self.positions..positions {
            // `position_ids.float() · inv_freq` in `f32`, as the reference multiplies them.
            let angles = frequencies.0.iter().map(|&f| f64::from(position as f32 * f));
            self.values.extend(angles.clone().map(|a| a.cos() as f32));
            self.values.extend(angles.map(|a| a.sin() as f32));
        }
        self.positions = self.positions.max(positions);
    }

    /// The rows of positions `0..positions` (covered before).
    pub fn rows(&self, positions: usize) -> &[f32] {
        assert!(positions <= self.positions, "the table covers {} positions, not {positions}", self.positions);
        &self.values[..self.values.len() / self.positions.max(1) * positions]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frequencies_and_angles_match_the_reference() {
        // ModernBertRotaryEmbedding's inv_freq for heads of 8, torch 2.15, as bits.
        let bits = |base: f64| Frequencies::new(base, 8).0.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(10_000.0), [1_065_353_216, 1_036_831_949, 1_008_981_770, 981_668_463]);
        assert_eq!(bits(100.0), [1_065_353_216, 1_050_798_235, 1_036_831_949, 1_023_510_243]);
        assert_eq!(Frequencies::new(160_000.0, 8).0, [1.0, 0.05, 0.0025, 0.000_125]);
        let frequencies = Frequencies::new(10_000.0, 4);
        let mut table = RotaryTable::default();
        table.cover(&frequencies, 3);
        let rows = table.rows(3).to_vec();
        assert_eq!(rows.len(), 3 * 4);
        // Position 2: angles 2 and 0.02.
        let expected = [2f64.cos(), 0.02f64.cos(), 2f64.sin(), 0.02f64.sin()];
        for (got, want) in rows[8..].iter().zip(expected) {
            assert!((f64::from(*got) - want).abs() < 1e-7, "{got} vs {want}");
        }
        // Growing keeps the rows it had; asking for fewer gives a prefix.
        table.cover(&frequencies, 5);
        assert_eq!(table.rows(5)[..12], rows[..]);
        table.cover(&frequencies, 1);
        assert_eq!((table.rows(1), table.rows(5).len()), (&rows[..4], 5 * 4));
    }
}
