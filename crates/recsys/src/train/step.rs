//! One forward pass, and one training step, over buffers allocated once.
//!
//! [`Forward`] owns the activations for a batch of up to `capacity` examples; [`Step`] adds the
//! gradient buffers, the sparse embedding gradients and the optimizer state. After
//! construction, neither allocates: batches of any size up to the capacity use a prefix of each
//! buffer (the ragged last batch included).

use recsys_engine::{DenseGrads, Optimizer, RankingTask, Slots, SparseGrad};

use crate::model::RankingModel;

/// Activation buffers for scoring batches of `(user row, title row)` pairs.
#[derive(Debug)]
pub(crate) struct Forward {
    /// `[capacity, 2·dim]`: the concatenated embeddings.
    x: Vec<f32>,
    /// One `[capacity, units]` buffer per dense layer.
    acts: Vec<Vec<f32>>,
    capacity: usize,
}

impl Forward {
    pub(crate) fn new(model: &RankingModel, capacity: usize) -> Self {
        let d = model.config.embedding_dim;
        Forward {
            x: vec![0.0; capacity * 2 * d],
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
        let d = model.config.embedding_dim;
        model.user_embedding.gather(users, &mut self.x, 2 * d, 0);
        model.movie_embedding.gather(titles, &mut self.x, 2 * d, d);
        for (i, layer) in model.dense.iter().enumerate() {
            let (before, rest) = self.acts.split_at_mut(i);
            let input = if i == 0 {
                &self.x[..]
            } else {
                &before[i - 1][..]
            };
            layer.forward(input, batch, &mut rest[0]);
        }
        &self.acts[model.dense.len() - 1][..batch]
    }
}

/// Everything one training step needs besides the model.
#[derive(Debug)]
pub(crate) struct Step {
    fwd: Forward,
    /// d loss / d activation of each dense layer (overwritten in place with d pre-activation).
    d_acts: Vec<Vec<f32>>,
    /// d loss / d x, the concatenated embeddings.
    d_x: Vec<f32>,
    pub(crate) grads: Vec<DenseGrads>,
    pub(crate) user_grad: SparseGrad,
    pub(crate) movie_grad: SparseGrad,
    optimizer: Optimizer,
    dense_slots: Vec<(Slots, Slots)>,
    user_slots: Slots,
    movie_slots: Slots,
    /// Updates applied so far.
    iterations: u64,
    pub(crate) task: RankingTask,
}

impl Step {
    pub(crate) fn new(model: &RankingModel, capacity: usize, optimizer: Optimizer) -> Self {
        let d = model.config.embedding_dim;
        Step {
            fwd: Forward::new(model, capacity),
            d_acts: model
                .dense
                .iter()
                .map(|l| vec![0.0; capacity * l.units])
                .collect(),
            d_x: vec![0.0; capacity * 2 * d],
            grads: model.dense.iter().map(|l| l.zero_grads()).collect(),
            user_grad: SparseGrad::new(model.user_embedding.rows, d, capacity),
            movie_grad: SparseGrad::new(model.movie_embedding.rows, d, capacity),
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
        let d = model.config.embedding_dim;
        let last = model.dense.len() - 1;
        let predictions = self.fwd.run(model, users, titles);
        let loss = self
            .task
            .compute(predictions, labels, &mut self.d_acts[last][..batch]);
        for i in (0..model.dense.len()).rev() {
            let layer = &model.dense[i];
            let (d_before, d_rest) = self.d_acts.split_at_mut(i);
            let (input, d_input) = if i == 0 {
                (&self.fwd.x[..], &mut self.d_x[..])
            } else {
                (&self.fwd.acts[i - 1][..], &mut d_before[i - 1][..])
            };
            layer.backward(
                input,
                &self.fwd.acts[i],
                batch,
                &mut d_rest[0],
                &mut self.grads[i],
                Some(d_input),
            );
        }
        self.user_grad.clear();
        self.movie_grad.clear();
        self.user_grad.accumulate(users, &self.d_x, 2 * d, 0);
        self.movie_grad.accumulate(titles, &self.d_x, 2 * d, d);
        loss
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
        opt.update_rows(
            t,
            &mut model.user_embedding.table,
            &self.user_grad,
            &mut self.user_slots,
        );
        opt.update_rows(
            t,
            &mut model.movie_embedding.table,
            &self.movie_grad,
            &mut self.movie_slots,
        );
    }
}
