//! Training the feature model: minibatches of a seeded shuffle (reshuffled each epoch), MSE
//! through [`RankingTask`], a hand-written backward pass through the tower, the cross layers
//! and the pooled embeddings, and the engine's optimizers (embedding tables updated only on
//! the rows a batch used). With a validation split, each epoch is evaluated on it and the best
//! epoch's weights are kept (early stopping after `patience` epochs without improvement).
//!
//! This is the straightforward per-batch path, layer by layer over the whole batch; it favours
//! clarity over the ranking model's tiled, per-distinct-id speed-ups.

use recsys_engine::{
    CrossGrads, DenseGrads, Dropout, L2, Optimizer, RankingTask, Slots, SparseGrad,
};

use super::config::FeatureTrainConfig;
use super::{FeatureModel, FeatureRows, Pass};
use crate::train::{EpochReport, Metrics, TrainObserver, Trainer, ValidSchedule, run_epochs};
use crate::{Error, Result};

/// Encoded interactions and their ratings.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabeledRows {
    /// Every feature's rows.
    pub rows: FeatureRows,
    /// The rating of each interaction.
    pub ratings: Vec<f32>,
}

impl LabeledRows {
    /// Interactions `order[..]`, in that order.
    pub fn select(&self, order: &[usize]) -> LabeledRows {
        let mut rows = FeatureRows::new(self.rows.features());
        rows.select_from(&self.rows, order);
        LabeledRows {
            rows,
            ratings: order.iter().map(|&i| self.ratings[i]).collect(),
        }
    }
}

/// RMSE and MSE of `model` on `data`.
pub fn evaluate_rows(model: &FeatureModel, data: &LabeledRows) -> Result<Metrics> {
    if data.ratings.is_empty() {
        return Err(Error::InvalidInput("no evaluation examples".into()));
    }
    let mut task = RankingTask::default();
    task.observe(&model.predict_rows(&data.rows), &data.ratings);
    Ok(task.metrics().into())
}

/// Trains `model` on `train` (its predictions then clamped to the training ratings' range and
/// its output bias started at their mean) on `config`'s schedule, reporting each epoch to
/// `observer`; with `validation` and a patience, returns the best epoch's model.
pub fn fit_features(
    mut model: FeatureModel,
    train: &LabeledRows,
    validation: Option<&LabeledRows>,
    config: &FeatureTrainConfig,
    observer: &mut dyn TrainObserver,
) -> Result<FeatureModel> {
    let schedule = config.schedule.clone().check()?;
    if train.ratings.is_empty() {
        return Err(Error::InvalidInput("no training examples".into()));
    }
    start_at_the_mean(&mut model, &train.ratings);
    let batch = config.schedule.batch_size;
    let mut buffers = Buffers::new(&model, schedule.optimizer(), batch, &train.rows);
    buffers.dropout = dropout_layers(&model, config.schedule.seed);
    buffers.l2 = L2 {
        weight: config.embedding_l2,
    };
    let mut trainer = FeatureTrainer {
        buffers,
        data: train,
        order: (0..train.ratings.len()).collect(),
        validation,
        schedule: &schedule,
        penalty: 0.0,
    };
    run_epochs(&mut model, &mut trainer, &schedule, observer)?;
    Ok(model)
}

/// The feature model's side of the epoch loop: batches selected from the rows in an order
/// reshuffled as the schedule says.
struct FeatureTrainer<'a> {
    buffers: Buffers,
    data: &'a LabeledRows,
    order: Vec<usize>,
    validation: Option<&'a LabeledRows>,
    schedule: &'a ValidSchedule,
    /// The epoch's embedding penalty, summed over its examples.
    penalty: f64,
}

impl Trainer<FeatureModel> for FeatureTrainer<'_> {
    fn examples(&self) -> usize {
        self.order.len()
    }

    fn begin_epoch(&mut self, epoch: usize, learning_rate: f32) {
        let b = &mut self.buffers;
        b.optimizer = b.optimizer.with_learning_rate(learning_rate);
        b.task.reset();
        self.penalty = 0.0;
        if let Some(seed) = self.schedule.shuffle_seed_before(epoch) {
            recsys_data::shuffle(&mut self.order, seed);
        }
    }

    fn run_batches(
        &mut self,
        model: &mut FeatureModel,
        on_step: &mut dyn FnMut(f32, f64) -> Result<()>,
    ) -> Result<()> {
        let b = &mut self.buffers;
        for part in self.order.chunks(b.pass.capacity) {
            b.batch.select_from(&self.data.rows, part);
            b.labels.clear();
            b.labels.extend(part.iter().map(|&i| self.data.ratings[i]));
            let (loss, penalty) = b.gradients(model);
            self.penalty += penalty * part.len() as f64;
            on_step(loss, penalty)?;
            b.step += 1;
            b.update(model);
        }
        Ok(())
    }

    fn report(&self, epoch: usize, seconds: f64) -> EpochReport {
        let metrics = self.buffers.task.metrics();
        EpochReport::penalized(epoch, seconds, metrics, self.penalty, self.order.len())
    }

    fn validate(&mut self, model: &FeatureModel) -> Result<Option<Metrics>> {
        self.validation.map(|v| evaluate_rows(model, v)).transpose()
    }
}

/// Clamps to the ratings' range and starts the output unit's bias at their mean, so the first
/// steps learn the features instead of the rating scale.
fn start_at_the_mean(model: &mut FeatureModel, ratings: &[f32]) {
    let (lo, hi) = ratings
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    model.config.clip = (lo < hi).then_some([lo, hi]);
    let mean = ratings.iter().map(|&r| r as f64).sum::<f64>() / ratings.len() as f64;
    if let Some(last) = model.tower.last_mut() {
        last.bias[0] = mean as f32;
    }
}

/// One seeded [`Dropout`] per hidden layer, if the network has a dropout rate.
fn dropout_layers(model: &FeatureModel, seed: u64) -> Option<Vec<Dropout>> {
    let rate = model.config.network.dropout.filter(|&r| r > 0.0)?;
    let hidden = model.tower.len() - 1;
    // Streams of their own: not the weights' nor the shuffle's.
    Some(
        (0..hidden as u64)
            .map(|k| Dropout::new(rate, seed ^ 0xD80F_0000 ^ k))
            .collect(),
    )
}

/// Every buffer, gradient and optimizer slot a step needs, allocated once.
struct Buffers {
    optimizer: Optimizer,
    step: u64,
    task: RankingTask,
    pass: Pass,
    batch: FeatureRows,
    labels: Vec<f32>,
    /// d loss / d each tower layer's output.
    d_acts: Vec<Vec<f32>>,
    /// d loss / d x0 and each cross layer's output.
    d_xs: Vec<Vec<f32>>,
    /// What the cross layers add to d loss / d x0 through their `x0 ⊙` term.
    d_x0: Vec<f32>,
    /// With a dot interaction: d loss / d the tower's input, and the dot products' part of it.
    d_tower_input: Vec<f32>,
    d_dots: Vec<f32>,
    dense: Vec<(DenseGrads, Slots, Slots)>,
    cross: Vec<(CrossGrads, [Slots; 3])>,
    sparse: Vec<(SparseGrad, Slots)>,
    scratch: Vec<f32>,
    /// Training-only dropout after each hidden layer, if any.
    dropout: Option<Vec<Dropout>>,
    /// Weight decay on the embedding rows each batch uses.
    l2: L2,
}

impl Buffers {
    fn new(model: &FeatureModel, optimizer: Optimizer, batch: usize, rows: &FeatureRows) -> Self {
        let width = model.config.input_width();
        let slots = |n: usize| optimizer.slots(n);
        Buffers {
            optimizer,
            step: 0,
            task: RankingTask::default(),
            pass: model.pass(batch),
            batch: FeatureRows::new(model.embeddings.len()),
            labels: Vec::with_capacity(batch),
            d_acts: model
                .tower
                .iter()
                .map(|d| vec![0.0; batch * d.units])
                .collect(),
            d_xs: vec![vec![0.0; batch * width]; model.cross.len() + 1],
            d_x0: vec![0.0; batch * width],
            d_tower_input: vec![0.0; batch * model.config.tower_input_width()],
            d_dots: vec![0.0; batch * (model.config.tower_input_width() - width)],
            dense: model
                .tower
                .iter()
                .map(|d| (d.zero_grads(), slots(d.kernel.len()), slots(d.units)))
                .collect(),
            cross: model
                .cross
                .iter()
                .map(|c| {
                    let s = [slots(c.kernel.len()), slots(c.kernel_v.len()), slots(c.dim)];
                    (c.zero_grads(), s)
                })
                .collect(),
            sparse: model
                .embeddings
                .iter()
                .enumerate()
                .map(|(f, t)| {
                    let lookups = batch * rows.max_values(f).max(1);
                    (
                        SparseGrad::new(t.rows, t.dim, lookups),
                        slots(t.table.len()),
                    )
                })
                .collect(),
            scratch: Vec::new(),
            dropout: None,
            l2: L2 { weight: 0.0 },
        }
    }

    /// Forward, loss and backward for the batch in `self.batch`; returns the loss and the
    /// embedding penalty.
    fn gradients(&mut self, model: &FeatureModel) -> (f32, f64) {
        let n = self.batch.len();
        let last = model.tower.len() - 1;
        let pred = model.forward_with(&self.batch, &mut self.pass, self.dropout.as_deref_mut());
        let loss = self
            .task
            .compute(pred, &self.labels, &mut self.d_acts[last][..n]);
        let penalty = self.backward(model, n);
        (loss, penalty)
    }

    /// Gradients of every parameter, from d loss / d prediction in `d_acts[last]`, the
    /// embedding penalty's included; returns the penalty.
    fn backward(&mut self, model: &FeatureModel, n: usize) -> f64 {
        let depth = model.cross.len();
        for k in (0..model.tower.len()).rev() {
            let (below, here) = self.d_acts.split_at_mut(k);
            if let Some(d) = self.dropout.as_ref().and_then(|d| d.get(k)) {
                d.backward(&mut here[0][..n * model.tower[k].units]);
            }
            let dot = model.config.dot_interaction().is_some();
            let (input, d_in): (&[f32], &mut [f32]) = match (k, dot) {
                (0, true) => (&self.pass.tower_input, &mut self.d_tower_input),
                (0, false) => (&self.pass.xs[depth], &mut self.d_xs[depth]),
                _ => (&self.pass.acts[k - 1], &mut below[k - 1]),
            };
            model.tower[k].backward(
                input,
                &self.pass.acts[k],
                n,
                &mut here[0],
                &mut self.dense[k].0,
                Some(d_in),
            );
        }
        let width = model.config.input_width();
        self.split_tower_input_gradient(model, n);
        self.d_x0[..n * width].fill(0.0);
        for l in (0..depth).rev() {
            let (lower, upper) = self.d_xs.split_at_mut(l + 1);
            model.cross[l].backward(
                &self.pass.xs[0],
                &self.pass.xs[l],
                n,
                &mut self.pass.cross[l],
                &upper[0],
                &mut self.cross[l].0,
                &mut self.d_x0,
                &mut lower[l],
            );
        }
        if depth > 0 {
            let d = &mut self.d_xs[0][..n * width];
            d.iter_mut().zip(&self.d_x0).for_each(|(a, &b)| *a += b);
        }
        if let Some(dot) = model.config.dot_interaction() {
            // The products read the embeddings themselves: their gradient joins d x0.
            dot.backward(&self.pass.xs[0], &self.d_dots, n, &mut self.d_x0);
            let d = &mut self.d_xs[0][..n * width];
            d.iter_mut().zip(&self.d_x0).for_each(|(a, &b)| *a += b);
        }
        let (mut offset, mut penalty) = (0, 0.0);
        for (f, table) in model.embeddings.iter().enumerate() {
            let lookups = self.batch.feature(f);
            let grad = &mut self.sparse[f].0;
            grad.accumulate_mean(lookups, &self.d_xs[0], width, offset, &mut self.scratch);
            penalty += self.l2.apply_rows(table, grad);
            offset += table.dim;
        }
        penalty
    }

    /// With a dot interaction, d loss / d the tower's input splits into the part for the
    /// concatenated embeddings (or the last cross layer's output) and the dot products'.
    fn split_tower_input_gradient(&mut self, model: &FeatureModel, n: usize) {
        let Some(dot) = model.config.dot_interaction() else {
            return;
        };
        let (x, p) = (model.config.input_width(), dot.output_width());
        let depth = model.cross.len();
        let rows = self.d_tower_input.chunks_exact(x + p).take(n);
        let d_x = self.d_xs[depth].chunks_exact_mut(x);
        for ((row, d_x), d_dots) in rows.zip(d_x).zip(self.d_dots.chunks_mut(p.max(1))) {
            d_x.copy_from_slice(&row[..x]);
            d_dots[..p].copy_from_slice(&row[x..]);
        }
    }

    /// One optimizer update of every parameter from the gradients of [`backward`](Self::backward).
    fn update(&mut self, model: &mut FeatureModel) {
        let (opt, step) = (&self.optimizer, self.step);
        for (d, (g, ks, bs)) in model.tower.iter_mut().zip(&mut self.dense) {
            opt.update_dense(step, &mut d.kernel, &g.kernel, ks);
            opt.update_dense(step, &mut d.bias, &g.bias, bs);
        }
        for (c, (g, [ks, vs, bs])) in model.cross.iter_mut().zip(&mut self.cross) {
            opt.update_dense(step, &mut c.kernel, &g.kernel, ks);
            opt.update_dense(step, &mut c.kernel_v, &g.kernel_v, vs);
            opt.update_dense(step, &mut c.bias, &g.bias, bs);
        }
        for (t, (g, slots)) in model.embeddings.iter_mut().zip(&mut self.sparse) {
            opt.update_sparse(step, &mut t.table, g, slots);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::features::tests::tiny;
    use recsys_engine::gradcheck::check_gradient;

    /// The batch's MSE as a function of one tensor of the model, with the dropout masks that
    /// `dropout` (cloned, so every call draws the same ones) draws.
    fn loss_with(
        model: &FeatureModel,
        data: &LabeledRows,
        dropout: &Option<Vec<Dropout>>,
        (tensor, values): (usize, &[f32]),
        l2: f32,
    ) -> f64 {
        let mut m = model.clone();
        m.tensors_mut()[tensor].copy_from_slice(values);
        // The penalty: once per distinct row each feature's lookups use.
        let mut penalty = 0.0;
        for (f, t) in m.embeddings.iter().enumerate() {
            let mut rows = data.rows.feature(f).ids.to_vec();
            rows.sort();
            rows.dedup();
            let sq: f64 = rows
                .iter()
                .flat_map(|&r| t.row(r))
                .map(|&w| (w as f64).powi(2))
                .sum();
            penalty += 0.5 * l2 as f64 * sq;
        }
        let mut pass = m.pass(data.ratings.len());
        let mut dropout = dropout.clone();
        let pred = m.forward_with(&data.rows, &mut pass, dropout.as_deref_mut());
        let n = pred.len() as f64;
        pred.iter()
            .zip(&data.ratings)
            .map(|(&p, &y)| ((p - y) as f64).powi(2))
            .sum::<f64>()
            / n
            + penalty
    }

    #[test]
    fn the_whole_backward_pass_matches_finite_differences() {
        let cases = [
            (0, None, None, 0.0, false),
            (2, None, None, 0.0, false),
            (1, Some(3), Some(0.4), 0.2, false),
            (0, None, None, 0.0, true),
            (1, None, Some(0.2), 0.1, true),
        ];
        for (cross, rank, dropout, l2, dot) in cases {
            let (mut model, all) = if dot {
                crate::kinds::features::tests::tiny_dot(cross)
            } else {
                tiny(cross, rank)
            };
            model.config.network.dropout = dropout;
            // ReLU's kink at 0 is within a finite difference's step of some pre-activations;
            // a linear hidden layer keeps the wiring under test and the check exact.
            model.tower[0].activation = recsys_engine::Activation::Linear;
            let data = all.select(&[0, 5, 13, 21, 40, 77]);
            let sgd = Optimizer::Sgd(recsys_engine::Sgd { learning_rate: 0.0 });
            let mut t = Buffers::new(&model, sgd, data.ratings.len(), &data.rows);
            t.batch = data.rows.clone();
            t.labels = data.ratings.clone();
            t.dropout = dropout_layers(&model, 5);
            t.l2 = L2 { weight: l2 };
            let masks = t.dropout.clone();
            t.gradients(&model);
            // Analytic gradients, in `tensors()` order.
            let mut grads: Vec<Vec<f32>> = Vec::new();
            for (table, (g, _)) in model.embeddings.iter().zip(&t.sparse) {
                let mut dense = vec![0.0; table.table.len()];
                for (slot, &row) in g.rows().iter().enumerate() {
                    let d = table.dim;
                    dense[row as usize * d..][..d].copy_from_slice(&g.values()[slot * d..][..d]);
                }
                grads.push(dense);
            }
            for (g, _) in &t.cross {
                grads.push(g.kernel.clone());
                if rank.is_some() {
                    grads.push(g.kernel_v.clone());
                }
                grads.push(g.bias.clone());
            }
            for (g, _, _) in &t.dense {
                grads.push(g.kernel.clone());
                grads.push(g.bias.clone());
            }
            let names: Vec<String> = model.tensors().into_iter().map(|t| t.name).collect();
            assert_eq!(grads.len(), names.len());
            for (i, (name, g)) in names.iter().zip(&grads).enumerate() {
                let mut values = model.tensors()[i].values.to_vec();
                check_gradient(name, &mut values, g, |v| {
                    loss_with(&model, &data, &masks, (i, v), l2)
                });
            }
        }
    }
}
