//! The training schedule every gradient-trained kind shares: how long, in what batches, with
//! which optimizer at what rate, from which seed, in what order, and when to stop — checked
//! once into [`ValidSchedule`] (linfa's habit) before anything runs.

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

/// In what order the training examples are visited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Shuffle {
    /// File (or split) order, every epoch (`--no-shuffle`).
    Off,
    /// Shuffled once, then the same order every epoch: the tutorial's
    /// `shuffle(100_000).batch(8192).cache()`.
    #[default]
    Once,
    /// Reshuffled before every epoch (Keras's `fit(shuffle=True)`).
    EachEpoch,
}

/// How to train, unchecked. Defaults are the TFRS ranking tutorial's recipe.
///
/// Every gradient-trained kind embeds one; the kind adds only what is its own (a model shape,
/// penalties, loss weights).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Most passes over the training data (tutorial: 3; early stopping may end sooner).
    pub epochs: usize,
    /// Examples per step (tutorial: 8192).
    pub batch_size: usize,
    /// The optimizer (tutorial: Adagrad).
    pub optimizer: OptimizerKind,
    /// Its learning rate in the first epoch (tutorial: 0.1).
    pub learning_rate: f32,
    /// The learning rate is multiplied by this after every epoch (1: constant, the tutorial's).
    pub learning_rate_decay: f32,
    /// Seeds the initial weights, the shuffles and the validation split (default 42).
    pub seed: u64,
    /// The order the examples are visited in (tutorial: shuffled once).
    pub shuffle: Shuffle,
    /// Share of the training examples held out (seeded) to validate each epoch on; 0: none.
    pub validation_fraction: f64,
    /// Stop after this many epochs without a better validation RMSE and keep the best epoch's
    /// weights (0: never stop early). Needs a validation fraction.
    pub patience: usize,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            epochs: 3,
            batch_size: 8192,
            optimizer: OptimizerKind::Adagrad,
            learning_rate: 0.1,
            learning_rate_decay: 1.0,
            seed: 42,
            shuffle: Shuffle::Once,
            validation_fraction: 0.0,
            patience: 0,
        }
    }
}

/// A [`Schedule`] whose every field has been checked; only this type reaches a kind's `fit`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidSchedule(Schedule);

impl Schedule {
    /// Checks every field, naming the first that is out of range (as the CLI flag spells it).
    pub fn check(self) -> Result<ValidSchedule> {
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
        check_fraction(self.validation_fraction)?;
        if self.patience > 0 && self.validation_fraction == 0.0 {
            return Err(bad(
                "patience",
                "0 unless --validation-fraction holds examples out",
                self.patience,
            ));
        }
        Ok(ValidSchedule(self))
    }
}

/// Checks a validation share: in `[0, 1)`.
pub(crate) fn check_fraction(fraction: f64) -> Result<()> {
    if !(fraction.is_finite() && (0.0..1.0).contains(&fraction)) {
        return Err(bad("validation-fraction", "a number in [0, 1)", fraction));
    }
    Ok(())
}

fn bad(field: &'static str, allowed: &'static str, value: impl ToString) -> Error {
    Error::Config {
        field,
        allowed,
        value: value.to_string(),
    }
}

impl ValidSchedule {
    /// The checked settings.
    pub fn get(&self) -> &Schedule {
        &self.0
    }

    /// The learning rate of epoch `epoch` (1-based): decayed once per epoch before it.
    pub fn learning_rate(&self, epoch: usize) -> f32 {
        let c = &self.0;
        c.learning_rate * c.learning_rate_decay.powi(epoch.saturating_sub(1) as i32)
    }

    /// The seed to reshuffle the training data with before epoch `epoch`, if the schedule's
    /// [`Shuffle`] reorders it then.
    pub fn shuffle_seed_before(&self, epoch: usize) -> Option<u64> {
        self.0.shuffle.seed_before(self.0.seed, epoch)
    }

    /// The optimizer with Keras's default constants and the first epoch's learning rate.
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

    fn field_of(cfg: Schedule) -> &'static str {
        match cfg.check() {
            Err(Error::Config { field, .. }) => field,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults_are_the_tutorial_and_pass() {
        let c = Schedule::default().check().unwrap();
        assert_eq!(c.get().batch_size, 8192);
        assert_eq!(c.optimizer(), Optimizer::Adagrad(Adagrad::keras(0.1)));
    }

    #[test]
    fn each_field_is_checked() {
        let d = Schedule::default;
        assert_eq!(field_of(Schedule { epochs: 0, ..d() }), "epochs");
        assert_eq!(
            field_of(Schedule {
                batch_size: 0,
                ..d()
            }),
            "batch-size"
        );
        assert_eq!(
            field_of(Schedule {
                learning_rate: f32::NAN,
                ..d()
            }),
            "learning-rate"
        );
        assert_eq!(
            field_of(Schedule {
                learning_rate: -1.0,
                ..d()
            }),
            "learning-rate"
        );
        let msg = Schedule { epochs: 0, ..d() }
            .check()
            .unwrap_err()
            .to_string();
        assert!(msg.contains("epochs") && msg.contains("got 0"), "{msg}");
    }
}
