//! One forward pass, and one training step, over buffers allocated once.
//!
//! [`Forward`] owns the activations for a batch of up to `capacity` examples; [`Step`] adds the
//! gradient buffers, the sparse embedding gradients and the optimizer state. After
//! construction, neither allocates: batches of any size up to the capacity use a prefix of each
//! buffer (the ragged last batch included).
//!
//! The first layer runs one of two ways ([`FirstLayer`]): per distinct id (the default; see
//! `recsys_engine::layers::lookup_dense`) or per example on the concatenated embeddings (the
//! textbook computation, kept as the reference the fast path is tested against).

use recsys_engine::{
    DenseGrads, LookupProjection, Optimizer, RankingTask, Slots, SparseGrad, forward_tiled,
};

use super::FirstLayer;
use crate::model::RankingModel;

/// How the first layer's input is formed.
#[derive(Debug)]
enum Input {
    /// `[capacity, 2·dim]`: the concatenated embeddings, one row per example.
    PerExample { x: Vec<f32> },
    /// The user and title lookups, each projected once per distinct id.
    PerDistinctId { parts: Box<[LookupProjection; 2]> },
}

/// Activation buffers for scoring batches of `(user row, title row)` pairs.
#[derive(Debug)]
pub(crate) struct Forward {
    input: Input,
    /// One `[capacity, units]` buffer per dense layer.
    acts: Vec<Vec<f32>>,
    capacity: usize,
}

impl Forward {
    pub(crate) fn new(model: &RankingModel, capacity: usize, first_layer: FirstLayer) -> Self {
        let d = model.config.embedding_dim;
        let units = model.dense[0].units;
        let input = match first_layer {
            FirstLayer::PerExample => Input::PerExample {
                x: vec![0.0; capacity * 2 * d],
            },
            FirstLayer::PerDistinctId => Input::PerDistinctId {
                parts: Box::new([
                    LookupProjection::new(model.user_embedding.rows, d, units, capacity),
                    LookupProjection::new(model.movie_embedding.rows, d, units, capacity),
                ]),
            },
        };
        Forward {
            input,
            acts: model
                .dense
                .iter()
                .map(|l| vec![0.0; capacity * l.units])
                .collect(),
            capacity,
        }
    }

    /// Predictions for the pairs `(users[i], titles[i])`; at most `capacity` of them.
    pub(crate) fn run(&mut self, model: &RankingModel, users: &[u32], titles: &[u32]) -> &[f32] {
        let batch = users.len();
        assert!(
            batch <= self.capacity && titles.len() == batch,
            "batch exceeds buffers"
        );
        let first = &model.dense[0];
        match &mut self.input {
            Input::PerExample { x } => {
                let d = model.config.embedding_dim;
                model.user_embedding.gather(users, x, 2 * d, 0);
                model.movie_embedding.gather(titles, x, 2 * d, d);
                first.forward(x, batch, &mut self.acts[0]);
            }
            Input::PerDistinctId { parts } => {
                let tables = [&model.user_embedding, &model.movie_embedding];
                first.forward_lookups(&mut parts[..], &tables, &[users, titles], &mut self.acts[0]);
            }
        }
        for (i, layer) in model.dense.iter().enumerate().skip(1) {
            let (before, rest) = self.acts.split_at_mut(i);
            layer.forward(&before[i - 1], batch, &mut rest[0]);
        }
        &self.acts[model.dense.len() - 1][..batch]
    }
}

/// Inference buffers: the first layer per distinct id, then the rest of the tower a tile of rows
/// at a time ([`forward_tiled`]), so nothing but the predictions is written to memory.
#[derive(Debug)]
pub(crate) struct Predictor {
    parts: [LookupProjection; 2],
    out: Vec<f32>,
}

impl Predictor {
    pub(crate) fn new(model: &RankingModel, capacity: usize) -> Self {
        let d = model.config.embedding_dim;
        let units = model.dense[0].units;
        let part = |rows| LookupProjection::for_inference(rows, d, units, capacity);
        Predictor {
            parts: [
                part(model.user_embedding.rows),
                part(model.movie_embedding.rows),
            ],
            out: vec![0.0; capacity * model.dense[model.dense.len() - 1].units],
        }
    }

    /// Predictions for the pairs `(users[i], titles[i])`; at most `capacity` of them.
    pub(crate) fn run(&mut self, model: &RankingModel, users: &[u32], titles: &[u32]) -> &[f32] {
        let batch = users.len();
        let first = &model.dense[0];
        let tables = [&model.user_embedding, &model.movie_embedding];
        first.project_lookups(&mut self.parts, &tables, &[users, titles]);
        let parts = [self.parts[0].projected(), self.parts[1].projected()];
        forward_tiled(first, &parts, &model.dense[1..], batch, &mut self.out);
        &self.out[..batch]
    }
}

/// The embedding gradients of the per-example path (the per-distinct-id path keeps its own in
/// its `LookupProjection`s).
#[derive(Debug)]
struct PerExampleGrads {
    /// d loss / d x, the concatenated embeddings.
    d_x: Vec<f32>,
    user: SparseGrad,
    movie: SparseGrad,
}

/// Everything one training step needs besides the model.
#[derive(Debug)]
pub(crate) struct Step {
    fwd: Forward,
    /// d loss / d activation of each dense layer (overwritten in place with d pre-activation).
    d_acts: Vec<Vec<f32>>,
    pub(crate) grads: Vec<DenseGrads>,
    per_example: Option<PerExampleGrads>,
    optimizer: Optimizer,
    dense_slots: Vec<(Slots, Slots)>,
    user_slots: Slots,
    movie_slots: Slots,
    /// Updates applied so far.
    iterations: u64,
    pub(crate) task: RankingTask,
    /// The rating loss's weight in the total loss (1 alone; a multitask model sets its own).
    pub(crate) loss_weight: f32,
}

impl Step {
    pub(crate) fn new(
        model: &RankingModel,
        capacity: usize,
        optimizer: Optimizer,
        first_layer: FirstLayer,
    ) -> Self {
        let d = model.config.embedding_dim;
        let per_example = (first_layer == FirstLayer::PerExample).then(|| PerExampleGrads {
            d_x: vec![0.0; capacity * 2 * d],
            user: SparseGrad::new(model.user_embedding.rows, d, capacity),
            movie: SparseGrad::new(model.movie_embedding.rows, d, capacity),
        });
        Step {
            fwd: Forward::new(model, capacity, first_layer),
            d_acts: model
                .dense
                .iter()
                .map(|l| vec![0.0; capacity * l.units])
                .collect(),
            grads: model.dense.iter().map(|l| l.zero_grads()).collect(),
            per_example,
            optimizer,
            dense_slots: model
                .dense
                .iter()
                .map(|l| {
                    (
                        optimizer.slots(l.kernel.len()),
                        optimizer.slots(l.bias.len()),
                    )
                })
                .collect(),
            user_slots: optimizer.slots(model.user_embedding.table.len()),
            movie_slots: optimizer.slots(model.movie_embedding.table.len()),
            iterations: 0,
            task: RankingTask::default(),
            loss_weight: 1.0,
        }
    }

    /// Forward and backward over one batch: fills the gradients, updates the task's metric with
    /// the predictions made before the update, and returns the batch loss.
    pub(crate) fn gradients(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
        labels: &[f32],
    ) -> f32 {
        let batch = users.len();
        let last = model.dense.len() - 1;
        let predictions = self.fwd.run(model, users, titles);
        let d_predictions = &mut self.d_acts[last][..batch];
        let loss = self.task.compute(predictions, labels, d_predictions);
        if self.loss_weight != 1.0 {
            d_predictions
                .iter_mut()
                .for_each(|d| *d *= self.loss_weight);
        }
        for i in (1..model.dense.len()).rev() {
            let (d_before, d_rest) = self.d_acts.split_at_mut(i);
            model.dense[i].backward(
                &self.fwd.acts[i - 1],
                &self.fwd.acts[i],
                batch,
                &mut d_rest[0],
                &mut self.grads[i],
                Some(&mut d_before[i - 1]),
            );
        }
        let first = &model.dense[0];
        match (&mut self.fwd.input, &mut self.per_example) {
            (Input::PerExample { x }, Some(g)) => {
                let d = model.config.embedding_dim;
                let d_x = Some(&mut g.d_x[..]);
                first.backward(
                    x,
                    &self.fwd.acts[0],
                    batch,
                    &mut self.d_acts[0],
                    &mut self.grads[0],
                    d_x,
                );
                g.user.accumulate(users, &g.d_x, 2 * d, 0);
                g.movie.accumulate(titles, &g.d_x, 2 * d, d);
            }
            (Input::PerDistinctId { parts }, None) => {
                first.backward_lookups(
                    &mut parts[..],
                    &self.fwd.acts[0],
                    batch,
                    &mut self.d_acts[0],
                    &mut self.grads[0],
                );
            }
            _ => unreachable!("the gradient buffers match the first layer's path by construction"),
        }
        loss
    }

    /// Adds another task's per-example gradients of the last batch's user and movie embeddings
    /// (`[batch, dim]` each) to the embedding gradients [`gradients`](Self::gradients) wrote,
    /// so the optimizer sees the gradient of the summed loss, as TensorFlow's would.
    pub(crate) fn add_embedding_grads(&mut self, d_users: &[f32], d_movies: &[f32], dim: usize) {
        match (&mut self.fwd.input, &mut self.per_example) {
            (_, Some(g)) => {
                g.user.add(d_users, dim, 0);
                g.movie.add(d_movies, dim, 0);
            }
            (Input::PerDistinctId { parts }, None) => {
                let [u, m] = &mut **parts;
                u.add_row_grads(d_users, dim, 0);
                m.add_row_grads(d_movies, dim, 0);
            }
            (Input::PerExample { .. }, None) => {
                unreachable!("per-example steps keep their gradients")
            }
        }
    }

    /// Applies the gradients of the last [`gradients`](Self::gradients) call.
    pub(crate) fn apply(&mut self, model: &mut RankingModel) {
        self.iterations += 1;
        let (t, opt) = (self.iterations, self.optimizer);
        for ((layer, g), (ks, bs)) in model
            .dense
            .iter_mut()
            .zip(&self.grads)
            .zip(&mut self.dense_slots)
        {
            opt.update_dense(t, &mut layer.kernel, &g.kernel, ks);
            opt.update_dense(t, &mut layer.bias, &g.bias, bs);
        }
        let d = model.config.embedding_dim;
        let (users, movies) = (
            &mut model.user_embedding.table,
            &mut model.movie_embedding.table,
        );
        match (&self.fwd.input, &self.per_example) {
            (_, Some(g)) => {
                opt.update_sparse(t, users, &g.user, &mut self.user_slots);
                opt.update_sparse(t, movies, &g.movie, &mut self.movie_slots);
            }
            (Input::PerDistinctId { parts }, None) => {
                let [u, m] = &**parts;
                opt.update_rows(t, users, d, u.rows(), u.row_grads(), &mut self.user_slots);
                opt.update_rows(t, movies, d, m.rows(), m.row_grads(), &mut self.movie_slots);
            }
            (Input::PerExample { .. }, None) => {
                unreachable!("per-example steps keep their gradients")
            }
        }
    }

    /// The embedding gradients of the last step as `(rows, values)` for users and titles.
    #[cfg(test)]
    pub(crate) fn embedding_grads(&self) -> [(&[u32], &[f32]); 2] {
        match (&self.fwd.input, &self.per_example) {
            (_, Some(g)) => [
                (g.user.rows(), g.user.values()),
                (g.movie.rows(), g.movie.values()),
            ],
            (Input::PerDistinctId { parts }, None) => {
                let [u, m] = &**parts;
                [(u.rows(), u.row_grads()), (m.rows(), m.row_grads())]
            }
            (Input::PerExample { .. }, None) => unreachable!(),
        }
    }
}
