//! The ranking task: predict a rating, trained with MSE and reported as RMSE.
//!
//! This is TFRS's `tfrs.tasks.Ranking(loss=MeanSquaredError(), metrics=[RootMeanSquaredError()])`
//! from the ranking tutorial: one call computes the batch loss, its gradient, and updates the
//! metric with the predictions made *before* the step's weight update, as Keras's `fit` does.

use crate::losses::MeanSquaredError;
use crate::metrics::RootMeanSquaredError;

/// A rating-prediction task (ranking stage).
#[derive(Debug, Clone, Default)]
pub struct RankingTask {
    /// The loss minimised.
    pub loss: MeanSquaredError,
    /// The metric reported.
    pub rmse: RootMeanSquaredError,
}

/// What a ranking task reports for an epoch or an evaluation, with Keras's names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankingMetrics {
    /// RMSE over every example seen.
    pub root_mean_squared_error: f64,
    /// The example-weighted mean of the batch losses (the MSE).
    pub loss: f64,
    /// Sum of regularisation penalties (the tutorial model has none: 0).
    pub regularization_loss: f64,
    /// `loss + regularization_loss`.
    pub total_loss: f64,
    /// Examples seen.
    pub examples: u64,
}

impl RankingTask {
    /// Computes the batch loss, writes d loss / d prediction into `grad`, and updates the metric.
    pub fn compute(&mut self, predictions: &[f32], labels: &[f32], grad: &mut [f32]) -> f32 {
        self.rmse.update(predictions, labels);
        self.loss.loss_and_grad(predictions, labels, grad)
    }

    /// Updates the metric only (evaluation).
    pub fn observe(&mut self, predictions: &[f32], labels: &[f32]) {
        self.rmse.update(predictions, labels);
    }

    /// The metrics so far. With MSE, the example-weighted mean batch loss equals the mean
    /// squared error over all examples, so it is read off the metric's sums.
    pub fn metrics(&self) -> RankingMetrics {
        let loss = self.rmse.mean_squared_error();
        RankingMetrics {
            root_mean_squared_error: self.rmse.result(),
            loss,
            regularization_loss: 0.0,
            total_loss: loss,
            examples: self.rmse.count(),
        }
    }

    /// Starts a new epoch or evaluation.
    pub fn reset(&mut self) {
        self.rmse.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loss_and_metric_agree_over_batches() {
        let mut t = RankingTask::default();
        let mut g = vec![0.0; 2];
        let l1 = t.compute(&[1.0, 3.0], &[2.0, 3.0], &mut g);
        assert!((l1 - 0.5).abs() < 1e-7);
        assert_eq!(g, vec![-1.0, 0.0]);
        t.compute(&[0.0], &[2.0], &mut g[..1]);
        let m = t.metrics();
        assert!((m.loss - 5.0 / 3.0).abs() < 1e-12);
        assert!((m.root_mean_squared_error - (5.0f64 / 3.0).sqrt()).abs() < 1e-12);
        assert_eq!(m.total_loss, m.loss);
        assert_eq!(m.examples, 3);
    }
}
