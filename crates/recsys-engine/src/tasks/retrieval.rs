//! The retrieval task: score each query against the batch's candidates, trained with the
//! in-batch softmax, reported as the mean batch loss.
//!
//! This is TFRS's `tfrs.tasks.Retrieval()` with its default loss, as the basic retrieval and
//! multitask tutorials build it. TFRS also updates its `FactorizedTopK` metric inside the task
//! on every training batch; here that metric ([`FactorizedTopK`](crate::FactorizedTopK)) is
//! kept apart and run at evaluation, because scoring the whole catalogue each step would cost
//! more than the step itself.

use crate::error::Result;
use crate::losses::{InBatchSoftmax, Towers};

/// A two-tower retrieval task (retrieval stage).
#[derive(Debug, Clone, Default)]
pub struct RetrievalTask {
    /// The loss minimised, with its scratch buffer.
    pub loss: InBatchSoftmax,
    sum: f64,
    batches: u64,
    examples: u64,
}

/// What a retrieval task reports for an epoch or an evaluation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetrievalMetrics {
    /// The mean over batches of the batch loss (a sum over the batch's queries, as TFRS's).
    pub loss: f64,
    /// Batches seen.
    pub batches: u64,
    /// Query–candidate pairs seen.
    pub examples: u64,
}

impl RetrievalTask {
    /// Computes the batch loss, writes `weight ×` its gradient into `d_queries` and
    /// `d_candidates`, and records the loss.
    pub fn compute(
        &mut self,
        towers: Towers<'_>,
        weight: f32,
        d_queries: &mut [f32],
        d_candidates: &mut [f32],
    ) -> Result<f64> {
        let loss = self
            .loss
            .loss_and_grad(towers, weight, d_queries, d_candidates)?;
        self.observe(loss, towers.batch);
        Ok(loss)
    }

    /// Records a batch loss computed elsewhere (evaluation).
    pub fn observe(&mut self, loss: f64, batch: usize) {
        self.sum += loss;
        self.batches += 1;
        self.examples += batch as u64;
    }

    /// The metrics so far (loss 0 before any batch).
    pub fn metrics(&self) -> RetrievalMetrics {
        RetrievalMetrics {
            loss: self.sum / self.batches.max(1) as f64,
            batches: self.batches,
            examples: self.examples,
        }
    }

    /// Starts a new epoch or evaluation.
    pub fn reset(&mut self) {
        (self.sum, self.batches, self.examples) = (0.0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn averages_batch_losses_and_resets() {
        let mut t = RetrievalTask::default();
        let (mut dq, mut dc) = (vec![0.0; 4], vec![0.0; 4]);
        // Identical candidates: every logit ties, so each query's loss is ln 2.
        let towers = Towers {
            queries: &[1.0, 0.0, 0.0, 1.0],
            candidates: &[1.0, 1.0, 1.0, 1.0],
            batch: 2,
            dim: 2,
        };
        let l = t.compute(towers, 1.0, &mut dq, &mut dc).unwrap();
        assert!((l - 2.0 * 2f64.ln()).abs() < 1e-6);
        t.observe(0.0, 3);
        let m = t.metrics();
        assert!((m.loss - l / 2.0).abs() < 1e-12);
        assert_eq!((m.batches, m.examples), (2, 5));
        t.reset();
        assert_eq!(t.metrics().loss, 0.0);
    }
}
