//! Shared by the server's test targets: small saved models with awkward titles.

#![allow(dead_code)]

use std::path::Path;

use recsys::data::Vocabulary;
use recsys::model::{RankingModel, RankingModelConfig};

/// Users the models know.
pub const USERS: [&str; 4] = ["1", "42", "7", "943"];
/// Titles the models know, with quotes, commas, non-ASCII and a leading space.
pub const TITLES: [&str; 6] = [
    "Speed (1994)",
    "M*A*S*H (1970)",
    "Dances with Wolves (1990)",
    "Amélie (2001)",
    "\"Quoted\", with comma (1999)",
    " leading space (2000)",
];

/// A model of the tutorial's shape (32-wide embeddings, 256 → 64 → 1) drawn from `seed`, with
/// non-zero biases so every part of the network matters.
pub fn model(seed: u64) -> RankingModel {
    let users = Vocabulary::from_values(USERS);
    let titles = Vocabulary::from_values(TITLES);
    let mut m = RankingModel::new(RankingModelConfig::default(), users, titles, seed).unwrap();
    for (i, layer) in m.dense.iter_mut().enumerate() {
        for (j, b) in layer.bias.iter_mut().enumerate() {
            *b = 0.1 * ((seed as usize + i * 31 + j) as f32).sin();
        }
    }
    // Ratings near 3, like a trained model's, so scores from different seeds differ clearly.
    if let Some(last) = m.dense.last_mut() {
        last.bias[0] = 3.0 + seed as f32 * 0.1;
    }
    m
}

/// Saves [`model`]`(seed)` to `dir` and returns it.
pub fn save(dir: &Path, seed: u64) -> RankingModel {
    let m = model(seed);
    recsys::artifact::save(&m, None, dir).unwrap();
    m
}
