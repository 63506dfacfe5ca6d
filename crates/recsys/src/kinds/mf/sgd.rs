//! Biased MF trained by gradient descent: the engine's [`BiasedDot`] layer, MSE through
//! [`RankingTask`], per-lookup [`L2`] penalties, sparse row updates by any of the engine's
//! optimizers, a per-epoch learning-rate decay, and early stopping on a validation split.
//!
//! With batch 1, plain SGD, `factor_l2 = bias_l2 = λ` and no decay this is Funk's SGD as
//! Surprise's `SVD` runs it (Koren, Bell & Volinsky 2009, eq. 5–6); the MSE's gradient carries
//! a factor 2 that Surprise folds into its learning rate.

use std::time::Instant;

use recsys_engine::gibbs::SampleRng;
use recsys_engine::{BiasedDotGrads, Embedding, L2, Optimizer, RankingTask, SparseGrad};
use serde::{Deserialize, Serialize};

use super::{BiasedMf, BiasedMfConfig, evaluate};
use crate::train::{BestEpoch, Examples, Metrics, OptimizerKind, TrainConfig, TrainObserver};
use crate::{Error, Result};

/// How to train by gradient descent, unchecked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MfSgdConfig {
    /// Width of the factor vectors.
    pub factors: usize,
    /// Most passes over the training data (early stopping may end sooner).
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// The optimizer.
    pub optimizer: OptimizerKind,
    /// Its learning rate in the first epoch.
    pub learning_rate: f32,
    /// The learning rate is multiplied by this after each epoch (1: constant).
    pub learning_rate_decay: f32,
    /// L2 coefficient on the factor rows each example looks up.
    pub factor_l2: f32,
    /// L2 coefficient on the biases each example looks up.
    pub bias_l2: f32,
    /// Standard deviation of the factors' normal initialisation.
    pub init_std: f32,
    /// Stop after this many epochs without a better validation RMSE, keeping the best epoch's
    /// weights (0: never stop early).
    pub patience: usize,
    /// Seeds the initialisation and the shuffle.
    pub seed: u64,
}

impl Default for MfSgdConfig {
    fn default() -> Self {
        MfSgdConfig {
            factors: 100,
            epochs: 60,
            batch_size: 1,
            optimizer: OptimizerKind::Sgd,
            learning_rate: 0.005,
            learning_rate_decay: 0.96,
            factor_l2: 0.15,
            bias_l2: 0.02,
            init_std: 0.1,
            patience: 3,
            seed: 42,
        }
    }
}

/// An [`MfSgdConfig`] whose every field has been checked.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidMfSgdConfig(MfSgdConfig);

impl MfSgdConfig {
    /// Checks every field, naming the first out of range (as the CLI flag spells it). The
    /// shared ones (epochs, batch size, learning rate) are checked as [`TrainConfig`] checks them.
    pub fn check(self) -> Result<ValidMfSgdConfig> {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            ..TrainConfig::default()
        }
        .check()?;
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
        let d = self.learning_rate_decay;
        if !(d.is_finite() && d > 0.0 && d <= 1.0) {
            return bad("learning-rate-decay", "a number in (0, 1]", d);
        }
        for (field, v) in [("factor-l2", self.factor_l2), ("bias-l2", self.bias_l2)] {
            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                return bad(field, "a number in [0, 100]", v);
            }
        }
        if !(self.init_std.is_finite() && (0.0..=10.0).contains(&self.init_std)) {
            return bad("init-std", "a number in [0, 10]", self.init_std);
        }
        Ok(ValidMfSgdConfig(self))
    }
}

impl ValidMfSgdConfig {
    /// The checked settings.
    pub fn get(&self) -> &MfSgdConfig {
        &self.0
    }

    /// The optimizer for epoch `epoch` (1-based), its learning rate decayed.
    fn optimizer(&self, epoch: usize) -> Optimizer {
        let c = &self.0;
        let lr = c.learning_rate * c.learning_rate_decay.powi(epoch as i32 - 1);
        let mut opt = TrainConfig {
            optimizer: c.optimizer,
            learning_rate: c.learning_rate,
            ..TrainConfig::default()
        }
        .check()
        .expect("checked in MfSgdConfig::check")
        .optimizer();
        match &mut opt {
            Optimizer::Sgd(o) => o.learning_rate = lr,
            Optimizer::Adagrad(o) => o.learning_rate = lr,
            Optimizer::Adam(o) => o.learning_rate = lr,
        }
        opt
    }
}

/// Trains a biased MF on `train` (its global bias fixed at the training mean, predictions
/// clamped to the training ratings' range), reporting each epoch to `observer`. With
/// `validation`, each epoch is also evaluated on it and, with a `patience`, training stops when
/// it stops improving and the best epoch's weights are returned.
pub fn fit_sgd(
    users: recsys_data::Vocabulary,
    titles: recsys_data::Vocabulary,
    train: &Examples,
    validation: Option<&Examples>,
    config: &ValidMfSgdConfig,
    observer: &mut dyn TrainObserver,
) -> Result<BiasedMf> {
    let cfg = config.get();
    if train.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    let clip = super::rating_range(train);
    let factors = cfg.factors;
    let mut model = BiasedMf::zeros(BiasedMfConfig { factors, clip }, users, titles)?;
    model.global_bias = super::mean_rating(train);
    let mut rng = SampleRng::new(cfg.seed);
    for t in [&mut model.user_factors, &mut model.item_factors] {
        t.table
            .iter_mut()
            .for_each(|w| *w = cfg.init_std * rng.normal() as f32);
    }
    let mut order: Vec<usize> = (0..train.len()).collect();
    recsys_data::shuffle(&mut order, crate::train::shuffle_seed(cfg.seed));
    let data = train.permuted(&order);
    let mut state = SgdState::new(&model, cfg, config.optimizer(1));
    let mut best = BestEpoch::new(cfg.patience);
    let steps = data.len().div_ceil(cfg.batch_size);
    for epoch in 1..=cfg.epochs {
        observer.epoch_begin(epoch, cfg.epochs, steps);
        let start = Instant::now();
        state.optimizer = config.optimizer(epoch);
        let metrics = state.epoch(&mut model, &data, cfg, epoch, observer)?;
        let val = validation.map(|v| evaluate(&model, v)).transpose()?;
        if best.end_epoch(observer, epoch, (metrics, val), start, &model) {
            break;
        }
    }
    Ok(match best.into_best() {
        Some(m) if cfg.patience > 0 => m,
        _ => model,
    })
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
}

impl SgdState {
    fn new(model: &BiasedMf, cfg: &MfSgdConfig, optimizer: Optimizer) -> Self {
        let b = cfg.batch_size;
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
        }
    }

    /// One pass over `data`; returns the epoch's metrics (L2 penalty included).
    fn epoch(
        &mut self,
        model: &mut BiasedMf,
        data: &Examples,
        cfg: &MfSgdConfig,
        epoch: usize,
        observer: &mut dyn TrainObserver,
    ) -> Result<Metrics> {
        self.task.reset();
        let (factor_l2, bias_l2) = (
            L2 {
                weight: cfg.factor_l2,
            },
            L2 {
                weight: cfg.bias_l2,
            },
        );
        let mut penalty = 0.0f64;
        for (s, start) in (0..data.len()).step_by(cfg.batch_size).enumerate() {
            let r = start..(start + cfg.batch_size).min(data.len());
            let (users, items, ratings) = (
                &data.users[r.clone()],
                &data.titles[r.clone()],
                &data.ratings[r],
            );
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
            penalty += batch_penalty * n as f64;
            if !(loss.is_finite() && batch_penalty.is_finite()) {
                return Err(Error::Diverged {
                    epoch,
                    step: s + 1,
                    loss,
                });
            }
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
            observer.step_end(s + 1, loss);
        }
        let mut m: Metrics = self.task.metrics().into();
        m.regularization_loss = penalty / data.len() as f64;
        m.total_loss = m.loss + m.regularization_loss;
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
