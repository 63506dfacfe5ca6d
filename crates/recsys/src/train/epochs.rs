//! The one epoch loop: every gradient-trained kind runs its epochs through [`run_epochs`].
//!
//! The loop owns what the schedule decides — how many epochs, each epoch's learning rate,
//! validation after each epoch, early stopping and keeping the best epoch's weights — and what
//! the observer sees: `epoch_begin`, one `step_end` per batch, `epoch_end`. A kind brings a
//! [`Trainer`]: its data, buffers and optimizer state, and how one epoch's batches run. A loss
//! that stops being finite ends training with [`Error::Diverged`], naming the epoch and step.

use std::time::Instant;

use super::{BestEpoch, EpochReport, History, Metrics, TrainObserver, ValidSchedule};
use crate::{Error, Result};

/// One kind's training over its data, as [`run_epochs`] drives it.
pub(crate) trait Trainer<M> {
    /// Examples in one epoch.
    fn examples(&self) -> usize;

    /// Readies epoch `epoch` (1-based): the optimizer's learning rate, the metrics reset, and
    /// the data reordered if the schedule reshuffles each epoch.
    fn begin_epoch(&mut self, epoch: usize, learning_rate: f32);

    /// Runs the epoch's batches in order. For each: its gradients, then
    /// `on_step(loss, penalty)` (which ends the epoch with an error when either is not
    /// finite), then the update.
    fn run_batches(
        &mut self,
        model: &mut M,
        on_step: &mut dyn FnMut(f32, f64) -> Result<()>,
    ) -> Result<()>;

    /// The epoch's metrics so far, as a report of `seconds` (validation still unset).
    fn report(&self, epoch: usize, seconds: f64) -> EpochReport;

    /// The model's metrics on the validation split, when one is held out.
    fn validate(&mut self, model: &M) -> Result<Option<Metrics>>;
}

/// Trains `model` for the schedule's epochs through `trainer`, on a thread pool of its own,
/// reporting to `observer`. With a validation split, each epoch is validated; with a
/// `patience`, training stops after that many epochs without a better validation RMSE and the
/// best epoch's weights are kept.
pub(crate) fn run_epochs<M: Clone + Send>(
    model: &mut M,
    trainer: &mut (impl Trainer<M> + Send),
    schedule: &ValidSchedule,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    if trainer.examples() == 0 {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    // The loop runs on a worker of a pool of its own, so the elementwise work it splits across
    // cores (`rayon::join`) stays on the workers' stacks and allocates nothing per step.
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("recsys-train-{i}"))
        .build()
        .map_err(|e| Error::InvalidInput(format!("cannot start training threads: {e}")))?;
    pool.install(|| epochs(model, trainer, schedule, observer))
}

fn epochs<M: Clone>(
    model: &mut M,
    trainer: &mut impl Trainer<M>,
    schedule: &ValidSchedule,
    observer: &mut dyn TrainObserver,
) -> Result<History> {
    let (epochs, patience) = (schedule.get().epochs, schedule.get().patience);
    let batch = schedule.get().batch_size.min(trainer.examples()).max(1);
    let steps = trainer.examples().div_ceil(batch);
    let mut history = History {
        epochs: Vec::with_capacity(epochs),
    };
    let mut best = BestEpoch::new(patience);
    for epoch in 1..=epochs {
        trainer.begin_epoch(epoch, schedule.learning_rate(epoch));
        observer.epoch_begin(epoch, epochs, steps);
        let start = Instant::now();
        let mut step = 0;
        trainer.run_batches(model, &mut |loss, penalty| {
            step += 1;
            if !(loss.is_finite() && penalty.is_finite()) {
                return Err(Error::Diverged { epoch, step, loss });
            }
            observer.step_end(step, loss);
            Ok(())
        })?;
        let mut report = trainer.report(epoch, start.elapsed().as_secs_f64());
        report.validation = trainer.validate(model)?;
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
