//! `FeatureModel`: a rating model over side features — one embedding per feature (multi-valued
//! ones mean-pooled), concatenated, optional DCN-v2 cross layers, then a ReLU tower to one
//! rating.
//!
//! Ranking, rating prediction: the model of TFRS's featurization and DCN tutorials
//! ("Using side features", "Deep & Cross Network"), with the features MovieLens 100k's own
//! files give: user age, gender, occupation and zip prefix (`u.user`), genres and release year
//! (`u.item`), title tokens, and the rating's time (`u.data`). Which features, how each is
//! looked up (vocabulary or hash bins) and the network's shape are declared in a TOML recipe
//! ([`config`]); [`encode`] turns raw interactions (or rows of a data set's vocabularies) into
//! feature rows; [`fit`] trains it by minibatch gradient descent with the engine's optimizers,
//! through the one epoch loop; [`recipe`] is the kind's side of the fitting contract (side
//! information joined, lookups fitted, validation held out); `persist` its files on disk.

pub mod config;
pub mod encode;
pub mod fit;
mod persist;
pub mod recipe;

use recsys_data::{Rating, Vocabulary};
use recsys_engine::init::{EMBEDDING_UNIFORM_LIMIT, InitRng};
use recsys_engine::{Activation, Cross, CrossBuffers, Dense, Dropout, Embedding, RankingTask};

pub use config::{
    FeatureInput, FeatureModelConfig, FeatureRecipe, FeatureSpec, ValidFeatureRecipe,
};
pub use encode::{FeatureEncoder, FeatureRows, Interaction, Lookup, SideTable};

use crate::contract::{Ids, Labeled, Model, Score, Scratch, rows_of};
use crate::tensors::Tensor;
use crate::train::Metrics;
use crate::{Error, Result};

/// The side-feature rating model, with everything it needs to score raw ids and titles.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureModel {
    /// Its shape.
    pub config: FeatureModelConfig,
    /// Each feature's fitted lookup.
    pub encoder: FeatureEncoder,
    /// Side information of the users and titles it knows.
    pub side: SideTable,
    /// The users it was trained on (the artifact's `vocabulary.json`).
    pub user_vocabulary: Vocabulary,
    /// The titles it was trained on: the catalogue `rank --all` scores.
    pub title_vocabulary: Vocabulary,
    /// One table per feature, in the config's order.
    pub embeddings: Vec<Embedding>,
    /// The cross layers, applied in order to the concatenated embeddings.
    pub cross: Vec<Cross>,
    /// The tower: ReLU layers, then one linear unit.
    pub tower: Vec<Dense>,
}

/// Activations of one forward pass, kept for the backward pass; sized once for a batch.
#[derive(Debug, Clone)]
pub struct Pass {
    capacity: usize,
    /// `x0` (the concatenated embeddings) and each cross layer's output, `[batch, width]`.
    xs: Vec<Vec<f32>>,
    cross: Vec<CrossBuffers>,
    /// Each tower layer's output, `[batch, units]`.
    acts: Vec<Vec<f32>>,
    /// With a dot interaction: its products `[batch, pairs]`, and the tower's input
    /// `[batch, width + pairs]` (the last of `xs` beside them); else empty.
    dots: Vec<f32>,
    tower_input: Vec<f32>,
}

impl FeatureModel {
    /// A model with seeded initial weights (Keras's defaults: embeddings uniform in ±0.05,
    /// glorot-uniform kernels, zero biases) and the lookups `encoder` fitted.
    pub fn new(
        config: FeatureModelConfig,
        encoder: FeatureEncoder,
        side: SideTable,
        users: Vocabulary,
        titles: Vocabulary,
        seed: u64,
    ) -> Result<Self> {
        config.check()?;
        if encoder.specs() != config.features.as_slice() {
            return Err(Error::InvalidInput(
                "the encoder's features are not the config's".into(),
            ));
        }
        let mut rng = InitRng::new(seed);
        let embeddings = config
            .features
            .iter()
            .zip(encoder.lookups())
            .map(|(s, l)| {
                Embedding::uniform(l.table_rows(), s.dim, EMBEDDING_UNIFORM_LIMIT, &mut rng)
            })
            .collect();
        let width = config.input_width();
        let n = &config.network;
        let cross = (0..n.cross_layers)
            .map(|_| Cross::glorot(width, n.cross_rank, &mut rng))
            .collect();
        let mut tower = Vec::new();
        let mut input = config.tower_input_width();
        for &units in &n.hidden_layers {
            tower.push(Dense::glorot(input, units, Activation::Relu, &mut rng));
            input = units;
        }
        tower.push(Dense::glorot(input, 1, Activation::Linear, &mut rng));
        Ok(FeatureModel {
            config,
            encoder,
            side,
            user_vocabulary: users,
            title_vocabulary: titles,
            embeddings,
            cross,
            tower,
        })
    }

    /// Buffers for forward passes of up to `capacity` interactions.
    pub fn pass(&self, capacity: usize) -> Pass {
        let width = self.config.input_width();
        Pass {
            capacity,
            xs: vec![vec![0.0; capacity * width]; self.cross.len() + 1],
            cross: self.cross.iter().map(|c| c.buffers(capacity)).collect(),
            acts: self
                .tower
                .iter()
                .map(|d| vec![0.0; capacity * d.units])
                .collect(),
            dots: vec![0.0; capacity * self.pairs()],
            tower_input: match self.config.dot_interaction() {
                Some(_) => vec![0.0; capacity * self.config.tower_input_width()],
                None => Vec::new(),
            },
        }
    }

    /// Number of dot products the interaction adds (0 without one).
    fn pairs(&self) -> usize {
        self.config
            .dot_interaction()
            .map_or(0, |d| d.output_width())
    }

    /// Runs `rows` (at most the pass's capacity) forward; returns the predictions, unclamped.
    pub fn forward<'p>(&self, rows: &FeatureRows, pass: &'p mut Pass) -> &'p [f32] {
        self.forward_with(rows, pass, None)
    }

    /// [`forward`](Self::forward) while training: with `dropout`, one per hidden layer,
    /// applied to its output.
    pub(crate) fn forward_with<'p>(
        &self,
        rows: &FeatureRows,
        pass: &'p mut Pass,
        mut dropout: Option<&mut [Dropout]>,
    ) -> &'p [f32] {
        let n = rows.len();
        assert!(n <= pass.capacity, "forward: batch larger than the pass");
        let width = self.config.input_width();
        let mut offset = 0;
        for (f, table) in self.embeddings.iter().enumerate() {
            table.gather_mean(rows.feature(f), &mut pass.xs[0], width, offset);
            offset += table.dim;
        }
        for (l, layer) in self.cross.iter().enumerate() {
            let (head, tail) = pass.xs.split_at_mut(l + 1);
            layer.forward(&head[0], &head[l], n, &mut pass.cross[l], &mut tail[0]);
        }
        let dot = self.config.dot_interaction();
        if let Some(dot) = dot {
            dot.forward(&pass.xs[0], n, &mut pass.dots);
            let (x, p) = (width, dot.output_width());
            let rows = pass.tower_input.chunks_exact_mut(x + p).take(n);
            let sources = pass.xs[self.cross.len()]
                .chunks_exact(x)
                .zip(pass.dots.chunks(p.max(1)));
            for (row, (x_row, dots)) in rows.zip(sources) {
                row[..x].copy_from_slice(x_row);
                row[x..].copy_from_slice(&dots[..p]);
            }
        }
        for k in 0..self.tower.len() {
            let (head, tail) = pass.acts.split_at_mut(k);
            let input = match (k, dot) {
                (0, Some(_)) => &pass.tower_input,
                (0, None) => &pass.xs[self.cross.len()],
                _ => &head[k - 1],
            };
            self.tower[k].forward(input, n, &mut tail[0]);
            if let Some(d) = dropout.as_deref_mut().and_then(|d| d.get_mut(k)) {
                d.forward(&mut tail[0][..n * self.tower[k].units]);
            }
        }
        &pass.acts[self.tower.len() - 1][..n]
    }

    /// Clamps predictions to the training ratings' range, when known.
    fn clamp(&self, out: &mut [f32]) {
        if let Some([lo, hi]) = self.config.clip {
            out.iter_mut().for_each(|p| *p = p.clamp(lo, hi));
        }
    }

    /// Predicted ratings for already-encoded interactions, in passes of 4,096.
    pub fn predict_rows(&self, rows: &FeatureRows) -> Vec<f32> {
        const CHUNK: usize = 4096;
        let mut pass = self.pass(CHUNK.min(rows.len()).max(1));
        let mut chunk = FeatureRows::new(self.embeddings.len());
        let mut out = Vec::with_capacity(rows.len());
        let order: Vec<usize> = (0..rows.len()).collect();
        for part in order.chunks(CHUNK) {
            chunk.select_from(rows, part);
            out.extend_from_slice(self.forward(&chunk, &mut pass));
        }
        self.clamp(&mut out);
        out
    }

    /// Predicted ratings for raw interactions (a user or title without side information reads
    /// row 0 for those features; see [`encode`]).
    pub fn predict_interactions(&self, interactions: &[Interaction]) -> Vec<f32> {
        self.predict_rows(&self.encoder.encode(interactions, &self.side))
    }

    /// The interactions `(users[i], titles[i])`, with no rating time (the timestamp feature,
    /// if any, reads its "unknown" row). Errors if the lengths differ.
    fn interactions<'a>(users: &'a dyn Ids, titles: &'a dyn Ids) -> Result<Vec<Interaction<'a>>> {
        Error::check_pairs(users.len(), titles.len())?;
        Ok((0..titles.len())
            .map(|i| Interaction {
                user_id: users.id(i),
                title: titles.id(i),
                timestamp: None,
            })
            .collect())
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        let e: usize = self.embeddings.iter().map(|t| t.table.len()).sum();
        let c: usize = self
            .cross
            .iter()
            .map(|c| c.kernel.len() + c.kernel_v.len() + c.dim)
            .sum();
        let d: usize = self.tower.iter().map(|d| d.kernel.len() + d.units).sum();
        e + c + d
    }

    /// Every tensor, named (`feature_{i}_{input}/embedding`, `cross_{l}/kernel`,
    /// `cross_{l}/kernel_v` at low rank, `cross_{l}/bias`, `dense_{k}/kernel`, `dense_{k}/bias`)
    /// with its shape, in a fixed order.
    pub fn tensors(&self) -> Vec<Tensor<'_>> {
        let mut out = Vec::new();
        for (i, (t, s)) in self
            .embeddings
            .iter()
            .zip(&self.config.features)
            .enumerate()
        {
            let name = format!("feature_{i}_{}/embedding", s.input.name());
            out.push(Tensor::new(name, vec![t.rows, t.dim], &t.table));
        }
        for (l, c) in self.cross.iter().enumerate() {
            let r = c.rank.unwrap_or(c.dim);
            out.push(Tensor::new(
                format!("cross_{l}/kernel"),
                vec![c.dim, r],
                &c.kernel,
            ));
            if let Some(r) = c.rank {
                let name = format!("cross_{l}/kernel_v");
                out.push(Tensor::new(name, vec![r, c.dim], &c.kernel_v));
            }
            out.push(Tensor::new(format!("cross_{l}/bias"), vec![c.dim], &c.bias));
        }
        for (k, d) in self.tower.iter().enumerate() {
            let shape = vec![d.input_dim, d.units];
            out.push(Tensor::new(format!("dense_{k}/kernel"), shape, &d.kernel));
            out.push(Tensor::new(
                format!("dense_{k}/bias"),
                vec![d.units],
                &d.bias,
            ));
        }
        out
    }

    /// Every tensor, mutable, in [`tensors`](Self::tensors)'s order.
    pub fn tensors_mut(&mut self) -> Vec<&mut Vec<f32>> {
        let mut out: Vec<&mut Vec<f32>> =
            self.embeddings.iter_mut().map(|t| &mut t.table).collect();
        for c in &mut self.cross {
            out.push(&mut c.kernel);
            if c.rank.is_some() {
                out.push(&mut c.kernel_v);
            }
            out.push(&mut c.bias);
        }
        for d in &mut self.tower {
            out.push(&mut d.kernel);
            out.push(&mut d.bias);
        }
        out
    }
}

impl Model for FeatureModel {
    fn kind(&self) -> &'static str {
        <Self as crate::contract::Persist>::KIND
    }

    fn user_vocabulary(&self) -> &Vocabulary {
        &self.user_vocabulary
    }

    fn title_vocabulary(&self) -> &Vocabulary {
        &self.title_vocabulary
    }

    fn num_parameters(&self) -> usize {
        FeatureModel::num_parameters(self)
    }

    /// With no rating time; an id outside the vocabularies keeps its hashed features and side
    /// information.
    fn predict(&self, users: &dyn Ids, titles: &dyn Ids) -> Result<Vec<f32>> {
        Ok(self.predict_interactions(&Self::interactions(users, titles)?))
    }

    /// Each example's features from its user's and title's strings (so ids the model lacks
    /// keep their hashed features) and its time, when the examples carry times.
    fn evaluate(&self, test: &Labeled<'_>) -> Result<Metrics> {
        let e = test.examples;
        if e.is_empty() {
            return Err(Error::InvalidInput("no evaluation examples".into()));
        }
        let time = |i: usize| test.time(i);
        let vocabularies = (test.users, test.titles);
        let rows = (self.encoder).encode_examples(e, vocabularies, time, &self.side);
        let mut task = RankingTask::default();
        task.observe(&self.predict_rows(&rows), &e.ratings);
        Ok(task.metrics().into())
    }

    fn out_of_vocabulary(&self) -> &'static str {
        "scored through its features, unknown rows for the rest"
    }

    fn reads_times(&self) -> bool {
        self.config.uses_timestamp()
    }

    /// Features are built per request from the strings themselves (no precomputed halves).
    fn into_scorer(self) -> Box<dyn Score> {
        Box::new(self)
    }
}

impl Score for FeatureModel {
    fn user_vocabulary(&self) -> &Vocabulary {
        &self.user_vocabulary
    }

    fn title_vocabulary(&self) -> &Vocabulary {
        &self.title_vocabulary
    }

    fn out_of_vocabulary(&self) -> &'static str {
        Model::out_of_vocabulary(self)
    }

    fn score_user<'s>(&self, user: &str, titles: &dyn Ids, scratch: &'s mut Scratch) -> &'s [f32] {
        let users = crate::contract::Repeat::new(user, titles.len());
        let scored = self.score_pairs(&users, titles, scratch).len();
        scratch.users.truncate(1.min(scored));
        &scratch.scores[..scored]
    }

    fn score_pairs<'s>(
        &self,
        users: &dyn Ids,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        rows_of(&mut scratch.users, &self.user_vocabulary, users);
        rows_of(&mut scratch.titles, &self.title_vocabulary, titles);
        let interactions = Self::interactions(users, titles).expect("one user id per title");
        let scores = self.predict_interactions(&interactions);
        let out = Scratch::grow(&mut scratch.scores, scores.len());
        out.copy_from_slice(&scores);
        out
    }

    fn score_all<'s>(&self, user: &str, scratch: &'s mut Scratch) -> &'s [f32] {
        let titles = self.title_vocabulary.values();
        let titles: Vec<&str> = titles.iter().collect();
        self.score_user(user, &titles, scratch)
    }
}

impl<'a> From<&'a Rating> for Interaction<'a> {
    fn from(r: &'a Rating) -> Self {
        Interaction {
            user_id: &r.user_id,
            title: &r.movie_title,
            timestamp: r.timestamp,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
