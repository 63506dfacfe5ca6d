//! Multitask: one model trained for two tasks at once — predicting ratings and retrieving the
//! movies a user watched — as in TFRS's multitask tutorial
//! (<https://www.tensorflow.org/recommenders/examples/multitask>).
//!
//! The model is the [`RankingModel`]: a user and a movie embedding, shared by both tasks. The
//! rating task (ranking, MSE, RMSE) runs the dense tower over `concat(user, movie)`; the
//! retrieval task scores a user against a movie by the dot product of their embeddings (the
//! two towers are the two embedding tables) and is trained with the in-batch softmax
//! ([`recsys_engine::InBatchSoftmax`]), measured as top-K accuracy over the whole catalogue
//! ([`recsys_engine::FactorizedTopK`]). The total loss is
//! `rating_weight · MSE + retrieval_weight · Σ cross-entropy`; the tutorial trains three models
//! with weights (1, 0), (0, 1) and (1, 1). Because the trained model *is* a ranking model, it is
//! saved as one: `recsys rank`, `evaluate`, `serve` and `export` read it unchanged.
//!
//! ```
//! use recsys::data::Vocabulary;
//! use recsys::kinds::ranking::multitask::{self, MultitaskWeights};
//! use recsys::kinds::ranking::RankingModel;
//! use recsys::train::{Examples, Schedule, Silent};
//!
//! # fn main() -> Result<(), recsys::Error> {
//! let users = Vocabulary::from_values(["1", "2"]);
//! let titles = Vocabulary::from_values(["Heat (1995)", "Babe (1995)", "Fargo (1996)"]);
//! // Sorted titles: Babe is row 1, Fargo row 2, Heat row 3. User 1 watches Heat, user 2 Babe.
//! let train = Examples { users: vec![1, 2, 1, 2], titles: vec![3, 1, 3, 1],
//!                        ratings: vec![5.0, 3.0, 4.0, 3.0], timestamps: None };
//! let mut model = RankingModel::new(multitask::model_config(), users, titles, 42)?;
//! let config = Schedule { epochs: 20, batch_size: 4, ..Schedule::default() }.check()?;
//! let weights = MultitaskWeights { rating_weight: 1.0, retrieval_weight: 1.0 }.check()?;
//! multitask::fit(&mut model, train.clone(), &config, &weights, &mut Silent)?;
//! let report = multitask::evaluate(&model, &train, 4096)?;
//! assert!(report.retrieval.top(1).unwrap() > 0.5);
//! assert_eq!(multitask::retrieve(&model, "1", 1)?[0].0, "Heat (1995)");
//! # Ok(())
//! # }
//! ```

mod step;

use std::borrow::Cow;

use recsys_engine::{FactorizedTopK, InBatchSoftmax, RankingTask, Towers, metrics::DEFAULT_KS};
use serde::{Deserialize, Serialize};

use crate::kinds::ranking::{FirstLayer, Predictor, fit_steps};
use crate::kinds::ranking::{RankingModel, RankingModelConfig};
use crate::train::{
    Examples, History, Metrics, RetrievalReport, TopKAccuracy, TrainObserver, ValidSchedule,
};
use crate::{Error, Result};

/// The tutorial's rating tower over the shared embeddings: 32-wide embeddings, dense layers of
/// 256 and 128 units, then one (TFRS's multitask tutorial; the ranking tutorial uses 256, 64).
pub fn model_config() -> RankingModelConfig {
    RankingModelConfig {
        embedding_dim: 32,
        hidden_layers: vec![256, 128],
    }
}

/// The two losses' weights, unchecked (the tutorial's joint model: 1 and 1).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MultitaskWeights {
    /// Weight of the rating task's MSE.
    pub rating_weight: f32,
    /// Weight of the retrieval task's in-batch softmax loss.
    pub retrieval_weight: f32,
}

impl Default for MultitaskWeights {
    fn default() -> Self {
        MultitaskWeights {
            rating_weight: 1.0,
            retrieval_weight: 1.0,
        }
    }
}

/// [`MultitaskWeights`] whose values have been checked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ValidMultitaskWeights(MultitaskWeights);

impl MultitaskWeights {
    /// Checks each weight (finite, in `[0, 1e6]`) and that at least one is positive.
    pub fn check(self) -> Result<ValidMultitaskWeights> {
        const ALLOWED: &str = "a number in [0, 1000000]";
        for (field, w) in [
            ("rating-weight", self.rating_weight),
            ("retrieval-weight", self.retrieval_weight),
        ] {
            if !(w.is_finite() && (0.0..=1e6).contains(&w)) {
                let value = w.to_string();
                return Err(Error::Config {
                    field,
                    allowed: ALLOWED,
                    value,
                });
            }
        }
        if self.rating_weight == 0.0 && self.retrieval_weight == 0.0 {
            return Err(Error::Config {
                field: "rating-weight",
                allowed: "a positive weight for at least one task",
                value: "0 (and --retrieval-weight 0)".into(),
            });
        }
        Ok(ValidMultitaskWeights(self))
    }
}

impl ValidMultitaskWeights {
    /// The checked weights.
    pub fn get(&self) -> MultitaskWeights {
        self.0
    }
}

/// What evaluating a multitask model reports: both tasks.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultitaskMetrics {
    /// The rating task (RMSE).
    pub rating: Metrics,
    /// The retrieval task (top-K accuracy).
    pub retrieval: RetrievalReport,
}

/// Trains `model` on both tasks with `weights`, reporting to `observer`: the ranking model's
/// [`fit_owned`](crate::kinds::ranking::fit_owned) with the retrieval task's gradient added to the
/// shared embeddings' each step. Each epoch's report carries the retrieval loss.
pub fn fit(
    model: &mut RankingModel,
    train: Examples,
    schedule: &ValidSchedule,
    weights: &ValidMultitaskWeights,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let make = |model: &RankingModel, batch| {
        let optimizer = schedule.optimizer();
        let first = FirstLayer::default();
        step::MultitaskStep::new(model, batch, optimizer, first, weights.get())
    };
    fit_steps(model, Cow::Owned(train), schedule, make, observer)
}

/// Keras's `evaluate` for the multitask model: RMSE and the retrieval loss in batches of
/// `batch_size` (the tutorial: 4096), and top-K accuracy of every test pair over the catalogue.
pub fn evaluate(
    model: &RankingModel,
    test: &Examples,
    batch_size: usize,
) -> Result<MultitaskMetrics> {
    if test.is_empty() {
        return Err(Error::InvalidInput("no evaluation examples".into()));
    }
    let d = model.config.embedding_dim;
    let batch = batch_size.clamp(1, test.len());
    let mut predictor = Predictor::new(model, batch, test.len());
    let mut rating = RankingTask::default();
    let mut top_k = catalogue_metric(model)?;
    let (mut softmax, mut sum) = (InBatchSoftmax::default(), 0.0);
    let mut bufs = TowerBuffers::new(batch, d);
    for (u, t, y) in test.batches(batch) {
        rating.observe(predictor.run(model, u, t), y);
        let (towers, dq, dc) = bufs.gather(model, u, t);
        top_k.update(towers.queries, towers.candidates)?;
        sum += softmax.loss_and_grad(towers, 0.0, dq, dc)?;
    }
    let batches = test.len().div_ceil(batch) as f64;
    Ok(MultitaskMetrics {
        rating: rating.metrics().into(),
        retrieval: RetrievalReport {
            loss: sum / batches,
            factorized_top_k: top_k
                .result()
                .into_iter()
                .map(|(k, accuracy)| TopKAccuracy { k, accuracy })
                .collect(),
            candidates: model.movie_embedding.rows - 1,
        },
    })
}

/// Retrieval for one user: the `top` titles whose movie embedding has the largest dot product
/// with the user's embedding, best first (ties keep vocabulary order). Meaningful for a model
/// trained with a positive retrieval weight; an unseen user uses the out-of-vocabulary row.
pub fn retrieve(model: &RankingModel, user_id: &str, top: usize) -> Result<Vec<(String, f32)>> {
    let user = model
        .user_embedding
        .row(model.user_vocabulary.lookup(user_id));
    let titles: Vec<&str> = model.title_vocabulary.values().iter().collect();
    let movies = &model.movie_embedding;
    let scores = (1..movies.rows as u32)
        .map(|row| movies.row(row).iter().zip(user).map(|(a, b)| a * b).sum())
        .collect();
    let mut ranked = crate::contract::sort_ranked(&titles, scores);
    ranked.truncate(top);
    Ok(ranked)
}

/// The catalogue TFRS's `FactorizedTopK` ranks against: every movie's embedding (the
/// vocabulary's titles; not the out-of-vocabulary row, which names no movie).
fn catalogue_metric(model: &RankingModel) -> Result<FactorizedTopK> {
    let table = &model.movie_embedding;
    let movies = table.table[table.dim..].to_vec();
    Ok(FactorizedTopK::new(movies, table.dim, &DEFAULT_KS)?)
}

/// Per-example embeddings of a batch (the two towers' outputs) and their gradients.
#[derive(Debug)]
pub(crate) struct TowerBuffers {
    queries: Vec<f32>,
    candidates: Vec<f32>,
    d_queries: Vec<f32>,
    d_candidates: Vec<f32>,
    dim: usize,
}

/// A batch's towers and the buffers their gradients go to.
pub(crate) type Gathered<'a> = (Towers<'a>, &'a mut [f32], &'a mut [f32]);

impl TowerBuffers {
    pub(crate) fn new(capacity: usize, dim: usize) -> Self {
        let buf = || vec![0.0; capacity * dim];
        TowerBuffers {
            queries: buf(),
            candidates: buf(),
            d_queries: buf(),
            d_candidates: buf(),
            dim,
        }
    }

    /// Gathers the user (query) and movie (candidate) embeddings of the pairs
    /// `(users[i], titles[i])`; returns them with the gradient buffers, `[n, dim]` each.
    pub(crate) fn gather(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
    ) -> Gathered<'_> {
        let (n, d) = (users.len(), self.dim);
        model.user_embedding.gather(users, &mut self.queries, d, 0);
        model
            .movie_embedding
            .gather(titles, &mut self.candidates, d, 0);
        let towers = Towers {
            queries: &self.queries[..n * d],
            candidates: &self.candidates[..n * d],
            batch: n,
            dim: d,
        };
        (
            towers,
            &mut self.d_queries[..n * d],
            &mut self.d_candidates[..n * d],
        )
    }
}

#[cfg(test)]
mod tests;
