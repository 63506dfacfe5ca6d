//! recsys: recommender systems in Rust, starting from TensorFlow Recommenders' ranking tutorial.
//!
//! The crate follows the data's path:
//! [`data`] (MovieLens, interaction files, splits, vocabularies, examples as rows) →
//! [`train`] (the one training [`Schedule`](train::Schedule), the one epoch loop,
//! Keras-named metrics) →
//! [`kinds`] (the model kinds, one folder each, all behind the [`contract`]) →
//! [`artifact`] (a self-contained, checksummed model directory of any kind) →
//! [`scorer`] (the serving path) →
//! [`workflow`] (whole jobs: train-and-save any [`preset`], evaluate a saved model) and
//! [`tutorial`] (the TFRS tutorial in its own order).
//! The numeric core lives in [`engine`].
//!
//! The model kinds:
//! - [`kinds::ranking`]: TFRS's ranking model — user and title embeddings, concatenated, dense
//!   layers down to one rating; also trained for rating and retrieval at once
//!   ([`kinds::ranking::multitask`], TFRS's multitask tutorial).
//! - [`kinds::mf`]: biased matrix factorization, trained by gradient descent
//!   ([`kinds::mf::sgd`]) or by Gibbs sampling ([`kinds::mf::bpmf`], the `best` preset).
//! - [`kinds::features`]: side features (MovieLens's user and movie attributes, hashed or
//!   looked up), optional DCN-v2 cross layers or DLRM's dot interaction, a ReLU tower.
//!
//! ```
//! use recsys::contract::Model;
//! use recsys::data::{Rating, Vocabulary};
//! use recsys::kinds::ranking::{RankingModel, RankingModelConfig, evaluate, fit};
//! use recsys::train::{Schedule, Silent};
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
//! let examples = model.encode(&ratings);
//! let schedule = Schedule { epochs: 50, ..Schedule::default() }.check()?;
//! fit(&mut model, &examples, &schedule, &mut Silent)?;
//! assert!(evaluate(&model, &examples, 4096)?.root_mean_squared_error < 1.0);
//! let ranked = model.rank("1", &["Heat (1995)", "Babe (1995)"])?;
//! assert_eq!(ranked.len(), 2);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod artifact;
pub mod contract;
mod error;
pub mod kinds;
pub mod preset;
pub mod scorer;
pub mod tensors;
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
