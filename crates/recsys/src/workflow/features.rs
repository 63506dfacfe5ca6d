//! The feature-model training job: load the ratings, join MovieLens's side information to
//! them, fit the lookups, hold out a validation split, train, evaluate, save — what
//! `recsys train --preset features` and `--features RECIPE.toml` run.

use std::path::PathBuf;
use std::time::Instant;

use recsys_data::{SideInfo, Vocabulary};

use super::mf::{Recording, outcome};
use super::{DataSpec, JobObserver, LoadedData, Timings, TrainOutcome, locate_movielens};
use crate::Result;
use crate::artifact::{self, TrainingRecord};
use crate::kinds::features::config::FeatureInput;
use crate::kinds::features::train::{LabeledRows, evaluate_rows, fit_features};
use crate::kinds::features::{FeatureEncoder, FeatureModel, FeatureRecipe, Interaction, SideTable};
use crate::train::{Examples, TrainConfig};

/// A feature-model training job.
#[derive(Debug, Clone)]
pub struct FeatureTrainJob {
    /// The ratings.
    pub data: DataSpec,
    /// A folder holding `ml-100k/`, whose `u.user`, `u.item` and `u.data` give the side
    /// information (else `RECSYS_DATA_DIR`, else the cache).
    pub side_dir: Option<PathBuf>,
    /// Features, network and training settings.
    pub recipe: FeatureRecipe,
    /// Save the trained model here.
    pub out: PathBuf,
}

/// The raw interactions of `examples`, their strings read back from the vocabularies and their
/// timestamps joined from `u.data` (by user id and title).
fn interactions<'a>(
    examples: &Examples,
    users: &'a Vocabulary,
    titles: &'a Vocabulary,
    side: &SideInfo,
) -> Vec<Interaction<'a>> {
    let text = |v: &'a Vocabulary, row: u32| v.value(row).unwrap_or("");
    examples
        .users
        .iter()
        .zip(&examples.titles)
        .map(|(&u, &t)| {
            let (user_id, title) = (text(users, u), text(titles, t));
            let timestamp = side.timestamp(user_id, title);
            Interaction {
                user_id,
                title,
                timestamp,
            }
        })
        .collect()
}

/// Training needs every user's and title's side information that a feature reads (and the
/// rating's time, for a timestamp feature); the first one missing is an error naming the file
/// and the id.
fn require_side_info(recipe: &FeatureRecipe, train: &[Interaction], side: &SideInfo) -> Result<()> {
    use FeatureInput::*;
    let reads = |inputs: &[FeatureInput]| recipe.features.iter().any(|f| inputs.contains(&f.input));
    let (user, movie) = (
        reads(&[UserAge, UserGender, UserOccupation, UserZip]),
        reads(&[MovieGenres, MovieYear]),
    );
    let time = reads(&[Timestamp]);
    for ex in train {
        if user {
            side.require_user(ex.user_id)?;
        }
        if movie {
            side.require_movie(ex.title)?;
        }
        if time {
            side.require_timestamp(ex.user_id, ex.title)?;
        }
    }
    Ok(())
}

/// Checks the recipe, loads the ratings and the side information, trains with a validation
/// split held out, evaluates on the test set if there is one, and saves the model (kind
/// `features`).
pub fn train_features_and_save(
    job: &FeatureTrainJob,
    observer: &mut dyn JobObserver,
) -> Result<TrainOutcome> {
    let recipe = &job.recipe;
    recipe.check()?;
    let t = &recipe.train;
    let clock = Instant::now();
    let LoadedData {
        train: all,
        test,
        users,
        titles,
        source,
    } = job.data.load(t.seed, observer)?;
    let side = SideInfo::load(&locate_movielens(job.side_dir.as_deref(), observer)?)?;
    let side_table = SideTable::from_side_info(&side);
    let (train, valid) = crate::train::split_validation(&all, t.validation_fraction, t.seed)?;
    let [train_ex, valid_ex, test_ex] =
        [&train, &valid, &test].map(|e| interactions(e, &users, &titles, &side));
    require_side_info(recipe, &train_ex, &side)?;
    let encoder = FeatureEncoder::fit(&recipe.features, &train_ex, &side_table);
    let labeled = |ex: &[Interaction], e: &Examples| LabeledRows {
        rows: encoder.encode(ex, &side_table),
        ratings: e.ratings.clone(),
    };
    let (train_rows, valid_rows, test_rows) = (
        labeled(&train_ex, &train),
        labeled(&valid_ex, &valid),
        labeled(&test_ex, &test),
    );
    let load_seconds = clock.elapsed().as_secs_f64();
    if !valid.is_empty() {
        observer.narrate(&format!(
            "Validation: {} of the {} training ratings held out (seed {})",
            valid.len(),
            all.len(),
            t.seed
        ));
    }
    let (n_users, n_titles) = (users.values().len(), titles.values().len());
    let model = FeatureModel::new(
        recipe.model(),
        encoder.clone(),
        side_table,
        users,
        titles,
        t.seed,
    )?;
    let mut rec = Recording {
        inner: observer,
        epochs: Vec::new(),
    };
    let clock = Instant::now();
    let valid = (!valid.is_empty()).then_some(&valid_rows);
    let model = fit_features(model, &train_rows, valid, t, &mut rec)?;
    let fit_seconds = clock.elapsed().as_secs_f64();
    let epochs = rec.epochs;
    let clock = Instant::now();
    let test_metrics = (!test.is_empty())
        .then(|| evaluate_rows(&model, &test_rows))
        .transpose()?;
    let evaluate_seconds = clock.elapsed().as_secs_f64();
    let clock = Instant::now();
    let record = TrainingRecord {
        data: source,
        config: TrainConfig {
            epochs: t.epochs,
            batch_size: t.batch_size,
            optimizer: t.optimizer,
            learning_rate: t.learning_rate,
            seed: t.seed,
            ..TrainConfig::default()
        },
        init_weights: None,
        epochs: epochs.clone(),
        test: test_metrics,
        recipe: None,
        multitask: None,
        features: Some(t.clone()),
    };
    artifact::save_features(&model, Some(&record), &job.out)?;
    let seconds = [load_seconds, fit_seconds, evaluate_seconds];
    let params = model.num_parameters();
    let counts = [all.len(), test.len(), n_users, n_titles, params];
    let timings = Timings::rating_only(seconds, clock);
    Ok(outcome(epochs, test_metrics, &job.out, counts, timings))
}
