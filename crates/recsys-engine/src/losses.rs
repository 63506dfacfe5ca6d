//! Losses: a scalar to minimise and its gradient with respect to the predictions.
//!
//! [`MeanSquaredError`] (ranking) is here; [`InBatchSoftmax`] (retrieval) is in `softmax`.

mod softmax;

pub use softmax::{InBatchSoftmax, Towers};

/// Mean squared error over a batch (Keras `MeanSquaredError`, the ranking tutorial's loss):
/// `mean((p − y)²)`, whose gradient is `2(p − y) / n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MeanSquaredError;

impl MeanSquaredError {
    /// Returns the loss and writes d loss / d prediction into `grad`.
    pub fn loss_and_grad(&self, predictions: &[f32], labels: &[f32], grad: &mut [f32]) -> f32 {
        let n = predictions.len();
        if n == 0 {
            return 0.0;
        }
        let mut sum = 0.0f64;
        for ((g, &p), &y) in grad.iter_mut().zip(predictions).zip(labels) {
            let e = p - y;
            sum += (e as f64) * (e as f64);
            *g = self.gradient(p, y, n);
        }
        (sum / n as f64) as f32
    }

    /// d loss / d prediction for one example of a batch of `batch`: `2(p − y) / batch`. A
    /// batch trained a tile at a time computes each tile's share with it.
    pub fn gradient(&self, prediction: f32, label: f32, batch: usize) -> f32 {
        2.0 / batch as f32 * (prediction - label)
    }

    /// The loss alone.
    pub fn loss(&self, predictions: &[f32], labels: &[f32]) -> f32 {
        let n = predictions.len();
        if n == 0 {
            return 0.0;
        }
        let sum: f64 = predictions
            .iter()
            .zip(labels)
            .map(|(&p, &y)| ((p - y) as f64).powi(2))
            .sum();
        (sum / n as f64) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_gradient;

    #[test]
    fn value_and_gradient() {
        let labels = [1.0, 2.0, 4.0];
        let mut p = vec![1.5, 1.0, 4.0];
        let mut g = vec![0.0; 3];
        let loss = MeanSquaredError.loss_and_grad(&p, &labels, &mut g);
        assert!((loss - (0.25 + 1.0) / 3.0).abs() < 1e-7);
        assert_eq!(loss, MeanSquaredError.loss(&p, &labels));
        check_gradient("mse", &mut p, &g, |p| {
            MeanSquaredError.loss(p, &labels) as f64
        });
    }
}
