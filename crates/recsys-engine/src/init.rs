//! Seeded initialisation, with Keras's default initialisers.
//!
//! Reproducibility is a feature: the same seed gives the same weights bit for bit, on every
//! machine, because the generator (`ChaCha8`, from `rand_chacha`) is specified and portable and
//! the conversion to floats below is fixed.

use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};

/// A seeded source of uniform floats for weight initialisation.
#[derive(Debug, Clone)]
pub struct InitRng(ChaCha8Rng);

impl InitRng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        InitRng(ChaCha8Rng::seed_from_u64(seed))
    }

    /// A uniform float in `[low, high)`: the top 24 bits of one `u32` draw, scaled.
    pub fn uniform(&mut self, low: f32, high: f32) -> f32 {
        let unit = (self.0.next_u32() >> 8) as f32 * (1.0 / (1u32 << 24) as f32);
        low + (high - low) * unit
    }

    /// Fills `out` with uniform floats in `[-limit, limit)`.
    pub fn fill_uniform(&mut self, out: &mut [f32], limit: f32) {
        for v in out {
            *v = self.uniform(-limit, limit);
        }
    }
}

/// Keras `glorot_uniform` bound for a `fan_in × fan_out` kernel: `sqrt(6 / (fan_in + fan_out))`.
pub fn glorot_uniform_limit(fan_in: usize, fan_out: usize) -> f32 {
    (6.0 / (fan_in + fan_out) as f64).sqrt() as f32
}

/// Keras `Embedding`'s default initialiser is `RandomUniform(-0.05, 0.05)`.
pub const EMBEDDING_UNIFORM_LIMIT: f32 = 0.05;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_values_stay_in_range() {
        let mut a = InitRng::new(7);
        let mut b = InitRng::new(7);
        let mut c = InitRng::new(8);
        let xs: Vec<f32> = (0..1000).map(|_| a.uniform(-0.5, 0.5)).collect();
        let ys: Vec<f32> = (0..1000).map(|_| b.uniform(-0.5, 0.5)).collect();
        let zs: Vec<f32> = (0..1000).map(|_| c.uniform(-0.5, 0.5)).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
        assert!(xs.iter().all(|x| (-0.5..0.5).contains(x)));
        let mean = xs.iter().sum::<f32>() / 1000.0;
        assert!(mean.abs() < 0.05, "mean {mean}");
    }

    #[test]
    fn glorot_limit_matches_the_keras_formula() {
        // Keras: limit = sqrt(6 / (fan_in + fan_out)); for the tutorial's 64 -> 256 layer:
        assert!((glorot_uniform_limit(64, 256) - (6.0f32 / 320.0).sqrt()).abs() < 1e-7);
    }
}
