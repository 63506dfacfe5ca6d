//! recsys: recommender systems in Rust, starting from TensorFlow Recommenders' ranking tutorial.
//!
//! The crate follows the data's path:
//! [`data`] (MovieLens, interaction files, splits, vocabularies) →
//! [`model`] (the ranking model: embeddings + dense layers) →
//! [`train`] (`fit`, `evaluate`, Keras-named metrics; [`multitask`] trains the same model for
//! rating and retrieval at once) →
//! [`artifact`] (a self-contained, checksummed model directory) →
//! [`workflow`] (whole jobs: train-and-save, evaluate a saved model) and
//! [`tutorial`] (all of it in the tutorial's order).
//! The numeric core lives in [`engine`].
//!
//! ```
//! use recsys::data::{Rating, Vocabulary};
//! use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
//! use recsys::kinds::ranking::{evaluate, fit};
//! use recsys::train::{Examples, Silent, TrainConfig};
//!
//! # fn main() -> Result<(), recsys::Error> {
//! let rating = |u: &str, t: &str, r: f32| Rating {
//!     user_id: u.into(), movie_title: t.into(), user_rating: r, movie_id: None, timestamp: None,
//! };
//! let ratings = vec![rating("1", "Heat (1995)", 5.0), rating("2", "Heat (1995)", 2.0),
//!                    rating("1", "Babe (1995)", 4.0)];
//! let users = Vocabulary::from_values(ratings.iter().map(|r| r.user_id.as_str()));
//! let titles = Vocabulary::from_values(ratings.iter().map(|r| r.movie_title.as_str()));
//! let mut model = RankingModel::new(RankingModelConfig::default(), users, titles, 42)?;
//! let examples = Examples::encode(&model, &ratings);
//! let config = TrainConfig { epochs: 50, ..TrainConfig::default() }.check()?;
//! fit(&mut model, &examples, &config, &mut Silent)?;
//! assert!(evaluate(&model, &examples, 4096)?.root_mean_squared_error < 1.0);
//! let ranked = model.rank("1", &["Heat (1995)", "Babe (1995)"])?;
//! assert_eq!(ranked.len(), 2);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod artifact;
mod error;
pub mod kinds;
pub mod preset;
pub mod scorer;
pub mod train;
pub mod tutorial;
pub mod workflow;

pub use error::{Error, Result};

/// The README's Rust example, run as a doc test so it stays true.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// Data loading, splitting and vocabularies (the `recsys-data` crate).
pub mod data {
    pub use recsys_data::*;
}

/// The numeric core (the `recsys-engine` crate).
pub mod engine {
    pub use recsys_engine::*;
}
