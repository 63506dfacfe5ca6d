//! Adam (Kingma & Ba, 2015) as Keras 2 implements it.
//!
//! Keras: `m += (g − m)(1 − β₁)`, `v += (g² − v)(1 − β₂)`,
//! `α = lr · sqrt(1 − β₂ᵗ) / (1 − β₁ᵗ)`, `w −= α · m / (sqrt(v) + ε)`, with ε = 1e-7 outside the
//! square root and `t` counting steps from 1.

/// Keras `Adam` hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adam {
    /// Step size (Keras default 0.001).
    pub learning_rate: f32,
    /// First-moment decay (0.9).
    pub beta_1: f32,
    /// Second-moment decay (0.999).
    pub beta_2: f32,
    /// Added to sqrt(v) (Keras: 1e-7).
    pub epsilon: f32,
}

impl Adam {
    /// Keras's defaults with the given learning rate.
    pub fn keras(learning_rate: f32) -> Self {
        Adam {
            learning_rate,
            beta_1: 0.9,
            beta_2: 0.999,
            epsilon: 1e-7,
        }
    }

    /// The bias-corrected step size α for update number `step` (from 1).
    pub(crate) fn step_size(&self, step: u64) -> f32 {
        let t = step.max(1) as f64;
        let b1 = 1.0 - (self.beta_1 as f64).powf(t);
        let b2 = 1.0 - (self.beta_2 as f64).powf(t);
        (self.learning_rate as f64 * b2.sqrt() / b1) as f32
    }

    pub(crate) fn update(
        &self,
        alpha: f32,
        w: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
    ) {
        let rates = (1.0 - self.beta_1, 1.0 - self.beta_2);
        update_row(w, g, m, v, alpha, rates, self.epsilon);
    }
}

crate::simd::elementwise! {
    /// One row's Adam step, 16 lanes at a time where the CPU has AVX-512 (the square roots
    /// and divisions are correctly rounded either way, so the results are the same bits).
    /// `rates` are `(1 - β₁, 1 - β₂)`.
    fn update_row(
        w: &mut [f32],
        g: &[f32],
        m: &mut [f32],
        v: &mut [f32],
        alpha: f32,
        rates: (f32, f32),
        epsilon: f32,
    ) {
        for (((w, &g), m), v) in w.iter_mut().zip(g).zip(m).zip(v) {
            *m += (g - *m) * rates.0;
            *v += (g * g - *v) * rates.1;
            *w -= alpha * *m / (v.sqrt() + epsilon);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_the_learning_rate() {
        // At t = 1 the bias-corrected m/sqrt(v) is g/|g|, so w moves by lr·sign(g) (up to ε).
        let opt = Adam::keras(0.01);
        let mut w = vec![1.0f32, 1.0];
        let (mut m, mut v) = (vec![0.0; 2], vec![0.0; 2]);
        opt.update(opt.step_size(1), &mut w, &[3.0, -0.2], &mut m, &mut v);
        assert!((w[0] - 0.99).abs() < 1e-6, "{}", w[0]);
        assert!((w[1] - 1.01).abs() < 1e-6, "{}", w[1]);
    }

    #[test]
    fn step_size_follows_the_bias_correction() {
        let opt = Adam::keras(0.001);
        let want = 0.001 * (1.0 - 0.999f64.powi(10)).sqrt() / (1.0 - 0.9f64.powi(10));
        assert!((opt.step_size(10) as f64 - want).abs() < 1e-9);
    }
}
