//! Adagrad (Duchi et al., 2011) exactly as Keras 2 implements it — the TFRS tutorial's optimizer.
//!
//! Keras: the accumulator starts at `initial_accumulator_value` (0.1), then per step
//! `acc += g²; w -= lr · g / sqrt(acc + ε)` with ε = 1e-7 *inside* the square root.
//! For an embedding, `g` is a row's summed gradient over the batch, squared after summing.

/// Keras `Adagrad` hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Adagrad {
    /// Step size (the tutorial uses 0.1).
    pub learning_rate: f32,
    /// Starting value of every accumulator entry (Keras: 0.1).
    pub initial_accumulator_value: f32,
    /// Added under the square root (Keras: 1e-7).
    pub epsilon: f32,
}

impl Adagrad {
    /// Keras's defaults with the given learning rate.
    pub fn keras(learning_rate: f32) -> Self {
        Adagrad {
            learning_rate,
            initial_accumulator_value: 0.1,
            epsilon: 1e-7,
        }
    }

    pub(crate) fn update(&self, w: &mut [f32], g: &[f32], acc: &mut [f32]) {
        update_row(w, g, acc, self.learning_rate, self.epsilon);
    }
}

crate::simd::elementwise! {
    /// One row's Adagrad step, 16 lanes at a time where the CPU has AVX-512 (the square roots
    /// and divisions are correctly rounded either way, so the results are the same bits).
    fn update_row(w: &mut [f32], g: &[f32], acc: &mut [f32], learning_rate: f32, epsilon: f32) {
        for ((w, &g), a) in w.iter_mut().zip(g).zip(acc) {
            *a += g * g;
            *w -= learning_rate * g / (*a + epsilon).sqrt();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_steps_by_hand() {
        let opt = Adagrad::keras(0.1);
        let mut w = vec![1.0f32];
        let mut acc = vec![0.1f32];
        opt.update(&mut w, &[0.5], &mut acc);
        let a1 = 0.1f32 + 0.25;
        let w1 = 1.0 - 0.1 * 0.5 / (a1 + 1e-7).sqrt();
        assert_eq!(acc[0], a1);
        assert_eq!(w[0], w1);
        opt.update(&mut w, &[-1.0], &mut acc);
        let a2 = a1 + 1.0;
        assert_eq!(acc[0], a2);
        assert_eq!(w[0], w1 + 0.1 / (a2 + 1e-7).sqrt());
    }
}
