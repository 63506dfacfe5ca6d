//! `BiasedMf`: biased matrix factorization — a global bias, a bias per user and per item, and
//! the dot product of a user's and an item's factor vectors.
//!
//! Ranking, rating prediction: Koren, Bell & Volinsky, "Matrix Factorization Techniques for
//! Recommender Systems" (IEEE Computer, 2009), the tuned baseline the literature says to beat
//! first; the layer is [`recsys_engine::BiasedDot`]. Two trainers produce it: [`sgd`] (gradient
//! descent with the engine's optimizers, L2, a learning-rate decay and early stopping) and
//! [`bpmf`] (Bayesian MF by Gibbs sampling, whose averaged samples are saved as one wider
//! factorization). Raw strings go in through the model's own vocabularies, as in
//! [`RankingModel`](crate::kinds::ranking::RankingModel); unseen strings use row 0.

pub mod bpmf;
pub mod recipe;
pub mod sgd;

use recsys_data::{Rating, Vocabulary};
use recsys_engine::{BiasedDot, Embedding, RankingTask};
use serde::{Deserialize, Serialize};

use crate::contract::{Ids, Labeled, Model, Persist, Saved, Score, Scratch, lookup_pairs, rows_of};
use crate::tensors::Tensor;
use crate::train::{Examples, Metrics};
use crate::{Error, Result};

/// The factorization's shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BiasedMfConfig {
    /// Width of the user and item factor vectors (for a BPMF ensemble: the sample width times
    /// the number of samples kept).
    pub factors: usize,
    /// Predictions are clamped to `[low, high]` (the rating scale), if set.
    pub clip: Option<[f32; 2]>,
}

impl BiasedMfConfig {
    /// Checks the shape: 1 to 65,536 factors, and a clip range with `low < high`, both finite.
    pub fn check(&self) -> Result<()> {
        if !(1..=65536).contains(&self.factors) {
            return Err(Error::Config {
                field: "factors",
                allowed: "an integer from 1 to 65536",
                value: self.factors.to_string(),
            });
        }
        if let Some([lo, hi]) = self.clip
            && !(lo.is_finite() && hi.is_finite() && lo < hi)
        {
            return Err(Error::Config {
                field: "clip",
                allowed: "two finite numbers, low < high",
                value: format!("{lo},{hi}"),
            });
        }
        Ok(())
    }
}

/// A biased matrix factorization with its vocabularies: raw strings in, ratings out.
#[derive(Debug, Clone, PartialEq)]
pub struct BiasedMf {
    /// Its shape.
    pub config: BiasedMfConfig,
    /// Maps `user_id` strings to rows.
    pub user_vocabulary: Vocabulary,
    /// Maps `movie_title` strings to rows.
    pub title_vocabulary: Vocabulary,
    /// `p_u`: one row per user, plus the out-of-vocabulary row 0.
    pub user_factors: Embedding,
    /// `q_i`: one row per title, plus row 0.
    pub item_factors: Embedding,
    /// `b_u`, one value per user row.
    pub user_bias: Embedding,
    /// `b_i`, one value per title row.
    pub item_bias: Embedding,
    /// `g`, the global bias.
    pub global_bias: f32,
}

impl BiasedMf {
    /// A model with every weight zero (so it predicts `global_bias`, 0, until trained).
    pub fn zeros(config: BiasedMfConfig, users: Vocabulary, titles: Vocabulary) -> Result<Self> {
        config.check()?;
        let table = |rows: usize, dim: usize| Embedding {
            table: vec![0.0; rows * dim],
            rows,
            dim,
        };
        let (nu, ni, k) = (users.num_rows(), titles.num_rows(), config.factors);
        Ok(BiasedMf {
            user_factors: table(nu, k),
            item_factors: table(ni, k),
            user_bias: table(nu, 1),
            item_bias: table(ni, 1),
            global_bias: 0.0,
            config,
            user_vocabulary: users,
            title_vocabulary: titles,
        })
    }

    /// The engine layer over this model's tables.
    pub fn layer(&self) -> BiasedDot<'_> {
        BiasedDot {
            user_factors: &self.user_factors,
            item_factors: &self.item_factors,
            user_bias: &self.user_bias,
            item_bias: &self.item_bias,
            global: self.global_bias,
        }
    }

    /// Predictions for `(users[i], titles[i])` rows, clamped to the clip range.
    pub fn predict_rows(&self, users: &[u32], titles: &[u32]) -> Vec<f32> {
        let mut out = vec![0.0; users.len()];
        self.predict_rows_into(users, titles, &mut out);
        out
    }

    /// [`predict_rows`](Self::predict_rows) into `out` (one value per pair), allocating
    /// nothing: the serving path's form.
    ///
    /// # Panics
    /// If the slices differ in length or a row is outside its table.
    pub fn predict_rows_into(&self, users: &[u32], titles: &[u32], out: &mut [f32]) {
        assert!(
            users.len() == titles.len() && titles.len() == out.len(),
            "one user row and one output per title row"
        );
        self.layer().forward(users, titles, out);
        if let Some([lo, hi]) = self.config.clip {
            out.iter_mut().for_each(|p| *p = p.clamp(lo, hi));
        }
    }

    /// Maps ratings' strings through this model's vocabularies.
    pub fn encode(&self, ratings: &[Rating]) -> Examples {
        Examples::encode_with(&self.user_vocabulary, &self.title_vocabulary, ratings)
    }

    /// Number of trainable values.
    pub fn num_parameters(&self) -> usize {
        self.user_factors.table.len()
            + self.item_factors.table.len()
            + self.user_bias.table.len()
            + self.item_bias.table.len()
            + 1
    }
}

impl Model for BiasedMf {
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
        BiasedMf::num_parameters(self)
    }

    /// Unseen strings use row 0.
    fn predict(&self, users: &dyn Ids, titles: &dyn Ids) -> Result<Vec<f32>> {
        let (users, titles) =
            lookup_pairs(&self.user_vocabulary, &self.title_vocabulary, users, titles)?;
        Ok(self.predict_rows(&users, &titles))
    }

    fn evaluate(&self, test: &Labeled<'_>) -> Result<Metrics> {
        evaluate(
            self,
            &test.rows_in(&self.user_vocabulary, &self.title_vocabulary),
        )
    }

    /// A pair costs one dot product: nothing to precompute.
    fn into_scorer(self) -> Box<dyn Score> {
        Box::new(self)
    }
}

impl Score for BiasedMf {
    fn user_vocabulary(&self) -> &Vocabulary {
        &self.user_vocabulary
    }

    fn title_vocabulary(&self) -> &Vocabulary {
        &self.title_vocabulary
    }

    fn score_user<'s>(&self, user: &str, titles: &dyn Ids, scratch: &'s mut Scratch) -> &'s [f32] {
        rows_of(&mut scratch.titles, &self.title_vocabulary, titles);
        self.score_title_rows(self.user_vocabulary.lookup(user), scratch)
    }

    fn score_pairs<'s>(
        &self,
        users: &dyn Ids,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        rows_of(&mut scratch.users, &self.user_vocabulary, users);
        rows_of(&mut scratch.titles, &self.title_vocabulary, titles);
        let out = Scratch::grow(&mut scratch.scores, scratch.titles.len());
        self.predict_rows_into(&scratch.users, &scratch.titles, out);
        out
    }

    fn score_all<'s>(&self, user: &str, scratch: &'s mut Scratch) -> &'s [f32] {
        scratch.titles.clear();
        scratch.titles.extend(1..self.item_factors.rows as u32);
        self.score_title_rows(self.user_vocabulary.lookup(user), scratch)
    }
}

impl BiasedMf {
    /// Scores the title rows in `scratch.titles` for user row `user`, leaving `user` as the
    /// one user row looked up.
    fn score_title_rows<'s>(&self, user: u32, scratch: &'s mut Scratch) -> &'s [f32] {
        let n = scratch.titles.len();
        scratch.users.clear();
        scratch.users.resize(n, user);
        let out = Scratch::grow(&mut scratch.scores, n);
        self.predict_rows_into(&scratch.users, &scratch.titles, out);
        scratch.users.truncate(1);
        scratch.users.resize(1, user);
        out
    }
}

impl Persist for BiasedMf {
    const KIND: &'static str = "biased_mf";
    type Config = BiasedMfConfig;

    fn config(&self) -> BiasedMfConfig {
        self.config.clone()
    }

    /// `user_factors`, `item_factors` (`[rows, factors]`), `user_bias`, `item_bias` (`[rows]`)
    /// and `global_bias` (`[1]`).
    fn tensors(&self) -> Vec<Tensor<'_>> {
        let k = self.config.factors;
        let (nu, ni) = (self.user_factors.rows, self.item_factors.rows);
        vec![
            Tensor::new("user_factors", vec![nu, k], &self.user_factors.table),
            Tensor::new("item_factors", vec![ni, k], &self.item_factors.table),
            Tensor::new("user_bias", vec![nu], &self.user_bias.table),
            Tensor::new("item_bias", vec![ni], &self.item_bias.table),
            Tensor::new(
                "global_bias",
                vec![1],
                std::slice::from_ref(&self.global_bias),
            ),
        ]
    }

    fn load(config: BiasedMfConfig, saved: &mut dyn Saved) -> Result<Self> {
        config
            .check()
            .map_err(|e| saved.corrupt("manifest.json", format!("model config: {e}")))?;
        let (users, titles) = saved.vocabularies()?;
        let (nu, ni, k) = (users.num_rows(), titles.num_rows(), config.factors);
        let expected = [
            ("user_factors", vec![nu, k]),
            ("item_factors", vec![ni, k]),
            ("user_bias", vec![nu]),
            ("item_bias", vec![ni]),
            ("global_bias", vec![1]),
        ]
        .map(|(name, shape)| (name.to_owned(), shape));
        let mut values = saved.tensors(&expected)?.into_iter();
        let mut table = |rows: usize, dim: usize| Embedding {
            table: values.next().expect("one value vector per expected tensor"),
            rows,
            dim,
        };
        let (user_factors, item_factors) = (table(nu, k), table(ni, k));
        let (user_bias, item_bias) = (table(nu, 1), table(ni, 1));
        let global_bias = table(1, 1).table[0];
        Ok(BiasedMf {
            config,
            user_vocabulary: users,
            title_vocabulary: titles,
            user_factors,
            item_factors,
            user_bias,
            item_bias,
            global_bias,
        })
    }
}

/// `[lowest, highest]` rating in `examples`, the range predictions are clamped to (`None` if
/// every rating is the same).
pub fn rating_range(examples: &Examples) -> Option<[f32; 2]> {
    let (lo, hi) = examples
        .ratings
        .iter()
        .fold((f32::MAX, f32::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    (lo < hi).then_some([lo, hi])
}

/// The mean rating (the global bias both trainers fix).
pub fn mean_rating(examples: &Examples) -> f32 {
    let sum: f64 = examples.ratings.iter().map(|&r| r as f64).sum();
    (sum / examples.len().max(1) as f64) as f32
}

/// RMSE and MSE of `model` on `examples` (clamped predictions; no regularization).
pub fn evaluate(model: &BiasedMf, examples: &Examples) -> Result<Metrics> {
    if examples.is_empty() {
        return Err(Error::InvalidInput("no evaluation examples".into()));
    }
    let mut task = RankingTask::default();
    task.observe(
        &model.predict_rows(&examples.users, &examples.titles),
        &examples.ratings,
    );
    Ok(task.metrics().into())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small trained-looking model: 3 users, 3 titles, 2 factors, deterministic values.
    pub(crate) fn tiny() -> BiasedMf {
        let users = Vocabulary::from_values(["1", "2", "42"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)"]);
        let config = BiasedMfConfig {
            factors: 2,
            clip: Some([1.0, 5.0]),
        };
        let mut m = BiasedMf::zeros(config, users, titles).unwrap();
        let fill = |t: &mut Embedding, salt: f32| {
            t.table = recsys_engine::gradcheck::test_values(t.table.len(), salt);
        };
        fill(&mut m.user_factors, 0.1);
        fill(&mut m.item_factors, 0.2);
        fill(&mut m.user_bias, 0.3);
        fill(&mut m.item_bias, 0.4);
        m.global_bias = 3.5;
        m
    }

    #[test]
    fn predicts_global_plus_biases_plus_dot_clamped_and_unseen_uses_row_zero() {
        let m = tiny();
        let got = m
            .predict(&["42", "nobody"], &["B (1991)", "A (1990)"])
            .unwrap();
        let want = |u: usize, i: usize| {
            let f = &m.user_factors.table;
            let g = &m.item_factors.table;
            (3.5 + m.user_bias.table[u]
                + m.item_bias.table[i]
                + f[2 * u] * g[2 * i]
                + f[2 * u + 1] * g[2 * i + 1])
                .clamp(1.0, 5.0)
        };
        assert!((got[0] - want(3, 2)).abs() < 1e-6);
        assert!((got[1] - want(0, 1)).abs() < 1e-6);
        assert!(m.predict(&["1"], &["A (1990)", "B (1991)"]).is_err());
        let mut high = m.clone();
        high.global_bias = 100.0;
        assert_eq!(high.predict(&["1"], &["A (1990)"]).unwrap(), vec![5.0]);
    }

    #[test]
    fn bad_shapes_name_the_field() {
        let bad = |factors, clip| {
            BiasedMfConfig { factors, clip }
                .check()
                .unwrap_err()
                .to_string()
        };
        assert!(bad(0, None).contains("factors"));
        assert!(bad(2, Some([5.0, 1.0])).contains("clip"));
        assert!(bad(2, Some([f32::NAN, 1.0])).contains("clip"));
    }

    #[test]
    fn evaluate_reports_rmse_of_clamped_predictions() {
        let m = tiny();
        let mut e = m.encode(&[]);
        assert!(evaluate(&m, &e).is_err());
        e = Examples {
            users: vec![1, 2],
            titles: vec![1, 3],
            ratings: vec![1.0, 5.0],
            timestamps: None,
        };
        let p = m.predict_rows(&e.users, &e.titles);
        let want = (((p[0] - 1.0).powi(2) + (p[1] - 5.0).powi(2)) as f64 / 2.0).sqrt();
        let got = evaluate(&m, &e).unwrap().root_mean_squared_error;
        assert!((got - want).abs() < 1e-6);
    }
}
