//! The TFRS ranking tutorial, end to end, in its own order: data → split → vocabularies →
//! model → fit → evaluate → rank → save → load → predict.
//!
//! [`run`] narrates each step through a [`JobObserver`] (the CLI prints it) and returns a
//! [`TutorialReport`] with every number it produced.

use std::path::PathBuf;

use serde::Serialize;

use crate::Result;
use crate::artifact::{self, TrainingRecord};
use crate::contract::Model;
use crate::kinds::AnyRecipe;
use crate::kinds::ranking::RankingRecipe;
use crate::kinds::ranking::{RankingModel, RankingModelConfig};
use crate::train::{EpochReport, Metrics, Schedule};
use crate::workflow::{DataSpec, JobObserver};

/// The user the tutorial ranks movies for.
pub const TUTORIAL_USER: &str = "42";
/// The three titles the tutorial ranks.
pub const TUTORIAL_TITLES: [&str; 3] = [
    "M*A*S*H (1970)",
    "Dances with Wolves (1990)",
    "Speed (1994)",
];
/// The title the tutorial scores after reloading the model.
pub const TUTORIAL_RELOAD_TITLE: &str = "Speed (1994)";

/// How to run the tutorial.
#[derive(Debug, Clone)]
pub struct TutorialConfig {
    /// A folder holding `ml-100k/`; `None` uses `RECSYS_DATA_DIR` or downloads to the cache.
    pub data_dir: Option<PathBuf>,
    /// Training examples (tutorial: 80,000).
    pub train_size: usize,
    /// Test examples (tutorial: 20,000).
    pub test_size: usize,
    /// Model shape.
    pub model: RankingModelConfig,
    /// The schedule; its seed also seeds the split.
    pub train: Schedule,
    /// Where the model is saved.
    pub out: PathBuf,
}

impl Default for TutorialConfig {
    fn default() -> Self {
        TutorialConfig {
            data_dir: None,
            train_size: 80_000,
            test_size: 20_000,
            model: RankingModelConfig::default(),
            train: Schedule::default(),
            out: PathBuf::from("recsys-tutorial-model"),
        }
    }
}

/// A titled score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scored {
    /// The movie.
    pub movie_title: String,
    /// Its predicted rating.
    pub score: f32,
}

/// Counts describing the data as loaded and split.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    /// Ratings used (train + test).
    pub ratings: usize,
    /// Training examples.
    pub train: usize,
    /// Test examples.
    pub test: usize,
    /// Distinct users (vocabulary size, without the OOV row).
    pub users: usize,
    /// Distinct titles.
    pub titles: usize,
}

/// Everything the tutorial produced.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TutorialReport {
    /// The data.
    pub data: DataSummary,
    /// Per-epoch training metrics.
    pub epochs: Vec<EpochReport>,
    /// `evaluate` on the test split.
    pub test: Metrics,
    /// The three titles ranked for user 42, best first.
    pub ranking: Vec<Scored>,
    /// The in-memory model's score for user 42 and "Speed (1994)".
    pub in_memory_score: f32,
    /// The reloaded model's score for the same pair.
    pub reloaded_score: f32,
    /// Whether the two are bit-identical.
    pub identical: bool,
    /// Where the model was saved.
    pub model_dir: PathBuf,
}

/// Runs the tutorial.
pub fn run(config: &TutorialConfig, observer: &mut dyn JobObserver) -> Result<TutorialReport> {
    let train_config = config.train.clone().check()?;
    let seed = train_config.get().seed;

    observer.narrate("Preparing the dataset: loading MovieLens 100k ratings");
    let spec = DataSpec::MovieLens {
        data_dir: config.data_dir.clone(),
        train_size: config.train_size,
        test_size: config.test_size,
    };
    let loaded = spec.load(seed, observer)?;
    observer.narrate(&format!(
        "Split: shuffled with seed {seed}, {} ratings for training, {} for testing",
        loaded.train.len(),
        loaded.test.len()
    ));
    let (users, titles) = (loaded.users, loaded.titles);
    observer.narrate(&format!(
        "Vocabularies: {} unique user ids, {} unique movie titles (row 0 = out of vocabulary)",
        users.values().len(),
        titles.values().len()
    ));
    let (train_set, test_set) = (loaded.train, loaded.test);
    let data = DataSummary {
        ratings: train_set.len() + test_set.len(),
        train: train_set.len(),
        test: test_set.len(),
        users: users.values().len(),
        titles: titles.values().len(),
    };

    let mut model = RankingModel::new(config.model.clone(), users, titles, seed)?;
    observer.narrate(&format!(
        "Implementing the model: embeddings of {} + dense layers {:?} -> 1 ({} parameters), MSE loss, RMSE metric",
        config.model.embedding_dim,
        config.model.hidden_layers,
        model.num_parameters()
    ));

    let tc = train_config.get();
    observer.narrate(&format!(
        "Fitting: {} epochs, batch {}, {:?} learning rate {}",
        tc.epochs, tc.batch_size, tc.optimizer, tc.learning_rate
    ));
    let history = crate::kinds::ranking::fit_owned(&mut model, train_set, &train_config, observer)?;

    observer.narrate("Evaluating on the test set");
    let test = crate::kinds::ranking::evaluate(&model, &test_set, 4096)?;

    observer.narrate(&format!(
        "Testing the ranking model: ranking three movies for user {TUTORIAL_USER}"
    ));
    let ranking = model
        .rank(TUTORIAL_USER, &TUTORIAL_TITLES)?
        .into_iter()
        .map(|(movie_title, score)| Scored { movie_title, score })
        .collect();

    observer.narrate(&format!(
        "Exporting: saving the model to {}",
        config.out.display()
    ));
    let recipe = RankingRecipe {
        model: config.model.clone(),
        schedule: tc.clone(),
        ..RankingRecipe::default()
    };
    let record = TrainingRecord {
        data: loaded.source,
        recipe: Some(AnyRecipe::Ranking(recipe)),
        epochs: history.epochs.clone(),
        test: Some(test),
        test_retrieval: None,
    };
    artifact::save(&model, Some(&record), &config.out)?;

    observer.narrate("Loading it back and predicting");
    let reloaded = artifact::load::<RankingModel>(&config.out)?.model;
    let score = |m: &RankingModel| -> Result<f32> {
        Ok(m.predict(&[TUTORIAL_USER], &[TUTORIAL_RELOAD_TITLE])?[0])
    };
    let in_memory_score = score(&model)?;
    let reloaded_score = score(&reloaded)?;
    let identical = in_memory_score.to_bits() == reloaded_score.to_bits();
    Ok(TutorialReport {
        data,
        epochs: history.epochs,
        test,
        ranking,
        in_memory_score,
        reloaded_score,
        identical,
        model_dir: config.out.clone(),
    })
}
