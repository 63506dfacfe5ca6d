//! `Dropout`: while training, each value is zeroed with probability `rate` and the rest are
//! scaled by `1 / (1 − rate)`, so a layer's expected output is unchanged; at inference it is
//! not applied at all (Keras's `Dropout`, inverted dropout).
//!
//! Ranking and retrieval: Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks
//! from Overfitting" (JMLR 2014); TFRS's DCN tutorial and DLRM-style towers use it between
//! dense layers. The mask comes from a seeded generator, so a training run is reproducible.

use crate::init::InitRng;

/// Inverted dropout with a seeded mask, drawn anew by each [`forward`](Self::forward).
#[derive(Debug, Clone)]
pub struct Dropout {
    rate: f32,
    rng: InitRng,
    /// The last mask: 0 or `1 / (1 − rate)` per value.
    mask: Vec<f32>,
}

impl Dropout {
    /// Drops values with probability `rate` (in `[0, 1)`), masks drawn from `seed`.
    pub fn new(rate: f32, seed: u64) -> Self {
        Dropout {
            rate,
            rng: InitRng::new(seed),
            mask: Vec::new(),
        }
    }

    /// Draws a mask for `x` and applies it in place.
    pub fn forward(&mut self, x: &mut [f32]) {
        let keep = 1.0 / (1.0 - self.rate);
        self.mask.resize(x.len(), 0.0);
        for (m, v) in self.mask.iter_mut().zip(x) {
            *m = if self.rng.uniform(0.0, 1.0) < self.rate {
                0.0
            } else {
                keep
            };
            *v *= *m;
        }
    }

    /// Multiplies d loss / d output by the last mask: d loss / d input.
    pub fn backward(&self, d: &mut [f32]) {
        d.iter_mut().zip(&self.mask).for_each(|(g, &m)| *g *= m);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_gradient, test_values};

    #[test]
    fn drops_about_rate_and_keeps_the_expected_value() {
        let mut d = Dropout::new(0.25, 9);
        let mut x = vec![1.0f32; 10_000];
        d.forward(&mut x);
        let dropped = x.iter().filter(|&&v| v == 0.0).count();
        assert!((2_250..=2_750).contains(&dropped), "{dropped}");
        assert!(x.iter().all(|&v| v == 0.0 || (v - 4.0 / 3.0).abs() < 1e-6));
        let mean = x.iter().map(|&v| v as f64).sum::<f64>() / x.len() as f64;
        assert!((mean - 1.0).abs() < 0.03, "{mean}");
        // The same seed draws the same masks.
        let (mut a, mut b) = (Dropout::new(0.5, 3), Dropout::new(0.5, 3));
        let (mut xa, mut xb) = (test_values(50, 0.1), test_values(50, 0.1));
        a.forward(&mut xa);
        b.forward(&mut xb);
        assert_eq!(xa, xb);
    }

    #[test]
    fn gradient_matches_finite_differences_under_a_fixed_mask() {
        let mut layer = Dropout::new(0.4, 1);
        let mut x = test_values(12, 0.3);
        layer.forward(&mut x.clone());
        let r = test_values(12, 0.8);
        let mut d = r.clone();
        layer.backward(&mut d);
        // The mask fixed, the layer is linear: loss = Σ r ⊙ mask ⊙ x.
        let loss = |x: &[f32]| {
            let y: Vec<f32> = x.iter().zip(&layer.mask).map(|(v, m)| v * m).collect();
            y.iter().zip(&r).map(|(a, b)| *a as f64 * *b as f64).sum()
        };
        check_gradient("dropout", &mut x, &d, loss);
        assert!(layer.mask.contains(&0.0), "some value must be dropped");
    }
}
