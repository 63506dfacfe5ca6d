//! Biased MF trained by gradient descent: the engine's
//! [`BiasedDot`](recsys_engine::BiasedDot) layer, MSE through [`RankingTask`], per-lookup
//! [`L2`] penalties, sparse row updates by any of the engine's optimizers, on the schedule
//! every kind shares (a per-epoch learning-rate decay, early stopping on a validation split),
//! through the one epoch loop.
//!
//! With batch 1, plain SGD, `factor_l2 = bias_l2 = λ` and no decay this is Funk's SGD as
//! Surprise's `SVD` runs it (Koren, Bell & Volinsky 2009, eq. 5–6); the MSE's gradient carries
//! a factor 2 that Surprise folds into its learning rate.

use recsys_engine::gibbs::SampleRng;
use recsys_engine::{BiasedDotGrads, Embedding, L2, Optimizer, RankingTask, SparseGrad};
use serde::{Deserialize, Serialize};

use super::{BiasedMf, BiasedMfConfig, evaluate};
use crate::train::{
    EpochReport, Examples, History, Metrics, OptimizerKind, Schedule, Shuffle, TrainObserver,
    Trainer, ValidSchedule, run_epochs,
};
use crate::{Error, Result};

/// How to train by gradient descent, unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfSgdConfig {
    /// Width of the factor vectors.
    pub factors: usize,
    /// L2 coefficient on the factor rows each example looks up.
    pub factor_l2: f32,
    /// L2 coefficient on the biases each example looks up.
    pub bias_l2: f32,
    /// Standard deviation of the factors' normal initialisation.
    pub init_std: f32,
    /// Epochs, batches, optimizer, learning rate and its decay, seed, validation split and
    /// early stopping.
    pub schedule: Schedule,
}

impl Default for MfSgdConfig {
    fn default() -> Self {
        MfSgdConfig {
            factors: 100,
            factor_l2: 0.15,
            bias_l2: 0.02,
            init_std: 0.1,
            schedule: Schedule {
                epochs: 60,
                batch_size: 1,
                optimizer: OptimizerKind::Sgd,
                learning_rate: 0.005,
                learning_rate_decay: 0.96,
                seed: 42,
                shuffle: Shuffle::Once,
                validation_fraction: 0.1,
                patience: 3,
            },
        }
    }
}

/// An [`MfSgdConfig`] whose every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMfSgdConfig {
    config: MfSgdConfig,
    schedule: ValidSchedule,
}

impl MfSgdConfig {
    /// Checks every field, naming the first out of range (as the CLI flag spells it).
    pub fn check(self) -> Result<ValidMfSgdConfig> {
        let schedule = self.schedule.clone().check()?;
        BiasedMfConfig {
            factors: self.factors,
            clip: None,
        }
        .check()?;
        let bad = |field, allowed, value: f32| {
            Err(Error::Config {
                field,
                allowed,
                value: value.to_string(),
            })
        };
        for (field, v) in [("factor-l2", self.factor_l2), ("bias-l2", self.bias_l2)] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return bad(field, "a number in [0, 100]", v);
            }
        }
        if !(self.init_std.is_finite() && (0.0..=10.0).contains(&self.init_std)) {
            return bad("init-std", "a number in [0, 10]", self.init_std);
        }
        Ok(ValidMfSgdConfig {
            config: self,
            schedule,
        })
    }
}

impl ValidMfSgdConfig {
    /// The checked settings.
    pub fn get(&self) -> &MfSgdConfig {
        &self.config
    }

    /// The checked schedule.
    pub fn schedule(&self) -> &ValidSchedule {
        &self.schedule
    }
}

/// Trains a biased MF on `train` (its global bias fixed at the training mean, predictions
/// clamped to the training ratings' range), reporting each epoch to `observer`. With
/// `validation`, each epoch is also evaluated on it and, with a `patience`, training stops when
/// it stops improving and the best epoch's weights are returned.
pub fn fit_sgd(
    users: recsys_data::Vocabulary,
    titles: recsys_data::Vocabulary,
    train: Examples,
    validation: Option<&Examples>,
    config: &ValidMfSgdConfig,
    observer: &mut dyn TrainObserver,
) -> Result<(BiasedMf, History)> {
    let cfg = config.get();
    if train.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    let clip = super::rating_range(&train);
    let factors = cfg.factors;
    let mut model = BiasedMf::zeros(BiasedMfConfig { factors, clip }, users, titles)?;
    model.global_bias = super::mean_rating(&train);
    let mut rng = SampleRng::new(cfg.schedule.seed);
    for t in [&mut model.user_factors, &mut model.item_factors] {
        t.table
            .iter_mut()
            .for_each(|w| *w = cfg.init_std * rng.normal() as f32);
    }
    let mut trainer = SgdTrainer {
        state: SgdState::new(&model, cfg, config.schedule.optimizer()),
        data: train,
        validation,
        config,
    };
    let history = run_epochs(&mut model, &mut trainer, &config.schedule, observer)?;
    Ok((model, history))
}

/// Biased MF's side of the epoch loop.
struct SgdTrainer<'a> {
    state: SgdState,
    data: Examples,
    validation: Option<&'a Examples>,
    config: &'a ValidMfSgdConfig,
}

impl Trainer<BiasedMf> for SgdTrainer<'_> {
    fn examples(&self) -> usize {
        self.data.len()
    }

    fn begin_epoch(&mut self, epoch: usize, learning_rate: f32) {
        self.state.optimizer = self.state.optimizer.with_learning_rate(learning_rate);
        self.state.task.reset();
        self.state.penalty = 0.0;
        if let Some(seed) = self.config.schedule.shuffle_seed_before(epoch) {
            self.data.shuffle(seed);
        }
    }

    fn run_batches(
        &mut self,
        model: &mut BiasedMf,
        on_step: &mut dyn FnMut(f32, f64) -> Result<()>,
    ) -> Result<()> {
        self.state
            .epoch(model, &self.data, self.config.get(), on_step)
    }

    fn report(&self, epoch: usize, seconds: f64) -> EpochReport {
        let metrics = self.state.task.metrics();
        EpochReport::penalized(epoch, seconds, metrics, self.state.penalty, self.data.len())
    }

    fn validate(&mut self, model: &BiasedMf) -> Result<Option<Metrics>> {
        self.validation.map(|v| evaluate(model, v)).transpose()
    }
}

/// Buffers, sparse gradients and optimizer state, allocated once.
struct SgdState {
    optimizer: Optimizer,
    task: RankingTask,
    pred: Vec<f32>,
    d_out: Vec<f32>,
    grads: BiasedDotGrads,
    /// Sparse gradients and slots of user factors, item factors, user bias, item bias.
    sparse: [(SparseGrad, recsys_engine::Slots); 4],
    step: u64,
    /// The epoch's L2 penalty, summed over its examples.
    penalty: f64,
}

impl SgdState {
    fn new(model: &BiasedMf, cfg: &MfSgdConfig, optimizer: Optimizer) -> Self {
        let b = cfg.schedule.batch_size;
        let entry = |t: &Embedding| {
            (
                SparseGrad::new(t.rows, t.dim, b),
                optimizer.slots(t.table.len()),
            )
        };
        SgdState {
            optimizer,
            task: RankingTask::default(),
            pred: vec![0.0; b],
            d_out: vec![0.0; b],
            grads: BiasedDotGrads::new(b, cfg.factors),
            sparse: [
                entry(&model.user_factors),
                entry(&model.item_factors),
                entry(&model.user_bias),
                entry(&model.item_bias),
            ],
            step: 0,
            penalty: 0.0,
        }
    }

    /// One pass over `data`, each batch's loss and penalty handed to `on_step` before its
    /// update; the epoch's penalty is summed in `self.penalty`.
    fn epoch(
        &mut self,
        model: &mut BiasedMf,
        data: &Examples,
        cfg: &MfSgdConfig,
        on_step: &mut dyn FnMut(f32, f64) -> Result<()>,
    ) -> Result<()> {
        let (factor_l2, bias_l2) = (
            L2 {
                weight: cfg.factor_l2,
            },
            L2 {
                weight: cfg.bias_l2,
            },
        );
        for (users, items, ratings) in data.batches(cfg.schedule.batch_size) {
            let n = users.len();
            let layer = model.layer();
            layer.forward(users, items, &mut self.pred[..n]);
            let loss = self
                .task
                .compute(&self.pred[..n], ratings, &mut self.d_out[..n]);
            layer.backward(users, items, &self.d_out[..n], &mut self.grads);
            let scale = 1.0 / n as f32;
            let g = &mut self.grads;
            let batch_penalty =
                factor_l2.apply(&model.user_factors, users, scale, &mut g.user_factors)
                    + factor_l2.apply(&model.item_factors, items, scale, &mut g.item_factors)
                    + bias_l2.apply(&model.user_bias, users, scale, &mut g.user_bias)
                    + bias_l2.apply(&model.item_bias, items, scale, &mut g.item_bias);
            self.penalty += batch_penalty * n as f64;
            on_step(loss, batch_penalty)?;
            self.step += 1;
            let tables = [
                (&mut model.user_factors, users, &g.user_factors),
                (&mut model.item_factors, items, &g.item_factors),
                (&mut model.user_bias, users, &g.user_bias),
                (&mut model.item_bias, items, &g.item_bias),
            ];
            for ((table, ids, grad), (sparse, slots)) in tables.into_iter().zip(&mut self.sparse) {
                sparse.accumulate(ids, grad, table.dim, 0);
                self.optimizer
                    .update_sparse(self.step, &mut table.table, sparse, slots);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
