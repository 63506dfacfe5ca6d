//! recsys-infer scores what recsys scores: a trained model saved by `recsys::artifact`, read
//! back from its files' bytes, on 10,000 pairs with unseen users and titles among them.

#[path = "../../recsys-export/tests/common/mod.rs"]
mod common;

use recsys::artifact;
use recsys::contract::Model;
use recsys::kinds::AnyRecipe;
use recsys::kinds::ranking::{RankingModel, RankingRecipe};
use recsys::workflow::{DataSpec, Quiet, TrainJob, train_and_save};

/// Saves `model`, reads its two files back as bytes and loads them into recsys-infer.
fn infer_model(model: &recsys::kinds::ranking::RankingModel, tag: &str) -> recsys_infer::Model {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path().join(tag);
    artifact::save(model, None, &dir).unwrap();
    let weights = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let vocabulary = std::fs::read(dir.join("vocabulary.json")).unwrap();
    recsys_infer::Model::from_artifact(&weights, &vocabulary).unwrap()
}

#[test]
fn predictions_equal_recsys_within_1e_6_on_10000_pairs() {
    let model = common::trained_model();
    let infer = infer_model(&model, "synthetic");
    let (users, titles) = common::pairs(10_000);
    let want = model.predict(&users, &titles).unwrap();
    let got = infer.predict(&users, &titles).unwrap();
    common::assert_close("recsys-infer, synthetic model", &got, &want, 1e-6);

    let ranked = infer.rank("42", &titles[..50]);
    let want = model.rank("42", &&titles[..50]).unwrap();
    for ((t, s), (wt, ws)) in ranked.iter().zip(&want) {
        assert!((s - ws).abs() <= 1e-6, "{t}: {s} vs {wt}: {ws}");
    }
}

#[test]
fn reads_the_committed_v1_model_fixture() {
    let dir =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../recsys/tests/compat/artifact_v1");
    let saved = artifact::load::<RankingModel>(&dir).unwrap();
    let weights = std::fs::read(dir.join("weights.safetensors")).unwrap();
    let vocabulary = std::fs::read(dir.join("vocabulary.json")).unwrap();
    let infer = recsys_infer::Model::from_artifact(&weights, &vocabulary).unwrap();
    assert_eq!(infer.embedding_dim(), saved.model.config.embedding_dim);
    let titles: Vec<&str> = infer.titles().collect();
    let users = vec!["1"; titles.len()];
    let got = infer.predict(&users, &titles).unwrap();
    let want = saved.model.predict(&users, &titles).unwrap();
    common::assert_close("v1 fixture", &got, &want, 1e-6);
}

/// The tutorial's model trained on MovieLens 100k (3 epochs, seed 42): 10,000 pairs of real
/// users and titles, one in ten unseen, each within 1e-6 absolute.
#[test]
fn the_tutorial_model_on_movielens_scores_within_1e_6_absolute() {
    let Some(data_dir) = recsys_data::testdata::data_dir() else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let job = TrainJob {
        data: DataSpec::MovieLens {
            data_dir: Some(data_dir),
            train_size: 80_000,
            test_size: 20_000,
        },
        recipe: AnyRecipe::Ranking(RankingRecipe::default()),
        side_dir: None,
        out: out.path().join("model"),
    };
    train_and_save(&job, &mut Quiet).unwrap();
    let model = artifact::load::<RankingModel>(&out.path().join("model"))
        .unwrap()
        .model;
    let infer = infer_model(&model, "movielens");
    let users = model.user_vocabulary.values();
    let titles = model.title_vocabulary.values();
    let mut rng = common::Lcg(5);
    let (users, titles): (Vec<String>, Vec<String>) = (0..10_000)
        .map(|i| {
            let u = if i % 10 == 0 {
                "unseen".into()
            } else {
                users[rng.below(users.len())].to_owned()
            };
            let t = if i % 10 == 5 {
                "Unseen (2030)".into()
            } else {
                titles[rng.below(titles.len())].to_owned()
            };
            (u, t)
        })
        .unzip();
    let want = model.predict(&users, &titles).unwrap();
    let got = infer.predict(&users, &titles).unwrap();
    let worst = common::assert_close("recsys-infer, MovieLens tutorial model", &got, &want, 1e-6);
    assert!(
        worst <= 1e-6,
        "largest difference {worst:e} > 1e-6 absolute"
    );
}
