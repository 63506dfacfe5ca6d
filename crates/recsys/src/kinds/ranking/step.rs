//! One forward pass, and one training step, over buffers allocated once.
//!
//! [`Forward`] owns the activations for a batch of up to `capacity` examples; [`Step`] adds the
//! gradient buffers, the sparse embedding gradients and the optimizer state. After
//! construction, neither allocates: batches of any size up to the capacity use a prefix of each
//! buffer (the ragged last batch included).
//!
//! The first layer runs one of two ways ([`FirstLayer`]): per distinct id (the default; see
//! `recsys_engine::tower::lookup_dense`) or per example on the concatenated embeddings (the
//! textbook computation, kept as the reference the fast path is tested against).

use std::cell::Cell;

use recsys_engine::{
    DenseGrads, LookupProjection, Optimizer, Projected, RankingTask, Slots, SparseGrad,
    TableUpdate, TiledStep, Which, forward_tiled, group_by_key,
};

use super::FirstLayer;
use super::{Half, RankingModel};

/// Activation buffers for the textbook forward pass: the concatenated embeddings of each
/// example through every layer, one whole-batch matrix per layer.
#[derive(Debug)]
pub(crate) struct Forward {
    /// `[capacity, 2·dim]`: the concatenated embeddings, one row per example.
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
        model.dense[0].forward(&self.x, batch, &mut self.acts[0]);
        for (i, layer) in model.dense.iter().enumerate().skip(1) {
            let (before, rest) = self.acts.split_at_mut(i);
            layer.forward(&before[i - 1], batch, &mut rest[0]);
        }
        &self.acts[model.dense.len() - 1][..batch]
    }
}

/// Inference buffers: the first layer's two halves projected per row, then the rest of the
/// tower a tile of rows at a time ([`forward_tiled`]), so nothing but the predictions is
/// written to memory.
#[derive(Debug)]
pub(crate) struct Predictor {
    halves: Halves,
    /// The batch's examples grouped by user, and their scores.
    by_user: ByUser,
    out: Vec<f32>,
}

/// Where the first layer's user and title halves come from.
#[derive(Debug)]
enum Halves {
    /// Every row of both tables, projected once when the predictor is made: for a pass over
    /// more examples than the tables have rows (evaluating 20,000 ratings of MovieLens 100k,
    /// 5 batches that each name most of its 2,600 ids), that is the cheaper way.
    Tables { users: Vec<f32>, titles: Vec<f32> },
    /// Each batch's distinct rows, projected per batch (few examples, or large vocabularies).
    PerBatch(Box<[LookupProjection; 2]>),
}

/// Most floats [`Predictor`] spends on whole projected tables (64 MiB).
const TABLES_LIMIT: usize = 16 << 20;

/// Most floats of projected tables kept for the next [`Predictor`] on the thread (8 MiB).
const KEEP_LIMIT: usize = 2 << 20;

thread_local! {
    /// The last [`Predictor`]'s projected tables on this thread, if small: the next one
    /// projects into them. Fresh tables are allocated and zeroed before the projection
    /// overwrites them, which was 5% of evaluating the tutorial's 20,000 test ratings.
    static KEPT_TABLES: Cell<(Vec<f32>, Vec<f32>)> = const { Cell::new((Vec::new(), Vec::new())) };
}

impl Drop for Predictor {
    fn drop(&mut self) {
        if let Halves::Tables { users, titles } = &mut self.halves
            && users.capacity() + titles.capacity() <= KEEP_LIMIT
        {
            KEPT_TABLES.set((std::mem::take(users), std::mem::take(titles)));
        }
    }
}

impl Predictor {
    /// Buffers for batches of up to `capacity` pairs, in a pass over `examples` pairs.
    pub(crate) fn new(model: &RankingModel, capacity: usize, examples: usize) -> Self {
        let d = model.config.embedding_dim;
        let first = &model.dense[0];
        let units = first.units;
        let (users, titles) = (&model.user_embedding, &model.movie_embedding);
        let rows = users.rows + titles.rows;
        let halves = if rows <= examples && rows * units <= TABLES_LIMIT {
            let (mut users, mut titles) = KEPT_TABLES.take();
            model.project_half_into(Half::User, &mut users);
            model.project_half_into(Half::Title, &mut titles);
            Halves::Tables { users, titles }
        } else {
            let part = |rows| LookupProjection::for_inference(rows, d, units, capacity);
            Halves::PerBatch(Box::new([part(users.rows), part(titles.rows)]))
        };
        Predictor {
            halves,
            by_user: ByUser::default(),
            out: vec![0.0; capacity * model.dense[model.dense.len() - 1].units],
        }
    }

    /// Whether the tables were projected whole (else per batch).
    #[cfg(test)]
    pub(crate) fn projects_whole_tables(&self) -> bool {
        matches!(self.halves, Halves::Tables { .. })
    }

    /// Predictions for the pairs `(users[i], titles[i])`; at most `capacity` of them.
    pub(crate) fn run(&mut self, model: &RankingModel, users: &[u32], titles: &[u32]) -> &[f32] {
        let batch = users.len();
        let first = &model.dense[0];
        let later = &model.dense[1..];
        let (rows, slots): ([&[f32]; 2], [&[u32]; 2]) = match &mut self.halves {
            Halves::Tables {
                users: user_rows,
                titles: title_rows,
            } => ([user_rows, title_rows], [users, titles]),
            Halves::PerBatch(parts) => {
                let tables = [&model.user_embedding, &model.movie_embedding];
                first.project_lookups(&mut parts[..], &tables, &[users, titles]);
                let [u, t] = &**parts;
                (
                    [u.projected().rows, t.projected().rows],
                    [u.slots(), t.slots()],
                )
            }
        };
        let (slots, scores) = self.by_user.sort(slots, rows[0].len() / first.units);
        let parts = [0, 1].map(|f| Projected {
            rows: rows[f],
            slots: Which::PerExample(slots[f]),
        });
        forward_tiled(first, &parts, later, batch, scores);
        self.by_user.unsort(&mut self.out[..batch]);
        &self.out[..batch]
    }
}

/// A batch's examples grouped by user on their way through [`forward_tiled`], and their
/// scores put back in the batch's order.
///
/// Each example adds a projected user row and a projected title row (1 KiB each for the
/// tutorial's 256 units), from tables larger than L2 (2.6 MB for MovieLens 100k's). Taking a
/// user's examples one after another reads the user's row from memory once instead of once per
/// example: evaluating the tutorial's 20,000 test ratings took 4–6% less time on one core. No
/// score changes by a bit: each example's score depends on its own rows only, whatever the
/// other examples of its tile (`recsys_engine::forward_tiled`).
#[derive(Debug, Default)]
struct ByUser {
    /// Example `order[j]` goes `j`-th.
    order: Vec<u32>,
    /// Each example's user and title slot, in that order.
    users: Vec<u32>,
    titles: Vec<u32>,
    /// The scores, in that order.
    scores: Vec<f32>,
    /// The counting sort's buckets ([`group_by_key`]).
    starts: Vec<u32>,
}

impl ByUser {
    /// Orders a batch's examples, given by their `[user, title]` slots, by user slot (each
    /// user's examples in batch order), for users of `distinct_users` slots; the slots in that
    /// order, and room for the scores. Buffers grow to the largest batch once.
    fn sort(&mut self, slots: [&[u32]; 2], distinct_users: usize) -> ([&[u32]; 2], &mut [f32]) {
        let [users, titles] = slots;
        let n = users.len();
        group_by_key(users, distinct_users, &mut self.starts, &mut self.order);
        for (sorted, slots) in [(&mut self.users, users), (&mut self.titles, titles)] {
            sorted.clear();
            sorted.extend(self.order.iter().map(|&i| slots[i as usize]));
        }
        self.scores.resize(self.scores.len().max(n), 0.0);
        ([&self.users[..n], &self.titles[..n]], &mut self.scores[..n])
    }

    /// Puts the scores of the last [`sort`](Self::sort) back in the batch's order.
    fn unsort(&self, out: &mut [f32]) {
        for (&i, &score) in self.order.iter().zip(&self.scores[..out.len()]) {
            out[i as usize] = score;
        }
    }
}

/// How a step computes its gradients ([`FirstLayer`]).
#[derive(Debug)]
enum Path {
    /// The textbook step, kept as the reference the fast one is tested against.
    PerExample(Box<PerExample>),
    /// The first layer per distinct id, the tower a tile of rows at a time ([`TiledStep`]).
    Tiled {
        parts: Box<[LookupProjection; 2]>,
        tiled: Box<TiledStep>,
        predictions: Vec<f32>,
    },
}

/// The per-example path's buffers.
#[derive(Debug)]
struct PerExample {
    fwd: Forward,
    /// d loss / d activation of each dense layer (overwritten in place with d pre-activation).
    d_acts: Vec<Vec<f32>>,
    /// d loss / d x, the concatenated embeddings.
    d_x: Vec<f32>,
    user: SparseGrad,
    movie: SparseGrad,
}

/// Everything one training step needs besides the model.
#[derive(Debug)]
pub(crate) struct Step {
    path: Path,
    pub(crate) grads: Vec<DenseGrads>,
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
        let (users, movies) = (model.user_embedding.rows, model.movie_embedding.rows);
        let path = match first_layer {
            FirstLayer::PerExample => Path::PerExample(Box::new(PerExample {
                fwd: Forward::new(model, capacity),
                d_acts: model
                    .dense
                    .iter()
                    .map(|l| vec![0.0; capacity * l.units])
                    .collect(),
                d_x: vec![0.0; capacity * 2 * d],
                user: SparseGrad::new(users, d, capacity),
                movie: SparseGrad::new(movies, d, capacity),
            })),
            FirstLayer::PerDistinctId => {
                let units = model.dense[0].units;
                let part = |rows| LookupProjection::new(rows, d, units, capacity);
                let tasks = recsys_engine::parallel::tasks();
                Path::Tiled {
                    parts: Box::new([part(users), part(movies)]),
                    tiled: Box::new(TiledStep::new(&model.dense[0], &model.dense[1..], tasks)),
                    predictions: vec![0.0; capacity],
                }
            }
        };
        Step {
            path,
            grads: model.dense.iter().map(|l| l.zero_grads()).collect(),
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
        match &mut self.path {
            Path::PerExample(p) => p.gradients(
                model,
                users,
                titles,
                labels,
                &mut self.grads,
                (&mut self.task, self.loss_weight),
            ),
            Path::Tiled {
                parts,
                tiled,
                predictions,
            } => {
                let first = &model.dense[0];
                let tables = [&model.user_embedding, &model.movie_embedding];
                first.gather_or_project_lookups(&mut parts[..], &tables, &[users, titles]);
                let loss = self.task.loss;
                let later = &model.dense[1..];
                tiled.run(
                    first,
                    &mut parts[..],
                    later,
                    labels,
                    (loss, self.loss_weight),
                    predictions,
                    &mut self.grads,
                );
                let predictions = &predictions[..batch];
                self.task.observe(predictions, labels);
                loss.loss(predictions, labels)
            }
        }
    }

    /// Adds another task's per-example gradients of the last batch's user and movie embeddings
    /// (`[batch, dim]` each) to the embedding gradients [`gradients`](Self::gradients) wrote,
    /// so the optimizer sees the gradient of the summed loss, as TensorFlow's would.
    pub(crate) fn add_embedding_grads(&mut self, d_users: &[f32], d_movies: &[f32], dim: usize) {
        match &mut self.path {
            Path::PerExample(p) => {
                p.user.add(d_users, dim, 0);
                p.movie.add(d_movies, dim, 0);
            }
            Path::Tiled { parts, .. } => {
                let [u, m] = &mut **parts;
                u.add_row_grads(d_users, dim, 0);
                m.add_row_grads(d_movies, dim, 0);
            }
        }
    }

    /// How the tiled path took each of the last batch's lookups (users, titles): per
    /// `'e'`xample, per `'r'`un of examples, or `'p'`rojected per distinct row ahead.
    #[cfg(test)]
    pub(crate) fn lookup_modes(&self) -> [char; 2] {
        let mode = |p: &LookupProjection| match (p.per_example(), p.per_run()) {
            (true, _) => 'e',
            (_, true) => 'r',
            _ => 'p',
        };
        match &self.path {
            Path::Tiled { parts, .. } => [mode(&parts[0]), mode(&parts[1])],
            Path::PerExample(_) => ['e', 'e'],
        }
    }

    /// Sets the learning rate of the updates that follow.
    pub(crate) fn set_learning_rate(&mut self, learning_rate: f32) {
        self.optimizer = self.optimizer.with_learning_rate(learning_rate);
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
        let (users, movies) = (
            &mut model.user_embedding.table,
            &mut model.movie_embedding.table,
        );
        match &self.path {
            Path::PerExample(p) => {
                opt.update_sparse(t, users, &p.user, &mut self.user_slots);
                opt.update_sparse(t, movies, &p.movie, &mut self.movie_slots);
            }
            Path::Tiled { parts, .. } => {
                let [u, m] = &**parts;
                let mut updates = [
                    TableUpdate {
                        lookup: u,
                        table: users,
                        slots: &mut self.user_slots,
                    },
                    TableUpdate {
                        lookup: m,
                        table: movies,
                        slots: &mut self.movie_slots,
                    },
                ];
                opt.update_lookups(t, &mut updates);
            }
        }
    }

    /// The embedding gradients of the last step as `(rows, values)` for users and titles.
    #[cfg(test)]
    pub(crate) fn embedding_grads(&self) -> [(&[u32], &[f32]); 2] {
        match &self.path {
            Path::PerExample(p) => [
                (p.user.rows(), p.user.values()),
                (p.movie.rows(), p.movie.values()),
            ],
            Path::Tiled { parts, .. } => {
                let [u, m] = &**parts;
                [(u.rows(), u.row_grads()), (m.rows(), m.row_grads())]
            }
        }
    }
}

impl PerExample {
    /// The textbook step: whole-batch layers forward, the loss, whole-batch layers backward,
    /// then the input's gradient scattered into the embedding rows.
    fn gradients(
        &mut self,
        model: &RankingModel,
        users: &[u32],
        titles: &[u32],
        labels: &[f32],
        grads: &mut [DenseGrads],
        (task, loss_weight): (&mut RankingTask, f32),
    ) -> f32 {
        let batch = users.len();
        let last = model.dense.len() - 1;
        let predictions = self.fwd.run(model, users, titles);
        let d_predictions = &mut self.d_acts[last][..batch];
        let loss = task.compute(predictions, labels, d_predictions);
        if loss_weight != 1.0 {
            d_predictions.iter_mut().for_each(|d| *d *= loss_weight);
        }
        for i in (0..model.dense.len()).rev() {
            let (d_before, d_rest) = self.d_acts.split_at_mut(i);
            let (x, d_x) = match i {
                0 => (&self.fwd.x[..], &mut self.d_x[..]),
                _ => (&self.fwd.acts[i - 1][..], &mut d_before[i - 1][..]),
            };
            let out = &self.fwd.acts[i];
            model.dense[i].backward(x, out, batch, &mut d_rest[0], &mut grads[i], Some(d_x));
        }
        let d = model.config.embedding_dim;
        self.user.accumulate(users, &self.d_x, 2 * d, 0);
        self.movie.accumulate(titles, &self.d_x, 2 * d, d);
        loss
    }
}
