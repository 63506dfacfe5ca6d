//! Training and evaluating the ranking model: Keras's `fit` and `evaluate`.
//!
//! The data order follows the tutorial's `train.shuffle(100_000).batch(8192).cache()`: the
//! examples are shuffled once (unless the schedule says otherwise), cut into batches, and the
//! same batches are replayed every epoch. RMSE accumulates over the epoch from the predictions
//! made before each step's update, exactly as Keras reports it. The epochs themselves run
//! through the one loop every kind shares ([`crate::train`]); this module brings the ranking
//! model's batches and steps.

use std::borrow::Cow;

use recsys_data::{RowMap, Spool};
use serde::{Deserialize, Serialize};

use super::RankingModel;
use super::step::{Predictor, Step};
use crate::train::{
    EpochReport, Examples, History, Metrics, Shuffle, TrainObserver, Trainer, ValidSchedule,
    hold_out, run_epochs,
};
use crate::{Error, Result};

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

/// Trains `model` on `train` on the schedule, reporting to `observer`.
///
/// Errors on an empty training set and when the loss stops being finite (divergence). When the
/// schedule shuffles, this trains on a shuffled copy; [`fit_owned`] shuffles in place instead.
pub fn fit(
    model: &mut RankingModel,
    train: &Examples,
    schedule: &ValidSchedule,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    fit_with(
        model,
        Cow::Borrowed(train),
        schedule,
        FirstLayer::default(),
        observer,
    )
}

/// [`fit`] on examples it may reorder: the same training, without the shuffled copy (12 bytes
/// an example) that [`fit`] makes.
pub fn fit_owned(
    model: &mut RankingModel,
    train: Examples,
    schedule: &ValidSchedule,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    fit_with(
        model,
        Cow::Owned(train),
        schedule,
        FirstLayer::default(),
        observer,
    )
}

/// [`fit`] with the first layer computed as `first_layer` says.
pub fn fit_with(
    model: &mut RankingModel,
    train: Cow<'_, Examples>,
    schedule: &ValidSchedule,
    first_layer: FirstLayer,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let make =
        |model: &RankingModel, batch| Step::new(model, batch, schedule.optimizer(), first_layer);
    fit_steps(model, train, schedule, make, observer)
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

/// Trains on `train` (the schedule's validation split held out first) with the steps
/// `make(model, batch)` builds.
pub(crate) fn fit_steps<S: Stepper + Send>(
    model: &mut RankingModel,
    train: Cow<'_, Examples>,
    schedule: &ValidSchedule,
    make: impl FnOnce(&RankingModel, usize) -> S,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    // An empty set is refused by the epoch loop, after the same split.
    let (train, validation) = hold_out(train, schedule)?;
    let data = Batches::Memory(train);
    let batch = schedule.get().batch_size.min(data.len()).max(1);
    let step = make(model, batch);
    let mut trainer = RankingTrainer {
        data,
        validation: validation.as_ref(),
        batch,
        step,
        schedule,
    };
    run_epochs(model, &mut trainer, schedule, observer)
}

/// Trains `model` on a [`Spool`] of examples (`recsys train --stream`), read back a batch at
/// a time every epoch in the spool's order; `map` maps the spool's ids to the model's rows.
/// Memory holds the model and one batch, whatever the number of examples.
///
/// Errors like [`fit`], and when the schedule holds out a validation split or reshuffles each
/// epoch (either would need the examples in memory).
pub fn fit_spooled(
    model: &mut RankingModel,
    train: &mut Spool,
    map: &RowMap,
    schedule: &ValidSchedule,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    if train.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    if schedule.get().validation_fraction > 0.0 {
        return Err(Error::InvalidInput(
            "--validation-fraction needs the examples in memory; it cannot be used with --stream"
                .into(),
        ));
    }
    if schedule.get().shuffle == Shuffle::EachEpoch {
        return Err(Error::InvalidInput(
            "a spool is shuffled once, on its way to disk; it cannot be reshuffled each epoch"
                .into(),
        ));
    }
    let data = Batches::Spooled { spool: train, map };
    let batch = schedule.get().batch_size.min(data.len()).max(1);
    let step = Step::new(model, batch, schedule.optimizer(), FirstLayer::default());
    let mut trainer = RankingTrainer {
        data,
        validation: None,
        batch,
        step,
        schedule,
    };
    run_epochs(model, &mut trainer, schedule, observer)
}

/// Where an epoch's (or an evaluation's) batches come from.
enum Batches<'a> {
    /// Examples in memory, cut into consecutive batches.
    Memory(Cow<'a, Examples>),
    /// A spool read back from its start, ids mapped to rows on the way.
    Spooled {
        spool: &'a mut Spool,
        map: &'a RowMap,
    },
}

impl Batches<'_> {
    fn len(&self) -> usize {
        match self {
            Batches::Memory(data) => data.len(),
            Batches::Spooled { spool, .. } => spool.len(),
        }
    }

    /// Hands every batch of `size` (the last one ragged) to `f(users, titles, ratings)`.
    fn for_each(
        &mut self,
        size: usize,
        mut f: impl FnMut(&[u32], &[u32], &[f32]) -> Result<()>,
    ) -> Result<()> {
        match self {
            Batches::Memory(data) => data.batches(size).try_for_each(|(u, t, y)| f(u, t, y)),
            Batches::Spooled { spool, map } => spool.for_each_batch(map, size, f),
        }
    }
}

/// The ranking model's side of the epoch loop: its batches, its step, its validation split.
struct RankingTrainer<'a, S> {
    data: Batches<'a>,
    validation: Option<&'a Examples>,
    batch: usize,
    step: S,
    schedule: &'a ValidSchedule,
}

impl<S: Stepper> Trainer<RankingModel> for RankingTrainer<'_, S> {
    fn examples(&self) -> usize {
        self.data.len()
    }

    fn begin_epoch(&mut self, epoch: usize, learning_rate: f32) {
        self.step.set_learning_rate(learning_rate);
        self.step.reset();
        if let (Some(seed), Batches::Memory(data)) =
            (self.schedule.shuffle_seed_before(epoch), &mut self.data)
        {
            // A borrowed training set is copied here, the first time it is reordered.
            data.to_mut().shuffle(seed);
        }
    }

    fn run_batches(
        &mut self,
        model: &mut RankingModel,
        on_step: &mut dyn FnMut(f32, f64) -> Result<()>,
    ) -> Result<()> {
        let step = &mut self.step;
        self.data.for_each(self.batch, |users, titles, ratings| {
            let loss = step.gradients(model, users, titles, ratings)?;
            on_step(loss, 0.0)?;
            step.apply(model);
            Ok(())
        })
    }

    fn report(&self, epoch: usize, seconds: f64) -> EpochReport {
        self.step.report(epoch, seconds)
    }

    fn validate(&mut self, model: &RankingModel) -> Result<Option<Metrics>> {
        self.validation
            .map(|v| evaluate(model, v, self.batch))
            .transpose()
    }
}

/// Keras's `evaluate`: the metrics of `model` on `test`, in batches of `batch_size`.
pub fn evaluate(model: &RankingModel, test: &Examples, batch_size: usize) -> Result<Metrics> {
    evaluate_batches(model, Batches::Memory(Cow::Borrowed(test)), batch_size)
}

/// [`evaluate`] on a [`Spool`] of test examples, read a batch at a time (`--stream`).
pub fn evaluate_spooled(
    model: &RankingModel,
    test: &mut Spool,
    map: &RowMap,
    batch_size: usize,
) -> Result<Metrics> {
    evaluate_batches(model, Batches::Spooled { spool: test, map }, batch_size)
}

/// The metrics of `model` over every batch of `test`, in batches of `batch_size`.
fn evaluate_batches(
    model: &RankingModel,
    mut test: Batches<'_>,
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
