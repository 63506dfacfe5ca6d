//! `Dropout`: inverted dropout as Keras applies it — in training each value is zeroed with
//! probability `rate` and the survivors are scaled by `1 / (1 − rate)`, so a layer's expected
//! input is the same in training and at inference, where dropout does nothing.
//!
//! The mask is drawn from a seeded `ChaCha8` stream and kept, so the backward pass applies the
//! same mask and a training run is reproducible from its seed.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

use crate::error::{EngineError, Result};

/// Inverted dropout with its own seeded mask stream.
#[derive(Debug, Clone)]
pub struct Dropout {
    rate: f32,
    rng: ChaCha8Rng,
    /// The last forward pass's per-value scale: `0` (dropped) or `1 / (1 − rate)`.
    mask: Vec<f32>,
}

impl Dropout {
    /// Dropout of `rate` (in `[0, 1)`), its masks drawn from `seed`.
    pub fn new(rate: f32, seed: u64) -> Result<Self> {
        if !(0.0..1.0).contains(&rate) {
            return Err(EngineError::Invalid {
                what: "dropout rate",
                reason: format!("{rate} is not in [0, 1)"),
            });
        }
        Ok(Dropout {
            rate,
            rng: ChaCha8Rng::seed_from_u64(seed),
            mask: Vec::new(),
        })
    }

    /// The probability of dropping a value.
    pub fn rate(&self) -> f32 {
        self.rate
    }

    /// Training: draws a fresh mask for `x` and applies it in place.
    pub fn forward_train(&mut self, x: &mut [f32]) {
        let keep = 1.0 - self.rate;
        let scale = 1.0 / keep;
        // A value is kept when a uniform draw in [0, 1) falls below `keep`: 24 random bits
        // per value, the resolution of an `f32` in [0, 1).
        let threshold = (keep as f64 * (1u64 << 24) as f64) as u32;
        self.mask.clear();
        self.mask.extend(x.iter().map(|_| {
            if self.rng.next_u32() >> 8 < threshold {
                scale
            } else {
                0.0
            }
        }));
        x.iter_mut().zip(&self.mask).for_each(|(v, m)| *v *= m);
    }

    /// Given d loss / d output, the gradient through the last training mask, in place.
    ///
    /// # Panics
    /// If `d_out` is not as long as the last [`forward_train`](Self::forward_train)'s input.
    pub fn backward(&self, d_out: &mut [f32]) {
        assert_eq!(
            d_out.len(),
            self.mask.len(),
            "dropout: one gradient per value"
        );
        d_out.iter_mut().zip(&self.mask).for_each(|(g, m)| *g *= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn rates_outside_zero_to_one_are_errors_naming_the_setting() {
        for rate in [-0.1, 1.0, 1.5, f32::NAN] {
            let e = Dropout::new(rate, 1).unwrap_err().to_string();
            assert!(e.contains("dropout rate"), "{e}");
        }
        assert!(Dropout::new(0.0, 1).is_ok());
    }

    #[test]
    fn drops_about_rate_of_the_values_and_keeps_the_mean() {
        let mut layer = Dropout::new(0.3, 7).unwrap();
        let mut x = vec![1.0f32; 100_000];
        layer.forward_train(&mut x);
        let dropped = x.iter().filter(|&&v| v == 0.0).count() as f64 / x.len() as f64;
        assert!((dropped - 0.3).abs() < 0.01, "{dropped}");
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        assert!((mean - 1.0).abs() < 0.02, "{mean}");
        let kept = 1.0 / 0.7;
        assert!(x.iter().all(|&v| v == 0.0 || (v - kept).abs() < 1e-6));
    }

    #[test]
    fn the_same_seed_gives_the_same_masks_and_a_zero_rate_changes_nothing() {
        let draw = |seed| {
            let mut layer = Dropout::new(0.5, seed).unwrap();
            let mut x = test_values(64, 0.1);
            layer.forward_train(&mut x);
            layer.forward_train(&mut x);
            x
        };
        assert_eq!(draw(3), draw(3));
        assert_ne!(draw(3), draw(4));
        let mut layer = Dropout::new(0.0, 1).unwrap();
        let (mut x, want) = (test_values(16, 0.2), test_values(16, 0.2));
        layer.forward_train(&mut x);
        assert_eq!(x, want);
    }

    #[test]
    fn gradient_matches_finite_differences_through_a_fixed_mask() {
        let mut layer = Dropout::new(0.4, 11).unwrap();
        let mut x = test_values(40, 0.5);
        let mut probe = x.clone();
        layer.forward_train(&mut probe);
        assert!(probe.contains(&0.0) && probe.iter().any(|&v| v != 0.0));
        // loss = Σ w · dropout(x), with the mask of that pass held fixed.
        let weights = test_values(40, 2.1);
        let mask = layer.mask.clone();
        let loss = |x: &[f32]| {
            x.iter()
                .zip(&mask)
                .zip(&weights)
                .map(|((x, m), w)| (x * m * w) as f64)
                .sum()
        };
        let mut d = weights.clone();
        layer.backward(&mut d);
        check_gradient("dropout d_x", &mut x, &d, loss);
    }
}
