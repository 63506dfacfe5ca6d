//! What every kind's training shares: the examples, the schedule's settings, progress
//! reports with Keras's metric names, the validation split and early stopping.

mod config;
mod early_stop;

use recsys_data::{Rating, Vocabulary};
use recsys_engine::RankingMetrics;
use serde::Serialize;

pub use config::{FirstLayer, OptimizerKind, TrainConfig, ValidTrainConfig};
pub(crate) use early_stop::BestEpoch;

use crate::kinds::ranking::RankingModel;
use crate::{Error, Result};

/// Training examples with their strings already mapped to embedding rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Examples {
    /// Row of each example's user in the user embedding.
    pub users: Vec<u32>,
    /// Row of each example's title in the movie embedding.
    pub titles: Vec<u32>,
    /// The rating to predict.
    pub ratings: Vec<f32>,
}

impl Examples {
    /// Maps each rating's user id and title through the model's vocabularies.
    pub fn encode(model: &RankingModel, ratings: &[Rating]) -> Self {
        Self::encode_with(&model.user_vocabulary, &model.title_vocabulary, ratings)
    }

    /// Maps each rating's user id and title through these vocabularies.
    pub fn encode_with(users: &Vocabulary, titles: &Vocabulary, ratings: &[Rating]) -> Self {
        Examples {
            users: ratings.iter().map(|r| users.lookup(&r.user_id)).collect(),
            titles: ratings
                .iter()
                .map(|r| titles.lookup(&r.movie_title))
                .collect(),
            ratings: ratings.iter().map(|r| r.user_rating).collect(),
        }
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.ratings.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ratings.is_empty()
    }

    /// The examples in consecutive batches of `size` (the last one ragged): users, titles,
    /// ratings.
    pub fn batches(&self, size: usize) -> impl Iterator<Item = (&[u32], &[u32], &[f32])> {
        let size = size.max(1);
        let (u, t, y) = (&self.users, &self.titles, &self.ratings);
        u.chunks(size)
            .zip(t.chunks(size))
            .zip(y.chunks(size))
            .map(|((u, t), y)| (u, t, y))
    }

    /// The examples in a new order (`order[i]` is the source of position `i`).
    pub(crate) fn permuted(&self, order: &[usize]) -> Self {
        Examples {
            users: order.iter().map(|&i| self.users[i]).collect(),
            titles: order.iter().map(|&i| self.titles[i]).collect(),
            ratings: order.iter().map(|&i| self.ratings[i]).collect(),
        }
    }

    /// Shuffles the examples in place when `config` says so, with its seed's shuffle stream.
    pub(crate) fn shuffle_if(&mut self, config: &TrainConfig) {
        if config.shuffle {
            self.shuffle(shuffle_seed(config.seed));
        }
    }

    /// Shuffles the examples in place, in the order `recsys_data::shuffle(_, seed)` gives.
    fn shuffle(&mut self, seed: u64) {
        recsys_data::shuffle_with(self.len(), seed, |i, j| {
            self.users.swap(i, j);
            self.titles.swap(i, j);
            self.ratings.swap(i, j);
        });
    }
}

/// Receives training progress; the library never prints (the CLI draws progress bars).
///
/// `Send`, because training runs on a worker of its own thread pool.
pub trait TrainObserver: Send {
    /// An epoch (1-based) of `steps` batches begins.
    fn epoch_begin(&mut self, _epoch: usize, _epochs: usize, _steps: usize) {}
    /// A step (1-based within the epoch) finished with this batch loss.
    fn step_end(&mut self, _step: usize, _loss: f32) {}
    /// An epoch finished.
    fn epoch_end(&mut self, _epoch: usize, _report: &EpochReport) {}
}

/// An observer that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl TrainObserver for Silent {}

/// One epoch's metrics and duration.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct EpochReport {
    /// 1-based epoch number.
    pub epoch: usize,
    /// Keras-named metrics over the epoch.
    #[serde(flatten)]
    pub metrics: Metrics,
    /// Wall-clock seconds the epoch took.
    pub seconds: f64,
    /// Metrics on the validation split, when training holds one out (Keras's `val_` metrics).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validation: Option<Metrics>,
    /// A multitask model's retrieval loss: the epoch's mean batch loss (in-batch softmax,
    /// summed over each batch's queries, unweighted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retrieval_loss: Option<f64>,
}

/// Keras-named ranking metrics, as `fit`'s history and `evaluate` report them.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, serde::Deserialize)]
pub struct Metrics {
    /// RMSE over all examples.
    pub root_mean_squared_error: f64,
    /// Mean squared error over all examples (TFRS's printed `loss` is the last batch's instead).
    pub loss: f64,
    /// Regularisation penalty (0 for the tutorial model).
    pub regularization_loss: f64,
    /// `loss + regularization_loss`.
    pub total_loss: f64,
    /// Examples seen.
    pub examples: u64,
}

impl From<RankingMetrics> for Metrics {
    fn from(m: RankingMetrics) -> Self {
        Metrics {
            root_mean_squared_error: m.root_mean_squared_error,
            loss: m.loss,
            regularization_loss: m.regularization_loss,
            total_loss: m.total_loss,
            examples: m.examples,
        }
    }
}

/// What `fit` returns: one report per epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// Per-epoch metrics, in order.
    pub epochs: Vec<EpochReport>,
}

/// The shuffle's seed, derived from the run's seed so that it is a different stream from the
/// one that initialised the weights.
pub fn shuffle_seed(seed: u64) -> u64 {
    seed ^ 0x9E37_79B9_7F4A_7C15
}

/// Carves a validation split out of `examples`: a seeded shuffle, then the first
/// `round(fraction · n)` examples validate and the rest train. Returns `(train, validation)`.
pub fn split_validation(
    examples: &Examples,
    fraction: f64,
    seed: u64,
) -> Result<(Examples, Examples)> {
    if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
        return Err(Error::Config {
            field: "validation-fraction",
            allowed: "a number in [0, 1)",
            value: fraction.to_string(),
        });
    }
    let mut order: Vec<usize> = (0..examples.len()).collect();
    // A stream of its own: not the weights' nor the training shuffle's.
    recsys_data::shuffle(&mut order, seed ^ 0x5EED_0F7A_11D8);
    let cut = (fraction * examples.len() as f64).round() as usize;
    Ok((
        examples.permuted(&order[cut..]),
        examples.permuted(&order[..cut]),
    ))
}
