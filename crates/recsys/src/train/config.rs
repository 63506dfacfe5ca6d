//! Training hyperparameters, checked once into [`ValidTrainConfig`] before anything runs.

use recsys_engine::{Adagrad, Adam, Optimizer, Sgd};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Which optimizer to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// Keras Adagrad (the tutorial's choice).
    #[default]
    Adagrad,
    /// Keras Adam (lazy on embedding rows).
    Adam,
    /// Plain SGD.
    Sgd,
}

/// How the first dense layer is computed. Both give the same function (to float rounding);
/// the per-example path is the textbook computation, kept as the fast path's reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FirstLayer {
    /// `concat(user, movie) · W₁` as `user · W₁ᵤ + movie · W₁ₘ`, each term once per distinct id
    /// in the batch (about 7× fewer multiply-adds on MovieLens batches), the rest of the tower
    /// a tile of rows at a time. A lookup whose batch names most rows once (users, on a set
    /// with far more users than a batch has examples) is multiplied per example inside the
    /// tiles instead, where it costs the same arithmetic and no memory traffic.
    #[default]
    PerDistinctId,
    /// `concat(user, movie) · W₁`, one row per example.
    PerExample,
}

/// How to train, unchecked. Defaults are the TFRS ranking tutorial's recipe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Passes over the training data (tutorial: 3).
    pub epochs: usize,
    /// Examples per step (tutorial: 8192).
    pub batch_size: usize,
    /// The optimizer (tutorial: Adagrad).
    pub optimizer: OptimizerKind,
    /// Its learning rate (tutorial: 0.1).
    pub learning_rate: f32,
    /// Seeds weight initialisation and the shuffle (default 42).
    pub seed: u64,
    /// Shuffle the training examples once before batching (the tutorial's
    /// `shuffle().batch().cache()`); `false` keeps file order.
    pub shuffle: bool,
    /// How the first layer is computed (default: per distinct id).
    #[serde(default)]
    pub first_layer: FirstLayer,
    /// The learning rate is multiplied by this after every epoch (1: constant, the tutorial's).
    #[serde(default = "no_decay")]
    pub learning_rate_decay: f32,
    /// Fraction of the training examples held out (seeded) to validate each epoch on; 0: none.
    #[serde(default)]
    pub validation_fraction: f64,
    /// Stop after this many epochs without a better validation RMSE and keep the best epoch's
    /// weights (0: never stop early). Needs a validation fraction.
    #[serde(default)]
    pub patience: usize,
}

fn no_decay() -> f32 {
    1.0
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 3,
            batch_size: 8192,
            optimizer: OptimizerKind::Adagrad,
            learning_rate: 0.1,
            seed: 42,
            shuffle: true,
            first_layer: FirstLayer::PerDistinctId,
            learning_rate_decay: 1.0,
            validation_fraction: 0.0,
            patience: 0,
        }
    }
}

/// A [`TrainConfig`] whose every field has been checked; only this type reaches
/// [`fit`](super::fit).
#[derive(Debug, Clone, PartialEq)]
pub struct ValidTrainConfig(TrainConfig);

impl TrainConfig {
    /// Checks every field, naming the first that is out of range.
    pub fn check(self) -> Result<ValidTrainConfig> {
        if !(1..=1_000_000).contains(&self.epochs) {
            return Err(bad("epochs", "an integer from 1 to 1000000", self.epochs));
        }
        if !(1..=(1 << 24)).contains(&self.batch_size) {
            return Err(bad(
                "batch-size",
                "an integer from 1 to 16777216",
                self.batch_size,
            ));
        }
        if !(self.learning_rate.is_finite()
            && self.learning_rate > 0.0
            && self.learning_rate <= 100.0)
        {
            return Err(bad(
                "learning-rate",
                "a number in (0, 100]",
                self.learning_rate,
            ));
        }
        let decay = self.learning_rate_decay;
        if !(decay.is_finite() && decay > 0.0 && decay <= 1.0) {
            return Err(bad("learning-rate-decay", "a number in (0, 1]", decay));
        }
        let fraction = self.validation_fraction;
        if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
            return Err(bad("validation-fraction", "a number in [0, 1)", fraction));
        }
        if self.patience > 0 && fraction == 0.0 {
            return Err(bad(
                "patience",
                "0 unless --validation-fraction holds examples out",
                self.patience,
            ));
        }
        Ok(ValidTrainConfig(self))
    }
}

fn bad(field: &'static str, allowed: &'static str, value: impl ToString) -> Error {
    Error::Config {
        field,
        allowed,
        value: value.to_string(),
    }
}

impl ValidTrainConfig {
    /// The checked settings.
    pub fn get(&self) -> &TrainConfig {
        &self.0
    }

    /// The learning rate of epoch `epoch` (1-based): decayed once per epoch before it.
    pub fn learning_rate(&self, epoch: usize) -> f32 {
        let c = &self.0;
        c.learning_rate * c.learning_rate_decay.powi(epoch.saturating_sub(1) as i32)
    }

    /// The optimizer with Keras's default constants and this learning rate.
    pub fn optimizer(&self) -> Optimizer {
        let lr = self.0.learning_rate;
        match self.0.optimizer {
            OptimizerKind::Adagrad => Optimizer::Adagrad(Adagrad::keras(lr)),
            OptimizerKind::Adam => Optimizer::Adam(Adam::keras(lr)),
            OptimizerKind::Sgd => Optimizer::Sgd(Sgd { learning_rate: lr }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(cfg: TrainConfig) -> &'static str {
        match cfg.check() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_tutorial_and_pass() {
        let c = TrainConfig::default().check().unwrap();
        assert_eq!(c.get().batch_size, 8192);
        assert_eq!(c.optimizer(), Optimizer::Adagrad(Adagrad::keras(0.1)));
    }

    #[test]
    fn each_field_is_checked() {
        let d = TrainConfig::default;
        assert_eq!(field_of(TrainConfig { epochs: 0, ..d() }), "epochs");
        assert_eq!(
            field_of(TrainConfig {
                batch_size: 0,
                ..d()
            }),
            "batch-size"
        );
        assert_eq!(
            field_of(TrainConfig {
                learning_rate: f32::NAN,
                ..d()
            }),
            "learning-rate"
        );
        assert_eq!(
            field_of(TrainConfig {
                learning_rate: -1.0,
                ..d()
            }),
            "learning-rate"
        );
        let msg = TrainConfig { epochs: 0, ..d() }
            .check()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("epochs") && msg.contains("got 0"), "{msg}");
    }
}
