//! Parity with TensorFlow, on numbers: the TFRS ranking tutorial's model trained from the same
//! initial weights on the same batches must land where TensorFlow 2.20 + TFRS 0.7.7 did
//! (`../shared/peers/parity/trace.json`), within 1e-4 relative.

mod common;

use std::path::Path;

use recsys::data::ColumnNames;
use recsys::kinds::ranking::weights::load_safetensors_file;
use recsys::kinds::ranking::{RankingModel, RankingModelConfig};
use std::borrow::Cow;

use recsys::contract::Model;
use recsys::kinds::ranking::{FirstLayer, evaluate, fit_with};
use recsys::train::{Examples, Schedule, Shuffle, Silent, ValidSchedule};
use recsys::workflow::{DataSpec, Quiet};
use serde_json::Value;

const REL_TOL: f64 = 1e-4;

fn assert_close(what: &str, got: f64, want: f64) {
    let rel = (got - want).abs() / want.abs().max(1e-12);
    assert!(
        rel <= REL_TOL,
        "{what}: recsys {got} vs TensorFlow {want} (relative difference {rel:.2e})"
    );
}

fn max_rel_diff(a: &[f32], b: &[f32]) -> f64 {
    let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs() as f64)
        .fold(0.0, f64::max)
        / scale
}

/// The model and data of the fixture, before training.
fn setup(peers: &Path) -> (RankingModel, Examples, Examples) {
    // Through the streaming, encoded path that `recsys train --train FILE` uses.
    let spec = DataSpec::Files {
        train: peers.join("split/train.tsv"),
        test: Some(peers.join("split/test.tsv")),
        columns: ColumnNames::default(),
        stream: None,
    };
    let data = spec.load(0, &mut Quiet).unwrap();
    let (users, titles) = (data.users, data.titles);
    assert_eq!((users.values().len(), titles.values().len()), (943, 1664));
    let mut model = RankingModel::new(RankingModelConfig::default(), users, titles, 0).unwrap();
    load_safetensors_file(&mut model, &peers.join("parity/initial.safetensors")).unwrap();
    (model, data.train, data.test)
}

fn tutorial_recipe(epochs: usize) -> ValidSchedule {
    Schedule {
        epochs,
        shuffle: Shuffle::Off,
        ..Schedule::default()
    }
    .check()
    .unwrap()
}

#[test]
fn three_epochs_match_tensorflow() {
    let Some(peers) = common::peers_dir() else {
        return;
    };
    let trace: Value =
        serde_json::from_str(&std::fs::read_to_string(peers.join("parity/trace.json")).unwrap())
            .unwrap();
    // Both first-layer paths: the fast one and the textbook reference.
    for path in [FirstLayer::PerDistinctId, FirstLayer::PerExample] {
        let (mut model, train, test) = setup(&peers);

        let (data, recipe) = (Cow::Borrowed(&train), tutorial_recipe(3));
        let history = fit_with(&mut model, data, &recipe, path, &mut Silent).unwrap();
        let want_rmse = trace["fit_history"]["root_mean_squared_error"]
            .as_array()
            .unwrap();
        for (i, (e, w)) in history.epochs.iter().zip(want_rmse).enumerate() {
            assert_close(
                &format!("{path:?}: epoch {} RMSE", i + 1),
                e.metrics.root_mean_squared_error,
                w.as_f64().unwrap(),
            );
        }
        let metrics = evaluate(&model, &test, 4096).unwrap();
        assert_close(
            &format!("{path:?}: test RMSE"),
            metrics.root_mean_squared_error,
            trace["evaluate"]["root_mean_squared_error"]
                .as_f64()
                .unwrap(),
        );

        for (title, want) in trace["predictions_user_42"].as_object().unwrap() {
            let got = model.predict(&["42"], &[title.as_str()]).unwrap()[0];
            assert_close(
                &format!("prediction for user 42, {title}"),
                got as f64,
                want.as_f64().unwrap(),
            );
        }
        let unseen = model
            .predict(&["no such user"], &["no such title"])
            .unwrap()[0];
        assert_close(
            "unseen user and title",
            unseen as f64,
            trace["prediction_unseen_user_and_title"].as_f64().unwrap(),
        );

        // The weights themselves, not only what they predict.
        let mut tf = model.clone();
        load_safetensors_file(&mut tf, &peers.join("parity/after_epoch_3.safetensors")).unwrap();
        assert!(max_rel_diff(&model.dense[0].kernel, &tf.dense[0].kernel) < 1e-3);
        assert!(max_rel_diff(&model.movie_embedding.table, &tf.movie_embedding.table) < 1e-3);
    }
}

#[test]
fn first_step_matches_tensorflow_weight_for_weight() {
    let Some(peers) = common::peers_dir() else {
        return;
    };
    for path in [FirstLayer::PerDistinctId, FirstLayer::PerExample] {
        let (mut model, train, _) = setup(&peers);
        let one_step = Examples {
            users: train.users[..8192].to_vec(),
            titles: train.titles[..8192].to_vec(),
            ratings: train.ratings[..8192].to_vec(),
            timestamps: None,
        };
        fit_with(
            &mut model,
            Cow::Owned(one_step),
            &tutorial_recipe(1),
            path,
            &mut Silent,
        )
        .unwrap();
        let mut tf = model.clone();
        load_safetensors_file(&mut tf, &peers.join("parity/after_step_1.safetensors")).unwrap();
        let pairs = [
            (
                "user_embedding",
                &model.user_embedding.table,
                &tf.user_embedding.table,
            ),
            (
                "movie_embedding",
                &model.movie_embedding.table,
                &tf.movie_embedding.table,
            ),
            (
                "dense_1.kernel",
                &model.dense[0].kernel,
                &tf.dense[0].kernel,
            ),
            (
                "dense_2.kernel",
                &model.dense[1].kernel,
                &tf.dense[1].kernel,
            ),
            (
                "dense_3.kernel",
                &model.dense[2].kernel,
                &tf.dense[2].kernel,
            ),
            ("dense_3.bias", &model.dense[2].bias, &tf.dense[2].bias),
        ];
        for (name, a, b) in pairs {
            let d = max_rel_diff(a, b);
            assert!(
                d < 1e-4,
                "{path:?} {name}: max relative difference {d:.2e} after one Adagrad step"
            );
        }
    }
}
