//! What every kind's training shares: the examples, the [`Schedule`], the one epoch loop
//! (`epochs`), progress reports with Keras's metric names, the validation split and early
//! stopping.

mod early_stop;
mod epochs;
mod schedule;

pub use recsys_data::Examples;
use recsys_engine::RankingMetrics;
use serde::{Deserialize, Serialize};

pub(crate) use early_stop::BestEpoch;
pub(crate) use epochs::{Trainer, run_epochs};
pub(crate) use schedule::check_fraction;
pub use schedule::{OptimizerKind, Schedule, Shuffle, ValidSchedule};

use crate::Result;

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
    /// A step of the job begins; `what` says what happens (the CLI prints it).
    fn narrate(&mut self, _what: &str) {}
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

/// Top-K categorical accuracy at one cut-off (TFRS's
/// `factorized_top_k/top_{k}_categorical_accuracy`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopKAccuracy {
    /// The cut-off.
    pub k: usize,
    /// Share of (user, movie) pairs whose movie ranks within the top `k` of the catalogue.
    pub accuracy: f64,
}

/// The retrieval task's evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Mean over evaluation batches of the in-batch softmax loss (unweighted).
    pub loss: f64,
    /// Top-K accuracy over the whole catalogue at TFRS's cut-offs 1, 5, 10, 50, 100.
    pub factorized_top_k: Vec<TopKAccuracy>,
    /// Movies in the catalogue (every title of the vocabulary; not the out-of-vocabulary row).
    pub candidates: usize,
}

impl RetrievalReport {
    /// The accuracy at cut-off `k`, if it was measured.
    pub fn top(&self, k: usize) -> Option<f64> {
        self.factorized_top_k
            .iter()
            .find(|t| t.k == k)
            .map(|t| t.accuracy)
    }
}

impl EpochReport {
    /// An epoch's report from its task's `metrics` and the penalty summed over its `examples`
    /// (reported per example as `regularization_loss`, added into `total_loss`); validation
    /// unset.
    pub(crate) fn penalized(
        epoch: usize,
        seconds: f64,
        metrics: RankingMetrics,
        penalty: f64,
        examples: usize,
    ) -> Self {
        let mut metrics: Metrics = metrics.into();
        metrics.regularization_loss = penalty / examples.max(1) as f64;
        metrics.total_loss = metrics.loss + metrics.regularization_loss;
        EpochReport {
            epoch,
            metrics,
            seconds,
            validation: None,
            retrieval_loss: None,
        }
    }
}

/// What `fit` returns: one report per epoch.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct History {
    /// Per-epoch metrics, in order.
    pub epochs: Vec<EpochReport>,
}

impl Shuffle {
    /// The seed to shuffle the training data with before epoch `epoch` (1-based), if this
    /// policy reorders it then: once, before the first epoch, with the run's shuffle stream;
    /// or before every epoch, each from a stream of its own (applied to the previous order).
    pub fn seed_before(self, seed: u64, epoch: usize) -> Option<u64> {
        match self {
            Shuffle::Off => None,
            Shuffle::Once => (epoch == 1).then(|| shuffle_seed(seed)),
            Shuffle::EachEpoch => Some(shuffle_seed(seed) ^ epoch as u64),
        }
    }
}

/// Says how many of the `total` training ratings validate, when some do.
pub(crate) fn narrate_validation(
    observer: &mut dyn TrainObserver,
    validation: Option<&Examples>,
    total: usize,
    seed: u64,
) {
    if let Some(v) = validation {
        observer.narrate(&format!(
            "Validation: {} of the {total} training ratings held out (seed {seed})",
            v.len()
        ));
    }
}

/// Passes reports on and keeps them (the sampler reports its sweeps as epochs).
pub(crate) struct Recording<'a> {
    pub(crate) inner: &'a mut dyn TrainObserver,
    pub(crate) epochs: Vec<EpochReport>,
}

impl TrainObserver for Recording<'_> {
    fn epoch_begin(&mut self, epoch: usize, epochs: usize, steps: usize) {
        self.inner.epoch_begin(epoch, epochs, steps)
    }
    fn step_end(&mut self, step: usize, loss: f32) {
        self.inner.step_end(step, loss)
    }
    fn epoch_end(&mut self, epoch: usize, report: &EpochReport) {
        self.epochs.push(*report);
        self.inner.epoch_end(epoch, report)
    }
    fn narrate(&mut self, what: &str) {
        self.inner.narrate(what)
    }
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
    check_fraction(fraction)?;
    let mut order: Vec<usize> = (0..examples.len()).collect();
    // A stream of its own: not the weights' nor the training shuffle's.
    recsys_data::shuffle(&mut order, seed ^ 0x5EED_0F7A_11D8);
    let cut = (fraction * examples.len() as f64).round() as usize;
    Ok((
        examples.permuted(&order[cut..]),
        examples.permuted(&order[..cut]),
    ))
}

/// The schedule's validation split of `examples`: `(examples, None)` when it holds none out
/// (the examples keep their order), else [`split_validation`]'s two parts — the validation
/// part `None` when the share rounds to no example at all.
pub(crate) fn hold_out<'a>(
    examples: std::borrow::Cow<'a, Examples>,
    schedule: &ValidSchedule,
) -> Result<(std::borrow::Cow<'a, Examples>, Option<Examples>)> {
    let s = schedule.get();
    if s.validation_fraction == 0.0 {
        return Ok((examples, None));
    }
    let (train, valid) = split_validation(&examples, s.validation_fraction, s.seed)?;
    Ok((
        std::borrow::Cow::Owned(train),
        (!valid.is_empty()).then_some(valid),
    ))
}
