//! `Scorer`: the serving path of a saved model — many candidates for one user, fast.
//!
//! A biased matrix factorization (`recsys train --preset best` or `mf-sgd`) scores a pair with
//! one dot product and needs no precomputation ([`Scorer::from_any`]). A side-feature model
//! (`--preset features`, `--features RECIPE.toml`) scores raw strings: its features come from
//! the side information and hashed ids of the strings themselves, which a vocabulary row does
//! not carry for an id the vocabulary lacks, so callers that hold the strings use
//! [`Scorer::score_raw`] (what `recsys rank` computes). The rest of this page is about the
//! ranking model, whose first layer dominates the cost.
//!
//! The first dense layer sees `x = concat(u, m)`, so its pre-activation splits in two:
//! `x · W1 + b1 = (u · W1u + b1) + m · W1m`, where `W1u` and `W1m` are the kernel's first and
//! last `embedding_dim` rows. The item half does not depend on the user, so [`Scorer::new`]
//! computes it once for every row of the movie table (`P = M · W1m`, out-of-vocabulary row 0
//! included). Scoring `n` candidates for one user then costs one `1 × d × h1` product for the
//! user half, `n` row additions and the later layers — the first layer's `n × 2d × h1` product
//! is gone — and the later layers run a tile of rows at a time, in cache
//! ([`forward_tiled`]). When the user half of every user fits in [`USER_HALF_LIMIT`] floats
//! (64 MiB; MovieLens 100k needs 1 MiB) it is precomputed too, so a request reads one row of
//! it instead of streaming the 32 KiB `W1u` through the cache for one `1 × d × h1` product. Results equal [`RankingModel::predict`] up to float summation order (tested within
//! 1e-5).
//!
//! A [`Scorer`] is immutable and shared between threads; each caller brings a [`Scratch`] whose
//! buffers grow to the largest request seen and are then reused, so a warm call allocates
//! nothing of its own (on CPUs without AVX-512, the fallback GEMM crate still allocates its
//! packing buffers inside each product).
//!
//! ```
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
//! let items = [scorer.title_row("Heat (1995)"), scorer.title_row("unknown title")];
//! assert_eq!(items[1], 0); // out of vocabulary: row 0
//! let got = scorer.score_user(scorer.user_row("2"), &items, &mut scratch);
//! assert!((got[0] - want[0]).abs() < 1e-5 && (got[1] - want[1]).abs() < 1e-5);
//! # Ok(())
//! # }
//! ```

use std::cmp::Ordering;

use recsys_engine::matmul::{Op, gemm};
use recsys_engine::{Projected, Which, forward_tiled};

use recsys_data::Vocabulary;

use crate::artifact::AnyModel;
use crate::kinds::features::{FeatureModel, Interaction};
use crate::kinds::mf::BiasedMf;
use crate::kinds::ranking::{Half, RankingModel};

/// Most floats [`Scorer::new`] spends on precomputed user halves (`users × h1`): 64 MiB.
pub const USER_HALF_LIMIT: usize = 16 << 20;

/// Scores `(user, title)` pairs of rows of a model's vocabularies: for a ranking model with the
/// first layer's item half precomputed (the serving form of TFRS's `RankingModel`), for a
/// biased MF directly.
#[derive(Debug, Clone)]
pub struct Scorer {
    kind: Kind,
}

/// What a [`Scorer`] scores with.
#[derive(Debug, Clone)]
enum Kind {
    Ranking(Tower),
    BiasedMf(BiasedMf),
    Features(FeatureModel),
}

/// A ranking model with its first layer's halves precomputed.
#[derive(Debug, Clone)]
struct Tower {
    model: RankingModel,
    /// Embedding width `d`.
    dim: usize,
    /// First layer width `h1`.
    hidden: usize,
    /// `[title rows, h1]`: `M · W1m` for every row of the movie table.
    item_half: Vec<f32>,
    /// `[user rows, h1]`: `U · W1u` for every row of the user table, when that fits the limit.
    user_half: Option<Vec<f32>>,
}

/// Per-caller buffers for [`Scorer`]: they grow to the largest request and are reused.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// `[n, d]` gathered user embeddings (when user halves are not precomputed).
    users: Vec<f32>,
    /// `[n or 1, h1]` the user half `u · W1u`.
    user_half: Vec<f32>,
    /// `[n]` the scores.
    a: Vec<f32>,
    /// `[n]` the user row repeated (biased MF's pairs).
    rows: Vec<u32>,
}

impl Scratch {
    fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        &mut buf[..len]
    }
}

impl Scorer {
    /// Precomputes the item half of the first layer for every title row of `model`, and the
    /// user half for every user row when that takes at most [`USER_HALF_LIMIT`] floats.
    pub fn new(model: RankingModel) -> Self {
        Self::with_user_half_limit(model, USER_HALF_LIMIT)
    }

    /// [`Scorer::new`] with another limit on the precomputed user halves (0: never).
    pub fn with_user_half_limit(model: RankingModel, limit: usize) -> Self {
        Scorer {
            kind: Kind::Ranking(Tower::new(model, limit)),
        }
    }

    /// A scorer for any model [`load_any`](crate::artifact::load_any) reads: a ranking model
    /// (halves precomputed), a biased MF or a side-feature model.
    pub fn from_any(model: AnyModel) -> Self {
        match model {
            AnyModel::Ranking(model) => Self::new(model),
            AnyModel::BiasedMf(model) => Scorer {
                kind: Kind::BiasedMf(model),
            },
            AnyModel::Features(model) => Scorer {
                kind: Kind::Features(model),
            },
        }
    }

    /// Scores raw `(user_ids[i], titles[i])` pairs, exactly as `recsys rank` does: for a
    /// side-feature model from the strings themselves (an id outside the vocabulary still has
    /// its hashed features and side information), for the other kinds through their rows
    /// (an unknown id or title reads row 0). `user_ids` holds one id for all titles, or one
    /// per title.
    ///
    /// # Panics
    /// If `user_ids` holds neither one id nor one per title.
    pub fn score_raw<U: AsRef<str>, T: AsRef<str>>(
        &self,
        user_ids: &[U],
        titles: &[T],
        scratch: &mut Scratch,
    ) -> Vec<f32> {
        let one_user = user_ids.len() == 1;
        assert!(
            one_user || user_ids.len() == titles.len(),
            "one user id, or one per title"
        );
        let user = |i: usize| user_ids[if one_user { 0 } else { i }].as_ref();
        if let Kind::Features(model) = &self.kind {
            let pairs = (0..titles.len()).map(|i| (user(i), titles[i].as_ref()));
            return feature_scores(model, pairs, scratch).to_vec();
        }
        let items: Vec<u32> = titles.iter().map(|t| self.title_row(t.as_ref())).collect();
        if one_user {
            return self
                .score_user(self.user_row(user(0)), &items, scratch)
                .to_vec();
        }
        let users: Vec<u32> = (0..titles.len()).map(|i| self.user_row(user(i))).collect();
        self.score_pairs(&users, &items, scratch).to_vec()
    }

    /// The side-feature model it scores with, if that is its kind (it scores raw strings
    /// best: [`score_raw`](Self::score_raw)).
    pub fn feature_model(&self) -> Option<&FeatureModel> {
        match &self.kind {
            Kind::Features(model) => Some(model),
            _ => None,
        }
    }

    /// The ranking model it scores with (`None` for a biased MF).
    pub fn ranking_model(&self) -> Option<&RankingModel> {
        match &self.kind {
            Kind::Ranking(tower) => Some(&tower.model),
            Kind::BiasedMf(_) | Kind::Features(_) => None,
        }
    }

    /// The vocabulary that maps raw user ids to rows.
    pub fn user_vocabulary(&self) -> &Vocabulary {
        match &self.kind {
            Kind::Ranking(tower) => &tower.model.user_vocabulary,
            Kind::BiasedMf(mf) => &mf.user_vocabulary,
            Kind::Features(model) => &model.user_vocabulary,
        }
    }

    /// The vocabulary that maps raw titles to rows.
    pub fn title_vocabulary(&self) -> &Vocabulary {
        match &self.kind {
            Kind::Ranking(tower) => &tower.model.title_vocabulary,
            Kind::BiasedMf(mf) => &mf.title_vocabulary,
            Kind::Features(model) => &model.title_vocabulary,
        }
    }

    /// The user embedding row of a raw user id (0 when out of vocabulary).
    pub fn user_row(&self, user_id: &str) -> u32 {
        self.user_vocabulary().lookup(user_id)
    }

    /// The movie embedding row of a raw title (0 when out of vocabulary).
    pub fn title_row(&self, movie_title: &str) -> u32 {
        self.title_vocabulary().lookup(movie_title)
    }

    /// Number of title rows, out-of-vocabulary row 0 included (valid rows are `0..num_titles`).
    pub fn num_title_rows(&self) -> usize {
        match &self.kind {
            Kind::Ranking(tower) => tower.model.movie_embedding.rows,
            Kind::BiasedMf(mf) => mf.item_factors.rows,
            Kind::Features(model) => model.title_vocabulary.num_rows(),
        }
    }

    /// Scores title rows `items` for user row `user`; the slice returned (borrowed from
    /// `scratch`) holds one score per item, in order.
    ///
    /// # Panics
    /// If a row is outside its table; rows come from [`user_row`](Self::user_row) and
    /// [`title_row`](Self::title_row).
    pub fn score_user<'s>(&self, user: u32, items: &[u32], scratch: &'s mut Scratch) -> &'s [f32] {
        match &self.kind {
            Kind::Ranking(tower) => tower.score_user(user, items, scratch),
            Kind::BiasedMf(mf) => {
                scratch.rows.clear();
                scratch.rows.resize(items.len(), user);
                let out = Scratch::grow(&mut scratch.a, items.len());
                mf.predict_rows_into(&scratch.rows, items, out);
                out
            }
            Kind::Features(model) => {
                let user = model.user_vocabulary.value(user).unwrap_or("");
                let titles = items.iter().map(|&t| title_text(model, t));
                feature_scores(model, titles.map(|t| (user, t)), scratch)
            }
        }
    }

    /// Scores pairs `(users[i], items[i])` of rows; one score per pair, in order.
    ///
    /// # Panics
    /// If the two lists differ in length or a row is outside its table.
    pub fn score_pairs<'s>(
        &self,
        users: &[u32],
        items: &[u32],
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        assert_eq!(users.len(), items.len(), "one user row per item row");
        match &self.kind {
            Kind::Ranking(tower) => tower.score_pairs(users, items, scratch),
            Kind::BiasedMf(mf) => {
                let out = Scratch::grow(&mut scratch.a, items.len());
                mf.predict_rows_into(users, items, out);
                out
            }
            Kind::Features(model) => {
                let user = |u: u32| model.user_vocabulary.value(u).unwrap_or("");
                let pairs = users
                    .iter()
                    .zip(items)
                    .map(|(&u, &t)| (user(u), title_text(model, t)));
                feature_scores(model, pairs, scratch)
            }
        }
    }
}

/// The string of a feature model's title row (row 0, out of vocabulary, as the empty string:
/// no side information, the hashed features of "").
fn title_text(model: &FeatureModel, row: u32) -> &str {
    model.title_vocabulary.value(row).unwrap_or("")
}

/// A side-feature model's scores of `(user id, title)` pairs, with no rating time, into
/// `scratch`.
fn feature_scores<'a, 's>(
    model: &FeatureModel,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    scratch: &'s mut Scratch,
) -> &'s [f32] {
    let interactions: Vec<Interaction> = pairs
        .map(|(user_id, title)| Interaction {
            user_id,
            title,
            timestamp: None,
        })
        .collect();
    let scores = model.predict_interactions(&interactions);
    let out = Scratch::grow(&mut scratch.a, scores.len());
    out.copy_from_slice(&scores);
    out
}

impl Tower {
    fn new(model: RankingModel, limit: usize) -> Self {
        let dim = model.config.embedding_dim;
        let hidden = model.dense[0].units;
        let item_half = model.project_half(Half::Title);
        let user_half =
            (model.user_embedding.rows * hidden <= limit).then(|| model.project_half(Half::User));
        Tower {
            model,
            dim,
            hidden,
            item_half,
            user_half,
        }
    }

    fn score_user<'s>(&self, user: u32, items: &[u32], scratch: &'s mut Scratch) -> &'s [f32] {
        let user_half = match &self.user_half {
            Some(table) => Projected {
                rows: table,
                slots: Which::Shared(user),
            },
            None => Projected {
                rows: self.project_users(&[user], &mut scratch.users, &mut scratch.user_half),
                slots: Which::Shared(0),
            },
        };
        let parts = [
            user_half,
            Projected {
                rows: &self.item_half,
                slots: Which::PerExample(items),
            },
        ];
        self.tower(&parts, items.len(), &mut scratch.a)
    }

    fn score_pairs<'s>(&self, users: &[u32], items: &[u32], scratch: &'s mut Scratch) -> &'s [f32] {
        let user_half = match &self.user_half {
            Some(table) => Projected {
                rows: table,
                slots: Which::PerExample(users),
            },
            None => Projected {
                rows: self.project_users(users, &mut scratch.users, &mut scratch.user_half),
                slots: Which::Own,
            },
        };
        let parts = [
            user_half,
            Projected {
                rows: &self.item_half,
                slots: Which::PerExample(items),
            },
        ];
        self.tower(&parts, users.len(), &mut scratch.a)
    }
    /// `[users.len(), h1]`: the user half `u · W1u` of each user row, into `out`.
    fn project_users<'s>(
        &self,
        users: &[u32],
        gathered: &mut Vec<f32>,
        out: &'s mut Vec<f32>,
    ) -> &'s [f32] {
        let (n, d, h) = (users.len(), self.dim, self.hidden);
        let gathered = Scratch::grow(gathered, n * d);
        self.model.user_embedding.gather(users, gathered, d, 0);
        let out = Scratch::grow(out, n * h);
        let block = &self.model.dense[0].kernel[..d * h];
        gemm(n, d, h, gathered, Op::N, block, Op::N, 0.0, out);
        out
    }

    /// The first layer's bias and activation on the summed halves, then layers 2.., a tile of
    /// rows at a time; returns the `n` scores (the last layer has one unit).
    fn tower<'s>(&self, parts: &[Projected<'_>], n: usize, out: &'s mut Vec<f32>) -> &'s [f32] {
        let dense = &self.model.dense;
        let width = dense[dense.len() - 1].units;
        let out = Scratch::grow(out, n * width);
        forward_tiled(&dense[0], parts, &dense[1..], n, out);
        &out[..n]
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
    use crate::kinds::ranking::RankingModelConfig;
    use recsys_data::Vocabulary;

    fn model(hidden: Vec<usize>, seed: u64) -> RankingModel {
        let users = Vocabulary::from_values(["1", "2", "42", "7"]);
        let titles = Vocabulary::from_values(["A (1990)", "B (1991)", "C (1992)", "D (1993)"]);
        let config = RankingModelConfig {
            embedding_dim: 5,
            hidden_layers: hidden,
        };
        let mut m = RankingModel::new(config, users, titles, seed).unwrap();
        // Non-zero biases, so a bias added twice or forgotten shows up.
        for (i, layer) in m.dense.iter_mut().enumerate() {
            for (j, b) in layer.bias.iter_mut().enumerate() {
                *b = 0.05 * ((i * 7 + j) as f32).sin();
            }
        }
        m
    }

    /// The model's scorer with user halves precomputed, and one without.
    fn both_ways(m: &RankingModel) -> [Scorer; 2] {
        let with = Scorer::new(m.clone());
        assert!(matches!(&with.kind, Kind::Ranking(t) if t.user_half.is_some()));
        let without = Scorer::with_user_half_limit(m.clone(), 0);
        assert!(matches!(&without.kind, Kind::Ranking(t) if t.user_half.is_none()));
        [with, without]
    }

    fn assert_close(got: &[f32], want: &[f32]) {
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(want).enumerate() {
            assert!((g - w).abs() < 1e-5, "score {i}: {g} vs {w}");
        }
    }

    #[test]
    fn one_user_many_items_equals_predict_including_unknown_users_and_titles() {
        for hidden in [vec![16, 8], vec![6], vec![], vec![9, 4, 3]] {
            let m = model(hidden.clone(), 11);
            let titles = [
                "C (1992)", "nope", "A (1990)", "D (1993)", "A (1990)", "B (1991)",
            ];
            for scorer in both_ways(&m) {
                let mut scratch = Scratch::default();
                for user in ["42", "1", "stranger"] {
                    let want = m.predict(&vec![user; titles.len()], &titles).unwrap();
                    let rows: Vec<u32> = titles.iter().map(|t| scorer.title_row(t)).collect();
                    let got = scorer.score_user(scorer.user_row(user), &rows, &mut scratch);
                    assert_close(got, &want);
                }
                assert_eq!(scorer.user_row("stranger"), 0, "{hidden:?}");
            }
        }
    }

    #[test]
    fn raw_strings_score_as_predict_does_for_one_user_and_for_pairs() {
        let m = model(vec![16, 8], 5);
        let scorer = Scorer::from_any(AnyModel::Ranking(m.clone()));
        assert!(scorer.feature_model().is_none());
        let mut scratch = Scratch::default();
        let titles = ["D (1993)", "nope", "A (1990)"];
        let want = m.predict(&["7"; 3], &titles).unwrap();
        assert_close(&scorer.score_raw(&["7"], &titles, &mut scratch), &want);
        let users = ["7", "x", "2"];
        let want = m.predict(&users, &titles).unwrap();
        assert_close(&scorer.score_raw(&users, &titles, &mut scratch), &want);
    }

    #[test]
    fn pairs_equal_predict_and_buffers_shrink_and_grow_between_calls() {
        let m = model(vec![16, 8], 3);
        for scorer in both_ways(&m) {
            let mut scratch = Scratch::default();
            let users = ["42", "x", "1", "7", "2", "42", "?"];
            let titles = [
                "A (1990)", "B (1991)", "zzz", "D (1993)", "C (1992)", "C (1992)", "?",
            ];
            let u: Vec<u32> = users.iter().map(|s| scorer.user_row(s)).collect();
            let t: Vec<u32> = titles.iter().map(|s| scorer.title_row(s)).collect();
            let want = m.predict(&users, &titles).unwrap();
            assert_close(scorer.score_pairs(&u, &t, &mut scratch), &want);
            // A smaller request after a larger one uses a prefix of the same buffers.
            assert_close(
                scorer.score_pairs(&u[..2], &t[..2], &mut scratch),
                &want[..2],
            );
            assert_close(
                scorer.score_user(u[0], &t[..1], &mut scratch),
                &m.predict(&["42"], &["A (1990)"]).unwrap(),
            );
            assert!(scorer.score_user(1, &[], &mut scratch).is_empty());
        }
    }

    #[test]
    fn a_large_request_matches_the_plain_path() {
        // Past the GEMM crate's threading threshold, with every title row repeated.
        let m = model(vec![32, 8], 5);
        let scorer = Scorer::new(m.clone());
        let rows: Vec<u32> = (0..3000).map(|i| (i % 5) as u32).collect();
        let titles: Vec<String> = rows
            .iter()
            .map(|&r| match r {
                0 => "unknown".to_owned(),
                r => m.title_vocabulary.values()[r as usize - 1].to_owned(),
            })
            .collect();
        let want = m.predict(&vec!["7"; rows.len()], &titles).unwrap();
        let mut scratch = Scratch::default();
        let got = scorer.score_user(scorer.user_row("7"), &rows, &mut scratch);
        assert_close(got, &want);
    }

    #[test]
    fn a_biased_mf_scores_as_it_predicts_clamped_with_unknown_rows() {
        use crate::kinds::mf::BiasedMfConfig;
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
        let scorer = Scorer::from_any(AnyModel::BiasedMf(m.clone()));
        assert!(scorer.ranking_model().is_none());
        assert_eq!(scorer.num_title_rows(), 4);
        let titles = ["C (1992)", "nope", "A (1990)", "B (1991)"];
        let rows: Vec<u32> = titles.iter().map(|t| scorer.title_row(t)).collect();
        assert_eq!(rows[1], 0);
        let mut scratch = Scratch::default();
        for user in ["2", "1", "stranger"] {
            let want = m.predict(&[user; 4], &titles).unwrap();
            let got = scorer.score_user(scorer.user_row(user), &rows, &mut scratch);
            assert_eq!(got, &want[..], "user {user}");
        }
        // Clamping is part of the score: some pair here leaves [1, 5] before it.
        let raw = {
            let mut out = [0.0; 4];
            m.layer().forward(&[2; 4], &rows, &mut out);
            out
        };
        assert!(raw.iter().any(|p| !(1.0..=5.0).contains(p)), "{raw:?}");
        let users = [2, 0, 1, 1];
        let want = m.predict_rows(&users, &rows);
        assert_eq!(scorer.score_pairs(&users, &rows, &mut scratch), &want[..]);
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
