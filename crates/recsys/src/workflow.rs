//! Whole jobs built from the pieces: where the data comes from, train-and-save for any
//! recipe, and evaluating a saved model of any kind. The CLI calls these, so that what it does
//! is also available from Rust.

use std::path::{Path, PathBuf};
use std::time::Instant;

use recsys_data::{
    ColumnNames, DownloadObserver, Encoder, MovieLens100k, NoProgress, Rating, RowMap, SideInfo,
    Spool, SpoolShuffle, Vocabulary,
};
use serde::Serialize;

use crate::artifact::{self, DataSource, TrainingRecord};
use crate::contract::{DataRows, FitSeconds, Labeled, Model, TrainData};
use crate::kinds::AnyRecipe;
use crate::train::{EpochReport, Examples, Metrics, RetrievalReport, TrainObserver};
use crate::{Error, Result};

/// Receives everything a job reports: narration, download progress, training progress.
/// The library never prints; the CLI implements this with progress bars on stderr.
pub trait JobObserver: TrainObserver + DownloadObserver {}

impl<T: TrainObserver + DownloadObserver> JobObserver for T {}

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
        /// Stream the files instead of holding them (`--stream`): spool them to a temporary
        /// file once, through a shuffle buffer of this many rows, and read a batch at a time
        /// (see [`recsys_data::Spool`]). Only recipes that [stream](AnyRecipe::streams) take
        /// it.
        stream: Option<usize>,
    },
}

/// Ratings split into train and test, encoded as vocabulary rows, with the vocabularies and
/// their provenance.
///
/// Only the compact rows are kept (a `u32` user, a `u32` title and an `f32` rating, 12 bytes
/// an example) and each distinct string once, in the vocabularies: interaction files are
/// streamed through an [`Encoder`], never held as strings per row.
#[derive(Debug, Clone)]
pub struct LoadedData {
    /// Training examples, in file (or split) order.
    pub train: Examples,
    /// Test examples (may be empty for files without a test set).
    pub test: Examples,
    /// User ids of train ∪ test, sorted; `train.users` and `test.users` are its rows.
    pub users: Vocabulary,
    /// Titles of train ∪ test, sorted; `train.titles` and `test.titles` are its rows.
    pub titles: Vocabulary,
    /// Where they came from, for the manifest.
    pub source: DataSource,
}

impl DataSpec {
    /// Reads the data; MovieLens is located (or downloaded, reporting to `progress`) and split
    /// with `seed`. Interaction files are read in one streaming pass each.
    pub fn load(&self, seed: u64, progress: &mut dyn DownloadObserver) -> Result<LoadedData> {
        let mut encoder = Encoder::new();
        let (mut train, mut test, source) = match self {
            DataSpec::MovieLens {
                data_dir,
                train_size,
                test_size,
            } => {
                let (train, test) =
                    movielens_split(data_dir.as_deref(), seed, *train_size, *test_size, progress)?;
                let source = DataSource::Movielens100k {
                    seed,
                    train: *train_size,
                    test: *test_size,
                };
                let train = encoder.encode_ratings(&train);
                (train, encoder.encode_ratings(&test), source)
            }
            DataSpec::Files {
                stream: Some(_), ..
            } => {
                return Err(Error::InvalidInput(
                    "--stream spools the files (DataSpec::spool); load reads them into memory"
                        .into(),
                ));
            }
            DataSpec::Files {
                train,
                test,
                columns,
                stream: None,
            } => {
                let train_rows = encoder.read_file(train, columns)?;
                let test_rows = match test {
                    Some(t) => encoder.read_file(t, columns)?,
                    None => Examples::default(),
                };
                (
                    train_rows,
                    test_rows,
                    files_source(train, test.as_ref(), columns, None),
                )
            }
        };
        // Vocabularies over train ∪ test, as the tutorial builds them from all ratings.
        let (users, titles) = encoder.finish(&mut [&mut train, &mut test]);
        Ok(LoadedData {
            train,
            test,
            users,
            titles,
            source,
        })
    }
}

/// MovieLens 100k's ratings, shuffled with `seed` and split (small enough to hold as strings).
fn movielens_split(
    data_dir: Option<&Path>,
    seed: u64,
    train: usize,
    test: usize,
    progress: &mut dyn DownloadObserver,
) -> Result<(Vec<Rating>, Vec<Rating>)> {
    let dir = locate_movielens(data_dir, progress)?;
    let all = MovieLens100k::load(&dir)?.ratings;
    Ok(recsys_data::split(all, seed, train, test)?)
}

/// The manifest's record of interaction files, with absolute paths so that `evaluate` finds
/// them from any working directory.
fn files_source(
    train: &Path,
    test: Option<&PathBuf>,
    columns: &ColumnNames,
    stream_shuffle_buffer: Option<usize>,
) -> DataSource {
    let absolute = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_owned());
    DataSource::Files {
        train: absolute(train),
        test: test.map(|t| absolute(t)),
        columns: [
            columns.user_id.clone(),
            columns.movie_title.clone(),
            columns.user_rating.clone(),
        ],
        stream_shuffle_buffer,
    }
}

impl LoadedData {
    /// Copies of the two vocabularies (for building several models from one load).
    pub fn vocabularies(&self) -> (Vocabulary, Vocabulary) {
        (self.users.clone(), self.titles.clone())
    }
}

/// Interaction files spooled for `--stream`: the rows on disk, read a batch at a time.
#[derive(Debug)]
pub struct SpooledData {
    /// Training examples, in training order (shuffled on their way in).
    pub train: Spool,
    /// Test examples, in file order (empty without a test file).
    pub test: Spool,
    /// Maps the spools' ids to rows of `users` and `titles`.
    pub map: RowMap,
    /// User ids of train ∪ test, sorted.
    pub users: Vocabulary,
    /// Titles of train ∪ test, sorted.
    pub titles: Vocabulary,
    /// Where they came from, for the manifest.
    pub source: DataSource,
}

impl DataSpec {
    /// Spools interaction files (`DataSpec::Files` with `stream`): one pass over each file,
    /// the training rows shuffled through the buffer with `shuffle_seed` when it is given.
    ///
    /// # Errors
    ///
    /// A parse error naming the file and line; [`Error::InvalidInput`] for MovieLens or files
    /// without `stream`, which [`load`](Self::load) reads.
    pub fn spool(&self, shuffle_seed: Option<u64>) -> Result<SpooledData> {
        let DataSpec::Files {
            train,
            test,
            columns,
            stream: Some(buffer),
        } = self
        else {
            return Err(Error::InvalidInput(
                "--stream reads --train files (MovieLens 100k is split in memory)".into(),
            ));
        };
        let mut encoder = Encoder::new();
        let shuffle = shuffle_seed.map(|seed| SpoolShuffle {
            buffer: *buffer,
            seed,
        });
        let train_rows = encoder.spool_file(train, columns, shuffle)?;
        let test_rows = match test {
            Some(t) => encoder.spool_file(t, columns, None)?,
            None => Spool::empty()?,
        };
        let (users, titles, map) = encoder.finish_spooled();
        Ok(SpooledData {
            train: train_rows,
            test: test_rows,
            map,
            users,
            titles,
            source: files_source(train, test.as_ref(), columns, Some(*buffer)),
        })
    }

    /// Whether this reads files with `--stream`.
    fn streams(&self) -> bool {
        matches!(
            self,
            DataSpec::Files {
                stream: Some(_),
                ..
            }
        )
    }
}

/// A training job: data, recipe, output directory.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The data.
    pub data: DataSpec,
    /// How to train, and what.
    pub recipe: AnyRecipe,
    /// A folder holding `ml-100k/`, whose `u.user`, `u.item` (and `u.data`) give side
    /// information to recipes that read it (else `RECSYS_DATA_DIR`, else the cache).
    pub side_dir: Option<PathBuf>,
    /// Save the trained model here.
    pub out: PathBuf,
}

/// What a training job produced.
#[derive(Debug, Clone, Serialize)]
pub struct TrainOutcome {
    /// Per-epoch metrics, each with the epoch's own seconds (the training loop only).
    pub epochs: Vec<EpochReport>,
    /// Test metrics, when there was a test set.
    pub test: Option<Metrics>,
    /// Retrieval metrics on the test set (top-K accuracy over the catalogue), for recipes
    /// that train a retrieval task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieval: Option<RetrievalReport>,
    /// Where the model was saved.
    pub model_dir: PathBuf,
    /// Training examples.
    pub train_examples: usize,
    /// Test examples.
    pub test_examples: usize,
    /// Distinct user ids (the user embedding has one more row, for out-of-vocabulary ids).
    pub users: usize,
    /// Distinct titles.
    pub titles: usize,
    /// Trainable values of the model.
    pub parameters: usize,
    /// Where the time went.
    pub timings: Timings,
}

/// Wall-clock seconds of each phase of a training job.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Timings {
    /// Reading and encoding the data and building the vocabularies.
    pub load_seconds: f64,
    /// Initialising the model (and reading `--init-weights`).
    pub init_seconds: f64,
    /// `fit`: the shuffle, the training buffers and every epoch.
    pub fit_seconds: f64,
    /// Evaluating on the test set (0 without one).
    pub evaluate_seconds: f64,
    /// Writing the model directory.
    pub save_seconds: f64,
}

/// Checks the recipe, loads the data, trains, evaluates on the test set if there is one, and
/// saves the model — of whichever kind the recipe trains.
pub fn train_and_save(job: &TrainJob, observer: &mut dyn JobObserver) -> Result<TrainOutcome> {
    // Everything is checked before any data is read.
    let valid = job.recipe.check()?;
    if job.data.streams() && !job.recipe.streams() {
        return Err(Error::InvalidInput(
            "--stream trains the ranking model alone: multitask training, biased MF and the \
             feature model hold their examples in memory"
                .into(),
        ));
    }
    let clock = Instant::now();
    let (data, source) = load_train_data(job, observer)?;
    let load_seconds = clock.elapsed().as_secs_f64();
    let (train_examples, test_examples) = data.rows.lens();
    let (users, titles) = (data.users.values().len(), data.titles.values().len());
    let fitted = valid.fit(data, observer)?;
    let clock = Instant::now();
    let record = TrainingRecord {
        data: source,
        recipe: Some(job.recipe.clone()),
        epochs: fitted.epochs.clone(),
        test: fitted.test,
        test_retrieval: fitted.test_retrieval.clone(),
    };
    artifact::save_any(&fitted.model, Some(&record), &job.out)?;
    let FitSeconds {
        init,
        fit,
        evaluate,
    } = fitted.seconds;
    Ok(TrainOutcome {
        epochs: fitted.epochs,
        test: fitted.test,
        retrieval: fitted.test_retrieval,
        model_dir: job.out.clone(),
        train_examples,
        test_examples,
        users,
        titles,
        parameters: fitted.model.num_parameters(),
        timings: Timings {
            load_seconds,
            init_seconds: init,
            fit_seconds: fit,
            evaluate_seconds: evaluate,
            save_seconds: clock.elapsed().as_secs_f64(),
        },
    })
}

/// Reads the job's data as its spec says (spooled for `--stream`, its shuffle seeded by the
/// recipe), and locates the side information for recipes that read it.
fn load_train_data(
    job: &TrainJob,
    observer: &mut dyn JobObserver,
) -> Result<(TrainData, DataSource)> {
    let seed = job.recipe.seed();
    let side_dir = match job.recipe.reads_side_information() {
        true => Some(locate_movielens(job.side_dir.as_deref(), observer)?),
        false => None,
    };
    if job.data.streams() {
        let d = job.data.spool(job.recipe.spool_shuffle_seed())?;
        let rows = DataRows::Spooled {
            train: d.train,
            test: d.test,
            map: d.map,
        };
        let data = TrainData {
            users: d.users,
            titles: d.titles,
            rows,
            side_dir,
        };
        return Ok((data, d.source));
    }
    let d = job.data.load(seed, observer)?;
    let data = TrainData {
        users: d.users,
        titles: d.titles,
        rows: DataRows::Memory {
            train: d.train,
            test: d.test,
        },
        side_dir,
    };
    Ok((data, d.source))
}

/// Evaluates the model (of any kind) saved in `dir` on `test` ratings, or, without them, on the
/// test split its manifest records (MovieLens re-split with the same seed, or the test file it
/// used).
///
/// `data_dir` locates MovieLens for a model trained on it (and for a feature model with a
/// timestamp feature, the `u.data` its test ratings' times are joined from).
pub fn evaluate_saved(
    dir: &Path,
    test: Option<(&Path, &ColumnNames)>,
    data_dir: Option<&Path>,
    progress: &mut dyn DownloadObserver,
) -> Result<Metrics> {
    let saved = artifact::load_any(dir)?;
    let ratings = test_ratings(dir, &saved.manifest, test, data_dir, progress)?;
    let mut encoder = Encoder::new();
    let mut examples = encoder.encode_ratings(&ratings);
    drop(ratings);
    let (users, titles) = encoder.finish(&mut [&mut examples]);
    // Interaction files have no times: join them from u.data, as training did.
    let joined = match saved.model.reads_times() && examples.timestamps.is_none() {
        true => {
            let side = SideInfo::load(&locate_movielens(data_dir, progress)?)?;
            fn text(v: &Vocabulary, r: u32) -> &str {
                v.value(r).unwrap_or("")
            }
            let times = (examples.users.iter().zip(&examples.titles))
                .map(|(&u, &t)| side.timestamp(text(&users, u), text(&titles, t)));
            Some(times.collect::<Vec<_>>())
        }
        false => None,
    };
    saved.model.evaluate(&Labeled {
        examples: &examples,
        users: &users,
        titles: &titles,
        times: joined.as_deref(),
    })
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
                movielens_split(data_dir, *seed, *train, *test, progress)?.1
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
