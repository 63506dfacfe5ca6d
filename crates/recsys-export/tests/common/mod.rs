//! A small trained model and 10,000 (user, title) pairs to check exported files against,
//! shared by recsys-export's and recsys-infer's tests.

#![allow(dead_code)]

use recsys::data::{Rating, Vocabulary};
use recsys::kinds::ranking::fit;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
use recsys::train::{Schedule, Silent};

/// A 64-bit linear congruential generator: deterministic, no dependencies.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % n
    }
}

pub fn user(i: usize) -> String {
    (i + 1).to_string()
}

/// Titles with the characters real ones have: accents, quotes, commas, `*`.
pub fn title(i: usize) -> String {
    match i % 4 {
        0 => format!("Movie {i} (19{})", 50 + i % 50),
        1 => format!("Café, The \"{i}\" (1997)"),
        2 => format!("M*A*S*H {i} (1970)"),
        _ => format!("Ünïcödé {i} — ☃ (2001)"),
    }
}

/// The tutorial's architecture (32-wide embeddings, 256 → 64 → 1) trained for 3 epochs on
/// 6,000 synthetic ratings of 200 users × 300 titles (a rating rule plus noise), so the
/// weights are trained ones, not just initial values.
pub fn trained_model() -> RankingModel {
    let mut rng = Lcg(7);
    let ratings: Vec<Rating> = (0..6000)
        .map(|_| {
            let (u, t) = (rng.below(200), rng.below(300));
            let r = 1 + (u % 3 + t % 3 + rng.below(2)) as u32;
            Rating {
                user_id: user(u),
                movie_title: title(t),
                user_rating: r as f32,
                movie_id: None,
                timestamp: None,
            }
        })
        .collect();
    let users = Vocabulary::from_values(ratings.iter().map(|r| r.user_id.as_str()));
    let titles = Vocabulary::from_values(ratings.iter().map(|r| r.movie_title.as_str()));
    let mut model = RankingModel::new(RankingModelConfig::default(), users, titles, 42).unwrap();
    let config = Schedule {
        epochs: 3,
        batch_size: 256,
        ..Schedule::default()
    }
    .check()
    .unwrap();
    let examples = model.encode(&ratings);
    fit(&mut model, &examples, &config, &mut Silent).unwrap();
    model
}

/// A biased MF over the same 200 users × 300 titles as [`trained_model`], its weights drawn
/// from an LCG (a tenth of a unit or so, as trained factors are) and its predictions clamped to
/// [1, 5], so some pairs are clamped and some are not.
pub fn biased_mf() -> recsys::kinds::mf::BiasedMf {
    use recsys::kinds::mf::{BiasedMf, BiasedMfConfig};
    let users = Vocabulary::from_values(
        (0..200)
            .map(user)
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    let titles = Vocabulary::from_values(
        (0..300)
            .map(title)
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str),
    );
    let config = BiasedMfConfig {
        factors: 24,
        clip: Some([1.0, 5.0]),
    };
    let mut m = BiasedMf::zeros(config, users, titles).unwrap();
    let mut rng = Lcg(5);
    let tables = [
        &mut m.user_factors,
        &mut m.item_factors,
        &mut m.user_bias,
        &mut m.item_bias,
    ];
    for table in tables {
        for v in &mut table.table {
            *v = (rng.below(2001) as f32 - 1000.0) / 2000.0;
        }
    }
    m.global_bias = 3.53;
    m
}

/// `n` (user, title) pairs: mostly known, about 1 in 10 users and 1 in 10 titles unseen
/// (the empty string among them).
pub fn pairs(n: usize) -> (Vec<String>, Vec<String>) {
    let mut rng = Lcg(99);
    (0..n)
        .map(|i| {
            let u = match rng.below(10) {
                0 if i % 2 == 0 => format!("unseen-user-{i}"),
                0 => String::new(),
                _ => user(rng.below(200)),
            };
            let t = match rng.below(10) {
                0 => format!("Unseen Movie {i} (2030)"),
                _ => title(rng.below(300)),
            };
            (u, t)
        })
        .unzip()
}

/// Checks `got` against `want` pair by pair: each within `tol`, taken relative above 1
/// (`|g - w| <= tol * max(1, |w|)`: f32 carries 7 digits whatever the magnitude). Returns the
/// largest absolute difference, and prints it with how many pairs exceed `tol` absolutely.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) -> f32 {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let (mut worst, mut at, mut over_abs) = (0.0f32, 0, 0);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let d = (g - w).abs();
        assert!(
            d <= tol * w.abs().max(1.0),
            "{what}: pair {i} differs by {d:e} (> {tol:e} relative): {g} vs {w}"
        );
        over_abs += usize::from(d > tol);
        if d > worst {
            (worst, at) = (d, i);
        }
    }
    eprintln!(
        "{what}: largest difference {worst:e} (at {}); {over_abs} of {} pairs over {tol:e} absolute",
        want[at],
        want.len()
    );
    worst
}
