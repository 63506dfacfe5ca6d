//! The contract every model kind implements, so that nothing outside a kind's folder (and the
//! one dispatch point, [`crate::kinds::AnyModel`]) asks which kind a model is.
//!
//! - Scoring: [`Model`] — the vocabularies, scores for raw ids, evaluation, ranking — and
//!   [`Score`], the serving form a model turns into (precomputed where the kind can), which
//!   scores raw ids into reused [`Scratch`] buffers.
//! - Persistence: [`Persist`] — the kind's name in the manifest, its config, its tensors and
//!   extra files, and construction from them ([`Saved`] hands them over, checked).
//! - Fitting: [`Recipe`] — a `Config` → [`check`](Recipe::check) → a validated type →
//!   [`fit`](Recipe::fit)`(data, &valid, observer)` (linfa's habit), with the flags of
//!   `recsys train` overlaid by [`Recipe::overlay`].
//!
//! A kind that cannot do something answers with an error naming its kind
//! ([`crate::Error::Unsupported`]) instead of a branch at the call site.

mod ids;
mod overrides;

use std::fmt::Debug;
use std::path::PathBuf;

use recsys_data::{Examples, RowMap, Spool, Vocabulary};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use ids::{Ids, Labeled, Repeat};
pub(crate) use ids::{lookup_pairs, rows_of, sort_ranked};
pub use overrides::Overrides;
pub(crate) use overrides::take;

use crate::Result;
use crate::tensors::Tensor;
use crate::train::{EpochReport, Metrics, RetrievalReport, TrainObserver};

/// A trained model of any kind, as every caller reads it: raw user ids and titles in, scores
/// out.
pub trait Model: Debug + Send + Sync {
    /// The kind's name, as the manifest's `model_kind` spells it.
    fn kind(&self) -> &'static str;

    /// Maps raw user ids to rows (row 0: out of vocabulary).
    fn user_vocabulary(&self) -> &Vocabulary;

    /// Maps raw titles to rows: the catalogue `rank --all` scores.
    fn title_vocabulary(&self) -> &Vocabulary;

    /// Number of trainable values.
    fn num_parameters(&self) -> usize;

    /// Predicted scores of `(users[i], titles[i])` pairs; an error if the lengths differ.
    fn predict(&self, users: &dyn Ids, titles: &dyn Ids) -> Result<Vec<f32>>;

    /// Metrics on `test` (RMSE, MSE; the test's times where the kind reads them).
    fn evaluate(&self, test: &Labeled<'_>) -> Result<Metrics>;

    /// How a user id or title outside the vocabularies is scored, for a warning.
    fn out_of_vocabulary(&self) -> &'static str {
        "scored with the out-of-vocabulary row"
    }

    /// Whether it reads when each rating was given ([`Labeled::time`]), so that an evaluation
    /// joins times to examples that carry none.
    fn reads_times(&self) -> bool {
        false
    }

    /// Scores `candidates` for one user and returns `(title, score)` sorted best first (ties
    /// keep the candidates' order).
    fn rank(&self, user_id: &str, candidates: &dyn Ids) -> Result<Vec<(String, f32)>> {
        let scores = self.predict(&Repeat::new(user_id, candidates.len()), candidates)?;
        Ok(sort_ranked(candidates, scores))
    }

    /// Ranks the whole catalogue (every title in the vocabulary) for one user, keeping `top`.
    fn rank_all(&self, user_id: &str, top: usize) -> Result<Vec<(String, f32)>> {
        let titles: Vec<&str> = self.title_vocabulary().values().iter().collect();
        let mut ranked = self.rank(user_id, &titles)?;
        ranked.truncate(top);
        Ok(ranked)
    }

    /// The serving form: whatever the kind precomputes to score many candidates fast.
    fn into_scorer(self) -> Box<dyn Score>
    where
        Self: Sized;
}

/// A model's serving form: raw ids in, scores into the caller's [`Scratch`] out. Shared
/// between threads; a warm call allocates nothing of its own.
pub trait Score: Debug + Send + Sync {
    /// Maps raw user ids to rows.
    fn user_vocabulary(&self) -> &Vocabulary;

    /// Maps raw titles to rows: the catalogue.
    fn title_vocabulary(&self) -> &Vocabulary;

    /// How an id outside the vocabularies is scored, for a warning.
    fn out_of_vocabulary(&self) -> &'static str {
        "scored with the out-of-vocabulary row"
    }

    /// Scores `titles` for one raw user id; one score per title, in order. Leaves the rows
    /// looked up in `scratch` ([`Scratch::title_rows`], [`Scratch::user_rows`]).
    fn score_user<'s>(&self, user: &str, titles: &dyn Ids, scratch: &'s mut Scratch) -> &'s [f32];

    /// Scores `(users[i], titles[i])` pairs (equal lengths); one score per pair, in order,
    /// with the rows looked up left in `scratch`.
    fn score_pairs<'s>(
        &self,
        users: &dyn Ids,
        titles: &dyn Ids,
        scratch: &'s mut Scratch,
    ) -> &'s [f32];

    /// Scores every title of the catalogue for one raw user id: score `i` is title row `i + 1`
    /// (the out-of-vocabulary row 0 is not a candidate).
    fn score_all<'s>(&self, user: &str, scratch: &'s mut Scratch) -> &'s [f32];
}

/// Per-caller buffers of a [`Score`]: they grow to the largest request and are reused.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    /// The user rows of the last request (one, or one per pair).
    pub(crate) users: Vec<u32>,
    /// The title rows of the last request.
    pub(crate) titles: Vec<u32>,
    /// The scores.
    pub(crate) scores: Vec<f32>,
    /// Float buffers a kind may use as it likes (gathered rows, partial sums).
    pub(crate) work: [Vec<f32>; 2],
}

impl Scratch {
    /// The user rows the last call looked up (0: not in the vocabulary).
    pub fn user_rows(&self) -> &[u32] {
        &self.users
    }

    /// The title rows the last call looked up (0: not in the vocabulary).
    pub fn title_rows(&self) -> &[u32] {
        &self.titles
    }

    /// `buf` grown to at least `len` values, its first `len` returned.
    pub(crate) fn grow(buf: &mut Vec<f32>, len: usize) -> &mut [f32] {
        if buf.len() < len {
            buf.resize(len, 0.0);
        }
        &mut buf[..len]
    }
}

/// A kind on disk: its name and config in the manifest, its tensors in `weights.safetensors`,
/// its vocabularies in `vocabulary.json`, and any files of its own.
pub trait Persist: Model + Clone + PartialEq + Sized + 'static {
    /// The manifest's `model_kind`.
    const KIND: &'static str;

    /// The shape, as the manifest's `model` holds it.
    type Config: Serialize + DeserializeOwned + Debug + Clone + PartialEq;

    /// The shape of this model.
    fn config(&self) -> Self::Config;

    /// Every tensor, named, in a fixed order.
    fn tensors(&self) -> Vec<Tensor<'_>>;

    /// Files of this kind besides the weights and vocabularies (name, contents).
    fn files(&self) -> Vec<(&'static str, Vec<u8>)> {
        Vec::new()
    }

    /// The model saved with `config`, its parts read (and checked) through `saved`.
    fn load(config: Self::Config, saved: &mut dyn Saved) -> Result<Self>;
}

/// What a model directory hands a kind's [`Persist::load`]: every file checked against the
/// manifest's size and SHA-256, every tensor against the shape the kind expects.
pub trait Saved {
    /// The user and title vocabularies (`vocabulary.json`).
    fn vocabularies(&mut self) -> Result<(Vocabulary, Vocabulary)>;

    /// The bytes of a file of the kind's own.
    fn file(&mut self, name: &str) -> Result<Vec<u8>>;

    /// The values of the tensors named in `expected`, in order, each of the shape given.
    fn tensors(&mut self, expected: &[(String, Vec<usize>)]) -> Result<Vec<Vec<f32>>>;

    /// The error for a file of the directory whose contents make no sense.
    fn corrupt(&self, file: &str, reason: String) -> crate::Error;
}

/// A way of training a kind: the recipe `recsys train --preset` picks, overlaid with flags,
/// checked once, then fitted.
pub trait Recipe: Debug + Clone + PartialEq + Serialize + DeserializeOwned + Send + Sync {
    /// The kind it trains.
    type Model: Persist;

    /// The recipe with every field checked: only this reaches [`fit`](Self::fit).
    type Valid;

    /// Checks every field, naming the first out of range.
    fn check(&self) -> Result<Self::Valid>;

    /// The seed, which also draws the MovieLens split.
    fn seed(&self) -> u64;

    /// Takes the flags of `flags` that this recipe has; the rest stay for the caller to
    /// report.
    fn overlay(&mut self, flags: &mut Overrides);

    /// Whether it trains from a spool on disk (`--stream`).
    fn streams(&self) -> bool {
        false
    }

    /// The seed a spool's rows are shuffled with on their way to disk (`None`: file order).
    fn spool_shuffle_seed(&self) -> Option<u64> {
        None
    }

    /// Whether it reads side information from MovieLens's files beside the ratings.
    fn reads_side_information(&self) -> bool {
        false
    }

    /// Trains on `data`, reporting to `observer`, and evaluates on its test part.
    fn fit(
        data: TrainData,
        valid: &Self::Valid,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<Self::Model>>;
}

/// What a recipe trains on: the examples (test part included) and their vocabularies.
#[derive(Debug)]
pub struct TrainData {
    /// User ids of train ∪ test, sorted; the examples' user rows index it.
    pub users: Vocabulary,
    /// Titles of train ∪ test, sorted.
    pub titles: Vocabulary,
    /// The rows.
    pub rows: DataRows,
    /// The `ml-100k` folder whose `u.user`, `u.item` (and `u.data`) give side information,
    /// located for recipes that [read it](Recipe::reads_side_information).
    pub side_dir: Option<PathBuf>,
}

/// Examples in memory, or spooled to disk (`--stream`).
#[derive(Debug)]
pub enum DataRows {
    /// Held in memory.
    Memory {
        /// Training examples, in file (or split) order.
        train: Examples,
        /// Test examples (empty without a test set).
        test: Examples,
    },
    /// On disk, read a batch at a time.
    Spooled {
        /// Training examples, in training order.
        train: Spool,
        /// Test examples (empty without a test file).
        test: Spool,
        /// Maps the spools' ids to vocabulary rows.
        map: RowMap,
    },
}

impl DataRows {
    /// Training and test examples.
    pub fn lens(&self) -> (usize, usize) {
        match self {
            DataRows::Memory { train, test } => (train.len(), test.len()),
            DataRows::Spooled { train, test, .. } => (train.len(), test.len()),
        }
    }
}

/// What a fit produced.
#[derive(Debug, Clone)]
pub struct Fitted<M> {
    /// The trained model.
    pub model: M,
    /// Per-epoch metrics.
    pub epochs: Vec<EpochReport>,
    /// Metrics on the test set, when there is one.
    pub test: Option<Metrics>,
    /// Top-K retrieval on the test set, for recipes that train a retrieval task.
    pub test_retrieval: Option<RetrievalReport>,
    /// Seconds initialising the model, training, and evaluating.
    pub seconds: FitSeconds,
}

/// Where a fit's time went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct FitSeconds {
    /// Initialising the model (and reading starting weights).
    pub init: f64,
    /// Training: the shuffle, the buffers and every epoch.
    pub fit: f64,
    /// Evaluating on the test set (0 without one).
    pub evaluate: f64,
}
