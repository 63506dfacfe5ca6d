//! Tests of the feature model on a small synthetic data set whose ratings depend on an
//! interaction between a user feature (gender) and an item feature (genre).

use super::encode::{MovieSide, UserSide};
use super::fit::{LabeledRows, evaluate_rows, fit_features};
use super::*;
use crate::kinds::features::config::{FeatureTrainConfig, NetworkSpec};
use crate::train::{OptimizerKind, Schedule, Silent};

pub(crate) const USERS: usize = 12;
pub(crate) const MOVIES: usize = 8;

pub(crate) fn user_id(u: usize) -> String {
    (u + 1).to_string()
}

pub(crate) fn title(m: usize) -> String {
    format!("Movie {m} ({})", 1990 + m)
}

/// Half the users are "F", half the movies are dramas (genre 8, else comedy 5).
pub(crate) fn side() -> SideTable {
    let users = (0..USERS).map(|u| {
        let s = UserSide {
            age: 20 + 3 * u as u32,
            gender: if u % 2 == 0 { "F" } else { "M" }.into(),
            occupation: ["writer", "other", "student"][u % 3].into(),
            zip_code: format!("{}0000", u % 4),
        };
        (user_id(u), s)
    });
    let movies = (0..MOVIES).map(|m| {
        let s = MovieSide {
            release_date: format!("01-Jan-{}", 1990 + m),
            genres: vec![if m % 2 == 0 { 8 } else { 5 }],
        };
        (title(m), s)
    });
    SideTable {
        users: users.collect(),
        movies: movies.collect(),
    }
}

/// Women rate dramas 4.5 and comedies 2.5; men the other way round.
pub(crate) fn rating(u: usize, m: usize) -> f32 {
    if u.is_multiple_of(2) == m.is_multiple_of(2) {
        4.5
    } else {
        2.5
    }
}

pub(crate) fn specs() -> Vec<FeatureSpec> {
    let spec = |input, dim| FeatureSpec {
        input,
        dim,
        hash_bins: None,
        boundaries: None,
        buckets: None,
        prefix: None,
    };
    vec![
        FeatureSpec {
            hash_bins: Some(16),
            ..spec(FeatureInput::UserId, 3)
        },
        spec(FeatureInput::UserGender, 2),
        spec(FeatureInput::UserAge, 2),
        spec(FeatureInput::MovieGenres, 2),
        FeatureSpec {
            hash_bins: Some(32),
            ..spec(FeatureInput::TitleTokens, 3)
        },
    ]
}

pub(crate) fn pairs() -> Vec<(String, String)> {
    (0..USERS)
        .flat_map(|u| (0..MOVIES).map(move |m| (user_id(u), title(m))))
        .collect()
}

/// A model over [`specs`] with `cross` cross layers of `rank`, and every pair encoded.
pub(crate) fn tiny(cross: usize, rank: Option<usize>) -> (FeatureModel, LabeledRows) {
    let network = NetworkSpec {
        cross_layers: cross,
        cross_rank: rank,
        hidden_layers: vec![8],
        dropout: None,
        interaction: None,
    };
    tiny_with(specs(), network)
}

/// [`tiny`] with every feature 3 wide and DLRM's dot interaction, over `cross` cross layers.
pub(crate) fn tiny_dot(cross: usize) -> (FeatureModel, LabeledRows) {
    let specs = specs()
        .into_iter()
        .map(|s| FeatureSpec { dim: 3, ..s })
        .collect();
    let network = NetworkSpec {
        cross_layers: cross,
        cross_rank: None,
        hidden_layers: vec![8],
        dropout: None,
        interaction: Some(config::Interaction::Dot),
    };
    tiny_with(specs, network)
}

fn tiny_with(specs: Vec<FeatureSpec>, network: NetworkSpec) -> (FeatureModel, LabeledRows) {
    let pairs = pairs();
    let interactions: Vec<Interaction> = pairs
        .iter()
        .map(|(u, t)| Interaction {
            user_id: u,
            title: t,
            timestamp: None,
        })
        .collect();
    let side = side();
    let encoder = FeatureEncoder::fit(&specs, &interactions, &side);
    let config = FeatureModelConfig {
        features: specs,
        network,
        clip: None,
    };
    let users = Vocabulary::from_values(pairs.iter().map(|p| p.0.as_str()));
    let titles = Vocabulary::from_values(pairs.iter().map(|p| p.1.as_str()));
    let rows = encoder.encode(&interactions, &side);
    let model = FeatureModel::new(config, encoder, side, users, titles, 7).unwrap();
    let ratings = (0..USERS)
        .flat_map(|u| (0..MOVIES).map(move |m| rating(u, m)))
        .collect();
    (model, LabeledRows { rows, ratings })
}

pub(crate) fn train_config(epochs: usize) -> FeatureTrainConfig {
    FeatureTrainConfig {
        schedule: Schedule {
            epochs,
            batch_size: 16,
            optimizer: OptimizerKind::Adam,
            learning_rate: 0.02,
            seed: 3,
            validation_fraction: 0.0,
            patience: 0,
            ..FeatureTrainConfig::default().schedule
        },
        embedding_l2: 0.0,
    }
}

#[test]
fn learns_a_user_item_interaction_with_and_without_cross_layers() {
    for (cross, rank, dropout) in [(0, None, None), (1, None, Some(0.1)), (2, Some(2), None)] {
        let (mut model, data) = tiny(cross, rank);
        model.config.network.dropout = dropout;
        let before = evaluate_rows(&model, &data)
            .unwrap()
            .root_mean_squared_error;
        let model = fit_features(model, &data, None, &train_config(60), &mut Silent).unwrap();
        let after = evaluate_rows(&model, &data)
            .unwrap()
            .root_mean_squared_error;
        // Always predicting the mean (3.5) gives RMSE 1.
        assert!(after < 0.3, "cross {cross} {rank:?}: {before} -> {after}");
    }
}

#[test]
fn the_same_seed_gives_the_same_weights_and_early_stopping_keeps_the_best_epoch() {
    let (model, data) = tiny(1, Some(2));
    let a = fit_features(model.clone(), &data, None, &train_config(3), &mut Silent).unwrap();
    let b = fit_features(model.clone(), &data, None, &train_config(3), &mut Silent).unwrap();
    assert_eq!(a, b);
    let val = data.select(&[0, 9, 18, 27]);
    let mut cfg = train_config(40);
    // Early stopping needs a validation split (here given whole, as `val`).
    (cfg.schedule.validation_fraction, cfg.schedule.patience) = (0.04, 1);
    let mut seen = Validation(Vec::new());
    let best = fit_features(model, &data, Some(&val), &cfg, &mut seen).unwrap();
    let got = evaluate_rows(&best, &val).unwrap().root_mean_squared_error;
    let min = seen.0.iter().copied().fold(f64::MAX, f64::min);
    assert_eq!(got, min, "{:?}", seen.0);
    // With patience 1 it ran all 40 epochs or stopped at the first that did not improve.
    let (last, before) = seen.0.split_last().unwrap();
    let best_before = before.iter().copied().fold(f64::MAX, f64::min);
    assert!(seen.0.len() == 40 || *last >= best_before, "{:?}", seen.0);
    assert!(before.windows(2).all(|w| w[1] < w[0]), "{:?}", seen.0);
}

/// Records each epoch's validation RMSE.
struct Validation(Vec<f64>);

impl crate::train::TrainObserver for Validation {
    fn epoch_end(&mut self, _: usize, report: &crate::train::EpochReport) {
        self.0
            .push(report.validation.unwrap().root_mean_squared_error);
    }
}

#[test]
fn predicts_raw_pairs_and_new_users_through_their_known_features() {
    let (model, data) = tiny(1, None);
    let model = fit_features(model, &data, None, &train_config(60), &mut Silent).unwrap();
    let p = model
        .predict(&["1", "1", "999"], &[title(0), title(1), title(0)])
        .unwrap();
    assert!(
        (p[0] - 4.5).abs() < 0.5 && (p[1] - 2.5).abs() < 0.5,
        "{p:?}"
    );
    // User 999 has no side information: every user feature reads row 0, and it still gets a
    // finite rating within the clip range.
    assert!(p[2].is_finite() && (2.5..=4.5).contains(&p[2]), "{p:?}");
    assert!(model.predict(&["1"], &[title(0), title(1)]).is_err());
    let ratings: Vec<Rating> = pairs()
        .iter()
        .take(5)
        .map(|(u, t)| Rating {
            user_id: u.clone(),
            movie_title: t.clone(),
            user_rating: 3.0,
            movie_id: None,
            timestamp: None,
        })
        .collect();
    let mut encoder = recsys_data::Encoder::new();
    let (mut some, mut none) = (encoder.encode_ratings(&ratings), Default::default());
    let (users, titles) = encoder.finish(&mut [&mut some, &mut none]);
    let labeled = |examples| Labeled {
        examples,
        users: &users,
        titles: &titles,
        times: None,
    };
    let rmse = model.evaluate(&labeled(&some)).unwrap();
    assert!(rmse.root_mean_squared_error > 0.0);
    assert!(model.evaluate(&labeled(&none)).is_err());
    assert_eq!(
        model
            .tensors()
            .iter()
            .map(|t| t.values.len())
            .sum::<usize>(),
        FeatureModel::num_parameters(&model)
    );
}

#[test]
fn the_dot_interaction_learns_and_needs_features_of_one_width() {
    for cross in [0, 1] {
        let (model, data) = tiny_dot(cross);
        assert_eq!(model.tower[0].input_dim, 5 * 3 + 10, "15 wide + 10 pairs");
        let before = evaluate_rows(&model, &data)
            .unwrap()
            .root_mean_squared_error;
        let trained = fit_features(model, &data, None, &train_config(40), &mut Silent).unwrap();
        let after = evaluate_rows(&trained, &data)
            .unwrap()
            .root_mean_squared_error;
        assert!(after < 0.5 * before, "cross {cross}: {before} -> {after}");
    }
    let (model, _) = tiny(0, None);
    let mut config = model.config.clone();
    config.network.interaction = Some(config::Interaction::Dot);
    let e = config.check().unwrap_err().to_string();
    assert!(
        e.contains("network.interaction") && e.contains("user_id has dim 3"),
        "{e}"
    );
    config.features.truncate(1);
    let e = config.check().unwrap_err().to_string();
    assert!(e.contains("at least two features"), "{e}");
    let recipe = FeatureRecipe::from_toml(
        "[[feature]]\ninput = \"user_id\"\ndim = 4\n[[feature]]\ninput = \"movie_title\"\ndim = 4\n\
         [network]\nhidden_layers = [8]\ninteraction = \"dot\"\n",
    )
    .unwrap();
    assert_eq!(recipe.model().dot_interaction().unwrap().output_width(), 1);
    assert!(FeatureRecipe::from_toml("[[feature]]\ninput = \"user_id\"\ndim = 4\n[network]\nhidden_layers = []\ninteraction = \"cat\"\n").is_err());
}
