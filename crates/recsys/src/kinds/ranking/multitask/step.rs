//! The multitask training step: the ranking model's step, plus the retrieval task's gradient
//! added to the shared embeddings before the optimizer runs.

use recsys_engine::RetrievalTask;

use super::{MultitaskWeights, TowerBuffers};
use crate::Result;
use crate::kinds::ranking::{FirstLayer, RankingModel, Step, Stepper};
use crate::train::EpochReport;

/// Everything one multitask step needs besides the model.
#[derive(Debug)]
pub(crate) struct MultitaskStep {
    /// The rating task's step (its loss scaled by the rating weight); it also owns the
    /// embeddings' gradients and the optimizer state.
    ranking: Step,
    retrieval: RetrievalTask,
    towers: TowerBuffers,
    weights: MultitaskWeights,
}

impl MultitaskStep {
    pub(crate) fn new(
        model: &RankingModel,
        capacity: usize,
        optimizer: recsys_engine::Optimizer,
        first_layer: FirstLayer,
        weights: MultitaskWeights,
    ) -> Self {
        let mut ranking = Step::new(model, capacity, optimizer, first_layer);
        ranking.loss_weight = weights.rating_weight;
        MultitaskStep {
            ranking,
            retrieval: RetrievalTask::default(),
            towers: TowerBuffers::new(capacity, model.config.embedding_dim),
            weights,
        }
    }

    /// The ranking step, for tests that read its gradients.
    #[cfg(test)]
    pub(crate) fn ranking(&self) -> &Step {
        &self.ranking
    }
}

impl Stepper for MultitaskStep {
    /// Both tasks' forward and backward passes; returns the weighted total loss.
    fn gradients(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
        y: &[f32],
    ) -> Result<f32> {
        let rating = self.ranking.gradients(model, users, titles, y);
        let (towers, d_users, d_movies) = self.towers.gather(model, users, titles);
        let w = self.weights;
        let retrieval = self
            .retrieval
            .compute(towers, w.retrieval_weight, d_users, d_movies)?;
        let dim = model.config.embedding_dim;
        self.ranking.add_embedding_grads(d_users, d_movies, dim);
        Ok((w.rating_weight as f64 * rating as f64 + w.retrieval_weight as f64 * retrieval) as f32)
    }

    fn apply(&mut self, model: &mut RankingModel) {
        self.ranking.apply(model)
    }

    fn set_learning_rate(&mut self, learning_rate: f32) {
        self.ranking.set_learning_rate(learning_rate)
    }
    fn reset(&mut self) {
        Stepper::reset(&mut self.ranking);
        self.retrieval.reset();
    }

    fn report(&self, epoch: usize, seconds: f64) -> EpochReport {
        EpochReport {
            retrieval_loss: Some(self.retrieval.metrics().loss),
            ..self.ranking.report(epoch, seconds)
        }
    }
}
