//! The biased-MF training job: load, carve a validation split, train (BPMF or SGD), evaluate,
//! save — what `recsys train --preset best` runs.

use std::path::PathBuf;
use std::time::Instant;

use super::{DataSpec, JobObserver, Timings, TrainOutcome};
use crate::Result;
use crate::artifact::{self, TrainingRecord};
use crate::kinds::mf::{self, MfRecipe, MfTrainer};
use crate::train::{EpochReport, Examples, TrainConfig, TrainObserver};

/// A biased-MF training job.
#[derive(Debug, Clone)]
pub struct MfTrainJob {
    /// The data.
    pub data: DataSpec,
    /// Trainer, settings and validation share.
    pub recipe: MfRecipe,
    /// Save the trained model here.
    pub out: PathBuf,
}

impl MfRecipe {
    /// The seed of the recipe's trainer (it also seeds the MovieLens split and the validation
    /// split).
    pub fn seed(&self) -> u64 {
        match &self.trainer {
            MfTrainer::Bpmf(c) => c.seed,
            MfTrainer::Sgd(c) => c.seed,
        }
    }

    /// The fields a [`TrainConfig`] shares with this recipe, for the manifest's `config`.
    fn shared(&self) -> TrainConfig {
        let base = TrainConfig {
            seed: self.seed(),
            ..TrainConfig::default()
        };
        match &self.trainer {
            MfTrainer::Bpmf(c) => TrainConfig {
                epochs: c.burn_in + c.samples,
                ..base
            },
            MfTrainer::Sgd(c) => TrainConfig {
                epochs: c.epochs,
                batch_size: c.batch_size,
                optimizer: c.optimizer,
                learning_rate: c.learning_rate,
                ..base
            },
        }
    }
}

/// Passes reports on and keeps them.
pub(super) struct Recording<'a> {
    pub(super) inner: &'a mut dyn TrainObserver,
    pub(super) epochs: Vec<EpochReport>,
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
}

/// Checks the recipe, loads the data, holds out the validation share, trains, evaluates on
/// the test set if there is one, and saves the model (kind `biased_mf`).
pub fn train_mf_and_save(job: &MfTrainJob, observer: &mut dyn JobObserver) -> Result<TrainOutcome> {
    let recipe = &job.recipe;
    let seed = recipe.seed();
    // Check everything before reading any data.
    let trainer = match &recipe.trainer {
        MfTrainer::Bpmf(c) => Ok(c.clone().check()?),
        MfTrainer::Sgd(c) => Err(c.clone().check()?),
    };
    crate::train::split_validation(&Examples::default(), recipe.validation_fraction, seed)?;
    let clock = Instant::now();
    let super::LoadedData {
        train: all,
        test,
        users,
        titles,
        source,
    } = job.data.load(seed, observer)?;
    let load_seconds = clock.elapsed().as_secs_f64();
    let (n_users, n_titles) = (users.values().len(), titles.values().len());
    let (train, valid) = crate::train::split_validation(&all, recipe.validation_fraction, seed)?;
    let valid = (!valid.is_empty()).then_some(&valid);
    if let Some(v) = valid {
        observer.narrate(&format!(
            "Validation: {} of the {} training ratings held out (seed {seed})",
            v.len(),
            all.len()
        ));
    }
    let mut rec = Recording {
        inner: observer,
        epochs: Vec::new(),
    };
    let clock = Instant::now();
    let model = match &trainer {
        Ok(c) => mf::bpmf::fit_bpmf(users, titles, &train, valid, c, &mut rec)?,
        Err(c) => mf::sgd::fit_sgd(users, titles, &train, valid, c, &mut rec)?,
    };
    let fit_seconds = clock.elapsed().as_secs_f64();
    let epochs = rec.epochs;
    let clock = Instant::now();
    let test_metrics = if test.is_empty() {
        None
    } else {
        Some(mf::evaluate(&model, &test)?)
    };
    let evaluate_seconds = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let record = TrainingRecord {
        data: source,
        config: recipe.shared(),
        init_weights: None,
        epochs: epochs.clone(),
        test: test_metrics,
        recipe: Some(recipe.clone()),
        multitask: None,
        features: None,
    };
    artifact::save_mf(&model, Some(&record), &job.out)?;
    let seconds = [load_seconds, fit_seconds, evaluate_seconds];
    let params = model.num_parameters();
    let counts = [all.len(), test.len(), n_users, n_titles, params];
    let timings = Timings::rating_only(seconds, clock);
    Ok(outcome(epochs, test_metrics, &job.out, counts, timings))
}

impl Timings {
    /// A job without an initialisation phase: `[load, fit, evaluate]` seconds, and saving
    /// since `save_started`.
    pub(super) fn rating_only([load, fit, evaluate]: [f64; 3], save_started: Instant) -> Self {
        Timings {
            load_seconds: load,
            init_seconds: 0.0,
            fit_seconds: fit,
            evaluate_seconds: evaluate,
            save_seconds: save_started.elapsed().as_secs_f64(),
        }
    }
}

/// The outcome of a job without a retrieval task (biased MF, the feature model); `counts` are
/// the training and test examples, users, titles and parameters.
pub(super) fn outcome(
    epochs: Vec<EpochReport>,
    test: Option<crate::train::Metrics>,
    model_dir: &std::path::Path,
    [train_examples, test_examples, users, titles, parameters]: [usize; 5],
    timings: Timings,
) -> TrainOutcome {
    TrainOutcome {
        epochs,
        test,
        retrieval: None,
        model_dir: model_dir.to_owned(),
        train_examples,
        test_examples,
        users,
        titles,
        parameters,
        timings,
    }
}
