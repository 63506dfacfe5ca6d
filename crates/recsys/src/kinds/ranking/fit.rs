//! Training and evaluating the ranking model: Keras's `fit` and `evaluate`.
//!
//! The data order follows the tutorial's `train.shuffle(100_000).batch(8192).cache()`: the
//! examples are shuffled once (unless `shuffle` is off), cut into batches, and the same batches
//! are replayed every epoch. RMSE accumulates over the epoch from the predictions made before
//! each step's update, exactly as Keras reports it.

use std::time::Instant;

use recsys_data::{RowMap, Spool};

use super::RankingModel;
use super::step::{Predictor, Step};
use crate::train::{
    BestEpoch, EpochReport, Examples, History, Metrics, TrainObserver, ValidTrainConfig,
};
use crate::{Error, Result};

/// Trains `model` on `train` as configured, reporting to `observer`.
///
/// Errors on an empty training set and when the loss stops being finite (divergence). With
/// `shuffle` on, this trains on a shuffled copy; [`fit_owned`] shuffles in place instead.
pub fn fit(
    model: &mut RankingModel,
    train: &Examples,
    config: &ValidTrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    if config.get().shuffle {
        return fit_owned(model, train.clone(), config, observer);
    }
    fit_in_order(model, train, config, observer)
}

/// [`fit`] on examples it may reorder: the same training, without the shuffled copy (12 bytes
/// an example) that [`fit`] makes.
pub fn fit_owned(
    model: &mut RankingModel,
    mut train: Examples,
    config: &ValidTrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    train.shuffle_if(config.get());
    fit_in_order(model, &train, config, observer)
}

/// [`fit`] on `data` in the order given.
fn fit_in_order(
    model: &mut RankingModel,
    data: &Examples,
    config: &ValidTrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let first_layer = config.get().first_layer;
    let make =
        |model: &RankingModel, batch| Step::new(model, batch, config.optimizer(), first_layer);
    fit_steps(model, data, config, make, observer)
}

/// One kind of training step over the ranking model's tables: the ranking model's own, or a
/// multitask model's (which adds the retrieval task).
pub(crate) trait Stepper {
    /// Forward and backward over one batch; returns the batch's total loss.
    fn gradients(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
        y: &[f32],
    ) -> Result<f32>;
    /// Applies the last batch's gradients.
    fn apply(&mut self, model: &mut RankingModel);
    /// Sets the optimizer's learning rate for the steps that follow (a schedule's epoch).
    fn set_learning_rate(&mut self, learning_rate: f32);
    /// Forgets the metrics of the previous epoch.
    fn reset(&mut self);
    /// The epoch's metrics so far, as an [`EpochReport`] of `seconds`.
    fn report(&self, epoch: usize, seconds: f64) -> EpochReport;
}

impl Stepper for Step {
    fn gradients(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
        y: &[f32],
    ) -> Result<f32> {
        Ok(Step::gradients(self, model, users, titles, y))
    }
    fn apply(&mut self, model: &mut RankingModel) {
        Step::apply(self, model)
    }
    fn set_learning_rate(&mut self, learning_rate: f32) {
        Step::set_learning_rate(self, learning_rate)
    }
    fn reset(&mut self) {
        self.task.reset()
    }
    fn report(&self, epoch: usize, seconds: f64) -> EpochReport {
        EpochReport {
            epoch,
            metrics: self.task.metrics().into(),
            seconds,
            validation: None,
            retrieval_loss: None,
        }
    }
}

/// Trains on `data` in the order given with the steps `make(model, batch)` builds, on a
/// thread pool of its own.
pub(crate) fn fit_steps<S: Stepper + Send>(
    model: &mut RankingModel,
    data: &Examples,
    config: &ValidTrainConfig,
    make: impl FnOnce(&RankingModel, usize) -> S,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let cfg = config.get();
    if data.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    let held_out;
    let (data, validation) = if cfg.validation_fraction > 0.0 {
        held_out = crate::train::split_validation(data, cfg.validation_fraction, cfg.seed)?;
        if held_out.0.is_empty() || held_out.1.is_empty() {
            return Err(Error::InvalidInput(format!(
                "--validation-fraction {} leaves {} training and {} validation examples",
                cfg.validation_fraction,
                held_out.0.len(),
                held_out.1.len()
            )));
        }
        (&held_out.0, Some(&held_out.1))
    } else {
        (data, None)
    };
    run_epochs(
        model,
        TrainBatches::Memory(data),
        validation,
        config,
        make,
        observer,
    )
}

/// Trains `model` on a [`Spool`] of examples (`recsys train --stream`), read back a batch at
/// a time every epoch in the spool's order; `map` maps the spool's ids to the model's rows.
/// Memory holds the model and one batch, whatever the number of examples.
///
/// Errors like [`fit`], and when the configuration holds out a validation split (which would
/// need the examples in memory).
pub fn fit_spooled(
    model: &mut RankingModel,
    train: &mut Spool,
    map: &RowMap,
    config: &ValidTrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    if train.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    if config.get().validation_fraction > 0.0 {
        return Err(Error::InvalidInput(
            "--validation-fraction needs the examples in memory; it cannot be used with --stream"
                .into(),
        ));
    }
    let first_layer = config.get().first_layer;
    let make =
        |model: &RankingModel, batch| Step::new(model, batch, config.optimizer(), first_layer);
    let data = TrainBatches::Spooled { spool: train, map };
    run_epochs(model, data, None, config, make, observer)
}

/// The epochs of a fit over `data`, with the steps `make(model, batch)` builds, on a thread
/// pool of its own.
fn run_epochs<S: Stepper + Send>(
    model: &mut RankingModel,
    data: TrainBatches<'_>,
    validation: Option<&Examples>,
    config: &ValidTrainConfig,
    make: impl FnOnce(&RankingModel, usize) -> S,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let batch = config.get().batch_size.min(data.len()).max(1);
    let mut step = make(model, batch);
    // The loop runs on a worker of a pool of its own, so the elementwise work it splits across
    // cores (`rayon::join`) stays on the workers' stacks and allocates nothing per step.
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("recsys-train-{i}"))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot start training threads: {e}")))?;
    let mut epochs = Epochs {
        data,
        validation,
        batch,
        config,
    };
    pool.install(|| epochs.run(model, &mut step, observer))
}

/// Where an epoch's (or an evaluation's) batches come from, in the same order every time.
enum TrainBatches<'a> {
    /// Examples in memory, cut into consecutive batches.
    Memory(&'a Examples),
    /// A spool read back from its start, ids mapped to rows on the way.
    Spooled {
        spool: &'a mut Spool,
        map: &'a RowMap,
    },
}

impl TrainBatches<'_> {
    fn len(&self) -> usize {
        match self {
            TrainBatches::Memory(data) => data.len(),
            TrainBatches::Spooled { spool, .. } => spool.len(),
        }
    }

    /// Hands every batch of `size` (the last one ragged) to `f(users, titles, ratings)`.
    fn for_each(
        &mut self,
        size: usize,
        mut f: impl FnMut(&[u32], &[u32], &[f32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            TrainBatches::Memory(data) => data.batches(size).try_for_each(|(u, t, y)| f(u, t, y)),
            TrainBatches::Spooled { spool, map } => spool.for_each_batch(map, size, f),
        }
    }
}

/// What [`run_epochs`] loops over: the training batches, the validation split if any, and the
/// schedule.
struct Epochs<'a> {
    data: TrainBatches<'a>,
    validation: Option<&'a Examples>,
    batch: usize,
    config: &'a ValidTrainConfig,
}

impl Epochs<'_> {
    /// The epochs of [`fit`], on the training pool: each at its scheduled learning rate, each
    /// validated when a split is held out, stopping early (and keeping the best epoch's
    /// weights) when the validation RMSE stops improving for `patience` epochs.
    fn run(
        &mut self,
        model: &mut RankingModel,
        step: &mut (impl Stepper + Send),
        observer: &mut dyn TrainObserver,
    ) -> Result<History> {
        let epochs = self.config.get().epochs;
        let mut history = History {
            epochs: Vec::with_capacity(epochs),
        };
        let patience = self.config.get().patience;
        let mut best = BestEpoch::new(patience);
        for epoch in 1..=epochs {
            step.set_learning_rate(self.config.learning_rate(epoch));
            let mut report = self.epoch(model, step, epoch, observer)?;
            report.validation = match self.validation {
                Some(v) => Some(evaluate(model, v, self.batch)?),
                None => None,
            };
            observer.epoch_end(epoch, &report);
            history.epochs.push(report);
            if let Some(v) = report.validation
                && best.record(v.root_mean_squared_error, model)
            {
                break;
            }
        }
        if let Some(best) = best.into_best().filter(|_| patience > 0) {
            *model = best;
        }
        Ok(history)
    }

    /// One pass over the batches; errors when the loss stops being finite.
    fn epoch(
        &mut self,
        model: &mut RankingModel,
        step: &mut (impl Stepper + Send),
        epoch: usize,
        observer: &mut dyn TrainObserver,
    ) -> Result<EpochReport> {
        let batch = self.batch;
        let steps = self.data.len().div_ceil(batch);
        observer.epoch_begin(epoch, self.config.get().epochs, steps);
        let start = Instant::now();
        step.reset();
        let mut s = 0;
        self.data.for_each(batch, |users, titles, ratings| {
            s += 1;
            let loss = step.gradients(model, users, titles, ratings)?;
            if !loss.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    step: s,
                    loss,
                });
            }
            step.apply(model);
            observer.step_end(s, loss);
            Ok(())
        })?;
        Ok(step.report(epoch, start.elapsed().as_secs_f64()))
    }
}

/// Keras's `evaluate`: the metrics of `model` on `test`, in batches of `batch_size`.
pub fn evaluate(model: &RankingModel, test: &Examples, batch_size: usize) -> Result<Metrics> {
    evaluate_batches(model, TrainBatches::Memory(test), batch_size)
}

/// [`evaluate`] on a [`Spool`] of test examples, read a batch at a time (`--stream`).
pub fn evaluate_spooled(
    model: &RankingModel,
    test: &mut Spool,
    map: &RowMap,
    batch_size: usize,
) -> Result<Metrics> {
    let test = TrainBatches::Spooled { spool: test, map };
    evaluate_batches(model, test, batch_size)
}

/// The metrics of `model` over every batch of `test`, in batches of `batch_size`.
fn evaluate_batches(
    model: &RankingModel,
    mut test: TrainBatches<'_>,
    batch_size: usize,
) -> Result<Metrics> {
    if test.len() == 0 {
        return Err(Error::InvalidInput("no evaluation examples".into()));
    }
    let batch = batch_size.clamp(1, test.len());
    let mut fwd = Predictor::new(model, batch, test.len());
    let mut task = recsys_engine::RankingTask::default();
    test.for_each(batch, |u, t, y| {
        task.observe(fwd.run(model, u, t), y);
        Ok(())
    })?;
    Ok(task.metrics().into())
}

#[cfg(test)]
pub(crate) mod tests;
