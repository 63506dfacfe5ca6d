//! The ranking model's serving form: many candidates for one user, fast.
//!
//! The first dense layer sees `x = concat(u, m)`, so its pre-activation splits in two:
//! `x · W1 + b1 = (u · W1u + b1) + m · W1m`, where `W1u` and `W1m` are the kernel's first and
//! last `embedding_dim` rows. The item half does not depend on the user, so [`Tower::new`]
//! computes it once for every row of the movie table (`P = M · W1m`, out-of-vocabulary row 0
//! included). Scoring `n` candidates for one user then costs one `1 × d × h1` product for the
//! user half, `n` row additions and the later layers — the first layer's `n × 2d × h1` product
//! is gone — and the later layers run a tile of rows at a time, in cache
//! ([`forward_tiled`]). When the user half of every user fits in [`USER_HALF_LIMIT`] floats
//! (64 MiB; MovieLens 100k needs 1 MiB) it is precomputed too, so a request reads one row of
//! it instead of streaming the 32 KiB `W1u` through the cache for one `1 × d × h1` product.
//! Results equal the model's `predict` up to float summation order (tested within 1e-5).

use recsys_data::Vocabulary;
use recsys_engine::matmul::{Op, gemm};
use recsys_engine::{Projected, Which, forward_tiled};

use super::{Half, RankingModel};
use crate::contract::{Ids, Score, Scratch, rows_of};

/// Most floats [`Tower::new`] spends on precomputed user halves (`users × h1`): 64 MiB.
pub const USER_HALF_LIMIT: usize = 16 << 20;

/// A ranking model with its first layer's halves precomputed.
#[derive(Debug, Clone)]
pub struct Tower {
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

impl Tower {
    /// Precomputes the item half of the first layer for every title row of `model`, and the
    /// user half for every user row when that takes at most [`USER_HALF_LIMIT`] floats.
    pub fn new(model: RankingModel) -> Self {
        Self::with_user_half_limit(model, USER_HALF_LIMIT)
    }

    /// [`Tower::new`] with another limit on the precomputed user halves (0: never).
    pub fn with_user_half_limit(model: RankingModel, limit: usize) -> Self {
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

    /// Whether every user's half is precomputed.
    pub fn has_user_halves(&self) -> bool {
        self.user_half.is_some()
    }

    /// Scores title rows `items` for user rows `users` — one user row for every item, or one
    /// per item — into `scores`.
    fn score_rows<'s>(
        &self,
        users: &[u32],
        items: &[u32],
        [gathered, half]: &mut [Vec<f32>; 2],
        scores: &'s mut Vec<f32>,
    ) -> &'s [f32] {
        let rows: &[f32] = match &self.user_half {
            Some(table) => table,
            None => self.project_users(users, gathered, half),
        };
        let slots = match (self.user_half.is_some(), users) {
            (true, [user]) => Which::Shared(*user),
            (true, _) => Which::PerExample(users),
            (false, [_]) => Which::Shared(0),
            (false, _) => Which::Own,
        };
        let parts = [
            Projected { rows, slots },
            Projected {
                rows: &self.item_half,
                slots: Which::PerExample(items),
            },
        ];
        self.tower(&parts, items.len(), scores)
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

impl Score for Tower {
    fn user_vocabulary(&self) -> &Vocabulary {
        &self.model.user_vocabulary
    }

    fn title_vocabulary(&self) -> &Vocabulary {
        &self.model.title_vocabulary
    }

    fn score_user<'s>(&self, user: &str, titles: &dyn Ids, scratch: &'s mut Scratch) -> &'s [f32] {
        rows_of(&mut scratch.users, &self.model.user_vocabulary, &[user]);
        rows_of(&mut scratch.titles, &self.model.title_vocabulary, titles);
        self.score_scratch(scratch)
    }

    fn score_pairs<'s>(
        &self,
        users: &dyn Ids,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32] {
        assert_eq!(users.len(), titles.len(), "one user id per title");
        rows_of(&mut scratch.users, &self.model.user_vocabulary, users);
        rows_of(&mut scratch.titles, &self.model.title_vocabulary, titles);
        self.score_scratch(scratch)
    }

    fn score_all<'s>(&self, user: &str, scratch: &'s mut Scratch) -> &'s [f32] {
        rows_of(&mut scratch.users, &self.model.user_vocabulary, &[user]);
        scratch.titles.clear();
        (scratch.titles).extend(1..self.model.movie_embedding.rows as u32);
        self.score_scratch(scratch)
    }
}

impl Tower {
    /// Scores the rows looked up into `scratch`.
    fn score_scratch<'s>(&self, scratch: &'s mut Scratch) -> &'s [f32] {
        let Scratch {
            users,
            titles,
            work,
            scores,
        } = scratch;
        self.score_rows(users, titles, work, scores)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::Model;
    use crate::kinds::ranking::RankingModelConfig;

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

    /// The model's serving form with user halves precomputed, and one without.
    fn both_ways(m: &RankingModel) -> [Tower; 2] {
        let with = Tower::new(m.clone());
        assert!(with.has_user_halves());
        let without = Tower::with_user_half_limit(m.clone(), 0);
        assert!(!without.has_user_halves());
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
                    let got = scorer.score_user(user, &titles, &mut scratch);
                    assert_close(got, &want);
                }
                assert_eq!(scratch.user_rows(), [0], "{hidden:?}");
                assert_eq!(scratch.title_rows(), [3, 0, 1, 4, 1, 2]);
            }
        }
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
            let want = m.predict(&users, &titles).unwrap();
            assert_close(scorer.score_pairs(&users, &titles, &mut scratch), &want);
            // A smaller request after a larger one uses a prefix of the same buffers.
            assert_close(
                scorer.score_pairs(&&users[..2], &&titles[..2], &mut scratch),
                &want[..2],
            );
            assert_close(
                scorer.score_user("42", &&titles[..1], &mut scratch),
                &m.predict(&["42"], &["A (1990)"]).unwrap(),
            );
            assert!(scorer.score_user("1", &[""; 0], &mut scratch).is_empty());
        }
    }

    #[test]
    fn a_large_request_and_the_whole_catalogue_match_the_plain_path() {
        // Past the GEMM crate's threading threshold, with every title row repeated.
        let m = model(vec![32, 8], 5);
        let scorer = Tower::new(m.clone());
        let titles: Vec<String> = (0..3000)
            .map(|i| match i % 5 {
                0 => "unknown".to_owned(),
                r => m.title_vocabulary.values()[r - 1].to_owned(),
            })
            .collect();
        let want = m.predict(&vec!["7"; titles.len()], &titles).unwrap();
        let mut scratch = Scratch::default();
        assert_close(scorer.score_user("7", &titles, &mut scratch), &want);
        let all: Vec<&str> = m.title_vocabulary.values().iter().collect();
        let want = m.predict(&vec!["7"; all.len()], &all).unwrap();
        assert_close(scorer.score_all("7", &mut scratch), &want);
    }
}
