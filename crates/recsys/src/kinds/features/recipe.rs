//! Training the feature model, as `recsys train --preset features` and `--features
//! RECIPE.toml` run it: join MovieLens's side information to the ratings, fit each feature's
//! lookup on the training part, hold out a validation split, train, evaluate — the kind's side
//! of the fitting contract ([`Recipe`]).

use std::borrow::Cow;
use std::time::Instant;

use recsys_data::{Examples, SideInfo, Vocabulary};

use super::config::FeatureInput;
use super::fit::{LabeledRows, evaluate_rows, fit_features};
use super::{FeatureEncoder, FeatureModel, FeatureRecipe, SideTable, ValidFeatureRecipe};
use crate::contract::{DataRows, FitSeconds, Fitted, Overrides, Recipe, TrainData};
use crate::train::{Recording, TrainObserver, hold_out, narrate_validation};
use crate::{Error, Result};

impl Recipe for FeatureRecipe {
    type Model = FeatureModel;
    type Valid = ValidFeatureRecipe;

    fn check(&self) -> Result<ValidFeatureRecipe> {
        FeatureRecipe::check(self)
    }

    fn seed(&self) -> u64 {
        self.train.schedule.seed
    }

    /// The schedule's flags; the features and the network come from the recipe file.
    fn overlay(&mut self, flags: &mut Overrides) {
        self.train.schedule.overlay(flags);
    }

    fn reads_side_information(&self) -> bool {
        true
    }

    fn fit(
        data: TrainData,
        valid: &ValidFeatureRecipe,
        observer: &mut dyn TrainObserver,
    ) -> Result<Fitted<FeatureModel>> {
        let DataRows::Memory { train: all, test } = data.rows else {
            return Err(Error::InvalidInput(
                "--stream trains the tutorial's ranking model; the feature model holds its \
                 examples in memory"
                    .into(),
            ));
        };
        let recipe = valid.get();
        let vocabularies = (&data.users, &data.titles);
        let reads_time = recipe.model().uses_timestamp();
        // u.data only when a feature reads times the ratings do not carry.
        let needs_times = reads_time && (all.timestamps.is_none() || test.timestamps.is_none());
        let dir = data.side_dir.as_deref().ok_or_else(|| {
            Error::InvalidInput("the feature model needs MovieLens's side information".into())
        })?;
        let side = match needs_times {
            true => SideInfo::load(dir)?,
            false => SideInfo::load_profiles(dir)?,
        };
        let side_table = SideTable::from_side_info(&side);
        let (train, validation) = hold_out(Cow::Owned(all), valid.schedule())?;
        let total = train.len() + validation.as_ref().map_or(0, Examples::len);
        let seed = recipe.train.schedule.seed;
        narrate_validation(observer, validation.as_ref(), total, seed);
        require_side_info(recipe, &train, vocabularies, &side)?;
        let train_times = times(&train, vocabularies, &side, reads_time);
        let required: Vec<i64> = train_times.iter().flatten().copied().collect();
        let encoder = FeatureEncoder::fit_examples(
            &recipe.features,
            &train,
            vocabularies,
            &required,
            &side_table,
        );
        let labeled = |e: &Examples, t: &[Option<i64>]| LabeledRows {
            rows: encoder.encode_examples(e, vocabularies, |i| t[i], &side_table),
            ratings: e.ratings.clone(),
        };
        let with_times = |e: &Examples| labeled(e, &times(e, vocabularies, &side, reads_time));
        let train_rows = labeled(&train, &train_times);
        let valid_rows = validation.as_ref().map(with_times);
        let test_rows = with_times(&test);
        let clock = Instant::now();
        let model = FeatureModel::new(
            recipe.model(),
            encoder,
            side_table,
            data.users,
            data.titles,
            seed,
        )?;
        let init = clock.elapsed().as_secs_f64();
        let mut recording = Recording {
            inner: observer,
            epochs: Vec::new(),
        };
        let clock = Instant::now();
        let model = fit_features(
            model,
            &train_rows,
            valid_rows.as_ref(),
            &recipe.train,
            &mut recording,
        )?;
        let fit = clock.elapsed().as_secs_f64();
        let clock = Instant::now();
        let test = (!test.is_empty())
            .then(|| evaluate_rows(&model, &test_rows))
            .transpose()?;
        Ok(Fitted {
            model,
            epochs: recording.epochs,
            test,
            test_retrieval: None,
            seconds: FitSeconds {
                init,
                fit,
                evaluate: clock.elapsed().as_secs_f64(),
            },
        })
    }
}

/// Each example's time: its own when the examples carry times, else joined from `u.data` by
/// user id and title (`None` where it has none); all `None` when no feature reads it.
fn times(
    e: &Examples,
    (users, titles): (&Vocabulary, &Vocabulary),
    side: &SideInfo,
    reads_time: bool,
) -> Vec<Option<i64>> {
    match (&e.timestamps, reads_time) {
        (_, false) => vec![None; e.len()],
        (Some(t), true) => t.iter().map(|&t| Some(t)).collect(),
        (None, true) => {
            fn text(v: &Vocabulary, r: u32) -> &str {
                v.value(r).unwrap_or("")
            }
            (e.users.iter().zip(&e.titles))
                .map(|(&u, &t)| side.timestamp(text(users, u), text(titles, t)))
                .collect()
        }
    }
}

/// Training needs every user's and title's side information that a feature reads (and the
/// rating's time, for a timestamp feature); the first one missing is an error naming the file
/// and the id.
fn require_side_info(
    recipe: &FeatureRecipe,
    train: &Examples,
    (users, titles): (&Vocabulary, &Vocabulary),
    side: &SideInfo,
) -> Result<()> {
    use FeatureInput::*;
    let reads = |inputs: &[FeatureInput]| recipe.features.iter().any(|f| inputs.contains(&f.input));
    let (user, movie) = (
        reads(&[UserAge, UserGender, UserOccupation, UserZip]),
        reads(&[MovieGenres, MovieYear]),
    );
    let time = reads(&[Timestamp]) && train.timestamps.is_none();
    fn text(v: &Vocabulary, r: u32) -> &str {
        v.value(r).unwrap_or("")
    }
    for (&u, &t) in train.users.iter().zip(&train.titles) {
        let (user_id, title) = (text(users, u), text(titles, t));
        if user {
            side.require_user(user_id)?;
        }
        if movie {
            side.require_movie(title)?;
        }
        if time {
            side.require_timestamp(user_id, title)?;
        }
    }
    Ok(())
}
