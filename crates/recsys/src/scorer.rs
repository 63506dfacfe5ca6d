//! `Scorer`: the serving path of a saved model of any kind — raw user ids and titles in, many
//! candidates for one user, fast.
//!
//! A scorer holds the model's serving form ([`Score`]), which the kind
//! chooses: the ranking model precomputes its first layer's item half for every title (and
//! the user half for every user when that fits [`USER_HALF_LIMIT`]), so scoring many
//! candidates for one user costs the later layers only; a biased MF scores a pair with one dot
//! product; the side-feature model builds each request's features from the strings
//! themselves (an id outside its vocabulary keeps its hashed features). Callers never ask
//! which kind they hold.
//!
//! A [`Scorer`] is immutable and shared between threads; each caller brings a [`Scratch`] whose
//! buffers grow to the largest request seen and are then reused, so a warm call allocates
//! nothing of its own for the ranking model and biased MF (on CPUs without AVX-512, the
//! fallback GEMM crate still allocates its packing buffers inside each product).
//!
//! ```
//! use recsys::contract::Model;
//! use recsys::data::Vocabulary;
//! use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
//! use recsys::scorer::{Scorer, Scratch};
//!
//! # fn main() -> Result<(), recsys::Error> {
//! let users = Vocabulary::from_values(["1", "2"]);
//! let titles = Vocabulary::from_values(["Heat (1995)", "Babe (1995)"]);
//! let model = RankingModel::new(RankingModelConfig::default(), users, titles, 42)?;
//! let want = model.predict(&["2", "2"], &["Heat (1995)", "unknown title"])?;
//!
//! let scorer = Scorer::new(model);
//! let mut scratch = Scratch::default();
//! let got = scorer.score_user("2", &["Heat (1995)", "unknown title"], &mut scratch);
//! assert!((got[0] - want[0]).abs() < 1e-5 && (got[1] - want[1]).abs() < 1e-5);
//! assert_eq!(scratch.title_rows()[1], 0); // out of vocabulary: row 0
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering;

use recsys_data::Vocabulary;

pub use crate::contract::Scratch;
use crate::contract::{Ids, Model, Score};
use crate::kinds::AnyModel;
pub use crate::kinds::ranking::USER_HALF_LIMIT;

/// Scores raw `(user, title)` pairs with a model's serving form, whatever its kind.
#[derive(Debug)]
pub struct Scorer {
    inner: Box<dyn Score>,
}

impl Scorer {
    /// The serving form of `model` (a ranking model's halves are precomputed here).
    pub fn new(model: impl Into<AnyModel>) -> Self {
        Scorer {
            inner: model.into().into_scorer(),
        }
    }

    /// The vocabulary that maps raw user ids to rows.
    pub fn user_vocabulary(&self) -> &Vocabulary {
        self.inner.user_vocabulary()
    }

    /// The vocabulary that maps raw titles to rows: the catalogue.
    pub fn title_vocabulary(&self) -> &Vocabulary {
        self.inner.title_vocabulary()
    }

    /// How an id outside the vocabularies is scored, for a warning.
    pub fn out_of_vocabulary(&self) -> &'static str {
        self.inner.out_of_vocabulary()
    }

    /// Scores `titles` for one raw user id: one score per title, in order, borrowed from
    /// `scratch`, which also keeps the rows looked up ([`Scratch::title_rows`]).
    pub fn score_user<'s>(
        &self,
        user: &str,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        self.inner.score_user(user, titles, scratch)
    }

    /// Scores `(users[i], titles[i])` pairs; when every pair has the same user (a ranking
    /// request sent as pairs), takes the one-user path.
    ///
    /// # Panics
    /// If the two lists differ in length.
    pub fn score_pairs<'s>(
        &self,
        users: &dyn Ids,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        assert_eq!(users.len(), titles.len(), "one user id per title");
        let one_user = (1..users.len()).all(|i| users.id(i) == users.id(0));
        if one_user && !users.is_empty() {
            let scores = self.inner.score_user(users.id(0), titles, scratch).len();
            let user = scratch.users[0];
            scratch.users.clear();
            scratch.users.resize(scores, user);
            return &scratch.scores[..scores];
        }
        self.inner.score_pairs(users, titles, scratch)
    }

    /// Scores every title of the catalogue for one raw user id: score `i` is title row
    /// `i + 1` of [`title_vocabulary`](Self::title_vocabulary).
    pub fn score_all<'s>(&self, user: &str, scratch: &'s mut Scratch) -> &'s [f32] {
        self.inner.score_all(user, scratch)
    }
}

/// Positions of the `k` best `scores`, best first; ties keep the lower position first (the
/// order a stable descending sort gives). `k` larger than the list means all of it.
pub fn top_k(scores: &[f32], k: usize, order: &mut Vec<u32>) {
    order.clear();
    order.extend(0..scores.len() as u32);
    let by_score = |a: &u32, b: &u32| -> Ordering {
        scores[*b as usize]
            .total_cmp(&scores[*a as usize])
            .then(a.cmp(b))
    };
    let k = k.min(order.len());
    if k == 0 {
        order.clear();
        return;
    }
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, by_score);
        order.truncate(k);
    }
    order.sort_unstable_by(by_score);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kinds::mf::{BiasedMf, BiasedMfConfig};
    use crate::kinds::ranking::{RankingModel, RankingModelConfig};

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-5, "score {i}: {g} vs {w}");
        }
    }

    #[test]
    fn raw_strings_score_as_predict_does_for_one_user_and_for_pairs() {
        let users = Vocabulary::from_values(["1", "2", "42", "7"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)", "D (1993)"]);
        let config = RankingModelConfig {
            embedding_dim: 5,
            hidden_layers: vec![16, 8],
        };
        let m = RankingModel::new(config, users, titles, 5).unwrap();
        let scorer = Scorer::new(m.clone());
        let mut scratch = Scratch::default();
        let titles = ["D (1993)", "nope", "A (1990)"];
        let want = m.predict(&["7"; 3], &titles).unwrap();
        assert_close(scorer.score_user("7", &titles, &mut scratch), &want);
        assert_close(scorer.score_pairs(&["7"; 3], &titles, &mut scratch), &want);
        assert_eq!(scratch.user_rows(), [4, 4, 4]);
        let users = ["7", "x", "2"];
        let want = m.predict(&users, &titles).unwrap();
        assert_close(scorer.score_pairs(&users, &titles, &mut scratch), &want);
        assert_eq!(scratch.user_rows(), [4, 0, 2]);
        assert_eq!(scratch.title_rows(), [4, 0, 1]);
    }

    #[test]
    fn a_biased_mf_scores_as_it_predicts_clamped_with_unknown_rows() {
        let users = Vocabulary::from_values(["1", "2"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)"]);
        let config = BiasedMfConfig {
            factors: 3,
            clip: Some([1.0, 5.0]),
        };
        let mut m = BiasedMf::zeros(config, users, titles).unwrap();
        m.global_bias = 3.5;
        for (i, v) in m.user_factors.table.iter_mut().enumerate() {
            *v = (i as f32 * 0.7).sin() * 2.0;
        }
        for (i, v) in m.item_factors.table.iter_mut().enumerate() {
            *v = (i as f32 * 1.3).cos() * 2.0;
        }
        m.item_bias.table.copy_from_slice(&[0.0, 0.4, -0.2, 0.1]);
        let scorer = Scorer::new(m.clone());
        assert_eq!(scorer.title_vocabulary().num_rows(), 4);
        let titles = ["C (1992)", "nope", "A (1990)", "B (1991)"];
        let mut scratch = Scratch::default();
        for user in ["2", "1", "stranger"] {
            let want = m.predict(&[user; 4], &titles).unwrap();
            let got = scorer.score_user(user, &titles, &mut scratch);
            assert_eq!(got, &want[..], "user {user}");
        }
        let rows = scratch.title_rows().to_vec();
        assert_eq!(rows[1], 0);
        // Clamping is part of the score: some pair here leaves [1, 5] before it.
        let raw = {
            let mut out = [0.0; 4];
            m.layer().forward(&[2; 4], &rows, &mut out);
            out
        };
        assert!(raw.iter().any(|p| !(1.0..=5.0).contains(p)), "{raw:?}");
        let users = ["2", "stranger", "1", "1"];
        let want = m.predict_rows(&[2, 0, 1, 1], &rows);
        assert_eq!(scorer.score_pairs(&users, &titles, &mut scratch), &want[..]);
        let all = scorer.score_all("2", &mut scratch).to_vec();
        assert_eq!(all, m.predict_rows(&[2; 3], &[1, 2, 3]));
    }

    #[test]
    fn top_k_is_a_stable_descending_sort_cut_to_k() {
        let scores = [0.5, 2.0, 0.5, f32::NEG_INFINITY, 2.0, 1.0];
        let mut order = Vec::new();
        top_k(&scores, 10, &mut order);
        assert_eq!(order, vec![1, 4, 5, 0, 2, 3]);
        top_k(&scores, 3, &mut order);
        assert_eq!(order, vec![1, 4, 5]);
        top_k(&scores, 4, &mut order);
        assert_eq!(order, vec![1, 4, 5, 0]);
        top_k(&scores, 0, &mut order);
        assert!(order.is_empty());
        top_k(&[], 3, &mut order);
        assert!(order.is_empty());
    }

    #[test]
    fn scorer_is_shareable_across_threads() {
        fn has_autotraits<T: Send + Sync + Unpin>() {}
        has_autotraits::<Scorer>();
        has_autotraits::<Scratch>();
    }
}
