//! Whole jobs built from the pieces: where the data comes from, train-and-save, and evaluating
//! a saved model. The CLI calls these, so that what it does is also available from Rust.

use std::path::{Path, PathBuf};

use recsys_data::{ColumnNames, DownloadObserver, MovieLens100k, NoProgress, Rating, Vocabulary};
use serde::Serialize;

use crate::artifact::{self, DataSource, TrainingRecord};
use crate::model::{RankingModel, RankingModelConfig};
use crate::train::{self, EpochReport, Examples, Metrics, TrainConfig, TrainObserver};
use crate::{Error, Result, weights};

mod mf;
pub use mf::{MfTrainJob, train_mf_and_save};

/// Receives everything a job reports: narration, download progress, training progress.
/// The library never prints; the CLI implements this with progress bars on stderr.
pub trait JobObserver: TrainObserver + DownloadObserver {
    /// A step of the job begins; `what` says what happens.
    fn narrate(&mut self, _what: &str) {}
}

/// A [`JobObserver`] that ignores everything.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl TrainObserver for Quiet {}

impl DownloadObserver for Quiet {
    fn start(&mut self, total: Option<u64>) {
        NoProgress.start(total)
    }
    fn advance(&mut self, bytes: u64) {
        NoProgress.advance(bytes)
    }
    fn finish(&mut self) {
        NoProgress.finish()
    }
}

impl JobObserver for Quiet {}

/// Finds MovieLens 100k: `data_dir`, else `RECSYS_DATA_DIR`, else the cache (downloading into
/// it with progress reported to `progress`).
pub fn locate_movielens(
    data_dir: Option<&Path>,
    progress: &mut dyn DownloadObserver,
) -> Result<PathBuf> {
    let dir = data_dir
        .map(Path::to_owned)
        .or_else(recsys_data::data_dir_from_env);
    Ok(recsys_data::ml100k_dir_with(
        dir.as_deref(),
        recsys_data::ML100K_URL,
        None,
        progress,
    )?)
}

/// Where training and test ratings come from.
#[derive(Debug, Clone)]
pub enum DataSpec {
    /// MovieLens 100k, shuffled and split with the run's seed.
    MovieLens {
        /// A folder holding `ml-100k/` (else `RECSYS_DATA_DIR`, else download).
        data_dir: Option<PathBuf>,
        /// Training examples.
        train_size: usize,
        /// Test examples.
        test_size: usize,
    },
    /// The user's own TSV/CSV files.
    Files {
        /// Training ratings.
        train: PathBuf,
        /// Test ratings (optional).
        test: Option<PathBuf>,
        /// Which columns hold the user id, title and rating.
        columns: ColumnNames,
    },
}

/// Ratings split into train and test, with their provenance.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// Training ratings, in file (or split) order.
    pub train: Vec<Rating>,
    /// Test ratings (may be empty for files without a test set).
    pub test: Vec<Rating>,
    /// Where they came from, for the manifest.
    pub source: DataSource,
}

impl DataSpec {
    /// Reads the data; MovieLens is located (or downloaded, reporting to `progress`) and split
    /// with `seed`.
    pub fn load(&self, seed: u64, progress: &mut dyn DownloadObserver) -> Result<LoadedData> {
        match self {
            DataSpec::MovieLens {
                data_dir,
                train_size,
                test_size,
            } => {
                let dir = locate_movielens(data_dir.as_deref(), progress)?;
                let all = MovieLens100k::load(&dir)?.ratings;
                let (train, test) = recsys_data::split(all, seed, *train_size, *test_size)?;
                let source = DataSource::Movielens100k {
                    seed,
                    train: *train_size,
                    test: *test_size,
                };
                Ok(LoadedData {
                    train,
                    test,
                    source,
                })
            }
            DataSpec::Files {
                train,
                test,
                columns,
            } => {
                let train_rows = recsys_data::read_interactions(train, columns)?;
                let test_rows = match test {
                    Some(t) => recsys_data::read_interactions(t, columns)?,
                    None => Vec::new(),
                };
                // Recorded absolute, so `evaluate` finds them from any working directory.
                let absolute = |p: &PathBuf| std::fs::canonicalize(p).unwrap_or_else(|_| p.clone());
                let source = DataSource::Files {
                    train: absolute(train),
                    test: test.as_ref().map(absolute),
                    columns: [
                        columns.user_id.clone(),
                        columns.movie_title.clone(),
                        columns.user_rating.clone(),
                    ],
                };
                Ok(LoadedData {
                    train: train_rows,
                    test: test_rows,
                    source,
                })
            }
        }
    }
}

impl LoadedData {
    /// Vocabularies over train ∪ test, as the tutorial builds them from all ratings.
    pub fn vocabularies(&self) -> (Vocabulary, Vocabulary) {
        let all = || self.train.iter().chain(&self.test);
        (
            Vocabulary::from_values(all().map(|r| r.user_id.as_str())),
            Vocabulary::from_values(all().map(|r| r.movie_title.as_str())),
        )
    }
}

/// A training job: data, model shape, recipe, optional starting weights, output directory.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The data.
    pub data: DataSpec,
    /// Model shape.
    pub model: RankingModelConfig,
    /// Training recipe.
    pub train: TrainConfig,
    /// Start from these weights (safetensors, parity-fixture names) instead of the seed.
    pub init_weights: Option<PathBuf>,
    /// Save the trained model here.
    pub out: PathBuf,
}

/// What a training job produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    /// Per-epoch metrics.
    pub epochs: Vec<EpochReport>,
    /// Test metrics, when there was a test set.
    pub test: Option<Metrics>,
    /// Where the model was saved.
    pub model_dir: PathBuf,
    /// Training examples.
    pub train_examples: usize,
    /// Test examples.
    pub test_examples: usize,
}

/// Loads the data, trains, evaluates on the test set if there is one, and saves the model.
pub fn train_and_save(job: &TrainJob, observer: &mut dyn JobObserver) -> Result<TrainOutcome> {
    let config = job.train.clone().check()?;
    job.model.check()?;
    let data = job.data.load(config.get().seed, observer)?;
    let (users, titles) = data.vocabularies();
    let mut model = RankingModel::new(job.model.clone(), users, titles, config.get().seed)?;
    if let Some(path) = &job.init_weights {
        weights::load_safetensors_file(&mut model, path)?;
    }
    let examples = Examples::encode(&model, &data.train);
    let history = train::fit(&mut model, &examples, &config, observer)?;
    let test = if data.test.is_empty() {
        None
    } else {
        Some(train::evaluate(
            &model,
            &Examples::encode(&model, &data.test),
            4096,
        )?)
    };
    let record = TrainingRecord {
        data: data.source,
        config: config.get().clone(),
        init_weights: job.init_weights.clone(),
        epochs: history.epochs.clone(),
        test,
        recipe: None,
    };
    artifact::save(&model, Some(&record), &job.out)?;
    Ok(TrainOutcome {
        epochs: history.epochs,
        test,
        model_dir: job.out.clone(),
        train_examples: data.train.len(),
        test_examples: data.test.len(),
    })
}

/// Evaluates the model (of any kind) saved in `dir` on `test` ratings, or, without them, on the
/// test split its manifest records (MovieLens re-split with the same seed, or the test file it
/// used).
///
/// `data_dir` locates MovieLens for a model trained on it.
pub fn evaluate_saved(
    dir: &Path,
    test: Option<(&Path, &ColumnNames)>,
    data_dir: Option<&Path>,
    progress: &mut dyn DownloadObserver,
) -> Result<Metrics> {
    let saved = artifact::load_any(dir)?;
    let rows = test_ratings(dir, &saved.manifest, test, data_dir, progress)?;
    saved.model.evaluate(&rows)
}

/// The ratings a saved model is evaluated on: `test` if given, else the test split its
/// `manifest` records (MovieLens re-split with the same seed, or the test file it used).
/// `dir` (the model directory) is named in errors; `data_dir` locates MovieLens.
pub fn test_ratings(
    dir: &Path,
    manifest: &artifact::Manifest,
    test: Option<(&Path, &ColumnNames)>,
    data_dir: Option<&Path>,
    progress: &mut dyn DownloadObserver,
) -> Result<Vec<Rating>> {
    Ok(match test {
        Some((file, columns)) => recsys_data::read_interactions(file, columns)?,
        None => match manifest.training.as_ref().map(|t| &t.data) {
            Some(DataSource::Movielens100k { seed, train, test }) => {
                let spec = DataSpec::MovieLens {
                    data_dir: data_dir.map(Path::to_owned),
                    train_size: *train,
                    test_size: *test,
                };
                spec.load(*seed, progress)?.test
            }
            Some(DataSource::Files {
                test: Some(t),
                columns: [u, i, r],
                ..
            }) => {
                let columns = ColumnNames {
                    user_id: u.clone(),
                    movie_title: i.clone(),
                    user_rating: r.clone(),
                };
                if !t.exists() {
                    return Err(Error::InvalidInput(format!(
                        "{}: the test file recorded in the model ({}) is not there; pass --test FILE",
                        dir.display(),
                        t.display()
                    )));
                }
                recsys_data::read_interactions(t, &columns)?
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "{}: the model records no test set; pass --test FILE",
                    dir.display()
                )));
            }
        },
    })
}
