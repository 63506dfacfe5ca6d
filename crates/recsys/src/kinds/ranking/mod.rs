//! `RankingModel`: the TFRS ranking tutorial's model — two embeddings, concatenated, then a
//! stack of dense layers down to one predicted rating.
//!
//! Raw strings go in (a user id, a movie title); the model's own vocabularies map them to
//! embedding rows, unseen strings to the out-of-vocabulary row 0, as Keras `StringLookup` does.
//!
//! The kind's folder: [`fit`](mod@fit) (Keras's `fit` and `evaluate`; the step in `step`),
//! [`multitask`] (the same model trained for rating and retrieval at once), [`recipe`] (the
//! kind's side of the fitting contract), `serving` (the first layer's halves precomputed for
//! scoring many candidates) and [`weights`] (TFRS's tensor names and layouts).

use recsys_data::Vocabulary;
use recsys_engine::matmul::{Op, gemm};
use recsys_engine::{Activation, Dense, Embedding, InitRng, init::EMBEDDING_UNIFORM_LIMIT};
use serde::{Deserialize, Serialize};

use crate::contract::{Ids, Labeled, Model, Persist, Saved, Score, lookup_pairs};
use crate::tensors::{Tensor, shapes};
use crate::train::Metrics;
use crate::{Error, Result};

pub mod fit;
pub mod multitask;
pub mod recipe;
mod serving;
pub(crate) mod step;
pub mod weights;

pub use fit::{FirstLayer, evaluate, evaluate_spooled, fit, fit_owned, fit_spooled, fit_with};
pub(crate) use fit::{Stepper, fit_steps};
pub use recipe::{RankingRecipe, ValidRankingRecipe};
pub use serving::{Tower, USER_HALF_LIMIT};
pub(crate) use step::{Predictor, Step};

/// The model's shape (ranking: TFRS's `RankingModel` with `embedding_dimension = 32` and
/// dense layers of 256 and 64 units by default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RankingModelConfig {
    /// Width of each embedding.
    pub embedding_dim: usize,
    /// Widths of the hidden ReLU layers; a final linear layer of width 1 follows.
    pub hidden_layers: Vec<usize>,
}

impl Default for RankingModelConfig {
    fn default() -> Self {
        RankingModelConfig {
            embedding_dim: 32,
            hidden_layers: vec![256, 64],
        }
    }
}

impl RankingModelConfig {
    /// Checks the shape: an embedding width and every layer width between 1 and 65,536.
    pub fn check(&self) -> Result<()> {
        const ALLOWED: &str = "an integer from 1 to 65536";
        if !(1..=65536).contains(&self.embedding_dim) {
            return Err(Error::Config {
                field: "embedding-dim",
                allowed: ALLOWED,
                value: self.embedding_dim.to_string(),
            });
        }
        if let Some(w) = self
            .hidden_layers
            .iter()
            .find(|w| !(1..=65536).contains(*w))
        {
            return Err(Error::Config {
                field: "layers",
                allowed: ALLOWED,
                value: w.to_string(),
            });
        }
        Ok(())
    }

    /// The widths of every dense layer, input first: `[2·dim, hidden..., 1]`.
    pub(crate) fn widths(&self) -> Vec<usize> {
        let mut w = vec![2 * self.embedding_dim];
        w.extend(&self.hidden_layers);
        w.push(1);
        w
    }
}

/// The tutorial's ranking model with its vocabularies: raw strings in, ratings out.
#[derive(Debug, Clone, PartialEq)]
pub struct RankingModel {
    /// Its shape.
    pub config: RankingModelConfig,
    /// Maps `user_id` strings to rows of `user_embedding`.
    pub user_vocabulary: Vocabulary,
    /// Maps `movie_title` strings to rows of `movie_embedding`.
    pub title_vocabulary: Vocabulary,
    /// One row per user, plus the out-of-vocabulary row 0.
    pub user_embedding: Embedding,
    /// One row per title, plus the out-of-vocabulary row 0.
    pub movie_embedding: Embedding,
    /// Hidden ReLU layers, then the final linear layer.
    pub dense: Vec<Dense>,
}

/// One of the two lookups that feed the first layer (`x = concat(user, title)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Half {
    /// The user embedding, the kernel's first `embedding_dim` rows.
    User,
    /// The title embedding, the kernel's next `embedding_dim` rows.
    Title,
}

impl RankingModel {
    /// `table · W1_half` for every row of one embedding table, `[rows, first layer units]`: the
    /// first layer's pre-activation is the user half's row plus the title half's row plus the
    /// bias, so with both halves projected a prediction needs no first-layer product at all.
    pub(crate) fn project_half(&self, half: Half) -> Vec<f32> {
        let mut out = Vec::new();
        self.project_half_into(half, &mut out);
        out
    }

    /// [`project_half`](Self::project_half) into `out`, resized to fit: a buffer already of
    /// that length is overwritten without being zeroed first.
    pub(crate) fn project_half_into(&self, half: Half, out: &mut Vec<f32>) {
        let (d, units) = (self.config.embedding_dim, self.dense[0].units);
        let (table, offset) = match half {
            Half::User => (&self.user_embedding, 0),
            Half::Title => (&self.movie_embedding, d),
        };
        // The block is a contiguous [d, units] slice of the row-major kernel.
        let block = &self.dense[0].kernel[offset * units..(offset + d) * units];
        out.resize(table.rows * units, 0.0);
        gemm(
            table.rows,
            d,
            units,
            &table.table,
            Op::N,
            block,
            Op::N,
            0.0,
            out,
        );
    }

    /// A freshly initialised model (Keras defaults, drawn from `seed`: the user table first,
    /// then the movie table, then each dense kernel in order).
    pub fn new(
        config: RankingModelConfig,
        user_vocabulary: Vocabulary,
        title_vocabulary: Vocabulary,
        seed: u64,
    ) -> Result<Self> {
        config.check()?;
        let mut rng = InitRng::new(seed);
        let d = config.embedding_dim;
        let user_embedding = Embedding::uniform(
            user_vocabulary.num_rows(),
            d,
            EMBEDDING_UNIFORM_LIMIT,
            &mut rng,
        );
        let movie_embedding = Embedding::uniform(
            title_vocabulary.num_rows(),
            d,
            EMBEDDING_UNIFORM_LIMIT,
            &mut rng,
        );
        let widths = config.widths();
        let last = widths.len() - 2;
        let dense = widths
            .windows(2)
            .enumerate()
            .map(|(i, w)| {
                let act = if i == last {
                    Activation::Linear
                } else {
                    Activation::Relu
                };
                Dense::glorot(w[0], w[1], act, &mut rng)
            })
            .collect();
        Ok(RankingModel {
            config,
            user_vocabulary,
            title_vocabulary,
            user_embedding,
            movie_embedding,
            dense,
        })
    }

    /// Maps ratings' strings through this model's vocabularies.
    pub fn encode(&self, ratings: &[recsys_data::Rating]) -> crate::train::Examples {
        crate::train::Examples::encode_with(&self.user_vocabulary, &self.title_vocabulary, ratings)
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.user_embedding.table.len()
            + self.movie_embedding.table.len()
            + self
                .dense
                .iter()
                .map(|l| l.kernel.len() + l.bias.len())
                .sum::<usize>()
    }

    /// Predictions for `(users[i], titles[i])` rows of its vocabularies, in passes of 8,192.
    pub fn predict_rows(&self, users: &[u32], titles: &[u32]) -> Vec<f32> {
        let mut scorer = Predictor::new(self, users.len().clamp(1, 8192), users.len());
        let mut out = Vec::with_capacity(users.len());
        for (u, t) in users.chunks(8192).zip(titles.chunks(8192)) {
            out.extend_from_slice(scorer.run(self, u, t));
        }
        out
    }
}

impl Model for RankingModel {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn user_vocabulary(&self) -> &Vocabulary {
        &self.user_vocabulary
    }

    fn title_vocabulary(&self) -> &Vocabulary {
        &self.title_vocabulary
    }

    fn num_parameters(&self) -> usize {
        RankingModel::num_parameters(self)
    }

    /// Unseen users or titles use the out-of-vocabulary row.
    fn predict(&self, users: &dyn Ids, titles: &dyn Ids) -> Result<Vec<f32>> {
        let (users, titles) =
            lookup_pairs(&self.user_vocabulary, &self.title_vocabulary, users, titles)?;
        Ok(self.predict_rows(&users, &titles))
    }

    fn evaluate(&self, test: &Labeled<'_>) -> Result<Metrics> {
        let rows = test.rows_in(&self.user_vocabulary, &self.title_vocabulary);
        evaluate(self, &rows, 4096)
    }

    fn into_scorer(self) -> Box<dyn Score> {
        Box::new(Tower::new(self))
    }
}

impl Persist for RankingModel {
    const KIND: &'static str = "ranking";
    type Config = RankingModelConfig;

    fn config(&self) -> RankingModelConfig {
        self.config.clone()
    }

    /// TFRS's names and layouts ([`weights`]).
    fn tensors(&self) -> Vec<Tensor<'_>> {
        weights::named(self)
    }

    fn load(config: RankingModelConfig, saved: &mut dyn Saved) -> Result<Self> {
        config
            .check()
            .map_err(|e| saved.corrupt("manifest.json", format!("model config: {e}")))?;
        let (users, titles) = saved.vocabularies()?;
        // Seed 0 only sizes the tables: every value is replaced by the saved one.
        let mut model = RankingModel::new(config, users, titles, 0)?;
        let values = saved.tensors(&shapes(&model.tensors()))?;
        for (slot, v) in weights::named_mut(&mut model).into_iter().zip(values) {
            *slot.1 = v;
        }
        Ok(model)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Model;

    pub(crate) fn tiny_model(seed: u64) -> RankingModel {
        let users = Vocabulary::from_values(["1", "2", "42"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)"]);
        let config = RankingModelConfig {
            embedding_dim: 4,
            hidden_layers: vec![8, 4],
        };
        RankingModel::new(config, users, titles, seed).unwrap()
    }

    #[test]
    fn same_seed_same_weights_other_seed_other_weights() {
        assert_eq!(tiny_model(1), tiny_model(1));
        assert_ne!(tiny_model(1).dense[0].kernel, tiny_model(2).dense[0].kernel);
    }

    #[test]
    fn layer_shapes_follow_the_config() {
        let m = tiny_model(0);
        let shapes: Vec<(usize, usize)> = m.dense.iter().map(|l| (l.input_dim, l.units)).collect();
        assert_eq!(shapes, vec![(8, 8), (8, 4), (4, 1)]);
        assert_eq!(m.dense[2].activation, Activation::Linear);
        assert_eq!(m.user_embedding.rows, 4);
    }

    #[test]
    fn predictions_match_a_hand_written_forward_pass_and_unseen_uses_row_zero() {
        let m = tiny_model(3);
        let got = m
            .predict(&["42", "nobody"], &["B (1991)", "A (1990)"])
            .unwrap();
        let manual = |u: u32, t: u32| {
            let mut x: Vec<f32> = m.user_embedding.row(u).to_vec();
            x.extend_from_slice(m.movie_embedding.row(t));
            for l in &m.dense {
                let mut y = vec![0.0; l.units];
                l.forward(&x, 1, &mut y);
                x = y;
            }
            x[0]
        };
        assert!((got[0] - manual(3, 2)).abs() < 1e-6);
        assert!((got[1] - manual(0, 1)).abs() < 1e-6);
    }

    #[test]
    fn rank_sorts_best_first_and_mismatched_lengths_are_an_error() {
        let m = tiny_model(5);
        let ranked = m.rank("1", &["A (1990)", "B (1991)", "C (1992)"]).unwrap();
        assert!(ranked.windows(2).all(|w| w[0].1 >= w[1].1));
        assert_eq!(m.rank_all("1", 2).unwrap().len(), 2);
        assert!(m.predict(&["1"], &["A (1990)", "B (1991)"]).is_err());
    }

    #[test]
    fn bad_shapes_are_rejected_naming_the_field() {
        let cfg = RankingModelConfig {
            embedding_dim: 0,
            hidden_layers: vec![],
        };
        let err = cfg.check().unwrap_err().to_string();
        assert!(err.contains("embedding-dim"), "{err}");
    }
}
